"""The node graph and node features that training and prediction read (private)."""
