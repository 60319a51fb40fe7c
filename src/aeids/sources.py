"""Raw records from CSV (plain or gzip) and Parquet files, as text.

A :class:`Source` yields the records of a file in chunks of text columns with
their line numbers, so that later steps can name the line of a bad cell. It
detects the format from the file's first bytes, the text encoding, and whether
the first line is a header. Every failure of the underlying readers becomes a
:class:`~aeids.exceptions.DataError` that names the file.

Encoding rule: a byte-order mark selects UTF-8 or UTF-16; otherwise the whole
file is checked as UTF-8, and a file that is not valid UTF-8 is read as cp1252
(or latin-1 if cp1252 cannot decode it either) with a
:class:`~aeids.exceptions.DataWarning`.
"""

import codecs
import csv
import gzip
import io
import logging
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from aeids.columns import parse_numbers
from aeids.exceptions import AeidsError, DataError, DataWarning

logger = logging.getLogger(__name__)

_BLOCK = 1 << 20
_UNSUPPORTED = {b"BZh": "bzip2", b"PK\x03\x04": "zip", b"\xfd7zXZ": "xz"}


class Source:
    """The records of one file, read in chunks as text.

    Parameters
    ----------
    path : str or path-like
    header : bool or None
        Whether the first line is a header; None detects it.
    names : sequence of str or None
        Column names for a headerless file; also the expected field count.
    ragged : {"error", "skip"}
        What to do with rows whose number of fields differs from the first.
    """

    def __init__(self, path, *, header=None, names=None, ragged="error"):
        self.path = str(path)
        self.header = header
        self.names = None if names is None else list(names)
        self.ragged = ragged
        self.skipped = []
        self.columns = None
        self.has_header = False

    def chunks(self, chunk_rows):
        """Yield ``(frame, rows, lines)`` chunks of about `chunk_rows` records.

        `frame` holds text cells under the stripped column names, `rows` the
        0-based record numbers (lines after the header) and `lines` the 1-based
        line numbers, or None for Parquet.
        """
        try:
            kind = self._kind()
            if kind == "parquet":
                yield from self._parquet(chunk_rows)
            else:
                yield from self._csv(chunk_rows, "gzip" if kind == "gzip" else None)
        except AeidsError:
            raise
        except FileNotFoundError:
            raise DataError(f"{self.path} does not exist.", path=self.path) from None
        except IsADirectoryError:
            raise DataError(
                f"{self.path} is a directory; name a CSV or Parquet file in it.",
                path=self.path,
            ) from None
        except PermissionError:
            raise DataError(f"{self.path} cannot be opened: permission denied.",
                            path=self.path) from None
        except (
            pa.ArrowException,
            OSError,
            EOFError,
            UnicodeError,
            csv.Error,
            ValueError,
        ) as exc:
            raise DataError(
                f"{self.path} cannot be read as a CSV or Parquet table: {exc}",
                path=self.path,
            ) from exc

    def _kind(self):
        with open(self.path, "rb") as handle:
            magic = handle.read(6)
        for prefix, name in _UNSUPPORTED.items():
            if magic.startswith(prefix):
                raise DataError(
                    f"{self.path} is {name}-compressed; decompress it or use gzip, "
                    "which aeids reads directly.",
                    path=self.path,
                )
        if magic.startswith(b"\x1f\x8b"):
            return "gzip"
        return "parquet" if magic.startswith(b"PAR1") else "csv"

    def _parquet(self, chunk_rows):
        parquet = pq.ParquetFile(self.path)
        self.columns = self._check_names([str(x) for x in parquet.schema_arrow.names])
        self.has_header = True
        start = 0
        for batch in parquet.iter_batches(batch_size=chunk_rows or 1 << 16):
            text = {
                name: _as_text(column)
                for name, column in zip(self.columns, batch.columns, strict=True)
            }
            rows = np.arange(start, start + batch.num_rows)
            start += batch.num_rows
            yield pd.DataFrame(text, copy=False), rows, None

    def _csv(self, chunk_rows, compression):
        encoding = self._encoding(compression)
        first = self._first_line(compression, encoding)
        self.columns, self.has_header = self._header(first)
        self._first_data_line = 2 if self.has_header else 1
        self._next_line = 1
        reader = pacsv.open_csv(
            pa.input_stream(self.path, compression=compression),
            read_options=pacsv.ReadOptions(
                column_names=[f"f{i}" for i in range(len(first))],
                block_size=_BLOCK * 4,
                encoding=encoding,
                use_threads=False,
            ),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=self._on_ragged, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(len(first))},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        pending = []
        size = chunk_rows and chunk_rows + self.has_header
        for batch in reader:
            pending.append(batch)
            table = pa.Table.from_batches(pending)
            while size and table.num_rows >= size:
                yield from self._emit(table.slice(0, size))
                table, size = table.slice(size), chunk_rows
            pending = table.to_batches()
        yield from self._emit(pa.Table.from_batches(pending, schema=reader.schema))

    def _emit(self, table):
        if table.num_rows == 0:
            self._check_ragged()
            return
        frame = table.to_pandas()
        frame.columns = self.columns
        lines = self._take_lines(len(frame))
        keep = lines >= self._first_data_line
        frame, lines = frame[keep].reset_index(drop=True), lines[keep]
        if len(lines) and lines[0] == 1:
            frame.iloc[0, 0] = frame.iloc[0, 0].lstrip("\ufeff")
        self._check_ragged()
        if len(frame):
            yield frame, lines - self._first_data_line, lines

    def _take_lines(self, count):
        skipped = np.array([line for line, _ in self.skipped], dtype=np.int64)
        lines = np.arange(self._next_line, self._next_line + count + len(skipped))
        lines = lines[~np.isin(lines, skipped)][:count]
        self._next_line = int(lines[-1]) + 1
        return lines

    def _on_ragged(self, row):
        self.skipped.append((row.number, row.actual_columns))
        return "skip"

    def _check_ragged(self):
        if self.ragged != "error" or not self.skipped:
            return
        line, found = self.skipped[0]
        raise DataError(
            f"{self.path}, line {line}: found {found} fields where the first line "
            f"has {len(self.columns)} ({len(self.skipped)} such lines so far); "
            "check the delimiter and quoting of that line.",
            path=self.path,
            line=line,
        )

    def _encoding(self, compression):
        with _raw_stream(self.path, compression) as stream:
            head = stream.read(4)
            if head.startswith((b"\xff\xfe", b"\xfe\xff")):
                return "utf-16"
            offset = _first_bad_byte(stream, head, "utf-8")
        if offset is None:
            return "utf8"
        with _raw_stream(self.path, compression) as stream:
            fallback = (
                "cp1252"
                if _first_bad_byte(stream, b"", "cp1252") is None
                else ("latin-1")
            )
        warnings.warn(
            f"{self.path} is not valid UTF-8 (first bad byte at offset {offset}); "
            f"it was read as {fallback}, so check accented text and labels.",
            DataWarning,
            stacklevel=5,
        )
        return fallback

    def _first_line(self, compression, encoding):
        codec = "utf-8-sig" if encoding == "utf8" else encoding
        with pa.input_stream(self.path, compression=compression) as stream:
            text = io.TextIOWrapper(stream, encoding=codec, newline="")
            first = next(csv.reader(text), None)
        if not first or all(not cell.strip() for cell in first):
            raise DataError(
                f"{self.path} is empty or its first line is blank; a table needs a "
                "header line or data records.",
                path=self.path,
                line=1,
            )
        return first

    def _header(self, first):
        names = self.names
        has_header = self.header
        if has_header is None:
            has_header = _looks_like_header(first, names)
        if names is None or has_header:
            # A header line names the columns, in its own order, whatever the
            # declared schema; a headerless file takes the declared names.
            names = first if has_header else _numbered(len(first))
        elif len(names) != len(first):
            raise DataError(
                f"{self.path}, line 1: found {len(first)} fields where the expected "
                f"schema has {len(names)} ({', '.join(names[:3])}, ...); check that "
                "the file matches the profile or the names given.",
                path=self.path,
                line=1,
            )
        if not has_header:
            logger.info("%s has no header line", self.path)
        return self._check_names(names), has_header

    def _check_names(self, names):
        out = []
        for position, name in enumerate(names):
            name = str(name).strip().lstrip("\ufeff").strip()
            if not name:
                name = "Unnamed: 0" if position == 0 else f"column_{position + 1}"
            if name in out:
                renamed = _unique(name, out)
                warnings.warn(
                    f"{self.path}: column name {name!r} occurs more than once; the "
                    f"repeat at position {position + 1} was renamed {renamed!r}.",
                    DataWarning,
                    stacklevel=5,
                )
                name = renamed
            out.append(name)
        return out


def _raw_stream(path, compression):
    # Python's gzip reader, unlike Arrow's, refuses a truncated file.
    return gzip.open(path, "rb") if compression else open(path, "rb")


def _numbered(count):
    return [f"column_{i + 1}" for i in range(count)]


def _unique(name, taken):
    number = 1
    while f"{name}.{number}" in taken:
        number += 1
    return f"{name}.{number}"


def _looks_like_header(first, names):
    stripped = [cell.strip().lstrip("\ufeff").strip() for cell in first]
    if names is None:
        return not _has_number(first)
    if stripped == list(names):
        return True
    shared = len(set(stripped) & set(names))
    return not _has_number(first) and shared >= len(names) // 2


def _has_number(cells):
    parsed = parse_numbers(pd.Series(cells, dtype=object).astype(str))
    return bool((~parsed.blank & ~parsed.bad & ~parsed.nonfinite).any())


def _first_bad_byte(stream, head, encoding):
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    block = head
    while True:
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            return offset + max(exc.start, 0)
        if not block:
            return None
        offset += len(block)
        block = stream.read(_BLOCK)


def _as_text(column):
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = column.cast(pa.string())
    return column.fill_null("").to_pandas()
