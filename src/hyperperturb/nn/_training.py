"""Training support shared by the models: ``fit`` over data attached to the model (full batch or row batches)."""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from ._geometry import Euclidean, PoincareBall, get_manifold

#: Our per-model ``tf.function`` s: every new model traces its own once, which TensorFlow counts as a "retracing"
#: and warns about after a few trainings in one process (a notebook re-running ``hp.tl.train``, ``hp.tl.evaluate``'s
#: splits). One trace per model is by design, so that warning is dropped for these functions only.
OWN_FUNCTIONS = ("_make_train_function.<locals>", "make_block_policy_loss.<locals>")


class _OwnRetracingFilter(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning when it names one of :data:`OWN_FUNCTIONS`."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not ("tf.function retracing" in msg and any(name in msg for name in OWN_FUNCTIONS))


def quiet_own_retracing() -> None:
    """Install :class:`_OwnRetracingFilter` on TensorFlow's logger (once; other warnings are untouched)."""
    logger = tf.get_logger()
    if not any(isinstance(f, _OwnRetracingFilter) for f in logger.filters):
        logger.addFilter(_OwnRetracingFilter())


quiet_own_retracing()


def manifold_for(geometry: str | dict, curvature: float, learn_curvature: bool) -> PoincareBall | Euclidean:
    """The manifold of a model from its ``geometry`` argument (name or config) and curvature settings."""
    if isinstance(geometry, dict):
        geometry = dict(geometry)
        if geometry.get("name") == "poincare":
            geometry["curvature"] = curvature
            geometry["learnable"] = learn_curvature
        return get_manifold(geometry)
    return get_manifold(geometry, curvature=curvature, learnable=learn_curvature)


def _make_train_function(model: keras.Model, force: bool):
    if model.train_function is not None and not force:
        return model.train_function
    if getattr(model, "batch_rows", None) is None:  # one full-data step per epoch: the iterator is not read
        step = tf.function(lambda: model.train_step(None))

        def function(iterator):
            return step()

    else:  # row mini-batches: the iterator yields the node indices of each step
        step = tf.function(lambda rows: model.train_step(rows), reduce_retracing=True)

        def function(iterator):
            return step(iterator.get_next())

    model.train_function = function
    return function


class _FullBatchTraining:
    """``fit`` support for models whose data set is attached with ``set_training_data``.

    Subclasses provide ``compute_losses(training, rows=None)`` returning a dict with ``"loss"``. Without
    ``batch_rows`` every step uses all the data (the batch from ``fit`` is a placeholder); with it (a model that
    sets ``batch_rows`` and ``batch_size``), each step gets ``batch_size`` of those rows, reshuffled every epoch.
    """

    batch_rows: np.ndarray | None = None
    batch_size: int | None = None

    def make_train_function(self, force=False):
        """A ``tf.function`` over :meth:`train_step`, traced once per batch shape."""
        return _make_train_function(self, force)

    def training_dataset(self, seed: int = 0) -> tuple[tf.data.Dataset, int]:
        """The data set to pass to ``fit`` and its ``steps_per_epoch`` (one pass over the rows per epoch)."""
        if self.batch_rows is None:
            # one placeholder batch repeated forever: Keras keeps the iterator across epochs (no per-epoch set-up)
            return tf.data.Dataset.from_tensors(tf.zeros((1, 1))).repeat(), 1
        rows = np.asarray(self.batch_rows, dtype=np.int32)
        assert self.batch_size is not None  # set together with batch_rows
        size = int(self.batch_size)
        ds = tf.data.Dataset.from_tensor_slices(rows).shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(size).repeat(), int(np.ceil(len(rows) / size))

    def train_step(self, data):
        """One step: all the attached data, or the rows ``data`` in mini-batch mode."""
        with tf.GradientTape() as tape:
            logs = self.compute_losses(training=True) if data is None else self.compute_losses(training=True, rows=data)
        grads = tape.gradient(logs["loss"], self.trainable_variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, self.trainable_variables, strict=True)]
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        return logs
