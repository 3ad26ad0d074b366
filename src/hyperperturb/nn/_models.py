"""The two models of the original HyperPerturb design: :class:`HyperPerturbModel` (gene graph) and :class:`HyperbolicPerturbationModel`."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from ._geometry import PoincareBall
from ._layers import HyperbolicAttention, HyperbolicGraphConv
from ._objective import MAX_EDGES_PER_STEP, _PerturbationObjective
from ._optimizer import manifold_variable
from ._training import _FullBatchTraining, manifold_for

__all__ = ["MAX_EDGES_PER_STEP", "HyperPerturbModel", "HyperbolicPerturbationModel"]

from ._simple_model import HyperbolicPerturbationModel


@keras.saving.register_keras_serializable(package="hyperperturb")
class HyperPerturbModel(_PerturbationObjective, _FullBatchTraining, keras.Model):
    r"""Gene-graph model of the original HyperPerturb design (§3.1): hyperbolic graph encoder, policy head and value head.

    The encoder maps node features :math:`x_g` and the row-normalised adjacency :math:`\hat A` to one point
    :math:`z_g` of the ball per node::

        h = LayerNorm(log0(GraphConv1(x, Â)))  ->  Dropout  ->  z = GraphConv2(h, Â)  (dim coordinates)

    With ``attention=True`` a graph-masked :class:`~hyperperturb.nn.HyperbolicAttention` layer (weights from
    negative hyperbolic distances between neighbours) refines the first layer's output before the LayerNorm,
    as a residual in the tangent space: ``h = log0(h1) + log0(Attention(h1, Â))``.

    Heads
        value
            :math:`v_g = \operatorname{softplus}(\alpha)\, d(0, z_g) + \operatorname{softplus}(\beta)`: a gene's overall sensitivity is read
            off its distance to the origin (genes hit by many upstream perturbations sit far out; regulators sit
            near the origin).
        policy, ``head="distance"``
            :math:`s(g, p) = -\operatorname{softplus}(a)\, d(z_g, e_p) + b_p`, softmax over perturbations per gene,
            with :math:`e_p = z_{t(p)}` the embedding of the perturbation's target node (or a free ball point, trained
            with Riemannian Adam, when the target is not a node). No genes × perturbations weight matrix: any node can
            be scored as a new perturbation (:meth:`score`).
        policy, ``head="dense"``
            The original design's ``Dense(n_perturbations)`` on the tangent features :math:`[\log_0 z_g, h_g]`.

    Graph-reconstruction loss (``graph_weight > 0``)
        The standard hyperbolic-embedding objective (Nickel & Kiela 2017; HGCN): a Fermi–Dirac decoder
        :math:`p(i \sim j) = 1 / (\exp((d(z_i, z_j)^2 - r) / t) + 1)` and binary cross-entropy over the graph's
        edges against ``n_negatives`` random node pairs per edge, drawn afresh every step from a stateless RNG keyed
        by ``(seed, step)`` (deterministic, ``O(edges)`` per step).

    Parameters
    ----------
    n_nodes
        Number of graph nodes.
    n_features
        Node feature dimension.
    target_node
        For each perturbation, the index of its target node, or ``-1`` if the target is not a node.
    geometry
        ``"poincare"`` or ``"euclidean"`` (ablation: identical architecture in flat space), or a manifold config.
    head
        ``"distance"`` or ``"dense"``.
    dim
        Embedding dimension (>= 2).
    hidden
        Width of the first graph convolution.
    curvature
        Curvature ``c`` of the ball.
    learn_curvature
        Learn ``c`` (kept positive by a softplus).
    dropout
        Dropout rate after the first convolution.
    seed
        Seed of the initialisers (and of the negative sampling).
    graph_weight
        Weight of the graph-reconstruction loss (0 disables it).
    n_negatives
        Negative pairs per edge in that loss.
    fd_radius, fd_temperature
        ``r`` and ``t`` of the Fermi–Dirac decoder.
    attention
        Add the graph-attention refinement described above.
    num_heads
        Heads of that attention layer.
    """

    def __init__(
        self,
        n_nodes: int,
        n_features: int,
        target_node: Sequence[int] | np.ndarray,
        *,
        geometry: str | dict = "poincare",
        head: str = "distance",
        dim: int = 2,
        hidden: int = 32,
        curvature: float = 1.0,
        learn_curvature: bool = False,
        dropout: float = 0.1,
        seed: int = 0,
        graph_weight: float = 0.0,
        n_negatives: int = 5,
        fd_radius: float = 2.0,
        fd_temperature: float = 1.0,
        attention: bool = False,
        num_heads: int = 2,
        refine: float | None = None,
        rank: int = 0,
        factor_l2: float = 1e-3,
        distance_scale: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if head not in ("distance", "dense"):
            msg = f"head must be 'distance' or 'dense', got {head!r}."
            raise ValueError(msg)
        if int(dim) < 2:
            msg = f"dim must be >= 2, got {dim}."
            raise ValueError(msg)
        self.n_nodes = int(n_nodes)
        self.n_features = int(n_features)
        self.target_node = np.asarray(target_node, dtype=np.int64).ravel()
        self.n_perturbations = len(self.target_node)
        self.head = head
        self.dim = int(dim)
        self.hidden = int(hidden)
        self.dropout_rate = float(dropout)
        self.seed = int(seed)
        self.graph_weight = float(graph_weight)
        self.n_negatives = int(n_negatives)
        self.fd_radius = float(fd_radius)
        self.fd_temperature = float(fd_temperature)
        self.attention = bool(attention)
        self.num_heads = int(num_heads)
        self.refine = None if refine is None else float(refine)
        self.rank = int(rank)
        self.factor_l2 = float(factor_l2)
        self.distance_scale = float(distance_scale)
        if not (np.isfinite(self.distance_scale) and self.distance_scale > 0):
            msg = f"distance_scale must be a positive number, got {distance_scale!r}."
            raise ValueError(msg)
        if self.refine is not None and not (np.isfinite(self.refine) and self.refine >= 0):
            msg = f"refine must be None or a number >= 0, got {refine!r}."
            raise ValueError(msg)
        if self.rank < 0:
            msg = f"rank must be >= 0, got {rank!r}."
            raise ValueError(msg)
        if not (self.graph_weight >= 0 and self.n_negatives >= 1 and self.fd_temperature > 0):
            msg = "graph_weight must be >= 0, n_negatives >= 1 and fd_temperature > 0."
            raise ValueError(msg)
        self.manifold = manifold_for(geometry, curvature, learn_curvature)
        self.geometry = self.manifold.name if hasattr(self.manifold, "name") else str(geometry)
        self.learn_curvature = bool(learn_curvature)
        self.base_curvature = float(getattr(self.manifold, "curvature", 1.0))  # the starting map's ball (set_base)
        if getattr(self.manifold, "variable", None) is not None:
            self.raw_curvature = self.manifold.variable
        self.gcn1 = HyperbolicGraphConv(
            self.hidden,
            activation="relu",
            geometry=self.manifold,
            input_space="tangent",
            kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed),
            seed=self.seed,
            name="encoder_gcn1",
        )
        self.attn = None
        if self.attention:
            self.attn = HyperbolicAttention(
                self.num_heads,
                max(2, self.hidden // self.num_heads),
                geometry=self.manifold,
                output_dim=self.hidden,
                kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed + 3),
                seed=self.seed + 3,
                name="encoder_attention",
            )
        self.norm = keras.layers.LayerNormalization(name="encoder_norm")
        self.drop = keras.layers.Dropout(self.dropout_rate, seed=self.seed)
        self.gcn2 = HyperbolicGraphConv(
            self.dim,
            geometry=self.manifold,
            input_space="tangent",
            kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed + 1),
            seed=self.seed + 1,
            name="encoder_gcn2",
        )
        self.n_free = int((self.target_node < 0).sum())
        free = np.cumsum(self.target_node < 0) - 1
        self._index = np.where(self.target_node >= 0, self.target_node, self.n_nodes + free).astype(np.int64)
        if head == "dense":
            self.policy_dense = keras.layers.Dense(
                self.n_perturbations,
                kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed + 2),
                name="policy_dense",
            )

    def build(self, input_shape=None):
        """Create all weights (runs one forward pass on zeros over an identity graph)."""
        if self.built:
            return
        self.scale_raw = self.add_weight(name="policy_scale", shape=(), initializer=keras.initializers.Constant(0.5))
        self.pert_bias = self.add_weight(name="policy_bias", shape=(self.n_perturbations,), initializer="zeros")
        self.value_scale_raw = self.add_weight(name="value_scale", shape=(), initializer="zeros")
        self.value_bias = self.add_weight(name="value_bias", shape=(), initializer="zeros")
        if self.refine is not None:  # fixed starting map (set with set_base), refined by a bounded residual
            self.base = self.add_weight(
                name="base_map", shape=(self.n_nodes, self.dim), initializer="zeros", trainable=False
            )
        if self.rank:
            self.node_factor = self.add_weight(
                name="node_factor",
                shape=(self.n_nodes, self.rank),
                initializer=keras.initializers.RandomNormal(stddev=0.01, seed=self.seed + 4),
            )
            self.pert_factor = self.add_weight(
                name="perturbation_factor",
                shape=(self.n_perturbations, self.rank),
                initializer=keras.initializers.RandomNormal(stddev=0.01, seed=self.seed + 5),
            )
            self.value_offset = self.add_weight(name="value_offset", shape=(self.n_nodes,), initializer="zeros")
        if self.n_free:
            manifold = self.manifold if isinstance(self.manifold, PoincareBall) else None
            if manifold is not None:
                self.free_embedding = manifold_variable(
                    self, "free_embedding", (self.n_free, self.dim), manifold, seed=self.seed
                )
            else:
                self.free_embedding = self.add_weight(
                    name="free_embedding",
                    shape=(self.n_free, self.dim),
                    initializer=keras.initializers.RandomNormal(stddev=1e-3, seed=self.seed),
                )
        eye = tf.sparse.eye(self.n_nodes, dtype=tf.float32)
        x = tf.zeros((self.n_nodes, self.n_features))
        self.gcn1.build(((self.n_nodes, self.n_features), (self.n_nodes, self.n_nodes)))
        if self.attn is not None:
            self.attn.build((self.n_nodes, self.hidden))
        self.norm.build((self.n_nodes, self.hidden))
        self.gcn2.build(((self.n_nodes, self.hidden), (self.n_nodes, self.n_nodes)))
        if self.head == "dense":
            self.policy_dense.build((self.n_nodes, self.dim + self.hidden))
        self.built = True
        self.encode(x, eye)

    # ---------------------------------------------------------------- parts
    def _convolve(self, x: tf.Tensor, adj: tf.SparseTensor, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """The graph convolutions: their output ``y`` (on the ball) and the tangent hidden features ``h``."""
        m = self.manifold
        h1 = self.gcn1((x, adj), training=training)
        h = m.logmap0(h1)
        if self.attn is not None:
            h = h + m.logmap0(self.attn(h1, adj=adj, training=training))
        h = self.norm(h)
        h = self.drop(h, training=training)
        return self.gcn2((h, adj), training=training), h

    def encode(self, x: tf.Tensor, adj: tf.SparseTensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """Node embeddings ``z`` (on the ball) and tangent hidden features ``h``."""
        m = self.manifold
        z, h = self._convolve(x, adj, training)
        if self.refine is not None:
            # bounded residual from the starting map: d(base, z) < 2 * refine (left Möbius translation is an isometry)
            t = self.shift(z)
            base = tf.convert_to_tensor(self.base)
            if isinstance(m, PoincareBall) and m.learnable:
                # the map was fitted in the ball of `base_curvature`: read at the learned c it is scaled by
                # sqrt(c0 / c), which multiplies every distance by the same factor and keeps the map's order
                base = base * tf.sqrt(tf.cast(self.base_curvature, base.dtype) / m.c(base.dtype))
            z = m.mobius_add(base, m.expmap0(t)) if isinstance(m, PoincareBall) else base + t
        return z, h

    def shift(self, z: tf.Tensor) -> tf.Tensor:
        """Tangent shift ``refine · u / sqrt(1 + |u|^2)`` (``u = log0(z)``, norm < ``refine``) of the convolutions' output."""
        u = self.manifold.logmap0(z)
        return self.refine * u / tf.sqrt(1.0 + tf.reduce_sum(u * u, axis=-1, keepdims=True))

    def encode_shift(self, x: tf.Tensor, adj: tf.SparseTensor) -> tf.Tensor:
        """The tangent shift from the starting map of every node (inference mode), for a float64 readout."""
        return self.shift(self._convolve(x, adj, training=False)[0])

    def set_base(self, base: np.ndarray, curvature: float | None = None) -> None:
        """Set the starting map (``n_nodes × dim`` points of the ball) that the encoder refines.

        ``curvature`` is the curvature of the ball the map lives in (default: the model's current one). With a
        learnable curvature the encoder reads the map rescaled to the current ball (see :meth:`encode`).
        """
        if self.refine is None:
            msg = "This model was built without a starting map (refine=None)."
            raise ValueError(msg)
        self.base.assign(np.asarray(base, dtype=np.float32))
        m = self.manifold
        self.base_curvature = float(curvature if curvature is not None else getattr(m, "curvature", 1.0))

    def policy_scale(self) -> tf.Tensor:
        """``2 softplus(a) / distance_scale``: the inverse temperature of the distance head."""
        return tf.nn.softplus(self.scale_raw) * 2.0 / self.distance_scale

    def perturbation_embedding(self, z: tf.Tensor) -> tf.Tensor:
        """Embedding of each perturbation: its target node's ``z``, or its free ball point."""
        if self.n_free:
            allz = tf.concat([z, tf.convert_to_tensor(self.free_embedding)], axis=0)
        else:
            allz = z
        return tf.gather(allz, self._index)

    def distance(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """Pairwise geodesic distances ``(n, m)`` (Euclidean distances for the flat ablation)."""
        return self.manifold.pairwise_distance(x, y)

    def score(
        self,
        z: tf.Tensor,
        emb: tf.Tensor,
        bias: tf.Tensor,
        factor: tf.Tensor | None = None,
        rows: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """Distance-head logits ``-softplus(a)·d(z_g, e_p) + b_p [+ <u_g, w_p>]`` for perturbation embeddings ``emb``.

        ``factor`` (perturbations × rank) are the ``w_p`` of the low-rank term (``None``: no such term, as for a
        perturbation never fitted). ``rows``: the node indices of the rows of ``z`` (default: all nodes, in order).
        """
        logits = -self.policy_scale() * self.distance(z, emb) + bias[None, :]
        if self.rank and factor is not None:
            u = tf.convert_to_tensor(self.node_factor)
            if rows is not None:
                u = tf.gather(u, rows)
            logits = logits + tf.matmul(u, factor, transpose_b=True)
        return logits

    def value(self, z: tf.Tensor, rows: tf.Tensor | None = None) -> tf.Tensor:
        """Per-node value ``softplus(alpha)·d(0, z) + softplus(beta)`` (``+ s_g`` inside a softplus with ``rank``).

        ``rows``: the node indices of the rows of ``z`` (default: all nodes, in order).
        """
        if self.rank:
            offset = tf.convert_to_tensor(self.value_offset)
            if rows is not None:
                offset = tf.gather(offset, rows)
            pre = tf.nn.softplus(self.value_scale_raw) * self.manifold.dist0(z) + self.value_bias + offset
            return tf.nn.softplus(pre)
        return tf.nn.softplus(self.value_scale_raw) * self.manifold.dist0(z) + tf.nn.softplus(self.value_bias)

    def policy_logits(self, z: tf.Tensor, h: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
        """Policy logits of the nodes ``rows`` (all perturbations) from the encoder's output ``z``, ``h`` of all nodes."""
        zr = tf.gather(z, rows)
        if self.head == "distance":
            factor = tf.convert_to_tensor(self.pert_factor) if self.rank else None
            return self.score(zr, self.perturbation_embedding(z), tf.convert_to_tensor(self.pert_bias), factor, rows)
        feats = tf.concat([self.manifold.logmap0(zr), tf.gather(h, rows)], axis=-1)
        return self.policy_dense(feats) + self.pert_bias[None, :]

    def call(self, inputs, training: bool = False):
        """Forward pass on ``(features, adjacency)``: dict with ``embedding``, ``logits``, ``policy``, ``value``."""
        x, adj = inputs
        z, h = self.encode(x, adj, training=training)
        if self.head == "distance":
            factor = tf.convert_to_tensor(self.pert_factor) if self.rank else None
            logits = self.score(z, self.perturbation_embedding(z), tf.convert_to_tensor(self.pert_bias), factor)
        else:
            logits = self.policy_dense(tf.concat([self.manifold.logmap0(z), h], axis=-1)) + self.pert_bias[None, :]
        return {"embedding": z, "logits": logits, "policy": tf.nn.softmax(logits, axis=-1), "value": self.value(z)}

    def get_config(self):
        return {
            "n_nodes": self.n_nodes,
            "n_features": self.n_features,
            "target_node": [int(v) for v in self.target_node],
            "geometry": self.manifold.get_config(),
            "head": self.head,
            "dim": self.dim,
            "hidden": self.hidden,
            "curvature": float(self.manifold.curvature),
            "learn_curvature": self.learn_curvature,
            "dropout": self.dropout_rate,
            "seed": self.seed,
            "graph_weight": self.graph_weight,
            "n_negatives": self.n_negatives,
            "fd_radius": self.fd_radius,
            "fd_temperature": self.fd_temperature,
            "attention": self.attention,
            "num_heads": self.num_heads,
            "refine": self.refine,
            "rank": self.rank,
            "factor_l2": self.factor_l2,
            "distance_scale": self.distance_scale,
            "name": self.name,
        }

    def build_from_config(self, config):
        self.build()
