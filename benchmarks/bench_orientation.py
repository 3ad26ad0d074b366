"""Can the gene map orient an undirected network for the propagation readout? (issue 21, "the map carries order").

A diagnostic on SERGIO knock-out screens (``knockout_screens.py``). The propagation readout sends a knock-out's
change downstream along the network's *directed* edges; a network known only as undirected pairs (STRING, a
co-expression graph) sends it both ways, upstream included. A hierarchy-aware map puts general nodes near the
centre of the Poincaré ball and specific ones near the rim, so the map's radius could orient each undirected edge
from the node nearer the centre to the one further out. This script measures whether it does, against the simplest
equivalents.

For each screen and network (true, 30 % corrupted), ``hp.tl.train`` runs on the screen with the network given
(the map never sees directions: every step but the readout uses the undirected graph), once with the Poincaré
geometry and once with the Euclidean one; the readout's inputs are captured. Then the propagation candidates
(``NORMS`` × ``ALPHA_GRID``, unsigned edges) are built from the same undirected edge set oriented in six ways, and
the package's own leave-one-out choice (:func:`hyperperturb.tl._transfer._transfer.fit_transfer`) scores each:

- ``directed``: the directions as the network lists them (reference: what a directed network gives);
- ``undirected``: both ways (what an undirected network gives now);
- ``map``: from the smaller to the larger Poincaré radius (``.varm["X_poincare"]`` after training);
- ``euclidean``: the same with the Euclidean map's norm (ablation of the geometry);
- ``degree``: from the larger to the smaller degree in the undirected graph (the simplest equivalent);
- ``random``: by a random order of the genes (the floor).

Reported per screen: the leave-one-out residual of the best propagation readout under each orientation, and the
share of the listed edges each orientation points the listed way (ties count one half).

    python benchmarks/bench_orientation.py --screens DIR [--seeds 0 1 2 3] [--networks true corrupted]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anndata as ad
import bench_knockout as bk
from bench_propagation_variants import _markdown, capture

import hyperperturb.tl._transfer._propagation as PR
import hyperperturb.tl._transfer._transfer as T

ORIENTATIONS = ("directed", "undirected", "map", "euclidean", "degree", "random")


def orient(A: sparse.csr_matrix, s: np.ndarray, eps: float = 1e-9) -> sparse.csr_matrix:
    """Keep ``u → v`` of the symmetric ``A`` where ``s[u] < s[v]`` (both ways where they tie within ``eps``)."""
    C = sparse.coo_matrix(A)
    keep = s[C.row] <= s[C.col] + eps
    return sparse.csr_matrix((C.data[keep], (C.row[keep], C.col[keep])), shape=A.shape)


def direction_share(D: sparse.csr_matrix, s: np.ndarray) -> float:
    """Share of the listed edges ``u → v`` with ``s[u] < s[v]`` (ties: one half)."""
    C = sparse.coo_matrix(D)
    d = s[C.col] - s[C.row]
    return float(np.mean(np.where(d > 0, 1.0, np.where(d < 0, 0.0, 0.5))))


def scores_for(box: dict, M: sparse.csr_matrix) -> dict:
    src, n, level = box["sources"], box["n_genes"], box.get("level")
    prof = PR.candidate_profiles(M, src, n, level=level)
    fit = T.fit_transfer(box["E"], box["cv_idx"], **{**box["kw"], "propagation": prof})
    return {
        "loo_prop": float(fit.get("propagation_cv_score", np.nan)),
        "loo_chosen": float(fit["cv_score"]),
        "chosen": str(fit["source"]),
    }


def run_one(screen, net: str, seed: int, dim: int, epochs: int) -> list[dict]:
    a = screen.copy()
    edges = bk.network(a, net, seed, bk.GRID)
    bk.prepare(a, edges, directed=False)
    boxes = {g: capture(a.copy(), dim, geometry=g, epochs=epochs) for g in ("poincare", "euclidean")}
    box = boxes["poincare"]
    D = abs(sparse.csr_matrix(box["M"])).tocsr()  # listed directions, unsigned
    A = D.maximum(D.T).tocsr()
    n_nodes = A.shape[0]
    n = box["n_genes"]

    def radius(z: np.ndarray) -> np.ndarray:
        r = np.full(n_nodes, np.inf)  # nodes without a position (extra nodes) come last: edges into them only
        r[:n] = np.linalg.norm(z[:n], axis=1)
        return r

    deg = np.asarray((A > 0).sum(axis=1)).ravel().astype(np.float64)
    rng = np.random.default_rng(seed)
    order = {
        "map": radius(boxes["poincare"]["z"]),
        "euclidean": radius(boxes["euclidean"]["z"]),
        "degree": -deg,
        "random": rng.permutation(n_nodes).astype(np.float64),
    }
    ops = {"directed": D, "undirected": A, **{k: orient(A, s) for k, s in order.items()}}
    rows = []
    for name in ORIENTATIONS:
        r = scores_for(box, ops[name])
        r.update(seed=seed, network=net, orientation=name)
        r["direction_share"] = direction_share(D, order[name]) if name in order else np.nan
        rows.append(r)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--screens", required=True, help="folder with ko_seed{N}.h5ad (knockout_screens.py)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--networks", nargs="+", default=["true", "corrupted"], choices=["true", "corrupted"])
    ap.add_argument("--dim", type=int, default=bk.GRID["dim"])
    ap.add_argument("--epochs", type=int, default=bk.GRID["epochs"])
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for seed in args.seeds:
        screen = ad.read_h5ad(Path(args.screens) / f"ko_seed{seed}.h5ad")
        for net in args.networks:
            rows += run_one(screen, net, seed, args.dim, args.epochs)
            print(pd.DataFrame(rows).tail(len(ORIENTATIONS)).round(4).to_string(index=False), flush=True)
    df = pd.DataFrame(rows)
    for col, title in (
        ("loo_prop", "Leave-one-out residual of the best propagation readout, by orientation"),
        ("direction_share", "Share of the listed edges pointed the listed way"),
    ):
        tab = df.pivot_table(index=["network", "seed"], columns="orientation", values=col)
        tab = tab[[c for c in ORIENTATIONS if c in tab.columns]]
        for net in tab.index.get_level_values(0).unique():
            tab.loc[(net, "mean"), :] = tab.loc[net].mean()
        print(f"\n{title}\n")
        print(_markdown(tab.sort_index().round(3).reset_index()))


if __name__ == "__main__":
    main()
