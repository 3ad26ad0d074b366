"""Preprocessing: perturbation design, fold changes, gene networks (``hp.pp``).

Nothing here imports TensorFlow.
"""

from ._gene_network import gene_network
from ._log_fold_change import log_fold_change
from ._perturbations import perturbations
from ._preprocess import preprocess

__all__: list[str] = ["gene_network", "log_fold_change", "perturbations", "preprocess"]
