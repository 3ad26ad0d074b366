"""The network's ``key_added`` (``hp.pp.gene_network``) is honoured by every later step.

A network stored under another key than ``"hp_adjacency"`` must give the same numbers as the default key: the
readers find the network's keys (adjacency, ``_sign``, ``_directed``) through its ledger entry, never the literal.
"""

from __future__ import annotations

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from matplotlib.collections import LineCollection

import hyperperturb as hp

#: Trains several models and runs evaluate/design (about a minute on 2 cores): run in CI, not by default.
pytestmark = pytest.mark.slow

KEY = "my_net"
EPOCHS = 8


def _screen():
    a = hp.datasets.synthetic(n_cells=500, n_genes=40, n_perturbations=6, seed=5)
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    hp.pp.perturbations(a, key="perturbation", control="non-targeting")
    return a


@pytest.fixture(scope="module")
def pair():
    """The same screen with its network under the default key and under ``KEY``, each rewarded and trained."""
    base = _screen()
    net = hp.datasets.truth_network(base)
    default, custom = base.copy(), base.copy()
    hp.pp.gene_network(default, net)
    hp.pp.gene_network(custom, net, key_added=KEY)
    for a in (default, custom):
        hp.tl.rewards(a)
        hp.tl.train(a, epochs=EPOCHS, verbose=False)
    return default, custom


def test_the_network_lives_under_its_key_only(pair):
    default, custom = pair
    assert "hp_adjacency" not in custom.varp and KEY in custom.varp
    net = custom.uns["hyperperturb"]["network"]
    assert net["key_added"] == KEY and net["directed_key"] == f"{KEY}_directed"
    assert (custom.varp[KEY] != default.varp["hp_adjacency"]).nnz == 0


def test_rewards_and_training_give_the_same_numbers(pair):
    default, custom = pair
    np.testing.assert_array_equal(custom.varm["hp_reward"], default.varm["hp_reward"])
    tr_d, tr_c = default.uns["hyperperturb"]["train"], custom.uns["hyperperturb"]["train"]
    assert bool(tr_c["graph"]["has_network"])
    assert str(tr_c["kernel"]["source"]) == str(tr_d["kernel"]["source"])
    np.testing.assert_allclose(custom.varm["X_poincare"], default.varm["X_poincare"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(custom.varm["hp_policy"], default.varm["hp_policy"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(custom.var["hp_value"], default.var["hp_value"], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(custom.var["hp_in_network"], default.var["hp_in_network"])


@pytest.mark.parametrize("kw", [{}, {"kind": "reward"}, {"method": "head"}])
def test_predict_gives_the_same_numbers(pair, kw):
    default, custom = pair
    pd.testing.assert_frame_equal(hp.tl.predict(custom, **kw), hp.tl.predict(default, **kw), rtol=1e-6, atol=1e-7)


def test_get_functions_give_the_same_numbers(pair):
    default, custom = pair
    pd.testing.assert_frame_equal(hp.get.embedding(custom), hp.get.embedding(default), rtol=1e-6, atol=1e-7)
    pd.testing.assert_frame_equal(
        hp.get.rank_perturbations(custom), hp.get.rank_perturbations(default), rtol=1e-6, atol=1e-7
    )


def test_design_gives_the_same_proposals(pair):
    default, custom = pair
    d, c = default.copy(), custom.copy()
    for a in (d, c):
        hp.tl.design(a, n=3, strategy="degree")
        hp.tl.design(a, n=3, key_added="model_round")
    pd.testing.assert_frame_equal(hp.get.design(c), hp.get.design(d))
    pd.testing.assert_frame_equal(hp.get.design(c, key="model_round"), hp.get.design(d, key="model_round"))


def test_evaluate_gives_the_same_numbers(pair):
    default, custom = pair
    kw = {
        "n_splits": 1,
        "models": ("hyperperturb",),
        "baselines": ("mean", "shuffled-network"),
        "n_null": 20,
        "train_kwargs": {"epochs": 4},
        "verbose": False,
        "copy": True,
    }
    r_d = hp.get.evaluation(hp.tl.evaluate(default, **kw))
    r_c = hp.get.evaluation(hp.tl.evaluate(custom, **kw))
    pd.testing.assert_frame_equal(r_c, r_d, rtol=1e-6, atol=1e-7)


def test_embed_network_and_embedding_quality_read_the_key(pair):
    default, custom = pair
    d = hp.tl.embed_network(default, epochs=20, verbose=False, copy=True)
    c = hp.tl.embed_network(custom, epochs=20, verbose=False, copy=True)
    np.testing.assert_allclose(c.varm["X_poincare_network"], d.varm["X_poincare_network"])
    q_d = hp.tl.embedding_quality(d, basis="X_poincare_network")
    q_c = hp.tl.embedding_quality(c, basis="X_poincare_network")
    pd.testing.assert_frame_equal(q_c, q_d)


def _edge_segments(ax) -> int:
    return sum(len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection))


def test_poincare_plot_draws_the_network_under_its_key(pair):
    default, custom = pair
    ax_d = hp.pl.poincare(default, show=False)
    ax_c = hp.pl.poincare(custom, show=False)
    try:
        assert _edge_segments(ax_d) > 0
        assert _edge_segments(ax_c) == _edge_segments(ax_d)
    finally:
        plt.close("all")


def test_train_names_the_network_digest_by_the_network_key(pair):
    default, custom = pair
    d_dig = default.uns["hyperperturb"]["train"]["input_digests"]
    c_dig = custom.uns["hyperperturb"]["train"]["input_digests"]
    assert set(d_dig) == {"hp_reward", "hp_adjacency"} and set(c_dig) == {"hp_reward", KEY}
    assert c_dig[KEY] == d_dig["hp_adjacency"]  # the same network, the same digest


def test_edits_and_re_runs_of_a_network_under_its_key_make_the_model_stale(pair):
    from hyperperturb._utils import get_ledger, stale_reason

    _, custom = pair
    edited = custom.copy()
    A = edited.varp[KEY].tocsr().copy()
    A.data[:] = 0.5 * A.data
    edited.varp[KEY] = A
    with pytest.raises(ValueError, match=rf"\['{KEY}'\] changed after `hp.tl.train`"):
        hp.tl.predict(edited)
    rerun = custom.copy()
    net = hp.datasets.truth_network(rerun).iloc[1:]  # another network: one edge less
    hp.pp.gene_network(rerun, net, key_added=KEY)
    assert "hp.pp.gene_network" in str(stale_reason(get_ledger(rerun), "train"))
    with pytest.raises(ValueError, match=r"earlier output of `hp.pp.gene_network`.*stale"):
        hp.tl.predict(rerun)
    assert stale_reason(get_ledger(custom), "train") is None


def test_a_network_key_naming_the_current_sign_or_directed_matrix_is_refused():
    a = ad.AnnData(np.zeros((3, 4), np.float32), var=pd.DataFrame(index=list("ABCD")))
    df = pd.DataFrame({"source": ["A", "A", "C"], "target": ["B", "D", "B"], "weight": [1.0, -1.0, 1.0]})
    hp.pp.gene_network(a, df, key_added=KEY)
    assert a.uns["hyperperturb"]["network"]["sign_key"] == f"{KEY}_sign"
    for bad in (f"{KEY}_sign", f"{KEY}_directed"):
        with pytest.raises(ValueError, match="would overwrite"):
            hp.pp.gene_network(a, df, key_added=bad)
    with pytest.raises(ValueError, match="name of the rewards"):  # hp.tl.train names input digests by key
        hp.pp.gene_network(a, df, key_added="hp_reward")
    for bad in ("", None, 3):
        with pytest.raises(ValueError, match="non-empty string"):
            hp.pp.gene_network(a, df, key_added=bad)
    assert a.uns["hyperperturb"]["network"]["key_added"] == KEY  # refused calls changed nothing
