#!/usr/bin/env python3
"""Figure 2 of the paper from runs' metrics.h5: log10 training loss and test
accuracy against epochs, one curve per group of runs.

Usage: plot_runs.py RUN [RUN ...] -o OUT.png [--title TEXT] [--label FOLDER=TEXT ...]

RUN is a metrics.h5 file or a run folder holding one.  The epoch rows give
the curves (train_loss, test_acc; epoch k is drawn at k + 1, epochs done).
Runs are grouped by their resolved config, read from the run folder's
model.h5, else latest.h5, else the newest ckpt-*.h5 (root attribute
"config"), leaving out the [run] and [checkpoint] sections: seed, output
folder, threads and checkpoint cadence do not make another experiment, so
runs that differ only there -- the paper's random initializations -- form one
group.  A group is labelled by [optim] name and lr (plus the keys that tell
apart groups that would share that label, e.g. alpha and beta) and drawn as
the mean over its runs with a band from best to worst, a single run as a line.
The mean is of the loss, then log10.  A group's runs are cut to the epochs
they all have.  A run without any config is a group of its own, labelled by
its folder name.  --label FOLDER=TEXT (repeatable) names the group that
holds the run in FOLDER instead (launch/study.sh names its curves so).
Prints one line per group; errors are one line on stderr,
exit status 2.
"""
import argparse
import glob
import os
import sys

import h5py
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "python"))
from inna_config import read_ini  # noqa: E402

PROG = "plot_runs.py"
FORMAT = "inna-metrics-1"
NOT_EXPERIMENT = ("run", "checkpoint")   # config sections left out of the group key
TINY = 1e-16                             # floor for log10 of the loss


class Refused(Exception):
    """A one-line error about the input."""


def metrics_path(run):
    """The metrics file of RUN (a file or a run folder)."""
    path = os.path.join(run, "metrics.h5") if os.path.isdir(run) else run
    if not os.path.exists(path):
        raise Refused(f"{path}: no such file")
    if not os.path.isfile(path):
        raise Refused(f"{path}: not a file")
    return path


def read_epochs(path):
    """(epochs done, train loss, test accuracy) arrays, one entry per epoch."""
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise Refused(f"{path}: not a metrics file (no format = \"{FORMAT}\")")
            g = f["epochs"]
            epoch, loss, acc = (np.asarray(g[c][()]) for c in ("epoch", "train_loss", "test_acc"))
    except (OSError, KeyError) as e:
        raise Refused(f"{path}: cannot read epoch rows: {e}") from None
    n = min(len(epoch), len(loss), len(acc))
    last = {int(e): i for i, e in enumerate(epoch[:n])}   # a repeated epoch: its last row
    idx = np.array([last[e] for e in sorted(last)], dtype=int)
    return epoch[idx] + 1, loss[idx], acc[idx]


def config_source(folder):
    """The file whose "config" attribute describes the run in folder, or None."""
    for name in ("model.h5", "latest.h5"):
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    ckpts = glob.glob(os.path.join(folder, "ckpt-*.h5"))
    return max(ckpts, key=os.path.getmtime) if ckpts else None


def read_config(folder):
    """{"section.key": value} of the run's resolved config, or None."""
    src = config_source(folder)
    if src is None:
        return None
    try:
        with h5py.File(src, "r") as f:
            text = f.attrs["config"]
    except (OSError, KeyError) as e:
        raise Refused(f"{src}: cannot read its config attribute: {e}") from None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return read_ini(text)


class Run:
    def __init__(self, arg):
        self.path = metrics_path(arg)
        self.folder = os.path.dirname(os.path.abspath(self.path))
        self.epochs, self.loss, self.acc = read_epochs(self.path)
        self.config = read_config(self.folder)
        if self.config is None:   # a group of its own
            self.key = ("no config", os.path.abspath(self.path))
        else:
            self.key = tuple(sorted((k, v) for k, v in self.config.items()
                                    if k.partition(".")[0] not in NOT_EXPERIMENT))


def base_label(run):
    if run.config is None:
        name = os.path.basename(run.path)
        return os.path.basename(run.folder) if name == "metrics.h5" else os.path.splitext(name)[0]
    name = run.config.get("optim.name", "?")
    return f"{name} lr={run.config.get('optim.lr', '?')}"


def labels(groups):
    """One label per group: optimizer and lr, plus the keys in which groups
    that share those differ."""
    out = {key: base_label(runs[0]) for key, runs in groups.items()}
    for label in set(out.values()):
        same = [key for key in groups if out[key] == label]
        if len(same) < 2 or groups[same[0]][0].config is None:
            continue
        configs = [dict(key) for key in same]
        keys = sorted({k for c in configs for k in c})
        differ = [k for k in keys if len({c.get(k) for c in configs}) > 1][:4]
        for key, c in zip(same, configs):
            extra = " ".join(f"{k.partition('.')[2]}={c.get(k, '-')}" for k in differ if "\n" not in str(c.get(k)))
            out[key] = f"{label} {extra}".rstrip()
    return out


def common_epochs(runs):
    common = set(runs[0].epochs)
    for r in runs[1:]:
        common &= set(r.epochs)
    return np.array(sorted(common))


def group_curves(runs):
    """epochs, then (mean, min, max) of the loss and of the accuracy over
    the epochs every run has."""
    epochs = common_epochs(runs)
    pick = [np.isin(r.epochs, epochs) for r in runs]
    loss = np.array([r.loss[p] for r, p in zip(runs, pick)])
    acc = np.array([r.acc[p] for r, p in zip(runs, pick)])
    stats = lambda a: (a.mean(axis=0), a.min(axis=0), a.max(axis=0))  # noqa: E731
    return epochs, stats(loss), stats(acc)


def draw(ax_loss, ax_acc, runs, label, color):
    epochs, loss, acc = group_curves(runs)
    log = lambda a: np.log10(np.maximum(a, TINY))  # noqa: E731
    for ax, (mean, lo, hi), f in ((ax_loss, loss, log), (ax_acc, acc, lambda a: 100.0 * a)):
        ax.plot(epochs, f(mean), color=color, lw=1.5, label=f"{label} ({len(runs)} runs)"
                if len(runs) > 1 else label, marker="o" if len(epochs) == 1 else None)
        if len(runs) > 1:
            ax.fill_between(epochs, f(lo), f(hi), color=color, alpha=0.2, lw=0)
    return len(epochs)


def given_labels(groups, pairs):
    """{group key: TEXT} for the groups that hold a run named by --label FOLDER=TEXT."""
    wanted = {}
    for pair in pairs:
        folder, eq, text = pair.partition("=")
        if not eq or not text.strip():
            raise Refused(f"--label {pair}: not FOLDER=TEXT")
        wanted[os.path.realpath(folder)] = text.strip()
    out = {}
    for key, runs in groups.items():
        for r in runs:
            if os.path.realpath(r.folder) in wanted:
                out.setdefault(key, wanted[os.path.realpath(r.folder)])
    return out


def plot(groups, out, title, given=None):
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names, lines = {**labels(groups), **(given or {})}, []
    for i, (key, runs) in enumerate(groups.items()):
        n = draw(ax_loss, ax_acc, runs, names[key], colors[i % len(colors)])
        most = max(len(r.epochs) for r in runs)
        cut = f" (cut from {most}: not every run has them)" if n < most else ""
        lines.append(f"{names[key]}: {len(runs)} run{'s' if len(runs) > 1 else ''}, "
                     f"{n} epochs{cut}")
    ax_loss.set_ylabel(r"$\log_{10}$ training loss")
    ax_acc.set_ylabel("test accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax_acc.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    print("\n".join(lines))


def main(argv):
    p = argparse.ArgumentParser(prog=PROG, description="Figure 2 of the paper from metrics.h5 "
                                "files: log10 training loss and test accuracy per epoch.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="metrics.h5 file or run folder")
    p.add_argument("-o", "--out", required=True, help="PNG file to write")
    p.add_argument("--title", default="", help="figure title")
    p.add_argument("--label", action="append", default=[], metavar="FOLDER=TEXT",
                   help="label of the group holding the run in FOLDER (repeatable)")
    a = p.parse_args(argv)
    groups = {}
    for arg in a.runs:
        run = Run(arg)
        if len(run.epochs) == 0:
            print(f"{PROG}: {run.path}: no epoch rows yet: left out", file=sys.stderr)
            continue
        groups.setdefault(run.key, []).append(run)
    for key in [k for k, runs in groups.items() if len(common_epochs(runs)) == 0]:
        print(f"{PROG}: runs {', '.join(r.path for r in groups[key])} have no epoch in "
              "common: left out", file=sys.stderr)
        del groups[key]
    if not groups:
        raise Refused("no run has an epoch row: nothing to plot")
    try:
        plot(groups, a.out, a.title, given_labels(groups, a.label))
    except OSError as e:
        raise Refused(f"{a.out}: cannot write: {e.strerror or e}") from None


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Refused as e:
        print(f"{PROG}: {' '.join(str(e).split())}", file=sys.stderr)   # one line
        sys.exit(2)
