"""``hp.get.rewards``: the stored rewards and training targets as a tidy table."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from hyperperturb._utils import resolve
from hyperperturb._utils._schema import RewardsEntry, read

_KINDS = {"reward": "hp_reward", "policy_target": "hp_policy_target", "value_target": "hp_value_target"}


def rewards(
    data: Any,
    *,
    kind: Literal["reward", "policy_target", "value_target"] = "reward",
    mod: str = "rna",
    layout: Literal["long", "wide"] = "long",
    protein: bool = False,
) -> pd.DataFrame:
    """Rewards, policy targets or value targets written by :func:`hyperperturb.tl.rewards`, as a DataFrame.

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.rewards`.
    kind
        ``"reward"`` (``.varm["hp_reward"]``, mean absolute or signed log fold change), ``"policy_target"``
        (``.varm["hp_policy_target"]``, rows sum to 1) or ``"value_target"`` (``.var["hp_value_target"]``).
    mod
        Modality of a MuData to read: the RNA modality, or the protein modality (e.g. ``"prot"``) whose protein
        rewards ``hp.tl.rewards`` stored there.
    layout
        ``"long"`` (default, tidy like the rest of ``hp.get``): one row per gene and perturbation with columns
        ``gene``, ``perturbation``, ``value`` (``gene``, ``value`` for ``kind="value_target"``). ``"wide"``: genes ×
        perturbations (index ``gene``, columns ``perturbation``; one column ``value_target`` for
        ``kind="value_target"``), handy for ``R["STAT1"].nlargest(10)``.
    protein
        For an AnnData with ``.obsm["protein"]``: return the protein rewards kept in the ledger (rows are
        proteins) instead of the gene rewards.

    Returns
    -------
    A :class:`~pandas.DataFrame` (genes in ``var_names`` order, perturbations in design order).

    Raises
    ------
    KeyError
        If :func:`hyperperturb.tl.rewards` has not been run, or no protein rewards are stored.
    ValueError
        If ``kind`` or ``layout`` is unknown.

    Examples
    --------
    >>> import hyperperturb as hp
    >>> hp.tl.rewards(adata)  # doctest: +SKIP
    >>> hp.get.rewards(adata)  # tidy: gene, perturbation, value  # doctest: +SKIP
    >>> hp.get.rewards(adata, layout="wide")["STAT1"].nlargest(10)  # doctest: +SKIP
    """
    if kind not in _KINDS:
        msg = f"`kind` must be one of {list(_KINDS)}, got {kind!r}."
        raise ValueError(msg)
    if layout not in ("wide", "long"):
        msg = f"`layout` must be 'wide' or 'long', got {layout!r}."
        raise ValueError(msg)
    t = resolve(data, mod=mod)
    adata = t.adata
    entry = read(adata, RewardsEntry, needed_by="hp.get.rewards")
    perts = list(entry.perturbations)
    if protein:
        prot = entry.protein
        if not prot:
            msg = (
                "No protein rewards are stored in .uns['hyperperturb']['rewards']['protein']; they exist only for an "
                "AnnData with .obsm['protein']. For a MuData read the protein modality with `mod=` (e.g. mod='prot')."
            )
            raise KeyError(msg)
        rows = [str(x) for x in np.asarray(prot["names"]).tolist()]
        arr = np.asarray(prot[kind])
    else:
        rows = [str(x) for x in adata.var_names]
        key = _KINDS[kind]
        store = adata.var if kind == "value_target" else adata.varm
        if key not in store:
            where = f".var[{key!r}]" if kind == "value_target" else f".varm[{key!r}]"
            msg = f"{where} is missing although the ledger lists rewards; re-run `hp.tl.rewards(adata)`."
            raise KeyError(msg)
        arr = np.array(store[key], copy=True)  # a table the user may edit: never a view of the stored array
    index = pd.Index(rows, name="gene")
    if kind == "value_target":
        df = pd.DataFrame({"value_target": arr.astype(float)}, index=index)
        if layout == "long":
            return pd.DataFrame({"gene": rows, "value": arr.astype(float)})
        return df
    if arr.shape != (len(rows), len(perts)):
        msg = (
            f"The stored {kind} has shape {arr.shape}, expected {(len(rows), len(perts))} (rows × perturbations "
            "recorded in the ledger); the object is inconsistent. Re-run `hp.tl.rewards(adata)`."
        )
        raise ValueError(msg)
    if layout == "wide":
        return pd.DataFrame(arr, index=index, columns=pd.Index(perts, name="perturbation"))
    return pd.DataFrame(
        {
            "gene": np.repeat(np.asarray(rows, dtype=object), len(perts)),
            "perturbation": np.tile(np.asarray(perts, dtype=object), len(rows)),
            "value": arr.reshape(-1).astype(float),
        }
    )
