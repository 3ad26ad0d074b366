"""Map-stage benchmark (issue 21 item 5): run time and reconstruction MAP of the network-embedding stage on large graphs.

The stage (``hp.tl.embed_network``, and the starting map of ``hp.tl.train``) is timed with the current defaults
against the previous algorithm in the same process: every edge in every epoch and no plateau stop, which is what
the stage still does on graphs small enough for ``epochs`` full passes to fit ``_network_map.STEP_BUDGET`` distance
evaluations (the baseline sets that budget to infinity). Graphs:

1. co-expression, 7,400 genes: ``hp.datasets.synthetic(n_cells=4000, n_genes=7400, n_perturbations=50, seed=0)``,
   normalised, ``hp.pp.gene_network(a, "coexpression")`` (10 neighbours per gene: ~57k edges), dim 2 (the
   ``hp.tl.train`` default) -- the size of issue 21's real-data measurement (7,389 genes, 55k edges);
2. CollecTRI, the whole TF -> target network (~7,000 nodes, ~42k edges, signs dropped), dim 5;
3. STRING v12 >= 900 around the Papalexi screen's genes (1,451 nodes, 12,828 edges), dim 5;
4. the synthetic hierarchy (150 genes, ``hp.datasets.truth_network``), dim 2 (small: unchanged by design).

MAP is ``hp.tl.embedding_quality``'s graph-reconstruction MAP (all nodes up to 3,000, else its seeded sample).
Times are wall-clock seconds of ``fit_network_map`` (the whole stage: hierarchy levels, SGD, hierarchy phase,
placement of genes without edges), after a warm-up call that loads the numba kernel. Real graphs are read from
``$HYPERPERTURB_SHARED_DATA`` or ``../shared/data`` and skipped when absent.

    python benchmarks/bench_map_stage.py [--repeats 3] [--baseline-repeats 3] [--graphs coexpression,collectri,...]

``--baseline-repeats 0`` runs only the current stage (the previous algorithm's maps do not change between versions).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
from scipy import sparse

import hyperperturb as hp
from hyperperturb.tl._map import _network_map

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_embedding_quality import data_dir, edges_to_graph, graph_anndata, machine


def coexpression_graph() -> tuple[list[str], sparse.csr_matrix]:
    a = hp.datasets.synthetic(n_cells=4000, n_genes=7400, n_perturbations=50, seed=0, as_mudata=False)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, "coexpression")
    return list(a.var_names), sparse.csr_matrix(a.varp["hp_adjacency"])


def collectri_graph(root: Path) -> tuple[list[str], sparse.csr_matrix]:
    ct = pd.read_csv(root / "collectri_human.csv.gz")
    ct = ct[ct.weight.abs() > 0]
    return edges_to_graph(ct.source, ct.target)


def string_papalexi_graph(root: Path) -> tuple[list[str], sparse.csr_matrix]:
    genes = set(ad.read_h5ad(root / "papalexi2021_thp1_eccite_299genes.h5ad", backed="r").var_names)
    s = pd.read_csv(root / "string_v12_human_ppi_symbols.csv.gz", usecols=["gene_a", "gene_b", "combined_score"])
    s9 = s[s.combined_score >= 900]
    near = s9[s9.gene_a.isin(genes) | s9.gene_b.isin(genes)]
    nodes = set(near.gene_a) | set(near.gene_b)
    sub = s9[s9.gene_a.isin(nodes) & s9.gene_b.isin(nodes)]
    return edges_to_graph(sub.gene_a, sub.gene_b)


def synthetic_hierarchy() -> tuple[list[str], sparse.csr_matrix]:
    a = hp.datasets.synthetic(n_cells=3000, n_genes=150, n_perturbations=30, seed=0, as_mudata=False)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    return list(a.var_names), sparse.csr_matrix(a.varp["hp_adjacency"])


def run(g: ad.AnnData, dim: int, *, baseline: bool, seed: int = 0) -> tuple[float, float, int]:
    """(wall time, MAP, epochs) of one stage call; ``baseline``: every edge in every epoch, no plateau stop."""
    old = _network_map.STEP_BUDGET
    if baseline:
        _network_map.STEP_BUDGET = float("inf")
    try:
        t = time.perf_counter()
        res = _network_map.fit_network_map(g.varp["hp_adjacency"], dim=dim, seed=seed)
        dt = time.perf_counter() - t
    finally:
        _network_map.STEP_BUDGET = old
    g.varm["X_map"] = res["embedding"]
    q = hp.tl.embedding_quality(g, basis="X_map").set_index("metric")["value"]
    return dt, float(q["map"]), int(res["epochs"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="runs (seeds 0, 1, ...) of the current stage per graph")
    p.add_argument("--baseline-repeats", type=int, default=3, help="runs (seeds 0, 1, ...) of the previous algorithm")
    p.add_argument("--graphs", default="coexpression,collectri,string,synthetic")
    p.add_argument("--budget", type=float, help="STEP_BUDGET of the current stage (default: the package's)")
    args = p.parse_args()
    if args.budget is not None:
        _network_map.STEP_BUDGET = float(args.budget)
    logging.getLogger("hyperperturb").setLevel(logging.WARNING)
    root = data_dir()
    print(f"Machine: {machine()}.")
    t_all = time.perf_counter()
    path = sparse.diags([np.ones(19), np.ones(19)], [1, -1], shape=(20, 20)).tocsr()
    _network_map.fit_network_map(path, dim=2, epochs=5)  # load (or compile) the numba kernel once
    builders = {
        "coexpression": ("co-expression, synthetic screen of 7,400 genes", 2, coexpression_graph),
        "collectri": ("CollecTRI, whole network", 5, lambda: collectri_graph(root)),
        "string": ("STRING ≥ 900 around the Papalexi genes", 5, lambda: string_papalexi_graph(root)),
        "synthetic": ("synthetic hierarchy (data seed 0)", 2, synthetic_hierarchy),
    }
    rows = []
    for key in args.graphs.split(","):
        label, dim, build = builders[key]
        try:
            nodes, A = build()
        except FileNotFoundError as e:
            print(f"skipped {label}: {e}")
            continue
        g = graph_anndata(nodes, A)
        n_edges = int(g.varp["hp_adjacency"].nnz // 2)
        base = [run(g, dim, baseline=True, seed=s) for s in range(args.baseline_repeats)]
        new = [run(g, dim, baseline=False, seed=s) for s in range(args.repeats)]
        rows.append((label, g.n_vars, n_edges, dim, base, new))
        print(
            f"{label}: baseline {[round(b[0], 1) for b in base]} s MAP {[round(b[1], 3) for b in base]}; "
            f"now {[round(x[0], 1) for x in new]} s MAP {[round(x[1], 3) for x in new]} "
            f"({[x[2] for x in new]} epochs); "
            f"load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    print()
    print(
        "| graph | nodes / edges | dim | previous: time (s), median (runs) | now: time (s), median (runs) | "
        "speed-up | previous MAP, median (runs) | MAP now, median (runs) | epochs run now |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, n, m, dim, base, new in rows:
        tn = statistics.median(x[0] for x in new) if new else float("nan")
        mn = statistics.median(x[1] for x in new) if new else float("nan")
        if base:  # --baseline-repeats 0: only the current stage (the full-pass numbers come from an earlier run)
            tb = statistics.median(b[0] for b in base)
            mb = statistics.median(b[1] for b in base)
            prev_t = f"{tb:.1f} ({', '.join(f'{b[0]:.1f}' for b in base)})"
            prev_m = f"{mb:.3f} ({', '.join(f'{b[1]:.3f}' for b in base)})"
            speed = f"{tb / tn:.1f}×"
        else:
            prev_t = prev_m = speed = "not run"
        print(
            f"| {label} | {n:,} / {m:,} | {dim} | {prev_t} | "
            f"**{tn:.1f}** ({', '.join(f'{x[0]:.1f}' for x in new)}) | {speed} | {prev_m} | "
            f"**{mn:.3f}** ({', '.join(f'{x[1]:.3f}' for x in new)}) | {', '.join(str(x[2]) for x in new)} |"
        )
    print(f"\nLoad average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}.")
    print(f"Total run time {time.perf_counter() - t_all:.0f} s.")


if __name__ == "__main__":
    main()
