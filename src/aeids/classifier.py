"""Classify records with one autoencoder per class."""

import logging
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted

from .calibration import (
    ERRORS,
    METHODS,
    ErrorCalibrator,
    cross_validated_f1,
    fit_feature_weights,
    sample_rows,
    scaled_weights,
)
from .exceptions import ConfigError, DataError, DataWarning
from .network import AutoencoderStack, export_stack, import_stack, resolve_layers
from .training import TrainingConfig, train_stack

logger = logging.getLogger(__name__)

FEATURE_WEIGHTS = "feature_weights"
SCORE_CHUNK = 1024  # rows per scoring pass: the stacked activations stay in cache
AMBIGUITY_WEIGHT = 4.0
# error="auto" takes the scaled error only when its two-fold validation
# macro-F1 beats plain MSE's by more than this; smaller differences are within
# the noise of a macro-F1 over classes with a few validation rows.
SCALED_MARGIN = 0.05
# Most entries (models x rows x features) of the per-feature validation errors
# that calibration="weighted" holds at once: 128 MiB of float32.
WEIGHT_FIT_ENTRIES = 2 ** 25


class AutoencoderClassifier(ClassifierMixin, BaseEstimator):
    """One autoencoder per class; a record goes to the class that fits it best.

    Each class gets its own, independently initialised autoencoder, trained
    only on that class's rows with early stopping on a held-out share of them.
    Errors are made comparable across classes with the distribution of each
    model's errors on its own held-out rows (see :mod:`aeids.calibration`),
    and the class with the lowest calibrated error wins. With
    ``unknown_rate`` set, a record whose best calibrated error lies beyond
    that class's threshold is labelled ``unknown_label`` instead.

    The test macro-F1 figures quoted for the options below were measured with
    ``calibration="fitted"`` unless they say otherwise.

    Parameters
    ----------
    hidden_layers : "auto", "notebook" or list of int, default="auto"
        Encoder widths ending with the bottleneck; the decoder mirrors them.
        ``"auto"`` derives them from the feature count (see
        :func:`~aeids.network.default_layers`; on UNSW-NB15 ``[128, 64, 16]``,
        whose bottleneck of 16 measured 0.453 test macro-F1 over three seeds
        against 0.456 for 8 and 0.440 for 32);
        ``"notebook"`` is the research notebook's funnel, halving down to 5.
    activation : str or None, default=None
        Hidden activation (``"relu"``, ``"tanh"``, ...). ``None`` takes
        ``"tanh"`` for the notebook preset and ``"relu"`` otherwise.
    max_epochs : int, default=60
        Upper bound on training epochs. On UNSW-NB15, 120 epochs or a
        patience of 10 changed test macro-F1 by less than its spread over
        seeds (0.447 and 0.448 against 0.453).
    batch_size : int, default=256
        Rows per class per step.
    learning_rate : float, default=1e-3
        Adam's step size. Adam weight decay of 1e-4 and 1e-3 (not exposed)
        measured test macro-F1 0.456 and 0.379 against 0.473 without on
        UNSW-NB15 (seed 0), 0.866 and 0.804 against 0.850 on the CIC-IDS2017
        sample.
    patience : int, default=5
        Epochs without validation improvement before a class stops.
    stop_loss : float or None, default=None
        Also stop a class once its training loss falls below this value
        (the research notebook's rule).
    validation_fraction : float, default=0.2
        Share of each class's rows held out for early stopping and
        calibration. Mean test macro-F1 with 0.2, 0.3 and 0.4 (same splits):
        UNSW-NB15 0.471, 0.472, 0.472 (two seeds); NSL-KDD 0.827, 0.796,
        0.819 and the CIC-IDS2017 sample 0.836, 0.808, 0.807 (three seeds).
    calibration : {"weighted", "fitted", "raw"}, default="weighted"
        How errors are made comparable across classes (see
        :mod:`aeids.calibration`). ``"fitted"``: a slope and offset per class
        on log error, fitted on validation rows. ``"weighted"``: the same,
        after each class's error is re-measured with a weight per feature
        learned on the validation rows (starting from the weights of
        ``error``); over three seeds it raised test macro-F1 from 0.453 to
        0.465 on UNSW-NB15, 0.823 to 0.829 on NSL-KDD and 0.829 to 0.841 on
        the CIC-IDS2017 sample (see
        :func:`~aeids.calibration.fit_feature_weights`). ``"raw"`` is the
        plain argmin of errors.
    error : {"auto", "mse", "scaled"}, default="auto"
        How a record's reconstruction error is measured. ``"mse"``: the mean
        squared error over features. ``"scaled"``: each feature's squared
        error divided by how well that class's model reconstructs the
        feature on its own training rows (see
        :func:`~aeids.calibration.scaled_weights`), so that breaking what a
        class always gets right costs most. ``"auto"`` takes ``"scaled"``
        only when its macro-F1 in a two-fold split of the validation rows
        beats ``"mse"``'s by more than 0.05, and ``"mse"`` otherwise. Over
        three seeds ``"scaled"`` measured test macro-F1 0.829 against 0.728
        on the CIC-IDS2017 sample (validation margins 0.08 to 0.11), 0.409
        against 0.453 on UNSW-NB15 and 0.788 against 0.823 on NSL-KDD, where
        it won validation by 0.01 on two seeds; picking the higher validation
        score without a margin cost 0.03 there.
    unknown_rate : float or None, default=None
        Target share of each class's own rows rejected as unknown (see
        :meth:`unknown_score`); ``None`` never rejects.
    unknown_label : str, default="unknown"
        Label predicted for rejected records.
    margin_weight : float, default=1.0
        Weight of a hinge that fine-tunes each autoencoder to reconstruct
        other classes' rows with an error above ``margin_factor`` times its
        own median validation error; 0 disables it. On UNSW-NB15 it moved
        test macro-F1 from 0.448 to 0.465 (one seed).
    margin_factor : float, default=2.0
        That margin, as a multiple of each class's median validation error.
        Mean test macro-F1 with factors 2, 4 and 8 and with a margin weight
        of 3 (same splits): UNSW-NB15 0.471, 0.465, 0.451, 0.470 (two
        seeds); NSL-KDD 0.827, 0.814, 0.806, 0.803 and the CIC-IDS2017 sample
        0.836, 0.843, 0.830, 0.831 (three seeds).
    margin_epochs : int, default=30
        Most epochs of that fine-tuning (it stops early like training). Over
        five model seeds on one split, 30 epochs against 10 raised mean test
        macro-F1 from 0.797 to 0.820 on the CIC-IDS2017 sample, 0.452 to
        0.457 on UNSW-NB15 and 0.750 to 0.753 on NSL-KDD; a seed ensemble
        and a latent-distance term added to the error gained nothing.
    oversample : {None, "smote"}, default=None
        Oversample rare classes in the training rows (never the held-out rows)
        with SMOTE.
    random_state : int, default=0
        Seed of the splits, shuffles and initial weights.
    device : str, default="cpu"
        Torch device for training and scoring.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    hidden_layers_ : list of int
    network_ : AutoencoderStack
    calibrator_ : ErrorCalibrator
    thresholds_ : ndarray of shape (n_classes,)
        Rejection thresholds on :meth:`unknown_score` (``inf`` when not
        rejecting).
    history_ : dict
        Per-epoch training and validation loss of every class.
    error_ : str
        The error measure chosen, ``"mse"`` or ``"scaled"`` (with
        ``calibration="weighted"``, the one its weights start from).
    error_scores_ : dict
        Validation macro-F1 of each candidate measure (with
        ``error="auto"``; empty otherwise).
    feature_weights_ : ndarray of shape (n_classes, n_features)
        Weight of each feature's squared error under each class's model:
        all ones for ``"mse"``, :func:`~aeids.calibration.scaled_weights`
        for ``"scaled"``, and learned from those with
        ``calibration="weighted"``.
    feature_error_medians_ : ndarray of shape (n_models, n_features)
        Median squared reconstruction error of each feature on each model's
        own validation rows; per-record explanations are relative to it.
    """

    def __init__(self, hidden_layers="auto", activation=None, max_epochs=60,
                 batch_size=256, learning_rate=1e-3, patience=5, stop_loss=None,
                 validation_fraction=0.2, calibration="weighted", error="auto",
                 unknown_rate=None,
                 unknown_label="unknown", margin_weight=1.0, margin_factor=2.0,
                 margin_epochs=30, oversample=None, random_state=0, device="cpu"):
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.stop_loss = stop_loss
        self.validation_fraction = validation_fraction
        self.calibration = calibration
        self.error = error
        self.unknown_rate = unknown_rate
        self.unknown_label = unknown_label
        self.margin_weight = margin_weight
        self.margin_factor = margin_factor
        self.margin_epochs = margin_epochs
        self.oversample = oversample
        self.random_state = random_state
        self.device = device

    def fit(self, X, y, epoch_callback=None):
        """Train one autoencoder per class and calibrate their errors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded, scaled records (see :class:`~aeids.FeatureEncoder`).
        y : array-like of shape (n_samples,)
            Class labels.
        epoch_callback : callable or None
            Called as ``epoch_callback(epoch, history)`` after every epoch.

        Returns
        -------
        self : AutoencoderClassifier
        """
        X, y = self._validate_fit(X, y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        train_idx, val_idx = self._split(codes)
        X_train, codes_train = self._oversample(X[train_idx], codes[train_idx])
        # One float32 matrix for all classes; rows are taken by index from it.
        data = np.concatenate([X_train, X[val_idx]]).astype(np.float32,
                                                           copy=False)
        tensor = torch.from_numpy(data).to(self.device)
        n_train = len(X_train)
        train_rows = [np.flatnonzero(codes_train == k) for k in range(n_classes)]
        val_rows = [n_train + np.flatnonzero(codes[val_idx] == k)
                    for k in range(n_classes)]

        self.hidden_layers_ = resolve_layers(self.hidden_layers, self.n_features_in_)
        self.activation_ = self.activation or (
            "tanh" if self.hidden_layers == "notebook" else "relu"
        )
        seeds = np.random.SeedSequence(self.random_state).generate_state(n_classes)
        self.network_ = AutoencoderStack(
            n_classes, self.n_features_in_, self.hidden_layers_,
            self.activation_, seeds=seeds.tolist(),
        ).to(self.device)
        self._train(tensor, train_rows, val_rows, epoch_callback)
        self.network_.eval()

        val_x = tensor[torch.from_numpy(np.concatenate(val_rows))]
        val_codes = np.concatenate([np.full(len(r), k) for k, r in enumerate(val_rows)])
        val_errors = self._choose_error(tensor, train_rows, val_x, val_codes)
        if self.calibration == "weighted":
            val_errors = self._learn_feature_weights(val_x, val_codes)
        own = [val_errors[val_codes == k, k] for k in range(n_classes)]
        self.calibrator_ = ErrorCalibrator(self.calibration).fit(
            own, val_errors, val_codes
        )
        val_unknown = _unknown_scores(self.calibrator_.transform(val_errors))
        self.thresholds_ = self._thresholds(val_unknown, val_codes)
        self.feature_error_medians_ = self.network_.median_feature_errors(
            tensor, val_rows
        )
        return self

    def _choose_error(self, tensor, train_rows, val_x, val_codes):
        """Set the error measure and its weights; return the validation errors."""
        candidates = {"mse": np.ones((len(self.classes_), self.n_features_in_))}
        if self.error != "mse":
            fit_errors = self.network_.mean_feature_errors(tensor, train_rows)
            candidates["scaled"] = scaled_weights(fit_errors)
        if self.error == "scaled":
            del candidates["mse"]
        errors = {name: self._all_errors(val_x, weights)
                  for name, weights in candidates.items()}
        self.error_scores_ = {}
        if len(candidates) > 1:
            self.error_scores_ = {
                name: float(cross_validated_f1(e, val_codes, self.calibration,
                                               self.random_state))
                for name, e in errors.items()
            }
            gain = self.error_scores_["scaled"] - self.error_scores_["mse"]
            self.error_ = "scaled" if gain > SCALED_MARGIN else "mse"
            logger.info("validation macro-F1 by error measure: %s",
                        self.error_scores_)
        else:
            self.error_ = next(iter(candidates))
        self.feature_weights_ = candidates[self.error_]
        return errors[self.error_]

    @torch.no_grad()
    def _learn_feature_weights(self, val_x, val_codes):
        """Fit ``feature_weights_`` on validation rows; return their errors."""
        n_models = len(self.classes_)
        budget = max(WEIGHT_FIT_ENTRIES // (n_models * self.n_features_in_), n_models)
        rows, row_weight = sample_rows(val_codes, budget, self.random_state)
        x = val_x[torch.from_numpy(rows)]
        squared = torch.empty(n_models, len(rows), self.n_features_in_)
        for start in range(0, len(rows), SCORE_CHUNK):
            batch = x[start:start + SCORE_CHUNK]
            squared[:, start:start + len(batch)] = (
                self.network_(batch).sub_(batch).square_().cpu()
            )
        with torch.enable_grad():
            self.feature_weights_ = fit_feature_weights(
                squared, val_codes[rows], self.feature_weights_, row_weight
            )
        return self._all_errors(val_x, self.feature_weights_)

    def reconstruction_errors(self, X):
        """Mean squared reconstruction error of every record under every model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Higher means a worse fit. Squared errors are weighted by
            ``feature_weights_``.
        """
        check_is_fitted(self)
        X = self._validate_predict(X)
        return self._all_errors(torch.from_numpy(X).to(self.device),
                                self.feature_weights_)

    @torch.inference_mode()
    def _all_errors(self, tensor, feature_weights):
        weights = torch.as_tensor(feature_weights, dtype=torch.float32,
                                  device=tensor.device)
        out = np.empty((len(tensor), self.network_.n_models), dtype=np.float64)
        for start in range(0, len(tensor), SCORE_CHUNK):
            batch = tensor[start:start + SCORE_CHUNK]
            out[start:start + len(batch)] = self.network_.errors(batch, weights).cpu()
        return out

    def calibrated_errors(self, X):
        """Errors made comparable across classes; lower means a better fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return self.calibrator_.transform(self.reconstruction_errors(X))

    def predict(self, X):
        """Predict the class of each record, or ``unknown_label`` if rejected.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self.predict_from_scores(self.calibrated_errors(X))

    def predict_from_scores(self, scores):
        """Turn a matrix of calibrated errors into predicted labels.

        Parameters
        ----------
        scores : ndarray of shape (n_samples, n_classes)
            Output of :meth:`calibrated_errors`.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        best = np.argmin(scores, axis=1)
        labels = self.classes_[best]
        rejected = _unknown_scores(scores) > self.thresholds_[best]
        if rejected.any():
            labels = labels.astype(object)
            labels[rejected] = self.unknown_label
        return labels

    def unknown_score(self, X):
        """How poorly the known classes explain each record; higher = more unknown.

        ``s_min + 4 * a`` over the calibrated errors ``s`` of a record:
        ``s_min`` is the best class's calibrated error (even the best class
        fits badly) and ``a = log(sum_k exp(s_min - s_k)) >= 0`` is the
        ambiguity, the negative log of the largest :meth:`predict_proba`
        entry (several classes fit about equally well). ``predict`` labels a
        record ``unknown_label`` when this score exceeds the winning class's
        threshold, the ``1 - unknown_rate`` quantile of the score on that
        class's validation rows.

        Measured on UNSW-NB15 with each class in turn withheld from the
        calibration (one seed, margin fine-tuned models, affine calibration),
        the mean AUROC for telling the withheld class's test rows from the
        others' was 0.836, against 0.810 for ``s_min`` alone, 0.823 for the
        ambiguity alone and 0.831 with a weight of 2.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Higher means more likely a class not seen in training.
        """
        return _unknown_scores(self.calibrated_errors(X))

    def predict_proba(self, X):
        """Class membership scores from calibrated errors.

        A softmax of the negated calibrated errors: rows sum to 1 and the
        largest entry is the predicted class (before rejection). They rank
        classes; they are not calibrated probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        scores = -self.calibrated_errors(X)
        scores -= scores.max(axis=1, keepdims=True)
        weights = np.exp(scores)
        return weights / weights.sum(axis=1, keepdims=True)

    def _validate_fit(self, X, y):
        X = check_array(X, dtype=np.float32, ensure_min_samples=2)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise DataError(
                f"y must be 1-D with one label per row of X ({len(X)} rows); "
                f"got shape {y.shape}."
            )
        check_classification_targets(y)
        if not 0 < self.validation_fraction < 1:
            raise ConfigError(
                f"validation_fraction must lie in (0, 1); "
                f"got {self.validation_fraction}."
            )
        self._check_options()
        labels, counts = np.unique(y, return_counts=True)
        if len(labels) < 2:
            raise DataError(
                f"Training needs at least 2 classes; the labels hold only "
                f"{labels.tolist()}."
            )
        small = [f"{str(label)!r} ({count})" for label, count in zip(labels, counts)
                 if count < 2]
        if small:
            raise DataError(
                f"Each class needs at least 2 training rows (one to train on, one "
                f"to calibrate on); too few: {', '.join(small)}. Drop these classes "
                f"or add rows."
            )
        self.n_features_in_ = X.shape[1]
        return X, y

    def _check_options(self):
        if self.calibration not in METHODS:
            raise ConfigError(
                f"calibration must be one of {', '.join(METHODS)}; "
                f"got {self.calibration!r}."
            )
        if self.error not in ERRORS:
            raise ConfigError(
                f"error must be one of {', '.join(ERRORS)}; got {self.error!r}."
            )
        if self.unknown_rate is not None and not 0 < self.unknown_rate < 1:
            raise ConfigError(
                f"unknown_rate must lie in (0, 1) or be None; got {self.unknown_rate}."
            )
        if self.oversample not in (None, "smote"):
            raise ConfigError(
                f"oversample must be None or 'smote'; got {self.oversample!r}."
            )
        if self.margin_weight < 0 or self.margin_factor <= 0:
            raise ConfigError(
                f"margin_weight must be >= 0 and margin_factor > 0; got "
                f"{self.margin_weight} and {self.margin_factor}."
            )

    def _validate_predict(self, X):
        X = check_array(X, dtype=np.float32)
        if X.shape[1] != self.n_features_in_:
            raise DataError(
                f"X has {X.shape[1]} features, but this model was trained on "
                f"{self.n_features_in_}."
            )
        return np.ascontiguousarray(X)

    def _split(self, codes):
        # Per class, so that every class (of at least 2 rows) keeps at least
        # one row to train on and one to validate on.
        rng = np.random.default_rng(self.random_state)
        train, val = [], []
        for k in range(codes.max() + 1):
            rows = rng.permutation(np.flatnonzero(codes == k))
            n_val = int(round(self.validation_fraction * len(rows)))
            n_val = min(max(n_val, 1), len(rows) - 1)
            val.append(rows[:n_val])
            train.append(rows[n_val:])
        return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))

    def _oversample(self, X, codes):
        if self.oversample is None:
            return X, codes
        from .sampling import smote

        return smote(X, codes, self.classes_, random_state=self.random_state)

    def _training_config(self):
        return TrainingConfig(
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            patience=self.patience,
            stop_loss=self.stop_loss,
            random_state=self.random_state,
        )

    def _train(self, tensor, train_rows, val_rows, callback):
        config = self._training_config()
        self.history_ = train_stack(self.network_, tensor, train_rows, val_rows,
                                    config, callback=callback)
        if self.margin_weight > 0:
            self._fine_tune(tensor, train_rows, val_rows, config, callback)

    def _fine_tune(self, tensor, train_rows, val_rows, config, callback):
        # A class too small to hold out a validation row takes its margin
        # from its training rows.
        medians = np.array([
            np.median(self._member_errors(tensor, rows if len(rows) else fit, k))
            for k, (fit, rows) in enumerate(zip(train_rows, val_rows))
        ])
        config.margin_weight = self.margin_weight
        config.max_epochs = self.margin_epochs
        config.random_state = self.random_state + 1
        tuned = train_stack(self.network_, tensor, train_rows, val_rows, config,
                            margins=self.margin_factor * medians, callback=callback)
        for key in ("train_loss", "val_loss"):
            self.history_[key].extend(tuned[key])

    @torch.inference_mode()
    def _member_errors(self, tensor, rows, k):
        if len(rows) == 0:
            return np.empty(0)
        x = tensor[torch.from_numpy(rows)]
        return self.network_.member_errors(x, k).cpu().numpy().astype(np.float64)

    def _thresholds(self, scores, codes):
        n_classes = len(self.classes_)
        if self.unknown_rate is None:
            return np.full(n_classes, np.inf)
        thresholds = np.array([
            np.quantile(scores[codes == k], 1 - self.unknown_rate, method="higher")
            for k in range(n_classes)
        ])
        few = [str(c) for c, n in zip(self.classes_, self.calibrator_.counts_)
               if n * self.unknown_rate < 1]
        if few:
            warnings.warn(
                f"Classes {', '.join(few)} have too few validation rows to "
                f"estimate a rejection rate of {self.unknown_rate}; their "
                f"thresholds sit at their largest validation score.",
                DataWarning,
                stacklevel=3,
            )
        return thresholds

    _model_kind = "classifier"

    def _to_state(self):
        """Learned state as (JSON-able dict, dict of tensors), for persistence."""
        check_is_fitted(self)
        config = {
            "params": self.get_params(),
            "classes": self.classes_.tolist(),
            "n_features_in": int(self.n_features_in_),
            "hidden_layers": list(self.hidden_layers_),
            "activation": self.activation_,
            "thresholds": [None if not np.isfinite(t) else float(t)
                           for t in self.thresholds_],
            "calibration": self.calibrator_.to_state(),
            "error": self.error_,
            "error_scores": self.error_scores_,
            "history": self.history_,
        }
        tensors = export_stack(self.network_, self.feature_error_medians_)
        tensors[FEATURE_WEIGHTS] = torch.from_numpy(self.feature_weights_)
        return config, tensors

    @classmethod
    def _from_state(cls, config, tensors):
        """Rebuild a fitted classifier from :meth:`_to_state` output."""
        estimator = cls(**config["params"])
        estimator.classes_ = np.asarray(config["classes"])
        estimator.n_features_in_ = int(config["n_features_in"])
        estimator.hidden_layers_ = [int(w) for w in config["hidden_layers"]]
        estimator.activation_ = str(config["activation"])
        estimator.thresholds_ = np.array(
            [np.inf if t is None else float(t) for t in config["thresholds"]]
        )
        estimator.calibrator_ = ErrorCalibrator.from_state(config["calibration"])
        estimator.history_ = config["history"]
        estimator.error_ = str(config["error"])
        estimator.error_scores_ = dict(config["error_scores"])
        n_classes = len(estimator.classes_)
        tensors = dict(tensors)
        estimator.feature_weights_ = tensors.pop(FEATURE_WEIGHTS).double().numpy()
        if estimator.feature_weights_.shape != (n_classes, estimator.n_features_in_):
            raise ValueError(
                f"{FEATURE_WEIGHTS} has shape {estimator.feature_weights_.shape}"
            )
        if not (len(estimator.thresholds_) == n_classes
                == len(estimator.calibrator_.location_)):
            raise ValueError("classes, thresholds and calibration differ in length")
        network, estimator.feature_error_medians_ = import_stack(
            tensors, n_classes, estimator.n_features_in_, estimator.hidden_layers_,
            estimator.activation_,
        )
        estimator.network_ = network.to(estimator.device).eval()
        return estimator

    def __sklearn_is_fitted__(self):
        return hasattr(self, "calibrator_")


def _unknown_scores(scores):
    """Best calibrated error plus weighted ambiguity; higher = more unknown."""
    best = scores.min(axis=1)
    ambiguity = np.log(np.exp(best[:, None] - scores).sum(axis=1))
    return best + AMBIGUITY_WEIGHT * ambiguity
