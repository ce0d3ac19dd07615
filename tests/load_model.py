"""Reads a model file written by model_save_h5 with nothing but h5py and
numpy, the way a user would, into a PyTorch-style state_dict, and checks it
against the tiny net of tests/test_model_h5.c (conv 3->4 k3, relu, conv 4->2
k1; parameter i of the flat buffer = i * 0.5).

Usage: load_model.py MODEL.h5
"""
import sys


def load(path):
    # --- the loader as the README gives it (plain h5py, no inna code) ---
    import h5py
    import numpy as np
    with h5py.File(path, "r") as f:
        state = {f"{g}.{d}": np.asarray(f[g][d]) for g in sorted(f) if g.startswith("layer") for d in ("weight", "bias")}
        config = f.attrs["config"]
    # ---
    return state, config


def main(path):
    import h5py
    import numpy as np

    state, config = load(path)
    # shapes exactly as torch.nn.Conv2d(in, out, k).state_dict() has them
    shapes = {
        "layer01_conv.weight": (4, 3, 3, 3),
        "layer01_conv.bias": (4,),
        "layer02_conv.weight": (2, 4, 1, 1),
        "layer02_conv.bias": (2,),
    }
    assert list(state) == list(shapes), f"keys {list(state)}"
    layers = [k.rsplit(".", 1)[0] for k in state]   # weight, bias as in PyTorch
    assert layers == sorted(layers), "layer names do not sort in network order"
    for k, shape in shapes.items():
        assert state[k].shape == shape, f"{k}: shape {state[k].shape}, expected {shape}"
        assert state[k].dtype == np.float32, f"{k}: dtype {state[k].dtype}"
    # flat index of weight[o, i, y, x] = ((o * in + i) * k + y) * k + x
    w1 = state["layer01_conv.weight"]
    assert w1[0, 0, 0, 0] == 0.0
    assert w1[0, 0, 0, 1] == 0.5
    assert w1[1, 2, 0, 1] == (1 * 27 + 2 * 9 + 0 * 3 + 1) * 0.5
    assert w1[3, 2, 2, 2] == 107 * 0.5
    assert list(state["layer01_conv.bias"]) == [54.0, 54.5, 55.0, 55.5]
    assert state["layer02_conv.weight"][1, 3, 0, 0] == (112 + 7) * 0.5
    assert list(state["layer02_conv.bias"]) == [60.0, 60.5]
    flat = np.concatenate([v.ravel() for v in state.values()])
    assert np.array_equal(flat, np.arange(122, dtype=np.float32) * 0.5), "not the flat buffer"

    assert isinstance(config, str), f"config is {type(config)}"
    assert config.startswith("[net]\n"), repr(config)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "inna-model-1"
        assert isinstance(f.attrs["inna_version"], str) and f.attrs["inna_version"]
        for g in ("layer01_conv", "layer02_conv"):
            assert f[g]["weight"].fletcher32 and f[g]["bias"].fletcher32
        assert int(f["layer01_conv"].attrs["in_channels"]) == 3
        assert int(f["layer01_conv"].attrs["out_channels"]) == 4
        assert int(f["layer01_conv"].attrs["kernel"]) == 3
        assert int(f["layer02_conv"].attrs["kernel"]) == 1
    print(f"load_model.py: {path}: {len(state)} tensors, PyTorch layout: ok")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
