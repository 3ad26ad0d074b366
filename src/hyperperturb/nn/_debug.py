"""A switch for numerical debugging: TensorFlow's check-numerics plus input checks in hyperperturb layers."""

from __future__ import annotations

from types import TracebackType

import tensorflow as tf

__all__ = ["debug_numerics", "is_debug_numerics"]

_STATE = {"enabled": False}


def is_debug_numerics() -> bool:
    """Whether :func:`debug_numerics` is on."""
    return _STATE["enabled"]


class debug_numerics:
    """Turn numerical debugging on or off; also usable as a context manager that restores the previous state.

    When on, :func:`tf.debugging.enable_check_numerics` makes every TensorFlow op (forward and backward)
    raise at the first NaN/Inf it produces, with the op's name and a stack trace, and the hyperperturb layers
    check their inputs, raising ``InvalidArgumentError`` with a message that names the layer. It costs
    speed; use it to find where a NaN comes from, not in production. The layers read the switch when they
    are traced, so turn it on before building/compiling the model (``model.fit`` traces on its first call).

    Parameters
    ----------
    enabled
        ``True`` to turn checks on, ``False`` to turn them off.

    Examples
    --------
    >>> debug_numerics(True)  # doctest: +SKIP
    >>> with debug_numerics():  # on inside the block, previous state afterwards
    ...     pass
    """

    def __init__(self, enabled: bool = True) -> None:
        self._previous = _STATE["enabled"]
        _set(bool(enabled))
        self.enabled = bool(enabled)

    def __enter__(self) -> debug_numerics:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _set(self._previous)

    def __repr__(self) -> str:
        return f"debug_numerics(enabled={self.enabled})"


def _set(enabled: bool) -> None:
    if enabled and not _STATE["enabled"]:
        tf.debugging.enable_check_numerics()
    elif not enabled and _STATE["enabled"]:
        tf.debugging.disable_check_numerics()
    _STATE["enabled"] = enabled


def check_inputs(x: tf.Tensor, layer_name: str, what: str = "input") -> tf.Tensor:
    """Return ``x``; when debugging is on, assert that it is finite with a message naming the layer."""
    if not _STATE["enabled"]:
        return x
    msg = (
        f"hyperperturb layer {layer_name!r}: its {what} contains NaN or Inf. The problem is upstream of this "
        "layer (inputs or the previous layer); check the data with numpy.isfinite."
    )
    return tf.debugging.assert_all_finite(x, msg)
