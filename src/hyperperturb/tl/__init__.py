"""Tools: rewards, training, prediction, evaluation and design (``hp.tl``).

The training functions import TensorFlow lazily, inside the call.
"""

from ._design import design
from ._embedding_quality import embedding_quality
from ._evaluate import evaluate
from ._rewards import rewards

__all__: list[str] = ["design", "embedding_quality", "evaluate", "rewards"]
