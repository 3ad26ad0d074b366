from __future__ import annotations

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

import hyperperturb as hp


def _image(ax):
    return next(i for i in ax.get_images() if isinstance(i, AxesImage))


def test_default_top_genes_clustered(trained, tmp_path):
    ax = hp.pl.rewards(trained, n_genes=12, show=False)
    assert isinstance(ax, Axes)
    m = _image(ax).get_array()
    assert m.shape == (12, 6)
    genes = [t.get_text() for t in ax.get_yticklabels()]
    # genes chosen by the largest observed reward (no noise floor recorded in this fixture)
    top = trained.var_names[np.argsort(-trained.varm["hp_reward"].max(axis=1), kind="stable")[:12]]
    assert set(genes) == set(top)
    perts = [t.get_text() for t in ax.get_xticklabels()]
    # the drawn matrix is the stored one, reordered
    rows = trained.var_names.get_indexer(genes)
    cols = [["STAT1", "JAK2", "IFNGR1", "IRF1", "SPI1", "CUL3"].index(p) for p in perts]
    np.testing.assert_allclose(m, trained.varm["hp_reward"][np.ix_(rows, cols)])
    fig = ax.figure
    cbar = [a for a in fig.axes if a is not ax][0]
    assert "reward" in cbar.get_ylabel()
    fig.savefig(tmp_path / "r.png", dpi=60)
    assert mpimg.imread(tmp_path / "r.png").var() > 1e-3


def test_clustering_groups_similar_rows(trained):
    # two blocks of genes with opposite profiles must end up contiguous
    genes = [f"G{i:02d}" for i in range(10)]
    rows = trained.var_names.get_indexer(genes)
    block = np.zeros((10, 6))
    block[::2, :3] = 1.0
    block[1::2, 3:] = 1.0
    trained.varm["hp_reward"][rows] = block
    ax = hp.pl.rewards(trained, genes=genes, show=False)
    order = [genes.index(t.get_text()) for t in ax.get_yticklabels()]
    parity = [i % 2 for i in order]
    assert parity in ([0] * 5 + [1] * 5, [1] * 5 + [0] * 5)
    ax = hp.pl.rewards(trained, genes=genes, cluster=False, show=False)
    assert [t.get_text() for t in ax.get_yticklabels()] == genes


def test_kinds_and_selection(trained):
    ax = hp.pl.rewards(trained, ["STAT1", "G03"], ["IRF1", "JAK2"], kind="policy", cluster=False, show=False)
    np.testing.assert_allclose(_image(ax).get_array(), trained.varm["hp_policy"][np.ix_([0, 6], [3, 1])])
    fig = hp.pl.rewards(trained, kind="policy_target", return_fig=True)
    assert isinstance(fig, Figure)
    _, ax0 = plt.subplots()
    assert hp.pl.rewards(trained, ax=ax0) is ax0


def test_errors(trained):
    with pytest.raises(KeyError, match="G999"):
        hp.pl.rewards(trained, genes=["G999"], show=False)
    with pytest.raises(KeyError, match="available"):
        hp.pl.rewards(trained, perturbations=["MYC"], show=False)
    with pytest.raises(ValueError, match="kind"):
        hp.pl.rewards(trained, kind="value", show=False)
    del trained.varm["hp_policy"]
    del trained.uns["hyperperturb"]["train"]
    with pytest.raises(KeyError, match=r"hp\.tl\.train"):
        hp.pl.rewards(trained, kind="policy", show=False)
    # rewards alone work before training (genes ranked by the value target)
    ax = hp.pl.rewards(trained, n_genes=5, show=False)
    assert _image(ax).get_array().shape == (5, 6)


def _dendrograms(ax):
    return {c.get_gid() for c in ax.child_axes if str(c.get_gid()).startswith("hp_dendrogram")}


def test_dendrograms_drawn_when_clustering(trained):
    ax = hp.pl.rewards(trained, n_genes=12, show=False)
    assert _dendrograms(ax) == {"hp_dendrogram_rows", "hp_dendrogram_columns"}
    rows = next(c for c in ax.child_axes if c.get_gid() == "hp_dendrogram_rows")
    assert len(rows.collections) + len(rows.lines) > 0  # the tree is drawn
    assert "clustered" in ax.get_title()
    ax = hp.pl.rewards(trained, n_genes=12, cluster=False, show=False)
    assert _dendrograms(ax) == set()


def test_excess_over_noise_floor_and_caption(trained):
    base = np.linspace(0.0, 0.3, trained.n_vars)
    trained.var["hp_reward_baseline"] = base
    ax = hp.pl.rewards(trained, n_genes=8, cluster=False, show=False)
    genes = [t.get_text() for t in ax.get_yticklabels()]
    rows = trained.var_names.get_indexer(genes)
    excess = trained.varm["hp_reward"] - base[:, None]
    np.testing.assert_allclose(_image(ax).get_array(), excess[rows])
    # the genes with the largest excess, and the title says so
    assert set(genes) == set(trained.var_names[np.argsort(-excess.max(axis=1), kind="stable")[:8]])
    assert "largest excess" in ax.get_title()
    norm = _image(ax).norm
    assert norm.vcenter == 0.0  # diverging scale centred on the noise floor
    cbar = [a for a in ax.figure.axes if a is not ax][0]
    assert "excess" in cbar.get_ylabel()
    ax = hp.pl.rewards(trained, n_genes=8, excess=False, cluster=False, show=False)
    assert _image(ax).get_array().min() >= 0


def test_protein_modality_says_protein():
    import anndata as ad
    import pandas as pd
    from scipy import sparse

    md = pytest.importorskip("mudata")
    rng = np.random.default_rng(0)
    labels = np.array(["nt", "A", "B"])[np.arange(60) % 3]
    X = np.log1p(rng.poisson(1.0, size=(60, 5)).astype(np.float32))
    obs = pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(60)])
    rna = ad.AnnData(sparse.csr_matrix(X), obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(5)]))
    prot = ad.AnnData(rng.random((60, 3)), obs=pd.DataFrame(index=obs.index))
    prot.var_names = ["p1", "p2", "p3"]
    with md.set_options(pull_on_update=False):
        m = md.MuData({"rna": rna, "prot": prot})
    hp.pp.perturbations(m, key="perturbation", control="nt")
    hp.tl.rewards(m, verbose=False)
    ax = hp.pl.rewards(m, mod="prot", excess=False, show=False)
    heat = ax if ax.get_ylabel() else next(a for a in ax.figure.axes if a.get_ylabel() in ("gene", "protein"))
    assert heat.get_ylabel() == "protein"
    assert any("proteins" in a.get_title() for a in ax.figure.axes)  # "the 5 proteins with the largest reward"
    ax = hp.pl.rewards(m, show=False)
    assert any(a.get_ylabel() == "gene" for a in ax.figure.axes)


@pytest.mark.parametrize("kind", ["reward", "policy"])
@pytest.mark.parametrize("empty", ["genes", "perturbations"])
def test_empty_selection_is_a_clear_error(trained, kind, empty):
    """An empty list of genes or perturbations gave raw numpy errors (IndexError from np.ix_, or a zero-size
    reduction); it is refused with a message naming the argument, like hp.pl.poincare(color=[])."""
    with pytest.raises(ValueError, match=rf"`{empty}` is an empty list.*None"):
        hp.pl.rewards(trained, kind=kind, show=False, **{empty: []})
    assert plt.get_fignums() == []  # refused before a figure is made


def test_colour_limits_and_show_are_checked(trained):
    with pytest.raises(ValueError, match=r"`vmin` \(1\) is larger than `vmax` \(0\)"):
        hp.pl.rewards(trained, vmin=1, vmax=0, show=False)
    with pytest.raises(TypeError, match="`show` must be True, False or None"):
        hp.pl.rewards(trained, show="no")
    ax = hp.pl.rewards(trained, vmin=0.0, vmax=1.0, excess=False, show=False)  # vmin below vmax is fine
    assert _image(ax).get_clim() == (0.0, 1.0)
