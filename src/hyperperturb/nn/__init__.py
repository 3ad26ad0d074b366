"""TensorFlow / Keras 3 core of hyperperturb: Poincaré-ball geometry, optimizer, schedule, layers, models.

This subpackage knows tensors, not AnnData. Importing it imports TensorFlow (quietly: without TensorFlow's C++
start-up lines, see :mod:`hyperperturb._utils._quiet`).
"""

# ruff: noqa: E402 - TensorFlow is loaded quietly before the modules that import it
from hyperperturb._utils._quiet import quiet_tensorflow_start

with quiet_tensorflow_start():  # Keras loads its TensorFlow backend and TensorFlow probes devices in here
    import keras as _keras
    import tensorflow as _tf

    _tf.config.list_physical_devices()
del _keras, _tf, quiet_tensorflow_start

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
