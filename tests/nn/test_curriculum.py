"""PerturbationEnv and ComplexityScheduler."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from hyperperturb.nn import ComplexityScheduler, PerturbationEnv
from hyperperturb.nn._curriculum import schedule_for


def _rewards():
    rng = np.random.default_rng(0)
    r = rng.random((5, 8))
    r[:, 3] += 10  # strongest
    r[:, 6] += 5  # second
    return r


def test_env_orders_by_strength_and_grows():
    env = PerturbationEnv(_rewards(), start=0.25)
    assert env.order[0] == 3 and env.order[1] == 6
    assert env.active_mask.sum() == 2 and env.active_mask[[3, 6]].all()
    np.testing.assert_array_equal(env.mask.numpy(), env.active_mask.astype(np.float32))
    env.increase_complexity(2.0)
    assert env.complexity == 0.5 and env.active_mask.sum() == 4
    env.increase_complexity(10.0)
    assert env.complexity == 1.0 and env.active_mask.all()
    with pytest.raises(ValueError, match=">= 1"):
        env.increase_complexity(0.5)


def test_env_holdout_and_no_curriculum():
    trainable = np.ones(8, bool)
    trainable[3] = False
    env = PerturbationEnv(_rewards(), trainable=trainable, curriculum=False)
    assert env.complexity == 1.0
    assert not env.active_mask[3] and env.active_mask.sum() == 7
    with pytest.raises(ValueError, match="held out"):
        PerturbationEnv(_rewards(), trainable=np.zeros(8, bool))


def test_env_step():
    r = _rewards()
    env = PerturbationEnv(r)
    np.testing.assert_array_equal(env.step(2), r[:, 2])
    np.testing.assert_array_equal(env.step(np.array([1, 3])), r[:, [1, 3]])
    assert env.n_steps == 2
    with pytest.raises(ValueError, match="indices"):
        env.step(99)
    with pytest.raises(ValueError, match="NaN"):
        PerturbationEnv(np.full((2, 2), np.nan))


def test_scheduler_callback():
    env = PerturbationEnv(_rewards(), start=0.25)
    cb = ComplexityScheduler(env, frequency=2, factor=2.0)
    for epoch in range(6):
        cb.on_epoch_end(epoch, {})
    assert cb.history == [0.25, 0.25, 0.5, 0.5, 1.0, 1.0]
    assert isinstance(cb, keras.callbacks.Callback)
    with pytest.raises(ValueError, match="frequency"):
        ComplexityScheduler(env, frequency=0)


def test_schedule_for_reaches_one_by_half():
    freq, factor = schedule_for(200, 0.25)
    env = PerturbationEnv(_rewards(), start=0.25)
    cb = ComplexityScheduler(env, frequency=freq, factor=factor)
    for epoch in range(100):
        cb.on_epoch_end(epoch, {})
    assert env.complexity == 1.0
