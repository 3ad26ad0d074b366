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
    assert [a.get_title() for a in axes] == ["loss", "policy_loss", "value_loss", "learning_rate", "complexity"]
    pol = axes[1]
    assert len(pol.lines) == 2  # train + dashed validation
    np.testing.assert_allclose(pol.lines[0].get_ydata(), trained.uns["hyperperturb"]["train"]["history"]["policy_loss"])
    assert pol.lines[1].get_linestyle() == "--"
    assert all(a.get_xlabel() == "epoch" for a in axes)
    fig = hp.pl.history(trained, return_fig=True)
    assert isinstance(fig, Figure)
    fig.savefig(tmp_path / "h.png", dpi=60)
    assert mpimg.imread(tmp_path / "h.png").var() > 1e-3


def test_single_key_and_ax(trained):
    _, ax = plt.subplots()
    out = hp.pl.history(trained, "value_loss", ax=ax, log_loss=True)
    assert out is ax and len(ax.lines) == 1 and ax.get_yscale() == "log"
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
