"""Issue 13: step dependencies in the ledger — re-running an upstream step makes downstream results stale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hyperperturb as hp
from hyperperturb._utils import get_ledger, record, require_step, stale_reason

from ._data import screen
from ._snapshot import assert_unchanged, snapshot


def _with_rewards():
    a = screen(perts=("G0", "G1", "G2", "multiple"))
    hp.pp.perturbations(a)
    hp.tl.rewards(a, verbose=False)
    return a


def test_rerun_perturbations_makes_rewards_stale():
    a = _with_rewards()
    hp.pp.perturbations(a, ignore=["multiple"])
    snap = snapshot(a)
    with pytest.raises(ValueError, match=r"re-run since.*Re-run `hp.tl.rewards"):
        require_step(a, "rewards", needed_by="hp.tl.train")
    with pytest.raises(ValueError, match="stale"):
        hp.get.rewards(a)
    assert_unchanged(a, snap)
    hp.tl.rewards(a, verbose=False)  # the fix named in the message
    assert "multiple" not in hp.get.rewards(a, layout="wide").columns


def test_identical_rerun_keeps_results_valid():
    a = _with_rewards()
    hp.pp.perturbations(a)  # same design -> same run id
    assert stale_reason(get_ledger(a), "rewards") is None
    require_step(a, "rewards", needed_by="test")


def test_rerun_network_or_rewards_makes_train_stale():
    a = _with_rewards()
    hp.pp.gene_network(a, pd.DataFrame({"a": ["G0", "G2"], "b": ["G1", "G3"]}))
    record(a, "train", {"params": {}, "perturbations": np.asarray(["G0"])})  # stands in for hp.tl.train
    require_step(a, "train", needed_by="hp.tl.predict")
    hp.pp.gene_network(a, pd.DataFrame({"a": ["G0"], "b": ["G5"]}))
    with pytest.raises(ValueError, match=r"hp.pp.gene_network.*Re-run `hp.tl.train"):
        require_step(a, "train", needed_by="hp.tl.predict")


def test_rerun_perturbations_reported_at_the_first_stale_step():
    a = _with_rewards()
    record(a, "train", {"params": {}, "perturbations": np.asarray(["G0"])})
    hp.pp.perturbations(a, ignore=["multiple"])
    with pytest.raises(ValueError, match=r"'rewards' results.*hp.pp.perturbations"):
        require_step(a, "train", needed_by="hp.tl.predict")


def test_network_run_after_train_makes_it_stale():
    a = _with_rewards()
    record(a, "train", {"params": {}, "perturbations": np.asarray(["G0"])})
    hp.pp.gene_network(a, pd.DataFrame({"a": ["G0"], "b": ["G1"]}))
    with pytest.raises(ValueError, match="was run since"):
        require_step(a, "train", needed_by="hp.tl.predict")


def test_old_ledgers_without_ids_are_accepted():
    a = _with_rewards()
    led = a.uns["hyperperturb"]
    for step in ("perturbations", "rewards"):
        led[step].pop("run_id")
        led[step].pop("inputs")
    require_step(a, "rewards", needed_by="test")


def test_run_ids_survive_h5ad(tmp_path):
    import anndata as ad

    a = _with_rewards()
    a.write_h5ad(tmp_path / "a.h5ad")
    b = ad.read_h5ad(tmp_path / "a.h5ad")
    require_step(b, "rewards", needed_by="test")
    hp.pp.perturbations(b, ignore=["multiple"])
    with pytest.raises(ValueError, match="stale"):
        require_step(b, "rewards", needed_by="test")
