"""Load intrusion-detection tables with an account of everything changed.

:func:`load_table` reads a whole CSV (plain or gzip) or Parquet file;
:func:`iter_tables` reads it in chunks of bounded size for streaming
prediction. Both apply the same rules, from a :class:`~aeids.profiles.Profile`
and keyword arguments, and report what they did in a :class:`LoadSummary`:

* header names lose surrounding whitespace and byte-order marks; a leading
  unnamed index column, identifier columns and the binary label are dropped.
  Identifiers are the profile's and caller's ``drop`` columns and, in any
  file, columns named like a flow id, a source or destination address or a
  timestamp (:data:`IDENTIFIER_NAMES`, compared in lower case without
  punctuation: ``Flow ID``, ``Src IP``, ``Destination.IP``), unless declared
  categorical. So are other columns whose name ends in "label" (a 0/1
  attack flag beside the attack type would leak the answer);
* blank records and repeated header lines are dropped and counted; so are
  records with a blank label;
* rows with the wrong number of fields are an error, or under a profile whose
  ``shifted`` policy is "drop" or "keep", dropped and counted as shifted; rows
  failing the profile's ``aligned`` patterns are counted as shifted and kept,
  dropped or refused by the same policy;
* exact duplicates (same text in every kept column) are counted, and dropped
  only with ``drop_duplicates=True``;
* numeric columns become float64 (see :mod:`aeids.columns` for the rules);
  text cells in them stop the load under ``bad_cells="error"`` or become
  missing and counted under ``bad_cells="missing"``;
* labels are normalised (dashes, whitespace, case) and mapped to classes.

In :func:`iter_tables` the column types are fixed by the first chunk, and
duplicates are counted within each chunk.
"""

import difflib
import logging
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from aeids import columns as col
from aeids.exceptions import DataError, DataWarning
from aeids.profiles import Profile, get_profile
from aeids.sources import Source

__all__ = ["IDENTIFIER_NAMES", "LoadSummary", "Table", "concat_tables",
           "iter_tables", "load_table"]

IDENTIFIER_NAMES = frozenset({
    "flowid", "srcip", "dstip", "sourceip", "destinationip", "srcaddr",
    "dstaddr", "sourceaddress", "destinationaddress", "ipsrc", "ipdst",
    "ipsrchost", "ipdsthost", "timestamp", "frametime",
})
"""Column names, in lower case without punctuation, dropped as identifiers
in every file: they name a flow, a host or an instant, not its behaviour."""


def _plain_name(name):
    return "".join(ch for ch in name.lower() if ch.isalnum())

logger = logging.getLogger(__name__)


@dataclass
class LoadSummary:
    """What loading a file did: rows kept and dropped, cells repaired.

    Every count is a plain int and every key a str, so ``to_dict()`` is JSON-able.
    """

    path: str
    rows_read: int = 0
    rows_kept: int = 0
    rows_dropped: dict[str, int] = field(default_factory=dict)
    columns_dropped: dict[str, str] = field(default_factory=dict)
    nonfinite_cells: dict[str, int] = field(default_factory=dict)
    missing_cells: dict[str, int] = field(default_factory=dict)
    unparseable_cells: dict[str, int] = field(default_factory=dict)
    duplicate_rows: int = 0
    shifted_rows: int = 0
    label_counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self):
        """Return the summary as a dict of JSON-able values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        """Rebuild a summary from :meth:`to_dict` output."""
        return cls(**data)

    def merge(self, other):
        """Add the counts of a later chunk's summary to this one, in place."""
        self.rows_read += other.rows_read
        self.rows_kept += other.rows_kept
        self.duplicate_rows += other.duplicate_rows
        self.shifted_rows += other.shifted_rows
        self.columns_dropped.update(other.columns_dropped)
        for name in (
            "rows_dropped",
            "nonfinite_cells",
            "missing_cells",
            "unparseable_cells",
            "label_counts",
        ):
            mine = getattr(self, name)
            for key, count in getattr(other, name).items():
                mine[key] = mine.get(key, 0) + count

    def lines(self):
        """Return the summary as short human-readable lines."""
        out = [f"{self.path}: {self.rows_read:,} records read, {self.rows_kept:,} kept"]
        out += [f"  dropped {n:,} rows: {why}" for why, n in self.rows_dropped.items()]
        reasons = {}
        for name, why in self.columns_dropped.items():
            reasons.setdefault(why, []).append(name)
        out += [
            f"  dropped {len(names)} column{'s' * (len(names) > 1)} ({why}): "
            f"{', '.join(names)}"
            for why, names in reasons.items()
        ]
        for title, counts in (
            ("non-finite cells set missing", self.nonfinite_cells),
            ("blank cells", self.missing_cells),
            ("unreadable cells set missing", self.unparseable_cells),
        ):
            if counts:
                out.append(f"  {title}: {sum(counts.values()):,} in {_listing(counts)}")
        if self.duplicate_rows:
            kept = "" if "duplicate" in self.rows_dropped else " (kept)"
            out.append(f"  exact duplicate rows: {self.duplicate_rows:,}{kept}")
        if self.shifted_rows:
            out.append(f"  shifted rows: {self.shifted_rows:,}")
        if self.label_counts:
            out.append(f"  classes: {_listing(self.label_counts)}")
        return out


def _listing(counts):
    items = sorted(counts.items(), key=lambda item: -item[1])
    return ", ".join(f"{key} {count:,}" for key, count in items)


@dataclass
class Table:
    """Features, labels and provenance of the records loaded from a file.

    Attributes
    ----------
    features : pandas.DataFrame
        Numeric columns as float64 (NaN where missing or non-finite) and
        categorical columns as str objects.
    labels : pandas.Series or None
        Normalised class labels, or None when no label column was read.
    rows : ndarray of int64
        0-based index of each kept record among the file's records (lines
        after the header for CSV).
    categorical : list of str
        Names of the categorical columns of `features`.
    summary : LoadSummary
    """

    features: pd.DataFrame
    labels: pd.Series | None
    rows: np.ndarray
    categorical: list[str]
    summary: LoadSummary


def load_table(
    path,
    *,
    label=None,
    profile=None,
    drop=(),
    categorical=None,
    header=None,
    names=None,
    bad_cells=None,
    drop_duplicates=False,
    require_label=True,
    max_categories=col.MAX_CATEGORIES,
):
    """Read a CSV (plain or gzip) or Parquet file into a :class:`Table`.

    Parameters
    ----------
    path : str or path-like
        The file; its format is detected from its first bytes.
    label : str or None, default=None
        Label column; defaults to the profile's.
    profile : str, Profile or None, default=None
        A built-in profile name (see :data:`aeids.profiles.PROFILES`) or a
        :class:`~aeids.profiles.Profile`.
    drop : sequence of str, default=()
        More columns to drop, besides the profile's.
    categorical : sequence of str or None, default=None
        Text columns to keep as categories; defaults to the profile's.
    header : bool or None, default=None
        Whether the first line is a header; None detects it (a first line
        holding a number is data).
    names : sequence of str or None, default=None
        Column names for a headerless file; defaults to the profile's.
    bad_cells : {"error", "missing"} or None, default=None
        Policy for text in numeric columns; defaults to the profile's.
    drop_duplicates : bool, default=False
        Drop exact duplicate records (they are always counted).
    require_label : bool, default=True
        Raise when the label column is absent; otherwise return no labels.
    max_categories : int, default=64
        Most distinct values an undeclared text column may have to be kept as
        categorical; text columns with more are dropped as free text.

    Returns
    -------
    Table
    """
    options = dict(
        label=label,
        profile=profile,
        drop=drop,
        categorical=categorical,
        header=header,
        names=names,
        bad_cells=bad_cells,
        drop_duplicates=drop_duplicates,
        require_label=require_label,
        max_categories=max_categories,
    )
    parts = list(iter_tables(path, chunk_rows=None, **options))
    if len(parts) == 1:
        return parts[0]
    return concat_tables(parts)


def iter_tables(path, *, chunk_rows=200_000, **options):
    """Read a file in chunks of about `chunk_rows` records.

    Parameters
    ----------
    path : str or path-like
    chunk_rows : int or None, default=200_000
        Records per chunk; None reads the whole file at once.
    **options
        The keyword arguments of :func:`load_table`.

    Yields
    ------
    Table
        One per chunk; `rows` count from the start of the file and each
        summary covers its own chunk.
    """
    loader = _Loader(path, **options)
    source = Source(
        path,
        header=options.get("header"),
        names=loader.names,
        ragged="error" if loader.shifted == "error" else "skip",
    )
    seen = 0
    for frame, rows, lines in source.chunks(chunk_rows):
        table = loader.table(frame, rows, lines, source)
        seen += table.summary.rows_read
        yield table
    if seen == 0:
        what = "a header line but no" if source.has_header else "no"
        raise DataError(
            f"{loader.path} has {what} data records it can read "
            f"({len(source.skipped)} shifted rows dropped).",
            path=loader.path,
        )


class _Loader:
    """The per-chunk rules, with the state that must agree across chunks."""

    def __init__(
        self,
        path,
        *,
        label=None,
        profile=None,
        drop=(),
        categorical=None,
        header=None,
        names=None,
        bad_cells=None,
        drop_duplicates=False,
        require_label=True,
        max_categories=col.MAX_CATEGORIES,
    ):
        self.path = str(path)
        self.profile = (
            get_profile(profile)
            if profile is not None
            else Profile(name="default", label=None)
        )
        self.label = label if label is not None else self.profile.label
        self.drop = tuple(self.profile.drop) + tuple(drop)
        self.categorical = tuple(
            self.profile.categorical if categorical is None else categorical
        )
        self.categorical_given = categorical is not None
        self.names = names if names is not None else self.profile.names
        self.bad_cells = bad_cells or self.profile.bad_cells
        if self.bad_cells not in ("error", "missing"):
            raise DataError(
                f"bad_cells must be 'error' or 'missing', got {bad_cells!r}."
            )
        self.shifted = self.profile.shifted
        self.drop_duplicates = drop_duplicates
        self.require_label = require_label
        self.max_categories = max_categories
        self.kinds = None
        self.spellings = {}
        self.ragged_seen = 0

    def table(self, frame, rows, lines, source):
        summary = LoadSummary(self.path, rows_read=len(frame))
        self._count_ragged(source, summary)
        where = _Where(self.path, lines, rows)
        keep = self._keep_records(frame, source.columns, summary)
        keep &= self._check_alignment(frame, where, summary)
        labels, keep = self._labels(frame, keep, summary)
        features = self._feature_frame(frame, summary)
        keep &= self._duplicates(features, labels, keep, summary)
        frame, rows = features[keep].reset_index(drop=True), rows[keep]
        where = _Where(self.path, None if lines is None else lines[keep], rows)
        labels = None if labels is None else labels[keep].reset_index(drop=True)
        features, categorical = self._typed(frame, where, summary)
        summary.rows_kept = len(features)
        if labels is not None:
            labels = self._map_labels(labels, summary)
        return Table(
            features, labels, np.asarray(rows, dtype=np.int64), categorical, summary
        )

    def _count_ragged(self, source, summary):
        new = len(source.skipped) - self.ragged_seen
        if new > 0:
            self.ragged_seen += new
            summary.rows_read += new
            summary.shifted_rows += new
            _drop_count(summary, "shifted row (wrong number of fields)", new)
            line = source.skipped[-new][0]
            _warn(
                f"{self.path}: {new} rows with the wrong number of fields (the "
                f"first at line {line}) were dropped as shifted rows."
            )

    def _keep_records(self, frame, names, summary):
        # Only a record whose first cell is blank or the first name can be a
        # blank line or a repeated header: strip the other cells of those only.
        first = frame.iloc[:, 0].str.strip()
        maybe = np.flatnonzero(((first == "") | (first == names[0])).to_numpy())
        text = frame.iloc[maybe].apply(lambda column: column.str.strip())
        blank = np.zeros(len(frame), dtype=bool)
        repeated = np.zeros(len(frame), dtype=bool)
        blank[maybe] = (text == "").all(axis=1).to_numpy()
        same = (text == pd.Series(names, index=frame.columns)).all(axis=1)
        repeated[maybe] = same.to_numpy() & ~blank[maybe]
        _drop_count(summary, "blank line", int(blank.sum()))
        _drop_count(summary, "repeated header line", int(repeated.sum()))
        return ~blank & ~repeated

    def _check_alignment(self, frame, where, summary):
        ok = np.ones(len(frame), dtype=bool)
        for name, pattern in self.profile.aligned.items():
            if name in frame.columns:
                ok &= frame[name].str.fullmatch(pattern).to_numpy(dtype=bool)
        count = int((~ok).sum())
        if count == 0:
            return np.ones(len(frame), dtype=bool)
        first = int(np.flatnonzero(~ok)[0])
        if self.shifted == "error":
            raise DataError(
                f"{where.at(first)}: the record looks shifted (it fails "
                f"the profile's aligned patterns; {count} such rows).",
                path=self.path,
                line=where.line(first),
            )
        summary.shifted_rows += count
        action = "kept" if self.shifted == "keep" else "dropped"
        _warn(
            f"{self.path}: {count:,} rows look shifted by a column (the first at "
            f"{where.place(first)}); they were {action}."
        )
        if self.shifted == "drop":
            _drop_count(summary, "shifted row (misaligned cells)", count)
            return ok
        return np.ones(len(frame), dtype=bool)

    def _labels(self, frame, keep, summary):
        if self.label is None:
            return None, keep
        if self.label not in frame.columns:
            if not self.require_label:
                return None, keep
            listed = ", ".join(repr(name) for name in frame.columns)
            close = difflib.get_close_matches(self.label, list(frame.columns), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise DataError(
                f"{self.path} has no label column {self.label!r}.{hint} The "
                f"columns are {listed}.",
                path=self.path,
                column=self.label,
            )
        labels = frame[self.label].str.strip()
        blank = (labels == "").to_numpy() & keep
        _drop_count(summary, "blank label", int(blank.sum()))
        return labels, keep & ~blank

    def _feature_frame(self, frame, summary):
        dropped = {}
        if frame.columns[0] == "Unnamed: 0":
            dropped["Unnamed: 0"] = "unnamed index column"
        for name in self.drop:
            if name in frame.columns:
                dropped[name] = ("on the profile's drop list"
                                 if name in self.profile.drop else "on the drop list")
        for name in frame.columns:
            if name in dropped or name == self.label or name in self.categorical:
                continue
            if _plain_name(name) in IDENTIFIER_NAMES:
                dropped[name] = "identifier by name"
            elif self.label is not None and _plain_name(name).endswith("label"):
                # A second label (say, 0/1 beside the attack type) would leak.
                dropped[name] = "another label column"
        if self.profile.binary_label in frame.columns:
            dropped[self.profile.binary_label] = "binary label"
        absent = [name for name in self.drop if name not in frame.columns]
        if absent and self.kinds is None:
            _warn(
                f"{self.path} lacks the drop-list columns {absent}; nothing to "
                "drop there."
            )
        summary.columns_dropped.update(dropped)
        return frame.drop(
            columns=[*dropped, *([self.label] if self.label in frame.columns else [])]
        )

    def _duplicates(self, features, labels, keep, summary):
        both = features if labels is None else features.assign(**{"\0label": labels})
        repeated = both[keep].duplicated().to_numpy()
        summary.duplicate_rows = int(repeated.sum())
        out = np.ones(len(features), dtype=bool)
        if self.drop_duplicates:
            out[np.flatnonzero(keep)[repeated]] = False
            _drop_count(summary, "duplicate", summary.duplicate_rows)
        return keep & out

    def _typed(self, frame, where, summary):
        if self.kinds is None:
            self.kinds = self._infer_kinds(frame, summary)
        out, categorical = {}, []
        for name, kind in self.kinds.items():
            if kind == col.NUMERIC:
                out[name] = self._numeric(frame[name], name, where, summary)
            elif kind == col.CATEGORICAL:
                text = frame[name].str.strip()
                _cell_count(summary.missing_cells, name, int((text == "").sum()))
                out[name] = text.astype(object)
                categorical.append(name)
            else:
                summary.columns_dropped[name] = kind
        return pd.DataFrame(out, index=frame.index), categorical

    def _infer_kinds(self, frame, summary):
        absent = [name for name in self.categorical if name not in frame.columns]
        if absent and self.categorical_given:
            _warn(f"{self.path} lacks the categorical columns {absent}.")
        kinds = {}
        for name in frame.columns:
            kind, distinct = col.column_kind(
                frame[name],
                declared=name in self.categorical,
                max_categories=self.max_categories,
            )
            if kind == col.FREE_TEXT:
                kind = f"free text: {distinct} distinct values"
                _warn(
                    f"{self.path}: column {name!r} holds free text ({distinct} "
                    "distinct values) and was dropped; declare it categorical to "
                    "keep it."
                )
            kinds[name] = kind
        return kinds

    def _numeric(self, text, name, where, summary):
        cells = col.parse_numbers(text)
        _cell_count(summary.missing_cells, name, int(cells.blank.sum()))
        _cell_count(summary.nonfinite_cells, name, int(cells.nonfinite.sum()))
        bad = int(cells.bad.sum())
        if bad and self.bad_cells == "error":
            first = int(np.flatnonzero(cells.bad)[0])
            value = text.iloc[first]
            raise DataError(
                f"{self.path}, column {name!r}, {where.place(first)}: cannot read "
                f"{value!r} as a number ({bad:,} such cell{'s' * (bad > 1)} in "
                "this column); fix the file, or treat such cells as missing "
                "(bad_cells='missing'; on the command line --bad-cells missing).",
                path=self.path,
                column=name,
                line=where.line(first),
                value=value,
            )
        _cell_count(summary.unparseable_cells, name, bad)
        return cells.values

    def _map_labels(self, labels, summary):
        labels, merged = col.normalise_labels(labels, self.spellings)
        for spelling, others in merged.items():
            _warn(
                f"{self.path}: labels {others} differ from {spelling!r} only in "
                f"case and were merged into it."
            )
        mapping = self.profile.label_map
        if mapping:
            labels = labels.map(lambda value: mapping.get(value, value))
        summary.label_counts = {
            str(k): int(v) for k, v in labels.value_counts().items()
        }
        return labels.astype(object)


class _Where:
    """Names a record's place in a file: its line for CSV, its row otherwise."""

    def __init__(self, path, lines, rows):
        self.path, self.lines, self.rows = path, lines, rows

    def line(self, position):
        return None if self.lines is None else int(self.lines[position])

    def place(self, position):
        if self.lines is None:
            return f"record {int(self.rows[position]) + 1}"
        return f"line {int(self.lines[position])}"

    def at(self, position):
        return f"{self.path}, {self.place(position)}"


def _drop_count(summary, reason, count):
    if count:
        summary.rows_dropped[reason] = summary.rows_dropped.get(reason, 0) + count


def _cell_count(counts, name, count):
    if count:
        counts[name] = counts.get(name, 0) + count


def _warn(message):
    warnings.warn(message, DataWarning, stacklevel=4)


def concat_tables(parts):
    """Stack tables read with the same options, in order, into one table.

    The summaries are merged into the first one's, whose ``path`` then names
    every file; ``rows`` keep their positions within their own files.
    """
    if not parts:
        raise DataError("There are no tables to combine.")
    columns = list(parts[0].features.columns)
    for part in parts[1:]:
        if list(part.features.columns) != columns:
            raise DataError(
                f"{part.summary.path} has other columns than "
                f"{parts[0].summary.path}; files trained on together must share "
                f"their columns."
            )
    if len(parts) == 1:
        return parts[0]
    summary = parts[0].summary
    for part in parts[1:]:
        summary.merge(part.summary)
    if len({part.summary.path for part in parts}) > 1:
        summary.path = ", ".join(part.summary.path for part in parts)
    labels = (
        None
        if parts[0].labels is None
        else pd.concat([part.labels for part in parts], ignore_index=True)
    )
    return Table(
        pd.concat([part.features for part in parts], ignore_index=True),
        labels,
        np.concatenate([part.rows for part in parts]),
        parts[0].categorical,
        summary,
    )
