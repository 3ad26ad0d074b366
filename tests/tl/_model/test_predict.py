"""``hp.tl.predict`` beyond what the training tests cover."""

from __future__ import annotations

import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

import hyperperturb as hp

sys.path.insert(0, str(Path(__file__).parent))
from test_train import _prepared


@pytest.fixture(scope="module")
def trained():
    a = _prepared(seed=1, n_genes=40, n_perturbations=5)
    hp.tl.train(a, epochs=15, verbose=False)
    return a


def test_predict_subset_and_kinds(trained):
    perts = list(trained.uns["hyperperturb"]["train"]["perturbations"])
    full = hp.tl.predict(trained)
    sub = hp.tl.predict(trained, perts[1:3])
    np.testing.assert_allclose(sub.to_numpy(), full[perts[1:3]].to_numpy())
    one = hp.tl.predict(trained, perts[0])
    assert list(one.columns) == [perts[0]]
    r = hp.tl.predict(trained, kind="reward")
    assert (r.to_numpy() >= 0).all()
    with pytest.raises(ValueError, match="kind"):
        hp.tl.predict(trained, kind="logits")


def test_predict_new_gene_extends_softmax(trained):
    perts = list(trained.uns["hyperperturb"]["train"]["perturbations"])
    new = next(g for g in trained.var_names if g not in perts)
    df = hp.tl.predict(trained, [*perts, new])
    np.testing.assert_allclose(df.sum(1).to_numpy(), 1.0, atol=1e-5)
    assert (df[new] >= 0).all() and (
        df[new] > 0
    ).any()  # excess-based policy: a gene the new target does not move gets 0


def test_head_reward_does_not_depend_on_the_other_perturbations_asked_for(trained):
    """The distance head scores each new perturbation against the trained ones plus itself (a probe found the
    trained perturbations' and a new one's rewards shrinking as more new targets were requested)."""
    perts = list(trained.uns["hyperperturb"]["train"]["perturbations"])
    new = [g for g in map(str, trained.var_names) if g not in perts][:6]
    every = hp.tl.predict(trained, [*perts, *new], kind="reward", method="head")
    alone = hp.tl.predict(trained, perts, kind="reward", method="head")
    np.testing.assert_allclose(every[perts].to_numpy(), alone.to_numpy(), rtol=1e-12, atol=1e-15)
    one = hp.tl.predict(trained, [new[0]], kind="reward", method="head")
    np.testing.assert_allclose(every[new[0]].to_numpy(), one[new[0]].to_numpy(), rtol=1e-12, atol=1e-15)
    assert not np.allclose(every[new[0]].to_numpy(), every[new[1]].to_numpy())  # still perturbation-specific


def test_predict_needs_training():
    a = _prepared(seed=2, n_genes=20, n_perturbations=3)
    with pytest.raises(KeyError, match="hp.tl.train"):
        hp.tl.predict(a)


def test_kernel_readout_is_stored_and_excludes_holdout():
    a = _prepared(seed=3, n_genes=50, n_perturbations=8)
    perts = list(a.uns["hyperperturb"]["rewards"]["perturbations"])
    held = perts[:2]
    b = hp.tl.train(a, epochs=10, holdout=held, verbose=False, copy=True)
    k = b.uns["hyperperturb"]["train"]["kernel"]
    assert k["available"] and k["form"] == "residual"
    assert set(k["perturbations"]) == set(perts[2:])  # held-out profiles are never sources
    assert k["tau"] > 0 and k["kappa"] >= 0 and k["n_cv"] == 6
    assert k["prior"] in ("mean", "median") and k["source"] in ("none", "graph", "embedding", "propagation")
    rel = np.asarray(k["reliability"])
    assert rel.shape == (6,) and ((rel >= 0) & (rel <= 1)).all() and bool(k["reliability_measured"])
    # transfer from neighbours is kept only when leave-one-out says it beats the prior alone
    assert np.isfinite(k["transfer_cv_gain"])
    assert k["source"] == "none" or k["transfer_cv_gain"] > 0
    # the prediction for a held-out perturbation does not change when its observed reward does
    before = hp.tl.predict(b, held, kind="reward", method="kernel")
    c = b.copy()
    R = np.asarray(c.varm["hp_reward"]).copy()
    R[:, 0] *= 10.0
    c.varm["hp_reward"] = R
    after = hp.tl.predict(c, held, kind="reward", method="kernel")
    np.testing.assert_allclose(before.to_numpy(), after.to_numpy())
    # without the on-target term, reward = B + a convex combination of the prior and training excesses
    nb = b.copy()
    nb.uns["hyperperturb"]["train"]["kernel"] = {**k, "on_target": 0.0}
    plain = hp.tl.predict(nb, held, kind="reward", method="kernel")
    # the on-target term adds one value at the targeted gene's row and nothing elsewhere: the amplitude, or in
    # "scaled" mode the amplitude times the target's control mean
    diff = before.to_numpy() - plain.to_numpy()
    assert (np.abs(diff) > 1e-12).sum() <= len(held)
    rows, cols = np.nonzero(np.abs(diff) > 1e-12)
    scale = b.var["hp_control_mean"].to_numpy()[rows] if str(k["on_target_mode"]) == "scaled" else 1.0
    np.testing.assert_allclose(diff[rows, cols], float(k["on_target"]) * scale)
    assert all(str(b.var_names[r]) == held[c] for r, c in zip(rows, cols, strict=True))
    if str(k["source"]) != "propagation":  # a convex combination stays within the training range
        Rtr = np.asarray(b.varm["hp_reward"])[:, 2:]
        assert (plain.to_numpy() >= Rtr.min(1, keepdims=True) - 1e-9).all()
        assert (plain.to_numpy() <= Rtr.max(1, keepdims=True) + 1e-9).all()


def test_held_out_data_never_reaches_the_readout_or_its_choice():
    """Corrupting everything of the held-out perturbations (rewards, policy targets, cells) changes nothing."""
    a = _prepared(seed=4, n_genes=50, n_perturbations=8)
    perts = list(a.uns["hyperperturb"]["rewards"]["perturbations"])
    held = perts[:2]
    b = hp.tl.train(a, epochs=8, holdout=held, verbose=False, copy=True)
    c = a.copy()
    R = np.asarray(c.varm["hp_reward"]).copy()
    R[:, :2] = R[:, :2][::-1] * 7.0 + 0.3
    c.varm["hp_reward"] = R
    T = np.asarray(c.varm["hp_policy_target"]).copy()
    T[:, :2] = T[:, [1, 0]]  # rows must still sum to 1: swap the held-out columns
    c.varm["hp_policy_target"] = T
    design = np.asarray(c.obsm["perturbation_target"].todense() if hasattr(c.obsm["perturbation_target"], "todense")
                        else c.obsm["perturbation_target"])  # fmt: skip
    names = list(c.uns["hyperperturb"]["perturbations"]["names"])
    cells = (design[:, [names.index(h) for h in held]] > 0.5).any(axis=1)
    X = c.X.toarray() if hasattr(c.X, "toarray") else np.asarray(c.X).copy()
    X[cells] = X[cells][::-1] * 3.0
    c.X = X
    d = hp.tl.train(c, epochs=8, holdout=held, verbose=False, copy=True)
    kb, kd = b.uns["hyperperturb"]["train"]["kernel"], d.uns["hyperperturb"]["train"]["kernel"]
    for key in ("prior", "source", "tau", "kappa", "gamma", "on_target", "cv_score"):
        assert kb[key] == kd[key], key
    np.testing.assert_array_equal(np.asarray(kb["reliability"]), np.asarray(kd["reliability"]))
    np.testing.assert_allclose(
        hp.tl.predict(b, held, kind="reward").to_numpy(), hp.tl.predict(d, held, kind="reward").to_numpy()
    )


def test_kernel_with_the_prior_alone_is_the_leave_one_out_prior_and_methods_differ(trained):
    e = trained.uns["hyperperturb"]["train"]
    perts = list(e["perturbations"])
    head = hp.tl.predict(trained, kind="reward", method="head")
    kern = hp.tl.predict(trained, kind="reward", method="kernel")
    assert not np.allclose(head.to_numpy(), kern.to_numpy())
    R = np.asarray(trained.varm["hp_reward"])
    B = np.asarray(e["reward_baseline"])[:, None]
    for prior, f in (("mean", np.mean), ("median", np.median)):
        b = trained.copy()
        b.uns["hyperperturb"]["train"]["kernel"] = {**e["kernel"], "source": "none", "prior": prior, "on_target": 0.0}
        r = hp.tl.predict(b, perts, kind="reward", method="kernel").to_numpy()
        # a trained perturbation never uses its own profile
        loo = np.column_stack([f(np.delete(R - B, j, axis=1), axis=1) for j in range(R.shape[1])]) + B
        np.testing.assert_allclose(r, loo, rtol=1e-6, atol=1e-9)


def test_predict_method_errors(trained):
    with pytest.raises(ValueError, match="method"):
        hp.tl.predict(trained, method="nearest")
    b = trained.copy()
    b.uns["hyperperturb"]["train"]["kernel"] = {"available": False}
    with pytest.raises(ValueError, match="method='head'"):
        hp.tl.predict(b, method="kernel")
    np.testing.assert_allclose(hp.tl.predict(b).to_numpy(), hp.tl.predict(b, method="head").to_numpy())


@pytest.mark.parametrize("form", ["mixture", "adaptive", None])
def test_readouts_of_earlier_versions_are_refused(trained, form):
    """The mixture/adaptive kernel readouts were removed: such a ledger is refused with the re-run message."""
    e = trained.uns["hyperperturb"]["train"]
    old = {k: v for k, v in e["kernel"].items() if k != "form"}
    if form is not None:
        old["form"] = form
    b = trained.copy()
    b.uns["hyperperturb"]["train"]["kernel"] = old
    with pytest.raises((ValueError, KeyError), match=r"Re-run `hp.tl.train"):
        hp.tl.predict(b, method="kernel")


def test_ledger_without_the_excess_parametrisation_is_refused(trained):
    """A train entry from before the heads predicted the excess (no ``value_unit``) is refused, never guessed."""
    b = trained.copy()
    del b.uns["hyperperturb"]["train"]["value_unit"]
    with pytest.raises(KeyError, match=r"lacks 'value_unit'.*Re-run `hp.tl.train"):
        hp.tl.predict(b, method="head")


def test_residual_readout_with_signed_rewards_and_after_h5ad_round_trip(tmp_path):
    a = _prepared(seed=5, n_genes=40, n_perturbations=6)
    hp.tl.rewards(a, signed=True, verbose=False)
    perts = list(a.uns["hyperperturb"]["rewards"]["perturbations"])
    b = hp.tl.train(a, epochs=8, holdout=perts[:1], verbose=False, copy=True)
    k = b.uns["hyperperturb"]["train"]["kernel"]
    assert k["form"] == "residual" and k["available"]
    before = hp.tl.predict(b, perts, kind="reward", method="kernel")
    assert np.isfinite(before.to_numpy()).all()
    assert (before.to_numpy() < 0).any()  # signed: predicted knock-down effects keep their sign
    path = tmp_path / "signed.h5ad"
    b.write_h5ad(path)
    c = ad.read_h5ad(path)
    np.testing.assert_allclose(hp.tl.predict(c, perts, kind="reward", method="kernel").to_numpy(), before.to_numpy())


def test_in_log_propagation_reads_the_control_means_and_older_in_models_still_predict():
    a = _prepared(seed=0, n_genes=60, n_perturbations=8)
    held = list(a.uns["hyperperturb"]["rewards"]["perturbations"])[:3]
    hp.tl.train(a, epochs=3, holdout=held, verbose=False)
    k = a.uns["hyperperturb"]["train"]["kernel"]
    assert k["source"] == "propagation" and k["prop_norm"] == "in-log"  # chosen by leave-one-out on this screen
    pred = hp.tl.predict(a, held, kind="reward", method="kernel").to_numpy()
    assert np.isfinite(pred).all()
    # a model stored by the previous version ("in": the in-normalised change used as is) still predicts
    old = a.copy()
    old.uns["hyperperturb"]["train"]["kernel"] = {**k, "prop_norm": "in"}
    p_in = hp.tl.predict(old, held, kind="reward", method="kernel").to_numpy()
    assert np.isfinite(p_in).all() and not np.allclose(pred, p_in)
    # the log shift reads each gene's control mean: raising them moves the prediction where the change arrives
    hi = a.copy()
    hi.var["hp_control_mean"] = hi.var["hp_control_mean"] + 1.0
    off = ~np.isin(np.asarray(a.var_names), held)  # not the targets' own rows (the on-target term reads them too)
    moved = hp.tl.predict(hi, held, kind="reward", method="kernel").to_numpy()
    assert not np.allclose(moved[off], pred[off])
    # without them: a clear error, the object untouched
    c = a.copy()
    del c.var["hp_control_mean"]
    before = sorted(c.var.columns)
    with pytest.raises((ValueError, KeyError), match="hp_control_mean"):
        hp.tl.predict(c, held, kind="reward", method="kernel")
    assert sorted(c.var.columns) == before


def test_repeated_names_are_one_column(trained):
    """A repeated trained name gave two columns named alike, while a repeated new name gave one."""
    perts = list(trained.uns["hyperperturb"]["train"]["perturbations"])
    new = next(g for g in map(str, trained.var_names) if g not in perts)
    df = hp.tl.predict(trained, [perts[1], perts[0], perts[1], new, new, perts[0]], kind="reward")
    assert list(df.columns) == [perts[1], perts[0], new]
    np.testing.assert_array_equal(df.to_numpy(), hp.tl.predict(trained, [perts[1], perts[0], new], kind="reward"))


def test_protein_modality_says_where_the_model_is():
    """predict(mdata, mod="prot") said train had not been run, although it had (on the RNA modality)."""
    m = _prepared(seed=3, n_genes=30, n_perturbations=4, protein=True)
    hp.tl.train(m, epochs=2, verbose=False)
    with pytest.raises(ValueError, match=r"stored in modality 'rna', not in 'prot'.*mod='rna'"):
        hp.tl.predict(m, mod="prot")
    assert hp.tl.predict(m, mod="rna").shape[0] == m.mod["rna"].n_vars
