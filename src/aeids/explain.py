"""Which features make a record's reconstruction error: per-record explanations.

A record is explained under one autoencoder: for a classifier, the class whose
autoencoder fits it best (lowest calibrated error, the predicted class before
any rejection as unknown); for a detector, the autoencoder of normal traffic.
Each encoded feature's squared reconstruction error is a share of the
record's total, so the shares of a record sum to 1 and its mean squared error
(its score; higher means a worse fit) is their common scale.

Shares are relative to what is typical for that autoencoder when the
estimator holds a per-member, per-feature typical squared error (attribute
``feature_error_medians_`` of shape ``(n_members, n_features)``, the median
over its validation rows): a feature then counts in proportion to how far its
error exceeds its usual error, so a feature that is always poorly
reconstructed does not crowd out the unusual one. Estimators fitted without
that statistic give raw shares of the squared error; every explanation says
which with its ``relative_to`` entry.

Features carry their encoded names (``sbytes``, ``service=http``) and the
input column they come from (``service``), so one-hot features map back to
the record's own value.
"""

import math
import warnings

import numpy as np
import pandas as pd
import torch

from .exceptions import DataError, UnseenCategoryWarning, listing
from .io import Table
from .pipeline import predict_file, read_table, score_table

TYPICAL_ERRORS = "feature_error_medians_"
RELATIVE = "typical error per feature on the model's validation rows"
RAW = "the record's total squared error (no typical errors stored in the model)"
CHUNK = 4096


def typical_feature_errors(estimator):
    """Typical squared error per member autoencoder and feature, if stored.

    Returns
    -------
    ndarray of shape (n_members, n_features) or None
        None when the estimator was fitted without the statistic.
    """
    typical = getattr(estimator, TYPICAL_ERRORS, None)
    return None if typical is None else np.asarray(typical, dtype=np.float64)


def feature_contributions(model, X):
    """Split every record's reconstruction error into per-feature shares.

    Parameters
    ----------
    model : TrafficModel
        A fitted classifier or detector.
    X : array-like of shape (n_samples, n_features)
        Encoded records (``model.transform(table.features)``).

    Returns
    -------
    dict
        ``member`` (int array: the autoencoder each record is explained
        under), ``squared`` (squared error per feature), ``reconstruction``,
        ``shares`` (per row, non-negative, summing to 1), ``score`` (the
        record's reconstruction error as the estimator measures it, with
        any per-feature weights; higher means a worse fit),
        ``relative`` (bool: shares are relative to typical errors) and, for
        a classifier, ``calibrated`` (calibrated errors of every class).
    """
    estimator = model.estimator
    X = np.ascontiguousarray(X, dtype=np.float32)
    out = {}
    if model.kind == "detector":
        member = np.zeros(len(X), dtype=np.int64)
    else:
        out["calibrated"] = estimator.calibrated_errors(X)
        member = np.argmin(out["calibrated"], axis=1)
    reconstruction = _reconstruct(estimator.network_, X, member, estimator.device)
    squared = (reconstruction.astype(np.float64) - X) ** 2
    typical = typical_feature_errors(estimator)
    weights = squared if typical is None else squared / _floored(typical)[member]
    totals = weights.sum(axis=1, keepdims=True)
    shares = np.divide(weights, totals, out=np.full_like(weights, 1 / X.shape[1]),
                       where=totals > 0)
    weighted = squared
    feature_weights = getattr(estimator, "feature_weights_", None)
    if feature_weights is not None:
        weighted = squared * feature_weights[member]
    out.update(member=member, squared=squared, reconstruction=reconstruction,
               shares=shares, score=weighted.mean(axis=1),
               relative=typical is not None)
    return out


def explain_records(model, table, top=5):
    """Explain every record of ``table`` by its top features.

    Parameters
    ----------
    model : TrafficModel
    table : Table
        Records to explain; labels are reported when present.
    top : int, default=5
        Features listed per record, largest share first.

    Returns
    -------
    list of dict
        One per record: ``row`` (0-based position in its file), ``label``
        (or None), ``predicted``, ``explained_under`` (class of the
        autoencoder used), ``score`` (reconstruction error as the model
        measures it; higher means a worse fit), ``relative_to`` and ``features``: a list
        of ``feature`` (encoded name), ``column`` (input column), ``value``
        (the record's input value), ``encoded``, ``reconstruction``,
        ``squared_error`` and ``share``.
    """
    _check_top(top)
    X = model.transform(table.features)
    parts = feature_contributions(model, X)
    names = list(model.encoder.feature_names_out_)
    columns = feature_columns(model.encoder)
    members = _member_names(model)
    predicted = _predicted(model, parts)
    records = []
    for i in range(len(X)):
        order = np.argsort(-parts["shares"][i], kind="stable")[:top]
        features = [{
            "feature": names[j],
            "column": columns[j],
            "value": _plain(table.features[columns[j]].iloc[i]),
            "encoded": float(X[i, j]),
            "reconstruction": float(parts["reconstruction"][i, j]),
            "squared_error": float(parts["squared"][i, j]),
            "share": float(parts["shares"][i, j]),
        } for j in order]
        records.append({
            "row": int(table.rows[i]),
            "label": None if table.labels is None else str(table.labels.iloc[i]),
            "predicted": predicted[i],
            "explained_under": members[parts["member"][i]],
            "score": float(parts["score"][i]),
            "relative_to": RELATIVE if parts["relative"] else RAW,
            "features": features,
        })
    return records


def top_features(model, X, top=5):
    """The top features of every record as ``"name:share;name:share"`` text.

    Parameters
    ----------
    model : TrafficModel
    X : array-like of shape (n_samples, n_features)
        Encoded records.
    top : int, default=5

    Returns
    -------
    list of str
        Shares with three decimals, largest first.
    """
    _check_top(top)
    shares = feature_contributions(model, X)["shares"]
    names = model.encoder.feature_names_out_
    order = np.argsort(-shares, axis=1, kind="stable")[:, :top]
    return [";".join(f"{names[j]}:{shares[i, j]:.3f}" for j in row)
            for i, row in enumerate(order)]


def feature_columns(encoder):
    """The input column of every encoded feature, in the encoder's order."""
    columns = list(encoder.numeric_columns_)
    if encoder.onehot_ is not None:
        for column, values in zip(encoder.categorical_columns_,
                                  encoder.onehot_.categories_):
            columns += [column] * len(values)
    return columns


def select_rows(model, path, rows, chunk_rows=200_000):
    """Read only the records at 0-based file positions ``rows``.

    The file is streamed chunk by chunk, so memory stays bounded whatever
    its size.

    Returns
    -------
    Table
        The records, in the order of ``rows``.
    """
    wanted = list(dict.fromkeys(int(r) for r in rows))
    found, total = [], 0
    for table in read_table(path, model.loading, require_label=False,
                            chunk_rows=chunk_rows):
        total = max(total, int(table.rows[-1]) + 1) if len(table.rows) else total
        keep = np.flatnonzero(np.isin(table.rows, wanted))
        if len(keep):
            found.append(_subset(table, keep))
    have = set() if not found else set(np.concatenate([t.rows for t in found]))
    missing = [r for r in wanted if r not in have]
    if missing:
        raise DataError(
            f"{'Row' if len(missing) == 1 else 'Rows'} "
            f"{listing(missing, limit=10, render=str)} "
            f"{'is' if len(missing) == 1 else 'are'} not among the records "
            f"of {path} (0-based; the last record read is {total - 1}): beyond "
            f"its end, or dropped while loading. Pick other rows."
        )
    table = _concat(found)
    position = {int(r): i for i, r in enumerate(table.rows)}
    return _subset(table, np.array([position[r] for r in wanted]))


def explained_predictions(model, table, top=5):
    """Predictions as :func:`aeids.score_table` gives them, plus explanations.

    Returns
    -------
    DataFrame
        :func:`aeids.score_table`'s columns and ``top_features``
        (see :func:`top_features`).
    """
    frame = score_table(model, table)
    with warnings.catch_warnings():
        # score_table has already warned about values unseen in training.
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        X = model.transform(table.features)
    frame["top_features"] = top_features(model, X, top)
    return frame


def predict_file_explained(model, path, out, *, top=5, chunk_rows=200_000,
                           progress=None, loaded=None):
    """:func:`aeids.predict_file` with a ``top_features`` column.

    Streams ``path`` chunk by chunk into the CSV or Parquet file ``out``
    through a temporary file renamed at the end, as
    :func:`aeids.predict_file` does.

    Returns
    -------
    int
        Records written.
    """
    _check_top(top)
    return predict_file(
        model, path, out, chunk_rows=chunk_rows, progress=progress,
        loaded=loaded,
        scorer=lambda model, table: explained_predictions(model, table, top),
    )


def _reconstruct(network, X, member, device):
    out = np.empty_like(X)
    with torch.inference_mode():
        for start in range(0, len(X), CHUNK):
            batch = torch.from_numpy(X[start:start + CHUNK]).to(device)
            index = torch.from_numpy(member[start:start + CHUNK]).to(device)
            recon = network(batch)
            picked = recon[index, torch.arange(len(batch), device=device)]
            out[start:start + len(batch)] = picked.cpu().numpy()
    return out


def _floored(typical):
    # A feature the model always reconstructs perfectly (a rare one-hot
    # value) would make any error on it look enormous: each member's typical
    # errors are smoothed by adding their mean, so such features weigh at
    # most 1 / mean and habitually badly reconstructed ones are discounted.
    return typical + typical.mean(axis=1, keepdims=True) + 1e-12


def _member_names(model):
    if model.kind == "detector":
        return [str(model.loading.get("normal") or "normal")]
    return [str(c) for c in model.estimator.classes_]


def _predicted(model, parts):
    estimator = model.estimator
    if model.kind == "detector":
        flags = parts["score"] > estimator.threshold_
        return ["attack" if flag else "normal" for flag in flags]
    return [str(p) for p in estimator.predict_from_scores(parts["calibrated"])]


def _check_top(top):
    if isinstance(top, bool) or not isinstance(top, int | np.integer) or top < 1:
        raise ValueError(f"top must be a positive whole number; got {top!r}.")


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _subset(table, index):
    return Table(
        features=table.features.iloc[index].reset_index(drop=True),
        labels=None if table.labels is None
        else table.labels.iloc[index].reset_index(drop=True),
        rows=np.asarray(table.rows)[index],
        categorical=list(table.categorical),
        summary=table.summary,
    )


def _concat(tables):
    labels = [t.labels for t in tables]
    return Table(
        features=pd.concat([t.features for t in tables], ignore_index=True),
        labels=None if any(lab is None for lab in labels)
        else pd.concat(labels, ignore_index=True),
        rows=np.concatenate([t.rows for t in tables]),
        categorical=list(tables[0].categorical),
        summary=tables[0].summary,
    )


