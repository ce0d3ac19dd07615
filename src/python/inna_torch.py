"""inna's model.h5 in PyTorch: the network built from the stored config, its
weights loaded, and the test set of that config read and standardized the way
inna does it (src/data/dataset.c), so that

    python3 src/python/inna_torch.py RUN/model.h5 [--batch N]

prints the test loss and accuracy inna reported (metrics.h5, epochs/test_*).
Needs numpy, h5py and torch only (Debian: python3-torch python3-h5py).

    from inna_torch import load_model, load_data
    model, config = load_model("runs/fashion-nin/model.h5")   # in eval() mode
    x, y = load_data(config, test=True)                       # float32 NCHW, int64
    logits = model(torch.from_numpy(x[:8]))
"""
import argparse
import gzip
import math
import os
from collections import OrderedDict

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inna_config import net_layers, read_ini


def parse_config(text):
    """The resolved INI text -> inna_config.read_ini's {"section.key": "value"},
    with the [net] layer lines also as config["net.layers"] =
    inna_config.net_layers: [(type, {key: int or float}), ...]."""
    config = read_ini(text)
    config["net.layers"] = net_layers(config)
    return config


class AvgPoolValid(nn.Module):
    """Average over the window's positions inside the image, for padding
    beyond PyTorch's limit of size/2 (nn.AvgPool2d refuses it)."""

    def __init__(self, size, stride, pad):
        super().__init__()
        self.size, self.stride, self.pad = size, stride, pad

    def forward(self, x):
        pad = lambda t: F.pad(t, [self.pad] * 4)
        count = F.avg_pool2d(pad(torch.ones_like(x[:1, :1])), self.size, self.stride)
        return F.avg_pool2d(pad(x), self.size, self.stride) / count


def pool(kind, size, stride=1, pad=0):
    """inna's pools: floor output size; padding never wins a max and does not
    count in an average."""
    if 2 * pad <= size:   # what PyTorch's own pooling layers accept
        if kind == "maxpool":
            return nn.MaxPool2d(size, stride, pad)
        return nn.AvgPool2d(size, stride, pad, count_include_pad=False)
    if kind == "maxpool":
        return nn.Sequential(nn.ConstantPad2d(pad, -math.inf), nn.MaxPool2d(size, stride))
    return AvgPoolValid(size, stride, pad)


def build_model(config_text):
    """The [net] of inna's config as an nn.Sequential mapping NCHW images to
    logits [N, classes].  The convolutions are named as model.h5's groups
    (layer01_conv, ...), so the file's tensors are its state_dict."""
    config = parse_config(config_text)
    channels = int(config["net.input"].split("x")[0])
    convs = sum(kind == "conv" for kind, _ in config["net.layers"])
    width = 4 if convs >= 1000 else 3 if convs >= 100 else 2   # h5util.c: h5u_conv_name
    layers, k = OrderedDict(), 0
    for i, (kind, a) in enumerate(config["net.layers"], 1):
        if kind == "conv":
            k += 1
            layers[f"layer{k:0{width}d}_conv"] = nn.Conv2d(
                channels, a["filters"], a["size"], a.get("stride", 1), a.get("pad", 0))
            channels = a["filters"]
        elif kind == "relu":
            layers[f"relu{i}"] = nn.ReLU()
        elif kind in ("maxpool", "avgpool"):
            layers[f"{kind}{i}"] = pool(kind, a["size"], a.get("stride", 1), a.get("pad", 0))
        elif kind == "gap":
            layers[f"gap{i}"] = nn.AdaptiveAvgPool2d(1)
        elif kind == "dropout":   # inverted dropout: the identity in eval()
            layers[f"dropout{i}"] = nn.Dropout(a.get("rate", float(config["net.dropout"])))
        else:
            raise ValueError(f"unknown layer type {kind!r}")
    layers["flatten"] = nn.Flatten()   # inna's nets end in 1x1: the logits
    return nn.Sequential(layers)


def load_model(path):
    """model.h5 -> (the network with its weights, in eval() mode; the config dict)."""
    with h5py.File(path, "r") as f:
        text = f.attrs["config"]
        text = text.decode() if isinstance(text, bytes) else text
        state = {f"{g}.{d}": torch.from_numpy(np.array(f[g][d]))
                 for g in f if g.startswith("layer") for d in ("weight", "bias")}
    model = build_model(text)
    model.load_state_dict(state)
    return model.eval(), parse_config(text)


# ---- data: the same bytes and the same float32 arithmetic as inna ----

def _open(path):   # gzip or raw, by content (inna reads through zlib's gzread)
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def read_idx(images, labels):
    """IDX images [n, 1, h, w] and labels [n], both uint8."""
    with _open(images) as f:
        magic, n, h, w = np.frombuffer(f.read(16), ">u4")
        assert magic == 0x803, f"{images}: bad magic {magic:#010x}"
        x = np.frombuffer(f.read(int(n) * h * w), np.uint8).reshape(n, 1, h, w)
    with _open(labels) as f:
        magic, m = np.frombuffer(f.read(8), ">u4")
        assert magic == 0x801 and m == n, f"{labels}: bad magic or count"
        y = np.frombuffer(f.read(int(m)), np.uint8)
    return x, y


def read_cifar(paths, cifar100=False, coarse=False):
    """CIFAR binary records: label byte(s), then 3072 pixels in CHW order."""
    lab = 2 if cifar100 else 1
    rec = np.concatenate([np.fromfile(p, np.uint8).reshape(-1, lab + 3072) for p in paths])
    return rec[:, lab:].reshape(-1, 3, 32, 32), rec[:, 0 if coarse or not cifar100 else 1]


def read_set(config, test):
    """The raw (pixels, labels) of the config's training or test set, cut to
    data.train_limit / data.test_limit."""
    fmt, which = config["data.format"], "test" if test else "train"
    if fmt == "idx":
        x, y = read_idx(config[f"data.{which}_images"], config[f"data.{which}_labels"])
    else:
        d = config["data.dir"]
        files = (["test.bin" if test else "train.bin"] if fmt == "cifar100" else
                 ["test_batch.bin"] if test else [f"data_batch_{i}.bin" for i in range(1, 6)])
        x, y = read_cifar([os.path.join(d, p) for p in files], fmt == "cifar100",
                          config["data.labels"] == "coarse")
    limit = int(config[f"data.{which}_limit"])
    return (x[:limit], y[:limit]) if limit > 0 else (x, y)


def channel_stats(pixels):
    """Mean and std of p/255 per channel, in double from a 256-bin histogram
    and in the same order as dataset_channel_stats(), then rounded to float32."""
    mean, std = [], []
    for ch in range(pixels.shape[1]):
        hist = np.bincount(pixels[:, ch].ravel(), minlength=256).tolist()
        count = float(sum(hist))
        m = sum(h * (b / 255.0) for b, h in enumerate(hist)) / count
        v = sum(h * (b / 255.0 - m) * (b / 255.0 - m) for b, h in enumerate(hist))
        mean.append(np.float32(m))
        std.append(np.float32(math.sqrt(v / count)))
    return mean, std


def load_data(config, test=True):
    """Network input [n, c, h, w] float32 and labels [n] int64, as inna feeds
    them: p/255, minus the training set's channel mean, over its std (a
    constant channel is left unscaled) when data.standardize."""
    x, y = read_set(config, test)
    lut = np.arange(256, dtype=np.float32) / np.float32(255)
    luts = [lut] * x.shape[1]
    if config["data.standardize"] == "true":
        mean, std = channel_stats(read_set(config, test=False)[0])
        luts = [(lut - m) / s if s > 0 else lut - m for m, s in zip(mean, std)]
    out = np.stack([luts[ch][x[:, ch]] for ch in range(x.shape[1])], axis=1)
    return out, y.astype(np.int64)


@torch.no_grad()
def evaluate(model, x, y, batch=500):
    """Mean softmax cross-entropy (in double, as inna) and accuracy (argmax:
    the first of equal maxima, as inna)."""
    loss, correct = 0.0, 0
    for i in range(0, len(y), batch):
        logits = model(torch.from_numpy(x[i:i + batch]))
        target = torch.from_numpy(y[i:i + batch])
        loss += F.cross_entropy(logits.double(), target, reduction="sum").item()
        correct += (logits.argmax(1) == target).sum().item()
    return loss / len(y), correct / len(y)


def main():
    p = argparse.ArgumentParser(description="Evaluate inna's model.h5 in PyTorch on the "
                                "test set of its stored config.")
    p.add_argument("model", help="model.h5 of a run (or a checkpoint)")
    p.add_argument("--batch", type=int, default=500, help="images per forward pass")
    args = p.parse_args()
    model, config = load_model(args.model)
    x, y = load_data(config, test=True)
    loss, acc = evaluate(model, x, y, args.batch)
    print(f"test loss {loss:.6f} acc {100 * acc:.2f}%")


if __name__ == "__main__":
    main()
