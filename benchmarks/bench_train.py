"""Training benchmark for ``hp.tl.train``.

Two workloads, each run ``--repeats`` times in a fresh subprocess (so the tracing of the training step, the
TensorFlow start-up and the peak memory are measured per run):

``papalexi``
    Papalexi 2021 (299 genes, 25 perturbations) + STRING (min_weight 0.7, hops 2), 200 epochs.
``synthetic``
    ``hp.datasets.synthetic`` with 2,000 genes × 250 perturbations and a STRING-like sparse graph (the true
    hierarchy plus 4× as many random edges), 200 epochs.

Reported: wall time of ``hp.tl.train`` (TensorFlow already imported), time of the first epoch (tracing of the
compiled step), median time per epoch after the first, and the process's peak RSS (``ru_maxrss``). Medians over the
repeats.

Usage::

    python benchmarks/bench_train.py                     # both workloads, 3 repeats
    python benchmarks/bench_train.py --only papalexi --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HYPERPERTURB_SHARED_DATA", REPO.parent / "shared" / "data"))


def _prepare(kind: str):
    import warnings

    warnings.filterwarnings("ignore")
    import anndata as ad
    import scanpy as sc

    import hyperperturb as hp

    if kind == "papalexi":
        a = ad.read_h5ad(DATA / "papalexi2021_thp1_eccite_299genes.h5ad")
        a = a[a.obs["grna_assigned"].astype(bool)].copy()
        sc.pp.normalize_total(a)
        sc.pp.log1p(a)
        hp.pp.perturbations(a, key="perturbation", control="non-targeting")
        hp.pp.gene_network(a, DATA / "string_v12_human_ppi_symbols.csv.gz", min_weight=0.7, hops=2)
    else:
        a = hp.datasets.synthetic(n_cells=12_500, n_genes=2000, n_perturbations=250, seed=0, as_mudata=False)
        sc.pp.normalize_total(a)
        sc.pp.log1p(a)
        hp.pp.perturbations(a, key="perturbation", control="non-targeting")
        hp.pp.gene_network(a, hp.datasets.truth_network(a, noise_edges=4.0, seed=0))
    hp.tl.rewards(a, verbose=False)
    return a


def child(kind: str, epochs: int) -> dict:
    import keras

    import hyperperturb as hp

    a = _prepare(kind)
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            times.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter())

    t0 = time.perf_counter()
    hp.tl.train(a, epochs=epochs, verbose=False, callbacks=[Clock()])
    total = time.perf_counter() - t0
    steps = [b - a_ for a_, b in zip(times[:-1], times[1:], strict=True)]
    e = a.uns["hyperperturb"]["train"]
    return {
        "kind": kind,
        "n_genes": a.n_vars,
        "n_nodes": len(e["graph"]["nodes"]),
        "n_edges": int(a.varp["hp_adjacency"].nnz // 2),
        "n_perturbations": len(e["perturbations"]),
        "n_scorable": int(e["n_scorable"]),
        "total_s": total,
        "first_epoch_s": steps[0],
        "epoch_s": statistics.median(steps[1:]),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "final_loss": float(e["history"]["loss"][-1]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["papalexi", "synthetic"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--child", choices=["papalexi", "synthetic"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.epochs)))
        return
    kinds = [args.only] if args.only else ["papalexi", "synthetic"]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    )
    rows = []
    for kind in kinds:
        runs = []
        for _ in range(args.repeats):
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind, "--epochs", str(args.epochs)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            ).stdout
            runs.append(json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:]))
        med = {
            k: statistics.median(r[k] for r in runs) for k in ("total_s", "first_epoch_s", "epoch_s", "peak_rss_mib")
        }
        rows.append({**runs[0], **med, "runs": len(runs)})
    print()
    print(
        "| workload | genes / graph nodes / edges | perturbations (scorable) | epochs | train total (s) | first epoch (s) | per epoch after first (ms) | peak RSS (MiB) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['kind']} | {r['n_genes']} / {r['n_nodes']} / {r['n_edges']} | {r['n_perturbations']} ({r['n_scorable']}) "
            f"| {args.epochs} | {r['total_s']:.1f} | {r['first_epoch_s']:.1f} | {1000 * r['epoch_s']:.1f} | {r['peak_rss_mib']:.0f} |"
        )


if __name__ == "__main__":
    main()
