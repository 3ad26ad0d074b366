"""``hp.tl.design``: which perturbations to screen next (a simulated-acquisition perturbation design loop)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hyperperturb._utils import _entries, as_rng, check_ledger_key, logger, record, resolve
from hyperperturb._utils._schema import DesignEntry, TrainEntry, read
from hyperperturb._utils._validate import check_fixed_seed
from hyperperturb._utils._warn import warn
from hyperperturb.tl._evaluation._baselines import fit_linear, predict_linear
from hyperperturb.tl._evaluation._splits import make_splits
from hyperperturb.tl._screen._read import Screen, read_screen

_STEP = "design"
#: Candidates predicted per block (their genes x candidates profiles are reduced to one effect each, block by block).
CANDIDATE_BLOCK = 2048
#: Candidate x screened-target distances per block of the uncertainty (bounded memory on genome-scale screens).
_DIST_BLOCK = 2**22
#: Candidates propagated per block for the downstream effect (genes x block dense matrices).
_PROPAGATION_BLOCK = 512
STRATEGIES = ("greedy", "ucb", "random", "degree")
PREDICTORS = ("auto", "model", "network", "linear")


def _degrees(adata: Any, extra: np.ndarray) -> np.ndarray:
    """Number of network edges of every node of ``[*var_names, *extra_nodes]``."""
    n_var = adata.n_vars
    deg = np.zeros(n_var + extra.size)
    if _entries.has_network(adata):
        A = _entries.network_graph(adata)
        deg[:n_var] = np.diff(A.indptr)
    ex = _entries.network_extra_edges(adata)
    for col in ("i", "j"):
        np.add.at(deg, ex[col], 1)
    return deg


def _effect(pred: np.ndarray, screen: Screen) -> np.ndarray:
    """Total expected effect of each predicted profile: sum over genes of the positive excess over the noise floor."""
    if screen.signed:
        return np.abs(pred).sum(axis=0)
    return np.clip(pred - screen.baseline[:, None], 0.0, None).sum(axis=0)


def _blocks(n: int, size: int = CANDIDATE_BLOCK) -> list[slice]:
    """Candidate blocks of ``size`` (one block, i.e. the whole set, on small screens)."""
    return [slice(lo, min(lo + size, n)) for lo in range(0, max(n, 1), size)]


def _network_nodes(adata: Any, screen: Screen, cand_idx: np.ndarray, cand_names: np.ndarray) -> np.ndarray:
    """Node index of every candidate in ``[*var_names, *extra_nodes]`` (-1: not a node)."""
    extra_pos = {g: adata.n_vars + i for i, g in enumerate(map(str, screen.extra_nodes))}
    return np.asarray(
        [int(i) if i >= 0 else extra_pos.get(str(c), -1) for i, c in zip(cand_idx, cand_names, strict=True)],
        dtype=np.int64,
    )


def _downstream(adata: Any, screen: Screen, nodes: np.ndarray) -> tuple[np.ndarray, bool, bool]:
    """Each candidate's change of the *other* genes predicted by the network alone, summed over genes.

    The knock-out's loss is sent along the network's signed, directed edges (undirected ones: both ways) as the
    fraction of its input each gene loses, over :data:`~hyperperturb.tl._transfer._propagation.HOPS` hops without
    damping (``α = 1``: a gene losing a fraction ``f`` of its expression passes ``f`` on to its share of each of its
    targets' input), and turned into the shift of log expression it makes with each gene's control mean
    (``norm="in-log"`` of the propagation readout): the expected ``Σ_g |shift of log expression|`` over the genes
    other than the target. Returns ``(effect, in_log_units, has_edges)``; without usable control means (a layer
    that is not log1p-scaled) the sum of the input fractions lost, ``in_log_units=False``. Zeros and
    ``has_edges=False`` without network edges.
    """
    from hyperperturb.tl._transfer._propagation import network_operator, profile, usable_level

    n_genes = adata.n_vars
    out = np.zeros(nodes.size)
    if not _entries.has_network(adata):
        return out, False, False
    ex = _entries.network_extra_edges(adata)
    n_nodes = n_genes + screen.extra_nodes.size
    M = network_operator(adata, n_nodes, n_genes, ex)
    if M.nnz == 0:
        return out, False, False
    level = adata.var["hp_control_mean"].to_numpy(np.float64) if "hp_control_mean" in adata.var else None
    in_log = usable_level(level, n_genes) is not None
    norm = "in-log" if in_log else "in"
    for b in _blocks(nodes.size, _PROPAGATION_BLOCK):
        src = nodes[b]
        X = profile(M, src, n_genes, norm=norm, alpha=1.0, level=level)
        own = np.flatnonzero((src >= 0) & (src < n_genes))
        X[src[own], own] = 0.0  # the target's own change is the on-target term, not downstream
        out[b] = X.sum(axis=0)
    return out, in_log, True


def _model_effect(
    adata: Any,
    screen: Screen,
    cand_idx: np.ndarray,
    cand_names: np.ndarray,
    down: np.ndarray,
    in_log: bool,
    has_edges: bool,
) -> np.ndarray:
    """The trained model's expected effect: the network's downstream change plus the model's change of the target.

    Without network edges the readout's whole predicted profile is summed instead (its excess over the noise
    floor). With edges, a candidate without downstream genes (a leaf) is scored by its own change alone, whatever
    the other candidates are, so scores from separate calls compare. Profiles are predicted :data:`CANDIDATE_BLOCK` candidates at a time.
    """
    from hyperperturb.tl._model._predict import predict_for

    effects, on_target = [], []
    for b in _blocks(cand_names.size):
        names = [str(c) for c in cand_names[b]]
        P = predict_for(adata, perturbations=names, kind="reward", needed_by="hp.tl.design")
        P = P.reindex(columns=names).to_numpy(dtype=np.float64)
        effects.append(_effect(P, screen))
        rows = cand_idx[b]
        has = np.flatnonzero(rows >= 0)
        t = np.zeros(len(names))
        pt = P[rows[has], has]
        t[has] = np.abs(pt) if screen.signed else np.clip(pt - screen.baseline[rows[has]], 0.0, None)
        on_target.append(t)
    if not has_edges:
        return np.concatenate(effects)
    # same units (shifts of log expression) only when the downstream change is in log units
    return down + np.concatenate(on_target) if in_log else down


def _predict(
    adata: Any,
    screen: Screen,
    train_cols: np.ndarray,
    cand_idx: np.ndarray,
    cand_names: np.ndarray,
    predictor: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected effect of each candidate and a coordinate per node for the uncertainty.

    Profiles are predicted :data:`CANDIDATE_BLOCK` candidates at a time and reduced to their effect, so no genes x
    all-candidates matrix is held. Returns ``(effect, candidate coordinates, screened-target coordinates)``.
    """
    screened_idx = screen.target_index[train_cols]
    if predictor == "linear":
        R_train = screen.reward[:, train_cols]
        fit = fit_linear(R_train, screened_idx)
        effect = np.concatenate(
            [
                _effect(predict_linear(R_train, screened_idx, cand_idx[b], fit=fit), screen)
                for b in _blocks(cand_idx.size)
            ]
        )
        G = fit[0]  # the gene embedding of the fit (the same SVD, not computed twice)
        far = np.full(G.shape[1], np.nan)
        coord_c = np.asarray([G[i] if i >= 0 else far for i in cand_idx])
        coord_s = np.asarray([G[i] for i in screened_idx if i >= 0])
        return effect, coord_c, coord_s
    nodes = _network_nodes(adata, screen, cand_idx, cand_names)
    down, in_log, has_edges = _downstream(adata, screen, nodes)
    if predictor == "network":
        effect = down
    else:
        effect = _model_effect(adata, screen, cand_idx, cand_names, down, in_log, has_edges)
    if "X_poincare" not in adata.varm:  # the network predictor before training: no map, no uncertainty
        return effect, np.full((cand_idx.size, 1), np.nan), np.zeros((0, 1))
    Z = np.asarray(adata.varm["X_poincare"], dtype=np.float64)
    extra_nodes, extra_emb = _entries.train_extra_nodes(adata, dim=Z.shape[1])
    extra_pos = {n: i for i, n in enumerate(extra_nodes)}

    def _coord(i: int, name: str) -> np.ndarray:
        if i >= 0:
            return Z[i]
        if name in extra_pos:
            return extra_emb[extra_pos[name]]
        return np.full(Z.shape[1], np.nan)

    coord_c = np.asarray([_coord(int(i), str(nm)) for i, nm in zip(cand_idx, cand_names, strict=True)])
    coord_s = np.asarray(
        [_coord(int(i), str(nm)) for i, nm in zip(screened_idx, screen.targets[train_cols], strict=True)]
    ).reshape(-1, Z.shape[1])
    # a screened target without a place in the map (not a graph node) is no reference point for the uncertainty;
    # left in, its NaN coordinates would make every candidate's distance to the nearest screened target NaN
    coord_s = coord_s[np.isfinite(coord_s).all(axis=1)]
    return effect, coord_c, coord_s


def _rank(
    strategy: str,
    effect: np.ndarray,
    coord_c: np.ndarray,
    coord_s: np.ndarray,
    degree: np.ndarray,
    *,
    n: int,
    kappa: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order of the candidates, their scores and their uncertainty (distance to the nearest screened target)."""
    m = effect.size

    def _nearest(cc: np.ndarray, ref: np.ndarray) -> np.ndarray:
        if ref.size == 0:
            return np.full(cc.shape[0], np.inf)
        step = max(1, _DIST_BLOCK // max(ref.shape[0] * max(ref.shape[1], 1), 1))  # rows of candidates per block
        out = np.empty(cc.shape[0])
        for lo in range(0, cc.shape[0], step):
            d = np.sqrt(((cc[lo : lo + step, None, :] - ref[None, :, :]) ** 2).sum(-1))
            out[lo : lo + step] = d.min(axis=1)
        return out

    unc = _nearest(coord_c, coord_s)
    fin = np.isfinite(unc)
    top = unc[fin].max() if fin.any() else 1.0
    unc = np.where(fin, unc, top)  # unplaced nodes count as far from everything screened
    if strategy == "random":
        order = rng.permutation(m)
        return order[:n], np.zeros(min(n, m)), unc[order[:n]]
    if strategy == "degree":
        order = np.lexsort((-effect, -degree))
        return order[:n], degree[order[:n]].astype(float), unc[order[:n]]
    e_scale = effect.max() if effect.size and effect.max() > 0 else 1.0
    if strategy == "greedy":
        order = np.lexsort((-degree, -effect))
        if order.size > n and np.isclose(effect[order[n - 1]], effect[order[n]], rtol=1e-9, atol=0.0):
            tied = int(np.isclose(effect, effect[order[n - 1]], rtol=1e-9, atol=0.0).sum())
            warn(
                f"hp.tl.design: {tied} candidates tie at the cut-off (predicted effect {effect[order[n - 1]]:.3g}); "
                "among them the proposals are ordered by network degree, then candidate order, not by the model.",
                UserWarning,
            )
        return order[:n], effect[order[:n]] / e_scale, unc[order[:n]]
    # ucb: sequential batch selection; a picked candidate counts as screened for the next picks
    u = unc.copy()
    u_scale = u.max() if u.size and u.max() > 0 else 1.0
    chosen, scores, uncs = [], [], []
    avail = np.ones(m, dtype=bool)
    for _ in range(min(n, m)):
        s = effect / e_scale + kappa * u / u_scale
        s[~avail] = -np.inf
        j = int(np.argmax(s))
        chosen.append(j)
        scores.append(float(s[j]))
        uncs.append(float(u[j]))
        avail[j] = False
        if np.isfinite(coord_c[j]).all():
            d = np.sqrt(((coord_c - coord_c[j]) ** 2).sum(-1))
            u = np.minimum(u, np.where(np.isfinite(d), d, u))
    return np.asarray(chosen, dtype=np.int64), np.asarray(scores), np.asarray(uncs)


def _resolve_predictor(adata: Any, predictor: str) -> str:
    if predictor not in PREDICTORS:
        msg = f"`predictor` must be one of {list(PREDICTORS)}, got {predictor!r}."
        raise ValueError(msg)
    has_model = _entries.has_step(adata, "train") and "X_poincare" in adata.varm
    if predictor == "auto":
        return "model" if has_model else "linear"
    if predictor == "model" and not has_model:
        msg = "`predictor='model'` needs a trained model. Run `hp.tl.train(adata)` first, or use predictor='linear'."
        raise KeyError(msg)
    if predictor == "network" and not (_entries.has_network(adata) and _entries.network_graph(adata).nnz):
        msg = (
            "`predictor='network'` needs a gene network with edges. Run `hp.pp.gene_network(adata, ...)` first, "
            "or use predictor='linear'."
        )
        raise KeyError(msg)
    return predictor


def _combination_genes(adata: Any) -> set[str]:
    """Every gene targeted within a combination perturbation (by its name and its network node)."""
    from hyperperturb._utils._ledger import target_sets
    from hyperperturb._utils._schema import NetworkEntry, find

    sets = target_sets(_entries.entry(adata, "perturbations"))
    genes = {g for s in sets if len(s) > 1 for g in s}
    net = find(adata, NetworkEntry, needed_by="hp.tl.design")
    node_of = net.target_nodes if net is not None else {}
    return genes | {node_of.get(g, g) for g in genes}


def _check_gene_modality(t: Any, screen: Screen) -> None:
    """Refuse a MuData modality whose features are not the genes that perturbations target (e.g. ``mod="prot"``).

    Candidates are the modality's var_names: protein features (``ADT_STAT1``) never match a screened target, so
    design would propose already screened genes under another name.
    """
    if t.mod is None or screen.eligible.any():
        return
    shown = [str(x) for x in dict.fromkeys(screen.targets.tolist())][:5]
    feats = [str(x) for x in t.adata.var_names[:3]]
    rna = [str(k) for k in t.data.mod if str(k) != str(t.mod) and str(k).lower() in ("rna", "gex")]
    fix = f"mod={rna[0]!r}" if rna else "mod= naming the RNA modality"
    msg = (
        f"hp.tl.design proposes genes to perturb, so it needs the modality whose var_names are the genes that "
        f"perturbations target, but none of the screened targets (e.g. {shown}) is a feature of modality "
        f"{t.mod!r} (features e.g. {feats}) or a node of its network. Use the RNA modality: pass {fix}."
    )
    raise ValueError(msg)


def _propose(
    adata: Any,
    screen: Screen,
    train_cols: np.ndarray,
    cand_names: np.ndarray,
    *,
    strategy: str,
    predictor: str,
    n: int,
    kappa: float,
    budget: float | None,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Ranked proposals among ``cand_names`` given the screened columns ``train_cols`` (nothing is written)."""
    var_index = {g: i for i, g in enumerate(map(str, adata.var_names))}
    cand_idx = np.asarray([var_index.get(str(c), -1) for c in cand_names], dtype=np.int64)
    deg_all = _degrees(adata, screen.extra_nodes)
    nodes = _network_nodes(adata, screen, cand_idx, cand_names)
    degree = np.where(nodes >= 0, deg_all[np.maximum(nodes, 0)], 0.0)
    if strategy in ("random", "degree"):
        effect = np.zeros(cand_names.size)
        coord_c = np.full((cand_names.size, 1), np.nan)
        coord_s = np.zeros((0, 1))
    else:
        effect, coord_c, coord_s = _predict(adata, screen, train_cols, cand_idx, cand_names, predictor)
    order, score, unc = _rank(strategy, effect, coord_c, coord_s, degree, n=n, kappa=kappa, rng=rng)
    out = pd.DataFrame(
        {
            "rank": np.arange(1, order.size + 1, dtype=np.int64),
            "gene": cand_names[order].astype(str),
            "score": np.asarray(score, dtype=np.float64),
            "predicted_effect": effect[order].astype(np.float64),
            "uncertainty": np.asarray(unc, dtype=np.float64),
            "degree": degree[order].astype(np.float64),
            "measured": cand_idx[order] >= 0,
        }
    )
    if strategy in ("random", "degree"):  # nothing was predicted: no effect, no uncertainty (not 0 and 1)
        out["predicted_effect"] = np.nan
        out["uncertainty"] = np.nan
    if budget is not None and strategy in ("greedy", "ucb") and effect.sum() > 0:
        cum = np.cumsum(out["predicted_effect"].to_numpy()) / effect.sum()
        stop = int(np.searchsorted(cum, budget, side="left")) + 1
        out = out.iloc[:stop].reset_index(drop=True)
    return out


def design(
    data: Any,
    *,
    n: int = 10,
    budget: float | None = None,
    strategy: str = "greedy",
    predictor: str = "auto",
    kappa: float = 1.0,
    candidates: Sequence[str] | None = None,
    seed: int = 0,
    key_added: str = "design",
    mod: str = "rna",
    copy: bool = False,
) -> pd.DataFrame | Any:
    """Propose which perturbations to screen next.

    Candidates are the genes of the graph (``var_names`` and extra network nodes) that no screened perturbation
    targets yet, alone or within a combination (``hp.pp.perturbations(sep="+")``). Each candidate gets an *expected effect*, the total change of expression its perturbation is
    predicted to make, and the strategies rank by it.

    Expected effect, by ``predictor``:

    ``"model"``
        the network's downstream change plus the trained model's predicted change of the target itself. The
        downstream change is the knock-out's loss sent along the network's signed, directed edges (undirected ones:
        both ways) as the fraction of its input each gene loses, over three hops without damping, and turned into
        the shift of log expression it makes with each gene's control mean, summed over the genes other than the
        target (the propagation readout's ``"in-log"`` change with ``α = 1``; its input fractions instead when the
        layer is not log1p-scaled, then without the target's own change). The target's change is the model's
        predicted reward at the target above its noise floor. Without network edges: the sum over genes of the
        model's predicted excess over the noise floor, ``sum_g max(R_hat[g] - B[g], 0)``. The held-out readout's
        whole predicted profile is not summed when the network has edges: its terms are chosen and its per-gene
        gains fitted for the *shape* of a profile, and ranking candidates by the sum of those profiles captured
        less of the best possible effect than the propagated change on knock-out screens with a known network
        (``docs/benchmarks.md``, "Design").
    ``"network"``
        the downstream change alone; needs a gene network, not a trained model.
    ``"linear"``
        the sum over genes of the PCA/ridge baseline's predicted excess (:func:`hyperperturb.tl.evaluate`'s
        ``linear``; extra network nodes get the mean profile).

    Strategies:

    ``"greedy"``
        highest expected effect first (ties broken by network degree, with a warning when they reach the cut-off);
    ``"ucb"``
        expected effect plus ``kappa`` times the uncertainty (straight-line distance between map coordinates to
        the nearest screened target — not the geodesic distance, under which every gene near the rim of the
        Poincaré ball looks unexplored; see ``docs/evaluation.md`` — both scaled to [0, 1]; without a trained map every candidate is equally uncertain and ucb orders
        as greedy); picks are sequential and a picked gene counts as screened for the next picks, so a batch
        spreads over unexplored parts of the graph;
    ``"random"``
        a seeded random order (a control);
    ``"degree"``
        most connected genes of the network first (a heuristic control).

    Parameters
    ----------
    data
        AnnData or MuData after :func:`hyperperturb.tl.rewards` (and :func:`hyperperturb.tl.train` for the model
        predictor).
    n
        Number of proposals (a positive integer).
    budget
        Optional stop for ``greedy``/``ucb``: propose until the proposals' cumulative expected effect reaches this
        fraction (in (0, 1]) of the total expected effect of all candidates (at most ``n``).
    strategy
        ``"greedy"``, ``"ucb"``, ``"random"`` or ``"degree"``.
    predictor
        ``"model"``, ``"network"`` or ``"linear"`` (see above), or ``"auto"``: the model when one is trained, else
        linear.
    kappa
        Weight of the uncertainty for ``"ucb"``.
    candidates
        Restrict the candidates to these gene names (they must be graph nodes and not yet screened alone; a gene
        screened only within a combination may be asked for, for its single perturbation).
    seed
        Seed of the ``"random"`` strategy, a non-negative integer (recorded with the proposals).
    key_added
        Ledger key for the proposals (``.uns["hyperperturb"][key_added]``).
    mod
        Modality of a MuData holding RNA: its var_names must be the genes that perturbations target (a protein
        modality is refused).
    copy
        Return a copy of ``data`` holding the result instead of writing into ``data``.

    Returns
    -------
    ``None`` (in place), or the copy of ``data`` when ``copy=True``. The proposals (``rank``, ``gene``, ``score``,
    ``predicted_effect``, ``uncertainty``, ``degree``, ``measured``) are stored with the parameters in
    ``.uns["hyperperturb"][key_added]`` and read with :func:`hyperperturb.get.design`.

    Raises
    ------
    ValueError
        For an invalid argument (``n``, ``budget`` and ``kappa`` must be numbers, not bools; ``seed`` a
        non-negative integer, which raises :class:`TypeError` for ``None``), a trained model older than the rewards
        or the network it was trained on (re-run :func:`hyperperturb.tl.train`), or a MuData modality whose
        features are not the screened genes (``mod="prot"``: use the RNA modality).
    KeyError
        If a step the predictor needs has not been run.

    Examples
    --------
    >>> hp.tl.design(adata, n=5)  # doctest: +SKIP
    >>> hp.get.design(adata)  # doctest: +SKIP
    """
    t = resolve(data, mod=mod)
    if strategy not in STRATEGIES:
        msg = f"`strategy` must be one of {list(STRATEGIES)}, got {strategy!r}."
        raise ValueError(msg)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        msg = f"`n` must be a positive integer (number of proposals), got {n!r}."
        raise ValueError(msg)
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, float | int | np.number) or not 0.0 < float(budget) <= 1.0
    ):
        msg = f"`budget` must be a fraction in (0, 1] of the total expected effect (e.g. 0.5), or None; got {budget!r}."
        raise ValueError(msg)
    if isinstance(kappa, bool) or not isinstance(kappa, float | int | np.number) or not np.isfinite(kappa) or kappa < 0:
        msg = f"`kappa` must be a non-negative number (weight of the uncertainty, e.g. 1.0), got {kappa!r}."
        raise ValueError(msg)
    check_fixed_seed(seed)  # recorded with the proposals: None (a fresh random seed) cannot be reproduced
    check_ledger_key(t.adata, key_added, kind="design")
    screen = read_screen(t.adata, needed_by="hp.tl.design")
    _check_gene_modality(t, screen)
    pred_kind = _resolve_predictor(t.adata, predictor) if strategy in ("greedy", "ucb") else "none"
    if pred_kind == "model":  # a model older than the rewards or network is refused here, naming hp.tl.design
        read(t.adata, TrainEntry, needed_by="hp.tl.design")
    screened = set(screen.targets.tolist())
    in_combination = _combination_genes(t.adata) - screened
    pool = [*map(str, t.adata.var_names), *screen.extra_nodes.tolist()]
    if candidates is not None:
        cand = [str(c) for c in ([candidates] if isinstance(candidates, str) else candidates)]
        bad = [c for c in cand if c not in set(pool)]
        if bad:
            msg = f"Candidates {bad[:10]} are not nodes of the graph (var_names or extra network nodes)."
            raise ValueError(msg)
        again = [c for c in cand if c in screened]
        if again:
            msg = f"Candidates {again[:10]} are already screened (targets of existing perturbations); drop them."
            raise ValueError(msg)
    else:
        cand = [g for g in pool if g not in screened and g not in in_combination]
    if not cand:
        msg = "No candidate left: every graph node is already screened. Add network nodes with `hp.pp.gene_network`."
        raise ValueError(msg)
    cand_names = np.asarray(list(dict.fromkeys(cand)), dtype=str)
    all_cols = np.arange(screen.names.size)
    table = _propose(
        t.adata,
        screen,
        all_cols,
        cand_names,
        strategy=strategy,
        predictor=pred_kind,
        n=int(n),
        kappa=float(kappa),
        budget=None if budget is None else float(budget),
        rng=as_rng(seed),
    )
    entry = DesignEntry(
        params={
            "n": int(n),
            "budget": budget,
            "strategy": strategy,
            "predictor": pred_kind,
            "kappa": float(kappa),
            "seed": int(seed),
            "n_candidates": int(cand_names.size),
        },
        proposals=table,
    )
    if copy:
        t = t.copy()
    record(t.adata, key_added, entry.to_uns(), kind="design")  # tracked for staleness under any key
    logger.info(
        "design: %d proposals (%s, predictor %s) from %d candidates", len(table), strategy, pred_kind, cand_names.size
    )
    return t.done(copy)


def _simulate_acquisition(
    data: Any,
    *,
    strategies: Sequence[str] = ("greedy", "ucb", "random", "degree"),
    predictor: str = "linear",
    n_splits: int = 5,
    holdout_frac: float = 0.5,
    seed: int = 0,
    kappa: float = 1.0,
    train_kwargs: dict[str, Any] | None = None,
    mod: str = "rna",
) -> pd.DataFrame:
    """Replay the design loop on screened data: hide perturbations, let each strategy order them, score coverage.

    In each split ``holdout_frac`` of the eligible perturbations are treated as not yet screened; each strategy
    orders their target genes using only the remaining screen. ``coverage`` after ``k`` proposals is the share of
    the hidden perturbations' total *observed* effect (positive excess summed over genes) in the first ``k``.

    Returns
    -------
    Tidy table with columns ``split``, ``strategy``, ``k``, ``coverage``.
    """
    t = resolve(data, mod=mod)
    screen = read_screen(t.adata, needed_by="design simulation")
    rng = as_rng(seed)
    splits = make_splits(np.flatnonzero(screen.eligible), n_splits=n_splits, holdout_frac=holdout_frac, rng=rng)
    observed = _effect(screen.reward, screen)
    rows = []
    for s, held in enumerate(splits):
        train_cols = np.setdiff1d(np.arange(screen.names.size), held)
        obj = t.adata
        if predictor == "model":
            from hyperperturb.tl._model._train import train

            obj = train(
                t.adata,
                holdout=list(screen.names[held]),
                seed=seed + s,
                verbose=False,
                copy=True,
                **(train_kwargs or {}),
            )
        names = screen.targets[held]
        total = observed[held].sum()
        eff_of = dict(zip(names.tolist(), observed[held].tolist(), strict=True))
        for strat in strategies:
            table = _propose(
                obj,
                screen,
                train_cols,
                names,
                strategy=strat,
                predictor=predictor,
                n=names.size,
                kappa=kappa,
                budget=None,
                rng=np.random.default_rng([seed, s]),
            )
            cov = np.cumsum([eff_of[g] for g in table["gene"]]) / (total if total > 0 else 1.0)
            for k, c in enumerate(cov, start=1):
                rows.append({"split": s, "strategy": strat, "k": k, "coverage": float(c)})
    return pd.DataFrame(rows)
