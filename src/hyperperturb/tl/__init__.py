"""Tools: rewards, training, prediction, evaluation and design (``hp.tl``).

The training functions import TensorFlow lazily, inside the call. The code lives in private sub-packages, each
importing only those below it (docs/developer.md): ``_screen``, ``_graph``, ``_rewards`` < ``_map`` < ``_transfer``
< ``_model`` < ``_evaluation`` < ``_design``.
"""

from ._design._design import design
from ._evaluation._embedding_quality import embedding_quality
from ._evaluation._evaluate import evaluate
from ._map._embed_network import embed_network
from ._model._io import load_model, save_model
from ._model._predict import predict
from ._model._train import train
from ._rewards._rewards import rewards

__all__: list[str] = [
    "design",
    "embed_network",
    "embedding_quality",
    "evaluate",
    "load_model",
    "predict",
    "rewards",
    "save_model",
    "train",
]
