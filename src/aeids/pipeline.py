"""The whole path from a labelled file to a saved model, a report and predictions.

These functions are what the command line runs; they are public so that the
same steps can be scripted from Python::

    table = aeids.load_table("flows.csv", profile="unsw-nb15")
    result = aeids.train_model(table, test_size=0.3, random_state=0)
    aeids.save_model(result.model, "model/")
    print(result.report["macro_f1"])

Records are split (stratified) before anything is fitted; the feature encoder,
oversampling, the networks and their calibration see training rows only.
"""

import logging
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sklearn.model_selection import train_test_split

from .classifier import AutoencoderClassifier
from .exceptions import AeidsError, ConfigError, DataError
from .features import FeatureEncoder
from .io import Table, concat_tables, iter_tables, load_table
from .metrics import classification_metrics, detection_metrics
from .persistence import TrafficModel, library_versions
from .profiles import PROFILES, Profile

logger = logging.getLogger(__name__)

MODES = ("classify", "detect")
_LOADING_KEYS = ("profile", "label", "drop", "categorical", "bad_cells",
                 "drop_duplicates")


@dataclass
class TrainResult:
    """What :func:`train_model` returns.

    Attributes
    ----------
    model : TrafficModel
    report : dict or None
        Evaluation on the held-out test rows (see :func:`evaluate_model`);
        None when ``test_size`` is 0.
    test : Table or None
        The held-out test rows.
    """

    model: TrafficModel
    report: dict | None
    test: Table | None


def loading_options(profile=None, label=None, drop=(), categorical=None,
                    bad_cells=None, drop_duplicates=False):
    """Collect how a file is read, in a form stored with the model.

    A built-in profile is kept by name; a user's profile is kept whole.
    """
    if isinstance(profile, Profile):
        stored = (profile.name if profile.name in _builtin_names()
                  else profile.to_dict())
    else:
        stored = profile
    return {
        "profile": stored,
        "label": label,
        "drop": list(drop),
        "categorical": None if categorical is None else list(categorical),
        "bad_cells": bad_cells,
        "drop_duplicates": bool(drop_duplicates),
    }


def read_table(path, loading, *, require_label=True, chunk_rows=None,
               training=False):
    """Read ``path`` with stored loading options.

    Parameters
    ----------
    path : str, Path or list of them
        Several files (read without ``chunk_rows``) are stacked into one
        table; they must share their columns.
    loading : dict
        From :func:`loading_options` or a model's ``loading``.
    require_label : bool, default=True
    chunk_rows : int or None
        Read in chunks of this many records and return an iterator.
    training : bool, default=False
        Apply ``drop_duplicates`` from ``loading``; records to evaluate or
        score are never dropped as duplicates.

    Returns
    -------
    Table, or an iterator of tables when ``chunk_rows`` is given.
    """
    options = {key: loading[key] for key in _LOADING_KEYS if key in loading}
    options["profile"] = _profile(options.get("profile"))
    options["require_label"] = require_label
    if not training:
        options.pop("drop_duplicates", None)
    if chunk_rows is not None:
        return iter_tables(path, chunk_rows=chunk_rows, **options)
    if isinstance(path, list | tuple):
        return concat_tables([load_table(p, **options) for p in path])
    return load_table(path, **options)


def _check_training_counts(train, test_size):
    small = _too_few(train, 2)
    if small:
        held = f" after {test_size:.0%} of its rows were held out for testing" \
            if test_size else ""
        raise DataError(
            f"{train.summary.path}: each class needs at least 2 training rows "
            f"(one to train on, one to calibrate on); too few{held}: {small}. "
            f"Drop these classes or add rows.",
            path=train.summary.path,
        )


def _too_few(table, minimum):
    """``"'a' (1 row), 'b' (1 row)"``: the classes of `table` below `minimum` rows."""
    counts = _labels(table).value_counts()
    return ", ".join(f"{name!r} ({n} row{'s' * (n != 1)})"
                     for name, n in counts[counts < minimum].items())


def split_table(table, test_size=0.3, random_state=0):
    """Split a labelled table into stratified training and test tables.

    Parameters
    ----------
    table : Table
    test_size : float in (0, 1)
    random_state : int

    Returns
    -------
    train, test : Table
    """
    if not 0 < test_size < 1:
        raise ConfigError(f"test_size must lie in (0, 1); got {test_size}.")
    labels = _labels(table)
    counts = labels.value_counts()
    small = _too_few(table, 2)
    if small:
        raise DataError(
            f"A stratified split needs at least 2 rows per class; too few in "
            f"{table.summary.path}: {small}. Drop these classes or add rows."
        )
    n_test = max(int(round(test_size * len(labels))), len(counts))
    if len(labels) - n_test < len(counts):
        raise DataError(
            f"{table.summary.path} has {len(labels)} rows, too few for a "
            f"stratified split of {len(counts)} classes."
        )
    train, test = train_test_split(
        np.arange(len(labels)), test_size=n_test, stratify=labels.to_numpy(),
        random_state=random_state,
    )
    return _take(table, np.sort(train)), _take(table, np.sort(test))


def make_estimator(mode="classify", **params):
    """Build an unfitted estimator for ``mode`` ("classify" or "detect")."""
    if mode == "classify":
        return AutoencoderClassifier(**params)
    if mode == "detect":
        from .detector import AutoencoderDetector

        return AutoencoderDetector(**params)
    raise ConfigError(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")


def train_model(table, *, mode="classify", test_size=0.3, random_state=0,
                scaler="minmax", log_transform=True, estimator_params=None,
                normal=None, loading=None, epoch_callback=None):
    """Split, fit the preprocessing and the estimator, and evaluate.

    Parameters
    ----------
    table : Table
        Labelled records.
    mode : {"classify", "detect"}, default="classify"
        One autoencoder per class, or one autoencoder on normal rows.
    test_size : float, default=0.3
        Share of rows held out (stratified) for the report; 0 trains on all.
    random_state : int, default=0
        Seed of the split and of the estimator.
    scaler : str, default="minmax"
        See :class:`~aeids.FeatureEncoder`.
    log_transform : bool, default=True
    estimator_params : dict or None
        Parameters of the estimator.
    normal : str or None
        The normal class; required by ``mode="detect"``.
    loading : dict or None
        How the table was read (:func:`loading_options`), stored with the model.
    epoch_callback : callable or None
        Called after every training epoch with ``(epoch, history)``.

    Returns
    -------
    TrainResult
    """
    params = dict(estimator_params or {})
    params.setdefault("random_state", random_state)
    estimator = make_estimator(mode, **params)
    if mode == "detect":
        if normal is None:
            raise ConfigError(
                "Detection mode needs the normal class: pass normal=... (on the "
                "command line --normal LABEL) or use a profile that names it."
            )
        _labels(table)
        if normal not in set(table.labels):
            raise DataError(
                f"The normal class {normal!r} does not occur in "
                f"{table.summary.path}; its classes are "
                f"{sorted(table.labels.unique())}."
            )
    if test_size:
        train, test = split_table(table, test_size, random_state)
    else:
        train, test = table, None
    encoder = FeatureEncoder(scaler=scaler, log_transform=log_transform,
                             categorical=table.categorical,
                             drop_constant=mode != "detect")
    if mode == "detect":
        # The detector never sees attacks, nor do its scaling statistics; a
        # column constant in normal traffic is kept, as any change is a signal.
        rows = (train.labels == normal).to_numpy()
        features = encoder.fit_transform(train.features[rows])
        estimator.fit(features, epoch_callback=epoch_callback)
    else:
        _check_training_counts(train, test_size)
        features = encoder.fit_transform(train.features)
        estimator.fit(features, _labels(train).to_numpy(),
                      epoch_callback=epoch_callback)
    metadata = {
        "loading_summary": table.summary.to_dict(),
        "mode": mode,
        "normal": normal,
        "test_size": test_size,
        "random_state": random_state,
        "training_rows": int(len(train.labels)),
        "versions": library_versions(),
    }
    model = TrafficModel(encoder, estimator, dict(loading or {}), metadata)
    if normal is not None:
        model.loading["normal"] = normal
    report = evaluate_model(model, test) if test is not None else None
    model.metadata["test_report"] = report
    return TrainResult(model, report, test)


def evaluate_model(model, table):
    """Score a labelled table and compute the report.

    Returns
    -------
    dict
        For a classifier, :func:`~aeids.metrics.classification_metrics`; for a
        detector, :func:`~aeids.metrics.detection_metrics`. Both include
        ``rows_per_second``, measured over encoding and scoring.
    """
    labels = _labels(table)
    start = time.perf_counter()
    scored = score_table(model, table)
    elapsed = max(time.perf_counter() - start, 1e-9)
    rate = len(table.labels) / elapsed
    if model.kind == "detector":
        normal = model.loading.get("normal")
        is_attack = (labels != normal).to_numpy()
        return detection_metrics(is_attack, scored["score"], scored["attack"], rate)
    classes = [str(c) for c in model.estimator.classes_]
    return classification_metrics(labels.astype(str), scored["predicted"],
                                  classes, rate)


def score_table(model, table):
    """Predictions for every record of ``table``, as a DataFrame.

    For a classifier: ``row`` (the record's 0-based position in its file),
    ``predicted`` and one ``error_<class>`` column of calibrated error per
    class (lower fits better). For a detector: ``row``, ``score`` (higher
    means more anomalous) and ``attack`` (1 for attack, 0 for normal).
    """
    try:
        features = model.transform(table.features)
    except DataError as exc:
        raise DataError(f"{table.summary.path}: {exc}", path=table.summary.path,
                        column=exc.column) from None
    estimator = model.estimator
    out = {"row": table.rows}
    if model.kind == "detector":
        scores = estimator.decision_function(features)
        out["score"] = scores
        out["attack"] = (scores > estimator.threshold_).astype(np.int8)
    else:
        errors = estimator.calibrated_errors(features)
        out["predicted"] = estimator.predict_from_scores(errors)
        for k, name in enumerate(estimator.classes_):
            out[f"error_{name}"] = errors[:, k]
    return pd.DataFrame(out)


def predict_file(model, path, out, *, chunk_rows=50_000, progress=None,
                 loaded=None, scorer=score_table):
    """Stream ``path`` through the model into the CSV or Parquet file ``out``.

    The input is read and scored chunk by chunk, so memory stays bounded
    whatever the file's size; the next chunk is read in a background thread
    while the current one is scored. Results go to a temporary file renamed to
    ``out`` at the end: a failure leaves any previous ``out`` intact.

    Parameters
    ----------
    model : TrafficModel
    path : str or Path
        CSV (plain or gzip) or Parquet input.
    out : str or Path
        Output; its suffix chooses the format (see :func:`output_format`).
    chunk_rows : int, default=50_000
        Records read and scored at a time; peak memory grows with it.
    progress : callable or None
        Called with the number of records scored after every chunk.
    loaded : callable or None
        Called with each chunk's :class:`~aeids.io.LoadSummary` (what loading
        changed), before the chunk is scored.
    scorer : callable, default=score_table
        ``scorer(model, table)`` returns the output rows of one chunk.

    Returns
    -------
    int
        Records written.
    """
    out = Path(out)
    kind = output_format(out)
    if not out.parent.is_dir():
        raise AeidsError(
            f"Cannot write {out}: the folder {out.parent} does not exist."
        )
    staging = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    written = 0
    writer = None
    try:
        tables = read_table(path, model.loading, require_label=False,
                            chunk_rows=chunk_rows)
        for table in _read_ahead(tables):
            if loaded is not None:
                loaded(table.summary)
            frame = scorer(model, table)
            writer = writer or _Writer(staging, kind)
            writer.write(frame)
            written += len(frame)
            if progress is not None:
                progress(written)
        if writer is None:
            raise DataError(f"{path} holds no records to score.")
        writer.close()
        os.replace(staging, out)
    finally:
        if writer is not None:
            writer.close()
        if staging.exists():
            staging.unlink()
    return written


def _read_ahead(iterator):
    """Yield the items of ``iterator`` while the next one is made in a thread.

    At most one item waits ahead; an exception raised making an item is
    raised here, in order.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="aeids-read") as pool:
        pending = pool.submit(next, iterator, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, iterator, None)
            yield item


OUTPUT_FORMATS = {".csv": "csv", ".txt": "csv", "": "csv", ".gz": "csv.gz",
                  ".parquet": "parquet", ".pq": "parquet"}


def output_format(path):
    """The format a predictions file is written in, from its suffix.

    ``.csv``, ``.txt`` or no suffix: CSV; ``.gz`` (``.csv.gz``): gzip CSV;
    ``.parquet`` or ``.pq``: Parquet. Any other suffix is refused, so that
    ``predictions.xlsx`` is not silently written as CSV.

    Returns
    -------
    {"csv", "csv.gz", "parquet"}
    """
    path = Path(path)
    kind = OUTPUT_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise AeidsError(
            f"Cannot write {path}: aeids writes predictions as CSV (.csv, "
            f".csv.gz) or Parquet (.parquet), not {path.suffix!r} files; name "
            "the output with one of those suffixes."
        )
    return kind


class _Writer:
    """Appends frames to one CSV, gzip CSV or Parquet file."""

    def __init__(self, path, kind):
        self.path = path
        self.kind = kind
        self.handle = self.stream = None

    def write(self, frame):
        batch = pa.Table.from_pandas(frame, preserve_index=False)
        if self.handle is None:
            if self.kind == "parquet":
                self.handle = pq.ParquetWriter(self.path, batch.schema)
            else:
                compression = "gzip" if self.kind == "csv.gz" else None
                self.stream = pa.output_stream(self.path, compression=compression)
                self.handle = pa_csv.CSVWriter(self.stream, batch.schema)
        self.handle.write_table(batch)

    def close(self):
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        if self.stream is not None:
            self.stream.close()
            self.stream = None


def _labels(table):
    if table.labels is None:
        raise DataError(
            f"{table.summary.path} has no label column; training and evaluation "
            f"need one (name it with label=... or --label)."
        )
    return table.labels


def _take(table, index):
    return Table(
        features=table.features.iloc[index].reset_index(drop=True),
        labels=table.labels.iloc[index].reset_index(drop=True),
        rows=table.rows[index],
        categorical=list(table.categorical),
        summary=table.summary,
    )


def _profile(stored):
    if stored is None or isinstance(stored, str | Profile):
        return stored
    return Profile(**{
        key: tuple(value) if isinstance(value, list) else value
        for key, value in stored.items()
    })


def _builtin_names():
    return set(PROFILES)


