"""Issue 25: genome-scale steps work in row blocks; the blocks change no number."""

from __future__ import annotations

import numpy as np

from hyperperturb.tl._transfer import _transfer


def test_median_prior_in_row_blocks_is_the_full_median(monkeypatch):
    rng = np.random.default_rng(0)
    E = rng.normal(size=(37, 31))
    cols = np.array([0, 5, 30])
    want = _transfer.loo_priors(E, cols, "median", exact_up_to=10)
    monkeypatch.setattr(_transfer, "_BLOCK", 31 * 4)  # four genes per block
    got = _transfer.loo_priors(E, cols, "median", exact_up_to=10)
    assert np.array_equal(got, want)
    np.testing.assert_array_equal(got[:, 1], np.median(E, axis=1))
