"""``hp.tl.design``: which perturbations to screen next (a simulated-acquisition perturbation design loop)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hyperperturb._utils import _entries, as_rng, check_ledger_key, logger, record, resolve
from hyperperturb._utils._schema import DesignEntry
from hyperperturb._utils._warn import warn
from hyperperturb.tl._evaluation._baselines import fit_linear, predict_linear
from hyperperturb.tl._evaluation._splits import make_splits
from hyperperturb.tl._screen._read import Screen, read_screen

_STEP = "design"
#: Candidates predicted per block (their genes x candidates profiles are reduced to one effect each, block by block).
CANDIDATE_BLOCK = 2048
#: Candidate x screened-target distances per block of the uncertainty (bounded memory on genome-scale screens).
_DIST_BLOCK = 2**22
STRATEGIES = ("greedy", "ucb", "random", "degree")
PREDICTORS = ("auto", "model", "linear")


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


def _blocks(n: int) -> list[slice]:
    """Candidate blocks of :data:`CANDIDATE_BLOCK` (one block, i.e. the whole set, on small screens)."""
    return [slice(lo, min(lo + CANDIDATE_BLOCK, n)) for lo in range(0, max(n, 1), CANDIDATE_BLOCK)]


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
    from hyperperturb.tl._model._predict import predict

    effects = []
    for b in _blocks(cand_names.size):
        names = [str(c) for c in cand_names[b]]
        df = predict(adata, perturbations=names, kind="reward")
        effects.append(_effect(df.reindex(columns=names).to_numpy(dtype=np.float64), screen))
    effect = np.concatenate(effects)
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
    )
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


def _network_informed(adata: Any) -> bool:
    """Whether the trained held-out readout kept a network term (transfer or propagation), i.e. not the prior only."""
    kern = _entries.train_kernel(adata)
    if kern is None or not kern.available:
        return True  # the heads: they read the graph
    return str(kern.source) != "none"


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
    return predictor


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
    extra_pos = {g: adata.n_vars + i for i, g in enumerate(screen.extra_nodes)}
    degree = np.asarray(
        [
            deg_all[i] if i >= 0 else deg_all[extra_pos[str(c)]] if str(c) in extra_pos else 0.0
            for i, c in zip(cand_idx, cand_names, strict=True)
        ]
    )
    if strategy in ("random", "degree"):
        effect = np.zeros(cand_names.size)
        coord_c = np.full((cand_names.size, 1), np.nan)
        coord_s = np.zeros((0, 1))
    else:
        effect, coord_c, coord_s = _predict(adata, screen, train_cols, cand_idx, cand_names, predictor)
    rank_strategy = strategy
    if strategy not in ("random", "degree"):
        if strategy == "greedy" and predictor == "model" and not _network_informed(adata) and degree.any():
            # the readout kept no network term: predicted effects differ only by the on-target term and say nothing
            # about downstream genes; the network's degree is the better guess for those, the effect breaks ties
            logger.info(
                "hp.tl.design: the trained readout kept no network term (kernel source 'none'), so the predicted "
                "effects carry no downstream information; greedy proposals follow the network degree, then the effect."
            )
            rank_strategy = "degree"
    order, score, unc = _rank(rank_strategy, effect, coord_c, coord_s, degree, n=n, kappa=kappa, rng=rng)
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
    targets yet. Each candidate's reward profile is predicted from its target gene, and its *expected effect* is the
    sum over genes of the predicted excess over the noise floor, ``sum_g max(R_hat[g] - B[g], 0)``.

    Strategies:

    ``"greedy"``
        highest expected effect first. When the trained readout kept no network term (``kernel["source"]`` is
        ``"none"``: leave-one-out found that neither the transfer nor the propagation along the network beats the
        prior), predicted effects differ only by the on-target term, which says nothing about downstream genes;
        greedy then orders by network degree and breaks ties by the expected effect (logged), so that a small or
        noisy screen does not collapse to ranking targets by their expression;
    ``"ucb"``
        expected effect plus ``kappa`` times the uncertainty (distance, in the embedding, to the nearest screened
        target; both scaled to [0, 1]); picks are sequential and a picked gene counts as screened for the next
        picks, so a batch spreads over unexplored parts of the graph;
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
        Number of proposals.
    budget
        Optional stop for ``greedy``/``ucb``: propose until the proposals' cumulative expected effect reaches this
        fraction (in (0, 1]) of the total expected effect of all candidates (at most ``n``).
    strategy
        ``"greedy"``, ``"ucb"``, ``"random"`` or ``"degree"``.
    predictor
        ``"model"`` (:func:`hyperperturb.tl.predict` from the trained embedding), ``"linear"`` (the PCA/ridge
        baseline of :func:`hyperperturb.tl.evaluate`; extra network nodes then get the mean profile), or ``"auto"``
        (the model when one is trained, else linear).
    kappa
        Weight of the uncertainty for ``"ucb"``.
    candidates
        Restrict the candidates to these gene names (they must be graph nodes and not yet screened).
    seed
        Seed of the ``"random"`` strategy.
    key_added
        Ledger key for the proposals (``.uns["hyperperturb"][key_added]``).
    mod
        Modality of a MuData holding RNA.
    copy
        Return a copy of ``data`` holding the result instead of writing into ``data``.

    Returns
    -------
    ``None`` (in place), or the copy of ``data`` when ``copy=True``. The proposals (``rank``, ``gene``, ``score``,
    ``predicted_effect``, ``uncertainty``, ``degree``, ``measured``) are stored with the parameters in
    ``.uns["hyperperturb"][key_added]`` and read with :func:`hyperperturb.get.design`.

    Examples
    --------
    >>> hp.tl.design(adata, n=5, strategy="ucb")  # doctest: +SKIP
    """
    t = resolve(data, mod=mod)
    if strategy not in STRATEGIES:
        msg = f"`strategy` must be one of {list(STRATEGIES)}, got {strategy!r}."
        raise ValueError(msg)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        msg = f"`n` must be a positive integer (number of proposals), got {n!r}."
        raise ValueError(msg)
    if budget is not None and (not isinstance(budget, float | int) or not 0.0 < float(budget) <= 1.0):
        msg = f"`budget` must be a fraction in (0, 1] of the total expected effect, or None; got {budget!r}."
        raise ValueError(msg)
    if not isinstance(kappa, float | int) or not np.isfinite(kappa) or kappa < 0:
        msg = f"`kappa` must be a non-negative number, got {kappa!r}."
        raise ValueError(msg)
    check_ledger_key(t.adata, key_added, kind="design")
    screen = read_screen(t.adata, needed_by="hp.tl.design")
    pred_kind = _resolve_predictor(t.adata, predictor) if strategy in ("greedy", "ucb") else "none"
    screened = set(screen.targets.tolist())
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
        cand = [g for g in pool if g not in screened]
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
