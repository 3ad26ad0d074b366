"""Tools: rewards, training, prediction, evaluation and design (``hp.tl``).

The training functions import TensorFlow lazily, inside the call.
"""

from ._rewards import rewards

__all__: list[str] = ["rewards"]
