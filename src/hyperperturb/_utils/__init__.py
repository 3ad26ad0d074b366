"""Ground floor: input validation, the ``.uns['hyperperturb']`` ledger, logging.

Everything here is private API shared by ``pp``, ``tl``, ``pl``, ``get`` and ``datasets``.
Nothing here imports TensorFlow.
"""

from ._atomic import atomic_write
from ._data import (
    PROTEIN_MODALITIES,
    Target,
    get_matrix,
    is_mudata,
    obs_indexer,
    protein_mod_name,
    resolve,
    resolve_protein,
)
from ._ledger import (
    DEPENDS_ON,
    LEDGER_KEY,
    array_digest,
    cells_digest,
    check_current,
    check_ledger_key,
    get_ledger,
    library_versions,
    record,
    require_step,
    stale_reason,
    target_sets,
)
from ._log import logger, progress
from ._validate import (
    as_rng,
    check_finite_matrix,
    check_numeric_matrix,
    check_seed,
    check_unique_names,
    sanitize_for_h5ad,
)

__all__ = [
    "atomic_write",
    "LEDGER_KEY",
    "Target",
    "as_rng",
    "check_finite_matrix",
    "check_numeric_matrix",
    "check_seed",
    "check_unique_names",
    "get_ledger",
    "get_matrix",
    "is_mudata",
    "library_versions",
    "logger",
    "progress",
    "record",
    "require_step",
    "DEPENDS_ON",
    "array_digest",
    "cells_digest",
    "check_current",
    "check_ledger_key",
    "stale_reason",
    "target_sets",
    "resolve",
    "resolve_protein",
    "PROTEIN_MODALITIES",
    "obs_indexer",
    "protein_mod_name",
    "sanitize_for_h5ad",
]
