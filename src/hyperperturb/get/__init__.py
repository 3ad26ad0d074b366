"""Tidy :class:`pandas.DataFrame` views of stored results (``hp.get``)."""

from ._embedding import embedding
from ._rank_perturbations import rank_perturbations
from ._rewards import rewards

__all__: list[str] = ["embedding", "rank_perturbations", "rewards"]
