"""The typed ledger: one frozen dataclass per ``.uns['hyperperturb']`` entry, its reader and its writer.

Every step's entry carries a ``schema`` version (:data:`~hyperperturb._utils._ledger.SCHEMA_VERSIONS`, stamped
by :func:`~hyperperturb._utils.record`). A reader refuses an entry without it or with another version, and an
entry that lacks a field the current writer always stores, with a message naming the step to re-run: the package
was never released, so no reader keeps an older layout alive.

- :meth:`Entry.from_uns` decodes a stored entry (h5ad-safe values: ``"None"``, name arrays, 0-d arrays);
- :meth:`Entry.to_uns` gives the dict that :func:`~hyperperturb._utils.record` stores (the inverse);
- :func:`read` returns the typed entry of a step that must have run (current, validated: ``require_step``),
  :func:`find` the typed entry of an optional step (``None`` when it has not run).

Nothing outside the ledger modules (this one, ``_ledger``, ``_entries``, ``_stored``) indexes a stored entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, NoReturn, TypeVar

import numpy as np
import pandas as pd
from anndata import AnnData

from . import _ball
from ._ledger import _PRODUCERS, LEDGER_KEY, SCHEMA_VERSIONS, _kind, check_schema, get_ledger, require_step
from ._validate import decode, str_array

E = TypeVar("E", bound="Entry")

#: Fields of every entry that belong to the ledger, not to the step (stamped by ``record``).
_LEDGER_FIELDS = frozenset({"run_id", "inputs", "schema", "kind"})


def _missing(step: str, key: str, needed_by: str, *, where: str | None = None) -> NoReturn:
    """Refuse an entry of ``step`` (stored under ``where``, default ``step``) that lacks ``key``."""
    where = where or step
    how = _PRODUCERS.get(step, step)
    if where != step:  # hp.tl.design(key_added=...)
        how = f"{how.rstrip(')')}, key_added={where!r})"
    msg = (
        f"{needed_by}: the {where!r} entry of adata.uns[{LEDGER_KEY!r}] lacks {key!r} (written by an earlier "
        f"development version of hyperperturb, or edited by hand). Re-run `{how}`."
    )
    raise KeyError(msg)


def names(x: Any) -> tuple[str, ...]:
    """A stored name array (any shape, any dtype; a scalar is one name) as a tuple of ``str``."""
    return tuple(str_array(x).ravel().tolist())


def _scalar(x: Any) -> Any:
    """A Python scalar from a stored scalar (0-d / 1-element arrays, numpy scalars)."""
    if isinstance(x, np.ndarray) and x.size == 1:
        x = x.reshape(-1)[0]
    return x.item() if isinstance(x, np.generic) else x


def _opt_str(x: Any) -> str | None:
    x = decode(_scalar(x))
    return None if x is None else str(x)


def _params(x: Any) -> dict[str, Any]:
    """A stored ``params`` dict, every ``"None"`` decoded and scalars as Python values."""
    if not isinstance(x, Mapping):
        return {}
    out = {}
    for k, v in x.items():
        if isinstance(v, np.ndarray) and v.ndim == 0:
            v = v[()]
        out[str(k)] = _params(v) if isinstance(v, Mapping) else decode(v.item() if isinstance(v, np.generic) else v)
    return out


def _dict(x: Any) -> dict[str, Any]:
    return dict(x) if isinstance(x, Mapping) else {}


class _Reader:
    """Reads the fields of one stored entry, refusing absent ones with the "re-run" message."""

    def __init__(self, d: Any, step: str, needed_by: str, *, where: str | None = None) -> None:
        if not isinstance(d, Mapping):
            _missing(step, "its fields (it is not a dict)", needed_by, where=where)
        self.d, self.step, self.needed_by, self.where = d, step, needed_by, where or step

    def __call__(self, key: str) -> Any:
        if key not in self.d:
            _missing(self.step, key, self.needed_by, where=self.where)
        return self.d[key]

    def sub(self, key: str) -> _Reader:
        return _Reader(self(key), self.step, self.needed_by, where=self.where)


@dataclass(frozen=True, eq=False)
class Entry:
    """Base of the typed ledger entries."""

    STEP: ClassVar[str] = ""

    @classmethod
    def schema_version(cls) -> int:
        """The schema version of this entry (``schema`` in the stored entry)."""
        return SCHEMA_VERSIONS[cls.STEP]

    @classmethod
    def from_uns(cls: type[E], d: Any, *, needed_by: str = "hyperperturb", step: str | None = None) -> E:
        """The typed entry of a stored dict (refused: another schema version, a missing field)."""
        check_schema(step or cls.STEP, d, needed_by=needed_by)
        return cls._decode(_Reader(d, cls.STEP, needed_by, where=step))

    @classmethod
    def _decode(cls: type[E], r: _Reader) -> E:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def to_uns(self) -> dict[str, Any]:
        """The entry as :func:`~hyperperturb._utils.record` stores it (``None`` fields are left out)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Entry | _Part):
                v = v.to_uns()
            if v is not None:
                out[f.name] = v
        return out


@dataclass(frozen=True, eq=False)
class _Part:
    """A nested part of an entry (stored as a dict inside it)."""

    def to_uns(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def read(adata: AnnData, cls: type[E], *, needed_by: str, step: str | None = None) -> E:
    """The typed entry of ``step`` (default: the class's step): it must have run and be current."""
    return cls.from_uns(require_step(adata, step or cls.STEP, needed_by=needed_by), needed_by=needed_by, step=step)


def find(adata: AnnData, cls: type[E], *, needed_by: str = "hyperperturb") -> E | None:
    """The typed entry of an optional step, ``None`` when it has not run (an outdated entry is refused)."""
    d = get_ledger(adata).get(cls.STEP)
    return None if d is None else cls.from_uns(d, needed_by=needed_by)


# -- perturbations ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PerturbationsEntry(Entry):
    """``hp.pp.perturbations``: the perturbations, their targets and the control labels."""

    STEP: ClassVar[str] = "perturbations"
    key: str
    control: tuple[str, ...]
    names: tuple[str, ...]
    targets: tuple[str, ...]
    target_genes: np.ndarray
    target_offsets: np.ndarray
    combination: np.ndarray
    n_cells: np.ndarray
    n_control: int
    n_ignored: int
    n_missing: int
    checksum: str
    params: dict[str, Any]

    @classmethod
    def _decode(cls, r: _Reader) -> PerturbationsEntry:
        e = cls(
            key=str(_scalar(r("key"))),
            control=names(r("control")),
            names=names(r("names")),
            targets=names(r("targets")),
            target_genes=str_array(r("target_genes")).ravel(),
            target_offsets=np.asarray(r("target_offsets"), dtype=np.int64).ravel(),
            combination=np.asarray(r("combination"), dtype=bool).ravel(),
            n_cells=np.asarray(r("n_cells"), dtype=np.int64).ravel(),
            n_control=int(_scalar(r("n_control"))),
            n_ignored=int(_scalar(r("n_ignored"))),
            n_missing=int(_scalar(r("n_missing"))),
            checksum=str(_scalar(r("checksum"))),
            params=_params(r("params")),
        )
        off = e.target_offsets
        ok = len(off) == len(e.names) + 1 and off[0] == 0 and off[-1] == len(e.target_genes)
        if not ok or not np.all(np.diff(off) >= 0) or len(e.targets) != len(e.names):
            msg = (
                f"{r.needed_by}: the 'perturbations' entry of adata.uns['hyperperturb'] has inconsistent "
                "names/targets/target_genes/target_offsets. Re-run `hp.pp.perturbations(adata, key=..., control=...)`."
            )
            raise ValueError(msg)
        return e

    def target_of(self) -> dict[str, str]:
        """Perturbation name → its target gene."""
        return dict(zip(self.names, self.targets, strict=True))

    def target_sets(self) -> list[list[str]]:
        """All target genes of each perturbation (combinations list every gene)."""
        flat, off = self.target_genes, self.target_offsets
        return [flat[off[k] : off[k + 1]].tolist() for k in range(len(self.names))]


# -- network ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Edges(_Part):
    """Edges as index arrays ``i``, ``j`` (into a node list) and their ``weight``."""

    i: np.ndarray
    j: np.ndarray
    weight: np.ndarray

    @classmethod
    def decode(cls, r: _Reader) -> Edges:
        i = np.asarray(r("i"), dtype=np.int64).ravel()
        j = np.asarray(r("j"), dtype=np.int64).ravel()
        w = np.asarray(r("weight"), dtype=np.float64).ravel()
        if i.size != j.size or w.size != i.size:
            msg = f"{r.needed_by}: the stored {r.step!r} edges i, j, weight have different lengths. Re-run it."
            raise ValueError(msg)
        return cls(i=i, j=j, weight=w)

    def as_dict(self) -> dict[str, np.ndarray]:
        """``{"i", "j", "weight"}`` arrays."""
        return {"i": self.i, "j": self.j, "weight": self.weight}


@dataclass(frozen=True, eq=False)
class NetworkEntry(Entry):
    """``hp.pp.gene_network``: what the gene network in ``.varp[key_added]`` is and its nodes outside ``var_names``."""

    STEP: ClassVar[str] = "network"
    source: str
    hops: int
    n_edges: int
    n_matched: int
    n_connected: int
    n_connected_direct: int
    n_isolated: int
    coverage: float
    weight_scale: float
    key_added: str
    signed: bool
    sign_key: str | None
    directed_key: str | None
    n_negative: int
    empty: bool
    checksum: str
    extra_nodes: tuple[str, ...]
    extra_edges: Edges
    params: dict[str, Any]
    #: perturbation target -> its node, for targets that ``mapping=`` placed under another id (optional: entries
    #: written before this field read as ``{}``, i.e. every target is looked up under its own name)
    target_nodes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def _decode(cls, r: _Reader) -> NetworkEntry:
        return cls(
            source=str(_scalar(r("source"))),
            hops=int(_scalar(r("hops"))),
            n_edges=int(_scalar(r("n_edges"))),
            n_matched=int(_scalar(r("n_matched"))),
            n_connected=int(_scalar(r("n_connected"))),
            n_connected_direct=int(_scalar(r("n_connected_direct"))),
            n_isolated=int(_scalar(r("n_isolated"))),
            coverage=float(_scalar(r("coverage"))),
            weight_scale=float(_scalar(r("weight_scale"))),
            key_added=str(_scalar(r("key_added"))),
            signed=bool(_scalar(r("signed"))),
            sign_key=_opt_str(r("sign_key")),
            directed_key=_opt_str(r("directed_key")),
            n_negative=int(_scalar(r("n_negative"))),
            empty=bool(_scalar(r("empty"))),
            checksum=str(_scalar(r("checksum"))),
            extra_nodes=names(r("extra_nodes")),
            extra_edges=Edges.decode(r.sub("extra_edges")),
            params=_params(r("params")),
            target_nodes=_target_nodes(r),
        )

    def to_uns(self) -> dict[str, Any]:
        out = super().to_uns()
        out["sign_key"], out["directed_key"] = self.sign_key, self.directed_key
        out["target_nodes"] = {
            "targets": np.asarray(list(self.target_nodes), dtype=str),
            "nodes": np.asarray(list(self.target_nodes.values()), dtype=str),
        }
        return out


def _target_nodes(r: _Reader) -> dict[str, str]:
    """The stored ``target_nodes`` (``targets``, ``nodes`` name arrays) as a dict; ``{}`` when absent."""
    if "target_nodes" not in r.d:
        return {}
    sub = r.sub("target_nodes")
    t, n = names(sub("targets")), names(sub("nodes"))
    if len(t) != len(n):
        msg = f"{r.needed_by}: the stored 'network' target_nodes have different lengths. Re-run `hp.pp.gene_network`."
        raise ValueError(msg)
    return dict(zip(t, n, strict=True))


# -- rewards ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RewardsEntry(Entry):
    """``hp.tl.rewards``: the columns of ``.varm['hp_reward']`` and how the rewards were computed."""

    STEP: ClassVar[str] = "rewards"
    params: dict[str, Any]
    perturbations: tuple[str, ...]
    n_cells: np.ndarray
    n_control: int
    n_zero_reward: int
    value_target: str
    checksum: str | None = None  # the protein modality's own entry has no checksum nor cells
    cells: str | None = None
    source: str | None = None
    groups: Any = None
    groups_skipped: Any = None
    protein_mod: str | None = None
    protein: dict[str, Any] | None = None

    @classmethod
    def _decode(cls, r: _Reader) -> RewardsEntry:
        d = r.d
        return cls(
            params=_params(r("params")),
            perturbations=names(r("perturbations")),
            n_cells=np.asarray(r("n_cells")).ravel(),
            n_control=int(_scalar(r("n_control"))),
            n_zero_reward=int(_scalar(r("n_zero_reward"))),
            value_target=str(_scalar(r("value_target"))),
            checksum=_opt_str(d.get("checksum")),
            cells=_opt_str(d.get("cells")),
            source=_opt_str(d.get("source")),
            groups=d.get("groups"),
            groups_skipped=d.get("groups_skipped"),
            protein_mod=_opt_str(d.get("protein_mod")),
            protein=_dict(d["protein"]) if "protein" in d else None,
        )

    @property
    def signed(self) -> bool:
        """Whether the rewards are signed (``hp.tl.rewards(signed=True)``)."""
        return bool(self.params["signed"])


# -- train -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TrainGraph(_Part):
    """The training graph's nodes (genes, unmeasured targets, proteins) and the edges not in ``.varp``."""

    nodes: tuple[str, ...]
    n_genes: int
    n_extra: int
    n_prot: int
    extra_edges: Edges
    has_network: bool

    @classmethod
    def decode(cls, r: _Reader) -> TrainGraph:
        return cls(
            nodes=names(r("nodes")),
            n_genes=int(_scalar(r("n_genes"))),
            n_extra=int(_scalar(r("n_extra"))),
            n_prot=int(_scalar(r("n_prot"))),
            extra_edges=Edges.decode(r.sub("extra_edges")),
            has_network=bool(_scalar(r("has_network"))),
        )

    def to_uns(self) -> dict[str, Any]:
        return {**super().to_uns(), "extra_edges": self.extra_edges.to_uns()}

    @property
    def n_graph(self) -> int:
        """Nodes of the gene network (genes and unmeasured targets, not proteins)."""
        return self.n_genes + self.n_extra


#: Readout fields stored as text, and those stored as numbers (every one written by ``fit_transfer``).
_KERNEL_TEXT = ("form", "prior", "source", "on_target_mode", "prop_norm", "geometry")
_KERNEL_NUMBERS = (
    "tau_rel", "tau", "median_distance", "kappa", "gamma", "on_target", "on_target_cv_gain", "cv_score",
    "prior_cv_score", "transfer_cv_gain", "shrinkage", "prop_alpha", "prop_shrink", "curvature",
)  # fmt: skip
_KERNEL_INTS = ("n_on_target", "n_cv")


@dataclass(frozen=True, eq=False)
class KernelReadout(_Part):
    """The residual transfer readout chosen by leave-one-out at the end of training (graph model only)."""

    available: bool
    perturbations: tuple[str, ...]
    reliability: np.ndarray
    reliability_measured: bool
    prop_beta: np.ndarray
    text: dict[str, str]
    numbers: dict[str, float]
    counts: dict[str, int]
    other: dict[str, Any] = field(default_factory=dict)  # diagnostics of the choice, stored as written

    FORM: ClassVar[str] = "residual"

    @classmethod
    def decode(cls, r: _Reader) -> KernelReadout:
        form = str(_scalar(r("form")))
        if form != cls.FORM:
            msg = (
                f"{r.needed_by}: the stored kernel readout has form {form!r}; only the {cls.FORM!r} readout is "
                "read (the earlier 'mixture' and 'adaptive' readouts were removed). Re-run `hp.tl.train(adata)`."
            )
            raise ValueError(msg)
        known = {"available", "perturbations", "reliability", "reliability_measured", "prop_beta"}
        known |= {*_KERNEL_TEXT, *_KERNEL_NUMBERS, *_KERNEL_INTS}
        return cls(
            available=bool(_scalar(r("available"))),
            perturbations=names(r("perturbations")),
            reliability=np.asarray(r("reliability"), dtype=np.float64).ravel(),
            reliability_measured=bool(_scalar(r("reliability_measured"))),
            prop_beta=np.asarray(r("prop_beta"), dtype=np.float64).ravel(),
            text={k: str(_scalar(r(k))) for k in _KERNEL_TEXT},
            numbers={k: float(_scalar(r(k))) for k in _KERNEL_NUMBERS},
            counts={k: int(_scalar(r(k))) for k in _KERNEL_INTS},
            other={k: v for k, v in r.d.items() if k not in known},
        )

    def to_uns(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "perturbations": list(self.perturbations),
            "reliability": self.reliability,
            "reliability_measured": self.reliability_measured,
            "prop_beta": self.prop_beta if self.prop_beta.size != 1 else float(self.prop_beta[0]),
            **self.text,
            **self.numbers,
            **self.counts,
            **self.other,
        }

    def __getattr__(self, name: str) -> Any:
        """A readout choice by name (``prior``, ``source``, ``tau``, ``kappa``, ``on_target``, ...)."""
        for part in ("text", "numbers", "counts"):
            d = object.__getattribute__(self, part)
            if name in d:
                return d[name]
        raise AttributeError(name)


@dataclass(frozen=True, eq=False)
class TrainEntry(Entry):
    """``hp.tl.train``: everything to rebuild the model and its readouts (weights stored once, here)."""

    STEP: ClassVar[str] = "train"
    params: dict[str, Any]
    history: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    perturbations: tuple[str, ...]
    targets: tuple[str, ...]
    target_node: np.ndarray
    perturbation_embedding: np.ndarray
    perturbation_bias: np.ndarray
    scorable: np.ndarray
    n_scorable: int
    value_unit: float
    value_unit_protein: float
    reward_baseline: np.ndarray
    kernel: KernelReadout | None  # None: no readout stored ({"available": False}: model="simple")
    network_map: dict[str, Any]
    extra_nodes: tuple[str, ...]
    extra_embedding: np.ndarray
    node_features: dict[str, Any]
    graph: TrainGraph
    input_digests: dict[str, str | None]
    versions: dict[str, str]
    seed: int
    protein: dict[str, Any] | None = None
    wall_time: float | None = None

    @classmethod
    def _decode(cls, r: _Reader) -> TrainEntry:
        kern = r.sub("kernel")
        p = _params(r("params"))
        for k in ("model", "geometry", "head", "dim", "hidden", "curvature", "seed"):
            if k not in p:
                _missing("train", f"params.{k}", r.needed_by)
        n_p = len(names(r("perturbations")))
        return cls(
            params=p,
            history={str(k): np.asarray(v) for k, v in _dict(r("history")).items()},
            weights=_dict(r("weights")),
            perturbations=names(r("perturbations")),
            targets=names(r("targets")),
            target_node=np.asarray(r("target_node"), dtype=np.int64).ravel(),
            perturbation_embedding=np.asarray(r("perturbation_embedding"), dtype=np.float64).reshape(n_p, -1),
            perturbation_bias=np.asarray(r("perturbation_bias"), dtype=np.float64).ravel(),
            scorable=np.asarray(r("scorable"), dtype=bool).ravel(),
            n_scorable=int(_scalar(r("n_scorable"))),
            value_unit=float(_scalar(r("value_unit"))),
            value_unit_protein=float(_scalar(r("value_unit_protein"))),
            reward_baseline=np.asarray(r("reward_baseline"), dtype=np.float64).ravel(),
            kernel=KernelReadout.decode(kern) if bool(_scalar(kern("available"))) or "form" in kern.d else None,
            network_map=_dict(r("network_map")),
            extra_nodes=names(r("extra_nodes")),
            extra_embedding=np.asarray(r("extra_embedding"), dtype=np.float64),
            node_features=_dict(r("node_features")),
            graph=TrainGraph.decode(r.sub("graph")),
            input_digests={str(k): _opt_str(v) for k, v in _dict(r("input_digests")).items()},
            versions={str(k): str(_scalar(v)) for k, v in _dict(r("versions")).items()},
            seed=int(_scalar(r("seed"))),
            protein=_dict(r.d["protein"]) if "protein" in r.d else None,
            wall_time=float(_scalar(r.d["wall_time"])) if "wall_time" in r.d else None,
        )

    def to_uns(self) -> dict[str, Any]:
        out = super().to_uns()
        out["kernel"] = self.kernel.to_uns() if self.kernel is not None else {"available": False}
        out["perturbations"], out["targets"] = list(self.perturbations), list(self.targets)
        out["extra_nodes"] = list(self.extra_nodes)
        return out

    # -- the parameters every reader needs, typed --

    @property
    def model(self) -> str:
        """``"hyperperturb"`` (the gene-graph model) or ``"simple"``."""
        return str(self.params["model"])

    @property
    def geometry(self) -> str:
        """``"poincare"`` or ``"euclidean"``."""
        return str(self.params["geometry"])

    @property
    def head(self) -> str:
        """``"distance"`` or ``"dense"``."""
        return str(self.params["head"])

    @property
    def curvature(self) -> float:
        """Curvature ``c`` of the ball (1 for the Euclidean geometry)."""
        return _ball.geometry(self.geometry, self.params["curvature"]).c

    @property
    def holdout(self) -> set[str]:
        """Perturbations held out of training."""
        held = self.params["holdout"]  # [] when nothing is held out
        return set() if held is None else set(names(held))

    @property
    def map_embedding(self) -> np.ndarray | None:
        """The network map the encoder refines (``refine``), ``None`` without one."""
        emb = self.network_map.get("embedding")
        return None if emb is None else np.asarray(emb, dtype=np.float64)


# -- preprocess ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PreprocessEntry(Entry):
    """``hp.pp.preprocess``: the log-normalised layer and how many cells and genes the filters kept."""

    STEP: ClassVar[str] = "preprocess"
    layer: str
    n_cells_in: int
    n_genes_in: int
    n_cells: int
    n_genes: int
    min_genes_used: int
    min_cells_used: int
    protected_genes: np.ndarray
    params: dict[str, Any]

    @classmethod
    def _decode(cls, r: _Reader) -> PreprocessEntry:
        return cls(
            layer=str(_scalar(r("layer"))),
            n_cells_in=int(_scalar(r("n_cells_in"))),
            n_genes_in=int(_scalar(r("n_genes_in"))),
            n_cells=int(_scalar(r("n_cells"))),
            n_genes=int(_scalar(r("n_genes"))),
            min_genes_used=int(_scalar(r("min_genes_used"))),
            min_cells_used=int(_scalar(r("min_cells_used"))),
            protected_genes=str_array(r("protected_genes")).ravel(),
            params=_params(r("params")),
        )


# -- log_fold_change -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LogFoldChangeEntry(Entry):
    """``hp.pp.log_fold_change``: the layer read, the control cells, the protein control means (one AnnData)."""

    STEP: ClassVar[str] = "log_fold_change"
    layer: str
    n_control: int
    params: dict[str, Any]
    protein: dict[str, Any] | None = None  # {"names", "control_mean"}: an AnnData with .obsm["protein"]

    @classmethod
    def _decode(cls, r: _Reader) -> LogFoldChangeEntry:
        return cls(
            layer=str(_scalar(r("layer"))),
            n_control=int(_scalar(r("n_control"))),
            params=_params(r("params")),
            protein=_dict(r.d["protein"]) if "protein" in r.d else None,
        )


# -- evaluation ------------------------------------------------------------------------------------------------------


def _frame(x: Any) -> pd.DataFrame:
    """A stored table as a :class:`~pandas.DataFrame` (the stored object itself when it is one)."""
    return x if isinstance(x, pd.DataFrame) else pd.DataFrame(x)


def _name_lists(x: Any) -> dict[str, tuple[str, ...]]:
    """A stored ``{split: names}`` dict (name arrays after an h5ad round trip) as tuples of ``str``."""
    return {str(k): names(v) for k, v in _dict(x).items()}


@dataclass(frozen=True, eq=False)
class EvaluationEntry(Entry):
    """``hp.tl.evaluate``: the held-out results, their summary and the detectability of each perturbation."""

    STEP: ClassVar[str] = "evaluation"
    params: dict[str, Any]
    results: pd.DataFrame
    summary: pd.DataFrame
    detectability: pd.DataFrame
    splits: dict[str, tuple[str, ...]]  # held-out perturbations of each split
    scored: dict[str, tuple[str, ...]]  # the scored ones among them
    coverage: dict[str, Any]
    random_embedding_keys: tuple[str, ...]
    wall_time: float | None = None

    #: The tables :func:`hyperperturb.get.evaluation` returns as stored.
    TABLES: ClassVar[tuple[str, ...]] = ("results", "summary", "detectability")

    @classmethod
    def _decode(cls, r: _Reader) -> EvaluationEntry:
        return cls(
            params=_params(r("params")),
            results=_frame(r("results")),
            summary=_frame(r("summary")),
            detectability=_frame(r("detectability")),
            splits=_name_lists(r("splits")),
            scored=_name_lists(r("scored")),
            coverage=_dict(r("coverage")),
            random_embedding_keys=names(r("random_embedding_keys")),
            wall_time=float(_scalar(r.d["wall_time"])) if "wall_time" in r.d else None,
        )

    def to_uns(self) -> dict[str, Any]:
        out = super().to_uns()
        out["splits"] = {k: list(v) for k, v in self.splits.items()}
        out["scored"] = {k: list(v) for k, v in self.scored.items()}
        out["random_embedding_keys"] = list(self.random_embedding_keys)
        return out

    @property
    def baselines(self) -> list[str]:
        """The baselines evaluated (``params["baselines"]``)."""
        b = self.params.get("baselines", [])
        return [b] if isinstance(b, str) else [str(x) for x in b]


# -- design ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DesignEntry(Entry):
    """``hp.tl.design``: the proposed perturbations (stored under ``key_added``, ``"design"`` by default)."""

    STEP: ClassVar[str] = "design"
    params: dict[str, Any]
    proposals: pd.DataFrame

    @classmethod
    def _decode(cls, r: _Reader) -> DesignEntry:
        return cls(params=_params(r("params")), proposals=_frame(r("proposals")))


# -- embed_network ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EmbedNetworkEntry(Entry):
    """``hp.tl.embed_network``: the network map in ``.varm[key_added]`` and its unmeasured nodes."""

    STEP: ClassVar[str] = "embed_network"
    params: dict[str, Any]
    extra_nodes: tuple[str, ...]
    extra_embedding: np.ndarray
    level: np.ndarray
    loss: np.ndarray
    n_edges: int
    wall_time: float | None = None

    @classmethod
    def _decode(cls, r: _Reader) -> EmbedNetworkEntry:
        return cls(
            params=_params(r("params")),
            extra_nodes=names(r("extra_nodes")),
            extra_embedding=np.asarray(r("extra_embedding"), dtype=np.float64),
            level=np.asarray(r("level")).ravel(),
            loss=np.asarray(r("loss"), dtype=np.float64).ravel(),
            n_edges=int(_scalar(r("n_edges"))),
            wall_time=float(_scalar(r.d["wall_time"])) if "wall_time" in r.d else None,
        )

    def to_uns(self) -> dict[str, Any]:
        return {**super().to_uns(), "extra_nodes": list(self.extra_nodes)}

    @property
    def key_added(self) -> str | None:
        """The ``.varm`` key of the map (``None`` when not recorded)."""
        key = self.params.get("key_added")
        return key if isinstance(key, str) and key else None


#: The typed entry of each step that has one.
ENTRIES: dict[str, type[Entry]] = {
    c.STEP: c
    for c in (
        PreprocessEntry,
        PerturbationsEntry,
        LogFoldChangeEntry,
        NetworkEntry,
        RewardsEntry,
        TrainEntry,
        EvaluationEntry,
        DesignEntry,
        EmbedNetworkEntry,
    )
}


def keys_of(adata: AnnData, cls: type[Entry]) -> list[str]:
    """The ledger keys holding an entry of ``cls``'s step (``hp.tl.design`` stores under any ``key_added``)."""
    return [k for k, v in get_ledger(adata).items() if isinstance(v, dict) and _kind(k, v) == cls.STEP]
