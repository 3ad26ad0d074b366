"""``hp.get.embedding``: the trained gene embedding as a tidy table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hyperperturb._utils import _ball, logger, resolve
from hyperperturb._utils._entries import basis_key, map_extra_nodes, map_geometry


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
        Append the unmeasured network nodes (perturbation targets that are not in ``var_names``) placed by the
        step that wrote the map (training, or :func:`hyperperturb.tl.embed_network` for its map), flagged with
        ``measured=False``.
    mod
        Modality of a MuData holding the RNA (and the ``.uns['hyperperturb']`` ledger).

    Returns
    -------
    A :class:`~pandas.DataFrame` indexed by node name with columns ``x0`` … ``x{dim-1}`` (ball coordinates),
    ``radius`` (hyperbolic distance to the origin, :math:`\frac{2}{\sqrt{c}}\operatorname{artanh}(\sqrt{c}\lVert x\rVert)`;
    the Euclidean norm for a ``geometry="euclidean"`` map; geometry and curvature are those recorded by the step
    that wrote the map), ``value`` (``.var["hp_value"]``,
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
    key = basis_key(adata, basis, needed_by="hp.get.embedding")
    x = np.asarray(adata.varm[key], dtype=float)
    if x.ndim != 2:
        msg = f".varm[{key!r}] must be a 2-d array (genes x dim), got shape {x.shape}."
        raise ValueError(msg)
    names = list(map(str, adata.var_names))
    value = np.asarray(adata.var["hp_value"], dtype=float) if "hp_value" in adata.var else np.full(len(names), np.nan)
    measured = np.ones(len(names), dtype=bool)
    if extra_nodes:
        extra, extra_emb = map_extra_nodes(adata, key)
        if extra and extra_emb.shape[1] == x.shape[1]:
            names += extra
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
    if not ok.any():
        msg = (
            f"hp.get.embedding: .varm[{key!r}] has no finite row (all NaN/infinite); it was damaged after it was "
            "written. Re-run `hp.tl.train(adata)` (or `hp.tl.embed_network` for a network map)."
        )
        raise ValueError(msg)
    x, value, measured = x[ok], value[ok], measured[ok]
    names = [n for n, keep in zip(names, ok, strict=True) if keep]
    geo, c = map_geometry(adata, key)  # of the step that wrote this map (embed_network records its own)
    if geo == "euclidean":
        radius = np.linalg.norm(x, axis=1)
    else:
        radius = _ball.checked_radius(x, c=c, what=f".varm[{key!r}]")
    df = pd.DataFrame(x, index=pd.Index(names, name="gene"), columns=[f"x{i}" for i in range(x.shape[1])])
    df["radius"] = radius
    df["value"] = value
    df["measured"] = measured
    return df
