"""TensorFlow's retracing warning is not shown for our own per-model functions (one trace per new model)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tensorflow as tf
from scipy import sparse

from hyperperturb.nn import HyperbolicAdam, HyperPerturbModel, PerturbationEnv, normalized_adjacency
from hyperperturb.nn._training import _OwnRetracingFilter


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _record(msg: str) -> logging.LogRecord:
    return logging.LogRecord("tensorflow", logging.WARNING, __file__, 1, msg, None, None)


RETRACE = "5 out of the last 10 calls to <function {} at 0x7f> triggered tf.function retracing. Tracing is expensive"


def test_filter_drops_only_our_functions_retracing_warning():
    f = _OwnRetracingFilter()
    assert not f.filter(_record(RETRACE.format("_make_train_function.<locals>.<lambda>")))
    assert not f.filter(_record(RETRACE.format("make_block_policy_loss.<locals>.loss_and_grads")))
    assert f.filter(_record(RETRACE.format("my_own_step")))  # a user's function: still warned about
    assert f.filter(_record("some other warning about _make_train_function.<locals>"))


@pytest.mark.slow  # seven model traces
def test_training_several_models_in_one_process_shows_no_retracing_warning():
    rng = np.random.default_rng(0)
    a = sparse.random(20, 20, density=0.2, random_state=0)
    adj = normalized_adjacency(sparse.csr_matrix(((a + a.T) > 0).astype(float)))
    x = rng.normal(size=(20, 4)).astype(np.float32)
    r = rng.random((20, 4))
    handler = _Records()
    logger = tf.get_logger()
    logger.addHandler(handler)
    try:
        for _ in range(7):  # TensorFlow warns from the 5th new trace of the same code on
            m = HyperPerturbModel(20, 4, [1, 2, 3, 4], dim=2)
            m.build()
            env = PerturbationEnv(r, curriculum=False)
            m.set_training_data(x, adj, r / r.sum(1, keepdims=True), r.mean(1), np.ones(20), env.mask)
            m.compile(optimizer=HyperbolicAdam(1e-2, manifold=m.manifold))
            m.fit(tf.data.Dataset.from_tensors(tf.zeros((1, 1))).repeat(), epochs=1, steps_per_epoch=1, verbose=0)
    finally:
        logger.removeHandler(handler)
    assert not [m for m in handler.messages if "retracing" in m], handler.messages
