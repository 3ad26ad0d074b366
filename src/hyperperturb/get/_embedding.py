"""``hp.get.embedding``: the trained gene embedding as a tidy table (plus helpers shared with ``hp.pl``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from hyperperturb._utils import get_ledger, logger, require_step, resolve


def _train_entry(adata: AnnData, *, needed_by: str) -> dict[str, Any]:
    """The ``train`` ledger entry, or a :class:`KeyError` telling the user to run ``hp.tl.train`` first."""
    return require_step(adata, "train", needed_by=needed_by)


def _train_params(adata: AnnData) -> dict[str, Any]:
    """``params`` of the ``train`` ledger entry (empty if there is none)."""
    params = get_ledger(adata).get("train", {}).get("params", {})
    return params if isinstance(params, dict) else {}


def _curvature(adata: AnnData) -> float:
    """Curvature ``c`` of the ball used by ``hp.tl.train`` (1.0 when not recorded)."""
    c = _train_params(adata).get("curvature", 1.0)
    try:
        c = float(np.asarray(c).ravel()[0])
    except (TypeError, ValueError, IndexError):
        c = 1.0
    if not np.isfinite(c) or c <= 0:
        msg = f"The recorded curvature {c!r} is not a positive number; the training entry in .uns looks corrupted."
        raise ValueError(msg)
    return c


def _geometry(adata: AnnData) -> str:
    """``"poincare"`` or ``"euclidean"`` (the former when not recorded)."""
    return str(_train_params(adata).get("geometry", "poincare"))


def _names(x: Any) -> list[str]:
    return [str(v) for v in np.asarray(x).ravel()]


def _basis_key(adata: AnnData, basis: str, *, needed_by: str) -> str:
    """Find ``basis`` in ``.varm``: tries ``basis``, ``f"X_{basis}"``, then the ``key_added`` recorded by training."""
    candidates = [basis, f"X_{basis}"]
    key_added = _train_params(adata).get("key_added")
    if basis in ("X_poincare", "poincare") and isinstance(key_added, str):
        candidates.append(key_added)
    for key in candidates:
        if key in adata.varm:
            return key
    if "train" not in get_ledger(adata):
        _train_entry(adata, needed_by=needed_by)  # raises the "run hp.tl.train first" KeyError
    msg = f"No embedding {basis!r} in .varm; available keys: {list(adata.varm)}. Pass one of them as `basis=`."
    raise KeyError(msg)


def _perturbation_columns(adata: AnnData, key: str) -> list[str]:
    """Names of the columns of ``.varm[key]`` (``hp_policy``-like from training, ``hp_reward``-like from rewards)."""
    led = get_ledger(adata)
    n_cols = np.asarray(adata.varm[key]).shape[1]
    sources = []
    if key in ("hp_reward", "hp_policy_target"):
        sources = [led.get("rewards", {}).get("perturbations"), led.get("train", {}).get("perturbations")]
    else:
        sources = [led.get("train", {}).get("perturbations"), led.get("rewards", {}).get("perturbations")]
    sources.append(led.get("perturbations", {}).get("names"))
    for s in sources:
        if s is not None and len(_names(s)) == n_cols:
            return _names(s)
    msg = (
        f".varm[{key!r}] has {n_cols} columns but no perturbation names of that length are recorded in "
        ".uns['hyperperturb']; the object looks inconsistent. Re-run `hp.tl.rewards` and `hp.tl.train`."
    )
    raise ValueError(msg)


def _ball_radius(x: np.ndarray, c: float, *, what: str) -> np.ndarray:
    """Hyperbolic distance to the origin ``2/sqrt(c) artanh(sqrt(c)|x|)`` of the rows of ``x``."""
    sc = np.sqrt(c)
    norm = np.linalg.norm(x, axis=1) * sc
    if np.any(norm >= 1):
        worst = float(norm.max() / sc)
        msg = (
            f"{what} has points on or outside the Poincaré ball of curvature {c} (largest norm {worst:.4g} >= "
            f"{1 / sc:.4g}). Pass the curvature it was trained with, or re-run `hp.tl.train`."
        )
        raise ValueError(msg)
    return 2.0 / sc * np.arctanh(norm)


def embedding(data: Any, *, basis: str = "X_poincare", extra_nodes: bool = True, mod: str = "rna") -> pd.DataFrame:
    r"""The trained gene embedding as a tidy table, one row per node.

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.train`.
    basis
        Key in ``.varm`` holding the embedding (``"poincare"`` is read as ``"X_poincare"``; the ``key_added`` recorded
        by training is used when the default key is absent).
    extra_nodes
        Append the unmeasured network nodes (perturbation targets that are not in ``var_names``) recorded by
        training, flagged with ``measured=False``.
    mod
        Modality of a MuData holding the RNA (and the ``.uns['hyperperturb']`` ledger).

    Returns
    -------
    A :class:`~pandas.DataFrame` indexed by node name with columns ``x0`` … ``x{dim-1}`` (ball coordinates),
    ``radius`` (hyperbolic distance to the origin, :math:`\frac{2}{\sqrt{c}}\operatorname{artanh}(\sqrt{c}\lVert x\rVert)`;
    the Euclidean norm when the model was trained with ``geometry="euclidean"``), ``value`` (``.var["hp_value"]``,
    the predicted perturbation sensitivity; NaN for unmeasured nodes, which have no prediction) and ``measured``
    (``True`` for genes in ``var_names``). Genes without an embedding (all-NaN rows: genes the model did not see)
    are left out, with a log message saying how many.

    Raises
    ------
    KeyError
        If the embedding is absent (run :func:`hyperperturb.tl.train` first).
    ValueError
        If a point lies outside the ball of the recorded curvature.

    Examples
    --------
    >>> import hyperperturb as hp
    >>> df = hp.get.embedding(adata)  # doctest: +SKIP
    >>> df.sort_values("radius").head()  # genes closest to the origin: most general  # doctest: +SKIP
    """
    t = resolve(data, mod=mod)
    adata = t.adata
    key = _basis_key(adata, basis, needed_by="hp.get.embedding")
    x = np.asarray(adata.varm[key], dtype=float)
    if x.ndim != 2:
        msg = f".varm[{key!r}] must be a 2-d array (genes x dim), got shape {x.shape}."
        raise ValueError(msg)
    names = list(map(str, adata.var_names))
    value = np.asarray(adata.var["hp_value"], dtype=float) if "hp_value" in adata.var else np.full(len(names), np.nan)
    measured = np.ones(len(names), dtype=bool)
    if extra_nodes:
        entry = get_ledger(adata).get("train", {})
        extra = entry.get("extra_nodes")
        extra_emb = entry.get("extra_embedding")
        if extra is not None and extra_emb is not None and len(_names(extra)):
            extra_emb = np.asarray(extra_emb, dtype=float).reshape(len(_names(extra)), -1)
            if extra_emb.shape[1] == x.shape[1]:
                names += _names(extra)
                x = np.vstack([x, extra_emb])
                value = np.concatenate([value, np.full(len(extra_emb), np.nan)])
                measured = np.concatenate([measured, np.zeros(len(extra_emb), dtype=bool)])
    ok = np.isfinite(x).all(axis=1)
    if not ok.all():
        logger.info(
            "hp.get.embedding: %d of %d nodes have no embedding (non-finite rows) and are left out",
            (~ok).sum(),
            len(ok),
        )
    x, value, measured = x[ok], value[ok], measured[ok]
    names = [n for n, keep in zip(names, ok, strict=True) if keep]
    if _geometry(adata) == "euclidean":
        radius = np.linalg.norm(x, axis=1)
    else:
        radius = _ball_radius(x, _curvature(adata), what=f".varm[{key!r}]")
    df = pd.DataFrame(x, index=pd.Index(names, name="gene"), columns=[f"x{i}" for i in range(x.shape[1])])
    df["radius"] = radius
    df["value"] = value
    df["measured"] = measured
    return df
