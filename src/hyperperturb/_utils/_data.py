"""Resolving the user's object: AnnData or MuData, modality, matrix, protein channels."""

from __future__ import annotations

import contextlib
import difflib
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from ._entries import preprocess_layer
from ._validate import str_array
from ._warn import warn


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
            update_mudata(self.data)
        return self.data if copy else None


def update_mudata(mdata: Any) -> None:
    """``mdata.update()`` (global obs/var names after a modality changed), without mudata 0.3's warnings.

    mudata 0.3 warns (``FutureWarning``) at every ``update()`` unless ``pull_on_update`` is set, and its legacy column
    pulling warns "Cannot join columns ..." when modalities share obs names. Unless the user chose the option
    themselves, the update runs with ``pull_on_update=False`` (mudata 0.4's default: names and indices are updated,
    results stay in the modalities, e.g. ``mdata["rna"].var["hp_value"]``). Best effort: a failing update is ignored.
    """
    import mudata

    ctx: Any = contextlib.nullcontext()
    try:
        from mudata._core.config import OPTIONS  # no public getter in mudata 0.3

        if OPTIONS.get("pull_on_update", False) is None:
            ctx = mudata.set_options(pull_on_update=False)
    except (ImportError, AttributeError, ValueError):  # other mudata versions: update as they do
        pass
    with ctx, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will not pull obs/var columns.*", category=FutureWarning)
        warnings.filterwarnings("ignore", message="Cannot join columns.*")
        try:
            mdata.update()
        except Exception:  # noqa: BLE001 - updating global obs/var names is best effort
            pass


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
        layer = preprocess_layer(adata)
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


#: Protein modality names found automatically (pertpy/muon use "adt" or "prot", some pipelines "protein").
PROTEIN_MODALITIES = ("prot", "adt", "protein")
#: ``.obsm`` keys that look like protein channels but are not read (hyperperturb reads ``.obsm["protein"]``).
_OTHER_PROTEIN_OBSM = ("protein_counts", "protein_expression", "adt", "ADT", "prot", "adt_counts")


def protein_mod_name(data: Any, prot_mod: str | None = "prot", *, mod: str | None = None) -> str | None:
    """The name of the protein modality of a MuData, or ``None`` if it has none.

    ``prot_mod`` if present; for the default (``None`` or ``"prot"``) the first of ``"prot"``, ``"adt"``,
    ``"protein"`` present (any case), with a warning naming the others when several are present.

    Raises
    ------
    KeyError
        If an explicit ``prot_mod`` (other than the default ``"prot"``) is not a modality.
    """
    names = [str(k) for k in data.mod if k != mod]
    if prot_mod is not None and prot_mod in names:
        return prot_mod
    if prot_mod is None or prot_mod == "prot":
        lower = {k.lower(): k for k in names}
        found = [lower[c] for c in PROTEIN_MODALITIES if c in lower]
        if len(found) > 1:
            warn(
                f"The MuData has several protein-like modalities {found}; using {found[0]!r}. Pass "
                f"`prot_mod=` naming the one to use (e.g. prot_mod={found[1]!r}) to choose explicitly.",
                UserWarning,
            )
        return found[0] if found else None
    near = difflib.get_close_matches(str(prot_mod), names, n=1)
    hint = f" Did you mean {near[0]!r}?" if near else ""
    msg = (
        f"Protein modality prot_mod={prot_mod!r} is not in the MuData; its modalities are {list(map(str, data.mod))}."
        f"{hint} Pass the protein modality's name, or leave `prot_mod` at its default to find "
        f"{'/'.join(PROTEIN_MODALITIES)} automatically."
    )
    raise KeyError(msg)


def obs_indexer(names: pd.Index, other: pd.Index, *, what: str = "the protein modality") -> np.ndarray:
    """For each cell in ``names``, the row of the cell with the same ``obs_name`` in ``other`` (``-1`` if absent).

    The one way modalities are joined: by ``obs_names``, never by row position.

    Raises
    ------
    ValueError
        If either set of names is not unique (a join by name would be ambiguous).
    """
    names, other = pd.Index(names), pd.Index(other)
    for idx in (names, other):
        if not idx.is_unique:
            dup = idx[idx.duplicated()].unique()[:5].tolist()
            msg = (
                f"obs_names are not unique (e.g. {dup}) when joining {what} by cell name. "
                "Make them unique (`mdata.obs_names_make_unique()`)."
            )
            raise ValueError(msg)
    if names.equals(other):
        return np.arange(len(names), dtype=np.int64)
    return np.asarray(other.get_indexer(names), dtype=np.int64)


def _warn_unread_protein_obsm(adata: AnnData) -> None:
    found = [k for k in _OTHER_PROTEIN_OBSM if k in adata.obsm]
    if found:
        warn(
            f"adata.obsm has {found} (protein channels?) but hyperperturb reads proteins only from "
            "adata.obsm['protein'] (names in adata.uns['protein_names'] or DataFrame columns); they are not used. "
            f"To use them: `adata.obsm['protein'] = adata.obsm[{found[0]!r}]` (normalise ADT counts first, e.g. CLR), "
            "or build a MuData with a 'prot' modality.",
            UserWarning,
        )


def resolve_protein(target: Target, prot_mod: str | None = "prot") -> tuple[list[str], Any, AnnData | None] | None:
    """Find a protein modality.

    Returns ``(names, matrix, prot_adata)`` where ``prot_adata`` is the protein AnnData of a MuData (else ``None``,
    for an AnnData carrying ``.obsm['protein']``), or ``None`` when there is no protein data. For a MuData the
    modality is found by :func:`protein_mod_name` (``"prot"``, ``"adt"`` or ``"protein"`` by default; an explicit
    unknown name raises :class:`KeyError`). An AnnData with protein-like ``.obsm`` keys other than ``"protein"``
    gets a warning that they are not used.
    """
    if target.mod is not None:
        mdata = target.data
        name = protein_mod_name(mdata, prot_mod, mod=target.mod)
        if name is None:
            return None
        p = mdata.mod[name]
        return list(map(str, p.var_names)), p.X, p
    adata = target.adata
    if "protein" not in adata.obsm:
        _warn_unread_protein_obsm(adata)
        return None
    prot = adata.obsm["protein"]
    if isinstance(prot, pd.DataFrame):
        return list(map(str, prot.columns)), prot.to_numpy(), None
    return _uns_protein_names(adata, prot.shape[1]), prot, None


def _uns_protein_names(adata: AnnData, n_columns: int) -> list[str]:
    """The names of the ``n_columns`` columns of an ndarray ``.obsm['protein']``: ``.uns['protein_names']``.

    Without ``.uns['protein_names']`` the columns are named ``protein_0``, ``protein_1``, ... A list of another
    length than the columns is refused (it would pair names with the wrong columns).
    """
    names = adata.uns.get("protein_names")
    if names is None:
        return [f"protein_{i}" for i in range(n_columns)]
    names = str_array(names).ravel().tolist()
    if len(names) != n_columns:
        msg = (
            f"adata.uns['protein_names'] has {len(names)} name(s) but adata.obsm['protein'] has {n_columns} "
            "column(s): there must be one name per column. Set adata.uns['protein_names'] to the names of all "
            f"{n_columns} columns, in their order (or delete it to name them protein_0, protein_1, ...)."
        )
        raise ValueError(msg)
    return names
