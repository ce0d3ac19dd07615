"""Reads a metrics file written by metrics_h5.c with nothing but h5py and
numpy, while the writer still has it open (tests/metrics.cmake runs it under
test_metrics --hold), both the plain way and with swmr=True, and checks the
layout and every value against the rows of tests/test_metrics.c.

Usage: read_metrics.py METRICS.h5 NSTEPS EPOCHSTEP[,EPOCHSTEP...]
"""
import sys

STEP_COLUMNS = ["step", "epoch", "loss", "accuracy", "lr", "step_s", "compute_s", "comm_s",
                "images_s"]
EPOCH_COLUMNS = ["epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc",
                 "elapsed_s"]
INTS = {"step", "epoch"}


def step_row(i):
    """test_metrics.c's step_row(i): only + - * / so the doubles are the same."""
    return {"step": i, "epoch": i // 1000, "loss": 1.0 / (i + 1),
            "accuracy": (i % 1000) / 1000.0, "lr": 0.05 / (i + 1), "step_s": 0.001 * i,
            "compute_s": 0.0007 * i, "comm_s": 0.0003 * i, "images_s": 32.0 / (0.001 * (i + 1))}


def epoch_row(e, step):
    return {"epoch": e, "step": step, "train_loss": 1.0 / (e + 2), "train_acc": 0.5 + e / 100.0,
            "test_loss": 1.5 / (e + 2), "test_acc": 0.4 + e / 50.0,
            "elapsed_s": 10.0 * (e + 1) + step / 1000.0}


def check_group(f, name, columns, rows):
    import numpy as np
    g = f[name]
    assert sorted(g) == sorted(columns), f"{name}: columns {sorted(g)}"
    for c in columns:
        d = g[c]
        want_type = np.int64 if c in INTS else np.float64
        assert d.dtype == want_type, f"{name}/{c}: dtype {d.dtype}"
        assert d.ndim == 1 and d.maxshape == (None,), f"{name}/{c}: shape {d.shape} {d.maxshape}"
        assert d.chunks is not None, f"{name}/{c}: not chunked"
        got = d[()]
        want = np.array([r[c] for r in rows], dtype=want_type)
        assert got.shape == want.shape, f"{name}/{c}: {got.shape[0]} rows, expected {len(rows)}"
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, f"{name}/{c}: row {bad[0]} is {got[bad[0]]!r}, want {want[bad[0]]!r}"


def main(path, nsteps, epoch_steps):
    import h5py
    steps = [step_row(i) for i in range(int(nsteps))]
    esteps = [int(s) for s in epoch_steps.split(",") if s]
    epochs = [epoch_row(e, s) for e, s in enumerate(esteps)]
    for swmr in (False, True):
        with h5py.File(path, "r", swmr=swmr) as f:
            assert f.attrs["format"] == "inna-metrics-1", f"format {f.attrs.get('format')!r}"
            assert isinstance(f.attrs["inna_version"], str)
            assert sorted(f) == ["epochs", "steps"], f"groups {sorted(f)}"
            check_group(f, "steps", STEP_COLUMNS, steps)
            check_group(f, "epochs", EPOCH_COLUMNS, epochs)
    print(f"{path}: {len(steps)} step rows, {len(epochs)} epoch rows, read plain and swmr=True")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[-1])
    try:
        main(*sys.argv[1:])
    except (AssertionError, OSError, KeyError) as e:
        sys.exit(f"read_metrics.py: {sys.argv[1]}: {e}")
