"""The held-out readout: transfer fit and prediction, distances, reliabilities, propagation (private)."""
