"""Tools: rewards, training, prediction, evaluation and design (``hp.tl``).

The training functions import TensorFlow lazily, inside the call.
"""

from ._design import design
from ._embed_network import embed_network
from ._embedding_quality import embedding_quality
from ._evaluate import evaluate
from ._model_io import load_model, save_model
from ._predict import predict
from ._rewards import rewards
from ._train import train

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
