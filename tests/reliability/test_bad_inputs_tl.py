"""Bad-input matrix for ``hp.tl``, ``hp.get``, ``hp.pl`` and the command line (training excluded: test_faults)."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from scipy import sparse

import hyperperturb as hp
from hyperperturb._cli import main as cli
from hyperperturb._utils import LEDGER_KEY, get_ledger

from ._data import CONTROL, reference_rewards, screen
from ._snapshot import assert_unchanged, snapshot

DATA_FUNCS = [
    ("tl", "rewards", {}),
    ("tl", "train", {"epochs": 1}),
    ("tl", "predict", {}),
    ("tl", "evaluate", {}),
    ("tl", "design", {}),
    ("tl", "save_model", {"path": "x.keras"}),
    ("get", "rewards", {}),
    ("get", "embedding", {}),
    ("get", "rank_perturbations", {}),
    ("pl", "poincare", {}),
    ("pl", "rewards", {}),
    ("pl", "history", {}),
    ("pl", "rank_perturbations", {"gene": "G0"}),
    ("pl", "evaluation", {}),
]
IDS = [f"{ns}.{fn}" for ns, fn, _ in DATA_FUNCS]


def _get(ns, fn):
    f = getattr(getattr(hp, ns), fn, None)
    if f is None:
        pytest.fail(f"hp.{ns}.{fn} is missing from the public API")
    return f


@pytest.mark.parametrize(("ns", "fn", "kw"), DATA_FUNCS, ids=IDS)
@pytest.mark.parametrize(
    "obj",
    [[[1.0, 2.0]], pd.DataFrame({"a": [1.0]}), np.ones((2, 2)), None],
    ids=["list", "DataFrame", "ndarray", "None"],
)
def test_wrong_type(ns, fn, kw, obj):
    with pytest.raises(TypeError, match="must be an AnnData or a MuData"):
        _get(ns, fn)(obj, **kw)


@pytest.mark.parametrize(("ns", "fn", "kw"), DATA_FUNCS, ids=IDS)
def test_empty(ns, fn, kw):
    a = AnnData(np.zeros((0, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="empty"):
        _get(ns, fn)(a, **kw)


NEEDS = [(ns, fn, kw) for ns, fn, kw in DATA_FUNCS if (ns, fn) != ("tl", "rewards")]


@pytest.mark.parametrize(("ns", "fn", "kw"), NEEDS, ids=[f"{ns}.{fn}" for ns, fn, _ in NEEDS])
def test_missing_previous_step_says_what_to_run(ns, fn, kw, tmp_path):
    a = screen()
    hp.pp.perturbations(a)
    hp.tl.rewards(a, verbose=False)
    snap = snapshot(a)
    kw = {k: (tmp_path / v if k == "path" else v) for k, v in kw.items()}
    if (ns, fn) in {("tl", "train"), ("tl", "design"), ("get", "rewards"), ("pl", "rewards")}:
        # these need rewards (design falls back to a linear predictor when no model was trained)
        b = screen()
        hp.pp.perturbations(b)
        snap = snapshot(b)
        a = b  # no rewards yet
    with pytest.raises(KeyError, match=r"Run `hp\.(tl|pp)\.\w+"):
        _get(ns, fn)(a, **kw)
    assert_unchanged(a, snap)


def test_rewards_before_perturbations():
    a = screen()
    snap = snapshot(a)
    with pytest.raises(KeyError, match=r"Run `hp\.pp\.perturbations"):
        hp.tl.rewards(a)
    assert_unchanged(a, snap)


# ---------------------------------------------------------------------------------------------- rewards inputs


@pytest.mark.parametrize("where", ["perturbed", "control", "ignored"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("fmt", ["csr", "csc", "dense"])
def test_non_finite_x(where, value, fmt):
    a = screen(fmt="dense")
    a.obs["perturbation"] = a.obs["perturbation"].cat.add_categories(["skip"])
    a.obs.iloc[-1, 0] = "skip"
    X = a.X.copy()
    row = {"perturbed": 12, "control": 0, "ignored": a.n_obs - 1}[where]
    X[row, 3] = value
    a.X = {"csr": sparse.csr_matrix, "csc": sparse.csc_matrix, "dense": np.asarray}[fmt](X)
    hp.pp.perturbations(a, ignore="skip")
    snap = snapshot(a)
    with pytest.raises(ValueError, match="NaN or infinite"):
        hp.tl.rewards(a, verbose=False)
    assert_unchanged(a, snap)


@pytest.mark.parametrize(
    ("fmt", "dtype"),
    [("csr", np.int64), ("dense", np.int32), ("dense", np.float16), ("csc", np.float64), ("dense", np.float64)],
)
def test_dtypes_and_formats_agree_with_reference(fmt, dtype):
    a = screen(fmt=fmt, dtype=dtype)
    X = a.X.toarray() if sparse.issparse(a.X) else np.asarray(a.X)
    hp.pp.perturbations(a)
    hp.tl.rewards(a, verbose=False, statistic="mean_abs_lfc")  # the per-cell reference
    _, cm, R = reference_rewards(X.astype(np.float64), a.obs["perturbation"].astype(str).to_numpy(), [CONTROL], [])
    tol = 2e-3 if dtype == np.float16 else 1e-6
    np.testing.assert_allclose(a.varm["hp_reward"], R, rtol=tol, atol=tol)
    assert a.varm["hp_reward"].dtype == np.float64


def test_raw_counts_warn():
    a = screen()
    a.X = sparse.csr_matrix(np.random.default_rng(0).poisson(30, size=a.shape).astype(np.int64))
    hp.pp.perturbations(a)
    with pytest.warns(UserWarning, match="raw counts"):
        hp.tl.rewards(a, verbose=False)


def test_one_gene():
    a = screen(n_genes=1, perts=("G0",))
    hp.pp.perturbations(a)
    hp.tl.rewards(a, verbose=False)
    assert a.varm["hp_reward"].shape == (1, 1) and np.isfinite(a.varm["hp_policy_target"]).all()


def test_constant_gene_gives_uniform_policy_row():
    a = screen(fmt="dense")
    X = np.asarray(a.X).copy()
    X[:, 5] = 0.0
    a.X = X
    hp.pp.perturbations(a)
    hp.tl.rewards(a, verbose=False)
    np.testing.assert_allclose(a.varm["hp_policy_target"][5], 1 / 3)
    assert bool(a.var["hp_zero_reward"].iloc[5])


def test_duplicated_var_names_rewards_positional_train_refuses():
    a = screen()
    a.var_names = ["G0"] * a.n_vars
    hp.pp.perturbations(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hp.tl.rewards(a, verbose=False)  # rewards are positional (one row per gene)
    assert a.varm["hp_reward"].shape[0] == a.n_vars
    snap = snapshot(a)
    with pytest.raises(ValueError, match="var_names are not unique"):
        hp.tl.train(a, epochs=1, verbose=False)
    assert_unchanged(a, snap)


def test_design_out_of_sync_with_cells():
    a = screen()
    hp.pp.perturbations(a)
    b = a[:-2].copy()
    b.obsm["perturbation_target"] = sparse.csr_matrix((b.n_obs, 2), dtype=np.float32)
    snap = snapshot(b)
    with pytest.raises(ValueError, match=r"out of sync.*hp\.pp\.perturbations"):
        hp.tl.rewards(b, verbose=False)
    assert_unchanged(b, snap)


def test_subset_after_perturbations_still_works():
    a = screen()
    hp.pp.perturbations(a)
    b = a[a.obs["perturbation"] != "G2"].copy()
    # a perturbation left without cells has no data, not zero effect: refused (it was stored as reward 0 and fitted)
    with pytest.raises(ValueError, match=r"no cells in this object \(\['G2'\]\)"):
        hp.tl.rewards(b, verbose=False)
    hp.pp.perturbations(b)  # the fix the message names
    hp.tl.rewards(b, verbose=False)
    assert "G2" not in list(b.uns["hyperperturb"]["rewards"]["perturbations"])


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_bad_chunk_size(bad):
    a = screen()
    hp.pp.perturbations(a)
    snap = snapshot(a)
    with pytest.raises(ValueError, match="chunk_size"):
        hp.tl.rewards(a, chunk_size=bad)
    assert_unchanged(a, snap)


def test_unknown_groupby():
    a = screen()
    hp.pp.perturbations(a)
    snap = snapshot(a)
    with pytest.raises(KeyError, match="not a column of adata.obs"):
        hp.tl.rewards(a, groupby="celltype")
    assert_unchanged(a, snap)


# ---------------------------------------------------------------------------------------------- ledger versions


def test_ledger_from_a_newer_version_warns():
    a = screen()
    hp.pp.perturbations(a)
    a.uns[LEDGER_KEY]["version"] = "99.0.0"
    with pytest.warns(UserWarning, match="newer than the installed"):
        hp.tl.rewards(a, verbose=False)


def test_ledger_not_a_dict():
    a = screen()
    a.uns[LEDGER_KEY] = "something else"
    snap = snapshot(a)
    with pytest.raises(TypeError, match=r"not a dict.*del adata\.uns"):
        hp.tl.rewards(a)
    assert_unchanged(a, snap)


def test_older_file_with_ledger_missing_later_keys_says_rerun(tmp_path):
    # an h5ad written by an older development version: the perturbations entry lacks keys added later (n_missing,
    # targets, params). The package was never released, so no reader keeps older layouts alive (issue 24): the
    # typed reader refuses the entry with a "re-run" message and leaves the object as it was
    a = screen()
    hp.pp.perturbations(a)
    led = a.uns[LEDGER_KEY]
    for k in ("n_missing", "targets", "params"):
        led["perturbations"].pop(k, None)
    led["version"] = "0.0.1"
    a.write_h5ad(tmp_path / "old.h5ad")
    b = ad.read_h5ad(tmp_path / "old.h5ad")
    snap = snapshot(b)
    with pytest.raises(KeyError, match=r"lacks '(n_missing|targets|params)'.*Re-run `hp\.pp\.perturbations"):
        hp.tl.rewards(b, verbose=False)
    assert_unchanged(b, snap)
    hp.pp.perturbations(b)  # the fix the message names
    hp.tl.rewards(b, verbose=False)
    assert "hp_reward" in b.varm
    assert get_ledger(b)["version"] != "0.0.1"


def test_older_file_missing_a_needed_key_says_rerun():
    a = screen()
    hp.pp.perturbations(a)
    del a.uns[LEDGER_KEY]["perturbations"]["names"]
    snap = snapshot(a)
    with pytest.raises(KeyError, match=r"lacks \['names'\].*Re-run `hp\.pp\.perturbations"):
        hp.tl.rewards(a, verbose=False)
    assert_unchanged(a, snap)


# ---------------------------------------------------------------------------------------------- command line


def test_cli_missing_file(tmp_path, capsys):
    code = cli(["train", str(tmp_path / "nope.h5ad"), "--perturbation-key", "perturbation", "--control", CONTROL,
                "--out", str(tmp_path / "o.h5ad")])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and "error" in err and "nope.h5ad" in err
    assert not (tmp_path / "o.h5ad").exists()


def test_cli_wrong_key_and_control(tmp_path, capsys):
    p = tmp_path / "s.h5ad"
    screen().write_h5ad(p)
    out = tmp_path / "o.h5ad"
    code = cli(["train", str(p), "--perturbation-key", "guide", "--control", CONTROL, "--out", str(out),
                "--no-preprocess", "--epochs", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "guide" in err and "columns are" in err
    code = cli(["train", str(p), "--perturbation-key", "perturbation", "--control", "scrambled", "--out", str(out),
                "--no-preprocess", "--epochs", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "No control cells" in err
    assert not out.exists()


def test_cli_not_an_h5ad(tmp_path, capsys):
    p = tmp_path / "s.h5ad"
    p.write_text("this is not HDF5")
    code = cli(["info", str(p)])
    assert code != 0 and "error" in capsys.readouterr().err


def test_cli_usage_error(capsys):
    assert cli(["train"]) == 2
