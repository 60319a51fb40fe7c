"""Score files and train classifiers on a Dask cluster.

Both entry points run the single-machine code on the workers; nothing here
scores or trains by itself.

* :func:`predict_file` splits a CSV or Parquet file, or a glob of them, into
  partitions (byte ranges of a plain CSV file, row groups of a Parquet file,
  whole gzip files), reads each partition on a worker with the rules of
  :mod:`aeids.io`, scores it with :func:`aeids.pipeline.score_table` and
  writes one part file per partition. The model travels to every worker once.
  The output equals :func:`aeids.pipeline.predict_file`'s row for row.
* :func:`train_on` routes the training loop of
  :class:`~aeids.AutoencoderClassifier` to the workers, one class per task,
  while splitting, margin fine-tuning, calibration and everything else stay
  on the client; the model equals the single-machine one trained with the
  same seed.

Dask and distributed are the optional extra ``aeids[dask]``; this module
imports them only when called. Input and output paths must be visible at the
same place to the client and every worker (one machine, or a shared file
system).
"""

import glob
import logging
import operator
import os
import shutil
import tempfile
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from .exceptions import AeidsError, ConfigError, DataError
from .io import Table, _Loader
from .network import AutoencoderStack
from .pipeline import _profile, _Writer, score_table
from .sources import Source
from .training import stack_trainer, steps_per_epoch, train_stack

__all__ = ["connect", "fit_distributed", "predict_file", "score_dataframe",
           "train_on"]

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'aeids[dask]'"
_READ_KEYS = ("profile", "label", "drop", "categorical", "bad_cells")


def require_dask():
    """Import dask and distributed, or stop with the command that installs them."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"Running on a Dask cluster needs the packages dask and distributed "
            f"({exc.name} is missing); install them with {INSTALL_HINT}."
        ) from exc


@contextmanager
def connect(scheduler):
    """Connect to a Dask scheduler, or start a local cluster, for a block.

    Parameters
    ----------
    scheduler : str
        ``"local:N"`` starts N worker processes of one thread each on this
        machine; anything else is a scheduler address such as
        ``"tcp://10.0.0.5:8786"``.

    Yields
    ------
    distributed.Client
    """
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler.startswith("local:"):
        count = scheduler.partition(":")[2]
        if not count.isdigit() or int(count) < 1:
            raise ConfigError(
                f"A local scheduler is written local:N with N worker processes, "
                f"such as local:4; got {scheduler!r}."
            )
        with (
            LocalCluster(n_workers=int(count), threads_per_worker=1,
                         processes=True, dashboard_address=None,
                         silence_logs=logging.ERROR) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(
            f"Cannot reach the Dask scheduler at {scheduler!r} ({exc}); check the "
            f"address, or use local:N for a cluster on this machine."
        ) from exc
    with client:
        yield client


def _client(client):
    require_dask()
    if client is not None:
        return client
    from distributed import get_client

    try:
        return get_client()
    except ValueError:
        raise ConfigError(
            "No Dask client is running; pass client=distributed.Client(...) or "
            "create one first."
        ) from None


# Scoring ------------------------------------------------------------------


def score_dataframe(model, path, *, client=None, blocksize="64 MiB",
                    chunk_rows=50_000):
    """Predictions for every record of a file or glob, as a Dask DataFrame.

    Parameters
    ----------
    model : TrafficModel
    path : str, Path or list of them
        CSV (plain or gzip) or Parquet files, or a glob such as
        ``"flows/*.parquet"``.
    client : distributed.Client or None, default=None
        None takes the current client.
    blocksize : str or int, default="64 MiB"
        Size of a partition: bytes of a plain CSV file, uncompressed bytes of
        Parquet row groups. A gzip file is always one partition.
    chunk_rows : int, default=50_000
        Records read at a time inside a partition. The first ``chunk_rows``
        records of each file fix its column types, as in
        :func:`aeids.pipeline.predict_file`.

    Returns
    -------
    dask.dataframe.DataFrame
        The columns of :func:`aeids.pipeline.score_table` (for a classifier
        ``row``, ``predicted`` and one ``error_<class>`` per class, lower
        fits better; for a detector ``row``, ``score``, higher is more
        anomalous, and ``attack``), partitions in file order. With several
        files a leading ``file`` column names each record's file.
    """
    import dask.dataframe as dd

    parts, meta = _scored_parts(model, path, _client(client), blocksize,
                                chunk_rows)
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def predict_file(model, path, out, *, client=None, blocksize="64 MiB",
                 chunk_rows=50_000, progress=None):
    """Score a file or glob on the cluster into a directory of part files.

    The parts are written by the workers into a staging directory beside
    ``out``, which is renamed to ``out`` once every part is complete: a
    failure leaves any previous ``out`` intact. Read in name order, the parts
    of one input file hold exactly the rows that
    :func:`aeids.pipeline.predict_file` writes.

    Parameters
    ----------
    model : TrafficModel
    path : str, Path or list of them
        CSV (plain or gzip) or Parquet files, or a glob.
    out : str or Path
        Output directory; its parts are Parquet when it ends in
        ``.parquet``, CSV otherwise (``part-00000.csv``, ...).
    client, blocksize, chunk_rows
        See :func:`score_dataframe`.
    progress : callable or None
        Called with the number of records written after every part.

    Returns
    -------
    int
        Records written.
    """
    client = _client(client)
    out = Path(out).absolute()
    _check_output(out)
    parts, _ = _scored_parts(model, path, client, blocksize, chunk_rows)
    from dask import delayed
    from distributed import as_completed

    kind = "parquet" if out.suffix == ".parquet" else "csv"
    suffix = f".{kind}"
    staging = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        writes = [
            delayed(_write_part)(part, staging / f"part-{i:05d}{suffix}", kind)
            for i, part in enumerate(parts)
        ]
        written = 0
        for future in as_completed(client.compute(writes)):
            written += future.result()
            if progress is not None:
                progress(written)
        _swap_into_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _scored_parts(model, path, client, blocksize, chunk_rows):
    from dask import delayed
    from dask.utils import parse_bytes

    files = _expand(path)
    options = _reading_options(model.loading)
    shared = client.scatter(model, broadcast=True, hash=False)
    size = parse_bytes(blocksize) if isinstance(blocksize, str) else int(blocksize)
    parts, meta = [], None
    for name in files:
        survey, first = _survey(name, options, chunk_rows)
        if meta is None:
            meta = _empty_scores(model, first)
            if len(files) > 1:
                meta.insert(0, "file", np.array([], dtype=object))
        scored = [
            delayed(_score_slice)(shared, piece, survey, options, chunk_rows)
            for piece in _slices(name, survey, size)
        ]
        counts = [delayed(operator.itemgetter(1))(item) for item in scored]
        for i, item in enumerate(scored):
            start = delayed(sum)(counts[:i]) if i else 0
            label = name if len(files) > 1 else None
            parts.append(delayed(_shift)(item, start, label))
    return parts, meta


def _empty_scores(model, table):
    # The columns and types of score_table's output, from one record.
    one = Table(table.features.iloc[:1], None, table.rows[:1],
                table.categorical, table.summary)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return score_table(model, one).iloc[:0]


def _reading_options(loading):
    # The options pipeline.read_table gives io when streaming a file.
    options = {key: loading[key] for key in _READ_KEYS if key in loading}
    options["profile"] = _profile(options.get("profile"))
    options["require_label"] = False
    return options


def _expand(path):
    names = [path] if isinstance(path, str | os.PathLike) else list(path)
    files = []
    for name in map(str, names):
        found = [name] if Path(name).is_file() else sorted(glob.glob(name))
        if not found:
            raise DataError(f"{name} names no file and matches none as a glob.",
                            path=name)
        files += found
    return files


def _survey(path, options, chunk_rows):
    """Read a file's first chunk on the client: its layout and column types.

    Every partition is then read with these types, as the chunks of
    :func:`aeids.io.iter_tables` are; errors and warnings in the first chunk
    reach the caller before any work is sent.
    """
    loader, source = _reader(path, options, header=None)
    frame, rows, lines = next(iter(source.chunks(chunk_rows)), (None, None, None))
    if frame is None:
        raise DataError(f"{path} holds no records to score.", path=path)
    table = loader.table(frame, rows, lines, source)
    kind = source._kind()
    header = b""
    if kind == "csv" and source.has_header:
        with open(path, "rb") as handle:
            header = handle.readline()
    survey = {"path": path, "kind": kind, "has_header": source.has_header,
              "header": header, "kinds": dict(loader.kinds)}
    return survey, table


def _reader(path, options, header):
    loader = _Loader(path, **options)
    source = Source(path, header=header, names=loader.names,
                    ragged="error" if loader.shifted == "error" else "skip")
    return loader, source


def _slices(path, survey, size):
    """What each partition reads: ``(kind, first, length)``."""
    if survey["kind"] == "parquet":
        import pyarrow.parquet as pq

        metadata = pq.ParquetFile(path).metadata
        groups, total = [], 0
        for index in range(metadata.num_row_groups):
            groups.append(index)
            total += metadata.row_group(index).total_byte_size
            if total >= size:
                yield "parquet", groups, None
                groups, total = [], 0
        if groups or metadata.num_row_groups == 0:
            yield "parquet", groups, None
        return
    with open(path, "rb") as handle:
        utf16 = handle.read(2) in (b"\xff\xfe", b"\xfe\xff")
    if survey["kind"] != "csv" or utf16:
        yield "file", None, None
        return
    length = os.path.getsize(path)
    for offset in range(0, max(length, 1), size):
        yield "bytes", offset, size


def _score_slice(model, piece, survey, options, chunk_rows):
    """Score one partition; return its predictions and its record count.

    The partition is copied into a small file of the input's format, so that
    :class:`~aeids.sources.Source` and the loading rules read it exactly as
    they read the whole file; ``row`` counts from the partition's start.
    """
    kind, first, length = piece
    path = survey["path"]
    if kind == "file":
        return _score_file(model, path, survey, options, chunk_rows), 0
    with tempfile.TemporaryDirectory(prefix="aeids-") as scratch:
        if kind == "parquet":
            import pyarrow.parquet as pq

            copy = Path(scratch) / "part.parquet"
            table = pq.ParquetFile(path).read_row_groups(first)
            pq.write_table(table, copy)
            records = table.num_rows
            where = f"row groups {first}, whose records count from their start"
        else:
            copy = Path(scratch) / "part.csv"
            data = _read_bytes(path, first, length)
            records = data.count(b"\n") + (not data.endswith(b"\n"))
            if first == 0:
                records -= survey["has_header"]
            copy.write_bytes((survey["header"] if first else b"") + data)
            where = f"the block at byte {first}, whose lines count from its start"
        if records <= 0:
            return None, max(records, 0)
        try:
            return _score_file(model, copy, survey, options, chunk_rows), records
        except AeidsError as exc:
            message = str(exc).replace(str(copy), path)
            raise DataError(f"{message} (In {where}.)", path=path) from None


def _read_bytes(path, offset, length):
    from fsspec.utils import read_block

    with open(path, "rb") as handle:
        return read_block(handle, offset, length, delimiter=b"\n")


def _score_file(model, copy, survey, options, chunk_rows):
    # iter_tables' loop, with the column types fixed by the whole file's
    # first chunk rather than by this partition's.
    loader, source = _reader(copy, options, header=survey["has_header"])
    loader.path = survey["path"]
    loader.kinds = dict(survey["kinds"])
    frames = [
        score_table(model, loader.table(frame, rows, lines, source))
        for frame, rows, lines in source.chunks(chunk_rows)
    ]
    if not frames:
        return None
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def _shift(item, start, file):
    frame = item[0]
    if frame is None:
        return None
    frame["row"] += start
    if file is not None:
        frame.insert(0, "file", file)
    return frame


def _write_part(frame, target, kind):
    if frame is None:
        return 0
    writer = _Writer(target, kind)
    try:
        writer.write(frame)
    finally:
        writer.close()
    return len(frame)


def _check_output(out):
    if out.exists() and not (
        out.is_dir() and all(p.name.startswith("part-") for p in out.iterdir())
    ):
        raise ConfigError(
            f"{out} exists and is not a directory of prediction parts; choose a "
            f"new output path or remove it first."
        )


def _swap_into_place(staging, out):
    if not out.exists():
        os.replace(staging, out)
        return
    retired = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(out, retired)
    os.replace(staging, out)
    shutil.rmtree(retired, ignore_errors=True)


# Training -----------------------------------------------------------------


@contextmanager
def train_on(client=None):
    """Train the class autoencoders of every fit in this block on the cluster.

    Inside the block, each class's autoencoder trains in its own task on a
    worker that receives only that class's training and validation rows;
    the split, oversampling and calibration run on the client as usual. The
    result equals single-machine training with the same seed, because each
    class's shuffles and initial weights depend on its own seed alone.

    Works for :meth:`AutoencoderClassifier.fit` and
    :func:`aeids.pipeline.train_model`. The margin fine-tuning
    (``margin_weight > 0``) trains every autoencoder on every class's rows,
    so it runs on the client after the classes come back, as on one machine.

    Parameters
    ----------
    client : distributed.Client or None, default=None
        None takes the current client.
    """
    with stack_trainer(partial(_train_remote, _client(client))):
        yield


def fit_distributed(estimator, X, y, *, client=None):
    """Fit an :class:`~aeids.AutoencoderClassifier` with one task per class.

    Parameters
    ----------
    estimator : AutoencoderClassifier
        Unfitted.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    client : distributed.Client or None, default=None

    Returns
    -------
    estimator : AutoencoderClassifier
        Fitted, equal within float tolerance to ``estimator.fit(X, y)``.
    """
    with train_on(client):
        return estimator.fit(X, y)


def _train_remote(client, stack, X, train_rows, val_rows, config, margins=None,
                  callback=None):
    if margins is not None and config.margin_weight > 0:
        # The margin couples the classes: fine-tune here, where every row is.
        with stack_trainer(None):
            return train_stack(stack, X, train_rows, val_rows, config,
                               margins=margins, callback=callback)
    config = replace(config, steps_per_epoch=steps_per_epoch(
        train_rows, config.batch_size))
    data = X.detach().cpu().numpy()
    state = stack.state_dict()
    layout = (stack.n_features, stack.hidden_layers, stack.activation,
              str(X.device))
    futures = []
    for k, (train, val) in enumerate(zip(train_rows, val_rows, strict=True)):
        rows = client.scatter([data[train], data[val]], hash=False)
        start = {name: tensor[k:k + 1].detach().cpu() for name, tensor in
                 state.items()}
        futures.append(client.submit(_train_member, *rows, start, layout, config,
                                     k, pure=False))
    results = client.gather(futures)
    with torch.no_grad():
        for k, (trained, _) in enumerate(results):
            for name, tensor in state.items():
                tensor[k] = torch.as_tensor(trained[name][0])
    history = _merge_histories([history for _, history in results])
    if callback is not None:
        callback(len(history["train_loss"]) - 1, history)
    return history


def _train_member(train, val, start, layout, config, k):
    """Train class ``k``'s autoencoder alone, as its slice of the stack would."""
    n_features, hidden_layers, activation, device = layout
    stack = AutoencoderStack(1, n_features, hidden_layers, activation)
    stack.load_state_dict(start)
    stack.to(device)
    X = torch.from_numpy(np.concatenate([train, val])).to(device)
    history = train_stack(stack, X, [np.arange(len(train))],
                          [len(train) + np.arange(len(val))], config,
                          stream_ids=[k])
    weights = {name: t.detach().cpu().numpy() for name, t in
               stack.state_dict().items()}
    return weights, history


def _merge_histories(histories):
    """One batched history from the classes' own.

    After a class stops, the batched loop records the validation loss of its
    restored best weights, which is its best epoch's, and a training loss on
    batches it no longer learns from; that one a class trained alone never
    draws, so it is None here.
    """
    epochs = max(len(h["train_loss"]) for h in histories)
    merged = {"train_loss": [], "val_loss": []}
    for epoch in range(epochs):
        train, val = [], []
        for h in histories:
            ran = epoch < len(h["train_loss"])
            train.append(h["train_loss"][epoch][0] if ran else None)
            best = h["best_epoch"][0]
            val.append(h["val_loss"][epoch if ran else best][0])
        merged["train_loss"].append(train)
        merged["val_loss"].append(val)
    merged["best_epoch"] = [h["best_epoch"][0] for h in histories]
    merged["stopped_epoch"] = [h["stopped_epoch"][0] for h in histories]
    return merged
