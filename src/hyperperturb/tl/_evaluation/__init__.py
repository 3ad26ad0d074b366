"""``hp.tl.evaluate`` and ``hp.tl.embedding_quality``: splits, baselines, metrics and scoring (private)."""
