"""The original HyperPerturb design's simple model (perturbation one-hot -> hyperbolic dense layers -> gene rewards)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ._layers import HyperbolicDense
from ._losses import masked_distribution, safe_kl
from ._training import _FullBatchTraining, manifold_for

__all__ = ["HyperbolicPerturbationModel"]


@keras.saving.register_keras_serializable(package="hyperperturb")
class HyperbolicPerturbationModel(_FullBatchTraining, keras.Model):
    r"""The original HyperPerturb design's simple model: perturbation one-hot → hyperbolic dense layers → per-gene reward.

    .. math::

        e_p = \exp_0(\mathrm{HypDense}_{dim}(\mathrm{HypDense}_{hidden}(\mathbb 1_p))), \qquad
        \hat R(g, p) = \operatorname{softplus}(\langle \log_0 e_p, w_g\rangle + b_g)

    The output-layer vector :math:`w_g \in \mathbb R^{dim}` of gene ``g``, mapped onto the ball with
    :math:`\exp_0`, is the gene embedding; :math:`e_p` is the perturbation embedding.

    Parameters
    ----------
    n_perturbations
        Number of perturbations (input one-hot width).
    n_genes
        Number of genes (output width).
    geometry
        ``"poincare"`` or ``"euclidean"``.
    dim
        Embedding dimension (>= 2).
    hidden
        Width of the first hyperbolic dense layer.
    curvature
        Curvature of the ball.
    learn_curvature
        Learn the curvature.
    seed
        Seed of the initialisers.
    """

    def __init__(
        self,
        n_perturbations: int,
        n_genes: int,
        *,
        geometry: str | dict = "poincare",
        dim: int = 2,
        hidden: int = 32,
        curvature: float = 1.0,
        learn_curvature: bool = False,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(dim) < 2:
            msg = f"dim must be >= 2, got {dim}."
            raise ValueError(msg)
        self.n_perturbations = int(n_perturbations)
        self.n_genes = int(n_genes)
        self.dim = int(dim)
        self.hidden = int(hidden)
        self.seed = int(seed)
        self.learn_curvature = bool(learn_curvature)
        self.manifold = manifold_for(geometry, curvature, learn_curvature)
        if getattr(self.manifold, "variable", None) is not None:
            self.raw_curvature = self.manifold.variable
        self.dense1 = HyperbolicDense(
            self.hidden,
            activation="relu",
            geometry=self.manifold,
            kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed),
            name="hyp_dense1",
        )
        self.dense2 = HyperbolicDense(
            self.dim,
            geometry=self.manifold,
            kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed + 1),
            name="hyp_dense2",
        )
        self.out = keras.layers.Dense(
            self.n_genes, kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed + 2), name="gene_output"
        )

    def build(self, input_shape=None):
        """Create the weights."""
        if self.built:
            return
        self.dense1.build((None, self.n_perturbations))
        self.dense2.build((None, self.hidden))
        self.out.build((None, self.dim))
        self.built = True

    def call(self, inputs, training: bool = False):
        """Predicted rewards ``(batch, n_genes)`` for one-hot perturbations ``inputs``."""
        t = self.manifold.logmap0(self.dense2(self.dense1(self.manifold.expmap0(inputs))))
        return tf.nn.softplus(self.out(t))

    def perturbation_embedding(self, inputs) -> tf.Tensor:
        """Points of the ball for one-hot perturbations ``inputs``."""
        return self.dense2(self.dense1(self.manifold.expmap0(inputs)))

    def gene_embedding(self) -> tf.Tensor:
        """Gene embedding: the output-layer gene vectors ``w_g`` mapped onto the ball by ``exp0``."""
        return self.manifold.expmap0(tf.transpose(tf.convert_to_tensor(self.out.kernel)))

    def set_training_data(self, reward: np.ndarray, mask: tf.Variable) -> None:
        """Attach the reward matrix (genes × perturbations) and the active-perturbation mask."""
        self._eye = tf.eye(self.n_perturbations)
        self._r = tf.constant(np.asarray(reward, dtype=np.float32).T)
        self._mask = mask

    def compute_losses(self, training: bool) -> dict[str, tf.Tensor]:
        """Reward MSE + policy KL + 0.5 value MSE over the active perturbations."""
        pred = self(self._eye, training=training)  # perts x genes
        mask = tf.cast(self._mask, tf.float32)
        rmask = mask[:, None]
        n = tf.maximum(tf.reduce_sum(mask), 1.0) * self.n_genes
        reward_loss = tf.reduce_sum(tf.square(pred - self._r) * rmask) / n
        pol_pred = masked_distribution(tf.transpose(pred), mask)
        pol_true = masked_distribution(tf.transpose(self._r), mask)
        has = tf.cast(tf.reduce_sum(pol_true, -1) > 0.5, tf.float32)
        policy_loss = tf.reduce_sum(safe_kl(pol_true, pol_pred, mask) * has) / tf.maximum(tf.reduce_sum(has), 1.0)
        v_pred = tf.reduce_sum(pred * rmask, 0) / tf.maximum(tf.reduce_sum(mask), 1.0)
        v_true = tf.reduce_sum(self._r * rmask, 0) / tf.maximum(tf.reduce_sum(mask), 1.0)
        value_loss = tf.reduce_mean(tf.square(v_pred - v_true))
        n_active = tf.maximum(tf.reduce_sum(mask), 1.0)
        return {
            "loss": reward_loss + policy_loss + 0.5 * value_loss,
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "policy_mae": tf.reduce_mean(tf.reduce_sum(tf.abs(pol_pred - pol_true), -1)) / n_active,
            "value_mae": tf.reduce_mean(tf.abs(v_pred - v_true)),
        }

    def get_config(self):
        return {
            "n_perturbations": self.n_perturbations,
            "n_genes": self.n_genes,
            "geometry": self.manifold.get_config(),
            "dim": self.dim,
            "hidden": self.hidden,
            "curvature": float(self.manifold.curvature),
            "learn_curvature": self.learn_curvature,
            "seed": self.seed,
            "name": self.name,
        }

    def build_from_config(self, config):
        self.build()
