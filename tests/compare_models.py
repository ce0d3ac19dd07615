"""compare_models.py A.h5 B.h5 MODE TOL

Compares every weight and bias of two inna model files, dataset by dataset,
by max|a - b| / max|a|.  MODE "same": every ratio must be <= TOL (runs that
should agree, e.g. np = 1 vs np = 3).  MODE "differ": some ratio must be
> TOL (a run that should have moved away from another)."""
import sys
import h5py
import numpy as np


def load(path):
    with h5py.File(path, "r") as f:
        return {f"{g}/{d}": np.asarray(f[g][d], dtype=np.float64)
                for g in sorted(f) if g.startswith("layer") for d in ("weight", "bias")}


def main():
    a_path, b_path, mode, tol = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    a, b = load(a_path), load(b_path)
    if sorted(a) != sorted(b):
        sys.exit(f"different layers: {sorted(a)} vs {sorted(b)}")
    worst_name, worst = None, -1.0
    for name in a:
        scale = np.max(np.abs(a[name])) or 1.0
        ratio = float(np.max(np.abs(a[name] - b[name])) / scale)
        if ratio > worst:
            worst_name, worst = name, ratio
    print(f"largest relative difference {worst:.3g} in {worst_name}")
    if mode == "same" and worst > tol:
        sys.exit(f"FAIL: {a_path} and {b_path} differ by {worst:.3g} > {tol:g}")
    if mode == "differ" and worst <= tol:
        sys.exit(f"FAIL: {a_path} and {b_path} agree to {worst:.3g} <= {tol:g}")


main()
