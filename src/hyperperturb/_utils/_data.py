"""Resolving the user's object: AnnData or MuData, modality, matrix, protein channels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from ._ledger import get_ledger


def is_mudata(data: Any) -> bool:
    """Whether ``data`` is a :class:`mudata.MuData` (without importing mudata eagerly)."""
    return type(data).__name__ == "MuData" and hasattr(data, "mod")


@dataclass
class Target:
    """The user's object and the AnnData that a function works on.

    Attributes
    ----------
    data
        What the user passed (AnnData or MuData).
    adata
        The AnnData holding RNA and the ``.uns['hyperperturb']`` ledger: ``data`` itself, or ``data.mod[mod]``.
    mod
        The modality name for a MuData, else ``None``.
    """

    data: Any
    adata: AnnData
    mod: str | None = None

    def copy(self) -> Target:
        """A deep copy of the user's object, re-resolved."""
        new = self.data.copy()
        return Target(new, new.mod[self.mod] if self.mod is not None else new, self.mod)

    def done(self, copy: bool) -> Any:
        """What a scanpy-style function returns: the object if ``copy`` else ``None``."""
        if is_mudata(self.data):
            try:
                self.data.update()
            except Exception:  # noqa: BLE001 - updating global obs/var names is best effort
                pass
        return self.data if copy else None


def resolve(data: Any, *, mod: str = "rna", name: str = "data") -> Target:
    """Check that ``data`` is an AnnData or MuData and find the AnnData to work on.

    Raises
    ------
    TypeError
        If ``data`` is neither AnnData nor MuData.
    KeyError
        If a MuData lacks the modality ``mod``.
    ValueError
        If the object has no cells or no genes.
    """
    if isinstance(data, AnnData):
        target = Target(data, data, None)
    elif is_mudata(data):
        if mod not in data.mod:
            msg = (
                f"Modality {mod!r} is not present in the MuData object; its modalities are {list(data.mod)}. "
                f"Pass the RNA modality's name as `mod=`."
            )
            raise KeyError(msg)
        target = Target(data, data.mod[mod], mod)
    else:
        msg = (
            f"`{name}` must be an AnnData or a MuData object, got {type(data).__name__}. "
            "Build one with `anndata.AnnData(X, obs=..., var=...)` or read it with `scanpy.read_h5ad`."
        )
        raise TypeError(msg)
    if target.adata.n_obs == 0 or target.adata.n_vars == 0:
        msg = f"The AnnData is empty ({target.adata.n_obs} cells x {target.adata.n_vars} genes); nothing to compute."
        raise ValueError(msg)
    return target


def get_matrix(adata: AnnData, layer: str | None = None) -> Any:
    """The expression matrix to use: ``adata.layers[layer]``, else the layer recorded by ``hp.pp.preprocess``, else ``X``.

    The matrix is returned as stored (dense, scipy sparse, backed dataset or Dask array); it is never densified.
    """
    if layer is None:
        layer = get_ledger(adata).get("preprocess", {}).get("layer")
        if layer is not None and layer not in adata.layers:
            layer = None
    if layer is None:
        if adata.X is None:
            msg = "adata.X is None. Pass `layer=` naming a layer with log-normalised expression."
            raise ValueError(msg)
        return adata.X
    if layer not in adata.layers:
        msg = f"Layer {layer!r} not found in adata.layers; available layers: {list(adata.layers)}."
        raise KeyError(msg)
    return adata.layers[layer]


def resolve_protein(target: Target, prot_mod: str = "prot") -> tuple[list[str], Any, AnnData | None] | None:
    """Find a protein modality.

    Returns ``(names, matrix, prot_adata)`` where ``prot_adata`` is the protein AnnData of a MuData (else ``None``,
    for an AnnData carrying ``.obsm['protein']``), or ``None`` when there is no protein data.
    """
    if target.mod is not None:
        mdata = target.data
        if prot_mod not in mdata.mod:
            return None
        p = mdata.mod[prot_mod]
        return list(map(str, p.var_names)), p.X, p
    adata = target.adata
    if "protein" not in adata.obsm:
        return None
    prot = adata.obsm["protein"]
    if isinstance(prot, pd.DataFrame):
        return list(map(str, prot.columns)), prot.to_numpy(), None
    names = adata.uns.get("protein_names")
    if names is None:
        names = [f"protein_{i}" for i in range(prot.shape[1])]
    return list(map(str, np.asarray(names))), prot, None
