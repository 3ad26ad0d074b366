"""Arguments of :func:`hyperperturb.tl.evaluate`: validation and the held-out subsample of large screens (private)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hyperperturb._utils._validate import close_matches

#: Split schemes of ``hp.tl.evaluate(split=...)``.
SPLITS = ("random", "loo")
#: Default of ``max_heldout``: held-out perturbations scored per split (random splits) / splits (leave-one-out).
MAX_HELDOUT = 200
#: Arguments of ``hp.tl.train`` that evaluate sets itself for each model and split (refused in ``train_kwargs``).
_RESERVED_TRAIN_KWARGS = ("holdout", "copy", "geometry", "model", "seed")


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
    max_heldout: Any = None,
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
    if max_heldout is not None and (
        isinstance(max_heldout, bool) or not isinstance(max_heldout, int | np.integer) or max_heldout < 2
    ):
        msg = (
            "`max_heldout` must be an integer >= 2 (held-out perturbations scored per split; a seeded subsample "
            f"when a split holds out more) or None to score all of them, got {max_heldout!r}."
        )
        raise ValueError(msg)
    reserved = set(_RESERVED_TRAIN_KWARGS) & set(train_kwargs or {})
    if reserved:
        msg = (
            f"`train_kwargs` must not set {sorted(reserved)}: evaluate sets them for each model and split (each "
            "split's training is seeded from hp.tl.evaluate's own `seed=`)."
        )
        raise ValueError(msg)
    check_train_kwargs(train_kwargs)


def check_train_kwargs(train_kwargs: Mapping[str, Any] | None) -> None:
    """Refuse keys of ``train_kwargs`` that are not keyword arguments of :func:`hyperperturb.tl.train`.

    Checked before any work, so that a misspelt key (``"epochz"``) does not fail inside the first training run.
    """
    import inspect

    from hyperperturb.tl._model._train import train  # no TensorFlow at import: train imports it when called

    params = inspect.signature(train).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return  # a train that takes any keyword (a stand-in in tests) accepts every key
    allowed = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = [k for k in (train_kwargs or {}) if k not in allowed]
    if not unknown:
        return
    bad_type = [k for k in unknown if not isinstance(k, str)]
    if bad_type:
        msg = f"`train_kwargs` keys must be argument names of `hp.tl.train` (strings), got {bad_type[0]!r}."
        raise TypeError(msg)
    settable = [n for n in allowed if n not in _RESERVED_TRAIN_KWARGS]
    close = {k: close_matches(k, settable, n=1) for k in unknown}
    hints = [f"{c[0]!r}" + (f" for {k!r}" if len(unknown) > 1 else "") for k, c in close.items() if c]
    hint = f" Did you mean {', '.join(hints)}?" if hints else ""
    msg = (
        f"`train_kwargs` has {'keys' if len(unknown) > 1 else 'key'} {', '.join(map(repr, unknown))} that "
        f"`hp.tl.train` does not take.{hint} Pass keyword arguments of `hp.tl.train`: {settable}."
    )
    raise TypeError(msg)


def check_k(k: int, n_genes: int) -> None:
    """Refuse a top-k size ``k`` that is not smaller than the number of genes scored (``n_genes``).

    A top-k set of every gene makes ``topk_recall`` 1.0 for every model and baseline, whatever they predict.
    Called once the screen is read (after :func:`_validate` has checked that ``k`` is an integer >= 2).
    """
    if k < n_genes:
        return
    fix = f"Pass `k` between 2 and {n_genes - 1}" if n_genes > 2 else "Evaluate a screen with more genes"
    msg = (
        f"`k` must be smaller than the number of genes ({n_genes}), got k={k!r}: every top-k gene set would hold "
        f"all {n_genes} genes, so topk_recall would be 1.0 for every model and baseline. {fix} (the default is 20)."
    )
    raise ValueError(msg)


def subsample_heldout(
    splits: list[np.ndarray], max_heldout: int | None, *, seed: int, scheme: str
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(splits, scored)``: the hold-out sets and the held-out columns scored in each (see ``max_heldout``).

    Random splits keep their hold-out sets; one holding out more than ``max_heldout`` scores a sorted subsample drawn
    with ``default_rng([seed, 16, split])``. Leave-one-out keeps ``max_heldout`` splits drawn with
    ``default_rng([seed, 16])`` (in column order). Nothing is drawn below the bound, so small screens are unchanged.
    """
    if max_heldout is None:
        return splits, list(splits)
    if scheme == "loo":
        if len(splits) > max_heldout:
            keep = np.sort(np.random.default_rng([seed, 16]).choice(len(splits), size=max_heldout, replace=False))
            splits = [splits[int(i)] for i in keep]
        return splits, list(splits)
    scored = [
        np.sort(np.random.default_rng([seed, 16, s]).choice(h, size=max_heldout, replace=False))
        if h.size > max_heldout
        else h
        for s, h in enumerate(splits)
    ]
    return splits, scored
