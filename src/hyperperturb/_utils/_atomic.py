"""All-or-nothing writes into an AnnData: a failing write restores what was there before."""

from __future__ import annotations

import copy as _copy
from collections.abc import Iterator
from contextlib import contextmanager

from anndata import AnnData

_MAPPINGS = ("obsm", "varm", "varp", "obsp", "layers")


@contextmanager
def atomic_write(adata: AnnData) -> Iterator[AnnData]:
    """Context manager: if anything raises (including ``KeyboardInterrupt``) inside, undo every change.

    It remembers the *references* held by ``.obs``/``.var`` columns, the aligned mappings (``obsm``, ``varm``,
    ``varp``, ``obsp``, ``layers``) and ``.uns`` (the ``hyperperturb`` ledger is deep-copied, other entries by
    reference), so the cost does not grow with the size of the arrays. Used by every hyperperturb function for its
    final write, so a result is never half-written.

    Examples
    --------
    >>> with atomic_write(adata):  # doctest: +SKIP
    ...     adata.varm["hp_reward"] = reward
    ...     adata.var["hp_value_target"] = value
    """
    obs = {k: adata.obs[k] for k in adata.obs.columns}
    var = {k: adata.var[k] for k in adata.var.columns}
    maps = {name: dict(getattr(adata, name).items()) for name in _MAPPINGS}
    uns = {k: (_copy.deepcopy(v) if k == "hyperperturb" else v) for k, v in adata.uns.items()}
    try:
        yield adata
    except BaseException:
        for frame, saved in ((adata.obs, obs), (adata.var, var)):
            for col in list(frame.columns):
                if col not in saved:
                    del frame[col]
            for col, values in saved.items():
                frame[col] = values
        for name, saved in maps.items():
            mapping = getattr(adata, name)
            for key in list(mapping.keys()):
                if key not in saved:
                    del mapping[key]
            for key, value in saved.items():
                if mapping.get(key) is not value:
                    mapping[key] = value
        for key in list(adata.uns.keys()):
            if key not in uns:
                del adata.uns[key]
        for key, value in uns.items():
            adata.uns[key] = value
        raise
