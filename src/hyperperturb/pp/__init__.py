"""Preprocessing: perturbation design, fold changes, gene networks (``hp.pp``).

Nothing here imports TensorFlow itself. ``hp.pp.preprocess`` (with ``neighbors=True``, the default) builds scanpy's
neighbour graph, and umap-learn, which scanpy uses for it, loads TensorFlow when it is installed; that first import
is made quietly (no TensorFlow start-up lines on stderr). ``neighbors=False`` skips it.
"""

from ._gene_network import gene_network
from ._log_fold_change import log_fold_change
from ._perturbations import perturbations
from ._preprocess import preprocess

__all__: list[str] = ["gene_network", "log_fold_change", "perturbations", "preprocess"]
