#!/usr/bin/env python3
"""Figure 1 of the paper from inna-toy's CSV (alpha,beta,iter,theta1,theta2,J).

Left: level sets of J(t1, t2) = 100 (t2 - |t1|)^2 + |1 - t1| with the INNA
trajectories in the (theta1, theta2) plane; right: log10 J against iteration.
Usage: plot_toy.py [--csv FILE] [--out FILE] [--title TEXT]
Defaults are relative to the repository root (found from this file's place).
"""
import argparse
import csv
import os
import sys
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = 1e-16  # floor for log10 J (J can be exactly 0 in float)


def objective(t1, t2):
    return 100.0 * (t2 - np.abs(t1)) ** 2 + np.abs(1.0 - t1)


def read_runs(path):
    """{(alpha, beta): dict of numpy arrays iter, t1, t2, J} in file order."""
    rows = OrderedDict()
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            key = (float(r["alpha"]), float(r["beta"]))
            rows.setdefault(key, []).append(
                (int(r["iter"]), float(r["theta1"]), float(r["theta2"]), float(r["J"])))
    runs = OrderedDict()
    for key, rs in rows.items():
        a = np.array(rs)
        runs[key] = {"iter": a[:, 0], "t1": a[:, 1], "t2": a[:, 2], "J": a[:, 3]}
    return runs


def plot_levels(ax, runs):
    t1 = np.concatenate([r["t1"] for r in runs.values()] + [np.array([-1.5, 1.5])])
    t2 = np.concatenate([r["t2"] for r in runs.values()] + [np.array([0.0, 1.6])])
    pad1, pad2 = 0.1 * np.ptp(t1), 0.1 * np.ptp(t2)
    x = np.linspace(t1.min() - pad1, t1.max() + pad1, 500)
    y = np.linspace(t2.min() - pad2, t2.max() + pad2, 500)
    X, Y = np.meshgrid(x, y)
    Z = objective(X, Y)
    levels = np.logspace(np.log10(max(Z.min(), 1e-2)), np.log10(Z.max()), 25)
    ax.contour(X, Y, Z, levels=levels, cmap="Greys", linewidths=0.6,
               norm=matplotlib.colors.LogNorm())
    for (a, b), r in runs.items():
        ax.plot(r["t1"], r["t2"], lw=1.0, label=r"$\alpha=%g,\ \beta=%g$" % (a, b))
    ax.plot([-1], [1.5], "ko", ms=4)
    ax.plot([1], [1], "k*", ms=10, label="minimizer (1, 1)")
    ax.set_xlabel(r"$\theta_1$")
    ax.set_ylabel(r"$\theta_2$")
    ax.set_title("level sets of J and INNA trajectories")
    ax.legend(fontsize=8, loc="lower left")


def plot_values(ax, runs):
    for (a, b), r in runs.items():
        ax.plot(r["iter"], np.log10(np.maximum(r["J"], TINY)), lw=0.8,
                label=r"$\alpha=%g,\ \beta=%g$" % (a, b))
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"$\log_{10} J(\theta_k)$")
    ax.set_title("objective value")
    ax.legend(fontsize=8)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--csv", default=os.path.join(ROOT, "results/toy/trajectories.csv"))
    p.add_argument("--out", default=os.path.join(ROOT, "results/toy/figure1.png"))
    p.add_argument("--title", default=r"INNA on $J=100(\theta_2-|\theta_1|)^2+|1-\theta_1|$, "
                   r"$\gamma=10^{-4}$, zero initial velocity $\psi_0=(1-\alpha\beta)\theta_0$")
    args = p.parse_args(argv)
    runs = read_runs(args.csv)
    if not runs:
        sys.exit("plot_toy.py: no rows in %s" % args.csv)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    plot_levels(left, runs)
    plot_values(right, runs)
    fig.suptitle(args.title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print("wrote %s" % args.out)


if __name__ == "__main__":
    main(sys.argv[1:])
