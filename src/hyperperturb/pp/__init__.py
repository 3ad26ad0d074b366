"""Preprocessing: perturbation design, fold changes, gene networks (``hp.pp``).

Nothing here imports TensorFlow.
"""

__all__: list[str] = []
