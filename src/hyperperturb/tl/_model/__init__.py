"""The model: ``hp.tl.train`` (parameters, targets, fit, outputs), ``hp.tl.predict`` and model files (private)."""
