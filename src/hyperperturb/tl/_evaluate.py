"""``hp.tl.evaluate``: held-out-perturbation benchmark of the model against baselines."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hyperperturb._utils import as_rng, get_ledger, logger, progress, record, resolve

from ._baselines import BASELINES, MODELS, PREDICT_METHOD, predict_linear, predict_mean, shuffled_network_copy
from ._metrics import ALL_METRICS, PER_PERTURBATION, PER_SPLIT, score_split
from ._splits import Screen, detectable_effects, make_splits, read_screen

_STEP = "evaluation"


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


def _validate(n_splits: Any, holdout_frac: Any, effect_level: Any, n_null: Any, k: Any, train_kwargs: Any) -> None:
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
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        msg = f"`k` must be a positive integer (size of the top-k gene sets), got {k!r}."
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


def _train_api() -> tuple[Any, Any]:
    from hyperperturb import tl

    train = getattr(tl, "train", None)
    predict = getattr(tl, "predict", None)
    if train is None or predict is None:
        msg = (
            "The hyperperturb models need `hp.tl.train` and `hp.tl.predict`, which are not available in this "
            "installation. Evaluate the baselines only: `models=(), baselines=('mean', 'linear')`."
        )
        raise ImportError(msg)
    return train, predict


def _model_predictions(
    obj: Any,
    held: np.ndarray,
    *,
    geometry: str,
    seed: int,
    train_kwargs: Mapping[str, Any],
    mod: str | None,
    method: str = "auto",
    cache: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Train on everything but ``held`` (names) and return (reward, policy) predictions for the held-out columns.

    ``cache`` (per split) reuses a model trained with the same geometry for another read-out ``method``.
    """
    train, predict = _train_api()
    kw = {"seed": seed, "verbose": False, **dict(train_kwargs)}
    if mod is not None:
        kw["mod"] = mod
    if cache is not None and geometry in cache:
        trained = cache[geometry]
    else:
        trained = train(obj, model="hyperperturb", geometry=geometry, holdout=list(held), copy=True, **kw)
        if cache is not None:
            cache[geometry] = trained
    pkw = {"mod": mod} if mod is not None else {}
    if method != "auto":
        pkw["method"] = method
    rew = predict(trained, perturbations=list(held), kind="reward", **pkw)
    pol = predict(trained, perturbations=list(held), kind="policy", **pkw)
    rew = rew.reindex(columns=list(held)).to_numpy(dtype=np.float64)
    pol = pol.reindex(columns=list(held)).to_numpy(dtype=np.float64)
    if not (np.isfinite(rew).all() and np.isfinite(pol).all()):
        msg = (
            f"hp.tl.predict returned NaN for held-out perturbations {list(held)} (geometry={geometry!r}); "
            "their targets may not be scorable. Check `adata.uns['hyperperturb']['train']['scorable']`."
        )
        raise ValueError(msg)
    return rew, pol


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
    columns); ``"detectable"`` only those whose effect beats control resampling. Pairs are matched by split and
    perturbation; ``p_vs_<name>`` is ``nan`` against itself or with fewer than 2 pairs.
    """
    methods = list(dict.fromkeys(results["model"]))
    rows = []
    for metric in dict.fromkeys(results["metric"]):
        r_m = results[results["metric"] == metric]
        per_split = metric in PER_SPLIT
        for subset in ("all", "detectable"):
            if per_split:
                r_s = r_m[r_m["effect"] == subset]
            else:
                r_s = r_m if subset == "all" else r_m[r_m["effect"] == "detectable"]
            wide = r_s.pivot_table(index=["split", "perturbation"], columns="model", values="value", dropna=False)
            for m in methods:
                if m not in wide.columns:
                    continue
                v = wide[m].to_numpy(dtype=np.float64)
                fin = v[np.isfinite(v)]
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
    n_splits: int = 5,
    holdout_frac: float = 0.2,
    seed: int = 0,
    models: str | Sequence[str] | None = ("hyperperturb", "hyperperturb-euclidean"),
    baselines: str | Sequence[str] | None = ("mean", "linear", "shuffled-network"),
    metrics: str | Sequence[str] | None = None,
    train_kwargs: Mapping[str, Any] | None = None,
    effect_level: float = 0.05,
    n_null: int = 200,
    k: int = 20,
    mod: str = "rna",
    verbose: bool = True,
    copy: bool = False,
) -> pd.DataFrame | Any:
    """Score predictions for held-out perturbations against the observed rewards, for models and baselines.

    Whole perturbations are held out: each of ``n_splits`` random splits hides ``holdout_frac`` of the *eligible*
    perturbations (those whose target gene is a node of the graph: a measured gene or an extra network node).
    Every model is trained without them (``hp.tl.train(..., holdout=held_out, copy=True)``) and scores them from
    their target genes (``hp.tl.predict(..., kind="reward")``); the baselines see only the training columns.

    Raw rewards (mean absolute log fold change) are dominated by each gene's own noise level, so every
    perturbation-level metric except ``spearman_raw`` is computed on the excess ``R[g, p] - B[g]`` over the
    control-vs-control noise floor ``B`` (``.var["hp_reward_baseline"]``). A perturbation is ``detectable`` when
    the L2 norm of its excess profile exceeds the ``1 - effect_level`` quantile of the same statistic for random
    sets of control cells of the same size (a streamed, chunked pass over the cells).

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.pp.perturbations` and :func:`hyperperturb.tl.rewards`
        (and :func:`hyperperturb.pp.gene_network` for the graph models).
    n_splits
        Number of random hold-out splits.
    holdout_frac
        Fraction of the eligible perturbations held out in each split (at least one; two must stay in training).
    seed
        Seed of the splits, the control resampling, the network rewiring and the model training.
    models
        Graph models: ``"hyperperturb"`` (Poincaré ball) and ``"hyperperturb-euclidean"`` (the same model with
        ``geometry="euclidean"``), both read out with ``hp.tl.predict(method="auto")`` (the embedding-kernel
        readout); ``"hyperperturb-head"`` and ``"hyperperturb-euclidean-head"`` score the same trained models with
        the policy/value heads only (``method="head"``). Pass ``()`` to evaluate baselines only.
    baselines
        ``"mean"`` (average training profile), ``"linear"`` (PCA gene embedding + ridge, K=10, lambda=0.1, in the
        style of Ahlmann-Eltze et al.), ``"shuffled-network"`` (the hyperbolic model on a degree-preserving rewired
        graph).
    metrics
        Subset of ``spearman_excess``, ``pearson_excess``, ``spearman_raw``, ``topk_recall``, ``js_policy`` and
        ``spearman_value``; ``None`` for all.
    train_kwargs
        Extra keyword arguments for :func:`hyperperturb.tl.train` (e.g. ``{"epochs": 100, "dim": 2}``).
    effect_level
        Level of the control-resampling test that labels a perturbation ``detectable``.
    n_null
        Number of control resamples per perturbation for that test.
    k
        Size of the top-k gene sets of ``topk_recall``.
    mod
        Modality of a MuData holding RNA and the ledger.
    verbose
        Show progress over splits.
    copy
        Work on (and return) a copy of ``data`` instead of returning the results table.

    Returns
    -------
    The tidy results table (columns ``split``, ``model``, ``perturbation``, ``metric``, ``value``, ``effect``), or
    the copy of ``data`` when ``copy=True``. Per-split metrics (``js_policy``, ``spearman_value``) have
    ``perturbation == "all"`` and ``effect`` ``"all"`` (every held-out column) or ``"detectable"`` (only those).
    Correlations are ``nan`` where a profile is constant (logged as a warning).

    Notes
    -----
    Writes ``.uns["hyperperturb"]["evaluation"]`` with ``results``, ``summary`` (see :func:`summarize`-style
    columns ``model``, ``metric``, ``subset``, ``mean``, ``sd``, ``median``, ``n``, ``p_vs_<method>``: paired
    Wilcoxon p-values per perturbation), ``detectability`` (per eligible held-out perturbation: statistic,
    threshold, effect), ``splits`` (held-out names per split), ``coverage`` and ``params``.

    Examples
    --------
    >>> res = hp.tl.evaluate(adata, n_splits=5, train_kwargs={"epochs": 100})  # doctest: +SKIP
    >>> adata.uns["hyperperturb"]["evaluation"]["summary"]  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    t = resolve(data, mod=mod)
    _validate(n_splits, holdout_frac, effect_level, n_null, k, train_kwargs)
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
    needs_train = bool(models_t) or "shuffled-network" in baselines_t
    if needs_train:
        _train_api()
        if "hp_adjacency" not in t.adata.varp:
            msg = (
                "The graph models and the shuffled-network baseline need a gene network (.varp['hp_adjacency']). "
                "Run `hp.pp.gene_network(adata, ...)` first, or evaluate `baselines=('mean', 'linear')` only."
            )
            raise KeyError(msg)
    screen: Screen = read_screen(t.adata, needed_by="hp.tl.evaluate")
    rng = as_rng(seed)
    eligible_idx = np.flatnonzero(screen.eligible)
    splits = make_splits(eligible_idx, n_splits=int(n_splits), holdout_frac=float(holdout_frac), rng=rng)
    logger.info(
        "evaluate: %d of %d perturbations eligible (target is a graph node); %d split(s) of %d held out",
        eligible_idx.size,
        screen.names.size,
        len(splits),
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

    methods = [*models_t, *baselines_t]
    per_pert_metrics = tuple(m for m in metrics_t if m in PER_PERTURBATION)
    split_metrics = tuple(m for m in metrics_t if m in PER_SPLIT)
    rows: list[dict[str, Any]] = []
    t_mod = t.mod
    for s, held_cols in enumerate(progress(splits, verbose=verbose, total=len(splits), desc="evaluate")):
        train_cols = np.setdiff1d(np.arange(screen.names.size), held_cols)
        R_train = screen.reward[:, train_cols]
        obs = screen.reward[:, held_cols]
        held_names = screen.names[held_cols]
        eff = np.asarray([effect_of[int(c)] for c in held_cols])
        cache: dict[str, Any] = {}
        for method in methods:
            pol = None
            if method == "mean":
                pred = predict_mean(R_train, held_cols.size)
            elif method == "linear":
                pred = predict_linear(R_train, screen.target_index[train_cols], screen.target_index[held_cols])
            elif method == "shuffled-network":
                obj = shuffled_network_copy(t.adata, seed=int(seed) * 1000 + s)
                pred, pol = _model_predictions(
                    obj, held_names, geometry="poincare", seed=int(seed) + s, train_kwargs=train_kwargs or {}, mod=None
                )
            else:
                pred, pol = _model_predictions(
                    t.data,
                    held_names,
                    geometry=MODELS[method],
                    seed=int(seed) + s,
                    train_kwargs=train_kwargs or {},
                    mod=t_mod,
                    method=PREDICT_METHOD[method],
                    cache=cache,
                )
            per, _ = score_split(
                pred, obs, screen.baseline, excess=not screen.signed, metrics=per_pert_metrics, k=int(k)
            )
            for metric, vals in per.items():
                for j, name in enumerate(held_names):
                    rows.append(
                        {
                            "split": s,
                            "model": method,
                            "perturbation": str(name),
                            "metric": metric,
                            "value": float(vals[j]),
                            "effect": str(eff[j]),
                        }
                    )
            for subset in ("all", "detectable"):
                cols = np.arange(held_cols.size) if subset == "all" else np.flatnonzero(eff == "detectable")
                if cols.size < (1 if subset == "all" else 2) or not split_metrics:
                    continue
                _, sm = score_split(
                    pred[:, cols],
                    obs[:, cols],
                    screen.baseline,
                    excess=not screen.signed,
                    metrics=split_metrics,
                    pred_policy=None if pol is None else pol[:, cols],
                )
                for metric, val in sm.items():
                    rows.append(
                        {
                            "split": s,
                            "model": method,
                            "perturbation": "all",
                            "metric": metric,
                            "value": float(val),
                            "effect": subset,
                        }
                    )
    results = pd.DataFrame(rows, columns=["split", "model", "perturbation", "metric", "value", "effect"])
    results["split"] = results["split"].astype(np.int64)
    n_nan = int(results["value"].isna().sum())
    if n_nan:
        logger.warning(
            "evaluate: %d metric value(s) are NaN (a predicted or observed profile is constant, so a correlation is "
            "undefined); they are kept as NaN and left out of the summary.",
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
    entry = {
        "params": {
            "n_splits": int(n_splits),
            "holdout_frac": float(holdout_frac),
            "seed": int(seed),
            "models": list(models_t),
            "baselines": list(baselines_t),
            "metrics": list(metrics_t),
            "train_kwargs": dict(train_kwargs or {}),
            "effect_level": float(effect_level),
            "n_null": int(n_null),
            "k": int(k),
            "excess": not screen.signed,
        },
        "results": results,
        "summary": summary,
        "detectability": detect,
        "splits": {str(i): [str(n) for n in screen.names[c]] for i, c in enumerate(splits)},
        "coverage": screen.coverage,
        "wall_time": float(time.perf_counter() - t0),
    }
    if copy:
        t = t.copy()
    record(t.adata, _STEP, entry)
    logger.info("evaluate: %d rows in %.1f s", len(results), entry["wall_time"])
    return t.done(True) if copy else results
