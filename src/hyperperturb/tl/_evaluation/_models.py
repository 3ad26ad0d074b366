"""Trained-model predictions of :func:`hyperperturb.tl.evaluate` (private; TensorFlow only inside the calls)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hyperperturb._utils import _entries, resolve

from ._baselines import permute_embedding


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
    scored: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Train on everything but ``held`` (names); return held-out (reward, policy) and the training policy.

    ``scored``: the held-out names to predict (default all of ``held``; a subsample on large screens).

    ``cache`` (per split) reuses a model trained with the same geometry for another read-out ``method``.
    ``random_embedding``: predict from a copy whose stored positions are permuted (keys appended to ``permuted``);
    its training policy is ``None`` (the stored ``hp_policy`` was computed before the permutation).
    """
    from hyperperturb.tl._model._predict import predict  # direct, lazy: TensorFlow only when a model is evaluated
    from hyperperturb.tl._model._train import train

    kw = {"seed": seed, "verbose": False, **dict(train_kwargs)}
    if mod is not None:
        kw["mod"] = mod
    if cache is not None and geometry in cache:
        trained = cache[geometry]
    else:
        geo: Any = geometry  # "poincare" or "euclidean" (MODELS)
        if geo == "euclidean":
            kw.pop("learn_curvature", None)  # the flat ablation has no curvature to learn
        trained = train(obj, model="hyperperturb", geometry=geo, holdout=list(held), copy=True, **kw)
        if cache is not None:
            cache[geometry] = trained
    if random_embedding:
        trained = trained.copy()
        keys = permute_embedding(resolve(trained, mod=mod or "rna").adata, seed=seed)
        if permuted is not None and not permuted:
            permuted.extend(keys)
    pkw: dict[str, Any] = {"mod": mod} if mod is not None else {}
    if method != "auto":
        pkw["method"] = method
    out = list(held) if scored is None else list(scored)
    rew = predict(trained, perturbations=out, kind="reward", **pkw)
    pol = predict(trained, perturbations=out, kind="policy", **pkw)
    rew = rew.reindex(columns=out).to_numpy(dtype=np.float64)
    pol = pol.reindex(columns=out).to_numpy(dtype=np.float64)
    tpol = None if random_embedding else _stored_policy(trained, train_names, mod, predict)
    if not (np.isfinite(rew).all() and np.isfinite(pol).all() and (tpol is None or np.isfinite(tpol).all())):
        msg = (
            f"hp.tl.predict returned NaN for held-out perturbations {out} or the stored policy of the training "
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
    cols = np.asarray(_entries.train_perturbations(ad_), dtype=str)
    if "hp_policy" in ad_.varm and np.asarray(ad_.varm["hp_policy"]).shape[1] == cols.size and cols.size:
        pos = {n: i for i, n in enumerate(cols)}
        if all(str(n) in pos for n in train_names):
            P = np.asarray(ad_.varm["hp_policy"], dtype=np.float64)
            return P[:, [pos[str(n)] for n in train_names]]
    pkw: dict[str, Any] = {"mod": mod} if mod is not None else {}
    out = predict(trained, perturbations=list(train_names), kind="policy", method="head", **pkw)
    return out.reindex(columns=list(train_names)).to_numpy(dtype=np.float64)
