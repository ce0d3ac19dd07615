"""Writes fake run folders for tests/plot_runs.cmake, each with a metrics.h5
laid out as metrics_h5.c writes it and the resolved config where
plot_runs.py looks for it:
  inna-s1, inna-s2  INNA lr 0.02 alpha 0.5, seeds 1 and 2 (one group), model.h5
  inna-a1           INNA lr 0.02 alpha 1 (same optimizer and lr: the label must
                    tell it apart), model.h5
  sgd               SGD lr 0.01, config in ckpt-000000250.h5 via latest.h5
5 epochs of 50 steps each.

Usage: fake_runs.py DIR
"""
import os
import sys

import h5py
import numpy as np

CONFIG = """; inna configuration, every key resolved (paths are absolute or as given)
[run]
seed = {seed}
out = {out}
threads = 0
check_every = 100

[checkpoint]
every = 0
keep = 3

[train]
batch = 32
epochs = 5

[optim]
name = {name}
lr = {lr}
alpha = {alpha}
beta = 0.1

[net]
input = 1x28x28
layer = conv filters=8 size=3 stride=1 pad=1
layer = relu
layer = gap
"""
STEPS, EPOCHS = 50, 5
STEP_COLUMNS = ["step", "epoch", "loss", "accuracy", "lr", "step_s", "compute_s", "comm_s",
                "images_s"]
EPOCH_COLUMNS = ["epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc",
                 "elapsed_s"]


def column(g, name, values, chunk):
    dtype = np.int64 if name in ("step", "epoch") else np.float64
    g.create_dataset(name, data=np.asarray(values, dtype=dtype), maxshape=(None,), chunks=(chunk,))


def write_metrics(path, rate, seed):
    rng = np.random.default_rng(seed)
    k = np.arange(STEPS * EPOCHS)
    loss = 2.3 * np.exp(-rate * k / STEPS) * (1 + 0.1 * rng.random(k.size))
    steps = {"step": k, "epoch": k // STEPS, "loss": loss, "accuracy": 1 - loss / 2.5,
             "lr": np.full(k.size, 0.02), "step_s": np.full(k.size, 0.05),
             "compute_s": np.full(k.size, 0.04), "comm_s": np.full(k.size, 0.01),
             "images_s": np.full(k.size, 640.0)}
    e = np.arange(EPOCHS)
    tl = np.array([loss[i * STEPS:(i + 1) * STEPS].mean() for i in e])
    epochs = {"epoch": e, "step": (e + 1) * STEPS, "train_loss": tl, "train_acc": 1 - tl / 2.5,
              "test_loss": tl * 1.1, "test_acc": 1 - tl * 1.1 / 2.5, "elapsed_s": (e + 1) * 2.5}
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "inna-metrics-1"
        f.attrs["inna_version"] = "fake"
        for gname, cols, data, chunk in (("steps", STEP_COLUMNS, steps, 1024),
                                         ("epochs", EPOCH_COLUMNS, epochs, 64)):
            g = f.create_group(gname)
            for c in cols:
                column(g, c, data[c], chunk)


def write_config(path, **kw):
    with h5py.File(path, "w") as f:
        f.attrs["config"] = CONFIG.format(**kw)
        f.attrs["format"] = "fake"


def main(top):
    runs = [("inna-s1", "inna", 0.02, 0.5, 1, 1.0, "model.h5"),
            ("inna-s2", "inna", 0.02, 0.5, 2, 1.2, "model.h5"),
            ("inna-a1", "inna", 0.02, 1, 1, 0.8, "model.h5"),
            ("sgd", "sgd", 0.01, 0.5, 1, 0.5, "ckpt-000000250.h5")]
    for folder, name, lr, alpha, seed, rate, cfg_file in runs:
        d = os.path.join(top, folder)
        os.makedirs(d, exist_ok=True)
        write_metrics(os.path.join(d, "metrics.h5"), rate, seed)
        write_config(os.path.join(d, cfg_file), seed=seed, out=d, name=name, lr=lr, alpha=alpha)
        if cfg_file != "model.h5":   # as checkpoint_save: latest.h5 -> the newest checkpoint
            os.symlink(cfg_file, os.path.join(d, "latest.h5"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    main(sys.argv[1])
