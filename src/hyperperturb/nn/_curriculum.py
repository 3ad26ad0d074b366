"""Curriculum over perturbations: :class:`PerturbationEnv` and :class:`ComplexityScheduler` (original HyperPerturb design §4.1)."""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf


class PerturbationEnv:
    """An environment over a reward matrix (genes × perturbations) with a growing set of active perturbations.

    The perturbations are ordered by strength (total reward over genes, strongest first). At complexity ``c`` the
    ``ceil(c · n_trainable)`` strongest trainable perturbations are *active*: only they enter the policy loss.
    :meth:`increase_complexity` grows the active set; the 0/1 vector :attr:`mask` (a :class:`tf.Variable`) is what
    the training step reads, so updating it changes the loss without re-tracing the compiled step.

    Parameters
    ----------
    rewards
        ``(n_genes, n_perturbations)`` non-negative rewards (e.g. mean absolute log fold change).
    start
        Initial complexity in ``(0, 1]``: the share of trainable perturbations active at the start.
    trainable
        Boolean ``(n_perturbations,)``; ``False`` marks held-out perturbations, which are never active.
    curriculum
        If ``False`` every trainable perturbation is active from the start.

    Attributes
    ----------
    complexity
        Current share of trainable perturbations in the loss.
    order
        Perturbation indices, strongest first.
    mask
        ``tf.Variable`` (float32, ``(n_perturbations,)``) mirroring :attr:`active_mask`.
    """

    def __init__(
        self,
        rewards: np.ndarray,
        *,
        start: float = 0.25,
        trainable: np.ndarray | None = None,
        curriculum: bool = True,
    ):
        rewards = np.asarray(rewards, dtype=np.float64)
        if rewards.ndim != 2:
            msg = f"`rewards` must be a 2-d array (genes x perturbations), got shape {rewards.shape}."
            raise ValueError(msg)
        if not np.isfinite(rewards).all():
            msg = "`rewards` contains NaN or inf; recompute them with `hp.tl.rewards`."
            raise ValueError(msg)
        if not 0 < start <= 1:
            msg = f"`start` must be in (0, 1], got {start}."
            raise ValueError(msg)
        self.rewards = rewards
        n = rewards.shape[1]
        self.trainable = np.ones(n, dtype=bool) if trainable is None else np.asarray(trainable, dtype=bool)
        if self.trainable.shape != (n,):
            msg = f"`trainable` must have one entry per perturbation ({n}), got shape {self.trainable.shape}."
            raise ValueError(msg)
        if not self.trainable.any():
            msg = "No trainable perturbation is left (all are held out); hold out fewer perturbations."
            raise ValueError(msg)
        strength = rewards.sum(axis=0)
        self.order = np.array(sorted(range(n), key=lambda j: (-strength[j], j)), dtype=np.int64)
        self.complexity = 1.0 if not curriculum else float(start)
        self.mask = tf.Variable(np.zeros(n, dtype=np.float32), trainable=False, name="active_mask")
        self.n_steps = 0
        self._sync()

    @property
    def n_perturbations(self) -> int:
        """Number of perturbations (columns)."""
        return self.rewards.shape[1]

    @property
    def active_mask(self) -> np.ndarray:
        """Boolean ``(n_perturbations,)``: which perturbations are in the policy loss now."""
        ranked = [j for j in self.order if self.trainable[j]]
        k = max(1, math.ceil(self.complexity * len(ranked) - 1e-9))
        out = np.zeros(self.n_perturbations, dtype=bool)
        out[ranked[:k]] = True
        return out

    def _sync(self) -> None:
        self.mask.assign(self.active_mask.astype(np.float32))

    def increase_complexity(self, factor: float = 1.5) -> float:
        """Multiply the complexity by ``factor`` (capped at 1), update :attr:`mask` and return the new complexity."""
        if factor < 1:
            msg = f"`factor` must be >= 1 (complexity only grows), got {factor}."
            raise ValueError(msg)
        self.complexity = float(min(1.0, self.complexity * factor))
        self._sync()
        return self.complexity

    def step(self, action: int | np.ndarray) -> np.ndarray:
        """Apply perturbation(s) ``action`` and observe the rewards of all genes.

        Parameters
        ----------
        action
            A perturbation index, or an array of indices.

        Returns
        -------
        ``(n_genes,)`` rewards for one index, ``(n_genes, k)`` for ``k`` indices.
        """
        idx = np.asarray(action)
        if idx.dtype.kind not in "iu" or np.any(idx < 0) or np.any(idx >= self.n_perturbations):
            msg = f"`action` must be perturbation indices in [0, {self.n_perturbations}), got {action!r}."
            raise ValueError(msg)
        self.n_steps += 1
        return self.rewards[:, idx]


class ComplexityScheduler(keras.callbacks.Callback):
    """Keras callback that calls ``env.increase_complexity(factor)`` every ``frequency`` epochs.

    Parameters
    ----------
    env
        The :class:`PerturbationEnv` whose mask the training step reads.
    frequency
        Epochs between two increases.
    factor
        Multiplicative growth of the complexity.

    Attributes
    ----------
    history
        Complexity at the end of every epoch.
    """

    def __init__(self, env: PerturbationEnv, frequency: int = 10, factor: float = 1.5):
        super().__init__()
        if frequency < 1:
            msg = f"`frequency` must be >= 1, got {frequency}."
            raise ValueError(msg)
        self.env = env
        self.frequency = int(frequency)
        self.factor = float(factor)
        self.history: list[float] = []

    def on_epoch_end(self, epoch, logs=None):
        self.history.append(self.env.complexity)
        if logs is not None:
            logs["complexity"] = self.env.complexity
        if (epoch + 1) % self.frequency == 0:
            self.env.increase_complexity(self.factor)


def schedule_for(epochs: int, start: float, n_increases: int = 5, ramp: float = 0.5) -> tuple[int, float]:
    """``(frequency, factor)`` so that the complexity grows from ``start`` to 1 within ``ramp · epochs`` epochs."""
    n = max(1, min(n_increases, epochs))
    frequency = max(1, int(ramp * epochs) // n)
    factor = (1.0 / start) ** (1.0 / n) if start < 1 else 1.0
    return frequency, float(factor * (1 + 1e-9))
