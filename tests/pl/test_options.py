"""Options shared by every ``hp.pl`` function: ``show`` and ``ncols`` are checked before anything is drawn."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

import hyperperturb as hp

_CALLS = {
    "poincare": lambda a, **kw: hp.pl.poincare(a, **kw),
    "rewards": lambda a, **kw: hp.pl.rewards(a, **kw),
    "history": lambda a, **kw: hp.pl.history(a, **kw),
    "rank_perturbations": lambda a, **kw: hp.pl.rank_perturbations(a, "STAT1", **kw),
    "evaluation": lambda a, **kw: hp.pl.evaluation(a, "residual_pearson", **kw),
}


@pytest.mark.parametrize("name", list(_CALLS))
@pytest.mark.parametrize("show", ["no", 0, 1])
def test_show_must_be_a_bool_or_none(trained, name, show):
    """``show="no"`` was truthy: the figure was shown and the call returned None instead of the axes."""
    with pytest.raises(TypeError, match=r"`show` must be True, False or None.*show=False"):
        _CALLS[name](trained, show=show)
    assert plt.get_fignums() == []


@pytest.mark.parametrize("name", ["poincare", "history"])
def test_ncols_must_be_at_least_one(trained, name):
    kw = {"color": ["hp_value", "module"]} if name == "poincare" else {}
    with pytest.raises(ValueError, match=r"`ncols` must be an integer >= 1.*got 0"):
        _CALLS[name](trained, ncols=0, show=False, **kw)
    assert plt.get_fignums() == []
    assert _CALLS[name](trained, ncols=2, show=False, **kw) is not None
