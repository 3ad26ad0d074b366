"""A seeded synthetic Perturb-seq screen with a known regulatory hierarchy."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from hyperperturb._utils import as_rng, progress, sanitize_for_h5ad

from ._hierarchy import build_hierarchy, true_effects

#: Key of the ground truth in ``.uns`` (of the RNA AnnData).
TRUTH_KEY = "hyperperturb_truth"
CONTROL = "non-targeting"
# Cells are simulated in blocks of about this many matrix entries (memory ~ 5 x 8 bytes x this).
_BLOCK_ENTRIES = 1 << 22


def _int(name: str, value: Any, low: int, high: int | None = None, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f"`{name}` must be an integer, got {value!r} ({type(value).__name__})."
        raise TypeError(msg)
    value = int(value)
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"between {low} and {high}"
        msg = f"`{name}={value}` is impossible: it must be {rng}{why}."
        raise ValueError(msg)
    return value


def _real(name: str, value: Any, low: float, high: float, *, low_open: bool, high_open: bool, why: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        msg = f"`{name}` must be a finite number, got {value!r}."
        raise ValueError(msg)
    value = float(value)
    bad_low = value <= low if low_open else value < low
    bad_high = value >= high if high_open else value > high
    if bad_low or bad_high:
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        msg = f"`{name}={value}` is outside {lo}{low}, {high}{hi}{why}."
        raise ValueError(msg)
    return value


def synthetic(
    n_cells: int = 3000,
    n_genes: int = 200,
    n_perturbations: int = 20,
    *,
    n_regulators: int | None = None,
    n_masters: int | None = None,
    regulator_fraction: float = 0.75,
    control_fraction: float = 0.15,
    knockout: float = 0.9,
    decay: float = 0.6,
    p_activating: float = 0.7,
    library_size: float | None = None,
    library_sd: float = 0.4,
    expression_sd: float = 1.5,
    dispersion: float = 0.3,
    dropout: float = 0.1,
    protein: bool = False,
    n_proteins: int = 8,
    as_mudata: bool = True,
    seed: int | np.random.Generator | None = 0,
    verbose: bool = False,
) -> Any:
    r"""Simulate a Perturb-seq screen whose regulatory hierarchy is known.

    A random scale-free regulatory forest (master regulators → intermediate regulators → target genes) is grown,
    ``n_perturbations`` genes are knocked out, knockout effects propagate down the forest with signed, decaying
    log-fold changes, and raw UMI counts are drawn from a zero-inflated negative binomial with log-normal library
    sizes. The generative model is written out in the :doc:`datasets page </datasets>`.

    Parameters
    ----------
    n_cells
        Number of cells (controls included).
    n_genes
        Number of genes.
    n_perturbations
        Number of knocked-out genes (each a gene of the screen); at most ``n_genes``.
    n_regulators
        Number of regulators (genes with at least one child), at most ``n_genes // 2`` so that each regulator has a
        target. Default: ``max(1, round(0.1 * n_genes))``.
    n_masters
        Number of master regulators (depth 0) among the regulators. Default: ``max(1, round(sqrt(n_regulators) / 2))``.
    regulator_fraction
        Share of the knocked-out genes that are regulators; the rest are leaves. When at least two genes are
        perturbed and leaves exist, at least one leaf and one regulator are perturbed.
    control_fraction
        Share of ``"non-targeting"`` control cells, in (0, 1). The other cells are split evenly over perturbations.
    knockout
        Fraction of a knocked-out gene's mRNA that is removed, in (0, 1): its log-fold change is ``log(1 - knockout)``.
    decay
        Factor by which an effect shrinks per edge down the hierarchy, in [0, 1].
    p_activating
        Probability that an edge is activating (sign +1) rather than repressing (sign -1).
    library_size
        Median total counts per cell. Default: ``0.5 * n_genes`` (half a count per gene and cell on average, which
        gives about 75 % zeros, like a targeted real screen).
    library_sd
        Standard deviation of the log size factors.
    expression_sd
        Standard deviation of the log baseline expression across genes.
    dispersion
        Median negative-binomial dispersion (variance = mean + dispersion × mean²); per-gene values scatter around it.
    dropout
        Largest extra zero-inflation probability; the probability of an extra zero is ``dropout / (1 + mean)``.
    protein
        Also simulate ``n_proteins`` antibody (ADT) channels, each reading out one gene's product.
    n_proteins
        Number of protein channels (used only with ``protein=True``), at most ``n_genes``.
    as_mudata
        With ``protein=True``: return a :class:`mudata.MuData` with modalities ``"rna"`` and ``"prot"`` (default), or
        an AnnData with ``.obsm["protein"]``. Ignored without protein.
    seed
        Seed (or NumPy generator) of all randomness. The same seed and sizes give identical data.
    verbose
        Show a progress bar over blocks of cells.

    Returns
    -------
    An :class:`~anndata.AnnData` (or :class:`mudata.MuData` with ``protein=True, as_mudata=True``) with

    ``X``
        raw counts, :class:`scipy.sparse.csr_matrix` of dtype ``float32`` holding integers;
    ``obs["perturbation"]``
        categorical, ``"non-targeting"`` for controls (first category), else the knocked-out gene's name;
    ``obs["is_control"]``
        bool;
    ``var``
        ``depth`` (0 = master regulator), ``is_regulator``, ``n_children``, ``n_descendants``, ``parent`` (``""``
        for masters), ``is_perturbation_target``, ``base_mean`` (expected count at median library size);
    ``uns["hyperperturb_truth"]``
        ground truth: ``genes``, ``depth``, ``edges`` (``source``, ``target``, ``sign`` arrays of gene names / ±1),
        ``perturbations`` (names, = target genes), ``effect`` (true log-fold change, perturbations × genes),
        ``params``, and with protein ``protein_names`` / ``protein_genes``;
    protein
        ``mdata["prot"]`` (dense counts, ``var_names`` ``"ADT_<gene>"``, ``var["gene"]``), or ``.obsm["protein"]``
        (ndarray) with ``.uns["protein_names"]`` and ``.uns["protein_genes"]``.

    Examples
    --------
    >>> import hyperperturb as hp
    >>> adata = hp.datasets.synthetic(n_cells=500, n_genes=50, n_perturbations=5, seed=1)
    >>> adata.obs["perturbation"].cat.categories[0]
    'non-targeting'
    """
    s = _checked_settings(
        n_cells=n_cells, n_genes=n_genes, n_perturbations=n_perturbations, n_regulators=n_regulators,
        n_masters=n_masters, regulator_fraction=regulator_fraction, control_fraction=control_fraction,
        knockout=knockout, decay=decay, p_activating=p_activating, library_size=library_size, library_sd=library_sd,
        expression_sd=expression_sd, dispersion=dispersion, dropout=dropout, protein=protein, n_proteins=n_proteins,
    )  # fmt: skip
    rng = as_rng(seed)
    params = {
        **{k: v for k, v in s.items() if k != "n_proteins"},
        "protein": bool(protein),
        "n_proteins": s["n_proteins"] if protein else 0,
        "seed": seed if isinstance(seed, numbers.Integral) else str(seed),
        "control": CONTROL,
    }
    h, targets, effect = _hierarchy_and_targets(rng, s)
    width = max(3, len(str(s["n_genes"] - 1)))
    genes = np.asarray([f"G{i:0{width}d}" for i in range(s["n_genes"])])
    cells = _cell_parameters(rng, s, targets, effect, protein=bool(protein))
    X, P = _counts(cells, effect, s, verbose=verbose)
    truth: dict[str, Any] = {
        "genes": genes.astype(str),
        "depth": h.depth.astype(np.int64),
        "edges": dict(zip(("source", "target", "sign"), _named_edges(h, genes), strict=True)),
        "perturbations": genes[targets].astype(str),
        "effect": effect,
        "knockout_lfc": float(np.log1p(-s["knockout"])),
        "params": params,
    }
    adata = AnnData(X=X, obs=_obs(cells.labels, genes[targets], s["n_cells"]), var=_var(h, genes, targets, cells))
    if not protein:
        adata.uns[TRUTH_KEY] = sanitize_for_h5ad(truth)
        return adata
    assert P is not None and cells.prot_gene_idx is not None
    return _with_protein(adata, P, genes[cells.prot_gene_idx].astype(str), truth, as_mudata=as_mudata)


# -- the steps of synthetic ------------------------------------------------------------------------------------------


def _checked_settings(
    *,
    n_cells: Any,
    n_genes: Any,
    n_perturbations: Any,
    n_regulators: Any,
    n_masters: Any,
    regulator_fraction: Any,
    control_fraction: Any,
    knockout: Any,
    decay: Any,
    p_activating: Any,
    library_size: Any,
    library_sd: Any,
    expression_sd: Any,
    dispersion: Any,
    dropout: Any,
    protein: bool,
    n_proteins: Any,
) -> dict[str, Any]:
    """The arguments of :func:`synthetic`, validated (a clear error naming each impossible one), defaults filled in."""
    n_cells = _int("n_cells", n_cells, 1)
    n_genes = _int("n_genes", n_genes, 2, why=" (a hierarchy needs a regulator and a target)")
    n_perturbations = _int(
        "n_perturbations", n_perturbations, 1, n_genes, why=f" (every perturbation targets one of the {n_genes} genes)"
    )
    if n_regulators is None:
        n_regulators = max(1, round(0.1 * n_genes))
    n_regulators = _int(
        "n_regulators", n_regulators, 1, n_genes // 2, why=f" (each regulator needs a target among n_genes={n_genes})"
    )
    if n_masters is None:
        n_masters = max(1, round(np.sqrt(n_regulators) / 2))
    n_masters = _int(
        "n_masters", n_masters, 1, n_regulators, why=f" (masters are regulators; n_regulators={n_regulators})"
    )
    regulator_fraction = _real("regulator_fraction", regulator_fraction, 0, 1, low_open=False, high_open=False)
    control_fraction = _real(
        "control_fraction",
        control_fraction,
        0,
        1,
        low_open=True,
        high_open=True,
        why=" (a screen needs both controls and perturbed cells)",
    )
    knockout = _real("knockout", knockout, 0, 1, low_open=True, high_open=True)
    decay = _real("decay", decay, 0, 1, low_open=False, high_open=False)
    p_activating = _real("p_activating", p_activating, 0, 1, low_open=False, high_open=False)
    if library_size is None:
        library_size = 0.5 * n_genes
    library_size = _real("library_size", library_size, 0, np.inf, low_open=True, high_open=True)
    library_sd = _real("library_sd", library_sd, 0, 5, low_open=False, high_open=False)
    expression_sd = _real("expression_sd", expression_sd, 0, 5, low_open=False, high_open=False)
    dispersion = _real("dispersion", dispersion, 0, 100, low_open=True, high_open=False)
    dropout = _real("dropout", dropout, 0, 1, low_open=False, high_open=True)
    if protein:
        n_proteins = _int("n_proteins", n_proteins, 1, n_genes, why=" (each protein reads out one gene)")
    n_control = round(control_fraction * n_cells)
    n_perturbed = n_cells - n_control
    if n_control < 1 or n_perturbed < n_perturbations:
        msg = (
            f"`n_cells={n_cells}` is too small for control_fraction={control_fraction} and "
            f"n_perturbations={n_perturbations}: it gives {n_control} control cells and {n_perturbed} perturbed cells, "
            f"but at least 1 control and one cell per perturbation are needed. Increase n_cells."
        )
        raise ValueError(msg)
    return {
        "n_cells": n_cells,
        "n_genes": n_genes,
        "n_perturbations": n_perturbations,
        "n_regulators": n_regulators,
        "n_masters": n_masters,
        "regulator_fraction": regulator_fraction,
        "control_fraction": control_fraction,
        "knockout": knockout,
        "decay": decay,
        "p_activating": p_activating,
        "library_size": library_size,
        "library_sd": library_sd,
        "expression_sd": expression_sd,
        "dispersion": dispersion,
        "dropout": dropout,
        "n_proteins": n_proteins,
    }


def _hierarchy_and_targets(rng: np.random.Generator, s: dict[str, Any]) -> tuple[Any, np.ndarray, np.ndarray]:
    """The regulatory forest, the knocked-out genes (sorted indices) and the true effects (perturbations × genes)."""
    n_perturbations = s["n_perturbations"]
    h = build_hierarchy(
        rng, n_genes=s["n_genes"], n_regulators=s["n_regulators"], n_masters=s["n_masters"],
        p_activating=s["p_activating"],
    )  # fmt: skip
    regs = np.flatnonzero(h.is_regulator)
    leaves = np.flatnonzero(~h.is_regulator)
    n_reg_p = round(s["regulator_fraction"] * n_perturbations)
    if n_perturbations >= 2:
        n_reg_p = min(max(n_reg_p, 1), n_perturbations - 1)
    n_reg_p = int(np.clip(n_reg_p, n_perturbations - leaves.size, min(regs.size, n_perturbations)))
    masters = regs[h.depth[regs] == 0]
    first = rng.choice(masters, 1) if n_reg_p else np.empty(0, dtype=np.int64)  # always knock out a master
    rest = rng.choice(np.setdiff1d(regs, first), n_reg_p - first.size, replace=False)
    targets = np.concatenate([first, rest, rng.choice(leaves, n_perturbations - n_reg_p, replace=False)])
    targets = np.sort(targets.astype(np.int64))
    effect = true_effects(h, targets, knockout_lfc=float(np.log1p(-s["knockout"])), decay=s["decay"])
    return h, targets, effect


@dataclass
class _Cells:
    """Per-gene and per-cell parameters of the count model (and of the protein channels, if simulated)."""

    base_mean: np.ndarray
    shape: np.ndarray
    size_factor: np.ndarray
    labels: np.ndarray
    block_seeds: np.ndarray
    prot_gene_idx: np.ndarray | None = None
    prot_scale: np.ndarray | None = None
    prot_background: np.ndarray | None = None
    prot_size: np.ndarray | None = None


def _cell_parameters(
    rng: np.random.Generator, s: dict[str, Any], targets: np.ndarray, effect: np.ndarray, *, protein: bool
) -> _Cells:
    """Baseline expression, dispersions, size factors, cell labels, protein channels and the seeds of the blocks."""
    n_cells, n_genes, n_perturbations = s["n_cells"], s["n_genes"], s["n_perturbations"]
    n_control = round(s["control_fraction"] * n_cells)
    n_perturbed = n_cells - n_control
    rel = np.exp(rng.normal(0.0, s["expression_sd"], n_genes))
    rel /= rel.sum()
    floor = np.quantile(rel, 0.75)  # screens target expressed genes: knocked-out genes get at least the 75th pct.
    rel[targets] = np.maximum(rel[targets], floor)
    rel /= rel.sum()
    phi = s["dispersion"] * np.exp(rng.normal(0.0, 0.3, n_genes))
    size_factor = np.exp(rng.normal(0.0, s["library_sd"], n_cells))
    labels = np.concatenate([np.full(n_control, -1), np.arange(n_perturbed) % n_perturbations])
    labels = rng.permutation(labels)
    prot: dict[str, np.ndarray] = {}
    if protein:  # antibody panels measure abundant proteins: read out genes from the upper half of expression
        n_proteins = s["n_proteins"]
        expressed = np.flatnonzero(rel >= np.median(rel))
        if expressed.size < n_proteins:
            expressed = np.argsort(-rel)[:n_proteins]
        affected = np.intersect1d(expressed, np.flatnonzero(np.abs(effect).sum(0) > 0))
        k_aff = min(affected.size, (n_proteins + 1) // 2)  # half of them respond to some perturbation
        pg = rng.choice(affected, k_aff, replace=False)
        pg = np.concatenate([pg, rng.choice(np.setdiff1d(expressed, pg), n_proteins - k_aff, replace=False)])
        prot["prot_gene_idx"] = np.sort(pg.astype(np.int64))
        prot["prot_scale"] = np.exp(rng.normal(np.log(200.0), 0.5, n_proteins))
        prot["prot_background"] = np.exp(rng.normal(np.log(10.0), 0.5, n_proteins))
        prot["prot_size"] = np.exp(rng.normal(0.0, 0.3, n_cells))
    block = max(1, _BLOCK_ENTRIES // n_genes)
    n_blocks = -(-n_cells // block)
    return _Cells(
        base_mean=s["library_size"] * rel,
        shape=1.0 / phi,
        size_factor=size_factor,
        labels=labels,
        block_seeds=rng.integers(0, 2**63 - 1, size=n_blocks),
        **prot,
    )


#: Negative-binomial dispersion of the protein channels.
_PROT_PHI = 0.05


def _counts(cells: _Cells, effect: np.ndarray, s: dict[str, Any], *, verbose: bool) -> tuple[Any, np.ndarray | None]:
    """RNA counts (CSR float32) and protein counts (dense, or ``None``), simulated block by block.

    Memory is bounded by the block of cells, not by ``n_cells``; each block has its own seed, so the result does
    not depend on the block size.
    """
    n_cells, n_genes, dropout = s["n_cells"], s["n_genes"], s["dropout"]
    block = max(1, _BLOCK_ENTRIES // n_genes)
    n_blocks = cells.block_seeds.size
    fold = np.vstack([np.exp(effect), np.ones((1, n_genes))])  # row -1 = control
    blocks = []
    prot_blocks = []
    for b in progress(range(n_blocks), verbose=verbose, total=n_blocks, desc="simulating cells"):
        brng = np.random.default_rng(cells.block_seeds[b])
        sl = slice(b * block, min((b + 1) * block, n_cells))
        lab = cells.labels[sl]
        mean = fold[lab] * cells.base_mean[None, :]
        mean *= cells.size_factor[sl, None]
        latent = brng.standard_gamma(cells.shape, size=mean.shape) / cells.shape  # mean 1, variance phi
        counts = brng.poisson(mean * latent)
        nz_r, nz_c = np.nonzero(counts)
        vals = counts[nz_r, nz_c]
        keep = brng.random(vals.size) >= dropout / (1.0 + mean[nz_r, nz_c])
        blocks.append(
            sparse.csr_matrix(
                (vals[keep].astype(np.float32), (nz_r[keep], nz_c[keep])), shape=mean.shape, dtype=np.float32
            )
        )
        if cells.prot_gene_idx is not None:
            assert cells.prot_size is not None and cells.prot_background is not None and cells.prot_scale is not None
            g = cells.prot_gene_idx
            pm = cells.prot_size[sl, None] * (
                cells.prot_background[None, :] + cells.prot_scale[None, :] * fold[lab][:, g] * latent[:, g]
            )
            pl = brng.standard_gamma(1.0 / _PROT_PHI, size=pm.shape) * _PROT_PHI
            prot_blocks.append(brng.poisson(pm * pl).astype(np.float32))
        del mean, latent, counts
    X = sparse.vstack(blocks, format="csr", dtype=np.float32)
    X.sort_indices()
    return X, (np.vstack(prot_blocks) if prot_blocks else None)


def _obs(labels: np.ndarray, pert_names: np.ndarray, n_cells: int) -> pd.DataFrame:
    """``obs``: the perturbation of each cell (controls first among the categories) and ``is_control``."""
    obs_names = [f"cell_{i:0{max(5, len(str(n_cells - 1)))}d}" for i in range(n_cells)]
    pert = np.where(labels < 0, CONTROL, pert_names[np.maximum(labels, 0)])
    return pd.DataFrame(
        {
            "perturbation": pd.Categorical(pert, categories=[CONTROL, *pert_names.tolist()]),
            "is_control": labels < 0,
        },
        index=pd.Index(obs_names),
    )


def _var(h: Any, genes: np.ndarray, targets: np.ndarray, cells: _Cells) -> pd.DataFrame:
    """``var``: each gene's place in the hierarchy, whether it is knocked out, its expected count."""
    parent_names = np.where(h.parent >= 0, genes[np.maximum(h.parent, 0)], "")
    is_target = np.zeros(genes.size, dtype=bool)
    is_target[targets] = True
    return pd.DataFrame(
        {
            "depth": h.depth.astype(np.int64),
            "is_regulator": h.is_regulator,
            "n_children": h.n_children.astype(np.int64),
            "n_descendants": h.n_descendants,
            "parent": parent_names,
            "is_perturbation_target": is_target,
            "base_mean": cells.base_mean,
        },
        index=pd.Index(genes),
    )


def _named_edges(h: Any, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hierarchy's edges as gene names (source, target) and signs (±1)."""
    src, tgt, sgn = h.edges()
    return genes[src].astype(str), genes[tgt].astype(str), sgn.astype(np.int64)


def _with_protein(adata: AnnData, P: np.ndarray, prot_genes: np.ndarray, truth: dict[str, Any], *, as_mudata: bool):
    """Attach the protein channels: a MuData with ``"rna"`` and ``"prot"``, or ``.obsm["protein"]``."""
    prot_names = np.asarray([f"ADT_{g}" for g in prot_genes])
    truth["protein_names"] = prot_names
    truth["protein_genes"] = prot_genes
    adata.uns[TRUTH_KEY] = sanitize_for_h5ad(truth)
    if not as_mudata:
        adata.obsm["protein"] = P
        adata.uns["protein_names"] = prot_names
        adata.uns["protein_genes"] = prot_genes
        return adata
    import mudata

    prot = AnnData(
        X=P,
        obs=pd.DataFrame(index=adata.obs_names.copy()),
        var=pd.DataFrame({"gene": prot_genes}, index=pd.Index(prot_names)),
    )
    with mudata.set_options(pull_on_update=False):
        mdata = mudata.MuData({"rna": adata, "prot": prot})
    mdata.obs["perturbation"] = adata.obs["perturbation"].copy()
    mdata.obs["is_control"] = adata.obs["is_control"].to_numpy()
    return mdata
