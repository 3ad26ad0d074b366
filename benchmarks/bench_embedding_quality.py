"""Embedding-quality benchmark: does the gene map reconstruct the network, Poincaré vs Euclidean, dim 2 / 5 / 10?

Scores with ``hp.tl.embedding_quality`` (graph-reconstruction MAP, mean rank of a true neighbour, and
Spearman(depth, radius) where a hierarchy is known) on four graphs:

1. the synthetic hierarchy (``hp.datasets.synthetic(n_genes=150)`` + ``hp.datasets.truth_network``), several data
   seeds x training seeds: the network-embedding stage alone (``hp.tl.embed_network``) and after ``hp.tl.train``
   (Poincaré, and ``geometry="euclidean"`` as the flat comparison);
2. a Gene Ontology similarity graph (``hp.pp.gene_network(..., "go")``: Jaccard of GO term sets, top-10 per gene)
   of the Papalexi screen's genes;
3. STRING v12 (combined score >= 900) around the Papalexi screen's genes (the stage alone), and the screen itself
   with STRING >= 700 as its graph after ``hp.tl.train``;
4. a CollecTRI TF -> target subnetwork (~2,000 nodes, unsigned: |weight|), the stage alone.

and times the stage (median of 3 runs on the ~2,000-node CollecTRI subnetwork; the first call in a process, which
includes numba compilation or loading its cache, is reported separately). Prints the Markdown tables of
docs/benchmarks.md. Data are read from ``$HYPERPERTURB_SHARED_DATA`` or ``../shared/data`` next to the repository.

    python benchmarks/bench_embedding_quality.py [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
from scipy import sparse

import hyperperturb as hp
from hyperperturb.tl._map._network_map import fit_network_map

GEOMS = ("poincare", "euclidean")


def data_dir() -> Path:
    env = os.environ.get("HYPERPERTURB_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (
        f"{model}, {os.cpu_count()} CPU cores ({usable} usable), load average {load}, Python "
        f"{platform.python_version()}, hyperperturb {hp.__version__}"
    )


def quality(adata: ad.AnnData, basis: str, geometry: str) -> pd.Series:
    return hp.tl.embedding_quality(adata, basis=basis, geometry=geometry).set_index("metric")["value"]


def graph_anndata(nodes: list[str], A: sparse.spmatrix) -> ad.AnnData:
    """A network-only AnnData: one zero cell, the graph's nodes as var_names, the adjacency in .varp."""
    g = ad.AnnData(X=np.zeros((1, len(nodes)), dtype=np.float32), var=pd.DataFrame(index=pd.Index(nodes)))
    A = sparse.csr_matrix(A, dtype=np.float32)
    A = ((A + A.T) > 0).astype(np.float32).tocsr()
    A.setdiag(0)
    A.eliminate_zeros()
    g.varp["hp_adjacency"] = A
    return g


def edges_to_graph(src: pd.Series, dst: pd.Series) -> tuple[list[str], sparse.csr_matrix]:
    nodes = sorted(set(src.astype(str)) | set(dst.astype(str)))
    idx = {n: i for i, n in enumerate(nodes)}
    i = np.fromiter((idx[s] for s in src.astype(str)), dtype=np.int64, count=len(src))
    j = np.fromiter((idx[t] for t in dst.astype(str)), dtype=np.int64, count=len(dst))
    A = sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(len(nodes), len(nodes))).tocsr()
    return nodes, A


def stage_rows(name: str, g: ad.AnnData, dims: list[int], seed: int = 0) -> list[dict]:
    """The network-embedding stage alone on a network-only AnnData, Poincaré and Euclidean."""
    rows = []
    A = g.varp["hp_adjacency"]
    for dim in dims:
        for geometry in GEOMS:
            res = fit_network_map(A, dim=dim, geometry=geometry, seed=seed)
            g.varm["X_map"] = res["embedding"]
            q = quality(g, "X_map", geometry)
            rows.append({"graph": name, "dim": dim, "geometry": geometry, "what": "stage", "map": q["map"],
                         "mean_rank": q["mean_rank"], "time": res["wall_time"], "epochs": res["epochs"]})  # fmt: skip
    return rows


def prepare_screen(a: ad.AnnData, network, **kw) -> ad.AnnData:
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, network, **kw)
    hp.tl.rewards(a, verbose=False)
    return a


def screen_rows(name: str, a: ad.AnnData, dims: list[int], epochs: int, seed: int = 0, spearman=False) -> list[dict]:
    """Stage alone (hp.tl.embed_network) and after hp.tl.train, Poincaré and Euclidean, on a screen."""
    rows = []
    for dim in dims:
        for geometry in GEOMS:
            t = time.perf_counter()
            b = hp.tl.embed_network(a, dim=dim, geometry=geometry, seed=seed, copy=True)
            dt = time.perf_counter() - t
            q = quality(b, "X_poincare_network", geometry)
            rows.append({"graph": name, "dim": dim, "geometry": geometry, "what": "stage", "map": q["map"],
                         "mean_rank": q["mean_rank"], "rho": q.get("spearman_depth_radius", np.nan), "time": dt})  # fmt: skip
            t = time.perf_counter()
            b = hp.tl.train(a, dim=dim, geometry=geometry, epochs=epochs, seed=seed, verbose=False, copy=True)
            dt = time.perf_counter() - t
            q = quality(b, "X_poincare", geometry)
            rows.append({"graph": name, "dim": dim, "geometry": geometry, "what": "train", "map": q["map"],
                         "mean_rank": q["mean_rank"], "rho": q.get("spearman_depth_radius", np.nan), "time": dt})  # fmt: skip
    return rows


def print_dim_table(rows: list[dict]) -> None:
    df = pd.DataFrame(rows)
    print("| graph | nodes / edges | map | dim | Poincaré MAP | Euclidean MAP | ratio | Poincaré mean rank | "
          "Euclidean mean rank | time P / E (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (graph, what, dim), d in df.groupby(["graph", "what", "dim"], sort=False):
        p = d[d.geometry == "poincare"].iloc[0]
        e = d[d.geometry == "euclidean"].iloc[0]
        label = "stage alone" if what == "stage" else "after `hp.tl.train`"
        print(
            f"| {graph} | {p.get('size', '')} | {label} | {dim} | {p['map']:.3f} | {e['map']:.3f} | "
            f"{p['map'] / max(e['map'], 1e-12):.2f}× | {p['mean_rank']:.1f} | {e['mean_rank']:.1f} | "
            f"{p['time']:.1f} / {e['time']:.1f} |"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 data seeds x 1 training seed, dims 2 and 5, 50 epochs")
    p.add_argument("--epochs", type=int, default=None, help="hp.tl.train epochs (default 200, --quick 50)")
    args = p.parse_args()
    logging.getLogger("hyperperturb").setLevel(logging.WARNING)
    dims = [2, 5] if args.quick else [2, 5, 10]
    data_seeds = [0, 1] if args.quick else [0, 1, 2, 3, 4]
    train_seeds = [0] if args.quick else [0, 1]
    epochs = args.epochs or (50 if args.quick else 200)
    root = data_dir()
    print(f"Machine: {machine()}.")
    print(f"Data: {root}; hp.tl.train epochs {epochs}; dims {dims}.\n")
    t_all = time.perf_counter()

    # --- first call in the process (numba compilation or cache load) vs a warm call, on a 20-node path
    path = sparse.diags([np.ones(19), np.ones(19)], [1, -1], shape=(20, 20)).tocsr()
    t = time.perf_counter()
    fit_network_map(path, dim=2, epochs=5)
    first = time.perf_counter() - t
    t = time.perf_counter()
    fit_network_map(path, dim=2, epochs=5)
    warm = time.perf_counter() - t

    # --- 1. synthetic hierarchy: per data seed x training seed, dim 2
    seed_rows, synth_dim_rows = [], []
    for ds in data_seeds:
        a = hp.datasets.synthetic(n_cells=3000, n_genes=150, n_perturbations=30, seed=ds, as_mudata=False)
        a = prepare_screen(a, hp.datasets.truth_network(a))
        n_edges = int(a.varp["hp_adjacency"].nnz // 2)
        for ts in train_seeds:
            r = screen_rows("synthetic", a, [2], epochs, seed=ts)
            for x in r:
                x.update(data_seed=ds, train_seed=ts)
            seed_rows += r
        if ds == data_seeds[0]:
            rr = screen_rows("synthetic hierarchy (data seed 0)", a, [d for d in dims if d != 2], epochs, seed=0)
            first_seed = [dict(x, graph="synthetic hierarchy (data seed 0)") for x in seed_rows if x["train_seed"] == 0]
            synth_dim_rows = first_seed + rr
            for x in synth_dim_rows:
                x["size"] = f"{a.n_vars} / {n_edges}"

    # --- shared data
    screen = hp.datasets.papalexi2021(root)
    string_path = root / "string_v12_human_ppi_symbols.csv.gz"
    string = pd.read_csv(string_path, usecols=["gene_a", "gene_b", "combined_score"])
    genes = list(screen.var_names)
    real_rows = []

    # --- 2. GO similarity graph of the screen's genes (hp.pp.gene_network "go": Jaccard, top-10 per gene)
    g = ad.AnnData(X=np.zeros((1, len(genes)), dtype=np.float32), var=pd.DataFrame(index=screen.var_names.copy()))
    hp.pp.gene_network(g, "go", go_table=root / "go_gene2term_human.tsv.gz", n_neighbors=10)
    keep = np.asarray((g.varp["hp_adjacency"] != 0).sum(axis=1)).ravel() > 0
    go = graph_anndata(list(g.var_names[keep]), g.varp["hp_adjacency"][keep][:, keep])
    size = f"{go.n_vars} / {go.varp['hp_adjacency'].nnz // 2}"
    real_rows += [dict(x, size=size) for x in stage_rows("GO Jaccard top-10 (Papalexi genes)", go, dims)]

    # --- 3a. STRING >= 900 around the screen's genes: the genes, their neighbours and all edges among them
    s9 = string[string.combined_score >= 900]
    gs = set(genes)
    near = s9[s9.gene_a.isin(gs) | s9.gene_b.isin(gs)]
    nodes = set(near.gene_a) | set(near.gene_b)
    sub = s9[s9.gene_a.isin(nodes) & s9.gene_b.isin(nodes)]
    nodes, A = edges_to_graph(sub.gene_a, sub.gene_b)
    st = graph_anndata(nodes, A)
    size = f"{st.n_vars} / {st.varp['hp_adjacency'].nnz // 2}"
    real_rows += [dict(x, size=size) for x in stage_rows("STRING ≥ 900 around the Papalexi genes", st, dims)]

    # --- 4. CollecTRI: random TFs (seed 0) with all their targets until >= 2,000 nodes; unsigned
    ct = pd.read_csv(root / "collectri_human.csv.gz")
    ct = ct[ct.weight.abs() > 0]
    rng = np.random.default_rng(0)
    chosen, seen = [], set()
    for tf in rng.permutation(np.array(sorted(ct.source.unique()))):
        chosen.append(tf)
        seen |= {tf, *ct.target[ct.source == tf]}
        if len(seen) >= 2000:
            break
    sub = ct[ct.source.isin(chosen)]
    nodes, A = edges_to_graph(sub.source, sub.target)
    cg = graph_anndata(nodes, A)
    size = f"{cg.n_vars} / {cg.varp['hp_adjacency'].nnz // 2}"
    real_rows += [dict(x, size=size) for x in stage_rows(f"CollecTRI ({len(chosen)} random TFs)", cg, dims)]

    # --- 3b. the Papalexi screen with STRING >= 700 as its graph: stage and after hp.tl.train
    pa = prepare_screen(screen, string_path, min_weight=0.7)
    n_edges = int(pa.varp["hp_adjacency"].nnz // 2)
    pap_rows = [
        dict(x, size=f"{pa.n_vars} genes / {n_edges}")
        for x in screen_rows("Papalexi screen + STRING ≥ 700", pa, dims, epochs)
    ]

    # --- timing of the stage at ~2,000 nodes (CollecTRI subnetwork), median of 3 warm runs
    timing = {}
    for dim in (2, 5):
        ts = [fit_network_map(cg.varp["hp_adjacency"], dim=dim, seed=s)["wall_time"] for s in range(3)]
        timing[dim] = ts

    # ---------------- tables
    sr = pd.DataFrame(seed_rows)
    print("### Synthetic hierarchy, dim 2, per data seed × training seed\n")
    print(
        f"`hp.datasets.synthetic(n_cells=3000, n_genes=150, n_perturbations=30, seed=s)` + `truth_network`; "
        f"stage = `hp.tl.embed_network`; train = `hp.tl.train(epochs={epochs})` (default `refine=0.1`).\n"
    )
    print("| data seed | train seed | stage MAP P / E | train MAP P | train MAP E | P / E | ρ(depth, radius) stage P | "
          "ρ train P | ρ train E |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    summary = []
    for (ds, ts), d in sr.groupby(["data_seed", "train_seed"]):
        get = {(r.what, r.geometry): r for r in d.itertuples()}
        sp, se, tp, te = (
            get["stage", "poincare"],
            get["stage", "euclidean"],
            get["train", "poincare"],
            get["train", "euclidean"],
        )
        ratio = tp.map / max(te.map, 1e-12)
        summary.append((tp.map, ratio, tp.rho, sp.map, sp.rho))
        print(
            f"| {ds} | {ts} | {sp.map:.3f} / {se.map:.3f} | {tp.map:.3f} | {te.map:.3f} | {ratio:.2f}× | "
            f"{sp.rho:.3f} | {tp.rho:.3f} | {te.rho:.3f} |"
        )
    s = np.array(summary)
    print(
        f"| **min over seeds** | | {s[:, 3].min():.3f} / – | **{s[:, 0].min():.3f}** | – | **{s[:, 1].min():.2f}×** | "
        f"{s[:, 4].min():.3f} | **{s[:, 2].min():.3f}** | – |"
    )
    print("\n### MAP and mean rank by dimension, Poincaré vs Euclidean\n")
    print_dim_table(synth_dim_rows + real_rows + pap_rows)
    print("\n### Run time of the network-embedding stage\n")
    print("| what | time (s) |")
    print("|---|---|")
    print(f"| first call in a process (20-node path, 5 epochs; numba compile or cache load) | {first:.2f} |")
    print(f"| same call again | {warm:.3f} |")
    for dim, ts in timing.items():
        print(
            f"| CollecTRI subnetwork ({cg.n_vars} nodes, {cg.varp['hp_adjacency'].nnz // 2} edges), dim {dim}, "
            f"median of 3 (runs {', '.join(f'{x:.1f}' for x in ts)}) | {statistics.median(ts):.1f} |"
        )
    print(f"\nLoad average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}.")
    print(f"Total run time {time.perf_counter() - t_all:.0f} s.")


if __name__ == "__main__":
    main()
