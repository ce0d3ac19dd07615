"""study_files.py INNA ROOT WORKDIR: every study file shipped in
configs/studies/ expands (src/python/inna_study.py plan: parsed, every key a
config key, every point passes inna --check), and the paper's studies say
what the paper did (section 5.2): figure 2 = INNA, SGD, Adam, Adagrad with
INNA and SGD at gamma_0/sqrt(k+1) (optim.q = 0.5) and Adam and Adagrad at a
constant gamma_0 (optim.q = 0), INNA's (alpha, beta) among (0.1, 0.1) and
(0.5, 0.1); figure 3 = the four (alpha, beta); figure 4 = q in 1/2, 1/4,
1/8, ...; 15 search epochs and 5 seeds (not in the reduced -small file).
Exit 77 without h5py (the runner needs it).
"""
import glob
import importlib.util
import os
import shlex
import subprocess
import sys

if importlib.util.find_spec("h5py") is None:
    print("skipped: no h5py")
    sys.exit(77)

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}")


def plan(root, inna, work, path, phase="search"):
    """[(name, {key: value})] of the runs `plan` lists, or None."""
    r = subprocess.run([sys.executable, os.path.join(root, "src/python/inna_study.py"), "plan", path,
                        "--inna", inna, "--out", os.path.join(work, os.path.basename(path)),
                        "--phase", phase], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{path}: plan exit {r.returncode}: {r.stderr.strip()}")
        return None
    runs = []
    for line in r.stdout.splitlines():
        name, args = line.split("\t")
        words = shlex.split(args)
        sets = dict(w.split("=", 1) for w in words[2::2])
        runs.append((name, sets))
    return runs


def check_paper(path, runs):
    base = os.path.basename(path)
    small = "small" in base
    by_name = {}
    for _, s in runs:
        by_name.setdefault(s["optim.name"], []).append(s)
    if len({n for n, _ in runs}) != len(runs):
        fail(f"{base}: two runs share a name")
    if not small and any(s["train.epochs"] != "15" for _, s in runs):
        fail(f"{base}: search runs of other than 15 epochs")
    with open(path) as f:
        seeds = [ln.split("=", 1)[1].split(",") for ln in f if ln.replace(" ", "").startswith("seeds=")]
    if not small and (len(seeds) != 1 or len(seeds[0]) != 5):
        fail(f"{base}: not 5 seeds: {seeds}")
    if "-fig2" in base:
        if sorted(by_name) != ["adagrad", "adam", "inna", "sgd"]:
            fail(f"{base}: optimizers {sorted(by_name)}")
        for name, want in (("inna", "0.5"), ("sgd", "0.5"), ("adam", "0"), ("adagrad", "0")):
            if any(s.get("optim.q") != want for s in by_name.get(name, [])):
                fail(f"{base}: {name} runs without optim.q = {want}")
        pairs = {(s.get("optim.alpha"), s.get("optim.beta")) for s in by_name.get("inna", [])}
        if not pairs <= {("0.1", "0.1"), ("0.5", "0.1")}:
            fail(f"{base}: INNA (alpha, beta) {sorted(pairs)}")
    if "-fig3" in base:
        pairs = {(s["optim.alpha"], s["optim.beta"]) for s in by_name.get("inna", [])}
        if pairs != {("0.1", "0.1"), ("0.5", "0.1"), ("0.5", "0.5"), ("0.5", "1")}:
            fail(f"{base}: (alpha, beta) {sorted(pairs)}")
    if "-fig4" in base:
        qs = sorted({float(s["optim.q"]) for s in by_name.get("inna", [])}, reverse=True)
        if qs[:3] != [0.5, 0.25, 0.125] or any(b != a / 2 for a, b in zip(qs, qs[1:])):
            fail(f"{base}: INNA q values {qs}")
    return len(runs)


def main(inna, root, work):
    files = sorted(glob.glob(os.path.join(root, "configs/studies/*.ini")))
    if not files:
        fail("no study files in configs/studies")
    for path in files:
        runs = plan(root, inna, work, path)
        if runs is None:
            continue
        n = check_paper(path, runs) if "-fig" in path else len(runs)
        seeds = {s["run.seed"] for _, s in runs}
        print(f"ok   {os.path.basename(path)}: {n} search runs, search seed {', '.join(sorted(seeds))}")
    print(f"study_files.py: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
