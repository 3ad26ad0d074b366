from __future__ import annotations

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import hyperperturb as hp


def test_default_panels(trained, tmp_path):
    axes = hp.pl.history(trained, show=False)
    assert [a.get_title() for a in axes] == [
        "total loss",
        "policy loss (over the perturbations in play)",
        "value loss",
        "learning rate schedule",
        "curriculum",
    ]
    pol = axes[1]
    val = [ln for ln in pol.lines if ln.get_label() == "validation"]
    assert len(val) == 1 and val[0].get_linestyle() == "--"  # train + dashed validation
    np.testing.assert_allclose(pol.lines[0].get_ydata(), trained.uns["hyperperturb"]["train"]["history"]["policy_loss"])
    assert all(a.get_xlabel() == "epoch" for a in axes)
    fig = hp.pl.history(trained, return_fig=True)
    assert isinstance(fig, Figure)
    fig.savefig(tmp_path / "h.png", dpi=60)
    assert mpimg.imread(tmp_path / "h.png").var() > 1e-3


def test_single_key_and_ax(trained):
    _, ax = plt.subplots()
    out = hp.pl.history(trained, "value_loss", ax=ax, log_loss=True)
    assert out is ax and ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), trained.uns["hyperperturb"]["train"]["history"]["value_loss"])
    ax1 = hp.pl.history(trained, ["complexity"], show=False)
    assert isinstance(ax1, Axes)
    with pytest.raises(ValueError, match="one per key"):
        hp.pl.history(trained, ["loss", "complexity"], ax=ax)


def test_errors(trained):
    with pytest.raises(KeyError, match="available"):
        hp.pl.history(trained, "accuracy", show=False)
    del trained.uns["hyperperturb"]["train"]
    with pytest.raises(KeyError, match=r"hp\.tl\.train"):
        hp.pl.history(trained, show=False)


def test_curriculum_steps_and_kept_weights_marked(trained):
    cx = np.asarray(trained.uns["hyperperturb"]["train"]["history"]["complexity"])
    n_steps = int((np.abs(np.diff(cx)) > 1e-9).sum())
    assert n_steps > 0
    fig = hp.pl.history(trained, return_fig=True)
    for a in fig.axes:
        steps = [ln for ln in a.lines if ln.get_gid() == "hp_curriculum_step"]
        assert len(steps) == n_steps
        # each step line sits between the two epochs where the share changed
        changed = np.flatnonzero(np.abs(np.diff(cx)) > 1e-9) + 1.5
        np.testing.assert_allclose(sorted(ln.get_xdata()[0] for ln in steps), changed)
    texts = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert any(t.startswith("curriculum step") for t in texts)
    assert any("weights kept: last epoch" in t for t in texts)
    # the kept epoch is marked on the loss panel
    n_ep = len(cx)
    assert any(list(ln.get_xdata()) == [n_ep] for ln in fig.axes[0].lines)


def test_no_curriculum_no_step_lines(trained):
    h = trained.uns["hyperperturb"]["train"]["history"]
    h["complexity"] = np.ones_like(np.asarray(h["complexity"]))
    axes = hp.pl.history(trained, show=False)
    assert not [ln for a in axes for ln in a.lines if ln.get_gid() == "hp_curriculum_step"]
