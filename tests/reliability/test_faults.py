"""Faults: a failure at any point (bad callback, Ctrl-C, NaN, a failing final write) leaves the object as it was."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import hyperperturb as hp
from hyperperturb._utils import get_ledger

from ._data import screen
from ._snapshot import assert_unchanged, snapshot

SRC = Path(hp.__file__).parent


def _prepared(n_genes: int = 12):
    a = screen(n_genes=n_genes)
    hp.pp.perturbations(a)
    hp.pp.gene_network(a)
    hp.tl.rewards(a, verbose=False)
    return a


@pytest.fixture(scope="module")
def trained():
    a = _prepared()
    hp.tl.train(a, epochs=3, seed=0, verbose=False)
    return a


# ------------------------------------------------------------------------------------- a failing final write


class Boom(RuntimeError):
    pass


def _boom(*args, **kwargs):
    raise Boom("injected failure in the final write")


@pytest.mark.parametrize(
    ("module", "call"),
    [
        ("hyperperturb.pp._perturbations", lambda a: hp.pp.perturbations(a)),
        ("hyperperturb.pp._gene_network", lambda a: hp.pp.gene_network(a)),
        ("hyperperturb.tl._rewards._rewards", lambda a: hp.tl.rewards(a, verbose=False)),
    ],
    ids=["perturbations", "gene_network", "rewards"],
)
def test_failing_record_leaves_no_half_written_keys(monkeypatch, module, call):
    a = screen()
    if "perturbations" not in module:
        hp.pp.perturbations(a)
    snap = snapshot(a)
    monkeypatch.setattr(f"{module}.record", _boom)
    with pytest.raises(Boom):
        call(a)
    assert_unchanged(a, snap)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, Boom])
def test_interrupt_inside_rewards_stream(monkeypatch, exc):
    a = screen()
    hp.pp.perturbations(a)
    snap = snapshot(a)

    def interrupted(*args, **kwargs):
        raise exc("interrupted mid-stream")

    # the streaming pass lives in _rewards._kernels (imported lazily by _rewards._compute)
    monkeypatch.setattr("hyperperturb.tl._rewards._kernels.segment_sums", interrupted)
    monkeypatch.setattr("hyperperturb.tl._rewards._rewards.segment_sums", interrupted, raising=False)
    with pytest.raises(exc):
        hp.tl.rewards(a, verbose=False)
    assert_unchanged(a, snap)


# ------------------------------------------------------------------------------------------------ training


def _callback(exc, at="on_epoch_end"):
    import keras

    class Raise(keras.callbacks.Callback):
        pass

    def hook(self, step, logs=None):
        if at == "on_train_batch_end" or step >= 1:  # mid-epoch, or at the end of the second epoch
            raise exc("stop right here")

    setattr(Raise, at, hook)
    return Raise()


@pytest.mark.slow
@pytest.mark.parametrize("exc", [KeyboardInterrupt, Boom])
def test_training_interrupted_leaves_object_unchanged(trained, exc):
    a = trained.copy()
    snap = snapshot(a)
    with pytest.raises(exc, match="stop right here"):
        hp.tl.train(a, epochs=4, seed=1, verbose=False, callbacks=[_callback(exc)])
    assert_unchanged(a, snap)


def test_training_on_fresh_object_interrupted_adds_nothing():
    a = _prepared()
    snap = snapshot(a)
    with pytest.raises(KeyboardInterrupt):
        hp.tl.train(a, epochs=4, seed=0, verbose=False, callbacks=[_callback(KeyboardInterrupt, "on_train_batch_end")])
    assert_unchanged(a, snap)
    assert "X_poincare" not in a.varm and "train" not in get_ledger(a)


@pytest.mark.slow
def test_failing_final_write_of_train(monkeypatch, trained):
    a = trained.copy()
    snap = snapshot(a)
    monkeypatch.setattr("hyperperturb.tl._model._train.record", _boom)
    with pytest.raises(Boom):
        hp.tl.train(a, epochs=2, seed=3, verbose=False)
    assert_unchanged(a, snap)


def test_nan_injected_into_weights_is_caught():
    import keras

    class Poison(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            for w in self.model.trainable_weights:
                w.assign(np.full(w.shape, np.nan, dtype=w.dtype))

    a = _prepared()
    snap = snapshot(a)
    with pytest.raises(FloatingPointError, match=r"(loss became nan|not finite|NaN).*"):
        hp.tl.train(a, epochs=3, seed=0, verbose=False, callbacks=[Poison()])
    assert_unchanged(a, snap)


@pytest.mark.parametrize("where", ["hp_reward", "hp_policy_target", "hp_value_target"])
def test_nan_in_training_targets_is_caught(where):
    a = _prepared()
    if where == "hp_value_target":
        a.var[where] = np.where(np.arange(a.n_vars) == 0, np.nan, a.var[where])
    else:
        a.varm[where][0, 0] = np.nan
    snap = snapshot(a)
    with pytest.raises(ValueError, match=rf"{where}.*NaN"):
        hp.tl.train(a, epochs=2, seed=0, verbose=False)
    assert_unchanged(a, snap)


def test_training_without_rewards_says_what_to_run():
    a = screen()
    hp.pp.perturbations(a)
    snap = snapshot(a)
    with pytest.raises(KeyError, match=r"Run `hp\.tl\.rewards"):
        hp.tl.train(a, epochs=2, verbose=False)
    assert_unchanged(a, snap)


# ------------------------------------------------------------------------------- corrupted stored weights


def _first_weight(led):
    return sorted(led["train"]["weights"], key=lambda k: int(str(k).split(":", 1)[0]))[0]


def test_predict_works_on_intact_object(trained):
    df = hp.tl.predict(trained)
    assert df.shape == (trained.n_vars, 3) and np.isfinite(df.to_numpy()).all()


def test_predict_weights_wrong_shape(trained):
    a = trained.copy()
    w = get_ledger(a)["train"]["weights"]
    k = _first_weight(get_ledger(a))
    w[k] = np.zeros(np.asarray(w[k]).size + 3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"(?i)shape|size"):
        hp.tl.predict(a)


def test_predict_weights_missing_key(trained):
    a = trained.copy()
    w = get_ledger(a)["train"]["weights"]
    del w[_first_weight(get_ledger(a))]
    with pytest.raises(ValueError, match=r"weight arrays.*Re-run hp.tl.train"):
        hp.tl.predict(a)


def test_predict_weights_nan(trained):
    a = trained.copy()
    w = get_ledger(a)["train"]["weights"]
    k = _first_weight(get_ledger(a))
    w[k] = np.full_like(np.asarray(w[k]), np.nan)
    with pytest.raises(ValueError, match=r"(?i)NaN|not finite"):
        hp.tl.predict(a)


def test_predict_missing_train_entry():
    a = _prepared()
    with pytest.raises(KeyError, match=r"Run `hp\.tl\.train"):
        hp.tl.predict(a)


# ------------------------------------------------------------------------------------- no unsafe loaders


_UNSAFE = re.compile(
    r"\bpickle\b|\bcloudpickle\b|\bdill\b|(?<![\w.])eval\(|(?<![\w.])exec\(|allow_pickle\s*=\s*True|"
    r"safe_mode\s*=\s*False|\bmarshal\b|\bshelve\b|yaml\.load\("
)


def test_no_pickle_or_eval_in_source():
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if _UNSAFE.search(code):
                hits.append(f"{path.relative_to(SRC)}:{i}: {line.strip()}")
    assert not hits, "unsafe deserialisation of user files:\n" + "\n".join(hits)


def test_keras_models_load_in_safe_mode():
    calls = [
        (p.relative_to(SRC), line.strip())
        for p in SRC.rglob("*.py")
        for line in p.read_text().splitlines()
        if "load_model(" in line and "keras" in line and "def " not in line and not line.strip().startswith(">>>")
    ]
    assert calls, "expected a keras load_model call (hp.tl.load_model)"
    assert all("safe_mode=True" in line for _, line in calls), calls


def test_load_model_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="save_model"):
        hp.tl.load_model(tmp_path / "nothing.keras")


def test_save_load_roundtrip(trained, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = hp.tl.save_model(trained, tmp_path / "m.keras")
        model = hp.tl.load_model(path)
    assert model is not None
