"""check_init.py MODEL.h5: a model written after 0 steps holds the initial
weights: each conv's weights have standard deviation sqrt(2 / fan_in) (He)
within 10 % and mean near 0, biases exactly 0."""
import sys
import h5py
import numpy as np

with h5py.File(sys.argv[1], "r") as f:
    groups = sorted(f)
    assert groups, "no layers in the model"
    for g in groups:
        w, b = np.asarray(f[g]["weight"], np.float64), np.asarray(f[g]["bias"])
        fan_in = w.shape[1] * w.shape[2] * w.shape[3]
        want = np.sqrt(2.0 / fan_in)
        if w.size >= 400:  # enough draws for a 10 % test of the spread
            assert abs(w.std() / want - 1) < 0.1, f"{g}: std {w.std():.4g}, expected {want:.4g}"
            assert abs(w.mean()) < 4 * want / np.sqrt(w.size), f"{g}: mean {w.mean():.4g}"
        assert not b.any(), f"{g}: biases are not zero"
    print(f"{len(groups)} layers hold He-initialised weights and zero biases")
