"""``hp.get.design``: the proposals written by ``hp.tl.design``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from hyperperturb._utils import get_ledger, require_step, resolve


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
    led = get_ledger(adata)
    if str(key) not in led:
        stored = [k for k, v in led.items() if isinstance(v, dict) and (k == "design" or v.get("kind") == "design")]
        hint = f"designs are stored under {stored}." if stored else "run `hp.tl.design(adata)` first."
        msg = f"No design stored under key={key!r}; {hint}"
        raise KeyError(msg)
    entry = require_step(adata, str(key), needed_by="hp.get.design")
    out = entry.get("proposals")
    if out is None:
        msg = f"The ledger entry {key!r} holds no proposals; it was not written by `hp.tl.design`."
        raise KeyError(msg)
    return out.copy() if isinstance(out, pd.DataFrame) else pd.DataFrame(out)
