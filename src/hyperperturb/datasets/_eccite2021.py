"""Loader for the Papalexi et al. 2021 ECCITE-seq CRISPR screen (THP-1, 299-gene subset)."""

from __future__ import annotations

import os

import anndata as ad
import pandas as pd
from anndata import AnnData

from ._paths import find_file

FILENAME = "papalexi2021_thp1_eccite_299genes.h5ad"


def papalexi2021(path: str | os.PathLike[str] | None = None, *, drop_unassigned: bool = True) -> AnnData:
    """Read the Papalexi et al. (2021) THP-1 ECCITE-seq knock-out screen (299-gene subset, raw counts).

    Twenty-five targeted genes plus ``"non-targeting"`` controls (``obs["perturbation"]``, ``obs["is_control"]``);
    ``X`` holds raw integer UMI counts (CSR, int32). The file is not shipped with hyperperturb.

    Parameters
    ----------
    path
        The file ``papalexi2021_thp1_eccite_299genes.h5ad`` or the folder holding it. Default: the folder named by
        the environment variable ``HYPERPERTURB_DATA``.
    drop_unassigned
        Drop the cells whose guide could not be assigned (``obs["grna_assigned"] == False``, labelled
        ``"multiple"``), and the then unused categories.

    Returns
    -------
    The screen as an :class:`~anndata.AnnData` (perturbation key ``"perturbation"``, control ``"non-targeting"``).

    Examples
    --------
    >>> import hyperperturb as hp
    >>> adata = hp.datasets.papalexi2021("data/")  # doctest: +SKIP
    """
    p = find_file(path, FILENAME, loader="hp.datasets.papalexi2021")
    adata = ad.read_h5ad(p)
    if drop_unassigned:
        if "grna_assigned" not in adata.obs:
            msg = (
                f"{p.name} has no obs['grna_assigned'] column; it is not the expected file. Pass drop_unassigned=False."
            )
            raise KeyError(msg)
        adata = adata[adata.obs["grna_assigned"].to_numpy(dtype=bool)].copy()
        for col in adata.obs.columns:
            if isinstance(adata.obs[col].dtype, pd.CategoricalDtype):
                adata.obs[col] = adata.obs[col].cat.remove_unused_categories()
    return adata
