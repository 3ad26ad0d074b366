"""Plots in the style of ``sc.pl`` (``hp.pl``)."""

from ._evaluation import evaluation
from ._history import history
from ._poincare import poincare
from ._rank_perturbations import rank_perturbations
from ._rewards import rewards

__all__: list[str] = ["evaluation", "history", "poincare", "rank_perturbations", "rewards"]
