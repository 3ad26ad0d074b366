"""The training objective of :class:`~hyperperturb.nn.HyperPerturbModel`, as a mixin.

The attached graph and targets (``set_training_data``), the policy (masked safe KL), value (MSE) and graph
(Fermi–Dirac) losses, full-batch or on a mini-batch of rows. The model's layers and weights are built by
``HyperPerturbModel`` (``_models.py``); ``fit`` support is ``_FullBatchTraining`` (``_training.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf
from scipy import sparse

from ._block_loss import make_block_policy_loss
from ._losses import fermi_dirac_loss, masked_distribution, safe_kl

_NEG = -1e9
#: Largest number of (directed) edges in the graph loss of one mini-batch step.
MAX_EDGES_PER_STEP = 8192


class _PerturbationObjective:
    """Losses of the gene-graph model on the data attached with :meth:`set_training_data`."""

    if TYPE_CHECKING:  # the attributes and methods of the model this is mixed into (for the type checker only)

        def __getattr__(self, name: str) -> Any: ...

        def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    def set_training_data(
        self,
        features: np.ndarray,
        adjacency: tf.SparseTensor,
        policy_target: Any,  # np.ndarray | sparse.csr_matrix (scipy's stubs do not narrow on issparse)
        value_target: np.ndarray,
        row_weight: np.ndarray,
        mask: tf.Variable,
        edges: tuple[np.ndarray, np.ndarray] | None = None,
        batch_size: int | None = None,
    ) -> None:
        """Attach the full graph and its targets.

        ``edges`` are the ``(i, j)`` node indices of the graph's undirected edges, each once, for the
        graph-reconstruction loss. ``batch_size=None``: every step uses all nodes (the batch from ``fit`` is a
        placeholder). An integer smaller than the number of nodes with targets: each step uses that many of them
        (the iterator of :meth:`training_dataset` yields their indices); the encoder still runs on the whole graph,
        the policy and value losses on the batch rows (every perturbation, so each node's softmax is exact) and the
        graph loss on a matching share of the edges. ``policy_target`` may then be a ``scipy.sparse`` matrix: when
        less than a third full it is kept as ragged rows and only the batch's rows are made dense. With the
        distance head (fixed curvature) the policy loss of a batch is one XLA-compiled block
        (:func:`~hyperperturb.nn._block_loss.make_block_policy_loss`: the same KL, written on ``log_softmax``).
        """
        if edges is None:
            edges = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        ei, ej = (np.asarray(e, dtype=np.int32).ravel() for e in edges)
        self._ei = tf.constant(np.concatenate([ei, ej]))  # both directions as heads
        self._ej = tf.constant(np.concatenate([ej, ei]))
        self._n_edges = len(ei)
        self._x = tf.constant(features, tf.float32)
        self._adj = adjacency
        self._vt = tf.constant(value_target, tf.float32)
        self._w = tf.constant(row_weight, tf.float32)
        self._mask = mask
        rows = np.flatnonzero(np.asarray(row_weight) > 0)
        self.batch_rows, self.batch_size, self._pt, self._pt_rows = None, None, None, None
        self._block_loss = None
        if batch_size is not None and 0 < int(batch_size) < len(rows):
            self.batch_rows, self.batch_size = rows.astype(np.int32), int(batch_size)
            self._edge_share = float(batch_size) / len(rows)
            if self.head == "distance" and not self.learn_curvature:
                self._block_loss = make_block_policy_loss(self.manifold.pairwise_distance)
            # ragged rows cost 12 bytes per stored entry, a dense float32 matrix 4 per entry: ragged below 1/3 full
            if sparse.issparse(policy_target) and policy_target.nnz < np.prod(policy_target.shape) / 3:
                csr = sparse.csr_matrix(policy_target)
                splits = csr.indptr.astype(np.int64)
                self._pt_rows = (
                    tf.RaggedTensor.from_row_splits(csr.data.astype(np.float32), splits),
                    tf.RaggedTensor.from_row_splits(csr.indices.astype(np.int64), splits),
                )
                return
        if sparse.issparse(policy_target):
            policy_target = policy_target.toarray()
        self._pt = tf.constant(policy_target, tf.float32)

    def _target_rows(self, rows: tf.Tensor) -> tf.Tensor:
        """Dense policy targets of the nodes ``rows`` (batch × perturbations)."""
        if self._pt_rows is None:
            return tf.gather(self._pt, rows)
        vals, cols = (tf.gather(r, rows) for r in self._pt_rows)
        idx = tf.stack([vals.value_rowids(), cols.flat_values], axis=1)
        shape = tf.stack([tf.cast(tf.shape(rows)[0], tf.int64), tf.constant(self.n_perturbations, tf.int64)])
        return tf.scatter_nd(idx, vals.flat_values, shape)

    @staticmethod
    def _policy_terms(logits, pt, mask, w) -> tuple[tf.Tensor, tf.Tensor]:
        """Policy loss (masked safe KL, mean over nodes with targets) and its MAE metric."""
        logits = tf.where(mask[None, :] > 0, logits, _NEG)
        probs = tf.nn.softmax(logits, axis=-1)
        target = masked_distribution(pt, mask)
        has = tf.cast(tf.reduce_sum(target, axis=-1) > 0.5, tf.float32) * w
        n = tf.maximum(tf.reduce_sum(has), 1.0)
        kl = safe_kl(target, probs, mask)
        policy_loss = tf.reduce_sum(kl * has) / n
        n_active = tf.maximum(tf.reduce_sum(mask), 1.0)
        policy_mae = tf.reduce_sum(tf.reduce_sum(tf.abs(probs - target) * mask[None, :], -1) * has) / (n * n_active)
        return policy_loss, policy_mae

    def compute_losses(self, training: bool, rows: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """Policy (masked safe KL), value (MSE), total (weights 1.0 / 0.5) and MAE metrics on the attached graph.

        ``rows``: the node indices of a mini-batch (policy and value losses on those rows only, graph loss on a
        random share of the edges); ``None``: all nodes and edges.
        """
        mask = tf.cast(self._mask, tf.float32)
        if rows is None:
            out = self((self._x, self._adj), training=training)
            z, value = out["embedding"], out["value"]
            vt, w = self._vt, self._w
            policy_loss, policy_mae = self._policy_terms(out["logits"], self._pt, mask, w)
        else:
            z, h = self.encode(self._x, self._adj, training=training)
            value = self.value(tf.gather(z, rows), rows)
            pt, vt, w = self._target_rows(rows), tf.gather(self._vt, rows), tf.gather(self._w, rows)
            if self._block_loss is not None:  # distance head: one XLA-fused block
                zr = tf.gather(z, rows)
                if self.rank:
                    ur, factor = tf.gather(self.node_factor, rows), tf.convert_to_tensor(self.pert_factor)
                else:
                    ur, factor = tf.zeros((tf.shape(rows)[0], 1)), tf.zeros((self.n_perturbations, 1))
                emb, bias = self.perturbation_embedding(z), tf.convert_to_tensor(self.pert_bias)
                policy_loss, policy_mae = self._block_loss(zr, emb, bias, ur, factor, self.policy_scale(), pt, mask, w)
            else:
                policy_loss, policy_mae = self._policy_terms(self.policy_logits(z, h, rows), pt, mask, w)
        nw = tf.maximum(tf.reduce_sum(w), 1.0)
        err = value - vt
        value_loss = tf.reduce_sum(tf.square(err) * w) / nw
        value_mae = tf.reduce_sum(tf.abs(err) * w) / nw
        loss = 1.0 * policy_loss + 0.5 * value_loss
        if self.rank:  # ridge on the free per-node / per-perturbation terms
            loss = loss + self.factor_l2 * (
                tf.reduce_mean(tf.square(self.node_factor)) * self.rank
                + tf.reduce_mean(tf.square(self.pert_factor)) * self.rank
                + tf.reduce_mean(tf.square(self.value_offset))
            )
        graph_loss = tf.constant(0.0)
        if self.graph_weight > 0 and self._n_edges > 0:
            graph_loss = self.graph_loss(z, share=None if rows is None else self._edge_share)
            loss = loss + self.graph_weight * graph_loss
        return {
            "loss": loss,
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "graph_loss": graph_loss,
            "policy_mae": policy_mae,
            "value_mae": value_mae,
        }

    def graph_loss(self, z: tf.Tensor, share: float | None = None) -> tf.Tensor:
        """Fermi–Dirac BCE of the attached edges vs ``n_negatives`` seeded random tails per edge and direction.

        ``share``: use a seeded random sample of that share of the directed edges, at most
        :data:`MAX_EDGES_PER_STEP` (mini-batch steps: an unbiased estimate of the same mean); ``None``: all.
        """
        step = self.optimizer.iterations if self.optimizer is not None else tf.constant(0, tf.int64)
        key = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
        ei, ej = self._ei, self._ej
        if share is not None:
            n_all = tf.shape(ei)[0]
            n_take = tf.cast(tf.math.ceil(tf.cast(n_all, tf.float32) * share), tf.int32)
            n_take = tf.clip_by_value(n_take, 1, MAX_EDGES_PER_STEP)
            key_e = tf.stack([tf.constant(self.seed + 1, tf.int64), tf.cast(step, tf.int64)])
            pick = tf.random.stateless_uniform(tf.stack([n_take]), seed=key_e, minval=0, maxval=n_all, dtype=tf.int32)
            ei, ej = tf.gather(ei, pick), tf.gather(ej, pick)
        n_pos = tf.shape(ei)[0]
        tails = tf.random.stateless_uniform(
            tf.stack([n_pos * self.n_negatives]), seed=key, minval=0, maxval=self.n_nodes, dtype=tf.int32
        )
        heads = tf.tile(ei, [self.n_negatives])
        d_pos = self.manifold.distance(tf.gather(z, ei), tf.gather(z, ej))
        d_neg = self.manifold.distance(tf.gather(z, heads), tf.gather(z, tails))
        return fermi_dirac_loss(d_pos, d_neg, radius=self.fd_radius, temperature=self.fd_temperature)
