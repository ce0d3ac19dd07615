"""The peer: PyTorch's training step on the network of an inna config, timed
the way inna-bench times inna's (launch/peer.sh runs both, alternating).

The network is inna_torch.build_model of the config's [net] (same layers,
same input shape, dropout on in train mode); the step is forward, softmax
cross-entropy (mean over the batch), backward and a plain SGD update, on
synthetic data of the config's input shape (a few batches drawn once, before
the clock starts, then cycled).  After --warmup untimed steps, --steps timed
steps; the figure is batch / (mean step time), as inna-bench's img_s.

    GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736:glibc.malloc.top_pad=268435456 \
        /usr/bin/python3 launch/peer_torch.py configs/nin-cifar10.ini --batch 32 --threads 2

(launch/peer.sh sets that variable: without it glibc returns PyTorch's large
freed buffers to the kernel at every step, and page faults dominate the step.)
Prints a few readable lines and one 'PEER key=value ...' record.  Needs
numpy, h5py and torch (Debian: python3-torch python3-h5py).
Exit status: 0 done, 2 bad input (usage, config file), 1 anything else.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src", "python"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from inna_torch import build_model, parse_config  # noqa: E402


def positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"wants an integer >= 1, not {text!r}")
    return value


def natural(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"wants an integer >= 0, not {text!r}")
    return value


class Parser(argparse.ArgumentParser):
    def error(self, message):   # one line, exit 2
        self.exit(2, f"peer_torch.py: {message} (peer_torch.py --help)\n")


def read_config(path):
    """The config file's text, with net.dropout's default (0.5, as inna's key
    table) when the file leaves it out and a bare dropout layer needs it."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    config = parse_config(text)
    if "net.input" not in config:
        raise ValueError(f"{path}: no [net] input = CxHxW")
    if not config["net.layers"]:
        raise ValueError(f"{path}: no [net] layer lines")
    if "net.dropout" not in config:
        text += "\n[net]\ndropout = 0.5\n"
    return text, config


def main():
    p = Parser(description="PyTorch's training step (forward, cross-entropy, backward, "
               "SGD update) on the network of an inna config, on synthetic data: images/s.")
    p.add_argument("config", help="inna config file (its [net] section is used)")
    p.add_argument("--batch", type=positive, default=32, help="images per step (default 32)")
    p.add_argument("--threads", type=positive, default=None,
                   help="torch.set_num_threads (default: the CPUs of the affinity mask)")
    p.add_argument("--steps", type=positive, default=10, help="timed steps (default 10)")
    p.add_argument("--warmup", type=natural, default=3, help="untimed steps first (default 3)")
    p.add_argument("--lr", type=float, default=0.01, help="SGD step size (default 0.01)")
    p.add_argument("--seed", type=int, default=1, help="seed of weights and data (default 1)")
    args = p.parse_args()

    torch.manual_seed(args.seed)   # the same weights and data every run
    try:
        text, config = read_config(args.config)
        model = build_model(text)
    except (OSError, ValueError, KeyError) as e:
        print(f"peer_torch.py: {args.config}: {e}", file=sys.stderr)
        return 2
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    model.train()   # dropout on, as in inna's step
    c, h, w = (int(v) for v in config["net.input"].split("x"))
    classes = [a for kind, a in config["net.layers"] if kind == "conv"][-1]["filters"]
    pool = 4
    xs = torch.randn(pool, args.batch, c, h, w)
    ys = torch.randint(0, classes, (pool, args.batch))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)

    def step(i):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xs[i % pool]), ys[i % pool])
        loss.backward()
        opt.step()
        return loss

    for i in range(args.warmup):
        step(i)
    times = []
    for i in range(args.steps):
        t0 = time.perf_counter()
        loss = step(args.warmup + i)
        times.append(time.perf_counter() - t0)
    loss = loss.item()
    mean = sum(times) / len(times)
    nparams = sum(t.numel() for t in model.parameters())
    name = os.path.splitext(os.path.basename(args.config))[0]
    mkldnn = torch.backends.mkldnn.is_available()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"mkldnn available {mkldnn}, enabled {torch.backends.mkldnn.enabled}")
    print(f"{name}: input {c}x{h}x{w}, {nparams} parameters, batch {args.batch}: step "
          f"{1e3 * mean:.2f} ms (mean of {args.steps}, fastest {1e3 * min(times):.2f}), "
          f"{args.batch / mean:.1f} images/s, loss {loss:.4f}")
    print(f"PEER config={name} input={c}x{h}x{w} batch={args.batch} "
          f"threads={torch.get_num_threads()} steps={args.steps} warmup={args.warmup} "
          f"nparams={nparams} img_s={args.batch / mean:.3f} step_s={mean:.6f} "
          f"step_min_s={min(times):.6f} loss={loss:.4f} torch={torch.__version__} "
          f"mkldnn={int(mkldnn)} mkldnn_enabled={int(torch.backends.mkldnn.enabled)} "
          f"tunables={os.environ.get('GLIBC_TUNABLES', '') or 'unset'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
