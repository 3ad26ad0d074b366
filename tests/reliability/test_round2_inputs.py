"""Issue 22: networks, parameters, stored values and key names that used to pass silently or fail unclearly."""

from __future__ import annotations

import copy
import gzip

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from scipy import sparse

import hyperperturb as hp
from hyperperturb._utils import get_ledger, record, require_step
from hyperperturb._utils._stored import check_train_entry

from ._data import rewarded as _rewarded
from ._data import screen
from ._snapshot import assert_unchanged, snapshot


def _refused(a, exc, match, call):
    snap = snapshot(a)
    with pytest.raises(exc, match=match):
        call(a)
    assert_unchanged(a, snap)


@pytest.fixture(scope="module")
def trained():
    a = hp.datasets.synthetic(n_cells=300, n_genes=30, n_perturbations=5, seed=0)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    hp.tl.rewards(a, verbose=False)
    hp.tl.train(a, epochs=5, verbose=False)
    return a


# ----------------------------------------------------------------------------------------- headerless TRRUST (MED)
@pytest.mark.parametrize("gz", [False, True])
def test_headerless_trrust_file_keeps_signs_and_no_pmid_weights(tmp_path, gz):
    lines = "G0\tG1\tActivation\t12345;67890\nG1\tG2\tRepression\t23456\nG2\tG3\tUnknown\t34567\n"
    path = tmp_path / ("trrust.tsv.gz" if gz else "trrust.tsv")
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(lines)
    else:
        path.write_text(lines)
    a = screen()
    hp.pp.gene_network(a, path)
    A = a.varp["hp_adjacency"].toarray()
    assert A[0, 1] > 0 and A[1, 2] > 0 and A[2, 3] > 0  # the first row is an edge, not a header
    # no PMID/max(PMID) weights: the three edges weigh the same
    assert A[0, 1] == pytest.approx(A[1, 2]) == pytest.approx(A[2, 3])
    S = a.varp["hp_adjacency_sign"].toarray()
    assert S[0, 1] == 1 and S[1, 2] == -1 and S[2, 3] == 0


def test_headerless_plain_edge_list(tmp_path):
    path = tmp_path / "edges.txt"
    path.write_text("G0 G1 0.9\nG1 G2 0.3\n")
    a = screen()
    hp.pp.gene_network(a, path)
    A = a.varp["hp_adjacency"].toarray()
    assert A[0, 1] > A[1, 2] > 0


# ----------------------------------------------------------------------------------------- empty graphs (LOW)
@pytest.mark.parametrize("w", [0.0, 1e-300])
def test_all_zero_weight_edges_count_as_empty(w):
    a = screen()
    snap = snapshot(a)
    net = pd.DataFrame({"a": ["G0", "G1"], "b": ["G1", "G2"], "weight": [w, w]})
    with pytest.raises(ValueError, match="no edge"):
        hp.pp.gene_network(a, net)
    assert_unchanged(a, snap)


def test_empty_varp_without_network_entry_not_trained_on():
    a = screen()
    hp.pp.perturbations(a)
    hp.tl.rewards(a, verbose=False)
    a.varp["hp_adjacency"] = sparse.csr_matrix((a.n_vars, a.n_vars), dtype=np.float32)
    _refused(a, ValueError, "allow_empty=True", lambda x: hp.tl.train(x, epochs=2, verbose=False))


# ----------------------------------------------------------------------------------------- reserved keys (LOW)
@pytest.mark.parametrize("key", ["hp_reward", "hp_policy_target", "X_poincare"])
def test_embed_network_key_added_cannot_overwrite_owned_results(key):
    a = _rewarded()
    _refused(a, ValueError, "would overwrite", lambda x: hp.tl.embed_network(x, key_added=key, verbose=False))


@pytest.mark.parametrize("key", ["evaluation", "rewards", "train", "embed_network", "version"])
def test_design_key_added_cannot_overwrite_ledger_entries(trained, key):
    a = trained.copy()
    _refused(a, ValueError, "key_added", lambda x: hp.tl.design(x, n=1, key_added=key))


@pytest.mark.parametrize("key", ["hp_reward", "X_other"])
def test_train_has_no_key_added(key):
    # one trained model per object under fixed keys: a key for the embedding alone is refused, never half-applied
    a = _rewarded()
    _refused(a, TypeError, "key_added", lambda x: hp.tl.train(x, key_added=key, epochs=2))


# ----------------------------------------------------------------------------------------- parameters (LOW, unclear)
@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"burn_in": -1}, r"burn_in must be an integer >= 0, got -1"),
        ({"curvature": 0}, r"curvature must be a positive finite number, got 0"),
        ({"learning_rate": -1.0}, r"learning_rate must be a positive finite number, got -1.0"),
        ({"curvature": float("nan"), "burn_in": 20}, r"curvature .* got nan"),
        ({"epochs": 0}, r"epochs must be None \(automatic\) or a positive integer, got 0"),
        ({"seed": None}, r"seed.*non-negative integer, got None"),
    ],
)
def test_embed_network_errors_name_the_right_parameter(kw, match):
    a = _rewarded()
    _refused(a, (ValueError, TypeError), match, lambda x: hp.tl.embed_network(x, verbose=False, **kw))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"map_kwargs": {"epochs": 0}}, r"map_kwargs\['epochs'\] must be None \(automatic\) or a positive integer"),
        ({"map_kwargs": {"learning_rate": 0}}, r"map_kwargs\['learning_rate'\]"),
        ({"map_kwargs": {"epochz": 5}}, "unknown keys"),
        ({"seed": None}, r"seed.*non-negative integer, got None.*seed=0"),
    ],
)
def test_train_refuses_bad_map_kwargs_and_none_seed_before_work(kw, match):
    a = _rewarded()
    _refused(a, (ValueError, TypeError), match, lambda x: hp.tl.train(x, epochs=2, verbose=False, **kw))


def test_divergent_training_warns():
    a = _rewarded()
    with pytest.warns(UserWarning, match="training diverged"):
        hp.tl.train(a, epochs=20, learning_rate=1e9, verbose=False)


def test_ordinary_training_does_not_warn_of_divergence(recwarn):
    a = _rewarded()
    hp.tl.train(a, epochs=5, verbose=False)
    assert not [w for w in recwarn if "diverged" in str(w.message)]


# ----------------------------------------------------------------------------------------- stored values (LOW, unclear)
def _corrupt(a, path, value):
    led = copy.deepcopy(dict(a.uns["hyperperturb"]))
    node = led["train"]
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    a.uns["hyperperturb"] = led


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (("kernel", "reliability"), "nan", r"'reliability'"),
        (("kernel", "gamma"), np.nan, r"'gamma'.*not a finite number"),
        (("kernel", "on_target"), 1e6, r"'on_target'.*exceeds"),
        (("kernel", "prior"), "mode", r"'prior'.*not one of"),
        (("params", "seed"), "None", r"'seed'.*not a finite number"),
        (("target_node",), "big", r"ledger entry 'train' is corrupted.*'target_node'"),
        (("reward_baseline",), "short", r"ledger entry 'train' is corrupted.*'reward_baseline'"),
        (("node_features", "values"), "rows", r"ledger entry 'train' is corrupted.*'node_features'"),
        (("graph", "extra_edges"), "out", r"ledger entry 'train' is corrupted.*extra_edges"),
        (("perturbation_embedding",), "shape", r"ledger entry 'train' is corrupted.*'perturbation_embedding'"),
        (("graph", "n_genes"), 3, r"ledger entry 'train' is corrupted.*'graph'"),
    ],
)
def test_corrupted_train_entry_is_a_clear_error(trained, path, value, match):
    a = trained.copy()
    e = get_ledger(a)["train"]
    if value == "nan":
        value = np.full(len(np.asarray(e["kernel"]["reliability"])), np.nan)
    elif value == "big":
        value = np.asarray(e["target_node"]).copy() + 10_000
    elif value == "short":
        value = np.asarray(e["reward_baseline"])[:-2]
    elif value == "rows":
        value = np.asarray(e["node_features"]["values"])[:-1]
    elif value == "out":
        value = {"i": np.asarray([0]), "j": np.asarray([10_000]), "weight": np.asarray([1.0])}
    elif value == "shape":
        value = np.asarray(e["perturbation_embedding"]).ravel()[:-1]
    _corrupt(a, path, value)
    snap = snapshot(a)
    with pytest.raises(ValueError, match=match) as err:
        hp.tl.predict(a)
    assert "Re-run `hp.tl.train" in str(err.value)
    assert_unchanged(a, snap)


def test_good_kernel_values_accepted():
    check_train_entry({"kernel": {"gamma": 1.0, "on_target": 0.2, "prior": "median", "source": "graph"}}, needed_by="t")


def test_all_nan_embedding_is_an_error_not_an_empty_table(trained):
    a = trained.copy()
    a.varm["X_poincare"] = np.full_like(a.varm["X_poincare"], np.nan)
    _refused(a, ValueError, "no finite row", hp.get.embedding)


def test_repeated_new_name_in_policy_is_one_column(trained):
    new = [g for g in trained.var_names if g not in set(hp.get.rewards(trained).columns)][0]
    once = hp.tl.predict(trained, [new], kind="policy")
    twice = hp.tl.predict(trained, [new, new], kind="policy")
    assert list(twice.columns) == [new]
    np.testing.assert_allclose(twice.iloc[:, 0].to_numpy(), once.iloc[:, 0].to_numpy())


# ----------------------------------------------------------------------------------------- combinations (MED)
@pytest.mark.parametrize("sep", [None, "+"])
def test_combination_and_unplaced_targets_named_in_warnings(sep):
    a = hp.datasets.synthetic(n_cells=300, n_genes=30, n_perturbations=5, seed=0)
    sc.pp.log1p(a)
    lab = a.obs["perturbation"].astype(str).to_numpy().copy()
    lab[lab == "G003"] = "G003+G007"
    lab[lab == "G027"] = "NOTAGENE"
    a.obs["perturbation"] = pd.Categorical(lab)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting", sep=sep)
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    hp.tl.rewards(a, verbose=False)
    with pytest.warns(UserWarning, match=r"no target node in the graph.*'G003\+G007'.*'NOTAGENE'|NOTAGENE.*G003\+G007"):
        hp.tl.train(a, epochs=5, holdout=["G003+G007"], verbose=False)
    if get_ledger(a)["train"]["kernel"]["available"]:
        with pytest.warns(UserWarning, match=r"G003\+G007.*prior profile only"):
            hp.tl.predict(a, ["G003+G007", "G007"])


# ----------------------------------------------------------------------------------------- unclear errors
def test_get_design_unknown_key_is_not_run_nope_first():
    a = _rewarded()
    with pytest.raises(KeyError, match=r"No design stored under key='nope'") as e:
        hp.get.design(a, key="nope")
    assert "Run `nope`" not in str(e.value)


def test_require_step_stand_in_design_entry_under_key_is_tracked():
    a = _rewarded()
    record(a, "train", {"params": {}, "perturbations": np.asarray(["G0"])})
    record(a, "next", {"proposals": pd.DataFrame({"target": ["G5"]})}, kind="design")
    require_step(a, "next", needed_by="t")
    record(a, "train", {"params": {"seed": 1}, "perturbations": np.asarray(["G0"])})  # retrained
    with pytest.raises(ValueError, match=r"stale.*hp.tl.design\(adata, key_added='next'\)"):
        require_step(a, "next", needed_by="t")


def test_hdf5_file_that_is_not_an_anndata_is_a_clear_cli_error(tmp_path, capsys):
    import h5py

    from hyperperturb._cli import main

    f = tmp_path / "x.h5ad"
    with h5py.File(f, "w") as h:
        h["foo"] = np.arange(3)
    assert main(["info", str(f)]) == 1
    err = capsys.readouterr().err
    assert "cannot read" in err and "not another kind of HDF5 file" in err and "Traceback" not in err


def test_go_annotation_table_as_network_suggests_network_go(tmp_path):
    path = tmp_path / "gene2go.tsv"
    path.write_text(
        "entrez\tsymbol\tgo_id\tevidence\tontology\n1\tG0\tGO:0008150\tND\tBP\n2\tG1\tGO:0001553\tIEA\tBP\n"
    )
    a = screen()
    _refused(a, ValueError, r"Gene Ontology annotation table.*network='go'", lambda x: hp.pp.gene_network(x, path))


# ----------------------------------------------------------------------------------------- edits after training (LOW)
@pytest.mark.parametrize("what", ["hp_reward", "hp_adjacency"])
def test_edits_after_training_refused(trained, what):
    a = trained.copy()
    if what == "hp_reward":
        R = np.asarray(a.varm["hp_reward"]).copy()
        R[0, 0] += 1.0
        a.varm["hp_reward"] = R
    else:
        A = a.varp["hp_adjacency"].tocsr().copy()
        A.data[:] = 0.5 * A.data
        a.varp["hp_adjacency"] = A
    _refused(a, ValueError, rf"\['{what}'\] changed after `hp.tl.train`", hp.tl.predict)


def test_edit_checks_survive_h5ad_and_gene_reorder(trained, tmp_path):
    import anndata as ad

    trained.write_h5ad(tmp_path / "t.h5ad")
    b = ad.read_h5ad(tmp_path / "t.h5ad")
    b = b[:, list(b.var_names)[::-1]].copy()
    np.testing.assert_allclose(
        hp.tl.predict(b).to_numpy(), hp.tl.predict(trained).loc[list(b.var_names)].to_numpy(), rtol=1e-5, atol=1e-7
    )


def test_concatenated_trained_objects_clear_error(trained):
    import anndata as ad

    b = trained.copy()
    b.obs_names = [f"{n}-2" for n in b.obs_names]
    c = ad.concat([trained, b], uns_merge="first", merge="first")
    with pytest.raises(ValueError, match=r"cells changed since `hp.tl.rewards`.*Re-run `hp.tl.rewards"):
        hp.tl.predict(c)


def test_sigterm_while_writing_leaves_no_part_file(tmp_path):
    import os
    import signal

    from hyperperturb._utils._files import write_atomic

    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("SIGTERM is handled by the test runner here")
    out = tmp_path / "out.h5ad"

    def writer(tmp):
        tmp.write_text("partial")
        os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(SystemExit) as e:
        write_atomic(out, writer)
    assert e.value.code == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []  # neither the output nor a hidden .part file
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored


def test_greedy_design_over_tied_scores_warns():
    from hyperperturb.tl._design._design import _rank

    kw = {"coord_c": np.zeros((5, 2)), "coord_s": np.ones((1, 2)), "kappa": 1.0, "rng": np.random.default_rng(0)}
    with pytest.warns(UserWarning, match=r"5 candidates tie at the cut-off"):
        _rank("greedy", np.ones(5), degree=np.arange(5.0), n=2, **kw)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        _rank("greedy", np.arange(5.0), degree=np.zeros(5), n=2, **kw)


def test_ctrl_c_while_parsing_a_network_stays_an_interrupt(tmp_path, monkeypatch):
    path = tmp_path / "edges.csv"
    path.write_text("source,target\nG0,G1\n")

    def interrupted(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise pd.errors.ParserError("Error tokenizing data") from e

    monkeypatch.setattr(pd, "read_csv", interrupted)
    a = screen()
    snap = snapshot(a)
    with pytest.raises(KeyboardInterrupt):
        hp.pp.gene_network(a, path)
    assert_unchanged(a, snap)
