"""Genome-scale training: ``hp.tl.train`` on 8,000 genes × 10,000 perturbations in bounded memory.

A synthetic screen shaped like a genome-wide Perturb-seq experiment (Replogle et al. 2022: ~8,000 expressed
genes, ~10,000 perturbations, a quarter of whose targets are not expressed) is built at the cell level with few
cells per perturbation (the cell-level pass is benchmarked elsewhere), run through ``hp.pp.perturbations``,
``hp.pp.gene_network`` (a random sparse network over genes and unmeasured targets) and ``hp.tl.rewards``; then
``hp.tl.train`` runs in a fresh process per point. Reported: seconds per epoch (median over the epochs after the
first, which includes tracing), the whole training call, peak RSS of the process (everything: cells, rewards,
training, readout), the number of steps per epoch, and the quality of the heads against the observed excess
(per-gene Spearman of ``hp_policy`` over the 50 most responsive genes; Spearman of ``hp_value`` with the mean
excess) — with full-batch training measured in the same run as the baseline.

Usage::

    python benchmarks/bench_genome_scale.py                  # 2,000 x 1,000 (mini vs full) and 8,000 x 10,000
    python benchmarks/bench_genome_scale.py --quick          # 1,000 x 500 and 2,000 x 2,000
    python benchmarks/bench_genome_scale.py --repeats 3 --markdown table.md
    python benchmarks/bench_genome_scale.py --memory --repeats 3 --baseline-src /path/to/old/src

``--memory`` measures the whole path a user takes at 8,000 x 10,000, from the cell-level AnnData: build the
screen, ``hp.tl.rewards``, ``hp.tl.train`` (``--epochs``), each run in a fresh process; the peak RSS is the child's
``ru_maxrss`` read by the parent (``os.wait4``: the whole process, start to exit), with the peak of each stage
(sampled every 20 ms) to show what is held at once. ``--baseline-src`` runs the same child on another source tree
(e.g. ``git archive <commit> src | tar -x -C /tmp/old``) in the same run, interleaved, as the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import cpu_name, load_average


def genome_screen(n_genes: int, n_perts: int, *, seed: int = 0, cells_per: int = 2, n_ctrl: int = 300):
    """A cell-level screen ready for ``hp.tl.train``; 3/4 of the targets are measured genes, 1/4 unmeasured."""
    import anndata as ad
    import pandas as pd
    from scipy import sparse

    import hyperperturb as hp

    rng = np.random.default_rng(seed)
    genes = np.array([f"G{i:05d}" for i in range(n_genes)])
    n_meas = min(int(round(0.75 * n_perts)), n_genes)
    n_unmeas = n_perts - n_meas
    targets = list(genes[rng.choice(n_genes, size=n_meas, replace=False)]) + [f"U{i:05d}" for i in range(n_unmeas)]
    labels = np.array(["non-targeting"] * n_ctrl + [t for t in targets for _ in range(cells_per)])
    n_cells = len(labels)
    X = sparse.random(n_cells, n_genes, density=0.03, format="coo", random_state=seed, dtype=np.float32)
    # each perturbation moves 10 random genes up in its cells and knocks down its own target when measured
    col = {g: i for i, g in enumerate(genes)}
    pert_of_cell = np.repeat(np.arange(n_perts), cells_per)
    hits = np.stack([rng.choice(n_genes, size=10, replace=False) for _ in range(n_perts)])
    eff_rows = np.repeat(n_ctrl + np.arange(n_perts * cells_per), 10)
    eff_cols = hits[pert_of_cell].ravel()
    target_col = np.full(n_cells, -1)
    target_col[n_ctrl:] = np.array([col.get(t, -1) for t in targets])[pert_of_cell]
    keep = X.col != target_col[X.row]
    rows = np.concatenate([X.row[keep], eff_rows])
    cols = np.concatenate([X.col[keep], eff_cols])
    vals = np.concatenate([np.log1p(X.data[keep] * 10), rng.uniform(1.0, 2.5, size=len(eff_rows))]).astype(np.float32)
    X = sparse.csr_matrix((vals, (rows, cols)), shape=(n_cells, n_genes), dtype=np.float32)
    obs = pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(n_cells)])
    a = ad.AnnData(X, obs=obs, var=pd.DataFrame(index=genes))
    hp.pp.perturbations(a, control="non-targeting")
    hp.tl.rewards(a, verbose=False)
    # a random sparse network: ~8 edges per gene, each unmeasured target linked to 5 genes
    k = 8
    src = np.repeat(genes, k)
    dst = genes[rng.integers(0, n_genes, n_genes * k)]
    um = np.array([t for t in targets if t not in col])
    src = np.concatenate([src, np.repeat(um, 5)])
    dst = np.concatenate([dst, genes[rng.integers(0, n_genes, len(um) * 5)]])
    keep = src != dst
    edges = pd.DataFrame({"a": src[keep], "b": dst[keep], "weight": rng.uniform(0.5, 1.0, keep.sum())})
    hp.pp.gene_network(a, edges)
    return a


def quality(a) -> dict[str, float]:
    """Per-gene Spearman(hp_policy, observed excess) over the 50 most responsive genes; Spearman of hp_value."""
    from scipy import stats

    R = np.asarray(a.varm["hp_reward"], dtype=np.float64)
    E = np.clip(R - a.var["hp_reward_baseline"].to_numpy()[:, None], 0.0, None)
    P = np.asarray(a.varm["hp_policy"], dtype=np.float64)
    resp = np.argsort(-E.mean(1))[:50]
    rho = [stats.spearmanr(P[g], E[g])[0] for g in resp if E[g].std() > 0]
    return {
        "policy_spearman": float(np.nanmean(rho)),
        "value_spearman": float(stats.spearmanr(a.var["hp_value"].to_numpy(), E.mean(1))[0]),
    }


def child(n_genes: int, n_perts: int, epochs: int, batch: str) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    import keras

    import hyperperturb as hp

    t_build = time.perf_counter()
    a = genome_screen(n_genes, n_perts)
    build_s = time.perf_counter() - t_build
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stamps: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            stamps.append(time.perf_counter())

    bs = None if batch == "auto" else (10**9 if batch == "full" else int(batch))
    t0 = time.perf_counter()
    hp.tl.train(a, epochs=epochs, seed=0, verbose=False, batch_size=bs, callbacks=[Clock()])
    total = time.perf_counter() - t0
    entry = a.uns["hyperperturb"]["train"]
    used = entry["params"]["batch_size"]
    q = quality(a)
    return {
        "n_genes": n_genes,
        "n_perts": n_perts,
        "n_nodes": int(entry["graph"]["n_genes"]) + int(entry["graph"]["n_extra"]),
        "batch": batch,
        "batch_size": str(used),
        "epochs": epochs,
        "build_s": build_s,
        "train_s": total,
        "epoch_s": float(np.median(np.diff(stamps))) if len(stamps) >= 2 else float("nan"),
        "first_epoch_s": stamps[0] - t0 if stamps else float("nan"),
        "rss_before_train_mb": rss_before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **q,
    }


def measure(n_genes: int, n_perts: int, epochs: int, batch: str) -> dict:
    cmd = [sys.executable, __file__, "--child", str(n_genes), str(n_perts), str(epochs), batch]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return {"n_genes": n_genes, "n_perts": n_perts, "batch": batch, "error": res.stderr[-1500:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


#: Stages of the user path whose peak RSS is reported (module, function): the innermost running one is the stage.
_STAGES = (
    ("hyperperturb.tl", "rewards"),
    ("hyperperturb.tl._graph._inputs", "build_graph_inputs"),
    ("hyperperturb.tl._model._targets", "excess_targets"),
    ("hyperperturb.tl._model._fit", "fit_model"),
    ("hyperperturb.tl._transfer._reliability", "perturbation_reliability"),
    ("hyperperturb.tl._model._readout", "fit_kernel_readout"),
    ("hyperperturb.tl._model._train", "_in_sample_policy"),
    ("hyperperturb.tl._model._train", "_write"),
)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _stage_sampler() -> tuple[list[str], dict[str, float]]:
    """Wrap the stages (by module attribute, looked up when called) and sample RSS every 20 ms in a thread."""
    import importlib
    import threading

    stage, peak = ["build"], {}

    def wrap(mod_name: str, name: str) -> None:
        try:
            mod = importlib.import_module(mod_name)
            fn = getattr(mod, name)
        except (ImportError, AttributeError):  # an older tree without this stage
            return

        def run(*a, **k):
            prev = stage[0]
            stage[0] = name
            try:
                return fn(*a, **k)
            finally:
                stage[0] = prev

        setattr(mod, name, run)

    for mod_name, name in _STAGES:
        wrap(mod_name, name)

    def sample() -> None:
        while True:
            s, r = stage[0], _rss_mb()
            peak[s] = max(peak.get(s, 0.0), r)
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    return stage, peak


def memory_child(n_genes: int, n_perts: int, epochs: int, map_epochs: int = 0) -> dict:
    """The user path in this process: cell-level screen, rewards, train; RSS peaks per stage."""
    import warnings

    warnings.simplefilter("ignore")
    import keras

    import hyperperturb as hp

    stage, peak = _stage_sampler()
    t0 = time.perf_counter()
    a = genome_screen(n_genes, n_perts)
    build_s = time.perf_counter() - t0
    stage[0] = "train (other)"
    stamps: list[float] = []
    cpu: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            stamps.append(time.perf_counter())
            cpu.append(time.process_time())

    t1 = time.perf_counter()
    kw = {"map_kwargs": {"epochs": map_epochs, "burn_in": 1}} if map_epochs else {}
    hp.tl.train(a, epochs=epochs, seed=0, verbose=False, callbacks=[Clock()], **kw)
    train_s = time.perf_counter() - t1
    stage[0] = "end"
    time.sleep(0.05)
    return {
        "n_cells": int(a.n_obs),
        "n_genes": n_genes,
        "n_perts": n_perts,
        "epochs": epochs,
        "build_s": build_s,
        "train_s": train_s,
        "epoch_s": float(np.median(np.diff(stamps))) if len(stamps) >= 2 else float("nan"),
        # CPU seconds of the whole process per epoch (all threads): less sensitive to other jobs than wall time
        "epoch_cpu_s": float(np.median(np.diff(cpu))) if len(cpu) > 2 else float("nan"),
        "stage_peak_mb": {k: round(v) for k, v in peak.items()},
    }


def _start_memory(n_genes: int, n_perts: int, epochs: int, src: Path | None, map_epochs: int = 0) -> tuple:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, __file__, "--memory-child", str(n_genes), str(n_perts), str(epochs), str(map_epochs)]
    fo, fe = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    return subprocess.Popen(cmd, stdout=fo, stderr=fe, text=True, env=env), fo, fe, load_average()


def _finish_memory(started: tuple) -> dict:
    """Reap the child with ``os.wait4``: its whole-process peak RSS (``ru_maxrss``), start to exit."""
    proc, fo, fe, load0 = started
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    fo.seek(0)
    fe.seek(0)
    out, err = fo.read(), fe.read()
    fo.close()
    fe.close()
    if proc.returncode != 0:
        return {"error": err[-1500:], "load_before": load0}
    res = json.loads(out.strip().splitlines()[-1])
    res["peak_rss_mb"] = usage.ru_maxrss / 1024
    res["load_before"], res["load_after"] = load0, load_average()
    return res


def measure_memory(n_genes: int, n_perts: int, epochs: int, src: Path | None, map_epochs: int = 0) -> dict:
    """One fresh process; its whole-process peak RSS from ``os.wait4`` (``ru_maxrss``), load average around it."""
    return _finish_memory(_start_memory(n_genes, n_perts, epochs, src, map_epochs))


def memory_main(args) -> None:
    """Peak RSS and epoch time of the whole user path at 8,000 x 10,000, against a baseline tree in the same run."""
    trees: list[tuple[str, Path | None]] = [("this version", None)]
    if args.baseline_src is not None:
        trees.append((f"baseline ({args.baseline_label})", args.baseline_src))
    g, p = (2000, 2000) if args.quick else (8000, 10000)
    runs: dict[str, list[dict]] = {name: [] for name, _ in trees}
    for _ in range(args.repeats):
        if args.parallel:  # both versions at once: the same machine load (each slows the other's epochs)
            started = [(name, _start_memory(g, p, args.epochs, src, args.map_epochs)) for name, src in trees]
            done = [(name, _finish_memory(st)) for name, st in started]
        else:  # interleaved
            done = [(name, measure_memory(g, p, args.epochs, src, args.map_epochs)) for name, src in trees]
        for name, r in done:
            print(json.dumps({"tree": name, **r}), flush=True)
            runs[name].append(r)
    cpu = cpu_name()
    lines = [
        f"Machine: {os.cpu_count()} cores ({cpu}), TensorFlow on CPU. {g:,} genes x {p:,} perturbations, "
        f"{args.epochs} epochs; each run a fresh process, {args.repeats} run(s) per version, "
        + ("both versions at the same time." if args.parallel else "interleaved."),
        "",
        "| version | peak RSS, whole process (GiB) | runs (GiB) | epoch (s) | runs (s) | epoch CPU (s) | runs (CPU s) "
        "| load average during the runs |",
        "|---|---:|---|---:|---|---:|---|---|",
    ]
    med: dict[str, tuple[float, float]] = {}
    for name, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            lines.append(f"| {name} | failed | | | | |")
            continue
        pk = [r["peak_rss_mb"] / 1024 for r in ok]
        ep = [r["epoch_s"] for r in ok]
        ec = [r.get("epoch_cpu_s", float("nan")) for r in ok]
        loads = [x for r in ok for x in (r["load_before"], r["load_after"])]
        med[name] = (float(np.median(pk)), float(np.median(ep)))
        lines.append(
            f"| {name} | {med[name][0]:.2f} | {', '.join(f'{x:.2f}' for x in pk)} | {med[name][1]:.2f} | "
            f"{', '.join(f'{x:.2f}' for x in ep)} | {np.median(ec):.2f} | {', '.join(f'{x:.2f}' for x in ec)} | "
            f"{min(loads):.1f}–{max(loads):.1f} |"
        )
    if len(med) == 2:
        (a_pk, a_ep), (b_pk, b_ep) = med.values()
        lines += ["", f"Peak RSS: {a_pk:.2f} GiB vs {b_pk:.2f} GiB ({a_pk / b_pk:.2f} of the baseline)."]
    stages = [r["stage_peak_mb"] for r in runs[trees[0][0]] if "error" not in r]
    if stages:
        keys = list(stages[0])
        lines += [
            "",
            "Peak RSS per stage, this version (MiB, median of the runs): "
            + "; ".join(f"{k} {np.median([st.get(k, np.nan) for st in stages]):.0f}" for k in keys),
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


def _median(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if key in r]
    return float(np.median(vals)) if vals else float("nan")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-child":
        map_epochs = int(sys.argv[5]) if len(sys.argv) > 5 else 0
        print(json.dumps(memory_child(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), map_epochs)))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--epochs", type=int, default=6, help="epochs per point (timing); quality uses --quality-epochs")
    ap.add_argument("--quality-epochs", type=int, default=100, help="epochs of the small-size quality comparison")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--skip-full-large", action="store_true", help="do not run full-batch training at the large size")
    ap.add_argument(
        "--only", choices=("small", "large"), help="run only the quality (small) or the cost (large) points"
    )
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--memory", action="store_true", help="whole-path peak RSS and epoch time (see the docstring)")
    ap.add_argument("--baseline-src", type=Path, help="with --memory: a source tree to run as the baseline")
    ap.add_argument("--baseline-label", default="previous version", help="name of the baseline in the table")
    ap.add_argument("--parallel", action="store_true", help="with --memory: run both versions at the same time")
    ap.add_argument(
        "--map-epochs", type=int, default=0, help="with --memory: a short network-map stage (epoch timing only)"
    )
    args = ap.parse_args()
    if args.memory:
        memory_main(args)
        return
    small, large = ((1000, 500), (2000, 2000)) if args.quick else ((2000, 1000), (8000, 10000))
    # (size, batch, epochs): quality at the small size (mini-batch forced vs full batch), cost at the large size
    plan = [
        (small, "full", args.quality_epochs),
        (small, str(small[0] // 4), args.quality_epochs),
        (large, "auto", args.epochs),
    ]
    if not args.skip_full_large:
        plan.append((large, "full", args.epochs))
    if args.only:
        plan = [pt for pt in plan if (pt[0] == small) == (args.only == "small")]
    table = []
    for (g, p), batch, ep in plan:
        reps = [measure(g, p, ep, batch) for _ in range(args.repeats)]
        for r in reps:
            print(json.dumps(r), flush=True)
        ok = [r for r in reps if "error" not in r]
        row = {"n_genes": g, "n_perts": p, "batch": batch, "epochs": ep, "n_ok": len(ok), "n": len(reps)}
        for k in ("epoch_s", "train_s", "peak_rss_mb", "rss_before_train_mb", "policy_spearman", "value_spearman"):
            row[k] = _median(ok, k)
        row["batch_size"] = ok[0]["batch_size"] if ok else "failed"
        table.append(row)
    load, cpu = load_average(), cpu_name()
    head = (
        f"Machine: {os.cpu_count()} cores ({cpu}), TensorFlow on CPU; load average at the end {load:.1f}; "
        f"medians of {args.repeats} run(s), each in a fresh process.\n\n"
        "| genes | perturbations | batch | nodes per step | epochs | epoch (s) | train call (s) | "
        "peak RSS (MiB) | RSS before train (MiB) | policy ρ | value ρ |\n"
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    body = "".join(
        f"| {r['n_genes']:,} | {r['n_perts']:,} | {r['batch']} | {r['batch_size']} | {r['epochs']} | "
        f"{r['epoch_s']:.2f} | {r['train_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['rss_before_train_mb']:.0f} | "
        f"{r['policy_spearman']:.3f} | {r['value_spearman']:.3f} |\n"
        for r in table
    )
    print(head + body)
    if args.markdown:
        args.markdown.write_text(head + body)


if __name__ == "__main__":
    main()
