from __future__ import annotations

import keras
import numpy as np
import pytest

from hyperperturb.nn import QuantumAnnealer


def test_values_positive_decaying_and_oscillating():
    s = QuantumAnnealer(1e-2, T_max=100, decay_rate=0.1, oscillation=0.3, cycles=4, min_learning_rate=1e-6)
    steps = np.arange(0, 1000)
    lr = np.array([float(s(t)) for t in steps])
    assert lr[0] == pytest.approx(1e-2, rel=1e-6)
    assert np.all(lr > 0) and np.all(lr >= 1e-6 * (1 - 1e-6)) and np.all(np.isfinite(lr))
    assert lr[100] < 0.2 * lr[0]  # envelope decayed ~10x over T_max
    assert np.any(np.diff(lr[:100]) > 0)  # not monotone: it oscillates
    # closed form
    t = 37
    env = 0.1 ** (t / 100)
    wave = (1 + 0.3 * np.cos(2 * np.pi * 4 * t / 100)) / 1.3
    assert float(s(t)) == pytest.approx(1e-6 + (1e-2 - 1e-6) * env * wave, rel=1e-5)
    assert float(s(10**7)) == pytest.approx(1e-6, rel=1e-3)  # floor, never 0


def test_no_oscillation_is_exponential_decay():
    s = QuantumAnnealer(1.0, T_max=10, decay_rate=0.5, oscillation=0.0, min_learning_rate=1e-9)
    assert float(s(10)) == pytest.approx(0.5, rel=1e-5)
    assert float(s(20)) == pytest.approx(0.25, rel=1e-5)


def test_config_roundtrip_and_keras_serialisation():
    s = QuantumAnnealer(3e-3, T_max=250, decay_rate=0.2, oscillation=0.5, cycles=2.5, min_learning_rate=1e-5)
    s2 = QuantumAnnealer.from_config(s.get_config())
    s3 = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(s))
    assert isinstance(s3, QuantumAnnealer)
    for t in (0, 17, 250, 999):
        assert float(s2(t)) == float(s(t)) == float(s3(t))
    opt = keras.optimizers.Adam(learning_rate=s)
    opt2 = keras.optimizers.Adam.from_config(opt.get_config())
    assert isinstance(opt2._learning_rate, QuantumAnnealer)


@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [
        ({"initial_learning_rate": 0.0}, "initial_learning_rate"),
        ({"T_max": 0}, "T_max"),
        ({"decay_rate": 0.0}, "decay_rate"),
        ({"decay_rate": 1.5}, "decay_rate"),
        ({"oscillation": 1.0}, "oscillation"),
        ({"cycles": -1}, "cycles"),
        ({"min_learning_rate": 0.0}, "min_learning_rate"),
        ({"min_learning_rate": 1.0}, "min_learning_rate"),
        ({"T_max": float("nan")}, "T_max"),
    ],
)
def test_bad_arguments(kwargs, arg):
    base = {"initial_learning_rate": 1e-2, "T_max": 10}
    with pytest.raises(ValueError, match=arg):
        QuantumAnnealer(**{**base, **kwargs})
