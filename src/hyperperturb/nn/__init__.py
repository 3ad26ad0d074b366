"""TensorFlow / Keras 3 core of hyperperturb: Poincaré-ball geometry, optimizer, schedule, layers, models.

This subpackage knows tensors, not AnnData. Importing it imports TensorFlow.
"""

__all__: list[str] = []
