"""Reading a screen after ``hp.tl.rewards`` and its split-half rewards (private; below every other part of ``tl``)."""
