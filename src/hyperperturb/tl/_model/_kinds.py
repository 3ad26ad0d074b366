"""Private: the two model kinds of ``hp.tl.train`` (``model="hyperperturb"`` and ``model="simple"``).

Each kind answers what training, read-out, storage and prediction ask of a model, so those steps hold no comparison
with the model's name: ``model_kind(name).on_graph``, ``.build(...)``, ``.arrays(...)``, ``.rebuild(...)``.
The work itself stays in the modules of the steps (``_fit``, ``_readout``, ``_weights``), which sit below this one:
they receive a kind (``fit_model(kind=...)``) and never import it; ``_train``, ``_io`` and ``_predict`` look it up.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._fit import build_graph_model, build_simple_model
from ._readout import graph_arrays, simple_arrays
from ._weights import rebuild_graph_model, rebuild_simple_model


class ModelKind:
    """What a model kind answers; one instance per kind in :data:`KINDS`."""

    name: str
    on_graph: bool  # trained on the node graph (network, node features, mini-batches, targets placed on nodes)
    kernel_readout: bool  # the held-out (kernel) readout is fitted after training and read by hp.tl.predict

    def can_score_new(self, head: str) -> bool:
        """Whether perturbations outside the training set can be scored (by their target's node)."""
        raise NotImplementedError

    def build(self, g, params, *, targets, env, batch_size, verbose) -> tuple[Any, dict[str, Any] | None]:
        """The built Keras model with its training data set, and the network map (``None`` if not used)."""
        raise NotImplementedError

    def map_fields(self, g, nmap: dict[str, Any] | None) -> dict[str, Any]:
        """``in_network`` and ``network_map`` of the fit result."""
        raise NotImplementedError

    def arrays(self, net, g, *, trainable, targets, base) -> tuple[Any, ...]:
        """``(z, policy, value, pert_emb, pert_bias, scorable)`` of a fitted model (NumPy)."""
        raise NotImplementedError

    def rebuild(self, adata, entry) -> tuple[Any, Any, Any]:
        """The stored model from the ``train`` entry: ``(model, features, adjacency)``."""
        raise NotImplementedError


class GraphModel(ModelKind):
    """``model="hyperperturb"``: the graph network over genes, extra nodes and proteins."""

    name = "hyperperturb"
    on_graph = True
    kernel_readout = True

    def can_score_new(self, head: str) -> bool:
        return head == "distance"

    def build(self, g, params, *, targets, env, batch_size, verbose):
        return build_graph_model(g, params, targets=targets, env=env, batch_size=batch_size, verbose=verbose)

    def map_fields(self, g, nmap):
        assert nmap is not None
        return {
            "in_network": nmap["in_network"],
            "network_map": {
                "embedding": nmap["embedding"],
                "level": nmap["level"],
                "epochs": int(nmap["epochs"]),
                "wall_time": float(nmap["wall_time"]),
                "params": nmap["params"],
            },
        }

    def arrays(self, net, g, *, trainable, targets, base):
        return graph_arrays(net, g, trainable=trainable, targets=targets, base=base)

    def rebuild(self, adata, entry):
        return rebuild_graph_model(adata, entry)


class SimpleModel(ModelKind):
    """``model="simple"``: one embedding per gene and per perturbation, no gene graph (the original design)."""

    name = "simple"
    on_graph = False
    kernel_readout = False

    def can_score_new(self, head: str) -> bool:
        return False

    def build(self, g, params, *, targets, env, batch_size, verbose):
        return build_simple_model(g, params, env=env), None

    def map_fields(self, g, nmap):
        return {"in_network": np.asarray(g.adjacency.getnnz(axis=1) > 0), "network_map": {}}

    def arrays(self, net, g, *, trainable, targets, base):
        return simple_arrays(net, g)

    def rebuild(self, adata, entry):
        return rebuild_simple_model(adata, entry)


KINDS: dict[str, ModelKind] = {k.name: k for k in (GraphModel(), SimpleModel())}


def model_kind(name: str) -> ModelKind:
    """The kind of ``model=name`` (names are validated by :class:`~._params.TrainParams` and the ledger schema)."""
    return KINDS[name]
