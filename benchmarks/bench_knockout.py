"""Held-out prediction, design and in-sample ranking on SERGIO knock-out screens with a known network (issue 21).

Usage::

    python benchmarks/knockout_screens.py --seeds 0 1 2 3 4 --out benchmarks/_screens   # once (pip install -e ".[benchmark]")
    python benchmarks/bench_knockout.py [--seeds 0 1 2] [--network true|corrupted|both] [--parts evaluate,design,insample]
        [--screens benchmarks/_screens] [--out benchmarks/_knockout_results] [--quick] [--report-only]

Per screen (``ko_seed{N}.h5ad``: 40 TF knock-outs + 5 null knock-outs of leaf genes, ~300 genes, 60 cells each,
controls from 6 independent trajectories) and per network (the TRUE CollecTRI subnetwork the screen was simulated
from, and a copy with 30 % of its edges replaced by random ones among the screen's genes):

1. ``evaluate`` — ``hp.pp.perturbations`` → ``hp.pp.gene_network(edges, signed)`` → ``hp.tl.rewards`` →
   ``hp.tl.evaluate`` (random splits holding out 20 % of the knock-outs): the model, the random-embedding floor,
   the Euclidean ablation, the mean/median/linear baselines and the split-half ceiling; plus two baselines computed
   here on the same splits: ``median+on-target`` (the per-gene median of the training profiles plus, at the held-out
   target gene's row, the on-target amplitude learned from the training knock-outs exactly as the package's readout
   defines it in ``tl/_transfer.py``: no network, no held-out data) and ``median+observed-on-target`` (an oracle: the
   target gene's row set to its *observed* held-out reward). Paired Wilcoxon p-values per screen and pooled.
2. ``design`` — 25 % of the knock-outs are "screened" (the sub-screen is re-processed and the model trained on it
   alone), the next 10 are proposed among the remaining knock-outs. Score = the proposals' share of the best
   possible total effect (sum of the 10 largest effects among the candidates), with a knock-out's effect measured on
   the full screen as the sum over genes of |mean shift| of log expression against control (and, second table, the
   number of genes moved beyond 3 SD of the control-trajectory means). Strategies: ``hp.tl.design`` greedy (model)
   and ucb, the package's degree strategy (undirected degree), out-degree in the given network, and random
   (expected share over 2,000 draws).
3. ``insample`` — the model trained on the full screen: per gene, the AUROC with which ``hp_policy`` ranks the
   gene's true direct regulators (TF→gene edges of the TRUE network) above the other knock-outs (the knock-out of
   the gene itself left out), against the data-only |mean shift| score and the reward ``hp_reward`` itself; and the
   Spearman correlation of ``hp_value`` with the number of true regulators.

Fixed before any run (never tuned on the reported seeds): epochs 100, dim 2, 3 random splits × 20 % held out
(27 scored knock-outs per screen, 81 pooled over 3 screens), split seed 0, 3 design draws × 25 % screened (9 screen ×
draw pairs over 3 screens), 10 proposals, 30 % corruption (corruption seed = screen seed). About 10 trainings per
screen and network: 15–25 min per screen and network on 2 shared cores.
Seed 4 is the untouched final check: it is refused unless ``--final`` is passed; report it once, at the end.
``--quick`` (5 epochs, 2 splits, 1 design draw) only checks that the script runs.
Results are cached per (screen, network, part) as JSON under ``--out``; ``--report-only`` prints the tables from
the cache. Caveat: SERGIO's cells of a condition come from one trajectory, so ceilings are optimistic and null
knock-outs can still move a few genes (see benchmarks/knockout_screens.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

import knockout_screens as ks
from _machine import cpu_name, load_average

import hyperperturb as hp
from hyperperturb._utils._entries import perturbation_columns
from hyperperturb.tl._evaluation._metrics import PER_PERTURBATION, score_split
from hyperperturb.tl._evaluation._scoring import summarize
from hyperperturb.tl._screen._read import read_screen

HERE = Path(__file__).resolve().parent
#: The fixed grid (decided before any run; see the module docstring).
GRID = {
    "epochs": 100,
    "dim": 2,
    "n_splits": 3,
    "holdout_frac": 0.2,
    "split_seed": 0,
    "k": 20,
    "models": ("hyperperturb", "hyperperturb-random-embedding", "hyperperturb-euclidean"),
    "baselines": ("mean", "median", "linear", "ceiling"),
    "design_draws": 3,
    "screened_frac": 0.25,
    "n_propose": 10,
    "random_draws": 2000,
    "corrupt_frac": 0.3,
}
QUICK = {"epochs": 5, "n_splits": 2, "design_draws": 1}
FINAL_SEED = 4
ORDER = [
    "hyperperturb",
    "hyperperturb-random-embedding",
    "hyperperturb-euclidean",
    "median+on-target",
    "median+scaled-on-target",
    "median+observed-on-target",
    "median",
    "mean",
    "linear",
    "ceiling",
]
SHOW = ["residual_pearson", "spearman_excess", "retrieval_rank", "retrieval_top1"]


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------
def network(a, which: str, seed: int, grid: dict) -> pd.DataFrame:
    """The true network of the screen or its corrupted copy (decoupler format, weight = ±1)."""
    true = ks.network_frame(a)
    if which == "true":
        return true
    return ks.corrupt_network(true, frac=grid["corrupt_frac"], seed=seed, genes=list(map(str, a.var_names)))


def prepare(a, edges: pd.DataFrame, directed: bool) -> None:
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, edges, symmetric=not directed)
    hp.tl.rewards(a, verbose=False)


def train_kwargs(grid: dict) -> dict:
    return {"epochs": grid["epochs"], "dim": grid["dim"]}


def mean_shift(a) -> tuple[pd.DataFrame, pd.Series]:
    """Genes x knock-outs: mean log expression minus the control mean; and the SD of the control trajectories' means."""
    X = a.X.toarray() if hasattr(a.X, "toarray") else np.asarray(a.X)
    pert = a.obs["perturbation"].astype(str).to_numpy()
    ctrl = pert == ks.CONTROL
    mu0 = X[ctrl].mean(0)
    kos = [p for p in a.obs["perturbation"].cat.categories if p != ks.CONTROL]
    D = pd.DataFrame({p: X[pert == p].mean(0) - mu0 for p in kos}, index=list(map(str, a.var_names)))
    groups = a.obs.loc[ctrl, "condition"].astype(str).to_numpy()
    gm = np.stack([X[ctrl][groups == g].mean(0) for g in np.unique(groups)])
    return D, pd.Series(gm.std(0, ddof=1), index=D.index)


# ---------------------------------------------------------------------------------------------------------------
# 1. held-out evaluation
# ---------------------------------------------------------------------------------------------------------------
def _extra_baselines(a, grid: dict) -> pd.DataFrame:
    """``median+on-target`` and the oracle ``median+observed-on-target`` on the splits of the last hp.tl.evaluate."""
    ent = a.uns["hyperperturb"]["evaluation"]
    screen = read_screen(a, needed_by="bench_knockout")
    col = {str(n): i for i, n in enumerate(screen.names)}
    eligible_idx = np.flatnonzero(screen.eligible)
    cand_pos = {int(c): i for i, c in enumerate(eligible_idx)}
    det = ent["detectability"]
    det = dict(zip(det["perturbation"].astype(str), det["effect"].astype(str), strict=True))
    excess = not screen.signed
    B = screen.baseline
    metrics = tuple(m for m in PER_PERTURBATION if m in ent["params"]["metrics"])
    rows = []
    for s, held_all in ent["splits"].items():
        all_cols = np.asarray([col[str(n)] for n in held_all], dtype=np.int64)
        held = np.asarray([col[str(n)] for n in ent["scored"][s]], dtype=np.int64)
        train = np.setdiff1d(np.arange(screen.names.size), all_cols)
        R = screen.reward[:, train]
        E = R - (B[:, None] if excess else 0.0)
        # the package's on-target amplitude (tl/_transfer.py): mean over training knock-outs with a measured target
        # of the target row's excess minus the mean of that row over the other training knock-outs
        t_rows = screen.target_index[train]
        has = np.flatnonzero(t_rows >= 0)
        n = E.shape[1]
        full = E.mean(axis=1)
        o = E[t_rows[has], has] - (full[t_rows[has]] * n - E[t_rows[has], has]) / (n - 1)
        amp = float(o.mean()) if has.size else 0.0
        # the scaled on-target term (on_target_mode "scaled"): amplitude proportional to the target's control mean
        cm = a.var["hp_control_mean"].to_numpy(np.float64)
        lv = cm[t_rows[has]]
        amp_s = float((o * lv).sum() / max(float((lv * lv).sum()), 1e-300)) if has.size else 0.0
        med = np.median(R, axis=1)
        obs = screen.reward[:, held]
        pred = np.repeat(med[:, None], held.size, axis=1)
        oracle = pred.copy()
        scaled = pred.copy()
        for j, c in enumerate(held):
            t = screen.target_index[c]
            if t >= 0:
                pred[t, j] += amp
                scaled[t, j] += amp_s * cm[t]
                oracle[t, j] = obs[t, j]
        kw = {
            "excess": excess,
            "metrics": metrics,
            "k": grid["k"],
            "train_mean": R.mean(axis=1),
            "candidates": screen.reward[:, eligible_idx],
            "true_index": np.asarray([cand_pos[int(c)] for c in held]),
        }
        for name, P in (
            ("median+on-target", pred),
            ("median+scaled-on-target", scaled),
            ("median+observed-on-target", oracle),
        ):
            per, _ = score_split(P, obs, B, **kw)
            for metric, vals in per.items():
                for j, c in enumerate(held):
                    p = str(screen.names[c])
                    rows.append(
                        {
                            "split": int(s),
                            "model": name,
                            "perturbation": p,
                            "metric": metric,
                            "value": float(vals[j]),
                            "effect": det.get(p, "none"),
                        }
                    )
    return pd.DataFrame(rows)


def run_evaluate(a, seed: int, grid: dict) -> dict:
    t0 = time.perf_counter()
    hp.tl.evaluate(
        a,
        n_splits=grid["n_splits"],
        holdout_frac=grid["holdout_frac"],
        seed=grid["split_seed"],
        models=grid["models"],
        baselines=grid["baselines"],
        train_kwargs=train_kwargs(grid),
        k=grid["k"],
        verbose=False,
    )
    res = hp.get.evaluation(a, table="results")
    res = pd.concat([res, _extra_baselines(a, grid)], ignore_index=True)
    res = res[res["perturbation"] != "all"]  # per-perturbation metrics only (paired across methods)
    det = hp.get.evaluation(a, table="detectability")
    return {
        "results": res.to_dict(orient="list"),
        "n_detectable": int((det["effect"] == "detectable").sum()),
        "n_scored": len(det),
        "seconds": time.perf_counter() - t0,
    }


# ---------------------------------------------------------------------------------------------------------------
# 2. design
# ---------------------------------------------------------------------------------------------------------------
def run_design(a, edges: pd.DataFrame, seed: int, grid: dict, directed: bool) -> dict:
    t0 = time.perf_counter()
    D, sd = mean_shift(a)
    n_ctrl_groups = a.obs.loc[a.obs["perturbation"] == ks.CONTROL, "condition"].nunique()
    effects = {
        "sum_abs_shift": D.abs().sum(0),
        "n_moved": (D.abs().gt(3 * sd * np.sqrt(1 + 1 / n_ctrl_groups), axis=0)).sum(0).astype(float),
    }
    kos = list(D.columns)
    outdeg = edges.groupby("source").size().reindex(kos).fillna(0.0)
    rows = []
    for d in range(grid["design_draws"]):
        rng = np.random.default_rng([seed, d, 21])
        n_scr = int(round(grid["screened_frac"] * len(kos)))
        screened = sorted(rng.choice(kos, size=n_scr, replace=False).tolist())
        cand = [k for k in kos if k not in screened]
        keep = a.obs["perturbation"].astype(str).isin([ks.CONTROL, *screened]).to_numpy()
        sub = a[keep].copy()
        sub.obs["perturbation"] = sub.obs["perturbation"].astype(str)
        prepare(sub, edges, directed)
        hp.tl.train(sub, seed=seed * 100 + d, verbose=False, **train_kwargs(grid))
        picks = {}
        for strat in ("greedy", "ucb", "degree"):
            hp.tl.design(sub, n=grid["n_propose"], strategy=strat, candidates=cand, seed=d)
            picks[strat] = hp.get.design(sub)["gene"].astype(str).tolist()
        tie = rng.random(len(cand))
        od = outdeg.reindex(cand).to_numpy()
        picks["out-degree"] = [cand[i] for i in np.lexsort((tie, -od))][: grid["n_propose"]]
        for ename, eff in effects.items():
            e = eff.reindex(cand).to_numpy()
            best = np.sort(e)[::-1][: grid["n_propose"]].sum()
            share = {s: float(eff.reindex(p).sum() / best) for s, p in picks.items()}
            draws = np.asarray(
                [e[rng.permutation(len(cand))[: grid["n_propose"]]].sum() / best for _ in range(grid["random_draws"])]
            )
            share["random"] = float(draws.mean())
            for s, v in share.items():
                rows.append({"seed": seed, "draw": d, "effect": ename, "strategy": s, "share": v})
    return {"rows": rows, "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------------------------------------------
# 3. in-sample ranking of true regulators
# ---------------------------------------------------------------------------------------------------------------
def _mean_auroc(score: pd.DataFrame, labels: pd.DataFrame) -> tuple[float, int]:
    aucs = []
    for g in labels.index:
        y = labels.loc[g]
        ok = y.index != g  # the knock-out of the gene itself is not a regulator question
        yy, ss = y[ok].to_numpy(bool), score.loc[g, y.index[ok]].to_numpy(float)
        if yy.all() or not yy.any() or not np.isfinite(ss).all():
            continue
        aucs.append(roc_auc_score(yy, ss))
    return (float(np.mean(aucs)) if aucs else float("nan")), len(aucs)


def run_insample(a, true_edges: pd.DataFrame, seed: int, grid: dict) -> dict:
    t0 = time.perf_counter()
    hp.tl.train(a, seed=seed, verbose=False, **train_kwargs(grid))
    genes = list(map(str, a.var_names))
    pol = pd.DataFrame(np.asarray(a.varm["hp_policy"]), index=genes, columns=perturbation_columns(a, "hp_policy"))
    rew = pd.DataFrame(np.asarray(a.varm["hp_reward"]), index=genes, columns=perturbation_columns(a, "hp_reward"))
    D, _ = mean_shift(a)
    kos = list(D.columns)
    labels = pd.DataFrame(False, index=genes, columns=kos)
    for s, t in zip(true_edges["source"], true_edges["target"], strict=True):
        if s in labels.columns and t in labels.index:
            labels.loc[t, s] = True
    out = {"seconds": 0.0}
    for name, score in (("hp_policy", pol[kos]), ("abs_mean_shift", D.abs()), ("hp_reward", rew[kos])):
        out[name], out["n_genes"] = _mean_auroc(score, labels)
    n_reg = true_edges.groupby("target").size().reindex(genes).fillna(0).to_numpy()
    out["value_vs_n_regulators"] = float(stats.spearmanr(np.asarray(a.var["hp_value"], float), n_reg).statistic)
    out["seconds"] = time.perf_counter() - t0
    return out


# ---------------------------------------------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------------------------------------------
def _fmt(x: float) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.3f}"


def evaluate_tables(res: pd.DataFrame, title: str) -> str:
    summ = summarize(res)
    lines = [f"**{title}** — mean over held-out knock-outs (n per model in the last column)\n"]
    models = [m for m in ORDER if m in set(summ["model"])]
    head = "| model | " + " | ".join(SHOW) + " | residual_pearson (detectable) | n |"
    lines += [head, "|---" * (len(SHOW) + 3) + "|"]
    for m in models:
        cells = []
        for met in SHOW:
            r = summ[(summ["model"] == m) & (summ["metric"] == met) & (summ["subset"] == "all")]
            cells.append(_fmt(r["mean"].iloc[0]) if len(r) else "–")
        r = summ[(summ["model"] == m) & (summ["metric"] == "residual_pearson") & (summ["subset"] == "detectable")]
        cells.append(_fmt(r["mean"].iloc[0]) if len(r) else "–")
        r = summ[(summ["model"] == m) & (summ["metric"] == "residual_pearson") & (summ["subset"] == "all")]
        cells.append(str(int(r["n"].iloc[0])) if len(r) else "–")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    ref = [
        "median+on-target",
        "median+scaled-on-target",
        "median",
        "hyperperturb-random-embedding",
        "hyperperturb-euclidean",
        "mean",
    ]
    lines += ["", "Paired Wilcoxon p-values of `hyperperturb` vs each method (residual_pearson; spearman_excess):", ""]
    lines += ["| vs | residual_pearson | spearman_excess |", "|---|---|---|"]
    for other in ref:
        cells = []
        for met in ("residual_pearson", "spearman_excess"):
            r = summ[(summ["model"] == "hyperperturb") & (summ["metric"] == met) & (summ["subset"] == "all")]
            c = f"p_vs_{other}"
            cells.append(f"{r[c].iloc[0]:.2g}" if len(r) and c in r and np.isfinite(r[c].iloc[0]) else "–")
        lines.append(f"| {other} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def design_table(rows: pd.DataFrame, title: str) -> str:
    lines = [f"**{title}**\n"]
    for ename, df in rows.groupby("effect", sort=False):
        wide = df.pivot_table(index=["seed", "draw"], columns="strategy", values="share")
        lines += [
            f"Effect = {ename} ({len(wide)} screen × draw pairs): mean share of the best possible effect "
            "(p: paired Wilcoxon of greedy vs the strategy)\n",
            "| strategy | share | sd | p (greedy vs) |",
            "|---|---|---|---|",
        ]
        for s in ("greedy", "ucb", "degree", "out-degree", "random"):
            if s not in wide:
                continue
            p = (
                float(stats.wilcoxon(wide["greedy"], wide[s]).pvalue)
                if s != "greedy" and len(wide) > 1 and not np.allclose(wide["greedy"], wide[s])
                else float("nan")
            )
            sd = wide[s].std(ddof=1) if len(wide) > 1 else float("nan")
            lines.append(f"| {s} | {_fmt(wide[s].mean())} | {_fmt(sd)} | {'–' if not np.isfinite(p) else f'{p:.2g}'} |")
        lines.append("")
    return "\n".join(lines)


def insample_table(items: list[tuple[int, str, dict]]) -> str:
    lines = [
        "| screen | network | hp_policy AUROC | \\|mean shift\\| AUROC | hp_reward AUROC | genes | "
        "Spearman(hp_value, n regulators) |",
        "|---|---|---|---|---|---|---|",
    ]
    for seed, net, r in items:
        lines.append(
            f"| seed {seed} | {net} | {_fmt(r['hp_policy'])} | {_fmt(r['abs_mean_shift'])} | {_fmt(r['hp_reward'])} | "
            f"{r['n_genes']} | {_fmt(r['value_vs_n_regulators'])} |"
        )
    return "\n".join(lines)


def report(out: Path, seeds: list[int], networks: list[str]) -> dict:
    summary: dict = {}
    for net in networks:
        pooled = []
        for seed in seeds:
            f = out / f"seed{seed}_{net}_evaluate.json"
            if not f.exists():
                continue
            r = json.loads(f.read_text())
            res = pd.DataFrame(r["results"])
            print(
                f"\n#### Screen seed {seed}, {net} network ({r['n_detectable']}/{r['n_scored']} distinct held-out "
                f"knock-outs detectable; {r['seconds']:.0f} s)\n"
            )
            print(evaluate_tables(res, f"seed {seed}, {net} network"))
            res = res.assign(split=res["split"] + 1000 * seed, perturbation=f"s{seed}:" + res["perturbation"])
            pooled.append(res)
        if pooled:
            allres = pd.concat(pooled, ignore_index=True)
            print(f"\n#### Pooled over seeds {seeds}, {net} network\n")
            print(evaluate_tables(allres, f"pooled, {net} network"))
            summary[f"evaluate_{net}"] = summarize(allres).to_dict(orient="list")
    for net in networks:
        rows = []
        for seed in seeds:
            f = out / f"seed{seed}_{net}_design.json"
            if f.exists():
                rows += json.loads(f.read_text())["rows"]
        if rows:
            print(f"\n#### Design, {net} network\n")
            df = pd.DataFrame(rows)
            print(design_table(df, f"25 % screened, next {GRID['n_propose']} proposed among the other knock-outs"))
            summary[f"design_{net}"] = df.to_dict(orient="list")
    items = []
    for net in networks:
        for seed in seeds:
            f = out / f"seed{seed}_{net}_insample.json"
            if f.exists():
                items.append((seed, net, json.loads(f.read_text())))
    if items:
        print("\n#### In-sample: ranking each gene's true regulators among the knock-outs (mean AUROC over genes)\n")
        print(insample_table(items))
        summary["insample"] = [{"seed": s, "network": n, **r} for s, n, r in items]
    return summary


# ---------------------------------------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--screens", default=str(HERE / "_screens"), help="folder with ko_seed{N}.h5ad")
    p.add_argument("--out", default=str(HERE / "_knockout_results"), help="cache of per-part JSON results")
    p.add_argument("--network", choices=["true", "corrupted", "both"], default="both")
    p.add_argument("--parts", default="evaluate,insample,design")
    p.add_argument(
        "--directed", action="store_true", help="gene_network(symmetric=False): the network stored with its directions"
    )
    p.add_argument("--quick", action="store_true", help="5 epochs, 2 splits, 1 design draw (a smoke test)")
    p.add_argument("--final", action="store_true", help=f"allow seed {FINAL_SEED}, the untouched final check")
    p.add_argument("--force", action="store_true", help="recompute cached parts")
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args()
    if FINAL_SEED in args.seeds and not args.final:
        p.error(f"seed {FINAL_SEED} is kept untouched for the final check; pass --final to use it")
    grid = dict(GRID, **(QUICK if args.quick else {}))
    networks = ["true", "corrupted"] if args.network == "both" else [args.network]
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    out = Path(args.out) / ("quick" if args.quick else "full")
    out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("hyperperturb").setLevel(logging.WARNING)
    print(
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"hyperperturb {hp.__version__}; load average {load_average():.2f}. Grid: {json.dumps(grid)}; "
        f"directed={args.directed}."
    )
    t0 = time.perf_counter()
    if not args.report_only:
        for seed in args.seeds:
            path = Path(args.screens) / f"ko_seed{seed}.h5ad"
            if not path.exists():
                print(f"missing {path}: run benchmarks/knockout_screens.py --seeds {seed} --out {args.screens}")
                continue
            for net in networks:
                for part in parts:
                    f = out / f"seed{seed}_{net}_{part}.json"
                    if f.exists() and not args.force:
                        continue
                    a = ks.load_screen(path)
                    edges = network(a, net, seed, grid)
                    if part == "design":  # re-processes each screened subset itself
                        r = run_design(a, edges, seed, grid, args.directed)
                    elif part == "evaluate":
                        prepare(a, edges, args.directed)
                        r = run_evaluate(a, seed, grid)
                    elif part == "insample":
                        prepare(a, edges, args.directed)
                        r = run_insample(a, ks.network_frame(a), seed, grid)
                    else:
                        p.error(f"unknown part {part!r}")
                    r.update(network=net, seed=seed, grid=grid, directed=args.directed)
                    f.write_text(json.dumps(r, default=float))
                    print(
                        f"[{time.perf_counter() - t0:.0f} s] seed {seed} {net} {part}: {r['seconds']:.0f} s", flush=True
                    )
    summary = report(out, args.seeds, networks)
    (out / "summary.json").write_text(json.dumps(summary, default=float))
    print(f"\nTotal {time.perf_counter() - t0:.0f} s; load average at the end {load_average():.2f}.")


if __name__ == "__main__":
    main()
