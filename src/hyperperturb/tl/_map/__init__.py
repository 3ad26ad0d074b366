"""The network map: ``hp.tl.embed_network``, its fit, the numba SGD kernel and the MAP metric (private)."""
