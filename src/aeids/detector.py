"""Detect attacks as records that an autoencoder of normal traffic fits badly.

:class:`AutoencoderDetector` trains one autoencoder on normal rows only. Its
anomaly score is a record's mean squared reconstruction error: **higher means
more anomalous**, everywhere in this module. A record is flagged as an attack
(1) when its score exceeds ``threshold_``, and as normal (0) otherwise.

The threshold is chosen on normal rows held out from training, never on test
rows and never from an assumed share of attacks. For a target false-positive
rate ``a`` and ``n`` held-out scores it is the ``ceil((n + 1) * (1 - a))``-th
smallest of them (:func:`fpr_threshold`): the finite-sample quantile of
conformal prediction, which keeps the expected false-positive rate on fresh
normal rows of the same distribution at or below ``a``. Its spread is that of
a binomial share: with ``n`` rows the realised rate has a standard deviation
of about ``sqrt(a * (1 - a) / n)`` (0.0023 for ``a = 0.01`` and 1,900 rows),
so a high target quantile needs hundreds of held-out rows to mean anything.
Drift between training and deployment traffic is not covered by any of this.
"""

import logging
import math
import time
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from .exceptions import ConfigError, DataError, DataWarning, listing
from .metrics import detection_metrics
from .network import AutoencoderStack, export_stack, import_stack, resolve_layers
from .training import TrainingConfig, train_stack

__all__ = [
    "AutoencoderDetector",
    "evaluate_detector",
    "fpr_threshold",
    "validation_split",
]

logger = logging.getLogger(__name__)

SCORE_CHUNK = 1024  # rows per scoring pass: the stacked activations stay in cache


def validation_split(n_rows, validation_fraction, random_state):
    """Split row positions into training and held-out validation rows.

    This is the split :meth:`AutoencoderDetector.fit` makes of its normal
    rows, exposed so that other detectors can be thresholded on the very
    same held-out rows.

    Parameters
    ----------
    n_rows : int
        Number of normal rows.
    validation_fraction : float
        Share of them to hold out, in (0, 1).
    random_state : int
        Seed of the shuffle.

    Returns
    -------
    train_idx, val_idx : ndarray of int64
        Sorted positions; together they cover ``range(n_rows)`` once.
    """
    if not 0 < validation_fraction < 1:
        raise ConfigError(
            f"validation_fraction must lie in (0, 1); got {validation_fraction}."
        )
    n_val = int(round(validation_fraction * n_rows))
    n_val = min(max(n_val, 1), n_rows - 1)
    if n_val < 1:
        raise DataError(
            f"{n_rows} normal row(s) are too few to hold out validation rows; "
            f"at least 2 are needed."
        )
    order = np.random.default_rng(random_state).permutation(n_rows)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def fpr_threshold(scores, target_fpr):
    """Threshold on anomaly scores for a target false-positive rate.

    Scores are anomaly scores of normal rows: higher means more anomalous.
    The threshold is the ``k``-th smallest score with
    ``k = ceil((n + 1) * (1 - target_fpr))``, so that a fresh normal row of
    the same distribution scores above it with probability at most
    ``target_fpr`` (exactly the conformal guarantee when scores have no ties).
    This is never below numpy's interpolated quantile, which errs on the side
    of too many false alarms.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Anomaly scores of held-out normal rows; higher means more anomalous.
    target_fpr : float
        Share of normal rows allowed above the threshold, in (0, 1).

    Returns
    -------
    threshold : float
        The largest score when ``n`` is too small for the target
        (``(n + 1) * target_fpr < 1``); the caller decides whether to warn.
    """
    scores = np.sort(np.asarray(scores, dtype=np.float64))
    if scores.ndim != 1 or len(scores) == 0:
        raise DataError("fpr_threshold needs a non-empty 1-D array of scores.")
    if not 0 < target_fpr < 1:
        raise ConfigError(f"target_fpr must lie in (0, 1); got {target_fpr}.")
    k = math.ceil((len(scores) + 1) * (1 - target_fpr) - 1e-9)
    return float(scores[min(k, len(scores)) - 1])


class AutoencoderDetector(BaseEstimator):
    """Flag records that an autoencoder trained on normal traffic fits badly.

    One autoencoder is trained on normal rows only, with early stopping on a
    held-out share of them. The same held-out rows set the threshold for a
    target false-positive rate (see :func:`fpr_threshold`). Scores are mean
    squared reconstruction errors; higher means more anomalous.

    Unlike scikit-learn's outlier detectors, :meth:`predict` returns 1 for an
    attack and 0 for a normal record, and there is no ``score_samples``: the
    one score, :meth:`decision_function`, grows with anomaly.

    Parameters
    ----------
    hidden_layers : "auto", "notebook" or list of int, default="auto"
        Encoder widths ending with the bottleneck; the decoder mirrors them.
        ``"auto"`` derives them from the feature count;
        ``"notebook"`` is the research notebook's funnel, halving down to 5.
    activation : str or None, default=None
        Hidden activation (``"relu"``, ``"tanh"``, ...). ``None`` takes
        ``"tanh"`` for the notebook preset and ``"relu"`` otherwise.
    max_epochs : int, default=60
        Upper bound on training epochs.
    batch_size : int, default=256
        Rows per step.
    learning_rate : float, default=1e-3
        Adam's step size.
    patience : int, default=5
        Epochs without validation improvement before training stops.
    validation_fraction : float, default=0.2
        Share of the normal rows held out for early stopping and for the
        threshold.
    target_fpr : float, default=0.01
        False-positive rate the threshold aims at on normal rows.
    threshold : float or None, default=None
        Explicit threshold on the score; overrides ``target_fpr``.
    normal_label : object or None, default=None
        Label of normal rows when ``fit`` is given labels ``y``; only those
        rows train the detector. Required whenever ``y`` is given.
    random_state : int, default=0
        Seed of the split, shuffles and initial weights.
    device : str, default="cpu"
        Torch device for training and scoring.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` was a DataFrame with string column names.
    hidden_layers_ : list of int
    activation_ : str
    network_ : AutoencoderStack
        The autoencoder (a stack of one).
    threshold_ : float
        Scores above it are flagged as attacks.
    validation_fpr_ : float
        Share of held-out normal rows scoring above ``threshold_``.
    n_train_rows_, n_validation_rows_ : int
        Normal rows trained on and held out.
    history_ : dict
        Per-epoch training and validation loss.
    feature_error_medians_ : ndarray of shape (n_models, n_features)
        Median squared reconstruction error of each feature on each model's
        own validation rows; per-record explanations are relative to it.

    Examples
    --------
    >>> detector = AutoencoderDetector(normal_label="normal").fit(X, labels)
    >>> scores = detector.decision_function(X_new)  # higher: more anomalous
    >>> flags = detector.predict(X_new)             # 1 attack, 0 normal
    """

    _model_kind = "detector"

    def __init__(self, hidden_layers="auto", activation=None, max_epochs=60,
                 batch_size=256, learning_rate=1e-3, patience=5,
                 validation_fraction=0.2, target_fpr=0.01, threshold=None,
                 normal_label=None, random_state=0, device="cpu"):
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.target_fpr = target_fpr
        self.threshold = threshold
        self.normal_label = normal_label
        self.random_state = random_state
        self.device = device

    def fit(self, X, y=None, epoch_callback=None):
        """Train on normal rows and set the threshold on held-out ones.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded, scaled records (see :class:`~aeids.FeatureEncoder`).
            Without ``y`` every row must be normal.
        y : array-like of shape (n_samples,) or None
            Labels; only rows equal to ``normal_label`` are used.
        epoch_callback : callable or None
            Called as ``epoch_callback(epoch, history)`` after every epoch.

        Returns
        -------
        self : AutoencoderDetector
        """
        X = self._validate_fit(X, y)
        self._check_params()
        train_idx, val_idx = validation_split(
            len(X), self.validation_fraction, self.random_state
        )
        data = np.concatenate([X[train_idx], X[val_idx]])
        tensor = torch.from_numpy(data).to(self.device)
        n_train = len(train_idx)
        train_rows = [np.arange(n_train)]
        val_rows = [n_train + np.arange(len(val_idx))]

        self.hidden_layers_ = resolve_layers(self.hidden_layers, self.n_features_in_)
        self.activation_ = self.activation or (
            "tanh" if self.hidden_layers == "notebook" else "relu"
        )
        seed = int(np.random.SeedSequence(self.random_state).generate_state(1)[0])
        self.network_ = AutoencoderStack(
            1, self.n_features_in_, self.hidden_layers_, self.activation_,
            seeds=[seed],
        ).to(self.device)
        self.history_ = train_stack(self.network_, tensor, train_rows, val_rows,
                                    self._training_config(),
                                    callback=epoch_callback)
        self.network_.eval()

        val_scores = self._errors(tensor[n_train:])
        self.feature_error_medians_ = self.network_.median_feature_errors(
            tensor, val_rows
        )
        self.n_train_rows_ = n_train
        self.n_validation_rows_ = len(val_idx)
        self.threshold_ = self._choose_threshold(val_scores)
        self.validation_fpr_ = float(np.mean(val_scores > self.threshold_))
        logger.debug("threshold %.6g, validation false-positive rate %.4f",
                     self.threshold_, self.validation_fpr_)
        return self

    def decision_function(self, X):
        """Anomaly score of each record: higher means more anomalous.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Mean squared reconstruction error; records scoring above
            ``threshold_`` are predicted as attacks.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        tensor = torch.from_numpy(np.ascontiguousarray(X)).to(self.device)
        return self._errors(tensor)

    def predict(self, X):
        """Flag each record: 1 for an attack, 0 for a normal record.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of int64, shape (n_samples,)
        """
        return self.predict_from_scores(self.decision_function(X))

    def predict_from_scores(self, scores):
        """Flag scores from :meth:`decision_function` (higher: more anomalous).

        Parameters
        ----------
        scores : array-like of shape (n_samples,)

        Returns
        -------
        ndarray of int64, shape (n_samples,)
            1 where the score exceeds ``threshold_`` (attack), else 0.
        """
        check_is_fitted(self)
        return (np.asarray(scores) > self.threshold_).astype(np.int64)

    @torch.inference_mode()
    def _errors(self, tensor):
        out = np.empty(len(tensor), dtype=np.float64)
        for start in range(0, len(tensor), SCORE_CHUNK):
            batch = tensor[start:start + SCORE_CHUNK]
            out[start:start + len(batch)] = self.network_.member_errors(batch, 0).cpu()
        return out

    def _validate_fit(self, X, y):
        X = validate_data(self, X, dtype=np.float32, ensure_min_samples=2)
        if y is None:
            return np.ascontiguousarray(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise DataError(
                f"y must be 1-D with one label per row of X ({len(X)} rows); "
                f"got shape {y.shape}."
            )
        present = np.unique(y.astype(str) if y.dtype == object else y).tolist()
        if self.normal_label is None:
            raise ConfigError(
                f"fit was given labels y but normal_label is None; set "
                f"normal_label to the label of normal rows (labels present: "
                f"{listing(present)}), or call fit(X) with normal rows only."
            )
        normal = y == self.normal_label
        if not normal.any():
            raise DataError(
                f"normal_label {self.normal_label!r} does not occur in y; labels "
                f"present: {listing(present)}. Set normal_label to one of them."
            )
        if normal.sum() < 2:
            raise DataError(
                f"Only 1 row has the normal label {self.normal_label!r}; at least "
                f"2 are needed (one to train on, one to set the threshold)."
            )
        return np.ascontiguousarray(X[normal])

    def _check_params(self):
        if not 0 < self.target_fpr < 1:
            raise ConfigError(
                f"target_fpr must lie in (0, 1); got {self.target_fpr}."
            )
        if self.threshold is not None and not np.isfinite(self.threshold):
            raise ConfigError(
                f"threshold must be a finite number or None; got {self.threshold!r}."
            )

    def _choose_threshold(self, val_scores):
        if self.threshold is not None:
            return float(self.threshold)
        n_val = len(val_scores)
        if (n_val + 1) * self.target_fpr < 1:
            warnings.warn(
                f"{n_val} held-out normal rows are too few to estimate a "
                f"false-positive rate of {self.target_fpr}; the threshold sits "
                f"at their largest score. Add normal rows or raise "
                f"validation_fraction or target_fpr.",
                DataWarning,
                stacklevel=3,
            )
        return fpr_threshold(val_scores, self.target_fpr)

    def _training_config(self):
        return TrainingConfig(
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            patience=self.patience,
            random_state=self.random_state,
        )

    def _to_state(self):
        """Learned state as (JSON-able dict, dict of tensors), for persistence."""
        check_is_fitted(self)
        config = {
            "params": self.get_params(),
            "n_features_in": int(self.n_features_in_),
            "hidden_layers": list(self.hidden_layers_),
            "activation": self.activation_,
            "threshold": float(self.threshold_),
            "validation_fpr": float(self.validation_fpr_),
            "n_train_rows": int(self.n_train_rows_),
            "n_validation_rows": int(self.n_validation_rows_),
            "history": self.history_,
        }
        if hasattr(self, "feature_names_in_"):
            config["feature_names_in"] = [str(c) for c in self.feature_names_in_]
        return config, export_stack(self.network_, self.feature_error_medians_)

    @classmethod
    def _from_state(cls, config, tensors):
        """Rebuild a fitted detector from :meth:`_to_state` output.

        Raises ``KeyError`` for a missing entry and ``ValueError`` (or torch's
        ``RuntimeError`` for mismatched weights) for inconsistent ones.
        """
        estimator = cls(**config["params"])
        estimator.n_features_in_ = int(config["n_features_in"])
        estimator.hidden_layers_ = [int(w) for w in config["hidden_layers"]]
        estimator.activation_ = str(config["activation"])
        estimator.threshold_ = float(config["threshold"])
        estimator.validation_fpr_ = float(config["validation_fpr"])
        estimator.n_train_rows_ = int(config["n_train_rows"])
        estimator.n_validation_rows_ = int(config["n_validation_rows"])
        estimator.history_ = dict(config["history"])
        if "feature_names_in" in config:
            names = np.asarray(config["feature_names_in"], dtype=object)
            if len(names) != estimator.n_features_in_:
                raise ValueError("feature_names_in and n_features_in differ in length")
            estimator.feature_names_in_ = names
        if estimator.n_features_in_ < 1 or not estimator.hidden_layers_:
            raise ValueError("n_features_in and hidden_layers must be positive")
        if min(estimator.hidden_layers_) < 1:
            raise ValueError("hidden_layers must hold positive widths")
        if not np.isfinite(estimator.threshold_):
            raise ValueError("threshold must be finite")
        if not 0 <= estimator.validation_fpr_ <= 1:
            raise ValueError("validation_fpr must lie in [0, 1]")
        network, estimator.feature_error_medians_ = import_stack(
            tensors, 1, estimator.n_features_in_, estimator.hidden_layers_,
            estimator.activation_,
        )
        estimator.network_ = network.to(estimator.device).eval()
        return estimator

    def __sklearn_is_fitted__(self):
        return hasattr(self, "threshold_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags


def evaluate_detector(detector, X, is_attack):
    """Score records and measure detection quality, attack being positive.

    Parameters
    ----------
    detector : AutoencoderDetector
        Fitted.
    X : array-like of shape (n_samples, n_features)
        Encoded records.
    is_attack : array-like of bool, shape (n_samples,)
        Ground truth.

    Returns
    -------
    dict
        :func:`aeids.metrics.detection_metrics` of the scores (higher means
        more anomalous) and flags, with ``rows_per_second`` measured over
        :meth:`~AutoencoderDetector.decision_function`, plus ``threshold``
        and ``validation_fpr``.
    """
    is_attack = np.asarray(is_attack, dtype=bool)
    if is_attack.ndim != 1 or len(is_attack) != len(X):
        raise DataError(
            f"is_attack must be 1-D with one entry per row of X ({len(X)} rows); "
            f"got shape {is_attack.shape}."
        )
    start = time.perf_counter()
    scores = detector.decision_function(X)
    elapsed = time.perf_counter() - start
    flags = detector.predict_from_scores(scores)
    rate = len(scores) / elapsed if elapsed > 0 else None
    report = detection_metrics(is_attack, scores, flags, rows_per_second=rate)
    report["threshold"] = float(detector.threshold_)
    report["validation_fpr"] = float(detector.validation_fpr_)
    return report

