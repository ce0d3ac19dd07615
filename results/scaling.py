#!/usr/bin/env python3
"""Scaling study of inna's data-parallel step: measurements, a model, predictions.

Reads the inna-bench output that launch/scaling.sh leaves in <logs>:
strong-npN.log and weak-npN.log (BENCH records of the real step, one per
reduction), sweep-npN.log (ALLREDUCE and REDUCE_LOCAL records of
`inna-bench --allreduce-sweep`).  Writes <out>/scaling.h5 (every measurement,
the fitted constants, the predictions), <out>/strong.png and <out>/weak.png,
and prints a table.

The model, for p ranks ("nodes": each like one rank measured here, one BLAS
thread) and global batch B, per reduction (exact: chunks of C samples, 128-bit
fixed-point sums, 16-byte elements; fast: one chunk of ceil(B/p) samples per
rank, float sums, 4-byte elements):

  busiest rank:  k(p) chunks holding n(p) samples
                 exact: k = ceil(ceil(B/C) / p), n = min(k*C, B)
                 fast:  k = 1, n = ceil(B/p)
  compute(p)   = c_s * n(p) + c_k * k(p)
                 c_s = compute time per sample (layers, data, loss) and c_k = per
                 chunk (fixed-point conversion of the chunk's gradient, zeroing),
                 both from the np = 1 record: c_k = rest_s / chunks,
                 c_s = (compute_s - rest_s) / B
  allreduce of m bytes over p ranks, with latency alpha and time per byte beta
  on the wire and gamma for the reduction arithmetic (the sum itself):
     T_xfer(p, m)  = min( ring:                2(p-1) alpha + 2(p-1)/p m beta,
                          recursive doubling:  ceil(log2 p) (alpha + m beta),
                          Rabenseifner:        2 ceil(log2 p) alpha + 2(p-1)/p m beta )
                     (MPI libraries switch among these by message size; the
                     recursive-doubling term is the log2(p) alpha of small messages)
     T_arith(p, m) = (p-1)/p m gamma
     the step reduces one message per parametric layer (and 2 metric slots,
     and for exact 2 flag slots): T_xfer(p) and T_arith(p) are sums over them
  exposed(p)   = T_xfer(p) - min(h T_xfer(p), W(p))
                 h = the share of communication hidden, measured at np > 1
                 (1 - exposed / blocking allreduce of the same data), and at
                 most the window W(p) = backward time of one chunk (the
                 reductions start during the backward pass of the rank's last
                 chunk, so only that can hide them)
  step(p)      = compute(p) + T_arith(p) + exposed(p) + update
                 (the arithmetic is done on the CPU inside MPI progress calls
                 whether or not the transfer is hidden; update = fixed-point
                 to float + optimizer, the same on every rank, from np = 1)
  strong: speedup S(p) = step(1; B) / step(p; B), efficiency S/p
  weak:   efficiency E(p) = step(1; b) / step(p; p b), speedup p E

Constants: "local" = this machine, from the np = 2 sweep of the reduction's
type, Hockney-style: for p = 2 the ring gives T(m) = 2 alpha + m (beta +
gamma/2), so 2 alpha = the median time of the small messages (<= 1 KiB) and
beta + gamma/2 = the slope through the large ones (>= 256 KiB, least squares on
relative error, the line through 2 alpha); gamma = the slope of
MPI_Reduce_local (messages >= 64 KiB).  One line cannot follow both the eager
and the rendezvous protocol and the caches, so the script prints the line's
error on the sizes the step sends.  "network" = the
user's: alpha = --latency, beta = 1 / --bandwidth, gamma as measured here.
Oversubscribed measurements (more ranks than cores) are plotted hollow and
not used for fits.
"""
import argparse
import datetime
import glob
import math
import os
import re
import sys

import h5py
import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ELEM = {"exact": 16, "fast": 4}
SWEEP_TYPE = {"exact": "fixed128", "fast": "float"}
FIELDS = ["np", "batch", "step_s", "compute_s", "compute_max_s", "comm_exposed_s", "comm_wait_s",
          "comm_blocking_s", "img_s", "hidden", "update_s", "rest_s", "convert_s",
          "forward_s", "backward_s", "data_s", "msg_bytes", "oversubscribed", "chunk",
          "chunks", "chunks_per_rank", "gflops", "rss_mib", "floor_mib"]


def parse_record(line):
    rec = {}
    for tok in line.split()[1:]:
        if "=" not in tok:
            continue
        k, v = tok.split("=", 1)
        try:
            rec[k] = int(v)
        except ValueError:
            try:
                rec[k] = float(v)
            except ValueError:
                rec[k] = v
    return rec


def read_logs(logdir):
    bench = {"strong": [], "weak": []}
    sweep, local = {}, {}
    for path in sorted(glob.glob(os.path.join(logdir, "*.log"))):
        m = re.match(r"(strong|weak|sweep)-np(\d+)\.log$", os.path.basename(path))
        if not m:
            continue
        study = m.group(1)
        with open(path) as f:
            for line in f:
                if line.startswith("BENCH ") and study in bench:
                    bench[study].append(parse_record(line))
                elif line.startswith("ALLREDUCE "):
                    r = parse_record(line)
                    sweep.setdefault((r["type"], r["np"]), []).append((r["bytes"], r["s"]))
                elif line.startswith("REDUCE_LOCAL "):
                    r = parse_record(line)
                    d = local.setdefault(r["type"], {})
                    d[r["bytes"]] = min(d.get(r["bytes"], math.inf), r["s"])
    return bench, sweep, {t: sorted(d.items()) for t, d in local.items()}


def fit_line(x, y):
    """a + b x through (x, y), least squares on relative error, a, b >= 0."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    w = 1.0 / y
    A = np.vstack([np.ones_like(x), x]).T * w[:, None]
    (a, b), *_ = np.linalg.lstsq(A, y * w, rcond=None)
    if a < 0:
        a, b = 0.0, float(np.sum(w * w * x * y) / np.sum(w * w * x * x))
    if b < 0:
        a, b = float(np.sum(w * w * y) / np.sum(w * w)), 0.0
    return float(a), float(b)


def t_xfer(p, m, alpha, beta):
    if p <= 1:
        return 0.0
    lg = math.ceil(math.log2(p))
    ring = 2 * (p - 1) * alpha + 2 * (p - 1) / p * m * beta
    rd = lg * (alpha + m * beta)
    rab = 2 * lg * alpha + 2 * (p - 1) / p * m * beta
    return min(ring, rd, rab)


def t_arith(p, m, gamma):
    return 0.0 if p <= 1 else (p - 1) / p * m * gamma


class StepModel:
    """step(p; B) for one reduction, from the np = 1 record r1 of one study."""

    def __init__(self, r1, h, alpha, beta, gamma):
        self.red = r1["reduction"]
        self.C = r1["chunk"]
        B1 = r1["batch"]
        k1 = r1["chunks_per_rank"]
        self.c_k = r1["rest_s"] / k1
        self.c_s = (r1["compute_s"] - r1["rest_s"]) / B1
        self.b_s = r1["backward_s"] / B1
        self.update = r1["update_s"]
        e = ELEM[self.red]
        layers = [int(v) for v in str(r1["layer_params"]).split(",") if v]
        self.msgs = [e * n for n in layers] + [e * 2] + ([e * 2] if self.red == "exact" else [])
        self.h, self.alpha, self.beta, self.gamma = h, alpha, beta, gamma

    def shape(self, p, B):
        if self.red == "exact":
            k = math.ceil(math.ceil(B / self.C) / p)
            return k, min(k * self.C, B), min(self.C, B)
        n = math.ceil(B / p)
        return 1, n, n

    def parts(self, p, B):
        k, n, chunk_n = self.shape(p, B)
        compute = self.c_s * n + self.c_k * k
        tx = sum(t_xfer(p, m, self.alpha, self.beta) for m in self.msgs)
        ta = sum(t_arith(p, m, self.gamma) for m in self.msgs)
        window = self.b_s * chunk_n
        exposed = tx - min(self.h * tx, window)
        return dict(compute=compute, arith=ta, xfer=tx, exposed=exposed, update=self.update,
                    step=compute + ta + exposed + self.update)

    def step(self, p, B):
        return self.parts(p, B)["step"]


def usable(recs):
    return [r for r in recs if not r.get("oversubscribed", 0)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--logs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default="")
    ap.add_argument("--bandwidth", type=float, default=12.5, help="GB/s of the predicted network")
    ap.add_argument("--latency", type=float, default=1.5, help="microseconds")
    ap.add_argument("--max-nodes", type=int, default=4096)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    bench, sweep, local = read_logs(a.logs)
    if not bench["strong"] or not bench["weak"]:
        sys.exit("scaling.py: no BENCH records in %s/strong-np*.log and weak-np*.log" % a.logs)
    reductions = [r for r in ("exact", "fast")
                  if any(b["reduction"] == r and b["np"] == 1 for b in bench["strong"])]
    name = bench["strong"][0]["config"]
    B = bench["strong"][0]["batch"]
    b_rank = min(r["batch"] for r in bench["weak"] if r["np"] == 1)
    def say(s=""):
        print(s)

    # --- fits --------------------------------------------------------------------------
    models_msgs = {}   # the smallest and largest message of the step, per reduction
    for red in reductions:
        r1 = [r for r in bench["strong"] if r["reduction"] == red and r["np"] == 1][0]
        sizes = [ELEM[red] * int(v) for v in str(r1["layer_params"]).split(",") if v] + [ELEM[red] * 2]
        models_msgs[red] = (min(sizes), max(sizes))
    consts = {}
    for red in reductions:
        typ = SWEEP_TYPE[red]
        loc = [(b, s) for b, s in local.get(typ, []) if b >= 65536]
        gamma = fit_line(*zip(*loc))[1] if len(loc) >= 2 else 0.0
        sw_nps = sorted(n for (t, n) in sweep if t == typ)
        if 2 in sw_nps:
            pts = sweep[(typ, 2)]
            small = [y for x, y in pts if x <= 1024]
            a0 = float(np.median(small)) if small else 0.0
            big = [(x, y - a0) for x, y in pts if x >= 262144 and y > a0]
            if big:   # slope through the origin, relative weights 1/y
                w = np.array([1.0 / (y + a0) for _, y in big])
                xs, ys = np.array([x for x, _ in big], float), np.array([y for _, y in big])
                b0 = float(np.sum(w * w * xs * ys) / np.sum(w * w * xs * xs))
            else:
                b0 = fit_line([x for x, _ in pts], [y for _, y in pts])[1]
            alpha_l, beta_l = a0 / 2, max(b0 - gamma / 2, 0.0)
            m = models_msgs.get(red, (0, math.inf))
            near = [(x, y) for x, y in pts if m[0] / 2 <= x <= 2 * m[1]] or pts
            fit_err = float(np.median([abs(a0 + b0 * x - y) / y for x, y in near]))
        else:
            alpha_l, beta_l, fit_err = 0.0, 0.0, float("nan")
        hs = [r["hidden"] for st in ("strong", "weak") for r in usable(bench[st])
              if r["reduction"] == red and r["np"] > 1 and not math.isnan(r["hidden"])]
        if not hs:
            hs = [r["hidden"] for st in ("strong", "weak") for r in bench[st]
                  if r["reduction"] == red and r["np"] > 1 and not math.isnan(r["hidden"])]
        h = float(np.mean(hs)) if hs else 0.0
        consts[red] = dict(type=typ, gamma=gamma, alpha_local=alpha_l, beta_local=beta_l,
                           fit_median_rel_err=fit_err, h=h, h_samples=len(hs))

    models = {}
    for study in ("strong", "weak"):
        for red in reductions:
            r1 = [r for r in bench[study] if r["reduction"] == red and r["np"] == 1]
            if not r1:
                continue
            c = consts[red]
            models[(study, red, "local")] = StepModel(r1[0], c["h"], c["alpha_local"],
                                                      c["beta_local"], c["gamma"])
            models[(study, red, "network")] = StepModel(r1[0], c["h"], a.latency * 1e-6,
                                                        1.0 / (a.bandwidth * 1e9), c["gamma"])

    def batch_of(study, p):
        return B if study == "strong" else b_rank * p

    def predict(study, red, where, ps):
        m = models[(study, red, where)]
        s1 = m.step(1, batch_of(study, 1))
        steps = np.array([m.step(p, batch_of(study, p)) for p in ps])
        if study == "strong":
            speed = s1 / steps
        else:
            speed = ps * s1 / steps
        return steps, speed, speed / ps

    ps = np.unique(np.concatenate([np.round(np.logspace(0, math.log10(a.max_nodes), 300)),
                                   2.0 ** np.arange(0, int(math.log2(a.max_nodes)) + 1)])).astype(int)
    ps = ps[(ps >= 1) & (ps <= a.max_nodes)]

    # --- report ----------------------------------------------------------------------
    say("Scaling study: %s (%s), strong batch %d, weak %d per rank; prediction for a network "
        "of %.3g GB/s and %.3g us" % (name, a.config, B, b_rank, a.bandwidth, a.latency))
    for red in reductions:
        c = consts[red]
        m = models.get(("strong", red, "local"))
        say("\n[%s] allreduce fit on the np=2 sweep of %s: alpha = %.2f us, beta = %.3f ns/B "
            "(%.2f GB/s on the wire), gamma (reduction arithmetic, MPI_Reduce_local) = %.3f ns/B "
            "(%.2f GB/s); median relative error of the line on the step's message sizes %.0f%%"
            % (red, c["type"], 1e6 * c["alpha_local"], 1e9 * c["beta_local"],
               1e-9 / c["beta_local"] if c["beta_local"] > 0 else float("inf"),
               1e9 * c["gamma"], 1e-9 / c["gamma"] if c["gamma"] > 0 else float("inf"),
               100 * c["fit_median_rel_err"]))
        if m:
            k, n, cn = m.shape(1, B)
            say("[%s] compute per sample %.2f ms, per chunk %.2f ms (%s), update %.2f ms, window (backward of one chunk of %d) %.2f ms; "
                "hidden share h = %.3f (mean of %d measurement(s) at np > 1); %d message(s), "
                "%.2f MB per step"
                % (red, 1e3 * m.c_s, 1e3 * m.c_k,
                   "fixed-point conversion, zeroing" if red == "exact" else "zeroing, MPI calls",
                   1e3 * m.update, cn, 1e3 * m.b_s * cn, c["h"],
                   c["h_samples"], len(m.msgs), sum(m.msgs) / 1e6))

    say("\nMeasured (this machine, 1 BLAS thread per rank; * = oversubscribed: more ranks than "
        "cores) against the local model:")
    say("  %-6s %-5s %3s %5s %9s %9s %9s %9s %7s %9s %9s" % (
        "study", "red", "np", "batch", "step ms", "model ms", "compute", "exposed", "hidden",
        "blocking", "img/s"))
    for study in ("strong", "weak"):
        for r in sorted(bench[study], key=lambda r: (r["reduction"], r["np"])):
            m = models.get((study, r["reduction"], "local"))
            mod = 1e3 * m.step(r["np"], r["batch"]) if m else float("nan")
            say("  %-6s %-5s %2d%s %5d %9.1f %9.1f %9.1f %9.2f %7.3f %9.2f %9.1f" % (
                study, r["reduction"], r["np"], "*" if r.get("oversubscribed") else " ",
                r["batch"], 1e3 * r["step_s"], mod, 1e3 * r["compute_s"],
                1e3 * r["comm_exposed_s"], r["hidden"], 1e3 * r["comm_blocking_s"], r["img_s"]))

    table_ps = [p for p in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
                if p <= a.max_nodes]
    for red in reductions:
        if ("strong", red, "network") not in models or ("weak", red, "network") not in models:
            continue
        say("\nPredicted, reduction %s (S = speedup, E = efficiency; local = this machine's "
            "allreduce fit, network = %.3g GB/s, %.3g us):" % (red, a.bandwidth, a.latency))
        say("  %5s | %-34s | %-34s" % ("nodes", "strong, batch %d" % B, "weak, %d per node" % b_rank))
        say("  %5s | %8s %6s %6s %6s %6s | %8s %7s %6s %6s" % (
            "", "step ms", "S loc", "E loc", "S net", "E net", "step ms", "S net", "E loc", "E net"))
        P = np.array(table_ps)
        s_st_l, S_st_l, E_st_l = predict("strong", red, "local", P)
        s_st_n, S_st_n, E_st_n = predict("strong", red, "network", P)
        s_wk_l, S_wk_l, E_wk_l = predict("weak", red, "local", P)
        s_wk_n, S_wk_n, E_wk_n = predict("weak", red, "network", P)
        for i, p in enumerate(P):
            say("  %5d | %8.1f %6.2f %6.3f %6.2f %6.3f | %8.1f %7.1f %6.3f %6.3f" % (
                p, 1e3 * s_st_n[i], S_st_l[i], E_st_l[i], S_st_n[i], E_st_n[i],
                1e3 * s_wk_n[i], S_wk_n[i], E_wk_l[i], E_wk_n[i]))
        m = models[("strong", red, "network")]
        nch = math.ceil(B / m.C) if red == "exact" else B
        say("  (strong: %s; step ms columns are the network's)" % (
            "B = %d is %d chunks of %d, so at most %d ranks have work; beyond that only "
            "communication grows" % (B, nch, m.C, nch) if red == "exact"
            else "B = %d samples: at most %d ranks have work" % (B, B)))
        for p in (64, 4096):
            if p <= a.max_nodes:
                d = models[("weak", red, "network")].parts(p, b_rank * p)
                say("  weak at %d nodes, network: compute %.1f + arithmetic %.1f + exposed %.1f "
                    "(of %.1f transfer) + update %.1f ms" % (
                        p, 1e3 * d["compute"], 1e3 * d["arith"], 1e3 * d["exposed"],
                        1e3 * d["xfer"], 1e3 * d["update"]))

    # --- HDF5 ------------------------------------------------------------------------
    h5path = os.path.join(a.out, "scaling.h5")
    with h5py.File(h5path, "w") as f:
        f.attrs["config"] = a.config
        f.attrs["network"] = name
        f.attrs["strong_batch"] = B
        f.attrs["weak_per_rank"] = b_rank
        f.attrs["bandwidth_GBps"] = a.bandwidth
        f.attrs["latency_us"] = a.latency
        f.attrs["created"] = datetime.datetime.now().isoformat(timespec="seconds")
        f.attrs["model"] = __doc__
        for study in ("strong", "weak"):
            for red in reductions:
                recs = sorted((r for r in bench[study] if r["reduction"] == red),
                              key=lambda r: r["np"])
                g = f.create_group("%s/%s" % (study, red))
                for k in FIELDS:
                    g.create_dataset(k, data=np.array([float(r.get(k, np.nan)) for r in recs]))
        for (typ, n), pts in sorted(sweep.items()):
            g = f.create_group("allreduce/%s/np%d" % (typ, n))
            g.create_dataset("bytes", data=np.array([x for x, _ in pts], dtype=np.int64))
            g.create_dataset("s", data=np.array([y for _, y in pts]))
        for typ, pts in sorted(local.items()):
            g = f.create_group("reduce_local/%s" % typ)
            g.create_dataset("bytes", data=np.array([x for x, _ in pts], dtype=np.int64))
            g.create_dataset("s", data=np.array([y for _, y in pts]))
        for red, c in consts.items():
            g = f.create_group("model/%s" % red)
            for k, v in c.items():
                g.attrs[k] = v
            m = models.get(("strong", red, "local"))
            if m:
                g.attrs["compute_per_sample_s"] = m.c_s
                g.attrs["compute_per_chunk_s"] = m.c_k
                g.attrs["update_s"] = m.update
                g.attrs["backward_per_sample_s"] = m.b_s
                g.attrs["chunk"] = m.C
                g.attrs["message_bytes"] = np.array(m.msgs, dtype=np.int64)
        for (study, red, where) in models:
            steps, speed, eff = predict(study, red, where, ps)
            g = f.create_group("predicted/%s/%s/%s" % (study, red, where))
            g.create_dataset("p", data=ps)
            g.create_dataset("step_s", data=steps)
            g.create_dataset("speedup", data=speed)
            g.create_dataset("efficiency", data=eff)

    # --- plots -----------------------------------------------------------------------
    for study in ("strong", "weak"):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
        ax1.plot(ps, ps, color="0.6", ls="--", lw=1, label="ideal")
        ax2.axhline(1.0, color="0.6", ls="--", lw=1)
        styles = {"exact": "-", "fast": ":"}
        colors = {"local": "tab:blue", "network": "tab:orange"}
        for red in reductions:
            for where in ("local", "network"):
                if (study, red, where) not in models:
                    continue
                _, speed, eff = predict(study, red, where, ps)
                lab = "%s, %s" % (red, "this machine's allreduce fit" if where == "local"
                                  else "network %.3g GB/s, %.3g us" % (a.bandwidth, a.latency))
                ax1.plot(ps, speed, color=colors[where], ls=styles[red], lw=1.6, label=lab)
                ax2.plot(ps, eff, color=colors[where], ls=styles[red], lw=1.6)
            recs = sorted((r for r in bench[study] if r["reduction"] == red), key=lambda r: r["np"])
            base = [r for r in recs if r["np"] == 1]
            if not base:
                continue
            s1 = base[0]["step_s"]
            for r in recs:
                n = r["np"]
                sp = s1 / r["step_s"] if study == "strong" else n * s1 / r["step_s"]
                over = r.get("oversubscribed", 0)
                mk = "o" if red == "exact" else "s"
                kw = dict(marker=mk, ms=8, ls="none", color="k",
                          mfc="none" if over else ("k" if red == "exact" else "0.7"))
                ax1.plot([n], [sp], **kw)
                ax2.plot([n], [sp / n], **kw)
        # legend entries for the measured points
        ax1.plot([], [], marker="o", ls="none", color="k", label="measured, exact")
        if "fast" in reductions:
            ax1.plot([], [], marker="s", ls="none", color="k", mfc="0.7", label="measured, fast")
        ax1.plot([], [], marker="o", ls="none", color="k", mfc="none",
                 label="measured, oversubscribed (ranks > cores)")
        ticks = [t for t in (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536) if t <= a.max_nodes]
        for ax in (ax1, ax2):
            ax.set_xscale("log", base=2)
            ax.set_xticks(ticks)
            ax.set_xticklabels([str(t) for t in ticks])
            ax.set_xlabel("nodes (ranks)")
            ax.grid(True, which="both", alpha=0.3)
            ax.set_xlim(1, a.max_nodes)
        ax1.set_yscale("log", base=2)
        yt = [t for t in (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536) if t <= 2 * a.max_nodes]
        ax1.set_yticks(yt)
        ax1.set_yticklabels([str(t) for t in yt])
        ax1.set_ylabel("speedup")
        ax2.set_ylabel("efficiency")
        ax2.set_ylim(0, 1.1)
        ax1.legend(fontsize=7, loc="upper left")
        what = ("strong scaling, global batch %d" % B if study == "strong"
                else "weak scaling, %d samples per node" % b_rank)
        if any((study, r, "network") in models for r in reductions):
            red0 = "exact" if (study, "exact", "network") in models else reductions[0]
            d = models[(study, red0, "network")].parts(a.max_nodes, batch_of(study, a.max_nodes))
            ax2.text(0.98, 0.96 if study == "strong" else 0.04,
                     "%s, %d nodes on the network, per step:\ncompute %.1f + reduction "
                     "arithmetic %.1f\n+ exposed communication %.1f (of %.1f) + update %.1f ms"
                     % (red0, a.max_nodes, 1e3 * d["compute"], 1e3 * d["arith"],
                        1e3 * d["exposed"], 1e3 * d["xfer"], 1e3 * d["update"]),
                     transform=ax2.transAxes, ha="right",
                     va="top" if study == "strong" else "bottom", fontsize=7,
                     bbox=dict(boxstyle="round", fc="white", ec="0.7"))
        fig.suptitle("%s: %s (model: compute from np=1, allreduce alpha-beta fit, measured overlap)"
                     % (name, what), fontsize=10)
        fig.tight_layout()
        png = os.path.join(a.out, "%s.png" % study)
        fig.savefig(png, dpi=110)
        plt.close(fig)
    say("\nwritten: %s, %s/strong.png, %s/weak.png" % (h5path, a.out, a.out))


if __name__ == "__main__":
    main()
