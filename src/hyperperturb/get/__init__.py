"""Tidy :class:`pandas.DataFrame` views of stored results (``hp.get``)."""

from ._design import design
from ._embedding import embedding
from ._evaluation import evaluation
from ._rank_perturbations import rank_perturbations
from ._readout import readout
from ._rewards import rewards

__all__: list[str] = ["design", "embedding", "evaluation", "rank_perturbations", "readout", "rewards"]
