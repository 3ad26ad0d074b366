"""Issue 13: stored values read back are validated; clear errors for bad dtypes, seeds, files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import hyperperturb as hp
from hyperperturb._utils import require_step
from hyperperturb._utils._stored import check_train_entry

from ._data import rewarded as _rewarded
from ._data import screen
from ._snapshot import assert_unchanged, snapshot


def _refused(a, match, call):
    snap = snapshot(a)
    with pytest.raises(ValueError, match=match):
        call(a)
    assert_unchanged(a, snap)


# ----------------------------------------------------------------------------------------- tampered .var/.varm
@pytest.mark.parametrize("key", ["hp_control_mean", "hp_reward_baseline", "hp_value_target"])
def test_nan_in_stored_var_columns_refused(key):
    a = _rewarded()
    a.var[key] = a.var[key].astype(float)
    a.var.iloc[2, a.var.columns.get_loc(key)] = np.nan
    _refused(
        a, rf"adata.var\['{key}'\].*NaN.*Re-run `hp.tl.rewards", lambda x: require_step(x, "rewards", needed_by="t")
    )
    _refused(a, "NaN", lambda x: hp.get.rewards(x))


def test_stored_reward_wrong_shape_or_policy_refused():
    a = _rewarded()
    a.varm["hp_policy_target"] = a.varm["hp_policy_target"] * 2
    _refused(a, "do not sum to 1", lambda x: require_step(x, "rewards", needed_by="t"))
    b = _rewarded()
    b.varm["hp_reward"] = np.full_like(b.varm["hp_reward"], np.inf)
    _refused(b, "NaN/infinite", lambda x: require_step(x, "rewards", needed_by="t"))


def test_graph_inputs_refuse_nan_control_mean_instead_of_zeroing():
    from hyperperturb._utils import resolve
    from hyperperturb.tl._graph._inputs import build_graph_inputs

    a = _rewarded()
    a.var["hp_control_mean"] = np.nan
    with pytest.raises(ValueError, match="hp_control_mean"):
        build_graph_inputs(resolve(a), seed=0)


# ------------------------------------------------------------------------------------------- tampered .varp
@pytest.mark.parametrize(
    ("tamper", "match"),
    [
        (lambda A: A.multiply(-1), "negative"),
        (lambda A: sparse.csr_matrix(np.where(A.toarray() > 0, np.nan, 0.0)), "NaN"),
        (lambda A: sparse.triu(A, k=1).tocsr(), "not symmetric"),
        (lambda A: A * 3, "above 1"),
    ],
    ids=["negative", "nan", "asymmetric", "above-one"],
)
def test_tampered_adjacency_refused(tamper, match):
    from hyperperturb._utils import resolve
    from hyperperturb.tl._graph._inputs import build_graph_inputs

    a = _rewarded()
    A = tamper(sparse.csr_matrix(a.varp["hp_adjacency"], dtype=np.float64))
    a.varp["hp_adjacency"] = sparse.csr_matrix(A)
    _refused(a, match, lambda x: require_step(x, "network", needed_by="t"))
    with pytest.raises(ValueError, match=match):
        build_graph_inputs(resolve(a), seed=0)


def test_empty_adjacency_needs_explicit_choice_for_training():
    from hyperperturb._utils import resolve
    from hyperperturb.tl._graph._inputs import build_graph_inputs

    a = _rewarded()
    a.varp["hp_adjacency"] = sparse.csr_matrix((a.n_vars, a.n_vars), dtype=np.float32)
    with pytest.raises(ValueError, match="allow_empty=True"):
        build_graph_inputs(resolve(a), seed=0)
    b = screen()
    hp.pp.perturbations(b)
    hp.pp.gene_network(b, pd.DataFrame({"a": ["G0"], "b": ["X9"]}), allow_empty=True)
    hp.tl.rewards(b, verbose=False)
    assert build_graph_inputs(resolve(b), seed=0).adjacency.nnz == 0


# ------------------------------------------------------------------------------------------- stored params
@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"kernel": {"shrinkage": 5.0}}, r"'shrinkage'.*outside \[0.0, 1.0\]"),
        ({"kernel": {"shrinkage": -0.1}}, "outside"),
        ({"kernel": {"tau": np.nan}}, "not a finite number"),
        ({"params": {"dim": "two"}}, r"'dim'.*not a finite number"),
        ({"params": {"seed": -1}}, "outside"),
        ({"params": {"epochs": 2.5}}, "not an integer"),
        ({"weights": {"w": np.frombuffer(b"\x80\x04pickle", dtype="S1")}}, "not a numeric array"),
        ({"weights": {"w": np.asarray([np.nan])}}, "NaN"),
    ],
)
def test_bad_stored_training_values_refused(entry, match):
    with pytest.raises(ValueError, match=match):
        check_train_entry(entry, needed_by="hp.tl.predict")


def test_stored_train_entry_checked_by_require_step():
    from hyperperturb._utils import record

    a = _rewarded()
    record(a, "train", {"params": {"dim": 2}, "perturbations": np.asarray(["G0"]), "kernel": {"shrinkage": 5.0}})
    _refused(a, r"Re-run `hp.tl.train", lambda x: require_step(x, "train", needed_by="hp.tl.predict"))


def test_good_stored_train_entry_accepted():
    check_train_entry(
        {"params": {"dim": np.int64(2), "seed": 0, "refine": "None"}, "kernel": {"shrinkage": 0.3, "tau": 0.5}},
        needed_by="t",
    )


# --------------------------------------------------------------------------------------------- clear errors
@pytest.mark.parametrize("dtype", [object, complex])
def test_object_or_complex_x_is_a_clear_error(dtype):
    a = screen(fmt="dense")
    hp.pp.perturbations(a)
    a.X = a.X.astype(dtype)
    snap = snapshot(a)
    with pytest.raises(TypeError, match=r"The expression matrix has dtype .*needs real numbers"):
        hp.tl.rewards(a, verbose=False)
    with pytest.raises(TypeError, match="needs real numbers"):
        hp.pp.gene_network(a, "coexpression")
    assert_unchanged(a, snap)


def test_nonfinite_message_is_not_doubled():
    a = screen(fmt="dense")
    hp.pp.perturbations(a)
    a.X[3, 2] = np.nan
    with pytest.raises(ValueError) as e:
        hp.tl.rewards(a, verbose=False)
    assert "of the expression matrix" not in str(e.value)
    assert str(e.value).startswith("The expression matrix contains NaN")


@pytest.mark.parametrize(("seed", "exc"), [(-1, ValueError), (1.5, TypeError), ("0", TypeError)])
def test_bad_seed_is_a_clear_error(seed, exc):
    from hyperperturb._utils import as_rng, resolve
    from hyperperturb.tl._graph._inputs import build_graph_inputs

    with pytest.raises(exc, match="non-negative integer"):
        as_rng(seed)
    a = _rewarded()
    with pytest.raises(exc, match="non-negative integer"):
        build_graph_inputs(resolve(a), seed=seed)


def test_junk_keras_file_is_not_reported_as_missing(tmp_path):
    pytest.importorskip("keras")
    junk = tmp_path / "model.keras"
    junk.write_bytes(b"not a zip archive at all")
    with pytest.raises(ValueError, match="not a Keras model archive"):
        hp.tl.load_model(junk)
    with pytest.raises(FileNotFoundError):
        hp.tl.load_model(tmp_path / "absent.keras")


def test_pickle_file_named_h5ad_is_a_clear_cli_error(tmp_path, capsys):
    import pickle

    from hyperperturb._cli import main

    f = tmp_path / "x.h5ad"
    f.write_bytes(pickle.dumps({"a": 1}))
    assert main(["info", str(f)]) == 1
    err = capsys.readouterr().err
    assert "cannot read" in err and "Traceback" not in err
