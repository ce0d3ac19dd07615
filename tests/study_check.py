"""study_check.py STUDY_FOLDER: checks a finished run of configs/studies/tiny.ini
without the runner's code: every run folder's config (model.h5), metrics and
log, each arm's winner recomputed from the search runs' metrics.h5, and the
runner's summary.csv and selection.csv against them.

The study, as configs/studies/tiny.ini writes it: arms inna (lr 0.02, 0.1) and
sgd (lr 0.01, 0.1), search 1 epoch with seed 3, finals seeds 3 and 4 x 4 epochs.
"""
import csv
import os
import sys

import h5py
import numpy as np

GRID = {"inna": ["0.02", "0.1"], "sgd": ["0.01", "0.1"]}
SEEDS = ["3", "4"]
SEARCH_EPOCHS, FINAL_EPOCHS = 1, 4
failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}")


def config(folder):
    with h5py.File(os.path.join(folder, "model.h5"), "r") as f:
        text = f.attrs["config"]
    out, section = {}, ""
    for line in (text.decode() if isinstance(text, bytes) else text).splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line[1:-1]
        elif "=" in line and not line.startswith(";"):
            k, v = (s.strip() for s in line.split("=", 1))
            out[f"{section}.{k}"] = v
    return out


def check_run(folder, epochs):
    """Completed exactly once: one final hash line in the log, steps 0..N-1
    and epochs 0..E-1 each once in metrics.h5.  Returns the last epoch's train loss."""
    name = os.path.basename(folder)
    with open(os.path.join(folder, "inna.log"), errors="replace") as f:
        hashes = [ln for ln in f if ln.startswith("parameters: crc32")]
    if len(hashes) != 1:
        fail(f"{name}: {len(hashes)} 'parameters:' lines in inna.log, want 1 (completed once)")
    with h5py.File(os.path.join(folder, "metrics.h5"), "r") as f:
        steps = np.asarray(f["steps/step"][()])
        ep = np.asarray(f["epochs/epoch"][()])
        estep = np.asarray(f["epochs/step"][()])
        loss = np.asarray(f["epochs/train_loss"][()])
    per_epoch = estep[0] if len(estep) else 0
    if not np.array_equal(ep, np.arange(epochs)):
        fail(f"{name}: epoch rows {ep.tolist()}, want 0..{epochs - 1} once each")
    if not np.array_equal(steps, np.arange(per_epoch * epochs)):
        fail(f"{name}: step rows are not 0..{per_epoch * epochs - 1} once each "
              f"({len(steps)} rows, {len(steps) - len(np.unique(steps))} repeated)")
    return float(loss[-1])


def main(out):
    folders = sorted(d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d))
                     and d.startswith(("search-", "final-")))
    runs = {}
    for d in folders:
        c = config(os.path.join(out, d))
        phase = d.split("-")[0]
        runs[d] = (phase, c["optim.name"], c["optim.lr"], c["run.seed"], int(c["train.epochs"]))
    search = {(r[1], r[2]): d for d, r in runs.items() if r[0] == "search"}
    want = {(a, lr) for a, lrs in GRID.items() for lr in lrs}
    if set(search) != want or any(runs[d][3] != SEEDS[0] or runs[d][4] != SEARCH_EPOCHS
                                  for d in search.values()):
        fail(f"search runs {sorted(search)}, want {sorted(want)} with seed {SEEDS[0]}, "
             f"{SEARCH_EPOCHS} epoch(s)")
    loss = {d: check_run(os.path.join(out, d), runs[d][4]) for d in folders}
    winner = {}
    for arm in GRID:
        scores = {lr: loss[search[(arm, lr)]] for lr in GRID[arm] if (arm, lr) in search}
        winner[arm] = min(scores, key=scores.get)
        finals = sorted((runs[d][2], runs[d][3]) for d in folders
                        if runs[d][0] == "final" and runs[d][1] == arm)
        expect = [(winner[arm], s) for s in SEEDS]
        if finals != expect or any(runs[d][4] != FINAL_EPOCHS for d in folders if runs[d][0] == "final"):
            fail(f"{arm}: final runs (lr, seed) {finals}, want {expect} (search losses {scores})")
        else:
            print(f"ok   {arm}: winner lr={winner[arm]} (search losses {scores}), finals {finals}")
    check_csvs(out, runs, loss, winner)


def check_csvs(out, runs, loss, winner):
    with open(os.path.join(out, "summary.csv")) as f:
        rows = list(csv.DictReader(f))
    names = [r["run"] for r in rows]
    if sorted(names) != sorted(runs) or len(set(names)) != len(names):
        fail(f"summary.csv rows {names}, want the run folders {sorted(runs)} once each")
    for r in rows:
        if r["status"] != "done" or r["run"] not in runs:
            fail(f"summary.csv: {r['run']}: status {r['status']}")
            continue
        if abs(float(r["train_loss"]) - loss[r["run"]]) > 1e-5 * loss[r["run"]]:
            fail(f"summary.csv: {r['run']}: train_loss {r['train_loss']}, metrics.h5 {loss[r['run']]}")
        if r["optim.lr"] != runs[r["run"]][2] or r["run.seed"] != runs[r["run"]][3]:
            fail(f"summary.csv: {r['run']}: optim.lr {r['optim.lr']} run.seed {r['run.seed']}")
    with open(os.path.join(out, "selection.csv")) as f:
        sel = list(csv.DictReader(f))
    got = {r["arm"]: r["optim.lr"] for r in sel if r["winner"] == "1"}
    if got != winner or len(sel) != sum(len(v) for v in GRID.values()):
        fail(f"selection.csv winners {got} ({len(sel)} rows), want {winner}")
    print(f"ok   summary.csv ({len(rows)} runs) and selection.csv agree with the run folders")


if __name__ == "__main__":
    main(sys.argv[1])
    print(f"study_check.py: {len(failures)} failure(s)")
    sys.exit(1 if failures else 0)
