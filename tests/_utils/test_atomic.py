import numpy as np
import pandas as pd
import pytest
from anndata import AnnData

from hyperperturb._utils import atomic_write, record


def _toy():
    rng = np.random.default_rng(0)
    a = AnnData(rng.random((5, 4)).astype(np.float32), obs=pd.DataFrame(index=[f"c{i}" for i in range(5)]))
    a.var["old"] = 1.0
    a.varm["keep"] = np.ones((4, 2))
    a.uns["hyperperturb"] = {"perturbations": {"names": np.array(["A"])}}
    a.uns["other"] = 3
    return a


def test_atomic_write_rolls_back_everything():
    a = _toy()
    keep = a.varm["keep"]
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(a):
            a.var["new"] = 2.0
            a.var["old"] = 5.0
            a.varm["hp_reward"] = np.zeros((4, 3))
            a.varm["keep"] = np.zeros((4, 2))
            a.obsm["x"] = np.zeros((5, 1))
            record(a, "rewards", {"params": {"signed": False}})
            a.uns["hyperperturb"]["perturbations"]["names"] = np.array(["B"])
            raise RuntimeError("boom")
    assert list(a.var.columns) == ["old"]
    assert (a.var["old"] == 1.0).all()
    assert set(a.varm.keys()) == {"keep"}
    assert a.varm["keep"] is keep
    assert "x" not in a.obsm
    assert set(a.uns["hyperperturb"]) == {"perturbations"}
    assert a.uns["hyperperturb"]["perturbations"]["names"].tolist() == ["A"]
    assert a.uns["other"] == 3


def test_atomic_write_keeps_successful_writes():
    a = _toy()
    with atomic_write(a):
        a.var["new"] = 2.0
        record(a, "rewards", {"params": {"signed": True}})
    assert "new" in a.var
    assert a.uns["hyperperturb"]["rewards"]["params"]["signed"] is True


def test_keyboard_interrupt_also_rolls_back():
    a = _toy()
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(a):
            a.varm["hp_policy"] = np.zeros((4, 1))
            raise KeyboardInterrupt
    assert "hp_policy" not in a.varm
