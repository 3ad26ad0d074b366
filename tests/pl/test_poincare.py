from __future__ import annotations

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.text import Text

import hyperperturb as hp
from hyperperturb.pl._poincare import geodesic_segments


def _scatter_counts(ax):
    """Points per scatter; genes drawn apart as "not in network" are counted with the genes (first entry)."""
    cols = [c for c in ax.collections if isinstance(c, PathCollection)]
    counts = [len(c.get_offsets()) for c in cols if c.get_gid() != "hp_not_in_network"]
    faint = sum(len(c.get_offsets()) for c in cols if c.get_gid() == "hp_not_in_network")
    if counts:
        counts[0] += faint
    return counts


def _png_ok(fig, path):
    fig.savefig(path, dpi=60)
    img = mpimg.imread(path)
    assert img.var() > 1e-3
    return img


def test_returns_axes_figure_none(trained, tmp_path):
    ax = hp.pl.poincare(trained, show=False)
    assert isinstance(ax, Axes)
    assert _scatter_counts(ax) == [trained.n_vars]
    # equal aspect, disk fully visible
    assert ax.get_aspect() == 1.0
    assert ax.get_xlim()[1] > 1.0 and ax.get_ylim()[0] < -1.0
    fig = hp.pl.poincare(trained, return_fig=True)
    assert isinstance(fig, Figure)
    _png_ok(fig, tmp_path / "p.png")
    assert hp.pl.poincare(trained, show=True) is None


def test_save_keyword_is_refused_clearly(trained, tmp_path):
    """scanpy users pass save=; it reached matplotlib's scatter as an unknown property (AttributeError)."""
    with pytest.raises(TypeError, match=r"no `save=`.*return_fig=True"):
        hp.pl.poincare(trained, save=str(tmp_path / "p.png"))


def test_accepts_ax_and_draws_into_it(trained):
    fig, ax = plt.subplots()
    out = hp.pl.poincare(trained, "hp_value", ax=ax)
    assert out is ax  # show defaults to False when ax is given
    assert _scatter_counts(ax) == [trained.n_vars]


def test_colour_numeric_has_labelled_colourbar(trained):
    ax = hp.pl.poincare(trained, "mean_expr", show=False)
    fig = ax.figure
    cbar_axes = [a for a in fig.axes if a is not ax]
    assert len(cbar_axes) == 1
    assert cbar_axes[0].get_ylabel() == "mean_expr"
    sc = next(c for c in ax.collections if isinstance(c, PathCollection))
    # sorted so the largest value is drawn last (on top)
    assert np.isclose(sc.get_array().max(), trained.var["mean_expr"].max())
    assert sc.get_array()[-1] == sc.get_array().max()


def test_colour_categorical_has_legend(trained):
    ax = hp.pl.poincare(trained, "module", show=False)
    legend = ax.get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    cats = list(trained.var["module"].cat.categories)
    assert texts[: len(cats)] == cats  # the categories, titled by the key ...
    assert legend.get_title().get_text() == "module"
    assert any(t.startswith("network edge") for t in texts)  # ... then the other marks
    assert len(ax.figure.axes) == 1  # no colourbar


def test_colour_by_perturbation_is_its_predicted_effect_size(trained):
    ax = hp.pl.poincare(trained, "JAK2", show=False)
    sc = next(c for c in ax.collections if isinstance(c, PathCollection))
    pol = trained.varm["hp_policy"]
    # the heads' predicted excess n_p * value * share, not the per-gene normalised share
    effect = pol.shape[1] * trained.var["hp_value"].to_numpy() * pol[:, 1]
    np.testing.assert_allclose(np.sort(sc.get_array()), np.sort(effect))
    assert "JAK2" in ax.get_title() and "predicted excess" in ax.get_title()
    cbar = next(a for a in ax.figure.axes if a is not ax)
    assert "mean |LFC| above noise floor" in cbar.get_ylabel()  # units on the colour bar
    ax2 = hp.pl.poincare(trained, "JAK2", source="observed", show=False)
    sc2 = next(c for c in ax2.collections if isinstance(c, PathCollection))
    np.testing.assert_allclose(np.sort(sc2.get_array()), np.sort(trained.varm["hp_reward"][:, 1]))


def test_colour_by_gene_name_is_distance_and_rings_it(trained):
    ax = hp.pl.poincare(trained, "G05", show=False)
    counts = _scatter_counts(ax)
    assert counts == [trained.n_vars, 1]  # genes + the ring around G05
    sc = next(c for c in ax.collections if isinstance(c, PathCollection))
    assert sc.get_array().min() == pytest.approx(0.0, abs=1e-6)
    assert "distance to G05" in ax.get_title()
    assert "gene G05" in ax.get_title()  # says that G05 is a gene, not a perturbation


def test_unknown_colour_lists_available(trained):
    with pytest.raises(KeyError, match="module"):
        hp.pl.poincare(trained, "not_a_key", show=False)


def test_missing_training_says_run_train(trained):
    del trained.uns["hyperperturb"]["train"]
    del trained.varm["X_poincare"]
    with pytest.raises(KeyError, match=r"hp\.tl\.train"):
        hp.pl.poincare(trained, show=False)


def test_labels_top_and_list(trained):
    ax = hp.pl.poincare(trained, labels="top", n_labels=7, show=False)
    got = [t.get_text() for t in ax.texts if t.get_gid() != "hp_grid_label"]
    # the 7 top genes, then the hub(s) nearest the centre that are not among them (at most 3)
    assert 7 <= len(got) <= 10
    d = np.linalg.norm(trained.varm["X_poincare"], axis=1)
    assert trained.var_names[np.argmin(d)] in got
    ax = hp.pl.poincare(trained, labels=["G01", "STAT1"], show=False)
    got = {t.get_text() for t in ax.texts}
    assert {"G01", "STAT1"} <= got
    with pytest.raises(KeyError, match="NOPE"):
        hp.pl.poincare(trained, labels=["NOPE"], show=False)


def _grid_texts(ax):
    return sum(t.get_gid() == "hp_grid_label" for t in ax.texts)


def test_labels_do_not_overlap(trained):
    ax = hp.pl.poincare(trained, labels="top", n_labels=12, show=False)
    fig = ax.figure
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(r) for t in ax.texts if t.get_gid() != "hp_grid_label"]
    overlaps = sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    assert overlaps == 0
    # every label inside the figure
    fb = fig.bbox
    assert all(b.x0 >= fb.x0 and b.x1 <= fb.x1 and b.y0 >= fb.y0 and b.y1 <= fb.y1 for b in boxes)


def test_edges_drawn_as_arcs_and_capped(trained):
    n_edges = len(np.flatnonzero(np.triu(trained.varp["hp_adjacency"].toarray(), 1)))
    ax = hp.pl.poincare(trained, edges=True, show=False)
    lc = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lc) == 1 and len(lc[0].get_segments()) == n_edges
    ax = hp.pl.poincare(trained, edges=True, max_edges=5, show=False)
    lc = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lc[0].get_segments()) == 5
    del trained.varp["hp_adjacency"]
    with pytest.raises(KeyError, match="gene_network"):
        hp.pl.poincare(trained, edges=True, show=False)


def test_geodesic_is_orthogonal_to_boundary_and_inside():
    u = np.array([[0.5, 0.1], [0.3, 0.0]])
    v = np.array([[-0.2, 0.6], [0.8, 0.0]])  # second pair collinear with the origin: a straight segment
    seg = geodesic_segments(u, v, 1.0, n=50)
    assert seg.shape == (2, 50, 2)
    np.testing.assert_allclose(seg[:, 0], u)
    np.testing.assert_allclose(seg[:, -1], v)
    assert (np.linalg.norm(seg, axis=2) < 1).all()
    np.testing.assert_allclose(seg[1, :, 1], 0.0, atol=1e-12)
    # points of the arc lie on a circle that meets the unit circle at right angles: |o|^2 = 1 + r^2
    p = seg[0]
    A = np.column_stack([2 * p[:, 0], 2 * p[:, 1], np.ones(len(p))])
    sol, *_ = np.linalg.lstsq(A, (p**2).sum(1), rcond=None)
    o = sol[:2]
    r2 = sol[2] + o @ o
    assert o @ o == pytest.approx(1 + r2, rel=1e-6)


def test_perturbation_overlay(trained):
    ax = hp.pl.poincare(trained, perturbations=True, show=False)
    assert _scatter_counts(ax) == [trained.n_vars, 6]
    names = {t.get_text() for t in ax.texts}
    assert {"STAT1", "CUL3", "IFNGR1"} <= names


def test_higher_dim_components_and_curvature(make_trained):
    ad = make_trained(30, dim=4, curvature=4.0)
    ax = hp.pl.poincare(ad, components=(1, 3), radius="poincare", show=False)
    sc = next(c for c in ax.collections if isinstance(c, PathCollection))
    got = np.asarray(sc.get_offsets())
    want = ad.varm["X_poincare"][:, [1, 3]]
    np.testing.assert_allclose(got[np.lexsort(got.T)], want[np.lexsort(want.T)])  # drawn sorted by colour
    assert ax.get_xlim()[1] == pytest.approx(1.06 * 0.5)  # boundary radius 1/sqrt(c)
    assert "X_poincare[1]" in ax.get_xlabel()
    with pytest.raises(ValueError, match="components"):
        hp.pl.poincare(ad, components=(0, 4), show=False)
    with pytest.raises(ValueError, match="components"):
        hp.pl.poincare(ad, components=(2, 2), show=False)


def test_points_outside_ball_raise(trained):
    trained.varm["X_poincare"][0] = [1.5, 0.0]
    with pytest.raises(ValueError, match="outside"):
        hp.pl.poincare(trained, show=False)


def test_color_list_makes_grid(trained, tmp_path):
    fig = hp.pl.poincare(trained, ["hp_value", "module", "STAT1", "G01"], ncols=2, return_fig=True)
    panels = [a for a in fig.axes if _scatter_counts(a)]
    assert len(panels) == 4
    _png_ok(fig, tmp_path / "grid.png")
    axes = hp.pl.poincare(trained, ["hp_value", "module"], show=False)
    assert isinstance(axes, list) and len(axes) == 2
    with pytest.raises(ValueError, match="ax"):
        hp.pl.poincare(trained, ["hp_value", "module"], ax=plt.subplots()[1])


def test_raising_call_leaves_object_untouched(trained):
    before = dict(trained.uns["hyperperturb"])
    keys = set(trained.varm), set(trained.var.columns)
    with pytest.raises(KeyError):
        hp.pl.poincare(trained, "not_a_key", show=False)
    assert set(trained.varm) == keys[0] and set(trained.var.columns) == keys[1]
    assert set(trained.uns["hyperperturb"]) == set(before)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_mudata(trained):
    mudata = pytest.importorskip("mudata")
    md = mudata.MuData({"rna": trained})
    ax = hp.pl.poincare(md, "hp_value", show=False)
    assert _scatter_counts(ax) == [trained.n_vars]
    with pytest.raises(KeyError, match="Modality"):
        hp.pl.poincare(md, mod="gex", show=False)


def test_nan_rows_skipped(trained):
    trained.varm["X_poincare"][:3] = np.nan
    ax = hp.pl.poincare(trained, show=False)
    assert _scatter_counts(ax) == [trained.n_vars - 3]


def _legend_texts(ax):
    lg = ax.get_legend()
    return [t.get_text() for t in lg.get_texts()] if lg is not None else []


def test_legend_names_every_mark(trained):
    trained.var["hp_in_network"] = np.arange(trained.n_vars) % 5 != 0
    ax = hp.pl.poincare(trained, perturbations=True, show=False)
    texts = _legend_texts(ax)
    assert any(t.startswith("gene (") for t in texts)
    assert f"not in network ({(trained.n_vars + 4) // 5}: no edge)" in texts
    assert any(t.startswith("network edge") for t in texts)
    assert any(t.startswith("perturbation") for t in texts)
    assert "rings: hyperbolic distance d from centre" in texts
    ax = hp.pl.poincare(trained, "G05", show=False)
    assert "gene G05" in _legend_texts(ax)


def test_ring_labels_carry_the_unit(trained):
    ax = hp.pl.poincare(trained, labels=None, show=False)
    rings = [t.get_text() for t in ax.texts if t.get_gid() == "hp_grid_label"]
    assert rings and all(t.startswith("d=") for t in rings)


def test_isolated_genes_apart_hidden_or_shown(trained):
    flag = np.arange(trained.n_vars) % 4 != 0
    trained.var["hp_in_network"] = flag
    ax = hp.pl.poincare(trained, labels=None, show=False)
    faint = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_gid() == "hp_not_in_network"]
    assert len(faint) == 1 and len(faint[0].get_offsets()) == (~flag).sum()
    ax = hp.pl.poincare(trained, labels=None, isolated="hide", show=False)
    assert [len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)] == [flag.sum()]
    ax = hp.pl.poincare(trained, labels=None, isolated="show", show=False)
    assert _scatter_counts(ax) == [trained.n_vars]
    # without the column, genes with no adjacency entry are the isolated ones
    del trained.var["hp_in_network"]
    adj = trained.varp["hp_adjacency"].tolil()
    adj[0, :] = 0
    adj[:, 0] = 0
    trained.varp["hp_adjacency"] = adj.tocsr()
    ax = hp.pl.poincare(trained, labels=None, radius="poincare", show=False)
    faint = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_gid() == "hp_not_in_network"]
    assert len(faint) == 1
    assert trained.varm["X_poincare"][0].tolist() in np.asarray(faint[0].get_offsets()).tolist()


def test_default_labels_largest_excess_in_network_no_duplicates(trained):
    trained.var["hp_reward_baseline"] = 0.0
    trained.var["hp_in_network"] = True
    trained.var.loc[trained.var_names[:2], "hp_in_network"] = False
    ax = hp.pl.poincare(trained, n_labels=5, show=False)  # labels="top" by default
    got = [t.get_text() for t in ax.texts if t.get_gid() != "hp_grid_label"]
    excess = trained.varm["hp_reward"].max(axis=1)
    excess[:2] = -np.inf  # not in network: never labelled
    assert got[:5] == list(trained.var_names[np.argsort(-excess, kind="stable")[:5]])
    # then the hub(s) nearest the centre, never a gene outside the network
    d = np.linalg.norm(trained.varm["X_poincare"], axis=1)
    d[:2] = np.inf
    assert set(got[5:]) <= set(trained.var_names[np.argsort(d)[:3]]) and len(got) <= 8
    assert trained.var_names[np.argmin(d)] in got
    # a gene that is also a drawn perturbation is labelled once
    ax = hp.pl.poincare(trained, labels=["STAT1", "STAT1", "G10"], perturbations=True, show=False)
    got = [t.get_text() for t in ax.texts if t.get_gid() != "hp_grid_label"]
    assert got.count("STAT1") == 1 and got.count("G10") == 1


def test_dense_labels_never_overlap(make_trained):
    ad = make_trained(120, seed=3)
    ad.varm["X_poincare"][:40] = ad.varm["X_poincare"][:40] * 0.05 + 0.3  # a dense cluster
    ax = hp.pl.poincare(ad, n_labels=30, perturbations=True, show=False)
    fig = ax.figure
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    # the text boxes themselves (an Annotation's own extent also covers its leader line)
    boxes = [Text.get_window_extent(t, r) for t in ax.texts if t.get_gid() != "hp_grid_label"]
    assert len(boxes) >= 20
    assert sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]) == 0


def _crushed(make_trained, n=80, seed=5):
    """A learned-looking embedding: most genes on the rim (|x| > 0.99, d > 5.3), a few hubs further in."""
    ad = make_trained(n, seed=seed)
    rng = np.random.default_rng(seed)
    ang = rng.uniform(0, 2 * np.pi, n)
    d = np.concatenate([rng.uniform(2.5, 4.0, 4), rng.uniform(5.5, 10.0, n - 4)])
    r = np.tanh(d / 2)
    ad.varm["X_poincare"] = np.column_stack([r * np.cos(ang), r * np.sin(ang)])
    ad.var["hp_in_network"] = True
    return ad, d


def _gene_offsets(ax):
    sc = next(c for c in ax.collections if isinstance(c, PathCollection) and c.get_gid() != "hp_not_in_network")
    return np.asarray(sc.get_offsets())


def test_distance_display_spreads_the_rim(make_trained):
    ad, d = _crushed(make_trained)
    raw = np.linalg.norm(_gene_offsets(hp.pl.poincare(ad, radius="poincare", show=False)), axis=1)
    assert np.median(raw) > 0.99  # the raw disk crushes them on the boundary
    ax = hp.pl.poincare(ad, show=False)  # default: radius proportional to hyperbolic distance
    r = np.linalg.norm(_gene_offsets(ax), axis=1)
    assert np.median(r) < 0.9
    # radius is d / d_max with d_max the largest distance rounded up to a ring; directions are kept
    np.testing.assert_allclose(np.sort(r), np.sort(d / 10.0), rtol=1e-6)
    rings = [t.get_text() for t in ax.texts if t.get_gid() == "hp_grid_label"]
    assert rings == ["d=2", "d=4", "d=6", "d=8", "d=10"]
    # the hubs (nearest the centre) are labelled
    got = {t.get_text() for t in ax.texts if t.get_gid() != "hp_grid_label"}
    assert ad.var_names[np.argmin(d)] in got
    with pytest.raises(ValueError, match="radius"):
        hp.pl.poincare(ad, radius="log", show=False)


def test_distance_display_moves_edges_and_perturbations_with_the_genes(make_trained):
    ad, _ = _crushed(make_trained)
    ax = hp.pl.poincare(ad, perturbations=True, labels=None, show=False)
    pts = _gene_offsets(ax)
    segs = next(c for c in ax.collections if isinstance(c, LineCollection)).get_segments()
    ends = np.vstack([s[[0, -1]] for s in segs])
    # every edge starts and ends on a drawn gene
    dmin = np.min(np.linalg.norm(ends[:, None, :] - pts[None, :, :], axis=2), axis=1)
    assert dmin.max() < 1e-6
    assert all(np.linalg.norm(s, axis=1).max() <= 1.0 + 1e-9 for s in segs)


def test_labels_do_not_cover_other_points(make_trained):
    ad, _ = _crushed(make_trained, n=50, seed=2)
    ax = hp.pl.poincare(ad, n_labels=8, edges=False, show=False)
    fig = ax.figure
    fig.canvas.draw()
    rend = fig.canvas.get_renderer()
    pts = ax.transData.transform(_gene_offsets(ax))
    texts = [t for t in ax.texts if t.get_gid() != "hp_grid_label"]
    assert len(texts) >= 8
    boxes = [Text.get_window_extent(t, rend) for t in texts]
    assert sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]) == 0
    for t, box in zip(texts, boxes, strict=True):
        own = ax.transData.transform(t.xy)
        inside = (pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1)
        others = inside & (np.linalg.norm(pts - own, axis=1) > 1e-6)
        assert not others.any(), t.get_text()


def test_robust_colour_limits_and_ticks_on_both_halves(make_trained):
    trained = make_trained(100)
    # a narrow range with one outlier: robust limits (2nd-98th percentile) keep the spread visible
    v = np.linspace(0.040, 0.063, trained.n_vars)
    v[0] = 5.0
    trained.var["narrow"] = v
    ax = hp.pl.poincare(trained, "narrow", show=False)
    sc = next(c for c in ax.collections if isinstance(c, PathCollection))
    assert 0.06 < sc.norm.vmax < 0.064 and 0.04 < sc.norm.vmin < 0.042
    # two-signed values: diverging scale centred at 0, ticks on the negative half too
    trained.var["signed"] = np.linspace(-0.2, 0.8, trained.n_vars)
    ax = hp.pl.poincare(trained, "signed", show=False)
    cbar = next(a for a in ax.figure.axes if a is not ax)
    ticks = np.asarray(cbar.get_yticks())
    assert (ticks < 0).any() and (ticks > 0).any()
    sc = next(c for c in ax.collections if isinstance(c, PathCollection))
    assert sc.norm.vcenter == 0.0
    # explicit limits win
    ax = hp.pl.poincare(trained, "narrow", vmin=0.0, vmax=1.0, show=False)
    sc = next(c for c in ax.collections if isinstance(c, PathCollection))
    assert (sc.norm.vmin, sc.norm.vmax) == (0.0, 1.0)


def test_observed_colour_is_the_excess_over_the_noise_floor(trained):
    trained.var["hp_reward_baseline"] = 0.1
    ax = hp.pl.poincare(trained, "JAK2", source="observed", show=False)
    sc = next(c for c in ax.collections if isinstance(c, PathCollection))
    np.testing.assert_allclose(np.sort(sc.get_array()), np.sort(trained.varm["hp_reward"][:, 1] - 0.1))
    assert "observed excess" in ax.get_title()


def test_unknown_gene_suggests_the_case_insensitive_match(trained):
    with pytest.raises(KeyError, match="Did you mean 'STAT1'"):
        hp.pl.poincare(trained, "stat1", show=False)


def test_suggestion_names_each_match_once(trained):
    """STAT1 is both a perturbation and a gene: the hint said "Did you mean 'STAT1' or 'STAT1'?"."""
    with pytest.raises(KeyError, match=r"Did you mean 'STAT1'\?") as err:
        hp.pl.poincare(trained, "stat1", show=False)
    assert "or 'STAT1'" not in str(err.value)


@pytest.mark.parametrize("ncols", [0, -1, 1.5, True])
def test_ncols_below_one_is_refused(trained, ncols):
    with pytest.raises(ValueError, match="`ncols` must be an integer >= 1"):
        hp.pl.poincare(trained, ["hp_value", "module"], ncols=ncols, show=False)
    assert plt.get_fignums() == []


def test_vmin_above_vmax_is_refused(trained):
    with pytest.raises(ValueError, match=r"`vmin` \(1\) is larger than `vmax` \(0\).*Swap them"):
        hp.pl.poincare(trained, vmin=1, vmax=0, show=False)
    with pytest.raises(ValueError, match="`vmax` must be a finite number"):
        hp.pl.poincare(trained, vmax=np.nan, show=False)
    ax = hp.pl.poincare(trained, vmin=0.0, vmax=1.0, show=False)
    assert next(c for c in ax.collections if c.get_array() is not None).norm.vmax == 1.0
