"""Everything a report shows, computed once as a JSON-able dict.

:func:`build_report` scores a labelled table with a model and gathers the
metrics, the distributions behind them, the training curves and the model's
provenance. The renderers (:mod:`.html`, :mod:`.markdown`, :mod:`.text`) only
format this dict; none of them computes anything.

Scores follow the library's convention: calibrated errors and anomaly scores
are higher for records a model fits worse.
"""

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

from ..persistence import library_versions
from ..pipeline import evaluate_model, score_table

N_BINS = 40
CURVE_POINTS = 400


def build_report(model, table, *, source=None, model_path=None):
    """Score ``table`` with ``model`` and collect what a report shows.

    Parameters
    ----------
    model : TrafficModel
        A fitted classifier or detector.
    table : Table
        Labelled records to evaluate on.
    source : str or None
        Name of the evaluated file; defaults to the table's path.
    model_path : str or None
        Where the model was loaded from, for the report's header.

    Returns
    -------
    dict
        ``kind``, ``source``, ``model_path``, ``created``, ``metrics`` (see
        :func:`aeids.pipeline.evaluate_model`), ``training`` (per-epoch
        losses), ``loading`` (summaries of the training and evaluated
        files), ``includes_training_rows`` (the records come from the file
        the model was trained on, so they may include training rows),
        ``configuration``, ``versions``; for a classifier
        ``error_distributions`` (per class, histograms of calibrated error
        on its own rows and on other rows); for a detector ``curves`` (ROC
        and precision-recall with the operating point) and
        ``score_histogram`` (normal and attack rows, with the threshold).
    """
    metrics = evaluate_model(model, table)
    scored = score_table(model, table)
    labels = table.labels.astype(str).to_numpy()
    data = {
        "kind": model.kind,
        "source": str(source or table.summary.path),
        "model_path": None if model_path is None else str(model_path),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": metrics,
    }
    if model.kind == "detector":
        is_attack = labels != str(model.loading.get("normal"))
        scores = scored["score"].to_numpy(dtype=np.float64)
        threshold = float(model.estimator.threshold_)
        data["curves"] = detection_curves(is_attack, scores, threshold, metrics)
        data["score_histogram"] = _score_histogram(is_attack, scores, threshold)
    else:
        classes = [str(c) for c in model.estimator.classes_]
        errors = scored[[f"error_{c}" for c in model.estimator.classes_]]
        data["error_distributions"] = error_distributions(
            labels, errors.to_numpy(dtype=np.float64), classes
        )
    data["training"] = training_curves(model)
    data["loading"] = {
        "training_file": model.metadata.get("loading_summary"),
        "evaluated_file": table.summary.to_dict(),
    }
    data["includes_training_rows"] = includes_training_rows(model, table)
    data["configuration"] = configuration(model)
    data["versions"] = {
        "training": model.metadata.get("versions") or {},
        "report": library_versions(),
    }
    return data


def error_distributions(labels, errors, classes):
    """Per class, calibrated error on the class's own rows versus other rows.

    Parameters
    ----------
    labels : ndarray of str, shape (n_samples,)
        True labels; labels the model does not know count as "other".
    errors : ndarray of shape (n_samples, n_classes)
        Calibrated errors (higher: worse fit), columns in ``classes`` order.
    classes : list of str

    Returns
    -------
    dict
        Class -> ``bins`` (edges), ``own`` and ``other`` (counts),
        ``log_scale``, ``n_own``, ``n_other``, ``median_own``,
        ``median_other`` and ``separation``: the probability that another
        class's row has a higher error than one of the class's own rows
        (ROC-AUC; 0.5 is no separation, None when a side is empty).
    """
    out = {}
    for k, name in enumerate(classes):
        own = labels == name
        column = errors[:, k]
        both = own.any() and not own.all()
        histogram = _histogram({"own": column[own], "other": column[~own]})
        out[name] = {
            **histogram,
            "n_own": int(own.sum()),
            "n_other": int((~own).sum()),
            "median_own": _median(column[own]),
            "median_other": _median(column[~own]),
            "separation": float(roc_auc_score(~own, column)) if both else None,
        }
    return out


def detection_curves(is_attack, scores, threshold, metrics):
    """ROC and precision-recall curves, thinned, with the operating point.

    Parameters
    ----------
    is_attack : ndarray of bool
    scores : ndarray of float
        Anomaly scores; higher means more anomalous.
    threshold : float
        Scores above it are flagged.
    metrics : dict
        From :func:`aeids.metrics.detection_metrics`.

    Returns
    -------
    dict or None
        ``roc`` (``fpr``, ``tpr``, ``auc``), ``pr`` (``recall``,
        ``precision``, ``auc``, ``base_rate``) and ``operating_point``
        (``threshold``, ``fpr``, ``recall``, ``precision``); None when the
        rows hold only one class.
    """
    if is_attack.all() or not is_attack.any():
        return None
    fpr, tpr, _ = roc_curve(is_attack, scores)
    precision, recall, _ = precision_recall_curve(is_attack, scores)
    return {
        "roc": {"fpr": _thin(fpr), "tpr": _thin(tpr), "auc": metrics["roc_auc"]},
        "pr": {
            "recall": _thin(recall),
            "precision": _thin(precision),
            "auc": metrics["pr_auc"],
            "base_rate": float(is_attack.mean()),
        },
        "operating_point": {
            "threshold": threshold,
            "fpr": metrics["false_positive_rate"],
            "recall": metrics["recall"],
            "precision": metrics["precision"],
        },
    }


def training_curves(model):
    """Per-epoch training and validation loss of every autoencoder.

    Returns
    -------
    dict
        ``members`` (one name per autoencoder), ``train_loss`` and
        ``val_loss`` (per member, a list over epochs; None where a loss was
        not finite), ``best_epoch`` and ``stopped_epoch`` (0-based, per
        member, or None when the history does not hold them).
    """
    estimator = model.estimator
    history = getattr(estimator, "history_", None) or {}
    if model.kind == "detector":
        members = [str(model.loading.get("normal") or "normal")]
    else:
        members = [str(c) for c in estimator.classes_]
    curves = {}
    for key in ("train_loss", "val_loss"):
        epochs = history.get(key) or []
        curves[key] = [[_finite(epoch[k]) for epoch in epochs]
                       for k in range(len(members))]
    return {
        "members": members,
        **curves,
        "best_epoch": history.get("best_epoch"),
        "stopped_epoch": history.get("stopped_epoch"),
    }


def configuration(model):
    """The estimator's parameters, learned shape and the preprocessing used."""
    estimator, encoder = model.estimator, model.encoder
    learned = {
        "n_features_in": int(estimator.n_features_in_),
        "hidden_layers": list(estimator.hidden_layers_),
        "activation": estimator.activation_,
    }
    if model.kind == "detector":
        learned["threshold"] = float(estimator.threshold_)
        learned["validation_fpr"] = float(estimator.validation_fpr_)
    else:
        learned["classes"] = [str(c) for c in estimator.classes_]
    training = {key: model.metadata.get(key) for key in
                ("mode", "normal", "test_size", "random_state", "training_rows")}
    return {
        "estimator": type(estimator).__name__,
        "params": {key: _plain(value)
                   for key, value in estimator.get_params().items()},
        "learned": learned,
        "preprocessing": {
            "scaler": encoder.scaler,
            "log_transform": bool(encoder.log_transform),
            "numeric_columns": len(encoder.numeric_columns_),
            "categorical_columns": list(encoder.categorical_columns_),
            "features_out": len(encoder.feature_names_out_),
        },
        "training": training,
        "loading": {key: _plain(value) for key, value in model.loading.items()},
    }


def _score_histogram(is_attack, scores, threshold):
    histogram = _histogram({"normal": scores[~is_attack],
                            "attack": scores[is_attack]}, extra=threshold)
    histogram["threshold"] = threshold
    return histogram


def _histogram(groups, extra=None):
    """Counts of every group over shared bins.

    Bins are logarithmic when every value is positive and the values span
    more than two decades (reconstruction errors usually do); values outside
    the 0.5-99.5 percentile range land in the end bins.
    """
    values = np.concatenate([v for v in groups.values()])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return {"bins": [], "log_scale": False, **{g: [] for g in groups}}
    low, high = np.percentile(values, [0.5, 99.5])
    if extra is not None and np.isfinite(extra):
        low, high = min(low, extra), max(high, extra)
    log_scale = bool(values.min() > 0 and high / max(low, 1e-300) > 100)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    if log_scale:
        edges = np.geomspace(low, high, N_BINS + 1)
    else:
        edges = np.linspace(low, high, N_BINS + 1)
    out = {"bins": edges.tolist(), "log_scale": log_scale}
    for name, group in groups.items():
        group = np.clip(group[np.isfinite(group)], low, high)
        out[name] = np.histogram(group, bins=edges)[0].tolist()
    return out


def includes_training_rows(model, table):
    """Whether ``table`` was read from the file the model was trained on.

    Metrics on such a file include the training rows and are optimistic.
    """
    return _same_file(model.metadata.get("loading_summary"), table.summary.path)


def _same_file(training_summary, path):
    if not training_summary or not training_summary.get("path"):
        return False
    trained = [p.strip() for p in str(training_summary["path"]).split(",")]
    try:
        return any(Path(p).resolve() == Path(path).resolve() for p in trained)
    except OSError:
        return False


def _thin(values, limit=CURVE_POINTS):
    values = np.asarray(values, dtype=np.float64)
    if len(values) > limit:
        index = np.unique(np.linspace(0, len(values) - 1, limit).round().astype(int))
        values = values[index]
    return values.tolist()


def _median(values):
    return float(np.median(values)) if len(values) else None


def _finite(value):
    return float(value) if value is not None and math.isfinite(value) else None


def _plain(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
