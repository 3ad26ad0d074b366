"""Private helpers of :func:`hyperperturb.datasets.synthetic`: the regulatory hierarchy and its true effects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Shape of the Pareto distribution of regulator fitness (smaller = heavier-tailed out-degrees).
_PARETO_SHAPE = 1.5
# Factor per level by which a regulator is less likely to receive a further regulator as child.
_SHALLOW = 0.3


@dataclass
class Hierarchy:
    """A directed regulatory forest over ``n_genes`` genes (indices are positions in ``var_names``).

    Attributes
    ----------
    parent
        Parent index of each gene, ``-1`` for master regulators.
    sign
        Sign of the edge ``parent -> gene`` (``+1`` activating, ``-1`` repressing; ``0`` for masters).
    depth
        Number of edges from the gene's master regulator (0 for masters).
    order
        Gene indices sorted so that every parent comes before its children (breadth first).
    """

    parent: np.ndarray
    sign: np.ndarray
    depth: np.ndarray
    order: np.ndarray

    @property
    def n_children(self) -> np.ndarray:
        """Out-degree of every gene."""
        has = self.parent >= 0
        return np.bincount(self.parent[has], minlength=self.parent.size)

    @property
    def is_regulator(self) -> np.ndarray:
        """Genes with at least one child."""
        return self.n_children > 0

    @property
    def n_descendants(self) -> np.ndarray:
        """Number of genes below each gene (children, grandchildren, ...)."""
        n = np.zeros(self.parent.size, dtype=np.int64)
        for g in self.order[::-1]:  # children before parents
            p = self.parent[g]
            if p >= 0:
                n[p] += n[g] + 1
        return n

    def descendants(self, g: int) -> np.ndarray:
        """Indices of all genes below gene ``g``."""
        below = np.zeros(self.parent.size, dtype=bool)
        for h in self.order:
            p = self.parent[h]
            if p >= 0 and (p == g or below[p]):
                below[h] = True
        return np.flatnonzero(below)

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(source, target, sign)`` index arrays of all edges, in breadth-first order of the target."""
        tgt = np.asarray([g for g in self.order if self.parent[g] >= 0], dtype=np.int64)
        return self.parent[tgt], tgt, self.sign[tgt]


def _pick_parent(rng: np.random.Generator, candidates: np.ndarray, fitness: np.ndarray) -> int:
    """Fitness-driven attachment: P(parent) proportional to a Pareto-distributed fitness (power-law out-degrees)."""
    w = fitness[candidates]
    return int(candidates[rng.choice(candidates.size, p=w / w.sum())])


def build_hierarchy(
    rng: np.random.Generator, *, n_genes: int, n_regulators: int, n_masters: int, p_activating: float
) -> Hierarchy:
    """Grow a scale-free regulatory forest.

    Every gene draws a Pareto-distributed fitness. Regulators come first: the masters, then intermediates that each
    attach to an earlier regulator with probability proportional to its fitness times ``_SHALLOW ** depth`` (a few
    levels rather than long chains). Every regulator that has no child yet then receives one target gene, and the
    remaining target genes attach to a regulator with probability proportional to its fitness, which makes
    out-degrees heavy-tailed (power law). Gene roles are finally shuffled over the positions ``0..n_genes-1`` so
    that a gene's index tells nothing about its role.
    """
    parent = np.full(n_genes, -1, dtype=np.int64)  # in "role order": 0..R-1 regulators, R.. targets
    outdeg = np.zeros(n_genes, dtype=np.float64)
    fitness = (1.0 - rng.random(n_genes)) ** (-1.0 / _PARETO_SHAPE)  # Pareto: heavy-tailed out-degrees
    depth = np.zeros(n_genes, dtype=np.int64)
    for g in range(n_masters, n_regulators):  # shallow regulators are favoured: a few levels, not long chains
        p = _pick_parent(rng, np.arange(g), fitness * _SHALLOW**depth)
        parent[g] = p
        depth[g] = depth[p] + 1
        outdeg[p] += 1
    regs = np.arange(n_regulators)
    nxt = n_regulators
    for r in regs[outdeg[:n_regulators] == 0]:  # every regulator regulates at least one gene
        parent[nxt] = r
        outdeg[r] += 1
        nxt += 1
    for g in range(nxt, n_genes):
        p = _pick_parent(rng, regs, fitness)
        parent[g] = p
        outdeg[p] += 1
    sign = np.where(rng.random(n_genes) < p_activating, 1, -1).astype(np.int8)
    sign[parent < 0] = 0

    # shuffle roles over positions
    perm = rng.permutation(n_genes)  # role i lives at position perm[i]
    pos_parent = np.full(n_genes, -1, dtype=np.int64)
    has = parent >= 0
    pos_parent[perm[has]] = perm[parent[has]]
    pos_sign = np.zeros(n_genes, dtype=np.int8)
    pos_sign[perm] = sign

    # breadth-first order and depth
    depth = np.full(n_genes, -1, dtype=np.int64)
    frontier = np.flatnonzero(pos_parent < 0)
    depth[frontier] = 0
    order = [frontier]
    while True:
        nxt_level = np.flatnonzero(np.isin(pos_parent, frontier) & (depth < 0))
        if nxt_level.size == 0:
            break
        depth[nxt_level] = depth[pos_parent[nxt_level]] + 1
        order.append(nxt_level)
        frontier = nxt_level
    return Hierarchy(parent=pos_parent, sign=pos_sign, depth=depth, order=np.concatenate(order))


def true_effects(h: Hierarchy, targets: np.ndarray, *, knockout_lfc: float, decay: float) -> np.ndarray:
    """True log-fold effect of knocking out each gene in ``targets`` on every gene (perturbations x genes).

    The knocked-out gene gets ``knockout_lfc``; every other gene gets its parent's effect times the edge sign times
    ``decay``, so effects propagate down the hierarchy and vanish outside the target's subtree.
    """
    n_p, n_g = targets.size, h.parent.size
    effect = np.zeros((n_p, n_g), dtype=np.float64)
    by_gene: dict[int, list[int]] = {}
    for i, t in enumerate(targets):
        by_gene.setdefault(int(t), []).append(i)
    for g in h.order:
        p = h.parent[g]
        if p >= 0:
            effect[:, g] = effect[:, p] * float(h.sign[g]) * decay
        rows = by_gene.get(int(g))
        if rows:
            effect[rows, g] = knockout_lfc
    return effect
