"""Hold-out splits of whole perturbations for :func:`hyperperturb.tl.evaluate` (private)."""

from __future__ import annotations

import numpy as np


def make_splits(
    eligible_idx: np.ndarray,
    *,
    n_splits: int,
    holdout_frac: float,
    rng: np.random.Generator,
    scheme: str = "random",
) -> list[np.ndarray]:
    """Hold-out sets of whole perturbations (indices into the reward columns), one per split.

    ``scheme="random"``: every split holds out ``max(1, round(holdout_frac * n_eligible))`` eligible perturbations,
    drawn independently per split (repeated random sub-sampling, as in Ahlmann-Eltze et al.); at least two stay in
    training. ``scheme="loo"``: leave-one-perturbation-out, one split per eligible perturbation in column order
    (``n_splits``, ``holdout_frac`` and ``rng`` are not used); needs at least 3 eligible perturbations.
    """
    n = eligible_idx.size
    if scheme == "loo":
        if n < 3:
            msg = (
                f"Only {n} eligible perturbation(s) (target gene is a node of the graph): leave-one-out needs at least "
                "3 (2 stay in training). Add network nodes with `hp.pp.gene_network`, or screen more perturbations."
            )
            raise ValueError(msg)
        return [np.asarray([int(c)], dtype=np.int64) for c in np.sort(eligible_idx)]
    k = max(1, round(holdout_frac * n))
    if n - k < 2:
        msg = (
            f"Only {n} eligible perturbation(s) (target gene is a node of the graph): holding out {k} leaves fewer "
            "than 2 for training. Lower `holdout_frac`, add network nodes with `hp.pp.gene_network`, or screen more "
            "perturbations."
        )
        raise ValueError(msg)
    return [np.sort(rng.choice(eligible_idx, size=k, replace=False)) for _ in range(n_splits)]
