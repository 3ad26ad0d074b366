"""Prediction-quality benchmark: hp.tl.evaluate on the Papalexi 2021 screen and on synthetic hierarchies.

Prints the markdown tables of the "Prediction quality" section of docs/benchmarks.md.

    python benchmarks/bench_evaluate.py [--data ../shared/data] [--epochs 100] [--splits 5] [--only papalexi|synthetic]
        [--dim 2] [--split random|loo] [--models hyperperturb,hyperperturb-head,hyperperturb-euclidean,...]
        [--baselines mean,linear,shuffled-network,ceiling,majority-vote] [--no-design]
        [--network string|collectri|go|coexpression] [--statistic mean_shift|mean_abs_lfc]

Two tables per data set and subset (all held-out perturbations, detectable effects, no detectable effect): the
excess metrics, and the perturbation-specific ones (residual_pearson, retrieval rank/top-1, policy AUROC) with the
split-half ceiling and the random-embedding floor; then paired Wilcoxon p-values.
Quick check of the script: --only synthetic --splits 2 --epochs 5 --no-design.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd
import scanpy as sc

import hyperperturb as hp
from hyperperturb.tl._design._design import _simulate_acquisition

METRICS = ["spearman_excess", "pearson_excess", "topk_recall", "spearman_raw", "js_policy", "spearman_value"]
SPECIFIC = ["residual_pearson", "retrieval_rank", "retrieval_top1", "policy_auroc"]
SUBSETS = {
    "all": "All held-out perturbations",
    "detectable": "Detectable effects only",
    "none": "No detectable effect",
}


def _table(summary: pd.DataFrame, subset: str, metrics: list[str] = METRICS) -> str:
    s = summary[(summary["subset"] == subset) & summary["metric"].isin(metrics)]
    models = list(dict.fromkeys(s["model"]))
    if not models:
        return "(no values)"
    lines = ["| model | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for m in models:
        cells = []
        for met in metrics:
            r = s[(s["model"] == m) & (s["metric"] == met)]
            cells.append(
                "–"
                if r.empty
                else f"{r['mean'].iloc[0]:.3f} ± {r['sd'].iloc[0]:.3f}"
                if np.isfinite(r["sd"].iloc[0])
                else f"{r['mean'].iloc[0]:.3f}"
            )
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pvalues(summary: pd.DataFrame, metric: str = "spearman_excess") -> str:
    s = summary[(summary["subset"] == "all") & (summary["metric"] == metric)]
    if s.empty:
        return "(not evaluated)"
    others = [c for c in s.columns if c.startswith("p_vs_") and c[5:] in set(s["model"])]
    lines = ["| model (n) | " + " | ".join(c[2:] for c in others) + " |", "|---" * (len(others) + 1) + "|"]
    for _, r in s.iterrows():
        lines.append(
            f"| {r['model']} ({r['n']}) | "
            + " | ".join("–" if np.isnan(r[c]) else f"{r[c]:.2g}" for c in others)
            + " |"
        )
    return "\n".join(lines)


def _report(name: str, a, t0: float, args) -> None:
    ent = a.uns["hyperperturb"]["evaluation"]
    cov = ent["coverage"]
    det = ent["detectability"]
    par = ent["params"]
    split = (
        f"leave-one-perturbation-out ({par['n_splits']} splits)"
        if par.get("split") == "loo"
        else f"{par['n_splits']} random splits, holdout_frac {par['holdout_frac']}"
    )
    print(f"\n### {name}\n")
    print(
        f"{cov['n_eligible']}/{cov['n_perturbations']} perturbations eligible (target is a graph node); "
        f"{(det['effect'] == 'detectable').sum()}/{len(det)} held-out perturbations detectable at level 0.05; "
        f"{split}, seed {args.seed}, epochs {args.epochs}, dim {args.dim}, attention {args.attention}; "
        f"wall time {time.perf_counter() - t0:.0f} s.\n"
    )
    for subset, title in SUBSETS.items():
        print(f"{title} (mean ± sd over perturbations; per-split metrics over splits):\n")
        print(_table(ent["summary"], subset))
        print(
            f"\n{title}, perturbation-specific metrics (residual_pearson, retrieval: delta vs the training mean; "
            "policy_auroc: per gene over the training perturbations; ceiling = split-half, Spearman-Brown on "
            "correlations):\n"
        )
        print(_table(ent["summary"], subset, SPECIFIC))
        print()
    for metric in ("spearman_excess", "residual_pearson"):
        print(f"Paired Wilcoxon p-values, {metric}, all held-out perturbations:\n")
        print(_pvalues(ent["summary"], metric))
        print()
    if ent.get("random_embedding_keys"):
        print(f"Random-embedding floor permuted: {', '.join(map(str, ent['random_embedding_keys']))}.")


def _names(text: str) -> tuple[str, ...]:
    return tuple(m.strip() for m in text.split(",") if m.strip())


def _evaluate(a, args):
    return hp.tl.evaluate(
        a,
        split=args.split,
        n_splits=args.splits,
        seed=args.seed,
        models=_names(args.models),
        baselines=_names(args.baselines),
        train_kwargs={"epochs": args.epochs, "dim": args.dim, "attention": args.attention},
        verbose=False,
    )


def papalexi(args) -> None:
    t0 = time.perf_counter()
    data = Path(args.data)
    a = hp.datasets.papalexi2021(data)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    if args.network == "string":
        hp.pp.gene_network(a, data / "string_v12_human_ppi_symbols.csv.gz", min_weight=0.7, hops=2)
        what = "STRING v12 (min_weight 0.7, hops 2)"
    elif args.network == "collectri":
        hp.pp.gene_network(a, data / "collectri_human.csv.gz", hops=2)
        what = "CollecTRI signed TF regulons (directed, hops 2)"
    elif args.network == "go":
        hp.pp.gene_network(a, "go", go_table=data / "go_gene2term_human.tsv.gz", n_neighbors=10)
        what = "GO similarity graph (Jaccard of GO term sets, top-10 per gene; measured genes only)"
    else:
        hp.pp.gene_network(a, "coexpression", n_neighbors=10)
        what = "co-expression kNN graph (10 neighbours; measured genes only)"
    hp.tl.rewards(a, verbose=False, statistic=args.statistic)
    _evaluate(a, args)
    _report(f"Papalexi 2021 (THP-1 ECCITE-seq, 299 genes) + {what}", a, t0, args)


def synthetic(args) -> None:
    t0 = time.perf_counter()
    a = hp.datasets.synthetic(n_cells=3000, n_genes=150, n_perturbations=30, seed=args.seed)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    hp.tl.rewards(a, verbose=False, statistic=args.statistic)
    _evaluate(a, args)
    _report("Synthetic hierarchy (3000 cells, 150 genes, 30 knock-outs, true network)", a, t0, args)
    if args.no_design:
        return
    t1 = time.perf_counter()
    sim = _simulate_acquisition(a, predictor="linear", n_splits=args.splits, holdout_frac=0.5, seed=args.seed)
    n_half = sim["k"].max() // 2
    cov = sim[sim["k"] == n_half].groupby("strategy")["coverage"].agg(["mean", "std"])
    auc = sim.groupby(["strategy", "split"])["coverage"].mean().groupby("strategy").agg(["mean", "std"])
    print(
        f"\nDesign loop (simulated acquisition, linear predictor): share of the hidden perturbations' observed "
        f"effect covered by the first {n_half} of {sim['k'].max()} proposals, and the area under the coverage curve "
        f"({args.splits} splits, {time.perf_counter() - t1:.0f} s):\n"
    )
    print("| strategy | coverage@half | AUC |\n|---|---|---|")
    for st in cov.index:
        print(
            f"| {st} | {cov.loc[st, 'mean']:.3f} ± {cov.loc[st, 'std']:.3f} | {auc.loc[st, 'mean']:.3f} ± {auc.loc[st, 'std']:.3f} |"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--splits", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", choices=["papalexi", "synthetic"], default=None)
    p.add_argument("--dim", type=int, default=2, help="embedding dimension passed to hp.tl.train (default 2)")
    p.add_argument("--attention", action="store_true", help="train with attention=True (graph-attention refinement)")
    p.add_argument(
        "--models",
        default="hyperperturb,hyperperturb-head,hyperperturb-euclidean,hyperperturb-random-embedding",
        help="comma-separated graph models for hp.tl.evaluate ('' for baselines only)",
    )
    p.add_argument(
        "--baselines",
        default="mean,linear,shuffled-network,ceiling,majority-vote",
        help="comma-separated baselines for hp.tl.evaluate",
    )
    p.add_argument(
        "--statistic",
        choices=["mean_shift", "mean_abs_lfc"],
        default="mean_shift",
        help="hp.tl.rewards(statistic=...) (default: the package default)",
    )
    p.add_argument("--split", choices=["random", "loo"], default="random", help="hp.tl.evaluate(split=...)")
    p.add_argument("--no-design", action="store_true", help="skip the design-loop simulation on the synthetic screen")
    p.add_argument(
        "--network",
        choices=["string", "collectri", "go", "coexpression"],
        default="string",
        help="gene network of the Papalexi screen (default STRING; GO and co-expression cover measured genes only)",
    )
    args = p.parse_args()
    logging.getLogger("hyperperturb").setLevel(logging.WARNING)
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"hyperperturb {hp.__version__}; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}."
    )
    t0 = time.perf_counter()
    if args.only in (None, "papalexi"):
        papalexi(args)
    if args.only in (None, "synthetic"):
        synthetic(args)
    print(
        f"\nTotal run time {time.perf_counter() - t0:.0f} s; load average at the end "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}."
    )


if __name__ == "__main__":
    main()
