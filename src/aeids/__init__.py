"""aeids: detect and classify network attacks with autoencoders.

The public surface:

* :class:`AutoencoderClassifier`: one autoencoder per class; a record goes to
  the class that reconstructs it best, or to ``unknown``.
* :class:`AutoencoderDetector`: one autoencoder trained on normal traffic;
  records it reconstructs badly are attacks.
* :class:`FeatureEncoder`: imputation, one-hot encoding and scaling fitted on
  training rows.
* :func:`load_table`, :func:`iter_tables`: read CSV, gzip and Parquet files
  with dataset profiles and a loading summary.
* :func:`train_model`, :func:`evaluate_model`, :func:`predict_file`: the
  command line's steps as functions.
* :func:`save_model`, :func:`load_model`: model directories without pickle.
* :func:`thread_limit`: one thread count for torch and the maths libraries.
"""

import logging

from .classifier import AutoencoderClassifier
from .exceptions import (
    AeidsError,
    AeidsWarning,
    ConfigError,
    DataError,
    DataWarning,
    ModelFormatError,
    NotFittedError,
    TrainingError,
    UnseenCategoryWarning,
)
from .features import FeatureEncoder
from .io import LoadSummary, Table, iter_tables, load_table
from .persistence import TrafficModel, load_model, save_model
from .pipeline import (
    evaluate_model,
    loading_options,
    predict_file,
    read_table,
    score_table,
    split_table,
    train_model,
)
from .profiles import PROFILES, Profile, get_profile, load_profile
from .threads import thread_limit

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name):
    if name == "AutoencoderDetector":
        from .detector import AutoencoderDetector

        return AutoencoderDetector
    raise AttributeError(f"module 'aeids' has no attribute {name!r}")


__all__ = [
    "PROFILES",
    "AeidsError",
    "AeidsWarning",
    "AutoencoderClassifier",
    "AutoencoderDetector",
    "ConfigError",
    "DataError",
    "DataWarning",
    "FeatureEncoder",
    "LoadSummary",
    "ModelFormatError",
    "NotFittedError",
    "Profile",
    "Table",
    "TrafficModel",
    "TrainingError",
    "UnseenCategoryWarning",
    "evaluate_model",
    "get_profile",
    "iter_tables",
    "load_model",
    "load_table",
    "load_profile",
    "loading_options",
    "predict_file",
    "read_table",
    "save_model",
    "score_table",
    "split_table",
    "thread_limit",
    "train_model",
]
