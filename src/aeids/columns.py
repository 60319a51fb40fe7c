"""Typing of text columns and normalisation of class labels.

Files are read as text; these helpers decide what each column is and turn
its cells into values, counting every cell they could not use as given:

* a column whose non-blank, finite-looking cells mostly (more than half) parse
  as numbers is numeric; hexadecimal text such as ``0x00002ea2`` is a number;
* ``Infinity``, ``inf``, ``-Infinity`` and ``NaN`` (any case) become NaN and are
  counted as non-finite; blank or whitespace-only cells become NaN and are
  counted as missing;
* a text column is categorical when declared so, or when it holds at most
  ``max_categories`` distinct values; otherwise it is free text.
"""

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Cells", "column_kind", "normalise_labels", "parse_numbers"]

MAX_CATEGORIES = 64
NUMERIC, CATEGORICAL, FREE_TEXT = "numeric", "categorical", "free text"

_NONFINITE = ["inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan"]
_HEX = r"[+-]?0[xX][0-9a-fA-F]+"
_DASHES = re.compile("[\u2010-\u2015\u2212]|\ufffd+|\u00e2\u20ac[\u201c\u201d]")
_SPACES = re.compile(r"\s+")


@dataclass
class Cells:
    """The outcome of reading one text column as numbers.

    Attributes
    ----------
    values : ndarray of float64
        The numbers; NaN where a cell is blank, non-finite or unparseable.
    blank, nonfinite, bad : ndarray of bool
        Which cells were blank, non-finite, or text that is not a number.
    """

    values: np.ndarray
    blank: np.ndarray
    nonfinite: np.ndarray
    bad: np.ndarray


def parse_numbers(text):
    """Read a column of text cells as float64 numbers.

    Parameters
    ----------
    text : pandas.Series or pyarrow.Array of str
        The raw cells; null cells count as blank.

    Returns
    -------
    Cells
    """
    array = pa.array(text, type=pa.string()) if not isinstance(text, pa.Array) else text
    trimmed = pc.utf8_trim_whitespace(array.fill_null(""))
    blank = pc.equal(trimmed, "").to_numpy(zero_copy_only=False)
    try:
        values = pc.cast(pc.if_else(blank, None, trimmed), pa.float64())
        values = values.to_numpy(zero_copy_only=False).astype(np.float64)
        bad = np.zeros(len(values), dtype=bool)
    except pa.ArrowInvalid:
        values, bad = _parse_slowly(trimmed.to_pandas(), blank)
    nonfinite = ~blank & ~bad & ~np.isfinite(values)
    values[nonfinite] = np.nan
    return Cells(values, blank, nonfinite, bad)


def _parse_slowly(trimmed, blank):
    lowered = trimmed.str.lower()
    named = lowered.isin(_NONFINITE).to_numpy()
    values = pd.to_numeric(trimmed.where(~(blank | named)), errors="coerce")
    values = np.array(values.to_numpy(dtype=np.float64, na_value=np.nan))
    hex_cells = np.isnan(values) & trimmed.str.fullmatch(_HEX).to_numpy(dtype=bool)
    if hex_cells.any():
        values[hex_cells] = [float(int(cell, 16)) for cell in trimmed[hex_cells]]
    values[named] = np.inf
    bad = ~blank & np.isnan(values)
    return values, bad


def column_kind(text, *, declared=False, max_categories=MAX_CATEGORIES):
    """Decide whether a text column is numeric, categorical or free text.

    Parameters
    ----------
    text : pandas.Series of str
        The raw cells of one column.
    declared : bool, default=False
        Whether the column was declared categorical.
    max_categories : int, default=64
        Most distinct values an undeclared text column may hold and still be
        categorical.

    Returns
    -------
    kind : {"numeric", "categorical", "free text"}
    distinct : int
        Number of distinct non-blank values (0 for numeric columns).
    """
    if declared:
        return CATEGORICAL, 0
    cells = parse_numbers(text)
    readable = ~cells.blank & ~cells.nonfinite
    if readable.sum() == 0 or (~cells.bad[readable]).mean() > 0.5:
        return NUMERIC, 0
    distinct = pd.Series(text).str.strip()
    distinct = int(distinct[distinct != ""].nunique())
    return (CATEGORICAL if distinct <= max_categories else FREE_TEXT), distinct


def clean_label(label):
    """Normalise one label: strip, unify dashes, collapse whitespace.

    Dash variants (U+2010 to U+2015, the minus sign), the replacement character
    U+FFFD left where a non-UTF-8 dash was decoded, and the cp1252 mis-decoding
    of an en or em dash all become ``-``.

    Parameters
    ----------
    label : str

    Returns
    -------
    str
    """
    return _SPACES.sub(" ", _DASHES.sub("-", label)).strip()


def normalise_labels(labels, spellings=None):
    """Normalise label text and merge spellings that differ only in case.

    Parameters
    ----------
    labels : pandas.Series of str
        Raw labels.
    spellings : dict or None, default=None
        Case-folded label to its chosen spelling, from earlier chunks; updated
        in place with new labels. Each new case-folded label takes its most
        frequent spelling in `labels` (ties: the first in sorted order).

    Returns
    -------
    labels : pandas.Series of str
    merged : dict of str to list of str
        Chosen spelling to the other spellings mapped onto it in this call.
    """
    spellings = {} if spellings is None else spellings
    counts = labels.value_counts(sort=False)
    cleaned = pd.Series(counts.to_numpy(), index=[clean_label(x) for x in counts.index])
    cleaned = cleaned.groupby(level=0).sum()
    folded = pd.DataFrame({"spelling": cleaned.index, "n": cleaned.to_numpy()})
    folded["key"] = folded["spelling"].str.casefold()
    folded = folded.sort_values(["n", "spelling"], ascending=[False, True])
    for key, spelling in zip(folded["key"], folded["spelling"], strict=True):
        spellings.setdefault(key, spelling)
    merged = {}
    for spelling, key in zip(folded["spelling"], folded["key"], strict=True):
        if spellings[key] != spelling:
            merged.setdefault(spellings[key], []).append(spelling)
    mapping = {raw: spellings[clean_label(raw).casefold()] for raw in counts.index}
    return labels.map(mapping).astype(object), merged
