"""Training cost of ``hp.tl.train`` (distance head) versus genes and versus perturbations.

Training only sees gene-level aggregates (rewards, policy/value targets, node features, the gene graph), so the
screens are built directly at the gene level: an AnnData with one row per cell would only be needed for
``hp.tl.rewards``. Each point runs in a fresh subprocess (TensorFlow start-up excluded from the timing) and
reports wall time per epoch (median over epochs after the first, which includes tracing), the number of trainable
parameters and the peak RSS of the process.

Usage::

    python benchmarks/bench_train_scale.py            # genes 500..5000 x 250 perts, perts 25..2000 x 2000 genes
    python benchmarks/bench_train_scale.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _machine import cpu_name, load_average


def gene_level_screen(n_genes: int, n_perts: int, *, seed: int = 0):
    """A gene-level AnnData ready for ``hp.tl.train``: perturbations + rewards ledger entries, a sparse gene graph."""
    import anndata as ad
    import pandas as pd
    from scipy import sparse

    import hyperperturb as hp

    rng = np.random.default_rng(seed)
    genes = [f"G{i:05d}" for i in range(n_genes)]
    perts = [genes[i] for i in rng.choice(n_genes, size=min(n_perts, n_genes), replace=False)]
    # a small cell-level screen (40 cells per perturbation would be wasteful at 2000 perts: 4 + controls)
    n_ctrl, per = 200, 4
    labels = ["non-targeting"] * n_ctrl + [p for p in perts for _ in range(per)]
    X = sparse.random(len(labels), n_genes, density=0.05, format="csr", random_state=seed, dtype=np.float32)
    X.data = np.log1p(X.data * 10)
    a = ad.AnnData(X, obs=pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(len(labels))]),
                   var=pd.DataFrame(index=genes))  # fmt: skip
    hp.pp.perturbations(a, control="non-targeting")
    hp.tl.rewards(a, verbose=False)
    # a random sparse gene graph (~10 neighbours per gene)
    k = 10
    i = np.repeat(np.arange(n_genes), k)
    j = rng.integers(0, n_genes, n_genes * k)
    keep = i != j
    A = sparse.csr_matrix((rng.random(keep.sum()), (i[keep], j[keep])), shape=(n_genes, n_genes))
    A = A.maximum(A.T)
    hp.pp.gene_network(a, A)
    return a


def child(n_genes: int, n_perts: int, epochs: int) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    import keras

    import hyperperturb as hp

    a = gene_level_screen(n_genes, n_perts)
    stamps: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            stamps.append(time.perf_counter())

    t0 = time.perf_counter()
    hp.tl.train(a, epochs=epochs, seed=0, verbose=False, head="distance", callbacks=[Clock()])
    total = time.perf_counter() - t0
    per_epoch = float(np.median(np.diff(stamps))) if len(stamps) > 2 else float("nan")
    weights = a.uns["hyperperturb"]["train"]["weights"]
    n_params = int(sum(np.asarray(w).size for w in weights.values()))
    return {
        "n_genes": n_genes,
        "n_perts": n_perts,
        "epochs": epochs,
        "train_s": total,
        "epoch_s": per_epoch,
        "first_epoch_s": stamps[0] - t0 if stamps else float("nan"),
        "n_params": n_params,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure(n_genes: int, n_perts: int, epochs: int) -> dict:
    cmd = [sys.executable, __file__, "--child", str(n_genes), str(n_perts), str(epochs)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    if args.quick:
        plan = [(300, 25), (600, 25), (300, 100)]
    else:
        plan = [(g, 250) for g in (500, 1000, 2000, 5000)] + [(2000, p) for p in (25, 100, 500, 2000)] + [(5000, 2000)]
    rows = []
    for g, p in plan:
        r = measure(g, p, args.epochs)
        rows.append(r)
        print(json.dumps(r), flush=True)
    load, cpu = load_average(), cpu_name()
    head = (
        f"Machine: {os.cpu_count()} cores ({cpu}), TensorFlow on CPU; load average at the end {load:.1f}. "
        f"`hp.tl.train(head='distance')`, default model (2 graph convolutions, hidden 32, dim 2), {args.epochs} "
        "epochs; epoch time = median over epochs after the first (which includes tracing).\n\n"
        "| genes | perturbations | model parameters | first epoch (s) | epoch (s) | train total (s) | peak RSS (MiB) |\n"
        "|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    body = "".join(
        f"| {r['n_genes']:,} | {r['n_perts']:,} | {r['n_params']:,} | {r['first_epoch_s']:.1f} | {r['epoch_s']:.3f} | "
        f"{r['train_s']:.1f} | {r['peak_rss_mb']:.0f} |\n"
        for r in rows
    )
    print(head + body)
    if args.markdown:
        args.markdown.write_text(head + body)


if __name__ == "__main__":
    main()
