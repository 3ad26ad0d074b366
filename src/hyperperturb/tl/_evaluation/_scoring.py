"""Scoring helpers of :func:`hyperperturb.tl.evaluate`: labels, AUROC, summary table, split-half ceiling rows (private)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hyperperturb.tl._screen._read import Screen

from ._metrics import CORRELATIONS, PER_SPLIT, auroc_rows, score_split, spearman_brown

#: Subsets of the summary: every held-out perturbation, those with a detectable effect, those without.
SUBSETS = ("all", "detectable", "none")


def moved_labels(R: np.ndarray, baseline: np.ndarray, *, signed: bool, threshold: float) -> np.ndarray:
    """Which perturbations move each gene: excess ``R - B`` (signed rewards: ``|R|``) above ``threshold * B``."""
    B = np.asarray(baseline, dtype=np.float64)[:, None]
    effect = np.abs(R) if signed else R - B
    return effect > threshold * B


def _policy_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean over genes (with both classes among the perturbations) of the per-gene AUROC; ``nan`` if none."""
    auc = auroc_rows(scores, labels)
    fin = auc[np.isfinite(auc)]
    return float(fin.mean()) if fin.size else float("nan")


def _wilcoxon(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    if d.size < 2:
        return float("nan")
    if np.allclose(d, 0.0):
        return 1.0
    return float(stats.wilcoxon(a[ok], b[ok], zero_method="wilcox").pvalue)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd, median and n per model, metric and subset, with paired Wilcoxon p-values against every other method.

    ``subset == "all"`` uses every held-out perturbation (per-split metrics: the rows scored on all held-out
    columns); ``"detectable"`` only those whose effect beats control resampling, ``"none"`` only those whose effect
    does not (report both: a model can only be expected to predict a detectable effect). Per-split metrics appear
    in a subset only where that subset had at least 2 held-out perturbations in a split; ``policy_auroc`` is scored
    on the training perturbations and appears under ``"all"`` only. Pairs are matched by split and perturbation;
    ``p_vs_<name>`` is ``nan`` against itself or with fewer than 2 pairs. Rows without any finite value are
    dropped.
    """
    methods = list(dict.fromkeys(results["model"]))
    rows = []
    for metric in dict.fromkeys(results["metric"]):
        r_m = results[results["metric"] == metric]
        per_split = metric in PER_SPLIT
        for subset in SUBSETS:
            if per_split:
                r_s = r_m[r_m["effect"] == subset]
            else:
                r_s = r_m if subset == "all" else r_m[r_m["effect"] == subset]
            if r_s.empty:
                continue
            wide = r_s.pivot_table(index=["split", "perturbation"], columns="model", values="value", dropna=False)
            for m in methods:
                if m not in wide.columns:
                    continue
                v = wide[m].to_numpy(dtype=np.float64)
                fin = v[np.isfinite(v)]
                if not fin.size:
                    continue
                row = {
                    "model": m,
                    "metric": metric,
                    "subset": subset,
                    "mean": float(fin.mean()) if fin.size else float("nan"),
                    "sd": float(fin.std(ddof=1)) if fin.size > 1 else float("nan"),
                    "median": float(np.median(fin)) if fin.size else float("nan"),
                    "n": int(fin.size),
                }
                for other in methods:
                    row[f"p_vs_{other}"] = (
                        _wilcoxon(v, wide[other].to_numpy(dtype=np.float64))
                        if other != m and other in wide.columns
                        else float("nan")
                    )
                rows.append(row)
    return pd.DataFrame(rows)


def _subset_columns(eff: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Held-out columns per summary subset, where the subset has at least 2 (per-split metrics need them)."""
    out = []
    for subset in SUBSETS:
        cols = np.arange(eff.size) if subset == "all" else np.flatnonzero(eff == subset)
        if cols.size >= 2:
            out.append((subset, cols))
    return out


def _ceiling_rows(
    add: Any,
    s: int,
    halves: tuple[np.ndarray, np.ndarray],
    held_cols: np.ndarray,
    train_cols: np.ndarray,
    held_names: np.ndarray,
    eff: np.ndarray,
    true_index: np.ndarray,
    screen: Screen,
    score_kw: dict[str, Any],
    per_pert_metrics: tuple[str, ...],
    split_metrics: tuple[str, ...],
    want_auroc: bool,
    policy_threshold: float,
) -> None:
    """Rows of the split-half noise ceiling: half A predicts half B and B predicts A, averaged.

    Correlation metrics are Spearman-Brown corrected (:func:`spearman_brown`); ranks, top-1, recall, JS and AUROC are
    reported as measured on half of the cells (a conservative ceiling). ``policy_auroc`` scores the training
    perturbations' half-A rewards against half-B labels and vice versa.
    """
    A, B = halves
    a_h, b_h = A[:, held_cols], B[:, held_cols]
    ok = np.isfinite(a_h).all(axis=0) & np.isfinite(b_h).all(axis=0)
    a_f, b_f = np.where(ok, a_h, 0.0), np.where(ok, b_h, 0.0)
    kw = dict(score_kw, true_index=true_index, metrics=per_pert_metrics)
    p1, _ = score_split(a_f, b_f, screen.baseline, **kw)
    p2, _ = score_split(b_f, a_f, screen.baseline, **kw)
    for metric in p1:
        vals = 0.5 * (p1[metric] + p2[metric])
        if metric in CORRELATIONS:
            vals = spearman_brown(vals)
        vals = np.where(ok, vals, np.nan)
        for j, name in enumerate(held_names):
            add(s, "ceiling", str(name), metric, vals[j], str(eff[j]))
    for subset, cols in _subset_columns(eff):
        cols = cols[ok[cols]]
        if cols.size < 2 or not split_metrics:
            continue
        _, s1 = score_split(
            a_h[:, cols], b_h[:, cols], screen.baseline, excess=score_kw["excess"], metrics=split_metrics
        )
        _, s2 = score_split(
            b_h[:, cols], a_h[:, cols], screen.baseline, excess=score_kw["excess"], metrics=split_metrics
        )
        for metric in s1:
            val = 0.5 * (s1[metric] + s2[metric])
            add(s, "ceiling", "all", metric, spearman_brown(val) if metric in CORRELATIONS else val, subset)
    if want_auroc:
        a_t, b_t = A[:, train_cols], B[:, train_cols]
        okt = np.isfinite(a_t).all(axis=0) & np.isfinite(b_t).all(axis=0)
        a_t, b_t = a_t[:, okt], b_t[:, okt]
        sg, th = bool(screen.signed), float(policy_threshold)
        auc = 0.5 * (
            _policy_auroc(a_t, moved_labels(b_t, screen.baseline, signed=sg, threshold=th))
            + _policy_auroc(b_t, moved_labels(a_t, screen.baseline, signed=sg, threshold=th))
        )
        add(s, "ceiling", "all", "policy_auroc", auc, "all")
