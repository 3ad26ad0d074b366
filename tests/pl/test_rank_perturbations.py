from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

import hyperperturb as hp


def test_bars_match_getter(trained, tmp_path):
    ax = hp.pl.rank_perturbations(trained, "IRF1", n=4, show=False)
    bars = ax.patches
    assert len(bars) == 4
    df = hp.get.rank_perturbations(trained, "IRF1", n=4)
    # bars start at the uniform policy 1/P: their length is the difference from it
    ref = 1 / trained.varm["hp_policy"].shape[1]
    np.testing.assert_allclose([b.get_x() for b in bars], ref)
    np.testing.assert_allclose(sorted(b.get_x() + b.get_width() for b in bars), sorted(df["score"]))
    # strongest on top
    pos = dict(zip([t.get_text() for t in ax.get_yticklabels()], ax.get_yticks(), strict=True))
    assert max(pos, key=pos.get) == df["perturbation"].iloc[0]
    assert "policy" in ax.get_xlabel()
    fig = hp.pl.rank_perturbations(trained, "IRF1", source="observed", return_fig=True)
    assert isinstance(fig, Figure) and "reward" in fig.axes[0].get_xlabel()
    _, ax0 = plt.subplots()
    assert hp.pl.rank_perturbations(trained, "G01", ax=ax0) is ax0
    assert len(ax0.patches) == 6  # n=10 capped at the 6 perturbations


def test_errors(trained):
    with pytest.raises(KeyError, match="STAT"):
        hp.pl.rank_perturbations(trained, "STAT9", show=False)
    with pytest.raises(TypeError, match="one gene"):
        hp.pl.rank_perturbations(trained, ["G01", "G02"], show=False)


def test_uniform_reference_line_and_legend(trained):
    ax = hp.pl.rank_perturbations(trained, "IRF1", show=False)
    ref = [ln for ln in ax.lines if ln.get_gid() == "hp_reference"]
    assert len(ref) == 1
    np.testing.assert_allclose(ref[0].get_xdata(), 1 / 6)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("uniform policy (1/6") for t in labels)
    # observed rewards: the reference is the gene's noise floor when recorded
    trained.var["hp_reward_baseline"] = 0.05
    ax = hp.pl.rank_perturbations(trained, "IRF1", source="observed", show=False)
    ref = [ln for ln in ax.lines if ln.get_gid() == "hp_reference"]
    np.testing.assert_allclose(ref[0].get_xdata(), 0.05)
    assert any("noise floor" in t.get_text() for t in ax.get_legend().get_texts())
