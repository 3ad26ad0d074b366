"""The QuantumAnnealer learning-rate schedule: exponential decay times a cosine oscillation."""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

__all__ = ["QuantumAnnealer"]


@keras.saving.register_keras_serializable(package="hyperperturb")
class QuantumAnnealer(keras.optimizers.schedules.LearningRateSchedule):
    r"""Exponential decay modulated by a cosine oscillation ("annealing": explore early, cool down later).

    .. math::

        \eta(t) = \eta_{\min} + (\eta_0 - \eta_{\min})\, r^{t / T_{\max}}\,
        \frac{1 + a \cos(2\pi k\, t / T_{\max})}{1 + a}

    with :math:`\eta_0` = ``initial_learning_rate``, :math:`r` = ``decay_rate``, :math:`a` = ``oscillation``,
    :math:`k` = ``cycles`` and :math:`t` the optimizer step. :math:`\eta(0) = \eta_0`; the envelope decays
    to :math:`\eta_{\min} + r(\eta_0 - \eta_{\min})` at :math:`t = T_{\max}` and keeps decaying after it;
    the rate is always :math:`\ge \eta_{\min} > 0`.

    Parameters
    ----------
    initial_learning_rate
        Rate at step 0 (> 0).
    T_max
        Length of the schedule in optimizer steps (> 0). With one full-graph batch per epoch (the
        default of ``hp.tl.train``), steps equal epochs.
    decay_rate
        Factor by which the envelope decays over ``T_max`` steps, in ``(0, 1]``.
    oscillation
        Relative amplitude of the oscillation, in ``[0, 1)`` (``0``: plain exponential decay).
    cycles
        Number of cosine periods within ``T_max`` steps (> 0).
    min_learning_rate
        Floor of the schedule, in ``(0, initial_learning_rate]``.
    name
        Name scope of the ops.

    Examples
    --------
    >>> sched = QuantumAnnealer(1e-2, T_max=100)
    >>> round(float(sched(0)), 6)
    0.01
    """

    def __init__(
        self,
        initial_learning_rate: float,
        T_max: float,
        decay_rate: float = 0.1,
        oscillation: float = 0.3,
        cycles: float = 4.0,
        min_learning_rate: float = 1e-6,
        name: str = "QuantumAnnealer",
    ) -> None:
        super().__init__()
        checks = [
            ("initial_learning_rate", initial_learning_rate, lambda v: v > 0, "> 0"),
            ("T_max", T_max, lambda v: v > 0, "> 0 (the schedule length in optimizer steps)"),
            ("decay_rate", decay_rate, lambda v: 0 < v <= 1, "in (0, 1]"),
            ("oscillation", oscillation, lambda v: 0 <= v < 1, "in [0, 1)"),
            ("cycles", cycles, lambda v: v > 0, "> 0"),
            ("min_learning_rate", min_learning_rate, lambda v: 0 < v <= float(initial_learning_rate), None),
        ]
        for arg, value, ok, want in checks:
            try:
                fv = float(value)
            except (TypeError, ValueError):
                msg = f"{arg} must be a number, got {value!r}."
                raise TypeError(msg) from None
            if not math.isfinite(fv) or not ok(fv):
                want = want or f"in (0, initial_learning_rate={initial_learning_rate}]"
                msg = f"{arg} must be {want}, got {value!r}."
                raise ValueError(msg)
        self.initial_learning_rate = float(initial_learning_rate)
        self.T_max = float(T_max)
        self.decay_rate = float(decay_rate)
        self.oscillation = float(oscillation)
        self.cycles = float(cycles)
        self.min_learning_rate = float(min_learning_rate)
        self.name = name

    def __call__(self, step: Any) -> tf.Tensor:
        """Learning rate at optimizer step ``step`` (float32 tensor)."""
        with tf.name_scope(self.name):
            t = tf.cast(step, tf.float32) / self.T_max
            envelope = tf.pow(tf.constant(self.decay_rate, tf.float32), t)
            wave = (1.0 + self.oscillation * tf.cos(2.0 * math.pi * self.cycles * t)) / (1.0 + self.oscillation)
            span = self.initial_learning_rate - self.min_learning_rate
            return self.min_learning_rate + span * envelope * wave

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "T_max": self.T_max,
            "decay_rate": self.decay_rate,
            "oscillation": self.oscillation,
            "cycles": self.cycles,
            "min_learning_rate": self.min_learning_rate,
            "name": self.name,
        }
