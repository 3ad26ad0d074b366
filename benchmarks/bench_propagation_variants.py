"""Variants of the propagation readout, scored by its own leave-one-out on SERGIO knock-out screens (issue 21).

A diagnostic, not a benchmark of the package: ``hp.tl.train`` runs on each full screen (true and 30 %-corrupted
network) with the readout's inputs captured (the excess profiles, the left-out columns, the node operator); then
each variant's propagation candidates replace the package's six (``NORMS`` × ``ALPHA_GRID``) in the same
leave-one-out choice (:func:`hyperperturb.tl._transfer._transfer.fit_transfer`: priors, per-gene gains, on-target
term), and the best propagation readout's leave-one-out residual score is reported. Variants:

- ``current``: raw or in-strength-normalised signed edges, hop weights 0 / 0.5 / 1, 3 hops (the package);
- ``hops5``: the same over 5 hops;
- ``pseudocount``: each target's input divided by (in-strength + c), c ∈ {0.5, 1} (a basal production share);
- ``sqrt-in``: divided by √(in-strength);
- ``unsigned``: |M| (paths never cancel);
- ``ensemble``: the mean of the six current profiles (each scaled to mean 1), and of each normalisation's three.

Second, per direct edge ``s → t`` of the true network whose source was knocked out: Spearman of the observed
|shift| of ``t`` under the knock-out of ``s`` with 1/in-degree(t) (what ``norm="in"`` encodes), with SERGIO's
true |strength|, and with the |correlation| of ``s`` and ``t`` over control cells (centred per control
trajectory) — whether control-cell co-expression could weight the edges.

    python benchmarks/bench_propagation_variants.py --screens DIR [--seeds 0 1 2 3]
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

KEYS = [f"{n}/{a:g}" for n in PR.NORMS for a in PR.ALPHA_GRID]  # six slots the choice knows how to read


def capture(a) -> dict:
    """Train on ``a`` and return the readout's inputs (``fit_transfer``'s arguments, the operator, the sources)."""
    box: dict = {}
    fit0, cand0 = T.fit_transfer, PR.candidate_profiles

    def fit(E, cv_idx, **kw):
        box.update(E=E, cv_idx=cv_idx, kw=kw)
        return fit0(E, cv_idx, **kw)

    def cand(M, sources, n_genes):
        box.update(M=M, sources=sources, n_genes=n_genes)
        return cand0(M, sources, n_genes)

    T.fit_transfer, PR.candidate_profiles = fit, cand
    try:
        hp.tl.train(a, epochs=1, dim=2, seed=0, verbose=False)
    finally:
        T.fit_transfer, PR.candidate_profiles = fit0, cand0
    return box


def loo_score(box: dict, profiles: list[np.ndarray]) -> float:
    kw = dict(box["kw"])
    kw["propagation"] = {KEYS[i]: np.asarray(p, dtype=np.float64) for i, p in enumerate(profiles)}
    return float(T.fit_transfer(box["E"], box["cv_idx"], **kw).get("propagation_cv_score", np.nan))


def _prop(M, src, n, alpha, hops=PR.HOPS):
    return np.abs(PR.propagate(M, src, alpha=alpha, hops=hops))[:n]


def _scaled(M, inv):
    return sparse.csr_matrix(M @ sparse.diags(inv))


def variants(M, src, n) -> dict[str, list[np.ndarray]]:
    s = np.asarray(abs(M).sum(axis=0)).ravel()
    safe = np.where(s > 0, s, 1.0)
    cur = [_prop(PR.normalise(M, nm), src, n, a) for nm in PR.NORMS for a in PR.ALPHA_GRID]
    unit = [c / max(float(c.mean()), 1e-12) for c in cur]
    return {
        "current": cur,
        "hops5": [_prop(PR.normalise(M, nm), src, n, a, hops=5) for nm in PR.NORMS for a in PR.ALPHA_GRID],
        "pseudocount": [
            _prop(_scaled(M, np.where(s > 0, 1 / (s + c), 0)), src, n, a) for c in (0.5, 1.0) for a in PR.ALPHA_GRID
        ],
        "sqrt-in": [_prop(_scaled(M, np.where(s > 0, 1 / np.sqrt(safe), 0)), src, n, a) for a in PR.ALPHA_GRID],
        "unsigned": [_prop(PR.normalise(abs(M).tocsr(), nm), src, n, a) for nm in PR.NORMS for a in PR.ALPHA_GRID],
        "ensemble": [np.mean(unit, axis=0), np.mean(unit[:3], axis=0), np.mean(unit[3:], axis=0)],
    }


def edge_table(a) -> dict[str, float]:
    X = a.X.toarray() if sparse.issparse(a.X) else np.asarray(a.X)
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
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rows, edges = [], []
    for seed in args.seeds:
        screen = ad.read_h5ad(Path(args.screens) / f"ko_seed{seed}.h5ad")
        edges.append({"seed": seed, **edge_table(screen)})
        for net in ("true", "corrupted"):
            a = screen.copy()
            bk.prepare(a, bk.network(a, net, seed, bk.GRID), directed=False)
            box = capture(a)
            for name, prof in variants(box["M"], box["sources"], box["n_genes"]).items():
                rows.append({"seed": seed, "network": net, "variant": name, "loo_residual": loo_score(box, prof)})
            print(pd.DataFrame(rows).tail(6).to_string(index=False), flush=True)
    tab = pd.DataFrame(rows).pivot_table(index=["seed", "network"], columns="variant", values="loo_residual")
    tab.loc[("mean", ""), :] = tab.mean()
    print("\nLeave-one-out residual of the best propagation readout per variant\n")
    print(_markdown(tab.round(4).reset_index()))
    print("\nDirect edges: what predicts the observed |shift| of the target (Spearman)\n")
    print(_markdown(pd.DataFrame(edges).round(3)))


if __name__ == "__main__":
    main()
