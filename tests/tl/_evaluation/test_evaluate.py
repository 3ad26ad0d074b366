"""hp.tl.evaluate: splits, leakage, detectability, summary, ledger, errors."""

from __future__ import annotations

import copy as _copy

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from scipy import sparse

import hyperperturb as hp
from hyperperturb._utils._ledger import SCHEMA_VERSIONS
from hyperperturb.tl._evaluation import _baselines as baselines_mod
from hyperperturb.tl._evaluation import _evaluate as ev_mod
from hyperperturb.tl._evaluation import _scoring as scoring_mod
from hyperperturb.tl._evaluation._metrics import ALL_METRICS, PER_SPLIT
from hyperperturb.tl._model import _predict as predict_mod
from hyperperturb.tl._model import _train as train_mod
from hyperperturb.tl._screen._halves import detectable_effects, split_half_rewards
from hyperperturb.tl._screen._read import read_screen

COLUMNS = ["split", "model", "perturbation", "metric", "value", "effect"]


def _prepare(a):
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    return a


@pytest.fixture(scope="module")
def screen():
    a = hp.datasets.synthetic(n_cells=1500, n_genes=60, n_perturbations=15, seed=0)
    _prepare(a)
    hp.pp.gene_network(a, hp.datasets.truth_network(a))
    hp.tl.rewards(a, verbose=False)
    return a


def _snapshot(a):
    return (
        _copy.deepcopy(dict(a.uns)),
        list(a.var.columns),
        list(a.varm.keys()),
        list(a.obs.columns),
    )


def _same(a, snap):
    uns, var, varm, obs = snap
    assert list(a.var.columns) == var and list(a.varm.keys()) == varm and list(a.obs.columns) == obs
    assert set(a.uns["hyperperturb"]) == set(uns["hyperperturb"])


def test_tidy_table_ledger_and_roundtrip(screen, tmp_path):
    a = screen.copy()
    hp.tl.evaluate(a, n_splits=2, models=(), baselines=("mean", "linear"), n_null=50, verbose=False)
    res = hp.get.evaluation(a)
    assert list(res.columns) == COLUMNS
    assert set(res["model"]) == {"mean", "linear"}
    assert set(res["effect"]) <= {"detectable", "none", "all"}
    assert set(res["metric"]) == set(ALL_METRICS)
    per_split = res[res["metric"].isin(PER_SPLIT)]
    assert (per_split["perturbation"] == "all").all()
    ent = a.uns["hyperperturb"]["evaluation"]
    assert ent["coverage"]["n_eligible"] == 15
    held = ent["splits"]["0"]
    assert len(held) == 3  # round(0.2 * 15)
    assert set(res.loc[(res["split"] == 0) & (res["perturbation"] != "all"), "perturbation"]) == set(held)
    summ = ent["summary"]
    assert {"model", "metric", "subset", "mean", "sd", "n", "p_vs_mean", "p_vs_linear"} <= set(summ.columns)
    path = tmp_path / "ev.h5ad"
    a.write_h5ad(path)
    b = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(
        b.uns["hyperperturb"]["evaluation"]["results"].reset_index(drop=True),
        res.reset_index(drop=True),
        check_dtype=False,
    )


def test_reproducible_with_seed(screen):
    kw = {
        "n_splits": 2,
        "models": (),
        "baselines": ("mean", "linear", "ceiling", "majority-vote"),
        "n_null": 30,
        "verbose": False,
    }
    r1 = hp.get.evaluation(hp.tl.evaluate(screen.copy(), seed=3, **kw, copy=True))
    r2 = hp.get.evaluation(hp.tl.evaluate(screen.copy(), seed=3, **kw, copy=True))
    pd.testing.assert_frame_equal(r1, r2)
    r3 = hp.get.evaluation(hp.tl.evaluate(screen.copy(), seed=4, **kw, copy=True))
    assert not r1.equals(r3)


def test_copy_returns_object_and_leaves_input(screen):
    a = screen.copy()
    snap = _snapshot(a)
    out = hp.tl.evaluate(a, n_splits=1, models=(), baselines="mean", n_null=20, verbose=False, copy=True)
    assert "evaluation" in out.uns["hyperperturb"]
    _same(a, snap)
    assert "evaluation" not in a.uns["hyperperturb"]
    # in place: returns None (one return rule); the tables come from hp.get.evaluation, as copies
    assert hp.tl.evaluate(a, n_splits=1, models=(), baselines="mean", n_null=20, verbose=False) is None
    res = hp.get.evaluation(a)
    assert list(res.columns) == ["split", "model", "perturbation", "metric", "value", "effect"]
    res.loc[:, "value"] = -99.0
    assert not (hp.get.evaluation(a)["value"] == -99.0).any()
    summary = hp.get.evaluation(a, table="summary")
    assert {"model", "metric", "subset", "mean"} <= set(summary.columns)
    assert len(hp.get.evaluation(a, table="detectability")) > 0
    with pytest.raises(ValueError, match="table"):
        hp.get.evaluation(a, table="splits")
    with pytest.raises(KeyError, match="hp.tl.evaluate"):
        hp.get.evaluation(screen.copy())


def test_baselines_only_see_training_columns(screen, monkeypatch):
    a = screen.copy()
    R = np.asarray(a.varm["hp_reward"])
    seen = []
    real_linear = ev_mod.predict_linear

    def spy(R_train, *args, **kwargs):
        seen.append(np.asarray(R_train).copy())
        return real_linear(R_train, *args, **kwargs)

    monkeypatch.setattr(ev_mod, "predict_linear", spy)
    hp.tl.evaluate(a, n_splits=3, models=(), baselines=("linear",), n_null=20, verbose=False)
    names = list(read_screen(a, needed_by="t").names)
    splits = a.uns["hyperperturb"]["evaluation"]["splits"]
    assert len(seen) == 2 * 3  # per split: held-out prediction + in-sample policy (policy_auroc), same R_train
    for s, R_train in enumerate(seen[0::2]):
        np.testing.assert_array_equal(R_train, seen[2 * s + 1])
        held = [names.index(n) for n in splits[str(s)]]
        assert R_train.shape[1] == R.shape[1] - len(held)
        for h in held:  # no held-out column appears among the training columns
            assert not any(np.allclose(R[:, h], R_train[:, j]) for j in range(R_train.shape[1]))


def test_models_get_holdout_and_scores_are_used(screen, monkeypatch):
    """Model plumbing with a stand-in for hp.tl.train/predict: holdout = the split, copy=True, held-out scored."""
    a = screen.copy()
    calls = []

    def fake_train(obj, **kw):
        calls.append(kw)
        assert kw["copy"] is True
        out = obj.copy()
        out.uns["fake_holdout"] = list(kw["holdout"])
        return out

    def fake_predict(obj, perturbations=None, *, kind="policy", **kw):
        R = pd.DataFrame(
            np.asarray(obj.varm["hp_reward"]), index=obj.var_names, columns=read_screen(obj, needed_by="t").names
        )
        # an oracle: returns the observed profile, so excess correlations must be 1
        return R[list(perturbations)]

    monkeypatch.setattr(train_mod, "train", fake_train)  # evaluate imports them directly from these modules
    monkeypatch.setattr(predict_mod, "predict", fake_predict)
    hp.tl.evaluate(
        a,
        n_splits=2,
        models=("hyperperturb", "hyperperturb-euclidean"),
        baselines=("mean", "shuffled-network"),
        n_null=20,
        verbose=False,
        train_kwargs={"epochs": 3},
    )
    res = hp.get.evaluation(a)
    splits = a.uns["hyperperturb"]["evaluation"]["splits"]
    geoms = [c["geometry"] for c in calls]
    assert geoms.count("poincare") == 4 and geoms.count("euclidean") == 2  # 2 splits x (2 poincare-based + 1)
    for c in calls:
        assert c["epochs"] == 3
        assert sorted(c["holdout"]) in (sorted(splits["0"]), sorted(splits["1"]))
    oracle = res[(res["model"] == "hyperperturb") & (res["metric"] == "spearman_excess")]["value"]
    np.testing.assert_allclose(oracle, 1.0)
    summ = a.uns["hyperperturb"]["evaluation"]["summary"]
    row = summ[(summ.model == "hyperperturb") & (summ.metric == "spearman_excess") & (summ.subset == "all")].iloc[0]
    assert row["mean"] == pytest.approx(1.0)
    assert row["p_vs_mean"] < 0.05  # 6 paired perturbations, all better than the mean baseline


def _toy_cells(effects, n_ctrl=300, n_per=80, n_genes=30, seed=0):
    """Log-normal-ish expression; perturbation k shifts the genes in effects[k] by +1.5."""
    rng = np.random.default_rng(seed)
    labels = ["non-targeting"] * n_ctrl
    blocks = [rng.gamma(2.0, 0.5, (n_ctrl, n_genes))]
    for k, genes in enumerate(effects):
        x = rng.gamma(2.0, 0.5, (n_per, n_genes))
        x[:, genes] += 1.5
        blocks.append(x)
        labels += [f"g{k}"] * n_per
    X = sparse.csr_matrix(np.vstack(blocks))
    a = ad.AnnData(X, obs=pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(X.shape[0])]))
    a.var_names = [f"g{i}" for i in range(n_genes)]
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    hp.tl.rewards(a, verbose=False)
    return a


def test_detectability_separates_effect_from_none():
    a = _toy_cells([[0, 1, 2, 3], [], [5, 6]])
    s = read_screen(a, needed_by="t")
    det, stat, thr = detectable_effects(a, s, np.arange(3), effect_level=0.05, n_null=100, rng=np.random.default_rng(0))
    order = list(s.names)
    assert det[order.index("g0")] and det[order.index("g2")]
    assert not det[order.index("g1")]
    assert (thr > 0).all() and np.isfinite(stat).all()


def test_mean_wins_when_every_perturbation_has_the_same_profile():
    a = _toy_cells([[0, 1, 2, 3, 4, 5]] * 10, n_per=60, seed=1)
    hp.tl.evaluate(a, n_splits=3, models=(), baselines=("mean", "linear"), n_null=30, verbose=False)
    res = hp.get.evaluation(a)
    m = res[res["metric"] == "spearman_excess"].groupby("model")["value"].mean()
    assert m["mean"] > 0.5
    assert m["mean"] >= m["linear"] - 0.05


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_splits": 0}, ValueError, "n_splits"),
        ({"holdout_frac": 0.0}, ValueError, "holdout_frac"),
        ({"holdout_frac": 1.0}, ValueError, "holdout_frac"),
        ({"models": ("hyperbolic",)}, ValueError, "Unknown model"),
        ({"baselines": ("medoid",)}, ValueError, "Unknown baseline"),
        ({"metrics": ("auc",)}, ValueError, "Unknown metric"),
        ({"effect_level": 2.0}, ValueError, "effect_level"),
        ({"models": (), "baselines": ()}, ValueError, "Nothing to evaluate"),
        ({"train_kwargs": {"holdout": ["x"]}}, ValueError, "must not set"),
        # seed=None raised a raw "int() argument must be ... not 'NoneType'"
        ({"seed": None}, TypeError, r"`seed` must be a non-negative integer, got None.*seed=0"),
        ({"seed": -1}, ValueError, r"`seed` must be a non-negative integer, got -1.*seed=0"),
        # a misspelt key reached hp.tl.train raw ("unexpected keyword argument")
        ({"train_kwargs": {"epochz": 2}}, TypeError, r"key 'epochz' that `hp.tl.train` does not take.*'epochs'\?"),
        ({"holdout_frac": 0.95}, ValueError, "fewer than 2"),
        ({"split": "kfold"}, ValueError, "split"),
        ({"k": 1}, ValueError, "`k`"),
        # k >= the number of genes (60): every top-k set is every gene, topk_recall 1.0 for every method
        ({"k": 1000}, ValueError, r"`k` must be smaller than the number of genes \(60\).*between 2 and 59"),
        ({"k": 60}, ValueError, r"number of genes \(60\)"),
        ({"policy_threshold": -1.0}, ValueError, "policy_threshold"),
        ({"baselines": ("majority-vote",), "metrics": ("residual_pearson",)}, ValueError, "majority-vote"),
    ],
)
def test_bad_inputs_leave_object_unchanged(screen, kwargs, exc, match):
    a = screen.copy()
    snap = _snapshot(a)
    base = {"models": (), "baselines": ("mean",), "verbose": False}
    with pytest.raises(exc, match=match):
        hp.tl.evaluate(a, **{**base, **kwargs})
    _same(a, snap)


def test_unknown_train_kwargs_are_refused_before_any_training(screen, monkeypatch):
    """The keys are checked against hp.tl.train's signature up front, naming each unknown key and a close match."""

    def boom(*args, **kwargs):
        raise AssertionError("no work before the arguments are checked")

    monkeypatch.setattr(ev_mod, "read_screen", boom)
    a = screen.copy()
    snap = _snapshot(a)
    with pytest.raises(TypeError, match=r"keys 'epochz', 'lerning_rate'.*'epochs' for 'epochz', 'learning_rate'") as e:
        hp.tl.evaluate(
            a, models=("hyperperturb",), baselines=("mean",), train_kwargs={"epochz": 2, "lerning_rate": 0.1},
            verbose=False,
        )  # fmt: skip
    assert "'holdout'" not in str(e.value)  # evaluate sets holdout itself: not offered
    _same(a, snap)


def test_k_just_below_the_number_of_genes_is_accepted(screen):
    out = hp.tl.evaluate(
        screen.copy(), k=59, n_splits=1, models=(), baselines=("mean",), n_null=20, verbose=False, copy=True
    )
    assert hp.get.evaluation(out, table="results").shape[0] > 0
    assert int(out.uns["hyperperturb"]["evaluation"]["params"]["k"]) == 59


def test_missing_rewards_is_a_clear_error():
    a = hp.datasets.synthetic(n_cells=300, n_genes=20, n_perturbations=4, seed=0)
    _prepare(a)
    snap = _snapshot(a)
    with pytest.raises(KeyError, match=r"hp.tl.rewards"):
        hp.tl.evaluate(a, models=(), baselines=("mean",), verbose=False)
    _same(a, snap)


def test_too_few_eligible_perturbations():
    a = _toy_cells([[0], [1]], n_per=30)
    with pytest.raises(ValueError, match="eligible"):
        hp.tl.evaluate(a, models=(), baselines=("mean",), verbose=False)


@pytest.mark.slow
def test_end_to_end_with_real_training(screen):
    """One split with the real hp.tl.train/predict (few epochs): finite scores, holdout recorded in the model."""
    a = screen.copy()
    hp.tl.evaluate(
        a,
        n_splits=1,
        models=("hyperperturb",),
        baselines=("mean",),
        metrics=("spearman_excess", "js_policy"),
        train_kwargs={"epochs": 3},
        n_null=20,
        verbose=False,
    )
    res = hp.get.evaluation(a)
    m = res[res["model"] == "hyperperturb"]
    assert (m.loc[m["metric"] == "spearman_excess", "perturbation"].nunique()) == 3
    assert set(m.loc[m["metric"] == "js_policy", "effect"]) >= {"all"}
    assert np.isfinite(m["value"]).all()


@pytest.mark.slow
def test_random_embedding_floor_with_real_training(screen):
    """The floor reuses the split's training, permutes the stored positions and still predicts finite values."""
    a = screen.copy()
    hp.tl.evaluate(
        a,
        n_splits=1,
        models=("hyperperturb", "hyperperturb-random-embedding"),
        baselines=(),
        metrics=("residual_pearson", "policy_auroc"),
        train_kwargs={"epochs": 3},
        n_null=20,
        verbose=False,
    )
    res = hp.get.evaluation(a)
    assert set(res["model"]) == {"hyperperturb", "hyperperturb-random-embedding"}
    assert np.isfinite(res["value"]).all()
    keys = list(a.uns["hyperperturb"]["evaluation"]["random_embedding_keys"])
    assert "varm:X_poincare" in keys and "train:perturbation_embedding" in keys


BASE_KW = {"models": (), "n_null": 20, "verbose": False}


def test_loo_split_holds_out_each_eligible_perturbation_once(screen):
    a = screen.copy()
    hp.tl.evaluate(a, split="loo", baselines=("mean", "linear"), **BASE_KW)
    res = hp.get.evaluation(a)
    ent = a.uns["hyperperturb"]["evaluation"]
    splits = ent["splits"]
    assert len(splits) == ent["coverage"]["n_eligible"] == 15
    held = [list(v) for v in splits.values()]
    assert all(len(h) == 1 for h in held)
    assert sorted(h[0] for h in held) == sorted(read_screen(a, needed_by="t").names)
    assert ent["params"]["split"] == "loo" and ent["params"]["n_splits"] == 15
    # per-split metrics on held-out columns need 2 of them: only the in-sample policy_auroc remains
    assert set(res.loc[res["perturbation"] == "all", "metric"]) == {"policy_auroc"}
    r = res[res["metric"] == "retrieval_rank"]
    assert len(r) == 2 * 15 and r["value"].between(0, 1).all()


def test_new_metrics_mean_is_zero_ceiling_and_majority_vote(screen):
    a = screen.copy()
    hp.tl.evaluate(a, n_splits=2, baselines=("mean", "linear", "ceiling", "majority-vote"), **BASE_KW)
    res = hp.get.evaluation(a)
    mean = res[res["model"] == "mean"].set_index("metric")["value"]
    assert (mean.loc["residual_pearson"] == 0.0).all()  # exactly 0 by construction, not NaN
    assert (mean.loc["retrieval_rank"] == 0.5).all()
    assert (mean.loc["policy_auroc"] == 0.5).all()
    assert set(res.loc[res["model"] == "majority-vote", "metric"]) == {"policy_auroc"}
    ceil = res[(res["model"] == "ceiling") & (res["metric"] == "residual_pearson")]["value"]
    assert len(ceil) == 2 * 3 and np.isfinite(ceil).all() and ceil.mean() > 0.3
    summ = a.uns["hyperperturb"]["evaluation"]["summary"]
    assert set(summ["subset"]) <= {"all", "detectable", "none"}
    row = summ[(summ.model == "mean") & (summ.metric == "residual_pearson") & (summ.subset == "all")].iloc[0]
    assert row["mean"] == 0.0 and row["n"] == 6
    r = a.uns["hyperperturb"]["evaluation"]["detectability"]["split_half_r"]
    assert np.isfinite(r).all() and (r <= 1).all()


def test_corrupting_heldout_columns_leaves_baseline_and_ceiling_predictions_unchanged(screen, monkeypatch):
    """No leakage: predictions of held-out perturbations never read their columns of .varm['hp_reward']."""
    kw = {"n_splits": 1, "seed": 5, "baselines": ("mean", "median", "linear", "ceiling", "majority-vote"), **BASE_KW}

    def run(a):
        preds = []
        real_score, real_auc = ev_mod.score_split, ev_mod._policy_auroc

        def spy_score(pred, *args, **kwargs):
            preds.append(np.asarray(pred).copy())
            return real_score(pred, *args, **kwargs)

        def spy_auc(scores, labels):
            preds.append(np.asarray(scores).copy())
            return real_auc(scores, labels)

        with monkeypatch.context() as mp:
            for mod in (ev_mod, scoring_mod):  # evaluate and its ceiling rows (in _evaluate_scoring)
                mp.setattr(mod, "score_split", spy_score)
                mp.setattr(mod, "_policy_auroc", spy_auc)
            hp.tl.evaluate(a, **kw)
        return preds

    a = screen.copy()
    clean = run(a)
    names = list(read_screen(a, needed_by="t").names)
    held = [names.index(n) for n in a.uns["hyperperturb"]["evaluation"]["splits"]["0"]]
    b = screen.copy()
    R = np.array(b.varm["hp_reward"])
    R[:, held] = np.random.default_rng(0).uniform(0, 50, (R.shape[0], len(held)))
    b.varm["hp_reward"] = R
    corrupted = run(b)
    assert b.uns["hyperperturb"]["evaluation"]["splits"]["0"] == a.uns["hyperperturb"]["evaluation"]["splits"]["0"]
    assert len(clean) == len(corrupted) > 0
    for x, y in zip(clean, corrupted, strict=True):
        np.testing.assert_array_equal(x, y)


def test_split_half_rewards_average_to_the_full_reward(screen):
    """Per-cell rewards of the two halves average to the full reward; pseudo-bulk shifts obey the triangle bound."""
    s = read_screen(screen, needed_by="t")
    cols = np.arange(s.names.size)
    A, B, n = split_half_rewards(screen, s, cols, rng=np.random.default_rng(0), chunk_size=97)
    nA = n // 2
    if s.shift:  # |mean - c| of each half: the full shift is at most their cell-weighted average (triangle inequality)
        assert (s.reward <= (nA * A + (n - nA) * B) / n + 1e-12).all()
        assert (A >= 0).all() and (B >= 0).all()
    else:
        np.testing.assert_allclose((nA * A + (n - nA) * B) / n, s.reward, rtol=1e-9, atol=1e-12)
    assert not np.allclose(A, B)
    A2, _, _ = split_half_rewards(screen, s, cols, rng=np.random.default_rng(0))
    np.testing.assert_allclose(A, A2, rtol=1e-12)  # seeded: the same halves (chunking changes only rounding)


def test_summarize_reports_detectable_and_undetectable_separately():
    rows = []
    for s in range(2):
        for j, eff in enumerate(["detectable", "detectable", "none"]):
            for m, v in (("a", 0.5 + j), ("b", 0.1 * j)):
                rows.append({"split": s, "model": m, "perturbation": f"p{j}", "metric": "x", "value": v, "effect": eff})
    summ = ev_mod.summarize(pd.DataFrame(rows))
    got = summ.set_index(["model", "subset"])["mean"]
    assert got[("a", "all")] == pytest.approx(1.5)
    assert got[("a", "detectable")] == pytest.approx(1.0)
    assert got[("a", "none")] == pytest.approx(2.5)
    assert summ.set_index(["model", "subset"])["n"][("b", "none")] == 2


def test_random_embedding_floor_permutes_positions_of_a_copy(screen, monkeypatch):
    """With stand-ins whose prediction reads the stored perturbation positions: the floor loses the signal, the
    cached model it was permuted from does not (one training per split is shared)."""
    a = screen.copy()
    names = list(read_screen(a, needed_by="t").names)
    calls = []

    def fake_train(obj, **kw):
        calls.append(kw)
        out = obj.copy()
        out.varm["X_poincare"] = np.random.default_rng(0).uniform(-0.5, 0.5, (out.n_vars, 2))
        out.uns["hyperperturb"]["train"] = {
            "schema": SCHEMA_VERSIONS["train"],
            "params": {},
            "perturbations": names,
            "perturbation_embedding": np.eye(len(names)),  # row i "points at" perturbation i
        }
        return out

    def fake_predict(obj, perturbations=None, *, kind="policy", **kw):
        E = np.asarray(obj.uns["hyperperturb"]["train"]["perturbation_embedding"])
        R = np.asarray(obj.varm["hp_reward"])
        cols = [int(np.argmax(E[names.index(p)])) for p in perturbations]
        return pd.DataFrame(R[:, cols], index=obj.var_names, columns=list(perturbations))

    monkeypatch.setattr(train_mod, "train", fake_train)
    monkeypatch.setattr(predict_mod, "predict", fake_predict)
    hp.tl.evaluate(
        a,
        n_splits=3,
        models=("hyperperturb-random-embedding", "hyperperturb"),
        baselines=("mean",),
        metrics=("residual_pearson",),
        n_null=20,
        verbose=False,
    )
    res = hp.get.evaluation(a)
    assert len(calls) == 3  # the floor's training is reused by "hyperperturb"
    v = res.groupby("model")["value"].mean()
    assert v["hyperperturb"] == pytest.approx(1.0)  # the cached model was not permuted in place
    assert v["hyperperturb-random-embedding"] < 0.8
    keys = list(a.uns["hyperperturb"]["evaluation"]["random_embedding_keys"])
    assert keys == ["varm:X_poincare", "train:perturbation_embedding"]


# ---- issue 16: bounded cost on large screens (max_heldout), one linear fit per split


def test_max_heldout_above_the_screen_changes_nothing(screen):
    kw = {"n_splits": 2, "models": (), "baselines": ("mean", "linear", "ceiling"), "n_null": 20, "verbose": False}
    a, b = screen.copy(), screen.copy()
    hp.tl.evaluate(a, **kw)
    r_default = hp.get.evaluation(a)
    hp.tl.evaluate(b, max_heldout=None, **kw)
    r_none = hp.get.evaluation(b)
    pd.testing.assert_frame_equal(r_default, r_none)
    ent = a.uns["hyperperturb"]["evaluation"]
    assert ent["scored"] == ent["splits"] and ent["params"]["max_heldout"] == 200


@pytest.mark.slow
def test_max_heldout_scores_a_seeded_subsample_but_trains_without_all(screen, monkeypatch):
    holdouts = []
    real_train = train_mod.train

    def spy_train(*args, holdout=None, **kw):
        holdouts.append(list(holdout))
        kw["epochs"] = 2
        return real_train(*args, holdout=holdout, **kw)

    monkeypatch.setattr(train_mod, "train", spy_train)
    kw = {"n_splits": 2, "holdout_frac": 0.4, "n_null": 20, "verbose": False, "seed": 1}
    a = screen.copy()
    hp.tl.evaluate(a, models=("hyperperturb",), baselines=("mean", "ceiling"), max_heldout=2, **kw)
    res = hp.get.evaluation(a)
    ent = a.uns["hyperperturb"]["evaluation"]
    for s in ("0", "1"):
        held, scored = ent["splits"][s], ent["scored"][s]
        assert len(held) == 6 and len(scored) == 2 and set(scored) <= set(held)
        rows = res[(res["split"] == int(s)) & (res["perturbation"] != "all")]
        assert set(rows["perturbation"]) == set(scored)  # every method scores the same subsample
        assert set(rows["model"]) == {"hyperperturb", "mean", "ceiling"}
        assert sorted(holdouts[int(s)]) == sorted(held)  # the model never saw any held-out perturbation
    assert set(ent["detectability"]["perturbation"]) == set(ent["scored"]["0"]) | set(ent["scored"]["1"])
    b = screen.copy()
    hp.tl.evaluate(b, models=("hyperperturb",), baselines=("mean", "ceiling"), max_heldout=2, **kw)
    assert b.uns["hyperperturb"]["evaluation"]["scored"] == ent["scored"]  # seeded


def test_max_heldout_caps_leave_one_out_splits(screen):
    a = screen.copy()
    hp.tl.evaluate(a, split="loo", models=(), baselines=("mean",), n_null=20, max_heldout=4, verbose=False)
    res = hp.get.evaluation(a)
    ent = a.uns["hyperperturb"]["evaluation"]
    assert len(ent["splits"]) == 4 and all(len(v) == 1 for v in ent["splits"].values())
    assert res["split"].nunique() == 4


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, True, "all"])
def test_max_heldout_bad_values(screen, bad):
    a = screen.copy()
    snap = _snapshot(a)
    with pytest.raises(ValueError, match="max_heldout"):
        hp.tl.evaluate(a, models=(), baselines=("mean",), max_heldout=bad, verbose=False)
    _same(a, snap)
    assert "evaluation" not in a.uns["hyperperturb"]


def test_linear_baseline_fits_once_per_split(screen, monkeypatch):
    calls = []
    real_fit = baselines_mod.fit_linear

    def spy(*args, **kwargs):
        calls.append(1)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(ev_mod, "fit_linear", spy)
    monkeypatch.setattr(baselines_mod, "fit_linear", spy)
    hp.tl.evaluate(screen.copy(), n_splits=3, models=(), baselines=("linear",), n_null=20, verbose=False)
    assert len(calls) == 3


def test_progress_per_split_and_headline_in_the_log(screen, capsys):
    from hyperperturb._utils._log import override_verbosity

    a = screen.copy()
    with override_verbosity(2):
        hp.tl.evaluate(a, n_splits=2, models=(), baselines=("mean", "median", "ceiling"), n_null=20, verbose=False)
    err = capsys.readouterr().err
    assert "evaluate: split 1/2 done" in err and "evaluate: split 2/2 done" in err
    assert "headline" in err and "best_baseline" in err
    head = hp.get.evaluation(a, table="headline")
    assert head["best_baseline"].isin(["mean", "median"]).all()
    assert np.isfinite(head["ceiling"]).any() and head["floor"].isna().all()
    with override_verbosity(1):  # warnings only: no per-split lines
        hp.tl.evaluate(a, n_splits=2, models=(), baselines=("mean",), n_null=20, verbose=False)
    assert "split 1/2" not in capsys.readouterr().err


def test_split_half_mean_abs_lfc_rewards_average_exactly(screen):
    a = screen.copy()
    hp.tl.rewards(a, statistic="mean_abs_lfc", verbose=False)
    s = read_screen(a, needed_by="t")
    assert not s.shift
    A, B, n = split_half_rewards(a, s, np.arange(s.names.size), rng=np.random.default_rng(0), chunk_size=97)
    nA = n // 2
    np.testing.assert_allclose((nA * A + (n - nA) * B) / n, s.reward, rtol=1e-9, atol=1e-12)
