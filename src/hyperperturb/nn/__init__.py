"""TensorFlow / Keras 3 core of hyperperturb: Poincaré-ball geometry, optimizer, schedule, layers, models.

This subpackage knows tensors, not AnnData. Importing it imports TensorFlow.
"""

from ._curriculum import ComplexityScheduler, PerturbationEnv
from ._debug import debug_numerics, is_debug_numerics
from ._geometry import Euclidean, PoincareBall, get_manifold
from ._graph import normalized_adjacency
from ._layers import HyperbolicAttention, HyperbolicDense, HyperbolicGraphConv
from ._losses import SafeKLDivergence, safe_kl
from ._models import HyperbolicPerturbationModel, HyperPerturbModel
from ._optimizer import HyperbolicAdam, manifold_variable
from ._schedule import QuantumAnnealer

__all__: list[str] = [
    "ComplexityScheduler",
    "HyperPerturbModel",
    "HyperbolicPerturbationModel",
    "PerturbationEnv",
    "SafeKLDivergence",
    "safe_kl",
    "Euclidean",
    "HyperbolicAdam",
    "HyperbolicAttention",
    "HyperbolicDense",
    "HyperbolicGraphConv",
    "PoincareBall",
    "QuantumAnnealer",
    "debug_numerics",
    "get_manifold",
    "is_debug_numerics",
    "manifold_variable",
    "normalized_adjacency",
]
