"""Variants of the propagation readout, scored by its own leave-one-out on SERGIO knock-out screens (issue 21).

A diagnostic, not a benchmark of the package: ``hp.tl.train`` runs on each full screen (true and 30 %-corrupted
network) with the readout's inputs captured (the excess profiles, the left-out columns, the node operator); then
each variant's propagation candidates replace the package's six (``NORMS`` × ``ALPHA_GRID``) in the same
leave-one-out choice (:func:`hyperperturb.tl._transfer._transfer.fit_transfer`: priors, per-gene gains, on-target
term), and the best propagation readout's leave-one-out residual score is reported. Variants:

- ``current``: raw or in-strength-normalised signed edges, hop weights 0 / 0.5 / 1, 3 hops (the package's grid
  before ``"in-log"``);
- ``in-log``: raw strengths, or the in-normalised change read as the fraction of its input each gene loses and
  turned into a log1p shift with the gene's control mean (the package's grid now, ``NORMS = ("none", "in-log")``);
- ``hops5``: the same over 5 hops;
- ``pseudocount``: each target's input divided by (in-strength + c), c ∈ {0.5, 1} (a basal production share);
- ``sqrt-in``: divided by √(in-strength);
- ``unsigned``: |M| (paths never cancel);
- ``ensemble``: the mean of the six current profiles (each scaled to mean 1), and of each normalisation's three.

Second, per direct edge ``s → t`` of the true network whose source was knocked out: Spearman of the observed
|shift| of ``t`` under the knock-out of ``s`` with 1/in-degree(t) (what ``norm="in"`` encodes), with SERGIO's
true |strength|, and with the |correlation| of ``s`` and ``t`` over control cells (centred per control
trajectory) — whether control-cell co-expression could weight the edges — and with a "leftover share": what the
target's other *screened* regulators do not already explain, ``max(0, 1 − Σ_r rel_r) / (number of its regulators
not screened, s included)``, ``rel_r`` the target's relative change of mean expression under the knock-out of ``r``
(``--leftover-layer``: the noise-free concentrations ``clean`` or normalised ``counts``).

Third, whether the gene map can tell the corrupted edges from the true ones: the AUROC of the negative Poincaré
distance between an edge's endpoints in separating the true edges kept in the 30 %-corrupted network from the
random ones (maps of ``hp.tl.train`` at dim 2 and 5 on the corrupted network).

    python benchmarks/bench_propagation_variants.py --screens DIR [--seeds 0 1 2 3] [--leftover-layer clean]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse, stats

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anndata as ad
import bench_knockout as bk
import knockout_screens as ks

import hyperperturb as hp
import hyperperturb.tl._transfer._propagation as PR
import hyperperturb.tl._transfer._transfer as T

#: The normalisations of the grid this diagnostic was written against (the package now scans "none" and "in-log").
OLD_NORMS = ("none", "in")
KEYS = [f"{n}/{a:g}" for n in OLD_NORMS for a in PR.ALPHA_GRID]  # six slots the choice knows how to read


def capture(a, dim: int = 2, *, geometry: str = "poincare", epochs: int = 1) -> dict:
    """Train on ``a`` and return the readout's inputs (``fit_transfer``'s arguments, the operator, the sources).

    Also ``z``: the gene map ``.varm["X_poincare"]`` that training wrote.
    """
    box: dict = {}
    fit0, cand0 = T.fit_transfer, PR.candidate_profiles

    def fit(E, cv_idx, **kw):
        box.update(E=E, cv_idx=cv_idx, kw=kw)
        return fit0(E, cv_idx, **kw)

    def cand(M, sources, n_genes, level=None):
        box.update(M=M, sources=sources, n_genes=n_genes, level=level)
        return cand0(M, sources, n_genes, level=level)

    T.fit_transfer, PR.candidate_profiles = fit, cand
    try:
        hp.tl.train(a, epochs=epochs, dim=dim, geometry=geometry, seed=0, verbose=False)
    finally:
        T.fit_transfer, PR.candidate_profiles = fit0, cand0
    box["z"] = np.asarray(a.varm["X_poincare"], dtype=np.float64)
    return box


def loo_score(box: dict, profiles: list[np.ndarray]) -> float:
    kw = dict(box["kw"])
    kw["propagation"] = {KEYS[i]: np.asarray(p, dtype=np.float64) for i, p in enumerate(profiles)}
    return float(T.fit_transfer(box["E"], box["cv_idx"], **kw).get("propagation_cv_score", np.nan))


def _prop(M, src, n, alpha, hops=PR.HOPS):
    return np.abs(PR.propagate(M, src, alpha=alpha, hops=hops))[:n]


def _scaled(M, inv):
    return sparse.csr_matrix(M @ sparse.diags(inv))


def variants(M, src, n, level=None) -> dict[str, list[np.ndarray]]:
    s = np.asarray(abs(M).sum(axis=0)).ravel()
    safe = np.where(s > 0, s, 1.0)
    cur = [_prop(PR.normalise(M, nm), src, n, a) for nm in OLD_NORMS for a in PR.ALPHA_GRID]
    unit = [c / max(float(c.mean()), 1e-12) for c in cur]
    return {
        "current": cur,
        "hops5": [_prop(PR.normalise(M, nm), src, n, a, hops=5) for nm in OLD_NORMS for a in PR.ALPHA_GRID],
        "pseudocount": [
            _prop(_scaled(M, np.where(s > 0, 1 / (s + c), 0)), src, n, a) for c in (0.5, 1.0) for a in PR.ALPHA_GRID
        ],
        "sqrt-in": [_prop(_scaled(M, np.where(s > 0, 1 / np.sqrt(safe), 0)), src, n, a) for a in PR.ALPHA_GRID],
        "unsigned": [_prop(PR.normalise(abs(M).tocsr(), nm), src, n, a) for nm in OLD_NORMS for a in PR.ALPHA_GRID],
        "ensemble": [np.mean(unit, axis=0), np.mean(unit[:3], axis=0), np.mean(unit[3:], axis=0)],
        **(
            {}
            if level is None
            else {
                "in-log": cur[:3] + [PR.profile(M, src, n, norm="in-log", alpha=a, level=level) for a in PR.ALPHA_GRID]
            }
        ),
    }


def _dense(X) -> np.ndarray:
    return X.toarray() if sparse.issparse(X) else np.asarray(X, dtype=np.float64)


def leftover_share(a, layer: str) -> tuple[int, float, float]:
    """Spearman of the target's relative change under ``s`` with 1/in-degree and with the leftover share."""
    X = _dense(a.layers[layer])
    if layer == "counts":
        X = X / X.sum(axis=1, keepdims=True) * 1e4
    pert = a.obs["perturbation"].astype(str).to_numpy()
    mu0 = X[pert == ks.CONTROL].mean(0)
    gi = {g: i for i, g in enumerate(map(str, a.var_names))}
    mu = {p: X[pert == p].mean(0) for p in np.unique(pert) if p in gi}
    e = pd.DataFrame({k: np.asarray(v) for k, v in a.uns["grn_edges"].items()})
    e = e[e["source"].isin(gi) & e["target"].isin(gi)]
    regs = e.groupby("target")["source"].apply(list).to_dict()
    rows = []
    for s, t in zip(e["source"], e["target"], strict=True):
        if s not in mu:
            continue
        ti = gi[t]

        def rel(r: str, ti: int = ti) -> float:
            return abs(mu[r][ti] - mu0[ti]) / max(mu0[ti], 1e-12)

        done = [r for r in regs[t] if r != s and r in mu]
        left = max(0.0, 1.0 - sum(min(rel(r), 1.0) for r in done)) / (len(regs[t]) - len(done))
        rows.append((rel(s), 1.0 / len(regs[t]), left))
    d = np.asarray(rows)
    return len(d), float(stats.spearmanr(d[:, 0], d[:, 1])[0]), float(stats.spearmanr(d[:, 0], d[:, 2])[0])


def map_auroc(a, corrupted: pd.DataFrame, true: pd.DataFrame, dim: int) -> float:
    """AUROC of −(Poincaré distance) for the true edges kept in ``corrupted`` against its random ones."""
    from sklearn.metrics import roc_auc_score

    b = a.copy()
    hp.tl.train(b, epochs=1, dim=dim, seed=0, verbose=False)
    z = np.asarray(b.varm["X_poincare"], dtype=np.float64)
    gi = {g: i for i, g in enumerate(map(str, b.var_names))}
    c = corrupted[corrupted["source"].isin(gi) & corrupted["target"].isin(gi)]
    i, j = c["source"].map(gi).to_numpy(), c["target"].map(gi).to_numpy()
    kept = set(zip(true["source"], true["target"], strict=True))
    label = np.array([(u, v) in kept for u, v in zip(c["source"], c["target"], strict=True)])
    sq = ((z[i] - z[j]) ** 2).sum(1)
    den = (1 - (z[i] ** 2).sum(1)) * (1 - (z[j] ** 2).sum(1))
    dist = np.arccosh(1 + 2 * sq / np.maximum(den, 1e-12))
    return float(roc_auc_score(label, -dist))


def edge_table(a) -> dict[str, float]:
    X = _dense(a.X)
    pert = a.obs["perturbation"].astype(str).to_numpy()
    ctrl = pert == ks.CONTROL
    grp = a.obs.loc[ctrl, "condition"].astype(str).to_numpy()
    Xc = X[ctrl].astype(np.float64)
    for g in np.unique(grp):
        Xc[grp == g] -= Xc[grp == g].mean(0)
    Z = Xc / np.where(Xc.std(0) > 0, Xc.std(0), 1.0)
    gi = {g: i for i, g in enumerate(map(str, a.var_names))}
    e = pd.DataFrame({k: np.asarray(v) for k, v in a.uns["grn_edges"].items()})
    indeg = e.groupby("target").size()
    mu0, kos = X[ctrl].mean(0), set(pert)
    rows = [
        (abs(X[pert == s, gi[t]].mean() - mu0[gi[t]]), 1 / indeg[t], abs(k), abs((Z[:, gi[s]] * Z[:, gi[t]]).mean()))
        for s, t, k in zip(e["source"], e["target"], e["k"], strict=True)
        if s in gi and t in gi and s in kos
    ]
    d = pd.DataFrame(rows, columns=["shift", "inv_indeg", "strength", "ctrl_corr"])
    return {
        "edges": len(d),
        **{f"rho(|shift|, {c})": float(stats.spearmanr(d["shift"], d[c])[0]) for c in d.columns[1:]},
        "rho(|shift|, |corr|^0.25/indeg)": float(
            stats.spearmanr(d["shift"], d["ctrl_corr"] ** 0.25 * d["inv_indeg"])[0]
        ),
    }


def _markdown(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--screens", required=True, help="folder with ko_seed{N}.h5ad (knockout_screens.py)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--leftover-layer", default="clean", choices=["clean", "counts"])
    ap.add_argument("--map-dims", type=int, nargs="*", default=[2, 5], help="dims of the edge-AUROC maps")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rows, edges, maps = [], [], []
    for seed in args.seeds:
        screen = ad.read_h5ad(Path(args.screens) / f"ko_seed{seed}.h5ad")
        n_e, rho_in, rho_left = leftover_share(screen, args.leftover_layer)
        edges.append({"seed": seed, **edge_table(screen), "rho(rel, 1/indeg)": rho_in, "rho(rel, leftover)": rho_left})
        for net in ("true", "corrupted"):
            a = screen.copy()
            edges_net = bk.network(a, net, seed, bk.GRID)
            bk.prepare(a, edges_net, directed=False)
            if net == "corrupted":
                true = bk.network(screen, "true", seed, bk.GRID)
                maps.append(
                    {"seed": seed, **{f"AUROC dim {d}": map_auroc(a, edges_net, true, d) for d in args.map_dims}}
                )
            box = capture(a)
            for name, prof in variants(box["M"], box["sources"], box["n_genes"], box.get("level")).items():
                rows.append({"seed": seed, "network": net, "variant": name, "loo_residual": loo_score(box, prof)})
            print(pd.DataFrame(rows).tail(6).to_string(index=False), flush=True)
    tab = pd.DataFrame(rows).pivot_table(index=["seed", "network"], columns="variant", values="loo_residual")
    tab.loc[("mean", ""), :] = tab.mean()
    print("\nLeave-one-out residual of the best propagation readout per variant\n")
    print(_markdown(tab.round(4).reset_index()))
    print("\nDirect edges: what predicts the observed |shift| of the target (Spearman)\n")
    print(_markdown(pd.DataFrame(edges).round(3)))
    if args.map_dims:
        print("\nCan the map tell the corrupted edges? AUROC of -(Poincaré distance), kept true vs random edges\n")
        print(_markdown(pd.DataFrame(maps).round(3)))


if __name__ == "__main__":
    main()
