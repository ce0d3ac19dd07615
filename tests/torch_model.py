"""torch_model.py INNA TINY_INI WORKDIR

"model.h5 loads in PyTorch": trains short runs with inna (one rank, no
mpirun), loads each run's model.h5 with src/python/inna_torch.py, evaluates
it on the test set of its stored config and requires inna's own final test
figures (metrics.h5, epochs/test_loss and test_acc) within 1e-4 relative
loss and 0.05 percentage points of accuracy.  The runs:
  tiny     configs/tiny.ini on Fashion-MNIST: every layer type, standardized
           with the stats of data.train_limit images, data.test_limit;
  edges    pools where floor and ceil output sizes differ, pads beyond
           PyTorch's size/2 (max and average), average pools whose windows
           overhang the image, data.standardize = false;
  cifar10, cifar100 (coarse labels)
           small synthetic CIFAR binary files: the readers, three channels
           standardized each with its own mean and std.
Each run trains one whole epoch: only whole epochs get a metrics row.
Exit 77 (skip) when this Python lacks torch or h5py.
"""
import os
import re
import shutil
import subprocess
import sys

try:
    import h5py
    import numpy as np
    import torch  # noqa: F401
except ImportError as e:
    print(f"torch_model: skipped: {sys.executable}: {e}")
    sys.exit(77)

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "python")
sys.path.insert(0, SRC)
import inna_torch  # noqa: E402

LOSS_RTOL, ACC_TOL = 1e-4, 0.0005   # accuracy as a fraction: 0.05 percentage points

EDGES = """\
[optim]
lr = 0.02
beta = 1
[data]
standardize = false
train_limit = 800
test_limit = 500
[train]
batch = 8
[net]
input = 1x28x28
; pools on values of either sign; output sides (floor; ceil would differ where shown):
; 28 -> 26 -> 13 (ceil 14) -> 8 (pad 2 > 3/2) -> 4 (ceil 5) -> 6 (pad 2 > 3/2) -> 6 -> 1
layer = conv filters=6 size=3 stride=1 pad=0
layer = maxpool size=3 stride=2 pad=1
layer = maxpool size=3 stride=2 pad=2
layer = avgpool size=3 stride=2 pad=1
layer = avgpool size=3 stride=1 pad=2
layer = relu
layer = dropout rate=0.1
layer = conv filters=10 size=3 stride=1 pad=1
layer = gap
"""

CIFAR = """\
[optim]
lr = 0.02
beta = 1
[data]
format = {fmt}
dir = {dir}
{labels}train_limit = 80
[train]
batch = 8
[net]
input = 3x32x32
layer = conv filters=6 size=5 stride=2 pad=2
layer = relu
layer = maxpool size=2 stride=2
layer = conv filters={classes} size=1
layer = gap
"""


def write_cifar(folder, cifar100):
    """Random records whose three channels have different means and spreads.
    The training set spans files, and the records past data.train_limit = 80
    are inverted: statistics over the whole file would differ clearly."""
    rng = np.random.default_rng(7 + cifar100)
    os.makedirs(folder)
    files = {"train.bin": 96, "test.bin": 100} if cifar100 else \
        {**{f"data_batch_{i}.bin": 32 for i in range(1, 6)}, "test_batch.bin": 100}
    train = {k: n for k, n in files.items() if "test" not in k}
    for test in (False, True):
        n = 100 if test else sum(train.values())
        pixels = np.stack([rng.integers(40 * c, 256 - 60 * c, (n, 1024)) for c in range(3)], 1)
        if not test:
            pixels[80:] = 255 - pixels[80:]
        labels = [rng.integers(0, 20, (n, 1)), rng.integers(0, 100, (n, 1))] if cifar100 \
            else [rng.integers(0, 10, (n, 1))]
        records = np.concatenate(labels + [pixels.reshape(n, 3072)], axis=1).astype(np.uint8)
        names = [k for k in files if "test" in k] if test else list(train)
        for name, part in zip(names, np.split(records, np.cumsum([files[k] for k in names])[:-1])):
            part.tofile(os.path.join(folder, name))


def train(inna, ini, out):
    cmd = [inna, ini, "--set", f"run.out={out}", "--set", "dist.chunk=8",
           "--set", "train.steps=-1", "--set", "train.epochs=1"]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit(f"torch_model: {' '.join(cmd)}: exit {r.returncode}\n{r.stdout}")


def inna_figures(run):
    with h5py.File(os.path.join(run, "metrics.h5"), "r") as f:
        return float(f["epochs/test_loss"][-1]), float(f["epochs/test_acc"][-1])


def main(inna, tiny, work):
    shutil.rmtree(work, ignore_errors=True)   # inna refuses a folder holding a run
    os.makedirs(work)
    runs = {"tiny": tiny}
    with open(os.path.join(work, "edges.ini"), "w") as f:
        f.write(EDGES)
    runs["edges"] = f.name
    for fmt, classes in (("cifar10", 10), ("cifar100", 20)):
        data = os.path.join(work, f"{fmt}-data")
        write_cifar(data, fmt == "cifar100")
        with open(os.path.join(work, f"{fmt}.ini"), "w") as f:
            f.write(CIFAR.format(fmt=fmt, dir=data, classes=classes,
                                 labels="labels = coarse\n" if classes == 20 else ""))
        runs[fmt] = f.name

    failures, kinds = 0, set()
    for name, ini in runs.items():
        run = os.path.join(work, name)
        train(inna, ini, run)
        model, config = inna_torch.load_model(os.path.join(run, "model.h5"))
        kinds |= {kind for kind, _ in config["net.layers"]}
        x, y = inna_torch.load_data(config, test=True)
        loss, acc = inna_torch.evaluate(model, x, y)
        ref_loss, ref_acc = inna_figures(run)
        rel = abs(loss - ref_loss) / abs(ref_loss)
        ok = rel <= LOSS_RTOL and abs(acc - ref_acc) <= ACC_TOL
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name:8} {len(y):5} test images: inna loss "
              f"{ref_loss:.7f} acc {100 * ref_acc:.2f}% | torch loss {loss:.7f} acc "
              f"{100 * acc:.2f}% | loss rel. diff {rel:.1e}")

    # Equal logits: inna counts the first maximal class (softmax_xent.c).
    tied = torch.zeros(4, 10)
    acc = inna_torch.evaluate(lambda x: tied[:len(x)], np.zeros((4, 1, 1, 1), np.float32),
                              np.array([0, 1, 0, 9]))[1]
    if acc != 0.5:
        failures += 1
        print(f"FAIL ties: accuracy {acc} with all logits equal, expected 0.5 (class 0 wins)")

    # The command line, as the README shows it, prints the same figures.
    cli = subprocess.run([sys.executable, os.path.join(SRC, "inna_torch.py"),
                          os.path.join(work, "tiny", "model.h5"), "--batch", "64"],
                         stdout=subprocess.PIPE, text=True)
    m = re.fullmatch(r"test loss (\S+) acc (\S+)%\n", cli.stdout)
    ref_loss, ref_acc = inna_figures(os.path.join(work, "tiny"))
    if cli.returncode or not m or abs(float(m[1]) - ref_loss) > LOSS_RTOL * ref_loss \
            or abs(float(m[2]) - 100 * ref_acc) > 100 * ACC_TOL:
        failures += 1
        print(f"FAIL command line: exit {cli.returncode}, printed {cli.stdout!r}")
    else:
        print(f"ok   command line: {cli.stdout.strip()}")

    missing = {"conv", "relu", "maxpool", "avgpool", "gap", "dropout"} - kinds
    if missing:
        failures += 1
        print(f"FAIL layer types not covered: {sorted(missing)}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip())
    main(*sys.argv[1:])
