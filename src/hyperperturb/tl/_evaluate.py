"""``hp.tl.evaluate``: held-out-perturbation benchmark of the model against baselines."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hyperperturb._utils import as_rng, get_ledger, logger, progress, record, resolve

from ._baselines import (
    BASELINES,
    MODELS,
    PREDICT_METHOD,
    RANDOM_EMBEDDING,
    permute_embedding,
    predict_linear,
    predict_mean,
    shuffled_network_copy,
)
from ._metrics import (
    ALL_METRICS,
    CORRELATIONS,
    PER_PERTURBATION,
    PER_SPLIT,
    auroc_rows,
    majority_vote_scores,
    pearson,
    score_split,
    spearman_brown,
)
from ._splits import Screen, detectable_effects, make_splits, read_screen, split_half_rewards

_STEP = "evaluation"
#: Split schemes of ``hp.tl.evaluate(split=...)``.
SPLITS = ("random", "loo")
#: Subsets of the summary: every held-out perturbation, those with a detectable effect, those without.
SUBSETS = ("all", "detectable", "none")


def _as_names(x: str | Sequence[str] | None, what: str) -> tuple[str, ...]:
    if x is None:
        return ()
    if isinstance(x, str):
        return (x,)
    try:
        return tuple(str(v) for v in x)
    except TypeError:
        msg = f"`{what}` must be a name or a sequence of names, got {type(x).__name__}."
        raise TypeError(msg) from None


def _check_choice(values: tuple[str, ...], allowed: Sequence[str], what: str) -> None:
    bad = [v for v in values if v not in allowed]
    if bad:
        msg = f"Unknown {what} {bad}; choose from {list(allowed)}."
        raise ValueError(msg)


def _validate(
    split: Any,
    n_splits: Any,
    holdout_frac: Any,
    effect_level: Any,
    n_null: Any,
    k: Any,
    policy_threshold: Any,
    train_kwargs: Any,
) -> None:
    if not isinstance(split, str) or split not in SPLITS:
        msg = (
            f"`split` must be 'random' (repeated random hold-out) or 'loo' (leave-one-perturbation-out), got {split!r}."
        )
        raise ValueError(msg)
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) or n_splits < 1:
        msg = f"`n_splits` must be an integer >= 1, got {n_splits!r}."
        raise ValueError(msg)
    if not isinstance(holdout_frac, float | int) or not 0.0 < float(holdout_frac) < 1.0:
        msg = f"`holdout_frac` must be a fraction strictly between 0 and 1 (e.g. 0.2), got {holdout_frac!r}."
        raise ValueError(msg)
    if not isinstance(effect_level, float | int) or not 0.0 < float(effect_level) < 1.0:
        msg = f"`effect_level` must be strictly between 0 and 1 (e.g. 0.05), got {effect_level!r}."
        raise ValueError(msg)
    if isinstance(n_null, bool) or not isinstance(n_null, int | np.integer) or n_null < 10:
        msg = f"`n_null` must be an integer >= 10 (number of control resamples), got {n_null!r}."
        raise ValueError(msg)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2:
        msg = f"`k` must be an integer >= 2 (size of the top-k gene sets; the residual metric correlates them), got {k!r}."
        raise ValueError(msg)
    if (
        isinstance(policy_threshold, bool)
        or not isinstance(policy_threshold, float | int)
        or not np.isfinite(policy_threshold)
        or policy_threshold < 0
    ):
        msg = (
            "`policy_threshold` must be a finite number >= 0 (a perturbation moves a gene when its excess exceeds "
            f"this multiple of the gene's noise floor, e.g. 0.1), got {policy_threshold!r}."
        )
        raise ValueError(msg)
    if train_kwargs is not None and not isinstance(train_kwargs, Mapping):
        msg = (
            f"`train_kwargs` must be a dict of keyword arguments for `hp.tl.train`, got {type(train_kwargs).__name__}."
        )
        raise TypeError(msg)
    reserved = {"holdout", "copy", "geometry", "model"} & set(train_kwargs or {})
    if reserved:
        msg = f"`train_kwargs` must not set {sorted(reserved)}: evaluate sets them for each model and split."
        raise ValueError(msg)


def _model_predictions(
    obj: Any,
    held: np.ndarray,
    train_names: np.ndarray,
    *,
    geometry: str,
    seed: int,
    train_kwargs: Mapping[str, Any],
    mod: str | None,
    method: str = "auto",
    cache: dict[str, Any] | None = None,
    random_embedding: bool = False,
    permuted: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Train on everything but ``held`` (names); return held-out (reward, policy) and the training policy.

    ``cache`` (per split) reuses a model trained with the same geometry for another read-out ``method``.
    ``random_embedding``: predict from a copy whose stored positions are permuted (keys appended to ``permuted``);
    its training policy is ``None`` (the stored ``hp_policy`` was computed before the permutation).
    """
    from ._predict import predict  # direct, lazy: TensorFlow only when a model is evaluated
    from ._train import train

    kw = {"seed": seed, "verbose": False, **dict(train_kwargs)}
    if mod is not None:
        kw["mod"] = mod
    if cache is not None and geometry in cache:
        trained = cache[geometry]
    else:
        trained = train(obj, model="hyperperturb", geometry=geometry, holdout=list(held), copy=True, **kw)
        if cache is not None:
            cache[geometry] = trained
    if random_embedding:
        trained = trained.copy()
        keys = permute_embedding(resolve(trained, mod=mod or "rna").adata, seed=seed)
        if permuted is not None and not permuted:
            permuted.extend(keys)
    pkw = {"mod": mod} if mod is not None else {}
    if method != "auto":
        pkw["method"] = method
    rew = predict(trained, perturbations=list(held), kind="reward", **pkw)
    pol = predict(trained, perturbations=list(held), kind="policy", **pkw)
    rew = rew.reindex(columns=list(held)).to_numpy(dtype=np.float64)
    pol = pol.reindex(columns=list(held)).to_numpy(dtype=np.float64)
    tpol = None if random_embedding else _stored_policy(trained, train_names, mod, predict)
    if not (np.isfinite(rew).all() and np.isfinite(pol).all() and (tpol is None or np.isfinite(tpol).all())):
        msg = (
            f"hp.tl.predict returned NaN for held-out perturbations {list(held)} or the stored policy of the training "
            f"perturbations is not finite (geometry={geometry!r}); their targets may not be scorable. "
            "Check `adata.uns['hyperperturb']['train']['scorable']`."
        )
        raise ValueError(msg)
    return rew, pol, tpol


def _stored_policy(trained: Any, train_names: np.ndarray, mod: str | None, predict: Any) -> np.ndarray:
    """The trained model's in-sample policy ``.varm["hp_policy"]`` for the training perturbations (genes x names).

    Falls back to ``hp.tl.predict(kind="policy", method="head")`` when ``hp_policy`` or its column names are missing.
    Not ``method="auto"``: the kernel readout of a training perturbation leaves its own profile out, which makes
    the leave-one-out mean anti-correlated with the observed ranking by construction.
    """
    ad_ = resolve(trained, mod=mod or "rna").adata
    entry = get_ledger(ad_).get("train", {})
    cols = np.asarray(entry.get("perturbations", []), dtype=str) if isinstance(entry, dict) else np.asarray([])
    if "hp_policy" in ad_.varm and np.asarray(ad_.varm["hp_policy"]).shape[1] == cols.size and cols.size:
        pos = {n: i for i, n in enumerate(cols)}
        if all(str(n) in pos for n in train_names):
            P = np.asarray(ad_.varm["hp_policy"], dtype=np.float64)
            return P[:, [pos[str(n)] for n in train_names]]
    pkw = {"mod": mod} if mod is not None else {}
    out = predict(trained, perturbations=list(train_names), kind="policy", method="head", **pkw)
    return out.reindex(columns=list(train_names)).to_numpy(dtype=np.float64)


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


def evaluate(
    data: Any,
    *,
    split: str = "random",
    n_splits: int = 5,
    holdout_frac: float = 0.2,
    seed: int = 0,
    models: str | Sequence[str] | None = ("hyperperturb", "hyperperturb-euclidean", "hyperperturb-random-embedding"),
    baselines: str | Sequence[str] | None = ("mean", "linear", "shuffled-network", "ceiling", "majority-vote"),
    metrics: str | Sequence[str] | None = None,
    train_kwargs: Mapping[str, Any] | None = None,
    effect_level: float = 0.05,
    n_null: int = 200,
    k: int = 20,
    policy_threshold: float = 0.1,
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
        permutation and the model training.
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
        ``"mean"`` (average training profile), ``"linear"`` (PCA gene embedding + ridge, K=10, lambda=0.1, in the
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
        Extra keyword arguments for :func:`hyperperturb.tl.train` (e.g. ``{"epochs": 100, "dim": 2}``).
    effect_level
        Level of the control-resampling test that labels a perturbation ``detectable``.
    n_null
        Number of control resamples per perturbation for that test.
    k
        Size of the top-k gene sets of ``topk_recall`` and ``residual_pearson`` (>= 2).
    policy_threshold
        ``policy_auroc`` labels perturbation ``p`` as moving gene ``g`` when its excess ``R[g, p] - B[g]``
        (signed rewards: ``|R[g, p]|``) exceeds ``policy_threshold * B[g]``.
    mod
        Modality of a MuData holding RNA and the ledger.
    verbose
        Show progress over splits.
    copy
        Work on (and return) a copy of ``data`` instead of returning the results table.

    Returns
    -------
    The tidy results table (columns ``split``, ``model``, ``perturbation``, ``metric``, ``value``, ``effect``), or
    the copy of ``data`` when ``copy=True``. Per-split metrics (``js_policy``, ``spearman_value``,
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
    >>> res = hp.tl.evaluate(adata, n_splits=5, train_kwargs={"epochs": 100})  # doctest: +SKIP
    >>> res = hp.tl.evaluate(adata, split="loo", models=(), baselines=("mean", "linear", "ceiling"))  # doctest: +SKIP
    >>> adata.uns["hyperperturb"]["evaluation"]["summary"]  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    t = resolve(data, mod=mod)
    _validate(split, n_splits, holdout_frac, effect_level, n_null, k, policy_threshold, train_kwargs)
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
    if needs_train and "hp_adjacency" not in t.adata.varp:
        msg = (
            "The graph models and the shuffled-network baseline need a gene network (.varp['hp_adjacency']). "
            "Run `hp.pp.gene_network(adata, ...)` first, or evaluate `baselines=('mean', 'linear')` only."
        )
        raise KeyError(msg)
    screen: Screen = read_screen(t.adata, needed_by="hp.tl.evaluate")
    rng = as_rng(seed)
    eligible_idx = np.flatnonzero(screen.eligible)
    splits = make_splits(eligible_idx, n_splits=int(n_splits), holdout_frac=float(holdout_frac), rng=rng, scheme=split)
    logger.info(
        "evaluate: %d of %d perturbations eligible (target is a graph node); %d %s split(s) of %d held out",
        eligible_idx.size,
        screen.names.size,
        len(splits),
        split,
        splits[0].size,
    )

    # detectability of every perturbation that is ever held out (one cell-level pass)
    ever = np.unique(np.concatenate(splits))
    rw_params = get_ledger(t.adata)["rewards"].get("params", {})
    layer = rw_params.get("layer") if isinstance(rw_params, dict) else None
    layer = None if layer in (None, "None") else str(layer)
    det, stat, thr = detectable_effects(
        t.adata,
        screen,
        ever,
        effect_level=float(effect_level),
        n_null=int(n_null),
        rng=np.random.default_rng(rng.integers(2**32)),
        layer=layer,
    )
    effect_of = {int(c): ("detectable" if d else "none") for c, d in zip(ever, det, strict=True)}
    halves = None
    if "ceiling" in baselines_t:  # split-half rewards of every perturbation (one pass over the perturbed cells)
        R_A, R_B, _ = split_half_rewards(
            t.adata, screen, np.arange(screen.names.size), rng=np.random.default_rng(rng.integers(2**32)), layer=layer
        )
        halves = (R_A, R_B)
        n_short = int((~np.isfinite(R_A).all(axis=0)).sum())
        if n_short:
            logger.warning("evaluate: %d perturbation(s) have fewer than 2 cells; their ceiling is NaN.", n_short)

    methods = [*models_t, *baselines_t]
    per_pert_metrics = tuple(m for m in metrics_t if m in PER_PERTURBATION)
    split_metrics = tuple(m for m in metrics_t if m in PER_SPLIT and m != "policy_auroc")
    want_auroc = "policy_auroc" in metrics_t
    cand_pos = {int(c): i for i, c in enumerate(eligible_idx)}
    candidates = screen.reward[:, eligible_idx]
    excess = not screen.signed
    permuted: list[str] = []
    rows: list[dict[str, Any]] = []
    t_mod = t.mod

    def _add(s: int, method: str, pert: str, metric: str, value: float, effect: str) -> None:
        rows.append(
            {
                "split": s,
                "model": method,
                "perturbation": pert,
                "metric": metric,
                "value": float(value),
                "effect": effect,
            }
        )

    for s, held_cols in enumerate(progress(splits, verbose=verbose, total=len(splits), desc="evaluate")):
        train_cols = np.setdiff1d(np.arange(screen.names.size), held_cols)
        R_train = screen.reward[:, train_cols]
        m_train = R_train.mean(axis=1)
        obs = screen.reward[:, held_cols]
        held_names = screen.names[held_cols]
        train_names = screen.names[train_cols]
        eff = np.asarray([effect_of[int(c)] for c in held_cols])
        true_index = np.asarray([cand_pos[int(c)] for c in held_cols])
        labels = moved_labels(R_train, screen.baseline, signed=screen.signed, threshold=float(policy_threshold))
        score_kw = {"excess": excess, "k": int(k), "train_mean": m_train, "candidates": candidates}
        cache: dict[str, Any] = {}
        for method in methods:
            pol = tpol = None
            if method == "majority-vote":
                if want_auroc:
                    _add(s, method, "all", "policy_auroc", _policy_auroc(majority_vote_scores(labels), labels), "all")
                continue
            if method == "ceiling":
                assert halves is not None
                _ceiling_rows(
                    _add, s, halves, held_cols, train_cols, held_names, eff, true_index, screen, score_kw,
                    per_pert_metrics, split_metrics, want_auroc, float(policy_threshold),
                )  # fmt: skip
                continue
            if method == "mean":
                pred = predict_mean(R_train, held_cols.size)
                tpol = predict_mean(R_train, train_cols.size)
            elif method == "linear":
                tidx_train = screen.target_index[train_cols]
                pred = predict_linear(R_train, tidx_train, screen.target_index[held_cols])
                tpol = predict_linear(R_train, tidx_train, tidx_train)
            elif method == "shuffled-network":
                obj = shuffled_network_copy(t.adata, seed=int(seed) * 1000 + s)
                pred, pol, tpol = _model_predictions(
                    obj,
                    held_names,
                    train_names,
                    geometry="poincare",
                    seed=int(seed) + s,
                    train_kwargs=train_kwargs or {},
                    mod=None,
                )
            else:
                pred, pol, tpol = _model_predictions(
                    t.data,
                    held_names,
                    train_names,
                    geometry=MODELS[method],
                    seed=int(seed) + s,
                    train_kwargs=train_kwargs or {},
                    mod=t_mod,
                    method=PREDICT_METHOD[method],
                    cache=cache,
                    random_embedding=method in RANDOM_EMBEDDING,
                    permuted=permuted,
                )
            per, _ = score_split(
                pred, obs, screen.baseline, metrics=per_pert_metrics, true_index=true_index, **score_kw
            )
            for metric, vals in per.items():
                for j, name in enumerate(held_names):
                    _add(s, method, str(name), metric, vals[j], str(eff[j]))
            for subset, cols in _subset_columns(eff):
                if not split_metrics:
                    break
                _, sm = score_split(
                    pred[:, cols],
                    obs[:, cols],
                    screen.baseline,
                    excess=excess,
                    metrics=split_metrics,
                    pred_policy=None if pol is None else pol[:, cols],
                )
                for metric, val in sm.items():
                    _add(s, method, "all", metric, val, subset)
            if want_auroc and tpol is not None:
                _add(s, method, "all", "policy_auroc", _policy_auroc(tpol, labels), "all")
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
    summary = summarize(results)
    detect = pd.DataFrame(
        {
            "perturbation": screen.names[ever].astype(str),
            "statistic": stat,
            "threshold": thr,
            "effect": np.where(det, "detectable", "none").astype(str),
        }
    )
    if halves is not None:  # reproducibility of each profile: Spearman-Brown corrected split-half Pearson of the excess
        b = screen.baseline[:, None] if excess else 0.0
        ex_a, ex_b = halves[0][:, ever] - b, halves[1][:, ever] - b
        detect["split_half_r"] = [
            spearman_brown(pearson(ex_a[:, j], ex_b[:, j])) if np.isfinite(ex_a[:, j]).all() else float("nan")
            for j in range(ever.size)
        ]
    entry = {
        "params": {
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
            "excess": excess,
        },
        "results": results,
        "summary": summary,
        "detectability": detect,
        "splits": {str(i): [str(n) for n in screen.names[c]] for i, c in enumerate(splits)},
        "coverage": screen.coverage,
        "random_embedding_keys": list(permuted),
        "wall_time": float(time.perf_counter() - t0),
    }
    if copy:
        t = t.copy()
    record(t.adata, _STEP, entry)
    logger.info("evaluate: %d rows in %.1f s", len(results), entry["wall_time"])
    return t.done(True) if copy else results


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
        kw_l = {"signed": screen.signed, "threshold": policy_threshold}
        auc = 0.5 * (
            _policy_auroc(a_t, moved_labels(b_t, screen.baseline, **kw_l))
            + _policy_auroc(b_t, moved_labels(a_t, screen.baseline, **kw_l))
        )
        add(s, "ceiling", "all", "policy_auroc", auc, "all")
