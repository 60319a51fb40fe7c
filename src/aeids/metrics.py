"""Evaluation results as plain dicts, ready for JSON, text or HTML rendering."""

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)


def classification_metrics(y_true, y_pred, labels, rows_per_second=None):
    """Per-class and averaged metrics of a classification.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    labels : sequence
        Class labels in report order; predicted labels outside it (such as
        ``unknown``) are appended.
    rows_per_second : float or None
        Scoring throughput to record.

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``weighted_f1``, ``macro`` and
        ``weighted`` (precision, recall, f1), ``per_class`` (label ->
        precision, recall, f1, support), ``labels``, ``confusion_matrix``
        (rows: true label, columns: predicted label, in ``labels`` order),
        ``n_samples``, ``rows_per_second``.
    """
    y_true = np.asarray(y_true, dtype=object).astype(str)
    y_pred = np.asarray(y_pred, dtype=object).astype(str)
    labels = [str(label) for label in labels]
    extra = sorted(set(np.unique(y_pred)) - set(labels))
    report_labels = labels + extra
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=report_labels, zero_division=0
    )
    true_labels = [i for i, label in enumerate(report_labels) if label not in extra]
    averages = {}
    for name in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=[report_labels[i] for i in true_labels],
            average=name, zero_division=0,
        )
        averages[name] = {"precision": float(p), "recall": float(r), "f1": float(f)}
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(report_labels)
    }
    matrix = confusion_matrix(y_true, y_pred, labels=report_labels)
    return {
        "n_samples": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": averages["macro"]["f1"],
        "weighted_f1": averages["weighted"]["f1"],
        "macro": averages["macro"],
        "weighted": averages["weighted"],
        "per_class": per_class,
        "labels": report_labels,
        "confusion_matrix": matrix.tolist(),
        "rows_per_second": None if rows_per_second is None else float(rows_per_second),
    }


def detection_metrics(is_attack, scores, flags, rows_per_second=None):
    """Metrics of an anomaly detector, attack being the positive class.

    Parameters
    ----------
    is_attack : array-like of bool, shape (n_samples,)
        Ground truth.
    scores : array-like of shape (n_samples,)
        Anomaly scores; higher means more anomalous.
    flags : array-like of {0, 1}, shape (n_samples,)
        Verdicts at the detector's threshold (1 = attack).
    rows_per_second : float or None

    Returns
    -------
    dict
        ``roc_auc`` and ``pr_auc`` (None when only one class is present),
        ``precision``, ``recall``, ``f1``, ``false_positive_rate``,
        ``accuracy``, ``confusion_matrix`` ([[TN, FP], [FN, TP]]),
        ``labels``, ``n_samples``, ``n_attacks``, ``rows_per_second``.
    """
    truth = np.asarray(is_attack, dtype=bool)
    flags = np.asarray(flags).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    both = 0 < truth.sum() < len(truth)
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, flags, average="binary", zero_division=0
    )
    matrix = confusion_matrix(truth, flags, labels=[False, True])
    negatives = matrix[0].sum()
    return {
        "n_samples": int(len(truth)),
        "n_attacks": int(truth.sum()),
        "roc_auc": float(roc_auc_score(truth, scores)) if both else None,
        "pr_auc": float(average_precision_score(truth, scores)) if both else None,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "false_positive_rate": float(matrix[0, 1] / negatives) if negatives else None,
        "accuracy": float(accuracy_score(truth, flags)),
        "labels": ["normal", "attack"],
        "confusion_matrix": matrix.tolist(),
        "rows_per_second": None if rows_per_second is None else float(rows_per_second),
    }
