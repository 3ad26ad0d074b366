"""Private: split-half reliability of each perturbation's excess profile (used to weight transfer sources)."""

from __future__ import annotations

import logging

import numpy as np
from anndata import AnnData

from hyperperturb.tl._screen._halves import split_half_rewards
from hyperperturb.tl._screen._read import read_screen

logger = logging.getLogger("hyperperturb")

#: Genes x perturbations entries of the split halves held at once.
_BLOCK = 1 << 22


def perturbation_reliability(
    adata: AnnData, names: list[str], *, seed: int, layer: str | None = None
) -> np.ndarray | None:
    """Spearman–Brown corrected split-half reliability in [0, 1] of each perturbation in ``names``.

    The cells of each perturbation are split at random (seeded) into two halves; the reliability is the Pearson
    correlation across genes of the two halves' excess profiles (reward minus each gene's noise floor; signed
    rewards as they are), corrected to the full number of cells, ``2r / (1 + r)``, clipped to [0, 1]. A
    perturbation with fewer than 2 cells or a constant half gets 0. Returns ``None`` (with a log message) when the
    cells are not available (no ``.obsm["perturbation_target"]``, e.g. an object reduced to its results).
    """
    try:
        screen = read_screen(adata, needed_by="hp.tl.train")
        pos = {str(n): i for i, n in enumerate(screen.names)}
        cols = np.asarray([pos[str(n)] for n in names], dtype=np.int64)
        B = np.zeros(adata.n_vars) if screen.signed else np.asarray(screen.baseline, dtype=np.float64)
        rng = np.random.default_rng(seed)
        # a block of perturbations at a time (the halves are drawn in column order from one generator, so they are
        # those of a single call): two genes x block halves instead of two genes x perturbations matrices
        step = max(1, _BLOCK // max(adata.n_vars, 1))
        sb = np.zeros(cols.size)
        for lo in range(0, cols.size, step):
            R_A, R_B, _ = split_half_rewards(adata, screen, cols[lo : lo + step], rng=rng, layer=layer)
            sb[lo : lo + step] = _spearman_brown(R_A, R_B, B)
    except (KeyError, ValueError) as err:
        logger.info("hp.tl.train: split-half reliability not available (%s); transfer sources are unweighted.", err)
        return None
    return sb


def _spearman_brown(R_A: np.ndarray, R_B: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Per column: Pearson r across genes of the two halves' excess, Spearman–Brown corrected, in [0, 1]."""
    A, Bh = R_A - B[:, None], R_B - B[:, None]
    A = A - A.mean(axis=0, keepdims=True)
    Bh = Bh - Bh.mean(axis=0, keepdims=True)
    den = np.sqrt((A * A).sum(axis=0) * (Bh * Bh).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (A * Bh).sum(axis=0) / den
    r = np.where(np.isfinite(r) & (den > 0), r, 0.0)
    sb = np.where(r > 0, 2.0 * r / (1.0 + r), 0.0)
    return np.clip(sb, 0.0, 1.0)
