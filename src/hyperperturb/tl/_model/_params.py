"""Private: the parameters of ``hp.tl.train``, validated once into one frozen object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from hyperperturb._utils._validate import check_fixed_seed

MODELS = ("hyperperturb", "simple")  # the names of _kinds.KINDS
GEOMETRIES = ("poincare", "euclidean")
HEADS = ("distance", "dense")


def _is_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


@dataclass(frozen=True)
class TrainParams:
    """What ``hp.tl.train`` was asked to do; built by :meth:`checked`, read by the fit and written to the ledger."""

    model: str
    geometry: str
    head: str
    dim: int
    hidden: int
    curvature: float
    learn_curvature: bool
    epochs: int
    learning_rate: float
    dropout: float
    graph_weight: float
    attention: bool
    refine: float | None
    rank: int
    batch_size: int | None
    curriculum: bool
    seed: int
    map_kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def checked(cls, **kw: Any) -> TrainParams:
        """Validate the keyword arguments of ``hp.tl.train`` (a clear ``ValueError`` per problem) and coerce types."""
        _check(**kw)
        return cls(
            model=str(kw["model"]),
            geometry=str(kw["geometry"]),
            head=str(kw["head"]),
            dim=int(kw["dim"]),
            hidden=int(kw["hidden"]),
            curvature=float(kw["curvature"]),
            learn_curvature=bool(kw["learn_curvature"]),
            epochs=int(kw["epochs"]),
            learning_rate=float(kw["learning_rate"]),
            dropout=float(kw["dropout"]),
            graph_weight=float(kw["graph_weight"]),
            attention=bool(kw["attention"]),
            refine=None if kw["refine"] is None else float(kw["refine"]),
            rank=int(kw["rank"]),
            batch_size=None if kw["batch_size"] is None else int(kw["batch_size"]),
            curriculum=bool(kw["curriculum"]),
            seed=int(kw["seed"]),
            map_kwargs=MappingProxyType(dict(kw.get("map_kwargs") or {})),
        )

    def ledger(self, **run: Any) -> dict[str, Any]:
        """The ``params`` of the ledger entry: every argument, then what the run decided (``run``)."""
        out = {
            "model": self.model,
            "geometry": self.geometry,
            "head": self.head,
            "dim": self.dim,
            "hidden": self.hidden,
            "initial_curvature": self.curvature,
            "learn_curvature": self.learn_curvature,
            "epochs": self.epochs,
            "learning_rate": self.learning_rate,
            "dropout": self.dropout,
            "graph_weight": self.graph_weight,
            "attention": self.attention,
            "refine": self.refine,
            "rank": self.rank,
            "curriculum": self.curriculum,
            "seed": self.seed,
        }
        out.update(run)
        return out


def _check(*, model, geometry, head, dim, hidden, curvature, epochs, learning_rate, dropout,
           graph_weight=1.0, batch_size=None, rank=0, seed=0, map_kwargs=None, **_: Any) -> None:  # fmt: skip
    if model not in MODELS:
        msg = f"model must be one of {list(MODELS)}, got {model!r}. Use 'hyperperturb' (gene graph) or 'simple'."
        raise ValueError(msg)
    if geometry not in GEOMETRIES:
        msg = f"geometry must be one of {list(GEOMETRIES)}, got {geometry!r}."
        raise ValueError(msg)
    if head not in HEADS:
        msg = f"head must be one of {list(HEADS)}, got {head!r}."
        raise ValueError(msg)
    if not _is_int(dim) or dim < 2:
        msg = f"dim must be an integer >= 2 (2 gives a readable disk), got {dim!r}."
        raise ValueError(msg)
    if not _is_int(hidden) or hidden < 1:
        msg = f"hidden must be a positive integer, got {hidden!r}."
        raise ValueError(msg)
    if not _is_int(epochs) or epochs < 1:
        msg = f"epochs must be a positive integer, got {epochs!r}."
        raise ValueError(msg)
    if not (np.isfinite(curvature) and curvature > 0):
        msg = f"curvature must be a positive number, got {curvature!r}; use geometry='euclidean' for flat space."
        raise ValueError(msg)
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        msg = f"learning_rate must be a positive number, got {learning_rate!r}."
        raise ValueError(msg)
    if not 0 <= dropout < 1:
        msg = f"dropout must be in [0, 1), got {dropout!r}."
        raise ValueError(msg)
    if isinstance(graph_weight, bool) or not (np.isfinite(graph_weight) and graph_weight >= 0):
        msg = f"graph_weight must be a number >= 0 (0 disables the graph-reconstruction loss), got {graph_weight!r}."
        raise ValueError(msg)
    for name in ("learn_curvature", "curriculum", "attention"):
        if name in _ and not isinstance(_[name], bool | np.bool_):
            msg = f"{name} must be True or False, got {_[name]!r}."
            raise TypeError(msg)
    if geometry == "euclidean" and _.get("learn_curvature"):
        msg = "learn_curvature=True needs geometry='poincare': flat space has no curvature to learn."
        raise ValueError(msg)
    check_fixed_seed(seed)
    if map_kwargs is not None:
        from hyperperturb.tl._map._network_map import check_map_params

        if not isinstance(map_kwargs, Mapping):
            msg = f"map_kwargs must be a dict of network-map settings or None, got {type(map_kwargs).__name__}."
            raise TypeError(msg)
        bad = sorted(set(map_kwargs) & {"dim", "curvature"})
        if bad:
            msg = f"map_kwargs cannot set {bad}: the map uses the model's own `dim` and `curvature`."
            raise ValueError(msg)
        check_map_params(where="map_kwargs", **dict(map_kwargs))
    if batch_size is not None and (not _is_int(batch_size) or batch_size < 1):
        msg = f"batch_size must be None (automatic) or a positive integer (nodes per step), got {batch_size!r}."
        raise ValueError(msg)
