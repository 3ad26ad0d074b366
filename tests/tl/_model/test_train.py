"""Tests of ``hp.tl.train`` on a small synthetic screen."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import hyperperturb as hp
from hyperperturb._utils import get_ledger

EPOCHS = 30


def _prepared(seed: int = 0, n_genes: int = 60, n_perturbations: int = 8, protein: bool = False):
    data = hp.datasets.synthetic(
        n_cells=600, n_genes=n_genes, n_perturbations=n_perturbations, seed=seed, protein=protein, as_mudata=protein
    )
    rna = data.mod["rna"] if protein else data
    sc.pp.normalize_total(rna)
    sc.pp.log1p(rna)
    hp.pp.perturbations(data, key="perturbation", control="non-targeting")
    hp.pp.gene_network(data, hp.datasets.truth_network(data))
    hp.tl.rewards(data)
    return data


@pytest.fixture(scope="module")
def screen():
    return _prepared()


@pytest.fixture(scope="module")
def trained(screen):
    return hp.tl.train(screen, epochs=EPOCHS, verbose=False, copy=True)


def _snapshot(adata):
    return {
        "varm": sorted(adata.varm.keys()),
        "var": list(adata.var.columns),
        "ledger": sorted(get_ledger(adata)),
        "uns": copy.deepcopy(
            {k: sorted(v) if isinstance(v, dict) else v for k, v in adata.uns.items() if k == "hyperperturb"}
        ),
    }


def test_train_writes_contract(trained):
    a = trained
    e = a.uns["hyperperturb"]["train"]
    z = a.varm["X_poincare"]
    assert z.shape == (a.n_vars, 2)
    assert np.all(np.linalg.norm(z, axis=1) < 1.0)
    np.testing.assert_allclose(a.varm["hp_policy"].sum(1), 1.0, atol=1e-5)
    assert np.isfinite(a.var["hp_value"]).all()
    h = e["history"]
    for k in ("loss", "policy_loss", "value_loss", "graph_loss", "policy_mae", "value_mae", "learning_rate"):
        assert len(h[k]) == EPOCHS, k
        assert np.isfinite(h[k]).all(), k
    # the policy KL grows with the curriculum (more perturbations); the value fit must improve
    assert h["value_loss"][-1] < h["value_loss"][0]
    assert e["params"]["graph_weight"] == 1.0 and h["graph_loss"][0] > 0
    assert h["complexity"][0] == pytest.approx(0.25) and h["complexity"][-1] == 1.0
    assert e["params"]["dim"] == 2 and "key_added" not in e["params"]
    assert len(e["perturbations"]) == e["perturbation_embedding"].shape[0] == len(e["scorable"])
    assert e["scorable"].all()  # every synthetic target is a gene of the graph
    assert all(":" in k for k in e["weights"])


def test_input_untouched_without_copy(screen, trained):
    assert "X_poincare" not in screen.varm
    assert "train" not in get_ledger(screen)


def _assert_in_sample_policy_follows_the_data(a, head: np.ndarray) -> None:
    """hp_policy rows are distributions that rank a gene's perturbations at least as the data does as the heads do."""
    from scipy.stats import spearmanr

    P = np.asarray(a.varm["hp_policy"], dtype=np.float64)
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-5)
    assert (P >= 0).all()
    E = np.asarray(a.varm["hp_reward"]) - a.var["hp_reward_baseline"].to_numpy()[:, None]
    top = np.argsort(-E.max(1))[:20]  # the most responsive genes
    rho = lambda X: np.nanmean([spearmanr(X[g], E[g])[0] for g in top])
    assert rho(P) > 0.5 and rho(P) >= rho(head) - 0.05


def test_round_trip_predict_identical(trained, tmp_path):
    head = hp.tl.predict(trained, method="head")
    _assert_in_sample_policy_follows_the_data(trained, head.to_numpy())
    before = hp.tl.predict(trained)  # auto: the kernel readout
    before_r = hp.tl.predict(trained, kind="reward")
    path = tmp_path / "t.h5ad"
    trained.write_h5ad(path)
    back = sc.read_h5ad(path)
    pd.testing.assert_frame_equal(before, hp.tl.predict(back))
    pd.testing.assert_frame_equal(head, hp.tl.predict(back, method="head"))
    r = hp.tl.predict(back, kind="reward")
    pd.testing.assert_frame_equal(before_r, r)
    # policy = excess (reward - noise floor B) normalised per gene; the head's reward sits on B
    B = back.var["hp_reward_baseline"].to_numpy()
    ex = np.clip(r.to_numpy() - B[:, None], 0, None)
    ok = ex.sum(1) > 0  # genes with no excess at all get a uniform policy
    np.testing.assert_allclose(ex[ok] / ex[ok].sum(1, keepdims=True), before.to_numpy()[ok], rtol=1e-6, atol=1e-12)
    rh = hp.tl.predict(back, kind="reward", method="head").to_numpy()
    assert (rh >= B[:, None] - 1e-9).all()
    # hp_value: the mean over trained perturbations of the excess combined with the readout (like hp_policy); it
    # follows the value target (mean observed excess beyond the noise floor)
    from scipy.stats import spearmanr

    assert spearmanr(back.var["hp_value"], back.var["hp_value_target"])[0] > 0.7


def test_predict_unseen_perturbation(trained):
    trained_perts = set(trained.uns["hyperperturb"]["train"]["perturbations"])
    new = [g for g in trained.var_names if g not in trained_perts][:2]
    df = hp.tl.predict(trained, new)
    assert list(df.columns) == new and np.isfinite(df.to_numpy()).all()
    with pytest.raises(ValueError, match="neither trained"):
        hp.tl.predict(trained, ["NOT_A_GENE"])


def test_same_seed_identical_other_seed_different(screen, trained):
    again = hp.tl.train(screen, epochs=EPOCHS, verbose=False, copy=True)
    np.testing.assert_array_equal(again.varm["X_poincare"], trained.varm["X_poincare"])
    other = hp.tl.train(screen, epochs=EPOCHS, verbose=False, copy=True, seed=1)
    assert not np.allclose(other.varm["X_poincare"], trained.varm["X_poincare"])


def test_holdout_regulator_scores_above_leaf():
    a = _prepared(seed=0, n_genes=80, n_perturbations=10)
    led = get_ledger(a)
    names = list(led["rewards"]["perturbations"])
    tmap = dict(zip(led["perturbations"]["names"], led["perturbations"]["targets"], strict=True))
    nd = a.var["n_descendants"]
    strength = {p: nd[tmap[p]] for p in names}
    reg = max(strength, key=strength.get)
    leaf = min(strength, key=strength.get)
    assert strength[reg] > strength[leaf]
    hp.tl.train(a, epochs=60, holdout=[reg, leaf], verbose=False)
    e = a.uns["hyperperturb"]["train"]
    assert list(e["params"]["holdout"]) == [reg, leaf]
    r = hp.tl.predict(a, [reg, leaf], kind="reward", method="head")
    observed = pd.DataFrame(a.varm["hp_reward"], index=a.var_names, columns=names)
    # the held-out regulator is predicted to move more genes than the held-out leaf, as observed
    assert r[reg].sum() > r[leaf].sum()
    assert observed[reg].sum() > observed[leaf].sum()


def test_mudata_protein_nodes():
    m = _prepared(seed=0, n_genes=40, n_perturbations=6, protein=True)
    hp.tl.train(m, epochs=10, verbose=False)
    p = m.mod["prot"]
    assert p.varm["X_poincare"].shape == (p.n_vars, 2)
    assert np.all(np.linalg.norm(p.varm["X_poincare"], axis=1) < 1)
    np.testing.assert_allclose(p.varm["hp_policy"].sum(1), 1.0, atol=1e-5)
    assert "hp_value" in p.var
    e = m.mod["rna"].uns["hyperperturb"]["train"]
    assert int(e["graph"]["n_prot"]) == p.n_vars
    df = hp.tl.predict(m)
    assert df.shape[0] == m.mod["rna"].n_vars


def test_graph_loss_improves_reconstruction_and_is_deterministic(screen):
    # without the network map (refine=None) the embedding is the convolutions' output: the graph loss shapes it
    kw = {"epochs": 40, "verbose": False, "copy": True, "curriculum": False, "refine": None}
    on = hp.tl.train(screen, **kw)
    off = hp.tl.train(screen, **kw, graph_weight=0.0)
    again = hp.tl.train(screen, **kw)
    np.testing.assert_array_equal(on.varm["X_poincare"], again.varm["X_poincare"])  # seeded negatives
    assert np.all(off.uns["hyperperturb"]["train"]["history"]["graph_loss"] == 0)
    m_on = hp.tl.embedding_quality(on).set_index("metric").loc["map", "value"]
    m_off = hp.tl.embedding_quality(off).set_index("metric").loc["map", "value"]
    assert m_on > m_off


@pytest.mark.parametrize(
    ("kw", "head"),
    [
        ({"model": "simple"}, None),
        ({"geometry": "euclidean"}, None),
        pytest.param({"head": "dense"}, "dense", marks=pytest.mark.slow),
    ],
)
def test_variants_train(screen, kw, head):
    a = hp.tl.train(screen, epochs=15, verbose=False, copy=True, curriculum=False, **kw)
    assert a.varm["X_poincare"].shape == (a.n_vars, 2)
    np.testing.assert_allclose(a.varm["hp_policy"].sum(1), 1.0, atol=1e-5)
    e = a.uns["hyperperturb"]["train"]
    assert e["history"]["value_loss"][-1] < e["history"]["value_loss"][0]
    df = hp.tl.predict(a, method="head")
    if kw.get("model") == "simple":  # no held-out readout: hp_policy is the model's own policy
        np.testing.assert_allclose(df.to_numpy(), a.varm["hp_policy"], atol=1e-5)
    else:  # hp_policy of trained perturbations: the observed excess combined with the readout (not the heads)
        _assert_in_sample_policy_follows_the_data(a, df.to_numpy())
    if head == "dense" or kw.get("model") == "simple":
        with pytest.raises(ValueError, match="distance"):
            hp.tl.predict(a, [str(a.var_names[0])])


def test_learned_curvature_and_dim(screen):
    a = hp.tl.train(screen, epochs=5, verbose=False, copy=True, dim=3, learn_curvature=True)
    assert a.varm["X_poincare"].shape == (a.n_vars, 3)
    c = a.uns["hyperperturb"]["train"]["params"]["curvature"]
    assert c > 0 and c != 1.0


@pytest.mark.slow
def test_a_second_training_replaces_every_output_of_the_first(screen):
    # one trained model per object: the embedding, policy, value and ledger entry all belong to the last training
    a = hp.tl.train(screen, epochs=3, verbose=False, copy=True)
    b = hp.tl.train(a, epochs=3, verbose=False, geometry="euclidean", copy=True)
    assert sorted(b.varm) == sorted(a.varm)
    assert b.uns["hyperperturb"]["train"]["params"]["geometry"] == "euclidean"
    assert "key_added" not in b.uns["hyperperturb"]["train"]["params"]
    assert not np.array_equal(b.varm["X_poincare"], a.varm["X_poincare"])
    # hp_policy of trained perturbations comes from the data and the network readout, which does not read the map:
    # the same under both geometries here; the second training still wrote its own (same shape, finite)
    assert b.varm["hp_policy"].shape == a.varm["hp_policy"].shape and np.isfinite(b.varm["hp_policy"]).all()
    with pytest.raises(TypeError, match="key_added"):
        hp.tl.train(a, epochs=3, verbose=False, key_added="X_second")


@pytest.mark.parametrize(
    ("kw", "err", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs"),
        ({"dim": 1}, ValueError, "dim"),
        ({"geometry": "sphere"}, ValueError, "geometry"),
        ({"head": "mlp"}, ValueError, "head"),
        ({"model": "big"}, ValueError, "model"),
        ({"holdout": ["NOPE"]}, ValueError, "valid names"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
        ({"graph_weight": -1.0}, ValueError, "graph_weight"),
    ],
)
def test_bad_inputs_leave_object_unchanged(screen, kw, err, match):
    before = _snapshot(screen)
    with pytest.raises(err, match=match):
        hp.tl.train(screen, verbose=False, **kw)
    assert _snapshot(screen) == before


def test_no_rewards_keyerror():
    a = hp.datasets.synthetic(n_cells=200, n_genes=20, n_perturbations=3, seed=0, as_mudata=False)
    before = _snapshot(a)
    with pytest.raises(KeyError, match="hp.tl.rewards"):
        hp.tl.train(a, verbose=False)
    assert _snapshot(a) == before


def test_interruption_leaves_object_unchanged(screen):
    import keras

    class Boom(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    a = screen.copy()
    before = _snapshot(a)
    with pytest.raises(KeyboardInterrupt):
        hp.tl.train(a, epochs=10, verbose=False, callbacks=[Boom()])
    assert _snapshot(a) == before


def test_nan_guard_names_epoch(screen):
    import keras

    class Poison(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                w = self.model.pert_bias
                w.assign(np.full(w.shape, np.nan, dtype="float32"))

    a = screen.copy()
    before = _snapshot(a)
    with pytest.raises(FloatingPointError, match="epoch 3"):
        hp.tl.train(a, epochs=5, verbose=False, callbacks=[Poison()])
    assert _snapshot(a) == before


def test_save_and_load_model(trained, tmp_path):
    import tensorflow as tf

    path = hp.tl.save_model(trained, tmp_path / "m.keras")
    model = hp.tl.load_model(path)
    from hyperperturb._utils._schema import TrainEntry, read
    from hyperperturb.tl._model._io import rebuild

    net, x, adj = rebuild(trained, read(trained, TrainEntry, needed_by="test"))
    a = net((x, adj))["policy"].numpy()
    b = model((x, adj))["policy"].numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert isinstance(model, tf.keras.Model) or hasattr(model, "predict")
    with pytest.raises(ValueError, match=".keras"):
        hp.tl.save_model(trained, tmp_path / "m.h5")
