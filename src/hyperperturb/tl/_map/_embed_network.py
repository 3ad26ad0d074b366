"""``hp.tl.embed_network``: a faithful Poincaré map of the gene network on its own (NumPy + numba, no TensorFlow)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from hyperperturb._utils import _entries, as_rng, atomic_write, check_current, get_matrix, logger, record, resolve
from hyperperturb._utils._entries import check_varm_key
from hyperperturb._utils._schema import EmbedNetworkEntry
from hyperperturb._utils._validate import check_fixed_seed


def embed_network(
    data: Any,
    *,
    dim: int = 2,
    geometry: Literal["poincare", "euclidean"] = "poincare",
    curvature: float = 1.0,
    epochs: int | None = None,
    learning_rate: float = 0.1,
    negatives: int = 50,
    burn_in: int = 20,
    radial: float = 0.1,
    seed: int = 0,
    mod: str = "rna",
    verbose: bool = True,
    key_added: str = "X_poincare_network",
    copy: bool = False,
) -> Any:
    r"""Embed the genes of the gene network in the Poincaré ball so that distances reconstruct the network.

    Free points of the ball (one per gene, plus the unmeasured target nodes of :func:`hyperperturb.pp.gene_network`)
    are fitted by Riemannian SGD to the Nickel & Kiela (2017) reconstruction loss
    :math:`d(u, v) + \log \sum_{x \in \{v\} \cup N(u)} e^{-d(u, x)}` over the edges, with ``negatives`` random
    non-neighbours :math:`N(u)` per edge. A final hierarchy phase (up to 50 epochs, weight ``radial``) pulls
    every node's distance from the origin toward (its hop distance from the centre of its connected component +
    1/2) × the map's median edge length, and is kept only if it costs at most 0.03 of reconstruction MAP, so the
    radius reads as depth where the network allows it: hubs and regulators near the
    centre, targets toward the rim. Genes without any edge are not pulled to the centre: they are placed next to
    their most similar connected genes in control expression (mean, spread, leading principal-component loadings),
    at least at the median radius, and flagged in ``.var["hp_in_network"]``. :func:`hyperperturb.tl.train` fits the
    same map on its training graph and refines it (``refine=``). Details and measured quality: the training and
    benchmark pages of the documentation.

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.pp.gene_network` (the network is read from ``.varp`` under the
        ``key_added`` that function recorded).
    dim
        Dimension of the map (2 gives a readable disk).
    geometry
        ``"poincare"``, or ``"euclidean"`` for the flat ablation (same loss, plain SGD).
    curvature
        Curvature ``c`` of the ball.
    epochs
        Number of passes over the edges; ``None``: 3·10⁷ distance evaluations, clipped to 100–1,000 epochs. On
        graphs where these passes would exceed 6·10⁷ distance evaluations, fewer negatives (down to 10) and then a
        share of the edges per epoch are used instead, with larger steps that drop on a MAP plateau (see
        ``docs/benchmarks.md``, map stage).
    learning_rate
        Riemannian SGD step (about 0.1; values of 1 and more pile points on the rim).
    negatives
        Random non-neighbours per edge.
    burn_in
        First epochs at ``learning_rate / 10``.
    radial
        Weight of the hierarchy phase (0 switches it off).
    seed
        Seed of the initialisation, edge order and negatives; same seed, same map on the same machine. A
        non-negative integer (``None`` is refused: the seed is recorded to reproduce the map).
    mod
        RNA modality of a MuData.
    verbose
        Log a one-line summary (shown at ``sc.settings.verbosity >= 2``).
    key_added
        Key in ``.varm`` for the map (recorded in the ledger entry ``embed_network``, which describes the last map
        fitted). Keys that hold results of other steps (``hp_reward``, ``hp_policy_target``, ``hp_policy``,
        ``X_poincare``) are refused.
    copy
        Return a copy instead of writing into ``data``.

    Returns
    -------
    ``None``, or the copy if ``copy=True``. Writes ``.varm[key_added]`` (genes × ``dim``, float64, strictly inside
    the ball), ``.var["hp_in_network"]`` and ``.uns["hyperperturb"]["embed_network"]`` (``params``,
    ``extra_nodes``, ``extra_embedding``, ``level``, ``loss``, ``n_edges``, ``wall_time``).

    Examples
    --------
    >>> hp.tl.embed_network(adata, dim=2)  # doctest: +SKIP
    >>> hp.tl.embedding_quality(adata, basis="X_poincare_network")  # doctest: +SKIP
    """
    from hyperperturb.tl._graph._inputs import control_index, control_stats, pca_loadings, standardise, stored_adjacency

    from ._network_map import check_map_params, fit_network_map

    if geometry not in ("poincare", "euclidean"):
        msg = f"geometry must be 'poincare' or 'euclidean', got {geometry!r}."
        raise ValueError(msg)
    check_map_params(
        dim=dim, curvature=curvature, epochs=epochs, learning_rate=learning_rate, negatives=negatives,
        burn_in=burn_in, radial=radial,
    )  # fmt: skip
    check_fixed_seed(seed)
    t = resolve(data, mod=mod)
    adata = t.adata
    check_varm_key(adata, key_added, owner="hp.tl.embed_network")
    if not _entries.has_network(adata):
        msg = (
            f"hp.tl.embed_network needs a gene network (.varp[{_entries.network_key(adata)!r}]): run "
            "`hp.pp.gene_network(adata, network)` first."
        )
        raise KeyError(msg)
    check_current(adata, "network", needed_by="hp.tl.embed_network")  # targets declared after the network was built
    extra = _entries.network_extra_nodes(adata)
    ee = _entries.network_extra_edges(adata)
    n_genes = adata.n_vars
    adj = stored_adjacency(adata, n_genes + len(extra), n_genes, ee, needed_by="hp.tl.embed_network")
    # expression features to place genes without edges (control cells when known)
    rng = as_rng(seed)
    X = get_matrix(adata)
    cidx = control_index(adata, rng)
    mean, spread, frac = control_stats(X, cidx)
    feats = np.zeros((adj.shape[0], 3 + 4))
    feats[:n_genes, 0], feats[:n_genes, 1], feats[:n_genes, 2] = mean, spread, frac
    feats[:n_genes, 3:] = pca_loadings(X, cidx, mean, rng)
    res = fit_network_map(
        adj,
        dim=int(dim),
        geometry=geometry,
        curvature=float(curvature),
        epochs=None if epochs is None else int(epochs),
        learning_rate=float(learning_rate),
        negatives=int(negatives),
        burn_in=int(burn_in),
        radial=float(radial),
        seed=int(seed),
        features=standardise(np.nan_to_num(feats)),
    )
    Z = res["embedding"]
    entry = EmbedNetworkEntry(
        params={
            "dim": int(dim),
            "geometry": geometry,
            "curvature": float(curvature),
            "epochs": int(res["epochs"]),
            "learning_rate": float(learning_rate),
            "negatives": int(negatives),
            "burn_in": int(burn_in),
            "radial": float(radial),
            "seed": int(seed),
            "mod": mod,
            "key_added": key_added,
        },
        extra_nodes=tuple(extra),
        extra_embedding=Z[n_genes:],
        level=res["level"],
        loss=res["loss"],
        n_edges=int(res["n_edges"]),
        wall_time=float(res["wall_time"]),
    )
    if verbose:
        logger.info(
            "hp.tl.embed_network: %d nodes (%d genes, %d unmeasured targets), %d edges, %d genes without edges; "
            "%d epochs in %.1f s",
            adj.shape[0],
            n_genes,
            len(extra),
            res["n_edges"],
            int((~res["in_network"][:n_genes]).sum()),
            res["epochs"],
            res["wall_time"],
        )
    if copy:
        t = t.copy()
    with atomic_write(t.adata):
        t.adata.varm[key_added] = Z[:n_genes]
        t.adata.var["hp_in_network"] = res["in_network"][:n_genes]
        record(t.adata, EmbedNetworkEntry.STEP, entry.to_uns())
    return t.done(copy)
