"""The parameters of hp.tl.train: validated once into one frozen object, written to the ledger from it."""

from __future__ import annotations

import dataclasses

import pytest

from hyperperturb.tl._model._params import TrainParams

DEFAULTS = {
    "model": "hyperperturb", "geometry": "poincare", "head": "distance", "dim": 2, "hidden": 32, "curvature": 1.0,
    "learn_curvature": False, "epochs": 200, "learning_rate": 1e-2, "dropout": 0.1, "graph_weight": 1.0,
    "attention": False, "refine": 0.1, "rank": 8, "batch_size": None, "curriculum": True, "seed": 0,
    "map_kwargs": None,
}  # fmt: skip


def test_checked_coerces_and_freezes():
    p = TrainParams.checked(**{**DEFAULTS, "dim": 3, "map_kwargs": {"epochs": 5}})
    assert p.dim == 3 and isinstance(p.learning_rate, float) and p.refine == 0.1
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.dim = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.map_kwargs["epochs"] = 6  # type: ignore[index]
    led = p.ledger(curvature=0.9, batch_size=None)
    assert led["dim"] == 3 and led["initial_curvature"] == 1.0 and led["curvature"] == 0.9
    assert set(DEFAULTS) - {"curvature", "map_kwargs", "batch_size"} <= set(led)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"model": "big"}, "model"),
        ({"geometry": "sphere"}, "geometry"),
        ({"head": "mlp"}, "head"),
        ({"dim": 1}, "dim"),
        ({"dim": True}, "dim"),
        ({"hidden": 0}, "hidden"),
        ({"epochs": 0}, "epochs"),
        ({"curvature": -1.0}, "curvature"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"dropout": 1.0}, "dropout"),
        ({"graph_weight": True}, "graph_weight"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
    ],
)
def test_bad_values_are_refused_with_the_parameter_named(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainParams.checked(**{**DEFAULTS, **kw})
