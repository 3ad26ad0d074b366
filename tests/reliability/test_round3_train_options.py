"""Documented ``hp.tl.train`` options and the readers of what they write (probe of 2026-12-05).

Each test fails on the code before its fix:

- ``geometry="euclidean"`` records curvature 0; ``hp.get.embedding`` and ``hp.pl.poincare`` called the ledger
  corrupted.
- ``on_target_mode="scaled"`` stored a factor above 10 (a lowly expressed target that rises many-fold) that every
  reader then refused as "changed after train", also after re-training.
- signed rewards: ``hp.tl.predict(kind="policy")`` clipped the signed change at 0, so a gene that only falls got a
  uniform row; ``hp.get.rank_perturbations(source="observed")`` ranked the strongest fall last.
- ``learn_curvature=True`` read the network map, fitted in the ball of the initial curvature, at the learned one
  (graph-reconstruction MAP 1.0 -> 0.4).
- ``curriculum="no"`` ran with the curriculum; ``geometry="euclidean", learn_curvature=True`` ignored the latter.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import scanpy as sc

import hyperperturb as hp

from ._snapshot import assert_unchanged, snapshot

matplotlib.use("Agg")


def _data(*, signed: bool = False, rise: float = 0.0):
    a = hp.datasets.synthetic(n_cells=300, n_genes=40, n_perturbations=6, seed=0, verbose=False)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    if rise:  # CRISPRa-like: every target rises `rise` times its control mean
        X = a.X.toarray() if hasattr(a.X, "toarray") else np.asarray(a.X, dtype=float)
        lab = a.obs["perturbation"].astype(str).to_numpy()
        cm = X[lab == "non-targeting"].mean(0)
        for p in set(lab) - {"non-targeting"}:
            if p in a.var_names:
                t = a.var_names.get_loc(p)
                X[lab == p, t] += rise * cm[t]
        a.X = X
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    hp.tl.rewards(a, signed=signed)
    return a


def test_euclidean_model_is_read_by_embedding_and_poincare():
    a = _data()
    hp.tl.train(a, geometry="euclidean", epochs=20, seed=0, verbose=False)
    df = hp.get.embedding(a, extra_nodes=False)
    X = np.asarray(a.varm["X_poincare"])
    np.testing.assert_allclose(df["radius"].to_numpy(), np.linalg.norm(X, axis=1))  # flat: distance to the origin
    fig = hp.pl.poincare(a, show=False)
    assert fig is not None


def test_scaled_on_target_factor_above_ten_is_read_back():
    a = _data(rise=15.0)
    hp.tl.train(a, epochs=10, seed=0, verbose=False)
    k = a.uns["hyperperturb"]["train"]["kernel"]
    assert str(k["on_target_mode"]) == "scaled" and float(k["on_target"]) > 10  # what the old readers refused
    R = hp.tl.predict(a, kind="reward")
    assert np.isfinite(R.to_numpy()).all()
    for p in R.columns:  # the predicted profile of a knock-in rises at its target
        assert R.loc[p, p] > np.median(R.loc[p].to_numpy())
    hp.get.readout(a)
    # a tampered factor far beyond what these rewards can fit is still refused
    k["on_target"] = float(k["on_target"]) * 1e3
    with pytest.raises(ValueError, match="on_target"):
        hp.tl.predict(a, kind="reward")


def test_signed_rewards_policy_ranks_the_magnitude_of_the_change():
    a = _data(signed=True)
    hp.tl.train(a, epochs=20, seed=0, verbose=False)
    rew = hp.tl.predict(a, kind="reward")
    pol = hp.tl.predict(a, kind="policy")
    mag = np.abs(rew.to_numpy())  # signed rewards have no noise floor (B = 0)
    s = mag.sum(1, keepdims=True)
    want = np.where(s > 0, mag / np.where(s > 0, s, 1), 1 / mag.shape[1])
    np.testing.assert_allclose(pol.to_numpy(), want, atol=1e-12)
    falls_only = (rew.to_numpy() <= 0).all(1) & (rew.to_numpy() < 0).any(1)
    assert falls_only.any()  # genes that every perturbation lowers: their policy is not uniform
    assert not np.allclose(pol.to_numpy()[falls_only], 1 / pol.shape[1])


def test_observed_signed_rewards_rank_by_magnitude():
    a = _data(signed=True)
    R = np.asarray(a.varm["hp_reward"])
    g = int(np.argmin(R.min(1)))  # the gene with the strongest fall anywhere
    df = hp.get.rank_perturbations(a, str(a.var_names[g]), n=None, source="observed")
    assert np.isclose(df["score"].iloc[0], R[g].min())  # the strongest fall first, reported with its sign
    assert (np.diff(np.abs(df["score"].to_numpy())) <= 1e-12).all()


def test_learned_curvature_keeps_the_map():
    fixed, learned = _data(), _data()
    hp.tl.train(fixed, epochs=60, seed=0, verbose=False)
    hp.tl.train(learned, epochs=60, seed=0, learning_rate=0.05, learn_curvature=True, verbose=False)
    c = float(np.ravel(learned.uns["hyperperturb"]["train"]["params"]["curvature"])[0])
    assert abs(c - 1.0) > 0.02  # the curvature moved
    q0 = hp.tl.embedding_quality(fixed).set_index("metric")["value"]
    q1 = hp.tl.embedding_quality(learned).set_index("metric")["value"]
    assert q1["map"] >= q0["map"] - 0.05
    # a model rebuilt from the ledger reads the stored map at the recorded curvature: the written embedding back
    from hyperperturb._utils._schema import TrainEntry, read
    from hyperperturb.tl._map._network_map import refined_embedding
    from hyperperturb.tl._model._io import rebuild

    entry = read(learned, TrainEntry, needed_by="test")
    net, feats, adj = rebuild(learned, entry)
    z = refined_embedding(net, feats, adj, entry.map_embedding)[: learned.n_vars]
    np.testing.assert_allclose(z, np.asarray(learned.varm["X_poincare"]), atol=1e-5)


@pytest.mark.parametrize(
    ("kw", "err", "match"),
    [
        ({"curriculum": "no"}, TypeError, "curriculum must be True or False"),
        ({"learn_curvature": 1}, TypeError, "learn_curvature must be True or False"),
        ({"geometry": "euclidean", "learn_curvature": True}, ValueError, "flat space has no curvature"),
    ],
)
def test_bad_switches_are_refused_and_leave_the_object(kw, err, match):
    a = _data()
    snap = snapshot(a)
    with pytest.raises(err, match=match):
        hp.tl.train(a, epochs=2, seed=0, verbose=False, **kw)
    assert_unchanged(a, snap)
