"""Knock-out Perturb-seq screens with a known regulatory network, simulated with SERGIO (issue 21).

A test bed outside hyperperturb's own simulator: a connected, acyclic TF subnetwork of CollecTRI drives SERGIO's
steady-state chemical Langevin equations (Dibaeinia & Sinha 2020, PyPI ``sergio-scsim``, "SERGIO v2" engine);
every TF of the subnetwork is knocked out in its own condition, plus a few "null" knock-outs of leaf genes, next to
several independent control conditions.

Knock-out semantics
    A knock-out sets the gene's production rate to zero in its own condition (a per-condition mask on the
    production term). The Hill half-responses of all edges are fixed at the wild-type steady state (estimated once
    on the network without any knock-out), so the knocked-out gene's concentration near zero is felt downstream
    through the Hill functions: activated targets go down, repressed ones go up, and the change travels along the
    hierarchy. (Re-estimating the half-responses on the knock-out network, as ``sergio_rs.GRN.ko_perturbation``
    does, rescales the Hill functions to the new regulator level and compensates the effect away; it is not used.)
    All conditions are "cell types" of one SERGIO run, so they share one set of kinetic parameters.

Technical noise
    Written here in NumPy (seeded; no ``sergio-rs``): per-cell library size drawn log-normally and imposed by
    rescaling, a logistic dropout whose keep-probability rises with log expression (midpoint at a percentile of
    the log expression), then Poisson (UMI) sampling.

Output (``simulate``)
    AnnData with raw UMI counts in ``.layers["counts"]``, the noise-free concentrations in ``.layers["clean"]``,
    ``X = log1p(counts normalised to the median library size)``, ``obs["perturbation"]`` (controls
    ``"non-targeting"``), ``obs["is_tf_ko"]``/``obs["is_null_ko"]``, and the true network in
    ``.uns["grn_edges"]`` (dict of lists ``source``, ``target``, ``weight`` = sign, ``k`` = SERGIO's signed
    strength). ``network_frame(adata)`` returns it as a decoupler-style DataFrame (``source``, ``target``,
    ``weight`` = ±1) that ``hp.pp.gene_network(adata, df, symmetric=False)`` reads as a signed, directed network;
    ``corrupt_network`` replaces a share of its edges by random ones.

Caveat
    SERGIO's cells of one condition are snapshots of a single simulated trajectory, so they are not independent
    draws: split-half ceilings and detectability measured on these screens are optimistic, and a null knock-out
    (a leaf gene, which regulates nothing) can still "move" a few genes by trajectory-to-trajectory variation.
    Control cells come from several independent trajectories (``n_control_groups``), which softens but does not
    remove this.

Requires the optional extra: ``pip install -e ".[benchmark]"`` (``sergio-scsim``). ``build_grn`` only needs pandas
and networkx and reads CollecTRI from ``../shared/data`` (or ``$HYPERPERTURB_DATA``, or ``data=``).

CLI::

    python benchmarks/knockout_screens.py --seeds 0 1 2 3 4 --out benchmarks/_screens
    python benchmarks/knockout_screens.py --seeds 15 16 --n-cells 30 --out DIR    # other settings: another folder
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

CONTROL = "non-targeting"
COLLECTRI = "collectri_human.csv.gz"
INSTALL_HINT = 'SERGIO is needed to simulate the knock-out screens: pip install -e ".[benchmark]" (sergio-scsim).'


# ---------------------------------------------------------------------------------------------------------------
# network
# ---------------------------------------------------------------------------------------------------------------
def default_data_dir() -> Path:
    """``$HYPERPERTURB_DATA`` if set, else ``../shared/data`` next to the repository root."""
    env = os.environ.get("HYPERPERTURB_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load_regulons(data: str | os.PathLike | pd.DataFrame | None = None) -> pd.DataFrame:
    """CollecTRI as ``source, target, weight`` (±1), without self-loops and duplicated pairs."""
    if isinstance(data, pd.DataFrame):
        d = data.copy()
    else:
        p = default_data_dir() if data is None else Path(data)
        if p.is_dir():
            p = p / COLLECTRI
        if not p.is_file():
            msg = f"CollecTRI table {str(p)!r} not found (expected ../shared/data/{COLLECTRI} or pass `data=`)."
            raise FileNotFoundError(msg)
        d = pd.read_csv(p)
    d = d.rename(columns={"tf": "source", "mor": "weight"})
    d = d[["source", "target", "weight"]].astype({"source": str, "target": str})
    d["weight"] = np.sign(pd.to_numeric(d["weight"], errors="coerce").fillna(1.0)).replace(0.0, 1.0)
    d = d[d["source"] != d["target"]].drop_duplicates(["source", "target"]).reset_index(drop=True)
    return d


def build_grn(
    seed: int,
    *,
    data: str | os.PathLike | pd.DataFrame | None = None,
    n_tf: int = 40,
    n_roots: int = 3,
    n_root_candidates: int = 25,
    max_children: int = 6,
    max_targets_per_tf: int = 14,
    max_genes: int = 300,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A connected, acyclic, hierarchical TF subnetwork of CollecTRI.

    ``n_roots`` roots are drawn among the ``n_root_candidates`` TFs with most TF targets; a breadth-first walk
    over TF→TF edges (at most ``max_children`` new TFs per TF, random order) collects ``n_tf`` TFs. TF→TF edges
    keep the discovery order (edges back to an earlier TF are dropped, which makes the network acyclic). Each TF
    gets up to ``max_targets_per_tf`` non-TF targets (those with several regulators among the chosen TFs first),
    capped so that the network has at most ``max_genes`` genes; the largest weakly connected component is kept.

    Returns
    -------
    ``edges`` (``source``, ``target``, ``weight`` = ±1) and ``info`` (``tfs`` in discovery order,
    ``master_regulators``, ``level`` per gene = longest path from a master regulator, counts).
    """
    rng = np.random.default_rng(seed)
    reg = load_regulons(data)
    tf_universe = set(reg["source"])
    tt = reg[reg["target"].isin(tf_universe)]
    g_tf = nx.DiGraph()
    g_tf.add_edges_from(zip(tt["source"], tt["target"], strict=True))
    out_tf = pd.Series(dict(g_tf.out_degree())).sort_values(ascending=False, kind="stable")
    candidates = list(out_tf.index[:n_root_candidates])
    roots = [str(r) for r in rng.choice(candidates, size=min(n_roots, len(candidates)), replace=False)]

    chosen = list(roots)
    seen = set(roots)
    layer = list(roots)
    while layer and len(chosen) < n_tf:
        nxt: list[str] = []
        for u in layer:
            new = sorted(v for v in g_tf.successors(u) if v not in seen)
            new = [new[i] for i in rng.permutation(len(new))][:max_children]
            for v in new:
                if len(chosen) >= n_tf:
                    break
                seen.add(v)
                chosen.append(v)
                nxt.append(v)
        layer = [nxt[i] for i in rng.permutation(len(nxt))]
    order = {g: i for i, g in enumerate(chosen)}

    tf_edges = reg[reg["source"].isin(order) & reg["target"].isin(order)]
    forward = tf_edges["source"].map(order) < tf_edges["target"].map(order)
    n_back = int((~forward).sum())
    tf_edges = tf_edges[forward]

    leaf_edges = reg[reg["source"].isin(order) & ~reg["target"].isin(tf_universe)]
    n_regs = leaf_edges.groupby("target")["source"].nunique()
    picked: list[str] = []
    picked_set: set[str] = set()
    for tf in chosen:
        tg = leaf_edges.loc[leaf_edges["source"] == tf, "target"].unique()
        tie = rng.random(len(tg))
        ranked = [t for _, _, t in sorted(zip(-n_regs.reindex(tg).to_numpy(), tie, tg, strict=True))]
        # half of the slots go to targets shared with other chosen TFs (convergent regulation), half at random
        n_shared = max_targets_per_tf // 2
        rest = ranked[n_shared:]
        ranked = ranked[:n_shared] + [rest[i] for i in rng.permutation(len(rest))]
        for t in ranked[:max_targets_per_tf]:
            if t not in picked_set:
                picked_set.add(t)
                picked.append(t)
    picked = [picked[i] for i in rng.permutation(len(picked))][: max(0, max_genes - len(chosen))]
    leaf_edges = leaf_edges[leaf_edges["target"].isin(set(picked))]

    edges = pd.concat([tf_edges, leaf_edges], ignore_index=True)
    g = nx.DiGraph()
    g.add_edges_from(zip(edges["source"], edges["target"], strict=True))
    main = max(nx.weakly_connected_components(g), key=len)
    edges = edges[edges["source"].isin(main)].reset_index(drop=True)
    g = nx.DiGraph()
    g.add_edges_from(zip(edges["source"], edges["target"], strict=True))
    if not nx.is_directed_acyclic_graph(g):  # pragma: no cover - the discovery order forbids cycles
        msg = "internal error: the subnetwork has a cycle"
        raise RuntimeError(msg)
    level: dict[str, int] = {}
    for v in nx.topological_sort(g):
        preds = list(g.predecessors(v))
        level[v] = 1 + max(level[p] for p in preds) if preds else 0
    tfs = [t for t in chosen if t in main and g.out_degree(t) > 0]
    info = {
        "seed": int(seed),
        "roots": roots,
        "tfs": tfs,
        "master_regulators": [t for t in tfs if g.in_degree(t) == 0],
        "level": level,
        "n_tf": len(tfs),
        "n_genes": g.number_of_nodes(),
        "n_edges": len(edges),
        "n_tf_tf_edges": int(edges["target"].isin(set(tfs)).sum()),
        "n_back_edges_dropped": n_back,
        "max_level": max(level.values()),
    }
    return edges[["source", "target", "weight"]], info


def network_frame(adata: Any, key: str = "grn_edges") -> pd.DataFrame:
    """The true network stored by ``simulate`` as a decoupler-style DataFrame ``source, target, weight`` (±1).

    ``hp.pp.gene_network(adata, network_frame(adata), symmetric=False)`` reads it as signed (``varp[...]_sign``)
    and directed.
    """
    e = adata.uns[key]
    return pd.DataFrame(
        {
            "source": np.asarray(e["source"], dtype=str),
            "target": np.asarray(e["target"], dtype=str),
            "weight": np.asarray(e["weight"], dtype=float),
        }
    )


def corrupt_network(edges: pd.DataFrame, frac: float = 0.3, seed: int = 0, genes: Any = None) -> pd.DataFrame:
    """Replace ``frac`` of the edges by random directed edges among ``genes`` (default: the network's genes).

    The number of edges is kept; new edges are not self-loops, not already present, and get a random sign.
    """
    rng = np.random.default_rng(seed)
    e = edges[["source", "target", "weight"]].reset_index(drop=True)
    pool = np.asarray(sorted(set(e["source"]) | set(e["target"])) if genes is None else list(genes), dtype=str)
    n_swap = int(round(frac * len(e)))
    drop = rng.choice(len(e), size=n_swap, replace=False)
    kept = e.drop(index=drop)
    present = set(zip(kept["source"], kept["target"], strict=True))
    new: list[tuple[str, str, float]] = []
    while len(new) < n_swap:
        s, t = rng.choice(pool, size=2, replace=False)
        if (s, t) in present:
            continue
        present.add((s, t))
        new.append((str(s), str(t), float(rng.choice([-1.0, 1.0]))))
    out = pd.concat([kept, pd.DataFrame(new, columns=["source", "target", "weight"])], ignore_index=True)
    return out


# ---------------------------------------------------------------------------------------------------------------
# SERGIO with knock-outs
# ---------------------------------------------------------------------------------------------------------------
def _sergio():
    try:
        from SERGIO import sergio
        from SERGIO.GRN._components import Gene, SingleInteraction
        from SERGIO.GRN._grn import GRN
        from SERGIO.MR._profile import mrProfile
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(INSTALL_HINT) from err
    return sergio, Gene, SingleInteraction, GRN, mrProfile


def _knockout_gene_class(Gene: type) -> type:
    """A SERGIO ``Gene`` with a per-condition production mask and array-backed trajectories.

    ``ko_mask_`` (one factor per condition, 0 where the gene is knocked out) multiplies the production. The
    trajectory is kept as a list of per-iteration vectors (SERGIO appends to NumPy arrays, quadratic in time);
    every update covers all conditions, which holds when all conditions have the same number of cells.
    """

    class KnockoutGene(Gene):
        ko_mask_: np.ndarray | None = None

        def _calc_prod(self, cTypes, regs_conc="ss"):
            prod = super()._calc_prod(cTypes, regs_conc)
            return prod if self.ko_mask_ is None else prod * self.ko_mask_[cTypes]

        def append_sim_conc(self, conc, cTypes):
            conc = np.maximum(np.asarray(conc, dtype=float).ravel(), 0.0)
            if not hasattr(self, "traj_"):
                self.traj_ = []
            if len(cTypes) != len(conc) or (self.traj_ and len(conc) != len(self.traj_[0])):
                msg = "KnockoutGene needs every condition updated at every step (equal cells per condition)"
                raise RuntimeError(msg)
            self.traj_.append(conc)

        def get_last_conc(self, cTypes):
            return self.traj_[-1][cTypes]

    return KnockoutGene


@contextlib.contextmanager
def _global_numpy_seed(seed: int) -> Iterator[None]:
    """SERGIO draws from NumPy's global generator: seed it, and put the caller's state back afterwards."""
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        np.random.set_state(state)


def _make_grn(edges: pd.DataFrame, k: np.ndarray, classes, half: dict | None = None, hill: float = 2.0, decay=0.8):
    _, _, SingleInteraction, GRN, _ = classes
    KnockoutGene = _knockout_gene_class(classes[1])
    grn = GRN()
    genes: dict[str, Any] = {}

    def gene(name: str):
        if name not in genes:
            genes[name] = KnockoutGene(name=name, decay=decay)
        return genes[name]

    for (s, t), kk in zip(zip(edges["source"], edges["target"], strict=True), k, strict=True):
        h = None if half is None else half[(s, t)]
        grn.add_interaction(SingleInteraction(reg=[gene(s)], tar=gene(t), k=float(kk), h=h, n=hill))
    grn.setMRs()
    return grn


def _profile(classes, mrs: list[str], rates: dict[str, float], n_types: int):
    mrProfile = classes[4]
    p = mrProfile(MR_names=mrs, n_types=n_types)
    p.profile = {m: np.full(n_types, rates[m], dtype=float) for m in mrs}
    p.init_ = True
    return p


def simulate_conditions(
    edges: pd.DataFrame,
    k: np.ndarray,
    conditions: list[str],
    mr_rates: dict[str, float],
    *,
    n_cells: int,
    seed: int,
    noise_s: float = 1.0,
    dt: float = 0.05,
    safety_iter: int = 150,
    scale_iter: int = 20,
    hill: float = 2.0,
    decay: float = 0.8,
) -> tuple[pd.DataFrame, dict[tuple[str, str], float]]:
    """Noise-free SERGIO expression (genes x cells, ``n_cells`` per condition) with knock-outs.

    ``conditions`` names, per SERGIO cell type, the knocked-out gene or anything else for no knock-out. The
    half-responses come from the wild-type network (returned as the second value).
    """
    classes = _sergio()
    sergio = classes[0]
    with _global_numpy_seed(seed):
        wt = _make_grn(edges, k, classes, hill=hill, decay=decay)
        mrs = sorted(wt.get_mrs())
        wt.init(_profile(classes, mrs, mr_rates, 1), update_half_resp=True)
        half = {(i.reg_[0].name_, i.tar_.name_): float(i.h_) for i in wt.attr_["interactions"].values()}

        grn = _make_grn(edges, k, classes, half=half, hill=hill, decay=decay)
        cond = np.asarray(conditions, dtype=object)
        for name, gene in grn.attr_["genes"].items():
            hit = cond == name
            if hit.any():
                gene.ko_mask_ = np.where(hit, 0.0, 1.0)
        grn.init(_profile(classes, mrs, mr_rates, len(conditions)), update_half_resp=False)
        sim = sergio(grn)
        sim.simulate(nCells=int(n_cells), noise_s=noise_s, safety_iter=safety_iter, scale_iter=scale_iter, dt=dt)
        n_steps = n_cells * scale_iter
        # one snapshot per cell, drawn from the steps after the burn-in (as SERGIO's getSimExpr does)
        steps = safety_iter + 1 + np.random.randint(0, n_steps, size=(len(conditions), n_cells))
    names = list(grn.attr_["genes"])
    cols = np.repeat(np.arange(len(conditions)), n_cells)
    rows = steps.ravel()
    expr = np.empty((len(names), rows.size))
    for gi, name in enumerate(names):
        traj = np.stack(grn.attr_["genes"][name].traj_)  # steps x conditions
        expr[gi] = traj[rows, cols]
    return pd.DataFrame(expr, index=names), half


def technical_noise(
    clean: np.ndarray,
    seed: int,
    *,
    library_mu: float = 7.0,
    library_sigma: float = 0.3,
    dropout_slope: float = 6.5,
    dropout_percentile: float = 20.0,
) -> np.ndarray:
    """UMI counts (cells x genes) from noise-free expression: library size, logistic dropout, Poisson sampling.

    Each cell is rescaled to a library size drawn from LogNormal(``library_mu``, ``library_sigma``); an entry is
    kept with probability ``1 / (1 + exp(-slope * (log1p(x) - m)))`` where ``m`` is the ``dropout_percentile``-th
    percentile of ``log1p(x)`` over the matrix; counts are Poisson with the kept means.
    """
    rng = np.random.default_rng([int(seed), 21])
    x = np.asarray(clean, dtype=float)
    lib = rng.lognormal(library_mu, library_sigma, size=x.shape[0])
    x = x * (lib / np.maximum(x.sum(1), 1e-12))[:, None]
    lx = np.log1p(x)
    mid = np.percentile(lx, dropout_percentile)
    keep = rng.random(x.shape) < 1.0 / (1.0 + np.exp(-dropout_slope * (lx - mid)))
    return rng.poisson(x * keep)


def simulate(
    seed: int,
    *,
    n_cells: int = 60,
    n_control_groups: int = 6,
    n_null: int = 5,
    noise_s: float = 1.0,
    dt: float = 0.05,
    safety_iter: int = 150,
    scale_iter: int = 20,
    library_mu: float = 7.0,
    library_sigma: float = 0.3,
    dropout_slope: float = 6.5,
    dropout_percentile: float = 20.0,
    grn_kwargs: dict | None = None,
    verbose: bool = False,
):
    """One knock-out screen on the CollecTRI subnetwork of ``build_grn(seed)``.

    Conditions: ``n_control_groups`` independent control trajectories (``"non-targeting"``), one knock-out per TF
    and ``n_null`` knock-outs of leaf genes, ``n_cells`` cells each. Edge strengths ``k`` are drawn uniformly in
    [1, 5] with the CollecTRI sign; master-regulator production rates are "low" (U[1, 2.5]) or "high"
    (U[3.5, 5]) with equal odds, the same in every condition; Hill coefficient 2, decay 0.8.
    """
    import anndata as ad
    from scipy import sparse

    _sergio()  # fail before any work when the optional extra is missing
    t0 = time.perf_counter()
    edges, info = build_grn(seed, **(grn_kwargs or {}))
    rng = np.random.default_rng(seed)
    k = edges["weight"].to_numpy(float) * rng.uniform(1.0, 5.0, len(edges))
    mrs = sorted(set(edges["source"]) - set(edges["target"]))
    rates = {m: float(rng.uniform(3.5, 5.0) if rng.random() < 0.5 else rng.uniform(1.0, 2.5)) for m in mrs}
    leaves = sorted(set(edges["target"]) - set(edges["source"]))
    nulls = [str(x) for x in rng.choice(leaves, size=min(n_null, len(leaves)), replace=False)]
    tfs = list(info["tfs"])
    conditions = [f"{CONTROL}_{i}" for i in range(n_control_groups)] + tfs + nulls
    clean, half = simulate_conditions(
        edges,
        k,
        conditions,
        rates,
        n_cells=n_cells,
        seed=seed,
        noise_s=noise_s,
        dt=dt,
        safety_iter=safety_iter,
        scale_iter=scale_iter,
    )
    t_sde = time.perf_counter() - t0
    genes = list(clean.index)
    clean_cg = clean.to_numpy().T
    counts = technical_noise(
        clean_cg,
        seed,
        library_mu=library_mu,
        library_sigma=library_sigma,
        dropout_slope=dropout_slope,
        dropout_percentile=dropout_percentile,
    ).astype(np.float32)
    lib = counts.sum(1)
    norm = counts / np.maximum(lib, 1.0)[:, None] * np.median(lib)
    group = np.repeat(conditions, n_cells)
    pert = np.where(pd.Series(group).str.startswith(f"{CONTROL}_"), CONTROL, group)
    obs = pd.DataFrame(
        {
            "perturbation": pd.Categorical(pert, categories=[CONTROL, *tfs, *nulls]),
            "condition": pd.Categorical(group, categories=conditions),
            "is_control": pert == CONTROL,
            "is_tf_ko": np.isin(pert, tfs),
            "is_null_ko": np.isin(pert, nulls),
        },
        index=pd.Index([f"cell_{i:05d}" for i in range(len(pert))]),
    )
    var = pd.DataFrame(
        {
            "is_tf": np.isin(genes, tfs),
            "level": [int(info["level"][g]) for g in genes],
            "is_master_regulator": np.isin(genes, info["master_regulators"]),
        },
        index=pd.Index(genes),
    )
    a = ad.AnnData(X=sparse.csr_matrix(np.log1p(norm).astype(np.float32)), obs=obs, var=var)
    a.layers["counts"] = sparse.csr_matrix(counts)
    a.layers["clean"] = clean_cg.astype(np.float32)
    a.uns["grn_edges"] = {
        "source": edges["source"].astype(str).tolist(),
        "target": edges["target"].astype(str).tolist(),
        "weight": edges["weight"].astype(float).tolist(),
        "k": [float(x) for x in k],
        "half_response": [float(half[(s, t)]) for s, t in zip(edges["source"], edges["target"], strict=True)],
    }
    a.uns["grn_info"] = {key: val for key, val in info.items() if key != "level"}
    a.uns["sim"] = {
        "engine": "SERGIO v2 steady-state CLE (sergio-scsim) + per-condition knock-out mask, wild-type half-responses",
        "seed": int(seed),
        "n_cells": int(n_cells),
        "n_control_groups": int(n_control_groups),
        "nulls": nulls,
        "master_regulator_rates": {m: float(v) for m, v in rates.items()},
        "noise_s": float(noise_s),
        "dt": float(dt),
        "safety_iter": int(safety_iter),
        "scale_iter": int(scale_iter),
        "technical_noise": {
            "library_mu": float(library_mu),
            "library_sigma": float(library_sigma),
            "dropout_slope": float(dropout_slope),
            "dropout_percentile": float(dropout_percentile),
        },
        "seconds_sde": float(t_sde),
        "seconds": float(time.perf_counter() - t0),
    }
    if verbose:
        print(json.dumps({"seed": seed, "shape": a.shape, **a.uns["grn_info"], "seconds": a.uns["sim"]["seconds"]}))
    return a


def load_screen(path: str | os.PathLike):
    """Read a cached screen (``anndata.read_h5ad``)."""
    import anndata as ad

    return ad.read_h5ad(path)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Simulate SERGIO knock-out screens (issue 21) and write ko_seed{N}.h5ad.")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "_screens"))
    p.add_argument("--n-cells", type=int, default=60, help="cells per condition")
    p.add_argument("--n-tf", type=int, default=40, help="TFs in the subnetwork (each is knocked out)")
    p.add_argument("--max-genes", type=int, default=300, help="genes in the subnetwork at most")
    p.add_argument("--noise-s", type=float, default=1.0, help="SERGIO's intrinsic noise amplitude")
    p.add_argument("--force", action="store_true", help="re-simulate screens that exist already")
    args = p.parse_args(argv)
    _sergio()  # fail early with the install hint
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        f = out / f"ko_seed{seed}.h5ad"
        if f.exists() and not args.force:
            print(f"{f} exists (use --force to re-simulate)")
            continue
        a = simulate(
            seed,
            n_cells=args.n_cells,
            noise_s=args.noise_s,
            grn_kwargs={"n_tf": args.n_tf, "max_genes": args.max_genes},
            verbose=True,
        )
        tmp = f.with_suffix(".tmp.h5ad")
        a.write_h5ad(tmp)
        tmp.replace(f)
        print(f"wrote {f} ({a.n_obs} cells x {a.n_vars} genes, {a.uns['sim']['seconds']:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
