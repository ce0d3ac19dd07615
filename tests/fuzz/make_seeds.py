#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses: small valid inputs in each
harness's input format (see the comment at the top of each fuzz_*.c), so that
no binary file has to live in the repository.

    make_seeds.py OUT_DIR REPO_ROOT   ->  OUT_DIR/{idx,cifar,config,checkpoint}/
"""
import gzip
import os
import struct
import sys

out, root = sys.argv[1], sys.argv[2]


def put(corpus, name, data):
    os.makedirs(os.path.join(out, corpus), exist_ok=True)
    with open(os.path.join(out, corpus, name), "wb") as f:
        f.write(data)


def idx_images(n, rows, cols):
    return struct.pack(">IIII", 0x803, n, rows, cols) + bytes((i * 37) % 256 for i in range(n * rows * cols))


def idx_labels(labels):
    return struct.pack(">II", 0x801, len(labels)) + bytes(labels)


# IDX: byte 0 = flags (mode | gzip images 4 | gzip labels 8 | cut << 4 | classes << 6),
# bytes 1-2 = split offset (modes 2, 3), then the payload.
im, lb = idx_images(3, 2, 2), idx_labels([0, 1, 9])
put("idx", "images_raw", b"\x00\x00\x00" + im)
put("idx", "images_gz", b"\x04\x00\x00" + im)
put("idx", "images_gz_cut1", b"\x14\x00\x00" + im)
put("idx", "images_gz_cut8", b"\x34\x00\x00" + im)
put("idx", "images_28x28", b"\x00\x00\x00" + idx_images(1, 28, 28))
put("idx", "images_prezipped", b"\x00\x00\x00" + gzip.compress(im))
put("idx", "labels_raw", b"\x01\x00\x00" + lb)
put("idx", "labels_gz", b"\x09\x00\x00" + lb)
put("idx", "labels_256_classes", b"\x41\x00\x00" + idx_labels([255, 0, 128]))
put("idx", "labels_1_class", b"\x81\x00\x00" + idx_labels([0, 0]))
put("idx", "split_raw", b"\x02" + struct.pack(">H", len(im)) + im + lb)
put("idx", "split_gz_both", b"\x0e" + struct.pack(">H", len(im)) + im + lb)
put("idx", "split_prezipped", b"\x02" + struct.pack(">H", len(gzip.compress(im))) + gzip.compress(im) + gzip.compress(lb))

# CIFAR: byte 0 = flags (cifar100 1 | coarse 2 | (files-1) << 2 | compact 16 |
# bad last path 32 | kind << 6), bytes 1-3 = raw cut points, then the payload.
def record(labels):
    return bytes(labels) + bytes((i * 131 >> 3) % 256 for i in range(3072))

put("cifar", "c10_raw_1", b"\x00\x00\x00\x00" + record([3]))
put("cifar", "c100_raw_1", b"\x01\x00\x00\x00" + record([19, 99]))
put("cifar", "c10_raw_2files", b"\x04\x80\x00\x00" + record([1]) + record([9]))
put("cifar", "c10_compact", b"\x10\x00\x00\x00" + bytes([3, 0, 1, 9, 0]))
put("cifar", "c10_compact_4files", b"\x1c\x00\x00\x00" + bytes([1, 5, 0, 2, 7, 8, 0, 1, 2, 0, 1, 3, 0]))
put("cifar", "c100_coarse_compact", b"\x13\x00\x00\x00" + bytes([2, 19, 99, 0, 0, 0]))
put("cifar", "c10_compact_badsize", b"\x10\x00\x00\x00" + bytes([1, 4, 1]))
for kind in range(4):
    put("cifar", f"c10_badpath{kind}", bytes([0x34 | kind << 6, 0, 0, 0]) + bytes([1, 2, 0, 1, 3, 0]))

# Config: the shipped configs, and one with --set lines after a NUL.
cfgdir = os.path.join(root, "configs")
for name in sorted(os.listdir(cfgdir)):
    if name.endswith(".ini"):
        with open(os.path.join(cfgdir, name), "rb") as f:
            text = f.read()
        put("config", name, text)
        if name == "tiny.ini":
            put("config", "tiny_sets", text + b"\0optim.lr=0.1\ndata.dir=cifar\nrun.out=x\n"
                b"data.format=cifar100\ndata.labels=coarse\nrun.seed=18446744073709551615")
put("config", "empty_sets", b"\0train.batch=7\noptim.name=adam\nnet.input=3x32x32")

# Checkpoint: byte 0 = optimizer; without a writer here, start from the
# HDF5 signature only (fuzz.sh adds a real image when it can make one).
for k in range(4):
    put("checkpoint", f"hdf5_signature_{k}", bytes([k]) + b"\x89HDF\r\n\x1a\n" + bytes(8))
