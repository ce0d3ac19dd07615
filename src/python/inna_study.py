"""Studies: the INNA paper's experiments (section 5.2) as data.

A study file (INI, configs/studies/*.ini; the syntax is at the top of each)
names a base config, the arms (one per optimizer or setting, each with its
own keys and value lists), the seeds and the selection rule.  This module
expands it into runs -- one run folder per point under the study folder, each
`inna BASE --set ...` -- runs the search (every grid point for search_epochs
with the first seed), selects per curve the point with the best search metric
(metrics.h5, the last epoch's row), then runs every seed of each winner for
final_epochs, and writes summary.csv, selection.csv, results.md and
figures/*.png (through results/plot_runs.py).

    inna_study.py run    STUDY.ini --inna PATH [--np N] [--out DIR] [--set K=V ...]
    inna_study.py plan   STUDY.ini --inna PATH [--out DIR] [--set K=V ...] [--phase search|final]
    inna_study.py report STUDY.ini --inna PATH [--out DIR] [--set K=V ...]
    inna_study.py submit STUDY.ini --inna PATH [--np N] [--out DIR] [--set K=V ...]
                         [--phase search|final] [--sbatch=OPTION ...]

`plan` prints one line per run, `NAME<TAB>ARGS` (inna's arguments after the
program name, shell-quoted): the expansion alone, what a batch system needs
(a SLURM array task per line).  `report` rewrites the outputs from the run
folders.  launch/study.sh builds inna and calls `run` (`submit` with --slurm).

`submit` runs the study on SLURM instead (see cmd_submit): the runs not yet
done as job arrays of launch/slurm.sbatch --plan, one run per array task.

State lives on disk only, so `run` is resumable and idempotent: a run is
done when its folder has model.h5 and metrics.h5 has the row of its last
epoch; a folder with latest.h5 is resumed (`inna --resume FOLDER BASE --set
...`: inna refuses a changed config); otherwise it starts.  A final run with
the search's seed starts as a copy of its finished search run and resumes
from it (bitwise the same as from scratch).  A run that exits 3 (diverged)
is marked (study-diverged in its folder), never retried, and loses the
selection; any other failure is reported, the study goes on with the other
runs, retries it next time, and exits 1; a curve whose search is incomplete
gets no final runs.  SIGTERM, SIGINT, SIGHUP or SIGUSR1 stop the study: the
current run gets SIGUSR1 (a checkpoint, then exit), the outputs are written,
exit status 5.  One command per study folder: an fcntl lock on study.lock.

Errors in the input: one line on stderr, "study: ...", exit status 2, before
any run starts.  Python 3 standard library, numpy, h5py.
"""
import argparse
import concurrent.futures
import csv
import ctypes
import fcntl
import functools
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

import h5py
import numpy as np

import inna_config

STUDY_KEYS = ("name", "base", "search_epochs", "final_epochs", "seeds", "select_key", "metric")
# Metrics of metrics.h5 epochs/ rows: name -> True when larger is better.
METRICS = {"train_loss": False, "test_loss": False, "train_acc": True, "test_acc": True}
RESERVED = {"run.seed": "seeds", "run.out": "--out (the study folder)",
            "train.epochs": "search_epochs and final_epochs", "train.steps": "search_epochs and final_epochs"}
# `inna --help` lists the keys a resume may change (the MAY_CHANGE_ON_RESUME
# column of src/config/config.c's key table) after this label: they are not
# part of a run's identity.
RESUMABLE_LABEL = "keys a resume may change:"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
EXIT_INPUT, EXIT_FAILED, EXIT_STOPPED = 2, 1, 5
INNA_DIVERGED, INNA_STOPPED = 3, 5
DIVERGED_MARK = "study-diverged"       # in a run folder: inna said the run diverged (exit 3);
                                       # launch/slurm.sbatch --plan writes it too
LOG = "inna.log"                       # in a run folder: every invocation's output, appended


class Refused(Exception):
    """Bad input: one line, exit status 2."""


def one_line(text):
    return " ".join(str(text).split())


# ---------------------------------------------------------------- the file

def read_ini(path):
    """[(section, key, value, line number)] of an INI file; ';' or '#' start
    a comment (at the line start, or after blanks inside a line)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise Refused(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    items, section, seen = [], None, set()
    for n, raw in enumerate(lines, 1):
        line = re.split(r"(?:^|\s)[;#]", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = " ".join(line[1:-1].split())
            if section in seen:
                raise Refused(f"{path}:{n}: [{section}]: section given twice")
            seen.add(section)
            continue
        if "=" not in line or section is None:
            raise Refused(f"{path}:{n}: not 'key = value' inside a [section]: {line}")
        key, value = (s.strip() for s in line.split("=", 1))
        key = re.sub(r"\s*,\s*", ",", key)
        if any((section, key) == (s, k) for s, k, _, _ in items):
            raise Refused(f"{path}:{n}: [{section}] {key}: given twice")
        items.append((section, key, value, n))
    return items


class Axis:
    """One line of an arm: KEY = V1, V2 ... or KEY1,KEY2 = A1:B1, A2:B2 ...
    (a paired axis: the keys take their values together)."""

    def __init__(self, name, text, where):
        self.name, self.keys, self.where = name, tuple(name.split(",")), where
        items = [v.strip() for v in text.split(",")]
        if text.strip() == "":
            raise Refused(f"{where} {name}: empty list")
        if "" in items:
            raise Refused(f"{where} {name}: empty value in the list '{text}'")
        if len(self.keys) == 1:
            self.values = [(v,) for v in items]
        else:
            self.values = [tuple(s.strip() for s in v.split(":")) for v in items]
            for v, t in zip(self.values, items):
                if len(v) != len(self.keys) or "" in v:
                    raise Refused(f"{where} {name}: '{t}' is not {len(self.keys)} values "
                                  "separated by ':'")
        if len(set(self.values)) != len(self.values):
            raise Refused(f"{where} {name}: a value is listed twice")


class Arm:
    def __init__(self, name, where):
        if not NAME_RE.match(name):
            raise Refused(f"{where}: arm name '{name}': letters, digits, '.', '_', '-' only")
        self.name, self.axes = name, []

    def keys(self):
        return [k for a in self.axes for k in a.keys]

    def where(self, key):
        """FILE:LINE: [arm NAME] of the line that sets key."""
        return next(a.where for a in self.axes if key in a.keys)


class Study:
    """A parsed study file with the command line's --set lines."""

    def __init__(self, path, cli_sets=()):
        self.path = path
        self.where = path
        items = read_ini(path)
        self.sets, self.arms, fields = [], [], {}
        for section, key, value, n in items:
            where = f"{path}:{n}: [{section}]"
            if section == "study":
                if key not in STUDY_KEYS:
                    raise Refused(f"{where} {key}: unknown study key (known: {', '.join(STUDY_KEYS)})")
                fields[key] = (value, where)
            elif section == "set":
                self.sets.append((key, value, where))
            elif section.startswith("arm "):
                arm = self.arm_named(section[4:].strip(), f"{path}:{n}: [{section}]")
                arm.axes.append(Axis(key, value, where))
            else:
                raise Refused(f"{where}: unknown section (known: [study], [set], [arm NAME])")
        if not self.arms:
            raise Refused(f"{path}: no [arm NAME] section: nothing to run")
        self.read_fields(fields)
        self.add_cli_sets(cli_sets)
        self.check_keys_unique()

    def arm_named(self, name, where):
        for arm in self.arms:
            if arm.name == name:
                return arm
        self.arms.append(Arm(name, where))
        return self.arms[-1]

    def read_fields(self, fields):
        def get(key, default=None):
            if key not in fields:
                if default is None:
                    raise Refused(f"{self.path}: [study] {key}: missing")
                return default, f"{self.path}: [study]"
            return fields[key]
        name, where = get("name", os.path.splitext(os.path.basename(self.path))[0])
        if not NAME_RE.match(name):
            raise Refused(f"{where} name: '{name}': letters, digits, '.', '_', '-' only")
        self.name = name
        base, where = get("base")
        self.base = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(self.path)), base))
        if not os.path.isfile(self.base):
            raise Refused(f"{where} base: {self.base}: no such file")
        self.search_epochs = positive_int(*get("search_epochs"), "search_epochs")
        self.final_epochs = positive_int(*get("final_epochs"), "final_epochs")
        seeds, where = get("seeds")
        self.seeds = int_list(seeds, where, "seeds")
        self.metric, where = get("metric", "train_loss")
        if self.metric not in METRICS:
            raise Refused(f"{where} metric: '{self.metric}': one of {', '.join(METRICS)}")
        select, where = get("select_key", "")
        self.select = select.split()
        for s in self.select:
            if not any(a.name == s for arm in self.arms for a in arm.axes):
                raise Refused(f"{where} select_key: '{s}' is not the key of any arm's line "
                              "(write it as the arm writes it, e.g. optim.alpha,optim.beta)")

    def add_cli_sets(self, cli_sets):
        for kv in cli_sets:
            key, eq, value = kv.partition("=")
            if not eq or not key.strip():
                raise Refused(f"{self.path}: --set {kv}: not KEY=VALUE")
            key = key.strip()
            self.sets = [s for s in self.sets if s[0] != key]   # the command line wins over [set]
            self.sets.append((key, value.strip(), f"{self.path}: --set"))

    def check_keys_unique(self):
        set_keys = {k: w for k, _, w in self.sets}
        for key, _, where in self.sets:
            if key in RESERVED:
                raise Refused(f"{where} {key}: set by the study ({RESERVED[key]}), not by hand")
        for arm in self.arms:
            keys = arm.keys()
            for axis in arm.axes:
                for key in axis.keys:
                    where = axis.where
                    if key in RESERVED:
                        raise Refused(f"{where} {key}: set by the study ({RESERVED[key]}), not by hand")
                    if keys.count(key) > 1:
                        raise Refused(f"{where} {key}: on two lines of the arm")
                    if key in set_keys:
                        raise Refused(f"{set_keys[key]} {key}: also a key of [arm {arm.name}]")

    def config_keys(self):
        """Every key the study sets, in order: [set] and --set, then the arms'."""
        keys = [k for k, _, _ in self.sets]
        for arm in self.arms:
            keys += [k for k in arm.keys() if k not in keys]
        return keys

    def arm_keys(self):
        keys = []
        for arm in self.arms:
            keys += [k for k in arm.keys() if k not in keys]
        return keys


def positive_int(text, where, key):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise Refused(f"{where} {key}: '{text}' is not a whole number >= 1")
    return v


def int_list(text, where, key):
    items = [s.strip() for s in text.split(",")]
    if text.strip() == "":
        raise Refused(f"{where} {key}: empty list")
    if not all(re.fullmatch(r"\d+", s) for s in items):
        raise Refused(f"{where} {key}: '{text}' is not a list of whole numbers >= 0")
    values = [int(s) for s in items]
    if len(set(values)) != len(values):
        raise Refused(f"{where} {key}: a value is listed twice")
    return values


# ---------------------------------------------------------------- expansion

def short(key, keys):
    """optim.lr -> lr, unless another key ends the same way."""
    tail = key.split(".")[-1]
    return tail if sum(k.split(".")[-1] == tail for k in keys) == 1 else key


def clean(value):
    return re.sub(r"[^A-Za-z0-9.+-]", "_", value)


class Run:
    """One run: a name, a folder, the --set lines that make its config."""

    def __init__(self, study, folder, phase, arm, point, seed):
        self.phase, self.arm, self.point, self.seed = phase, arm, point, seed
        self.epochs = study.search_epochs if phase == "search" else study.final_epochs
        varied = [a for a in arm.axes if len(a.values) > 1]
        keys = [k for a in varied for k in a.keys]
        parts = [f"{short(k, keys)}{clean(point[k])}" for k in keys]
        self.name = "-".join([phase, arm.name] + parts + [f"seed{seed}"])
        self.folder = os.path.join(folder, self.name)
        self.group = group_of(study, arm, point)
        self.sets = ([f"{k}={v}" for k, v, _ in study.sets] +
                     [f"{k}={point[k]}" for k in arm.keys()] +
                     [f"run.seed={seed}", f"train.epochs={self.epochs}", "train.steps=-1",
                      f"run.out={self.folder}"])

    def args(self, base):
        """inna's arguments for this run (a new run; --resume is added in front)."""
        return [base] + [x for s in self.sets for x in ("--set", s)]


def group_of(study, arm, point):
    """A curve: the arm and the values of its axes that are not searched."""
    rest = [a for a in arm.axes if a.name not in study.select and len(a.values) > 1]
    keys = [k for a in rest for k in a.keys]
    return " ".join([arm.name] + [f"{short(k, keys)}={point[k]}" for k in keys])


def points(arm):
    """Every point of the arm's grid (the product of its axes), in file order."""
    out = [{}]
    for axis in arm.axes:
        out = [dict(p, **dict(zip(axis.keys, v))) for p in out for v in axis.values]
    return out


def searched(study, arm):
    """True when the arm has a select axis with more than one value."""
    return any(a.name in study.select and len(a.values) > 1 for a in arm.axes)


def expand_search(study, folder):
    return [Run(study, folder, "search", arm, p, study.seeds[0])
            for arm in study.arms if searched(study, arm) for p in points(arm)]


def expand_final(study, folder, winners):
    """The seeds of each curve's winner; winners: {group: point}."""
    runs = []
    for arm in study.arms:
        for group in dict.fromkeys(group_of(study, arm, p) for p in points(arm)):
            if group in winners:
                runs += [Run(study, folder, "final", arm, winners[group], s) for s in study.seeds]
    return runs


def candidates(study, folder):
    """A final run for every grid point and seed (what the search may pick)."""
    return [Run(study, folder, "final", arm, p, s)
            for arm in study.arms for p in points(arm) for s in study.seeds]


# ---------------------------------------------------------------- inna --check

def inna_check(inna, args):
    """(0, resolved INI) or (2, error line) from `inna --check ARGS`."""
    try:
        r = subprocess.run([inna, "--check"] + args, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 1, f"cannot run {inna}: {e}"
    err = one_line(r.stderr).removeprefix("inna: ")
    return (0, r.stdout) if r.returncode == 0 else (r.returncode, err or f"exit status {r.returncode}")


def validate(study, inna, folder):
    """Every key is a config key and every point a valid config; returns
    {run name: resolved config} of the runs checked."""
    rc, text = inna_check(inna, [study.base])
    if rc != 0:
        raise Refused(f"{study.path}: [study] base: {study.base}: {text}")
    known = set(inna_config.read_ini(text))
    for key, _, where in study.sets:
        if key not in known:
            raise Refused(f"{where} {key}: not a config key (see inna --help)")
    for arm in study.arms:
        for key in arm.keys():
            if key not in known:
                raise Refused(f"{arm.where(key)} {key}: not a config key (see inna --help)")
    runs = [Run(study, folder, "search", arm, p, study.seeds[0]) for arm in study.arms for p in points(arm)]
    names = [r.name for r in runs]
    for run in runs:
        if names.count(run.name) > 1:
            raise Refused(f"{study.path}: [arm {run.arm.name}]: two points make the run name {run.name} "
                          "(values that differ only in characters other than letters, digits, '.', '+', '-')")
    first = study.arms[0]
    runs += [Run(study, folder, "final", first, points(first)[0], s) for s in study.seeds]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda r: inna_check(inna, r.args(study.base)), runs))
    resolved = {}
    for run, (rc, text) in zip(runs, results):
        if rc != 0:
            raise Refused(f"{point_where(study, run, text)}: invalid point ({run.name}): {text}")
        resolved[run.name] = inna_config.read_ini(text)
    return resolved


def point_where(study, run, message):
    """The study file and the key an error of inna's names, when it is one of the run's."""
    for key in run.arm.keys():
        if key in message:
            return f"{run.arm.where(key)} {key} = {run.point[key]}"
    for key, value, where in study.sets:
        if key in message:
            return f"{where} {key} = {value}"
    if "run.seed" in message:
        return f"{study.path}: [study] seeds = {run.seed}"
    return f"{study.path}: [arm {run.arm.name}]"


def stored_config(folder):
    """The config stored in a run folder (model.h5, else latest.h5), or None."""
    for name in ("model.h5", "latest.h5"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            try:
                with h5py.File(path, "r") as f:
                    text = f.attrs["config"]
            except (OSError, KeyError):
                return None   # inna itself judges a damaged file on resume
            return inna_config.read_ini(text.decode() if isinstance(text, bytes) else text)
    return None


@functools.lru_cache(maxsize=None)
def resumable_keys(inna):
    """The config keys a resumed run may change, as inna itself lists them."""
    r = subprocess.run([inna, "--help"], capture_output=True, text=True, timeout=120)
    lines = r.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(RESUMABLE_LABEL):
            words = line.split(":", 1)[1].split()
            for more in lines[i + 1:]:
                if not more.strip():
                    break
                words += more.split()
            return frozenset(words)
    raise Refused(f"{inna} --help does not list the keys a resume may change "
                  f"(\"{RESUMABLE_LABEL}\"): an inna older than this script?")


def check_existing(study, inna, runs):
    """A run folder that holds a run of another config (the study file or
    --set changed since): refused, naming the folder and the first key."""
    todo = [r for r in runs if stored_config(r.folder) is not None]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda r: inna_check(inna, r.args(study.base)), todo))
    for run, (rc, text) in zip(todo, results):
        if rc != 0:
            raise Refused(f"{point_where(study, run, text)}: invalid point ({run.name}): {text}")
        want, have = inna_config.read_ini(text), stored_config(run.folder)
        for key in sorted(set(want) | set(have)):
            if key not in resumable_keys(inna) and want.get(key) != have.get(key):
                raise Refused(f"{run.folder}: holds a run with {key} = {have.get(key)!r}, the study "
                              f"now gives {want.get(key)!r}: remove that folder or choose another --out")


# ---------------------------------------------------------------- run state

def read_epochs(folder):
    """{epoch: {column: value}} from the run's metrics.h5 (the last row of an
    epoch written twice), {} when there is none."""
    path = os.path.join(folder, "metrics.h5")
    if not os.path.exists(path):
        return {}
    try:
        with h5py.File(path, "r") as f:
            g = f["epochs"]
            cols = {c: np.asarray(g[c][()]) for c in g}
    except (OSError, KeyError):
        return {}
    n = min(len(v) for v in cols.values()) if cols else 0
    return {int(cols["epoch"][i]): {c: float(v[i]) for c, v in cols.items()} for i in range(n)}


def state(run):
    """done | diverged | partial (a checkpoint to resume) | new."""
    if os.path.exists(os.path.join(run.folder, DIVERGED_MARK)):
        return "diverged"
    if os.path.exists(os.path.join(run.folder, "model.h5")) and run.epochs - 1 in read_epochs(run.folder):
        return "done"
    if os.path.lexists(os.path.join(run.folder, "latest.h5")):
        return "partial"
    return "new"


def result(run):
    """The last epoch of the budget: {train_loss, test_acc, ...} or {}."""
    return read_epochs(run.folder).get(run.epochs - 1, {})


def wall_seconds(folder):
    """Seconds the run's epochs took: elapsed_s per epoch row, counted again
    from 0 after each resume (start-up and steps lost to a kill not counted)."""
    total, last = 0.0, 0.0
    for e in sorted(rows := read_epochs(folder)):
        t = rows[e]["elapsed_s"]
        total += t - last if t >= last else t
        last = t
    return total


# ---------------------------------------------------------------- selection

def metric_value(study, run):
    """The search metric, worst possible when the run diverged or has none."""
    bad = -math.inf if METRICS[study.metric] else math.inf
    if state(run) != "done":
        return bad
    v = result(run).get(study.metric, bad)
    return bad if math.isnan(v) else v


def select(study, search):
    """{group: (winner point or None, [(run, metric)])}: a group's winner is
    the point with the best metric once all its search runs are over (done or
    diverged); ties go to the first in the file's order."""
    groups = {}
    for run in search:
        groups.setdefault(run.group, []).append(run)
    out = {}
    for group, runs in groups.items():
        scored = [(r, metric_value(study, r)) for r in runs]
        over = all(state(r) in ("done", "diverged") for r in runs)
        sign = -1 if METRICS[study.metric] else 1
        best = min(scored, key=lambda rm: sign * rm[1])
        ok = over and math.isfinite(best[1])
        out[group] = (best[0].point if ok else None, scored)
    return out


def winners(study, search):
    """{group: point} for every curve: searched groups once their search is
    over, unsearched ones (a single point) at once."""
    chosen = {g: p for g, (p, _) in select(study, search).items() if p is not None}
    for arm in study.arms:
        if not searched(study, arm):
            for p in points(arm):
                chosen.setdefault(group_of(study, arm, p), p)
    return chosen


# ---------------------------------------------------------------- running

class Runner:
    """Runs the study's runs one after another, each with mpirun over np ranks."""

    def __init__(self, study, inna, folder, launcher):
        self.study, self.inna, self.folder, self.launcher = study, inna, folder, launcher
        self.child, self.stop, self.failed, self.lock = None, False, [], None

    def on_signal(self, signum, frame):
        self.stop = True
        if self.child and self.child.poll() is None:
            try:   # mpirun passes SIGUSR1 to the ranks at once: checkpoint and exit 5
                self.child.send_signal(signal.SIGUSR1)
            except OSError:
                pass

    def run_all(self, runs, label):
        for i, run in enumerate(runs, 1):
            if self.stop:
                return
            st = state(run)
            if st == "new" and start_from_search(self.study, run):
                st = state(run)
            if st in ("done", "diverged"):
                continue
            print(f"study: [{label} {i}/{len(runs)}] {run.name}: "
                  f"{'resuming' if st == 'partial' else 'starting'}", flush=True)
            self.execute(run, st == "partial")

    def execute(self, run, resume):
        os.makedirs(run.folder, exist_ok=True)
        args = (["--resume", run.folder] if resume else []) + run.args(self.study.base)
        cmd = self.launcher + [self.inna, "--no-progress"] + args
        t0 = time.time()
        with open(os.path.join(run.folder, LOG), "a") as log:
            log.write(f"== study {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(cmd)}\n")
            log.flush()
            self.child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
            rc = self.child.wait()
            self.child = None
        self.report(run, rc, time.time() - t0)

    def report(self, run, rc, seconds):
        st = state(run)
        if st == "done":
            r = result(run)
            print(f"study: {run.name}: done in {seconds:.1f} s: train loss {r.get('train_loss', math.nan):.4g}, "
                  f"test acc {100 * r.get('test_acc', math.nan):.2f}%", flush=True)
        elif rc == INNA_DIVERGED:
            with open(os.path.join(run.folder, DIVERGED_MARK), "w") as f:
                f.write(f"inna exit status {rc}: {last_line(run)}\n")
            print(f"study: {run.name}: diverged: {last_line(run)}", flush=True)
        elif self.stop or rc == INNA_STOPPED:
            self.stop = True
            print(f"study: {run.name}: stopped by a signal (checkpoint kept; run the same command "
                  "again to continue)", flush=True)
        else:
            self.failed.append(run)
            print(f"study: {run.name}: failed (exit status {rc}): {last_line(run)} "
                  f"(log: {os.path.join(run.folder, LOG)})", file=sys.stderr, flush=True)


def start_from_search(study, run):
    """A final run with the search's seed is the search run of its point,
    continued: it starts as a copy of that finished run folder (its
    checkpoints and metrics; the model too when the budgets are equal) and
    resumes from there, bit for bit the run from scratch.  Returns True when
    copied.  The copy is made in a temporary folder, then renamed."""
    twin = os.path.join(os.path.dirname(run.folder), "search-" + run.name.removeprefix("final-"))
    if run.phase != "final" or run.seed != study.seeds[0] or study.search_epochs > study.final_epochs \
            or not os.path.isdir(twin) or os.path.exists(os.path.join(twin, DIVERGED_MARK)) \
            or not (os.path.exists(os.path.join(twin, "model.h5")) and
                    study.search_epochs - 1 in read_epochs(twin)):
        return False
    skip = {LOG, "inna.lock", "latest.h5"} | ({"model.h5"} if study.search_epochs < study.final_epochs else set())
    tmp = f"{run.folder}.tmp.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for name in os.listdir(twin):
        if name not in skip and ".tmp." not in name and os.path.isfile(os.path.join(twin, name)):
            shutil.copy2(os.path.join(twin, name), os.path.join(tmp, name))
    os.symlink(os.readlink(os.path.join(twin, "latest.h5")), os.path.join(tmp, "latest.h5"))
    with open(os.path.join(tmp, LOG), "w") as f:
        f.write(f"== study {time.strftime('%Y-%m-%d %H:%M:%S')}: a copy of {twin} after "
                f"{study.search_epochs} epoch(s) (the same config and seed)\n")
    shutil.rmtree(run.folder, ignore_errors=True)   # an empty or never-checkpointed start
    os.rename(tmp, run.folder)
    print(f"study: {run.name}: continues {os.path.basename(twin)} (the same run up to epoch "
          f"{study.search_epochs})", flush=True)
    return True


def last_line(run):
    """The last line inna wrote that says what went wrong."""
    try:
        with open(os.path.join(run.folder, LOG), errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.strip() and not ln.startswith("==")
                     and not ln.startswith("slurm.sbatch:")]
    except OSError:
        return "no log"
    said = [ln for ln in lines if ln.startswith("inna:")]
    return (said or lines or ["no output"])[-1]


def die_with_parent():
    """In the child: SIGTERM when the study process dies (even by SIGKILL), so
    that mpirun does not go on training a run that no one waits for."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def mpirun_argv(np_):
    """launch/common.sh's inna_mpirun command line for NP ranks, without the
    program: the same flags as launch/train.sh, without copying them."""
    common = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "launch", "common.sh")
    script = 'source "$1"; mpirun() { printf "%s\\0" mpirun "$@"; }; inna_mpirun "$2"'
    r = subprocess.run(["bash", "-c", script, "_", common, str(np_)], capture_output=True)
    argv = r.stdout.decode().split("\0")[:-1]
    if r.returncode != 0 or not argv:
        raise Refused(f"cannot build the mpirun command line from {common}")
    return argv


def remove_stale(folder):
    """What a killed study command left half-made (NAME.tmp.PID files and
    folders); only called with the study lock held."""
    for name in os.listdir(folder):
        if re.search(r"\.tmp\.\d+$", name):
            path = os.path.join(folder, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


class StudyLock:
    """An fcntl lock on STUDY/study.lock held for the whole command (the
    kernel drops it when the process ends, however it ends)."""

    def __init__(self, folder):
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "study.lock")
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self.fd, 256, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            raise Refused(f"{folder}: in use by another study command ({holder}); wait for it "
                          "to end or stop it") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"host {socket.gethostname()} pid {os.getpid()} since "
                  f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)


# ---------------------------------------------------------------- outputs

def fmt(v, digits=6):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def write_atomic(path, text):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def csv_text(header, rows):
    import io
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def run_status(run, failed):
    st = state(run)
    if run in failed:
        return "failed"
    return {"partial": "interrupted", "new": "pending"}.get(st, st)


def write_summary(study, folder, runs, failed):
    keys = study.arm_keys()
    header = ["run", "phase", "arm"] + keys + ["run.seed", "epochs", "train_loss", "test_acc",
                                               "test_loss", "wall_s", "status"]
    rows = []
    for run in runs:
        r = result(run)
        rows.append([run.name, run.phase, run.arm.name] + [run.point.get(k, "") for k in keys] +
                    [run.seed, run.epochs, fmt(r.get("train_loss")), fmt(r.get("test_acc")),
                     fmt(r.get("test_loss")), f"{wall_seconds(run.folder):.1f}",
                     run_status(run, failed)])
    write_atomic(os.path.join(folder, "summary.csv"), csv_text(header, rows))


def write_selection(study, folder, search):
    keys = [k for a in study.select for k in a.split(",")]
    header = ["arm", "curve", "run"] + keys + [study.metric, "status", "winner"]
    rows = []
    for group, (win, scored) in select(study, search).items():
        for run, value in scored:
            rows.append([run.arm.name, group, run.name] + [run.point.get(k, "") for k in keys] +
                        [fmt(result(run).get(study.metric)), state(run).replace("partial", "interrupted"),
                         "" if win is None else int(run.point == win)])
    write_atomic(os.path.join(folder, "selection.csv"), csv_text(header, rows))


def mean_std(values):
    """'m ± s' (s: sample standard deviation over seeds; '-' with one value)."""
    if not values:
        return "-"
    m = float(np.mean(values))
    s = f"{float(np.std(values, ddof=1)):.2f}" if len(values) > 1 else "-"
    return f"{m:.2f} ± {s}"


def write_table(study, folder, finals, command):
    keys = [k for a in study.select for k in a.split(",")]
    lines = [f"# Study {study.name}", "", f"Study file `{study.path}`; command: `{command}`.", "",
             f"Search: {study.search_epochs} epoch(s) per grid point, seed {study.seeds[0]}, "
             f"metric {study.metric} of the last epoch ({'higher' if METRICS[study.metric] else 'lower'} "
             f"is better). Final: {study.final_epochs} epoch(s) for each of the seeds "
             f"{', '.join(map(str, study.seeds))}.", "",
             "| curve | selected | seeds done | final test accuracy (%) | final training loss "
             "| time per run (s) |", "|---|---|---|---|---|---|"]
    groups = {}
    for run in finals:
        groups.setdefault(run.group, []).append(run)
    for group, runs in groups.items():
        done = [r for r in runs if state(r) == "done"]
        acc = [100 * result(r)["test_acc"] for r in done]
        loss = [result(r)["train_loss"] for r in done]
        wall = [wall_seconds(r.folder) for r in done]
        chosen = " ".join(f"{short(k, keys)}={runs[0].point[k]}" for k in keys if k in runs[0].point)
        lines.append(f"| {group} | {chosen or '-'} | {len(done)}/{len(runs)} | {mean_std(acc)} | "
                     f"{fmt(float(np.mean(loss)), 4) if loss else '-'} | "
                     f"{f'{np.mean(wall):.1f}' if wall else '-'} |")
    lines += ["", "Test accuracy: mean ± sample standard deviation over the seeds, after the last "
              "epoch. Training loss: the last epoch's mean over its steps, averaged over the seeds. "
              "Time: the epochs' wall time per run (metrics.h5 elapsed_s), mean over the seeds.", ""]
    write_atomic(os.path.join(folder, "results.md"), "\n".join(lines))


def draw(study, folder, search, finals):
    """figures/final.png (one curve per group, mean and best-to-worst band over
    the seeds) and figures/search-ARM.png (every grid point of an arm), drawn
    by results/plot_runs.py; a figure that cannot be drawn is a warning."""
    plot = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "results", "plot_runs.py")
    figs = os.path.join(folder, "figures")
    os.makedirs(figs, exist_ok=True)
    jobs = []
    done = [r for r in finals if state(r) == "done"]
    if done:
        labels = [x for r in done for x in ("--label", f"{r.folder}={curve_label(study, r)}")]
        jobs.append(("final.png", [r.folder for r in done] + labels, f"{study.name}: final runs"))
    for arm in study.arms:
        runs = [r for r in search if r.arm is arm and state(r) == "done"]
        if runs:
            jobs.append((f"search-{arm.name}.png", [r.folder for r in runs],
                         f"{study.name}: search, arm {arm.name}"))
    for name, args, title in jobs:
        if up_to_date(os.path.join(figs, name), [a for a in args if os.path.isdir(a)]):
            continue
        r = subprocess.run([sys.executable, plot] + args + ["-o", os.path.join(figs, name), "--title", title],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"study: warning: figures/{name}: {one_line(r.stderr)}", file=sys.stderr)


def curve_label(study, run):
    """The curve's name and the searched values it won with: "inna lr=0.05"."""
    keys = [k for a in study.select for k in a.split(",") if k in run.point]
    won = [f"{short(k, keys)}={run.point[k]}" for k in keys]
    return " ".join([run.group] + won)


def up_to_date(png, folders):
    """The figure is newer than every metrics.h5 it draws: nothing to redraw."""
    try:
        return os.path.getmtime(png) >= max(os.path.getmtime(os.path.join(d, "metrics.h5"))
                                            for d in folders)
    except (OSError, ValueError):
        return False


def write_outputs(study, folder, search, finals, failed, command):
    write_summary(study, folder, search + finals, failed)
    write_selection(study, folder, search)
    write_table(study, folder, finals, command)


# ---------------------------------------------------------------- commands

def prepare(a):
    study = Study(a.study, a.set)
    folder = os.path.abspath(a.out or os.path.join("studies", study.name))
    validate(study, a.inna, folder)
    return study, folder


def cmd_plan(a):
    study, folder = prepare(a)
    search = expand_search(study, folder)
    runs = search if a.phase == "search" else expand_final(study, folder, winners(study, search))
    if a.phase == "final" and any(state(r) not in ("done", "diverged") for r in search):
        print("study: note: the search is not over: only the curves already selected", file=sys.stderr)
    for run in runs:
        print(plan_line(study, run))
    return 0


def plan_line(study, run):
    """NAME<TAB>ARGS: inna's arguments quoted for a POSIX shell (launch/slurm.sbatch --plan reads them)."""
    return run.name + "\t" + shlex.join(run.args(study.base))


def cmd_report(a):
    study, folder = prepare(a)
    search = expand_search(study, folder)
    finals = expand_final(study, folder, winners(study, search))
    write_outputs(study, folder, search, finals, [], last_command(folder) or command_line(a))
    draw(study, folder, search, finals)
    return 0


def last_command(folder):
    """The command of the last `run` or `submit` recorded in study.log
    ("DATE TIME pid N: COMMAND"; the jobs' lines say "slurm:"), or None."""
    try:
        with open(os.path.join(folder, "study.log")) as f:
            lines = [m[1] for ln in f if (m := re.match(r"^\S+ \S+ pid \d+: (.*)$", ln.strip()))]
    except OSError:
        return None
    return lines[-1] if lines else None


def command_line(a):
    return " ".join(["launch/study.sh"] + (["--slurm"] if a.command == "submit" else []) + [a.study] +
                    [f"--set {s}" for s in a.set] +
                    ([f"--np {a.np}"] if a.np else []) + ([f"--out {a.out}"] if a.out else []) +
                    (["--"] + [shlex.quote(o) for o in a.sbatch] if a.sbatch else []))


def log_line(folder, text):
    with open(os.path.join(folder, "study.log"), "a") as f:
        f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")


def cmd_run(a):
    study, folder = prepare(a)
    lock = StudyLock(folder)
    remove_stale(folder)
    launcher = mpirun_argv(a.np or os.cpu_count() or 1)
    search = expand_search(study, folder)
    check_existing(study, a.inna, search + candidates(study, folder))
    runner = Runner(study, a.inna, folder, launcher)
    runner.lock = lock   # held until the process ends
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGHUP):
        signal.signal(sig, runner.on_signal)
    log_line(folder, f"pid {os.getpid()}: {command_line(a)}")
    runner.run_all(search, "search")
    finals = expand_final(study, folder, winners(study, search))
    runner.run_all(finals, "final")
    write_outputs(study, folder, search, finals, runner.failed, command_line(a))
    draw(study, folder, search, finals)
    return finish(study, folder, search, finals, runner)


def finish(study, folder, search, finals, runner):
    if runner.stop:
        print(f"study: stopped by a signal: run the same command again to continue ({folder})",
              file=sys.stderr)
        return EXIT_STOPPED
    curves = {group_of(study, arm, p) for arm in study.arms for p in points(arm)}
    waiting = len(curves - set(winners(study, search)))
    n_done = sum(state(r) == "done" for r in search + finals)
    n_diverged = sum(state(r) == "diverged" for r in search + finals)
    print(f"study: {folder}: {n_done} of {len(search) + len(finals)} runs done"
          + (f", {n_diverged} diverged" if n_diverged else "")
          + (f", {len(runner.failed)} failed" if runner.failed else "")
          + (f", {waiting} curve(s) not selected (their search is not complete)" if waiting > 0 else "")
          + "; summary.csv, selection.csv, results.md, figures/", flush=True)
    return EXIT_FAILED if runner.failed or waiting > 0 else 0


# ---------------------------------------------------------------- SLURM
#
# The study on SLURM (launch/study.sh --slurm).  The final runs cannot be
# listed before the search is over -- they are the seeds of its winners -- so
# the final phase computes its plan when it starts, in a job of its own:
#   submit --phase search (the user's command): the search runs not done as a
#     job array of launch/slurm.sbatch --plan (one run per array task), and a
#     small "select" job, --dependency=afterok on that array, that runs
#   submit --phase final: selects the winners from the run folders, starts
#     the final runs with the search's seed as copies of their search runs
#     (as `run` does), submits the final runs not done as a second array, and
#     a "report" job (afterany on it, so that a failed run shows in the
#     outputs too) that runs `report`: summary.csv, selection.csv, results.md,
#     figures.
# A phase with nothing left to submit goes on at once, in the same process.
# Why not an array of final runs submitted at once, each task computing its
# run at start: each task would need the selection (Python, h5py) and the
# copy before slurm.sbatch, and the finished runs would still cost a task
# each; here every array task is a plain slurm.sbatch job (preemption:
# checkpoint, exit 5, --resume when it runs again) and only runs not done
# are submitted.  A plan is a file in STUDY/slurm/ with a name of its own,
# written before the array that reads it and never rewritten, so a task that
# starts late (requeued) reads the line it was given.  Submitting again after
# a stop or a failure submits what is not done, as `run` redoes nothing.
# (A failed search task leaves the select job's dependency unsatisfiable:
# --kill-on-invalid-dep removes it from the queue.)

class SubmitFailed(Exception):
    """sbatch refused a job: one line, exit status 1."""


def sbatch(args):
    """Submits a job; its id (sbatch --parsable prints ID or ID;CLUSTER)."""
    r = subprocess.run(["sbatch", "--parsable"] + args, capture_output=True, text=True)
    if r.returncode != 0:
        raise SubmitFailed(f"sbatch {' '.join(args[:3])} ...: {one_line(r.stderr) or f'exit {r.returncode}'}")
    return r.stdout.strip().split(";")[0]


def job_options(study, folder, a, kind, output):
    """sbatch options of a job of the study: its name, output file and ranks,
    then the command line's sbatch options (they apply to every job)."""
    shape = [f"--ntasks={a.np or 1}"] if kind in ("search", "final") else ["--ntasks=1", "--time=30"]
    return [f"--job-name={study.name}-{kind}", f"--output={os.path.join(folder, 'slurm', output)}"] + \
        shape + a.sbatch


def study_command(a, folder, command, *extra):
    """This program with the study's arguments, as a shell line for sbatch --wrap."""
    return shlex.join([sys.executable, os.path.abspath(__file__), command, os.path.abspath(a.study),
                       "--inna", os.path.abspath(a.inna), "--out", folder] +
                      [x for kv in a.set for x in ("--set", kv)] + list(extra))


def submit_array(study, folder, a, phase, runs):
    """The runs as one job array of launch/slurm.sbatch --plan: its job id and plan file."""
    plan = os.path.join(folder, "slurm", f"{phase}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.plan")
    write_atomic(plan, "".join(plan_line(study, r) + "\n" for r in runs))
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "launch", "slurm.sbatch")
    job = sbatch([f"--array=0-{len(runs) - 1}"] + job_options(study, folder, a, phase, f"{phase}-%A_%a.out") +
                 [os.path.normpath(script), "--plan", plan])
    return job, plan


def cancel(job):
    subprocess.run(["scancel", job], capture_output=True)


def cmd_submit(a):
    study, folder = prepare(a)
    if shutil.which("sbatch") is None:
        raise Refused("--slurm: sbatch not found: SLURM's commands are not installed here (or not on PATH)")
    if os.path.basename(a.inna) != "inna":
        raise Refused(f"--slurm: {a.inna}: the jobs run INNA_BUILD/inna (launch/slurm.sbatch): "
                      "name the program inna")
    # What launch/slurm.sbatch runs: this inna (sbatch passes the environment on).
    os.environ["INNA_BUILD"] = os.path.dirname(os.path.abspath(a.inna))
    StudyLock(folder)   # held until this process ends: its descriptor is never closed
    remove_stale(folder)
    search = expand_search(study, folder)
    check_existing(study, a.inna, search + candidates(study, folder))
    os.makedirs(os.path.join(folder, "slurm"), exist_ok=True)
    if a.phase == "search":
        log_line(folder, f"pid {os.getpid()}: {command_line(a)}")
        todo = [r for r in search if state(r) not in ("done", "diverged")]
        if todo:
            array, plan = submit_array(study, folder, a, "search", todo)
            try:
                select = sbatch([f"--dependency=afterok:{array}", "--kill-on-invalid-dep=yes"] +
                                job_options(study, folder, a, "select", "select-%j.out") +
                                ["--wrap", study_command(a, folder, "submit", "--phase", "final",
                                                         "--np", str(a.np or 1),
                                                         *[f"--sbatch={o}" for o in a.sbatch])])
            except SubmitFailed:
                cancel(array)   # nothing half-submitted
                raise
            log_line(folder, f"slurm: search array {array} ({len(todo)} runs, {plan}); "
                     f"select job {select} afterok:{array}")
            print(f"study: search: job array {array}, {len(todo)} run(s) ({plan}); then job {select} "
                  f"(afterok:{array}) selects the winners and submits the final runs; the jobs' output: "
                  f"{os.path.join(folder, 'slurm')}/", flush=True)
            return 0
        print("study: the search is done: selecting now", flush=True)
    finals = expand_final(study, folder, winners(study, search))
    for run in finals:
        if state(run) == "new":
            start_from_search(study, run)
    todo = [r for r in finals if state(r) not in ("done", "diverged")]
    job = os.environ.get("SLURM_JOB_ID")
    if todo:
        array, plan = submit_array(study, folder, a, "final", todo)
        try:
            report = sbatch([f"--dependency=afterany:{array}"] +
                            job_options(study, folder, a, "report", "report-%j.out") +
                            ["--wrap", study_command(a, folder, "report")])
        except SubmitFailed:
            cancel(array)
            raise
        log_line(folder, f"slurm: {f'job {job}: ' if job else ''}final array {array} ({len(todo)} runs, "
                 f"{plan}); report job {report} afterany:{array}")
        print(f"study: final: job array {array}, {len(todo)} run(s) ({plan}); then job {report} "
              f"(afterany:{array}) writes the outputs", flush=True)
        return 0
    write_outputs(study, folder, search, finals, [], last_command(folder) or command_line(a))
    draw(study, folder, search, finals)
    return finish(study, folder, search, finals, argparse.Namespace(stop=False, failed=[]))


class Parser(argparse.ArgumentParser):
    def error(self, message):   # one line, exit status 2, as every other refusal
        raise Refused(f"{message} (see inna_study.py --help)")


def main(argv):
    p = Parser(prog="inna_study.py", description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=("run", "plan", "report", "submit"))
    p.add_argument("study", help="study file (INI)")
    p.add_argument("--inna", required=True, help="the inna program")
    p.add_argument("--np", type=int, default=0, help="MPI ranks per run (default: the cores)")
    p.add_argument("--out", default="", help="study folder (default: studies/NAME)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config key for every run (overrides [set])")
    p.add_argument("--phase", choices=("search", "final"), default="search",
                   help="plan: which runs; submit: from which phase on")
    p.add_argument("--sbatch", action="append", default=[], metavar="OPTION",
                   help="submit: an sbatch option for every job (--sbatch=--time=2:00:00)")
    a = p.parse_args(argv)
    if a.np < 0:
        raise Refused(f"--np {a.np}: not a number of ranks")
    if a.command in ("run", "submit") and not os.path.isfile(a.study):
        raise Refused(f"{a.study}: no such file")
    return {"run": cmd_run, "plan": cmd_plan, "report": cmd_report, "submit": cmd_submit}[a.command](a)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Refused as e:
        print(f"study: {one_line(e)}", file=sys.stderr)
        sys.exit(EXIT_INPUT)
    except SubmitFailed as e:
        print(f"study: {one_line(e)}", file=sys.stderr)
        sys.exit(EXIT_FAILED)
