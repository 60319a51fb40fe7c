"""Whatever bytes a CSV file holds, load_table returns a Table or a DataError."""

import gzip
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aeids.exceptions import AeidsError
from aeids.io import Table, load_table

names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=8
)
cells = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "Infinity", "-inf", "NaN", "0x1f", "a", "Web \ufffd A"]),
    st.text(max_size=6),
)


@st.composite
def csv_files(draw):
    width = draw(st.integers(1, 5))
    header = draw(st.lists(names, min_size=width, max_size=width))
    rows = draw(
        st.lists(st.lists(cells, min_size=width - 1, max_size=width + 1), max_size=8)
    )
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [",".join(header)] + [",".join(row) for row in rows]
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        data = gzip.compress(data)
    label = draw(st.one_of(st.none(), st.sampled_from(header)))
    return data, label


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=csv_files(), bad_cells=st.sampled_from(["error", "missing"]))
def test_load_table_returns_table_or_data_error(tmp_path, case, bad_cells):
    data, label = case
    path = tmp_path / "generated.csv"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            table = load_table(path, label=label, bad_cells=bad_cells)
        except AeidsError as exc:
            assert str(path) in str(exc)
            return
    assert isinstance(table, Table)
    assert table.summary.rows_kept == len(table.features) == len(table.rows)
    dropped = sum(table.summary.rows_dropped.values())
    assert table.summary.rows_read == table.summary.rows_kept + dropped
