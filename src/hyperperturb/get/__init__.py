"""Tidy :class:`pandas.DataFrame` views of stored results (``hp.get``)."""

__all__: list[str] = []
