"""``hp.tl.design``: the next perturbations to screen (private)."""
