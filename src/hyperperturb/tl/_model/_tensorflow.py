"""Private: the one place where ``tl`` first imports TensorFlow/Keras, quietly (see :mod:`hyperperturb._utils._quiet`)."""

from __future__ import annotations

from typing import Any

from hyperperturb._utils._quiet import quiet_tensorflow_start


def import_tensorflow() -> Any:
    """``tensorflow``, imported (with Keras and the device probe) without TensorFlow's C++ start-up lines."""
    with quiet_tensorflow_start():
        import keras  # noqa: F401 - Keras 3 loads its TensorFlow backend here
        import tensorflow as tf

        tf.config.list_physical_devices()  # CUDA probing prints (cuInit) here, inside the quiet block
    return tf
