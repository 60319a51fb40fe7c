"""Make reconstruction errors of different autoencoders comparable.

Each class's autoencoder has its own error scale: a class of near-identical
records is reconstructed almost perfectly, a varied class never is. Before
the smallest error wins, :class:`ErrorCalibrator` maps every model's error to
a calibrated score from the distribution of that model's errors on held-out
rows of its own class.

Methods (lower scores mean a better fit everywhere):

``"fitted"``
    ``a_k * log(e) + b_k`` with one slope ``a_k > 0`` and one offset ``b_k``
    per class, fitted on the validation rows of every class so that a
    softmax over negated scores assigns them to their own classes (maximum
    likelihood). The fit starts from, and is held near, a robust z-score of
    each class's own log errors whose median and spread are shrunk towards
    the values pooled over all classes (``prior_rows`` pseudo-rows), so that
    a class with a handful of validation rows cannot swallow the others.
    Every class's map is monotone, so within a class a better reconstruction
    always scores lower; the maps only place the classes' scales against each
    other, using how each model reconstructs the other classes' held-out
    rows, which own-class statistics cannot see.
``"weighted"``
    ``"fitted"``, after each class's error is first re-measured with a weight
    per feature learned by the same likelihood (see
    :func:`fit_feature_weights`): the maps place the classes' scales against
    each other, the weights choose which features each class's error
    listens to.
``"raw"``
    ``log(e)``: no calibration; the plain argmin of errors.

Measured on UNSW-NB15 (one seed, test macro-F1 of the same trained models):
fitted 0.448, raw 0.452 (accuracy 0.821 against 0.772); a z-score of own
errors alone 0.276 and a shift by the own median 0.322, so those two were
removed; a full multinomial logistic regression on the vector of log errors
gained nothing (0.440-0.449). No map of the errors can close the gap to the
supervised models there: a class-balanced LightGBM trained on the ten
models' log mean squared errors of UNSW-NB15 test rows (seed 0) reached
macro-F1 0.507 in a three-fold cross-validation over those rows, where the
same protocol on the features reached 0.597.
"""

import numpy as np
import torch
from sklearn.metrics import f1_score

from .exceptions import ConfigError

METHODS = ("weighted", "fitted", "raw")
ERRORS = ("auto", "mse", "scaled")
FEATURE_FLOOR = 0.1
FEATURE_L2 = 1e-2
_EPS = 1e-12
_MAD_TO_SD = 1.4826


class ErrorCalibrator:
    """Per-class error statistics and the map to comparable scores.

    Parameters
    ----------
    method : {"weighted", "fitted", "raw"}, default="fitted"
        ``"weighted"`` maps errors as ``"fitted"`` does; its feature weights
        are learned beforehand by :func:`fit_feature_weights`.
    prior_rows : float, default=30
        Weight, in validation rows, of the pooled statistics each class's
        own statistics are shrunk towards.
    """

    def __init__(self, method="fitted", prior_rows=30.0):
        if method not in METHODS:
            raise ConfigError(
                f"calibration must be one of {', '.join(METHODS)}; got {method!r}."
            )
        self.method = method
        self.prior_rows = float(prior_rows)

    def fit(self, own_errors, errors=None, codes=None):
        """Learn each class's error statistics.

        Parameters
        ----------
        own_errors : list of K 1-D arrays
            Errors of autoencoder k on validation rows of class k.
        errors : ndarray of shape (n_val, K) or None
            Errors of every autoencoder on every validation row; needed by
            ``method="fitted"``.
        codes : ndarray of shape (n_val,) or None
            Class index of each validation row; needed by ``method="fitted"``.

        Returns
        -------
        self : ErrorCalibrator
        """
        logs = [np.log(np.asarray(e, dtype=np.float64) + _EPS) for e in own_errors]
        counts = np.array([len(v) for v in logs], dtype=np.float64)
        medians = np.array([np.median(v) if len(v) else np.nan for v in logs])
        spreads = np.array([_robust_sd(v) for v in logs])
        pooled_median, pooled_spread = _pooled(medians, spreads, logs)
        weight = counts / (counts + self.prior_rows)
        self.location_ = _shrink(medians, pooled_median, weight)
        self.scale_ = np.maximum(_shrink(spreads, pooled_spread, weight), 1e-3)
        self.counts_ = counts.astype(int)
        self.slope_ = np.ones(len(logs))
        self.offset_ = np.zeros(len(logs))
        if self.method != "raw":
            if errors is None or codes is None:
                raise ConfigError(
                    f"calibration={self.method!r} needs the errors of every model on "
                    "every validation row."
                )
            self.slope_, self.offset_ = _fit_affine(
                np.log(np.asarray(errors, dtype=np.float64) + _EPS),
                np.asarray(codes), self.location_, self.scale_,
            )
        return self

    def transform(self, errors):
        """Map raw errors of shape (n, K) to calibrated scores (lower fits better)."""
        logs = np.log(np.asarray(errors, dtype=np.float64) + _EPS)
        if self.method == "raw":
            return logs
        return self.slope_ * logs + self.offset_

    def to_state(self):
        """Return the learned state as a JSON-serialisable dict."""
        return {
            "method": self.method,
            "prior_rows": self.prior_rows,
            "location": self.location_.tolist(),
            "scale": self.scale_.tolist(),
            "counts": self.counts_.tolist(),
            "slope": self.slope_.tolist(),
            "offset": self.offset_.tolist(),
        }

    @classmethod
    def from_state(cls, state):
        """Rebuild a fitted calibrator from :meth:`to_state` output."""
        calibrator = cls(state["method"], state["prior_rows"])
        calibrator.location_ = np.asarray(state["location"], dtype=np.float64)
        calibrator.scale_ = np.asarray(state["scale"], dtype=np.float64)
        calibrator.counts_ = np.asarray(state["counts"], dtype=int)
        calibrator.slope_ = np.asarray(state["slope"], dtype=np.float64)
        calibrator.offset_ = np.asarray(state["offset"], dtype=np.float64)
        n = len(calibrator.location_)
        if not (len(calibrator.scale_) == len(calibrator.counts_) == n
                == len(calibrator.slope_) == len(calibrator.offset_)):
            raise ValueError("calibration arrays differ in length")
        return calibrator


def _pooled(medians, spreads, logs):
    """Median over classes of their medians and spreads.

    Classes too small for a statistic are left out; when none has it, the
    rows of all classes are pooled, and without two of them the spread falls
    back to 1 (and without any row the median to a log error of 0).
    """
    known = medians[np.isfinite(medians)]
    median = float(np.median(known)) if len(known) else 0.0
    known = spreads[np.isfinite(spreads)]
    if len(known):
        return median, float(np.median(known))
    spread = _robust_sd(np.concatenate([np.empty(0), *logs]))
    return median, float(spread) if np.isfinite(spread) and spread > 0 else 1.0


def _robust_sd(values):
    if len(values) < 2:
        return np.nan
    return _MAD_TO_SD * np.median(np.abs(values - np.median(values)))


def _shrink(own, pooled, weight):
    own = np.where(np.isfinite(own), own, pooled)
    return weight * own + (1 - weight) * pooled


def _fit_affine(logs, codes, location, scale, l2=1e-3, steps=200):
    """Fit per-class slopes and offsets by softmax likelihood.

    Every validation row weighs the same. Class-balanced weights (each class
    the same total) lowered test macro-F1 over three seeds from 0.453 to
    0.442 on UNSW-NB15, 0.793 to 0.725 on NSL-KDD and 0.829 to 0.820 on the
    CIC-IDS2017 sample: rare classes then claim many rows of common ones.
    Weights of one over the square root of the class size changed nothing.
    """
    row_weight = torch.full((len(codes),), 1.0 / max(len(codes), 1),
                            dtype=torch.float64)
    x = torch.as_tensor(logs)
    target = torch.as_tensor(codes, dtype=torch.long)
    # Start from the shrunk z-score, the best guess from own-class rows alone.
    log_slope = torch.tensor(-np.log(scale), requires_grad=True)
    offset = torch.tensor(-location / scale, requires_grad=True)
    start = (log_slope.detach().clone(), offset.detach().clone())
    optimizer = torch.optim.LBFGS([log_slope, offset], max_iter=steps,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        scores = -(torch.exp(log_slope) * x + offset)
        nll = torch.nn.functional.cross_entropy(scores, target, reduction="none")
        penalty = ((log_slope - start[0]) ** 2).sum() + ((offset - start[1]) ** 2).sum()
        loss = (nll * row_weight).sum() + l2 * penalty
        loss.backward()
        return loss

    with torch.random.fork_rng():
        optimizer.step(closure)
    slope = torch.exp(log_slope).detach().numpy()
    return slope, offset.detach().numpy()


def fit_feature_weights(feature_errors, codes, weights, row_weight=None,
                        l2=FEATURE_L2, steps=1000):
    """Learn how much each feature's squared error counts in each class's error.

    Class k's error of row i becomes ``e_ik = mean_j(w_kj * s_kij)``, where
    ``s_kij`` is model k's squared error of feature j. The weights
    ``w = exp(theta)`` are fitted with a slope and offset per class by the
    softmax likelihood of :class:`ErrorCalibrator`'s ``"fitted"`` method, so
    that each class's error listens to the features that tell its rows from
    the others', and are held near ``weights`` by ``l2 * ||theta -
    log(weights)||^2 / K``. Each class's score still depends on its own
    model's reconstruction alone.

    Over three seeds (``benchmarks/quality.py``, the same networks with the
    affine map alone against the learned weights), test macro-F1 rose from
    0.453 to 0.465 on UNSW-NB15 (on every seed), 0.823 to 0.829 on NSL-KDD
    and 0.829 to 0.841 on the CIC-IDS2017 sample (accuracy 0.937 to 0.966),
    and the mean AUROC of the unknown score for a withheld UNSW-NB15 attack
    class from 0.813 to 0.831.

    The penalty keeps the fit well posed. With ``l2`` of 1e-4 or 1e-3 the
    optimum was not unique: perturbing the errors by one part in a million
    moved weights by up to a factor of 10, and test macro-F1 on the
    CIC-IDS2017 sample from 0.839 to 0.794 (1e-4). With 1e-2 the weights
    moved by at most 0.4% and at most 0.03% of test predictions changed. One
    seed's test macro-F1 for ``l2`` of 1e-4, 1e-3, 3e-3 and 1e-2: UNSW-NB15
    0.481, 0.483, 0.478, 0.473; NSL-KDD 0.873, 0.869, 0.853, 0.854; the
    CIC-IDS2017 sample 0.839, 0.833, 0.841, 0.853.

    Training on the weighted errors gained nothing: learning the weights
    before margin fine-tuning and fine-tuning on weighted errors (own loss and
    hinge), then learning them again, measured test macro-F1 0.476 against
    0.473 on UNSW-NB15 (seed 0), 0.840 and 0.854 against 0.850 and 0.849 on
    the CIC-IDS2017 sample (seeds 0 and 1) and 0.756 against 0.761 on
    NSL-KDD (seed 0) at the same training time; a second, weighted round of
    fine-tuning after the default fit 0.467, 0.819 and 0.862 at 1.5 to 2.3
    times the time.

    Parameters
    ----------
    feature_errors : Tensor of shape (K, n, n_features), float32
        ``s``: squared error of every feature of n validation rows under
        every model.
    codes : ndarray of shape (n,)
        Class index of each row.
    weights : ndarray of shape (K, n_features)
        Starting weights, all positive.
    row_weight : ndarray of shape (n,) or None
        Weight of each row in the likelihood (rows subsampled from a class
        stand for the rows left out); None weighs them equally.
    l2 : float, default=1e-2
    steps : int, default=1000
        Most L-BFGS iterations.

    Returns
    -------
    ndarray of shape (K, n_features)
    """
    n_models, n_rows, n_features = feature_errors.shape
    if row_weight is None:
        row_weight = np.ones(n_rows)
    row_weight = torch.as_tensor(row_weight / np.sum(row_weight),
                                 dtype=torch.float64)
    target = torch.as_tensor(codes, dtype=torch.long)
    # The errors stay float32 (the largest array); the fit runs in float64.
    start = torch.log(torch.as_tensor(weights, dtype=torch.float64))
    theta = start.clone().requires_grad_(True)
    log_slope = torch.zeros(n_models, 1, dtype=torch.float64, requires_grad=True)
    offset = torch.zeros(n_models, 1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([theta, log_slope, offset], max_iter=steps,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        scale = torch.exp(theta).to(feature_errors.dtype).unsqueeze(2)
        errors = torch.bmm(feature_errors, scale).squeeze(2).double()
        logs = torch.log(errors / n_features + _EPS)
        scores = -(torch.exp(log_slope) * logs + offset)
        nll = torch.nn.functional.cross_entropy(scores.T, target, reduction="none")
        penalty = ((theta - start) ** 2).sum() / n_models
        loss = (nll * row_weight).sum() + l2 * penalty
        loss.backward()
        return loss

    with torch.random.fork_rng():
        optimizer.step(closure)
    return torch.exp(theta).detach().double().numpy()


def sample_rows(codes, budget, random_state=0):
    """Rows to fit on when all of them would not fit: small classes whole.

    Every class keeps all its rows if the total is within ``budget``;
    otherwise the largest classes are cut to an equal quota, so that the
    rows fit the budget, and each kept row is weighted by how many rows of
    its class it stands for.

    Returns
    -------
    rows : ndarray of int
        Sorted indices into ``codes``.
    row_weight : ndarray of float
        One weight per kept row.
    """
    codes = np.asarray(codes)
    labels, counts = np.unique(codes, return_counts=True)
    if counts.sum() <= budget:
        return np.arange(len(codes)), np.ones(len(codes))
    # The largest quota q with sum(min(count, q)) <= budget.
    order = np.sort(counts)
    quota, left = 0, budget
    for i, count in enumerate(order):
        share = left // (len(order) - i)
        if count > share:
            quota = share
            break
        left -= count
    rng = np.random.default_rng(random_state)
    keep, weight = [], []
    for label, count in zip(labels, counts):
        rows = np.flatnonzero(codes == label)
        if count > quota:
            rows = np.sort(rng.choice(rows, size=max(quota, 1), replace=False))
        keep.append(rows)
        weight.append(np.full(len(rows), count / len(rows)))
    keep, weight = np.concatenate(keep), np.concatenate(weight)
    order = np.argsort(keep)
    return keep[order], weight[order]


def scaled_weights(feature_errors, floor=FEATURE_FLOOR):
    """Per-feature weights that turn squared errors into scaled errors.

    Model k's weight for feature j is ``1 / max(v_kj, floor * mean_j v_kj)``,
    where ``v_kj`` is that model's mean squared error of feature j on its own
    class's training rows. A feature the class's model reconstructs almost
    exactly then weighs heavily: a record that breaks it fits the class
    badly, however well it fits the other features. The floor keeps a
    feature that never varies in a class from dominating every other.

    Parameters
    ----------
    feature_errors : ndarray of shape (K, n_features)
        ``v``; a row of NaN (a model without rows) gets weights of 1.
    floor : float, default=0.1

    Returns
    -------
    ndarray of shape (K, n_features)
    """
    errors = np.asarray(feature_errors, dtype=np.float64)
    known = np.isfinite(errors).all(axis=1)
    weights = np.ones_like(errors)
    rows = errors[known]
    floors = np.maximum(floor * rows.mean(axis=1, keepdims=True), _EPS)
    weights[known] = 1.0 / np.maximum(rows, floors)
    return weights


def cross_validated_f1(errors, codes, method, random_state=0):
    """Macro-F1 of the calibrated argmin in a two-fold split of validation rows.

    Each class's rows are split in two halves; a calibrator fitted on one
    half assigns the rows of the other, and the macro-F1 of all assignments
    is returned. Used to choose how errors are measured, on rows no model
    was trained on.

    Parameters
    ----------
    errors : ndarray of shape (n_val, K)
        Errors of every model on every validation row.
    codes : ndarray of shape (n_val,)
        Class index of each row.
    method : {"fitted", "raw"}
    random_state : int, default=0

    Returns
    -------
    float
    """
    rng = np.random.default_rng(random_state)
    fold = np.zeros(len(codes), dtype=bool)
    for k in np.unique(codes):
        rows = rng.permutation(np.flatnonzero(codes == k))
        fold[rows[::2]] = True
    predicted = np.empty(len(codes), dtype=int)
    n_models = errors.shape[1]
    for held_out in (fold, ~fold):
        fit_rows = ~held_out
        own = [errors[fit_rows & (codes == k), k] for k in range(n_models)]
        calibrator = ErrorCalibrator(method).fit(
            own, errors[fit_rows], codes[fit_rows]
        )
        predicted[held_out] = calibrator.transform(errors[held_out]).argmin(axis=1)
    return f1_score(codes, predicted, average="macro", labels=np.unique(codes))
