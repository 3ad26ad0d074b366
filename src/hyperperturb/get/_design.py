"""``hp.get.design``: the proposals written by ``hp.tl.design``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from hyperperturb._utils import resolve
from hyperperturb._utils._entries import has_step
from hyperperturb._utils._schema import DesignEntry, keys_of, read


def design(data: Any, *, key: str = "design", mod: str = "rna") -> pd.DataFrame:
    """The perturbations proposed by :func:`hyperperturb.tl.design`, as a :class:`~pandas.DataFrame` (a copy).

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.design`.
    key
        The ``key_added`` of that call (ledger entry ``.uns["hyperperturb"][key]``).
    mod
        Modality of a MuData holding the RNA (where the ledger lives).

    Returns
    -------
    One row per proposal, in the order proposed (columns as documented in :func:`hyperperturb.tl.design`).

    Raises
    ------
    KeyError
        If no design was stored under ``key``.

    Examples
    --------
    >>> import hyperperturb as hp
    >>> hp.tl.design(adata, n=5)  # doctest: +SKIP
    >>> hp.get.design(adata)  # doctest: +SKIP
    """
    adata = resolve(data, mod=mod).adata
    stored = keys_of(adata, DesignEntry)
    if not has_step(adata, str(key)):
        hint = f"designs are stored under {stored}." if stored else "run `hp.tl.design(adata)` first."
        msg = f"No design stored under key={key!r}; {hint}"
        raise KeyError(msg)
    if str(key) not in stored:
        msg = f"The ledger entry {key!r} holds no proposals; it was not written by `hp.tl.design`."
        raise KeyError(msg)
    return read(adata, DesignEntry, needed_by="hp.get.design", step=str(key)).proposals.copy()
