"""Embedding-quality benchmark: Poincaré vs Euclidean gene embeddings at dim 2, 5, 10.

Trains ``hp.tl.train`` on a synthetic screen with a known hierarchy (true network as the prior graph) and scores the
embedding with ``hp.tl.embedding_quality``: graph-reconstruction MAP, distortion, Spearman(depth, radius).
Prints the markdown table of docs/benchmarks.md.

    python benchmarks/bench_embedding_quality.py [--epochs 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import scanpy as sc

import hyperperturb as hp


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dims", type=int, nargs="+", default=[2, 5, 10])
    args = p.parse_args()
    logging.getLogger("hyperperturb").setLevel(logging.WARNING)
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"hyperperturb {hp.__version__}; epochs {args.epochs}, seed {args.seed}."
    )
    t0 = time.perf_counter()
    a = hp.datasets.synthetic(n_cells=3000, n_genes=150, n_perturbations=30, seed=args.seed)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    hp.tl.rewards(a, verbose=False)
    rows = []
    for gw in (1.0, 0.0):
        for geometry in ("poincare", "euclidean"):
            for dim in args.dims:
                t1 = time.perf_counter()
                b = hp.tl.train(
                    a, geometry=geometry, dim=dim, epochs=args.epochs, seed=args.seed, verbose=False, copy=True,
                    graph_weight=gw,
                )  # fmt: skip
                q = hp.tl.embedding_quality(b, geometry=geometry).set_index("metric")["value"]
                rows.append((geometry, dim, gw, q, time.perf_counter() - t1))
    # reference: a random embedding (MAP of chance) in the same space
    rng = np.random.default_rng(args.seed)
    a.varm["X_random"] = rng.uniform(-0.5, 0.5, (a.n_vars, 2))
    qr = hp.tl.embedding_quality(a, basis="X_random", geometry="euclidean").set_index("metric")["value"]
    print("\nSynthetic hierarchy (3000 cells, 150 genes, 30 knock-outs), true network as the graph:\n")
    print("| geometry | dim | graph_weight | MAP | mean rank | distortion | Spearman(depth, radius) | train time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for geometry, dim, gw, q, dt in rows:
        print(
            f"| {geometry} | {dim} | {gw:g} | {q['map']:.3f} | {q['mean_rank']:.1f} | {q['distortion']:.3f} | "
            f"{q.get('spearman_depth_radius', float('nan')):.3f} | {dt:.0f} |"
        )
    print(
        f"| random (reference) | 2 | – | {qr['map']:.3f} | {qr['mean_rank']:.1f} | {qr['distortion']:.3f} | "
        f"{qr.get('spearman_depth_radius', float('nan')):.3f} | – |"
    )
    print(f"\nTotal run time {time.perf_counter() - t0:.0f} s.")


if __name__ == "__main__":
    main()
