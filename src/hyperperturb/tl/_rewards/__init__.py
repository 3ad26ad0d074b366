"""Rewards of a screen (``hp.tl.rewards``): inputs, statistics and the streaming segment-sum engines (private)."""
