"""``hp.tl.evaluate``: held-out-perturbation benchmark of the model against baselines."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hyperperturb._utils import _entries, as_rng, check_current, logger, progress, record, resolve
from hyperperturb._utils._headline import headline, headline_text
from hyperperturb._utils._schema import EvaluationEntry
from hyperperturb._utils._validate import check_fixed_seed
from hyperperturb.tl._screen._halves import detectable_effects, split_half_rewards
from hyperperturb.tl._screen._read import Screen, read_screen

from ._baselines import (
    BASELINES,
    MODELS,
    PREDICT_METHOD,
    RANDOM_EMBEDDING,
    fit_linear,
    predict_linear,
    predict_mean,
    predict_median,
    shuffled_network_copy,
)
from ._metrics import (
    ALL_METRICS,
    PER_PERTURBATION,
    PER_SPLIT,
    majority_vote_scores,
    pearson,
    score_split,
    spearman_brown,
)
from ._models import _model_predictions
from ._params import MAX_HELDOUT, SPLITS, _as_names, _check_choice, _validate, check_k, subsample_heldout
from ._scoring import SUBSETS, _ceiling_rows, _policy_auroc, _subset_columns, moved_labels, summarize
from ._splits import make_splits

__all__ = ["MAX_HELDOUT", "SPLITS", "SUBSETS", "evaluate", "moved_labels", "subsample_heldout", "summarize"]

_STEP = "evaluation"


def evaluate(
    data: Any,
    *,
    split: str = "random",
    n_splits: int = 5,
    holdout_frac: float = 0.2,
    seed: int = 0,
    models: str | Sequence[str] | None = ("hyperperturb", "hyperperturb-euclidean", "hyperperturb-random-embedding"),
    baselines: str | Sequence[str] | None = (
        "mean",
        "median",
        "linear",
        "shuffled-network",
        "ceiling",
        "majority-vote",
    ),
    metrics: str | Sequence[str] | None = None,
    train_kwargs: Mapping[str, Any] | None = None,
    effect_level: float = 0.05,
    n_null: int = 200,
    k: int = 20,
    policy_threshold: float = 0.1,
    max_heldout: int | None = MAX_HELDOUT,
    mod: str = "rna",
    verbose: bool = True,
    copy: bool = False,
) -> pd.DataFrame | Any:
    r"""Score predictions for held-out perturbations against the observed rewards, for models and baselines.

    Whole perturbations are held out, only *eligible* ones (whose target gene is a node of the graph: a measured
    gene or an extra network node). ``split="random"``: each of ``n_splits`` random splits hides ``holdout_frac`` of
    them; ``split="loo"``: leave-one-perturbation-out, one split per eligible perturbation. Every model is trained
    without the held-out perturbations (``hp.tl.train(..., holdout=held_out, copy=True)``) and scores them from
    their target genes (``hp.tl.predict(..., kind="reward")``); the baselines see only the training columns.

    Raw rewards (mean absolute log fold change) are dominated by each gene's own noise level, so the
    perturbation-level correlations except ``spearman_raw`` use the excess ``R[g, p] - B[g]`` over the
    control-vs-control noise floor ``B`` (``.var["hp_reward_baseline"]``). The excess is still dominated by the
    response that all perturbations share; ``residual_pearson`` and the ``retrieval_*`` metrics score the
    perturbation-specific part, the delta against the mean of the split's training perturbations. A perturbation is
    ``detectable`` when the L2 norm of its excess profile exceeds the ``1 - effect_level`` quantile of the same
    statistic for random sets of control cells of the same size (a streamed, chunked pass over the cells).

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.pp.perturbations` and :func:`hyperperturb.tl.rewards`
        (and :func:`hyperperturb.pp.gene_network` for the graph models).
    split
        ``"random"`` (repeated random hold-out, ``n_splits`` × ``holdout_frac``) or ``"loo"``
        (leave-one-perturbation-out: as many splits as eligible perturbations, each holding out one;
        ``n_splits`` and ``holdout_frac`` are ignored; each split trains every graph model once).
    n_splits
        Number of random hold-out splits (``split="random"``).
    holdout_frac
        Fraction of the eligible perturbations held out in each random split (at least one; two must stay in
        training).
    seed
        Seed of the splits, the control resampling, the split halves, the network rewiring, the embedding
        permutation and the model training: a non-negative integer (recorded with the results, so ``None`` is
        refused).
    models
        Graph models: ``"hyperperturb"`` (Poincaré ball) and ``"hyperperturb-euclidean"`` (the same model with
        ``geometry="euclidean"``), both read out with ``hp.tl.predict(method="auto")`` (the embedding-kernel
        readout); ``"hyperperturb-head"`` and ``"hyperperturb-euclidean-head"`` score the same trained models with
        the policy/value heads only (``method="head"``); ``"hyperperturb-random-embedding"`` is the random-embedding
        floor: the Poincaré model of the split with its stored positions (``.varm[key_added]`` and the ledger's
        ``extra_embedding`` and ``perturbation_embedding``) replaced by a seeded row permutation of themselves
        before ``hp.tl.predict`` (reuses the split's training when ``"hyperperturb"`` is also evaluated). Pass
        ``()`` to evaluate baselines only.
    baselines
        ``"mean"`` (average training profile), ``"median"`` (per-gene median of the training profiles: the robust
        typical perturbation, the same for every held-out one; the residual transfer readout of ``hyperperturb``
        starts from it when leave-one-out prefers it, so a model must beat it to claim perturbation-specific
        information), ``"linear"`` (PCA gene embedding + ridge, K=10, lambda=0.1, in the
        style of Ahlmann-Eltze et al.), ``"shuffled-network"`` (the hyperbolic model on a degree-preserving rewired
        graph), ``"ceiling"`` (split-half noise ceiling: the rewards of one random half of the perturbation's cells
        predict the other half; correlations Spearman–Brown corrected) and ``"majority-vote"`` (reference of
        ``policy_auroc`` only: every gene ranks perturbations by how many other genes they move).
    metrics
        Subset of ``spearman_excess``, ``pearson_excess``, ``spearman_raw``, ``topk_recall``,
        ``residual_pearson``, ``retrieval_rank``, ``retrieval_top1`` (per held-out perturbation), ``js_policy``,
        ``spearman_value``, ``policy_auroc`` (per split); ``None`` for all. See the evaluation page of the
        documentation for the equations.
    train_kwargs
        Extra keyword arguments for :func:`hyperperturb.tl.train` (e.g. ``{"epochs": 100, "dim": 2}``). Keys are
        checked against its signature before any work; ``holdout``, ``copy``, ``geometry`` and ``model`` are set
        by evaluate and refused.
    effect_level
        Level of the control-resampling test that labels a perturbation ``detectable``.
    n_null
        Number of control resamples per perturbation for that test.
    k
        Size of the top-k gene sets of ``topk_recall`` and ``residual_pearson``: at least 2 and smaller than the
        number of genes (a :class:`ValueError` otherwise).
    policy_threshold
        ``policy_auroc`` labels perturbation ``p`` as moving gene ``g`` when its excess ``R[g, p] - B[g]``
        (signed rewards: ``|R[g, p]|``) exceeds ``policy_threshold * B[g]``.
    max_heldout
        Cost bound for large screens. ``split="random"``: when a split holds out more than ``max_heldout``
        perturbations, the models are still trained without all of them, but only a seeded random subsample of
        ``max_heldout`` is scored (metrics, detectability test, ceiling); ``split="loo"``: at most ``max_heldout``
        splits, a seeded subsample of the eligible perturbations. ``None`` scores everything. Screens below the
        bound (default 200: up to 1,000 eligible perturbations with the default ``holdout_frac``) are scored in
        full, exactly as without the option. The scored names are stored under ``scored``.
    mod
        Modality of a MuData holding RNA and the ledger.
    verbose
        Show progress over splits.
    copy
        Work on (and return) a copy of ``data`` instead of returning the results table.

    Returns
    -------
    ``None`` (in place), or the copy of ``data`` holding the results when ``copy=True``. The tables are read with
    :func:`hyperperturb.get.evaluation`: ``table="results"`` (columns ``split``, ``model``, ``perturbation``,
    ``metric``, ``value``, ``effect``), ``"summary"``, ``"detectability"``. Per-split metrics (``js_policy``, ``spearman_value``,
    ``policy_auroc``) have ``perturbation == "all"`` and ``effect`` ``"all"``, ``"detectable"`` or ``"none"``
    (the held-out columns of that subset; at least 2 needed, so never with ``split="loo"``); ``policy_auroc`` is
    scored on the split's training perturbations and has ``effect == "all"`` only. Correlations are ``nan`` where
    an observed profile is constant (logged as a warning); a constant *predicted* delta scores 0 on
    ``residual_pearson`` and ties every candidate on ``retrieval_*``.

    Notes
    -----
    Writes ``.uns["hyperperturb"]["evaluation"]`` with ``results``, ``summary`` (:func:`summarize`: columns
    ``model``, ``metric``, ``subset`` (``all``, ``detectable``, ``none``), ``mean``, ``sd``, ``median``, ``n``,
    ``p_vs_<method>``: paired Wilcoxon p-values per perturbation), ``detectability`` (per eligible held-out
    perturbation: statistic, threshold, effect and, with the ceiling, ``split_half_r``: the Spearman-Brown corrected
    Pearson between the two halves' excess profiles), ``splits`` (held-out names per split), ``coverage``, ``params``
    and ``random_embedding_keys`` (what the floor permuted).

    Examples
    --------
    >>> hp.tl.evaluate(adata, n_splits=5, train_kwargs={"epochs": 100})  # doctest: +SKIP
    >>> hp.tl.evaluate(adata, split="loo", models=(), baselines=("mean", "median", "ceiling"))  # doctest: +SKIP
    >>> hp.get.evaluation(adata, table="summary")  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    check_fixed_seed(seed)  # recorded with the results: None (a fresh random seed) cannot be reproduced
    t = resolve(data, mod=mod)
    _validate(split, n_splits, holdout_frac, effect_level, n_null, k, policy_threshold, train_kwargs, max_heldout)
    models_t, baselines_t, metrics_t = _requested(t.adata, models, baselines, metrics)
    screen: Screen = read_screen(t.adata, needed_by="hp.tl.evaluate")
    check_k(int(k), int(screen.reward.shape[0]))  # a top-k set of every gene scores 1.0 for every method
    check_current(t.adata, "network", needed_by="hp.tl.evaluate")  # targets declared after the network was built
    rng = as_rng(seed)
    eligible_idx = np.flatnonzero(screen.eligible)
    splits = make_splits(eligible_idx, n_splits=int(n_splits), holdout_frac=float(holdout_frac), rng=rng, scheme=split)
    splits, scored_splits = subsample_heldout(splits, max_heldout, seed=int(seed), scheme=split)
    logger.info(
        "evaluate: %d of %d perturbations eligible (target is a graph node); %d %s split(s) of %d held out, %d scored",
        eligible_idx.size,
        screen.names.size,
        len(splits),
        split,
        splits[0].size,
        scored_splits[0].size,
    )

    # detectability of every perturbation that is ever scored (one cell-level pass)
    ever = np.unique(np.concatenate(scored_splits))
    layer = _entries.params(t.adata, "rewards").get("layer")
    layer = None if layer is None else str(layer)
    det, stat, thr = detectable_effects(
        t.adata,
        screen,
        ever,
        effect_level=float(effect_level),
        n_null=int(n_null),
        rng=np.random.default_rng(rng.integers(2**32)),
        layer=layer,
    )
    halves = _split_halves(t.adata, screen, rng, layer) if "ceiling" in baselines_t else None
    run = _Run(
        t=t,
        screen=screen,
        seed=int(seed),
        train_kwargs=dict(train_kwargs or {}),
        k=int(k),
        policy_threshold=float(policy_threshold),
        per_pert_metrics=tuple(m for m in metrics_t if m in PER_PERTURBATION),
        split_metrics=tuple(m for m in metrics_t if m in PER_SPLIT and m != "policy_auroc"),
        want_auroc="policy_auroc" in metrics_t,
        cand_pos={int(c): i for i, c in enumerate(eligible_idx)},
        candidates=screen.reward[:, eligible_idx],
        effect_of={int(c): ("detectable" if d else "none") for c, d in zip(ever, det, strict=True)},
        halves=halves,
    )
    methods = [*models_t, *baselines_t]
    desc = f"hp.tl.evaluate: {len(splits)} {split} split(s) x {len(methods)} method(s)"
    for s, (all_held, held_cols) in enumerate(
        progress(list(zip(splits, scored_splits, strict=True)), verbose=verbose, total=len(splits), desc=desc)
    ):
        t_split = time.perf_counter()
        _evaluate_split(run, s, all_held, held_cols, methods)
        elapsed = time.perf_counter() - t0
        logger.info(
            "evaluate: split %d/%d done (%d held out, %d scored, %d method(s)) in %.1f s; %.0f s so far, ~%.0f s left",
            s + 1,
            len(splits),
            all_held.size,
            held_cols.size,
            len(methods),
            time.perf_counter() - t_split,
            elapsed,
            elapsed / (s + 1) * (len(splits) - s - 1),
        )
    results = _results_table(run.rows)
    summary = summarize(results)
    entry = EvaluationEntry(
        params={
            "split": split,
            "n_splits": len(splits),
            "holdout_frac": float(holdout_frac) if split == "random" else float(1.0 / max(eligible_idx.size, 1)),
            "seed": int(seed),
            "models": list(models_t),
            "baselines": list(baselines_t),
            "metrics": list(metrics_t),
            "train_kwargs": dict(train_kwargs or {}),
            "effect_level": float(effect_level),
            "n_null": int(n_null),
            "k": int(k),
            "policy_threshold": float(policy_threshold),
            "max_heldout": None if max_heldout is None else int(max_heldout),
            "excess": run.excess,
        },
        results=results,
        summary=summary,
        detectability=_detectability_table(screen, ever, det, stat, thr, halves),
        splits={str(i): tuple(str(n) for n in screen.names[c]) for i, c in enumerate(splits)},
        scored={str(i): tuple(str(n) for n in screen.names[c]) for i, c in enumerate(scored_splits)},
        coverage=screen.coverage,
        random_embedding_keys=tuple(run.permuted),
        wall_time=float(time.perf_counter() - t0),
    )
    if copy:
        t = t.copy()
    record(t.adata, _STEP, entry.to_uns())
    logger.info("evaluate: %d rows in %.1f s", len(results), entry.wall_time)
    logger.info(
        "evaluate: headline (mean over held-out perturbations, all effects; hp.get.evaluation(adata, "
        "table='headline')):\n%s",
        headline_text(headline(summary, baselines=baselines_t)),
    )
    return t.done(copy)


# -- the steps of evaluate -------------------------------------------------------------------------------------------


def _requested(
    adata: Any, models: Any, baselines: Any, metrics: Any
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The requested models, baselines and metrics as checked name tuples (a clear error for each bad request)."""
    models_t = _as_names(models, "models")
    baselines_t = _as_names(baselines, "baselines")
    metrics_t = ALL_METRICS if metrics is None else _as_names(metrics, "metrics")
    _check_choice(models_t, list(MODELS), "model(s)")
    _check_choice(baselines_t, BASELINES, "baseline(s)")
    _check_choice(metrics_t, ALL_METRICS, "metric(s)")
    if not models_t and not baselines_t:
        msg = "Nothing to evaluate: both `models` and `baselines` are empty. Pass e.g. `baselines=('mean',)`."
        raise ValueError(msg)
    if not metrics_t:
        msg = f"`metrics` is empty; pass None for all of {list(ALL_METRICS)}."
        raise ValueError(msg)
    if not models_t and set(baselines_t) == {"majority-vote"} and "policy_auroc" not in metrics_t:
        msg = "The 'majority-vote' baseline only scores `policy_auroc`; add that metric or other models/baselines."
        raise ValueError(msg)
    needs_train = bool(models_t) or "shuffled-network" in baselines_t
    if needs_train and not _entries.has_network(adata):
        msg = (
            f"The graph models and the shuffled-network baseline need a gene network "
            f"(.varp[{_entries.network_key(adata)!r}]). "
            "Run `hp.pp.gene_network(adata, ...)` first, or evaluate `baselines=('mean', 'linear')` only."
        )
        raise KeyError(msg)
    return models_t, baselines_t, metrics_t


def _split_halves(adata: Any, screen: Screen, rng: np.random.Generator, layer: str | None) -> tuple[Any, Any]:
    """Split-half rewards of every perturbation (one pass over the perturbed cells), for the ceiling."""
    R_A, R_B, _ = split_half_rewards(
        adata, screen, np.arange(screen.names.size), rng=np.random.default_rng(rng.integers(2**32)), layer=layer
    )
    n_short = int((~np.isfinite(R_A).all(axis=0)).sum())
    if n_short:
        logger.warning("evaluate: %d perturbation(s) have fewer than 2 cells; their ceiling is NaN.", n_short)
    return R_A, R_B


@dataclass
class _Run:
    """What every split of one ``evaluate`` call shares, and the rows it collects."""

    t: Any
    screen: Screen
    seed: int
    train_kwargs: dict[str, Any]
    k: int
    policy_threshold: float
    per_pert_metrics: tuple[str, ...]
    split_metrics: tuple[str, ...]
    want_auroc: bool
    cand_pos: dict[int, int]
    candidates: np.ndarray
    effect_of: dict[int, str]
    halves: tuple[Any, Any] | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    permuted: list[str] = field(default_factory=list)

    @property
    def excess(self) -> bool:
        """Score the excess over the noise floor (unsigned rewards) rather than the raw rewards."""
        return not self.screen.signed

    def add(self, s: int, method: str, pert: str, metric: str, value: float, effect: str) -> None:
        """One row of the results table."""
        self.rows.append(
            {
                "split": s,
                "model": method,
                "perturbation": pert,
                "metric": metric,
                "value": float(value),
                "effect": effect,
            }
        )


def _evaluate_split(run: _Run, s: int, all_held: np.ndarray, held_cols: np.ndarray, methods: list[str]) -> None:
    """Predict the held-out perturbations of split ``s`` with every method and score them into ``run.rows``."""
    screen = run.screen
    train_cols = np.setdiff1d(np.arange(screen.names.size), all_held)
    R_train = screen.reward[:, train_cols]
    obs = screen.reward[:, held_cols]
    held_names = screen.names[held_cols]
    eff = np.asarray([run.effect_of[int(c)] for c in held_cols])
    true_index = np.asarray([run.cand_pos[int(c)] for c in held_cols])
    labels = moved_labels(R_train, screen.baseline, signed=screen.signed, threshold=run.policy_threshold)
    score_kw = {"excess": run.excess, "k": run.k, "train_mean": R_train.mean(axis=1), "candidates": run.candidates}
    cache: dict[str, Any] = {}
    for method in methods:
        if method == "majority-vote":
            if run.want_auroc:
                run.add(s, method, "all", "policy_auroc", _policy_auroc(majority_vote_scores(labels), labels), "all")
            continue
        if method == "ceiling":
            assert run.halves is not None
            _ceiling_rows(
                run.add, s, run.halves, held_cols, train_cols, held_names, eff, true_index, screen, score_kw,
                run.per_pert_metrics, run.split_metrics, run.want_auroc, run.policy_threshold,
            )  # fmt: skip
            continue
        pred, pol, tpol = _predictions(run, method, s, all_held, train_cols, held_cols, cache)
        per, _ = score_split(
            pred, obs, screen.baseline, metrics=run.per_pert_metrics, true_index=true_index, **score_kw
        )
        for metric, vals in per.items():
            for j, name in enumerate(held_names):
                run.add(s, method, str(name), metric, vals[j], str(eff[j]))
        for subset, cols in _subset_columns(eff):
            if not run.split_metrics:
                break
            _, sm = score_split(
                pred[:, cols],
                obs[:, cols],
                screen.baseline,
                excess=run.excess,
                metrics=run.split_metrics,
                pred_policy=None if pol is None else pol[:, cols],
            )
            for metric, val in sm.items():
                run.add(s, method, "all", metric, val, subset)
        if run.want_auroc and tpol is not None:
            run.add(s, method, "all", "policy_auroc", _policy_auroc(tpol, labels), "all")


def _predictions(
    run: _Run,
    method: str,
    s: int,
    all_held: np.ndarray,
    train_cols: np.ndarray,
    held_cols: np.ndarray,
    cache: dict[str, Any],
) -> tuple[np.ndarray, Any, Any]:
    """``(pred, pol, tpol)`` of one method in split ``s``.

    ``pred``: predicted rewards of the scored held-out perturbations; ``pol``: the model's policy for them (graph
    models only, else ``None``); ``tpol``: its scores of the training perturbations (for ``policy_auroc``).
    """
    screen = run.screen
    R_train = screen.reward[:, train_cols]
    held_names, train_names = screen.names[held_cols], screen.names[train_cols]
    if method in ("mean", "median"):
        prior = predict_mean if method == "mean" else predict_median
        return prior(R_train, held_cols.size), None, prior(R_train, train_cols.size)
    if method == "linear":  # one fit per split serves both predictions
        tidx_train = screen.target_index[train_cols]
        linear_fit = fit_linear(R_train, tidx_train)
        pred = predict_linear(R_train, tidx_train, screen.target_index[held_cols], fit=linear_fit)
        return pred, None, predict_linear(R_train, tidx_train, tidx_train, fit=linear_fit)
    if method == "shuffled-network":
        obj = shuffled_network_copy(run.t.adata, seed=run.seed * 1000 + s)
        return _model_predictions(
            obj,
            screen.names[all_held],
            train_names,
            geometry="poincare",
            seed=run.seed + s,
            train_kwargs=run.train_kwargs,
            mod=None,
            scored=held_names,
        )
    return _model_predictions(
        run.t.data,
        screen.names[all_held],
        train_names,
        geometry=MODELS[method],
        seed=run.seed + s,
        train_kwargs=run.train_kwargs,
        mod=run.t.mod,
        method=PREDICT_METHOD[method],
        cache=cache,
        random_embedding=method in RANDOM_EMBEDDING,
        permuted=run.permuted,
        scored=held_names,
    )


def _results_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The long results table (one row per split, method, perturbation and metric); NaN values are reported."""
    results = pd.DataFrame(rows, columns=["split", "model", "perturbation", "metric", "value", "effect"])
    results["split"] = results["split"].astype(np.int64)
    n_nan = int(results["value"].isna().sum())
    if n_nan:
        logger.warning(
            "evaluate: %d metric value(s) are NaN (an observed profile is constant, a perturbation has too few cells "
            "for the split-half ceiling, or no gene has both moved and unmoved perturbations); they are kept as NaN "
            "and left out of the summary.",
            n_nan,
        )
    return results


def _detectability_table(
    screen: Screen, ever: np.ndarray, det: np.ndarray, stat: Any, thr: Any, halves: tuple[Any, Any] | None
) -> pd.DataFrame:
    """Per scored perturbation: the detectability test, and with the ceiling the split-half reproducibility."""
    detect = pd.DataFrame(
        {
            "perturbation": screen.names[ever].astype(str),
            "statistic": stat,
            "threshold": thr,
            "effect": np.where(det, "detectable", "none").astype(str),
        }
    )
    if halves is not None:  # reproducibility of each profile: Spearman-Brown corrected split-half Pearson of the excess
        b = screen.baseline[:, None] if not screen.signed else 0.0
        ex_a, ex_b = halves[0][:, ever] - b, halves[1][:, ever] - b
        detect["split_half_r"] = [
            spearman_brown(pearson(ex_a[:, j], ex_b[:, j])) if np.isfinite(ex_a[:, j]).all() else float("nan")
            for j in range(ever.size)
        ]
    return detect
