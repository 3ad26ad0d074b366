"""Preprocessing: perturbation design, fold changes, gene networks (``hp.pp``).

Nothing here imports TensorFlow.
"""

from ._perturbations import perturbations

__all__: list[str] = ["perturbations"]
