"""Loading rules of aeids.io on small written files and on the shared datasets."""

import bz2
import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aeids.exceptions import DataError, DataWarning
from aeids.io import LoadSummary, iter_tables, load_table

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"shared datasets not found at {DATA}"
)


def write(tmp_path, text, name="t.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_repeated_header_and_blank_lines_dropped(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2,x\n\na,b,y\n3,4,z\n")
    table = load_table(path, label="y")
    assert table.summary.rows_dropped == {"blank line": 1, "repeated header line": 1}
    assert table.summary.rows_read == 4 and table.summary.rows_kept == 2
    assert list(table.rows) == [0, 3]
    assert table.features["a"].tolist() == [1.0, 3.0]


def test_bad_cell_error_names_file_column_line_value(tmp_path):
    path = write(tmp_path, "sbytes,y\n1,a\n2,a\nabc,b\nx,b\n5,a\n")
    expected = (
        f"{path}, column 'sbytes', line 4: cannot read 'abc' as a number "
        "(2 such cells in this column); fix the file, or treat such cells as "
        "missing (bad_cells='missing'; on the command line --bad-cells missing)."
    )
    with pytest.raises(DataError) as info:
        load_table(path, label="y")
    assert str(info.value) == expected
    assert (info.value.column, info.value.line, info.value.value) == (
        "sbytes",
        4,
        "abc",
    )
    table = load_table(path, label="y", bad_cells="missing")
    assert table.summary.unparseable_cells == {"sbytes": 2}


def test_hex_infinity_and_blank_cells(tmp_path):
    path = write(tmp_path, "h,r,y\n0x00002ea2,Infinity,a\n0x10,-inf,a\n 7 , ,b\n")
    table = load_table(path, label="y")
    assert table.features["h"].tolist() == [0x2EA2, 16, 7]
    assert table.summary.nonfinite_cells == {"r": 2}
    assert table.summary.missing_cells == {"r": 1}


def test_free_text_dropped_with_warning(tmp_path):
    rows = "".join(f"{i},host-{i},a\n" for i in range(80))
    path = write(tmp_path, "n,uri,y\n" + rows)
    with pytest.warns(DataWarning, match="column 'uri' holds free text"):
        table = load_table(path, label="y")
    assert table.summary.columns_dropped == {"uri": "free text: 80 distinct values"}
    kept = load_table(path, label="y", categorical=["uri"])
    assert kept.categorical == ["uri"]


def test_unnamed_index_and_absent_drop_columns(tmp_path):
    path = write(tmp_path, ",a,Flow ID,y\n0,1,f1,x\n1,2,f2,y\n")
    with pytest.warns(DataWarning, match=r"lacks the drop-list columns \['Src IP'\]"):
        table = load_table(path, label="y", drop=["Flow ID", "Src IP"])
    assert list(table.features.columns) == ["a"]
    assert table.summary.columns_dropped["Unnamed: 0"] == "unnamed index column"


def test_labels_normalised_and_case_merged(tmp_path):
    text = (
        "a,y\n1,Web Attack \u2013 XSS\n2,web attack - xss\n3,Web  Attack - XSS\n4, \n"
    )
    path = write(tmp_path, text)
    with pytest.warns(DataWarning, match="differ from 'Web Attack - XSS' only in case"):
        table = load_table(path, label="y")
    assert table.labels.tolist() == ["Web Attack - XSS"] * 3
    assert table.summary.rows_dropped == {"blank label": 1}


def test_non_utf8_falls_back_to_cp1252(tmp_path):
    path = write(tmp_path, "a,y\n1,Web Attack \u2013 XSS\n", encoding="cp1252")
    with pytest.warns(DataWarning, match="not valid UTF-8.*read as cp1252"):
        table = load_table(path, label="y")
    assert table.labels.tolist() == ["Web Attack - XSS"]


def test_utf16_with_bom_and_crlf(tmp_path):
    path = write(tmp_path, "\ufeffa,y\r\n1,x\r\n2,y\r\n", encoding="utf-16-le")
    table = load_table(path, label="y")
    assert table.features["a"].tolist() == [1.0, 2.0]


def test_utf8_bom_stripped(tmp_path):
    path = write(tmp_path, "\ufeffid,a,y\n1,2,x\n")
    table = load_table(path, label="y", drop=["id"])
    assert list(table.features.columns) == ["a"]


def test_ragged_row_error_and_edge_rule(tmp_path):
    path = write(tmp_path, "a,b,Attack_type\n1,2,x\n1,2,3,x\n4,5,y\n")
    with pytest.raises(DataError, match=r"line 3: found 4 fields where the first"):
        load_table(path, label="Attack_type")
    with pytest.warns(DataWarning):
        table = load_table(path, profile="edge-iiotset")
    assert table.summary.shifted_rows == 1
    assert table.summary.rows_dropped == {"shifted row (wrong number of fields)": 1}
    assert list(table.rows) == [0, 2] and table.summary.rows_read == 3


def test_duplicates_counted_and_dropped_on_request(tmp_path):
    path = write(tmp_path, "a,y\n1,x\n1,x\n2,x\n1,y\n")
    kept = load_table(path, label="y").summary
    assert kept.duplicate_rows == 1
    assert "  exact duplicate rows: 1 (kept)" in kept.lines()
    table = load_table(path, label="y", drop_duplicates=True)
    assert list(table.rows) == [0, 2, 3]
    assert table.summary.rows_dropped == {"duplicate": 1}
    assert "  exact duplicate rows: 1" in table.summary.lines()


@pytest.mark.parametrize(
    ("text", "match"),
    [("", "is empty"), ("\n\n", "is empty"), ("a,b,y\n", "header line but no data")],
)
def test_empty_inputs(tmp_path, text, match):
    with pytest.raises(DataError, match=match):
        load_table(write(tmp_path, text), label="y")


def test_headerless_and_declared_header(tmp_path):
    path = write(tmp_path, "1,tcp,x\n2,udp,y\n")
    table = load_table(path, names=["n", "proto", "y"], label="y")
    assert table.labels.tolist() == ["x", "y"] and table.categorical == ["proto"]
    with pytest.raises(DataError, match="line 1: found 3 fields where the expected"):
        load_table(path, names=["n", "y"], label="y")
    with pytest.raises(DataError, match="no label column 'y'.*'column_1'"):
        load_table(path, label="y")


def test_require_label_false(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n")
    assert load_table(path, label="y", require_label=False).labels is None


def test_gzip_detected_by_magic_and_parquet(tmp_path):
    text = "a,p,y\n1,tcp,x\n2,udp,y\n"
    path = tmp_path / "plain-name.csv"
    path.write_bytes(gzip.compress(text.encode()))
    table = load_table(path, label="y")
    frame = pd.DataFrame({"a": [1.0, 2.0], "p": ["tcp", "udp"], "y": ["x", "y"]})
    frame.to_parquet(tmp_path / "t.parquet")
    again = load_table(tmp_path / "t.parquet", label="y")
    pd.testing.assert_frame_equal(table.features, again.features)
    assert again.labels.tolist() == ["x", "y"]


def test_unsupported_compression_and_garbage(tmp_path):
    path = tmp_path / "t.csv.bz2"
    path.write_bytes(bz2.compress(b"a,y\n1,x\n"))
    with pytest.raises(DataError, match="bzip2-compressed"):
        load_table(path, label="y")
    broken = tmp_path / "broken.csv.gz"
    rows = "".join(f"{i},{i * 7919 % 104729}\n" for i in range(2000))
    broken.write_bytes(gzip.compress(("a,y\n" + rows).encode())[:2000])
    with pytest.raises(DataError, match="broken.csv.gz"):
        load_table(broken, label="y")


def test_missing_file_and_directory_are_named(tmp_path):
    with pytest.raises(DataError, match=r"nothere\.csv does not exist\.$"):
        load_table(tmp_path / "nothere.csv", label="y")
    with pytest.raises(DataError, match="is a directory"):
        load_table(tmp_path, label="y")


def test_summary_json_round_trip(tmp_path):
    path = write(tmp_path, "a,y\n1,x\nInfinity,x\n")
    summary = load_table(path, label="y").summary
    data = json.loads(json.dumps(summary.to_dict()))
    assert LoadSummary.from_dict(data) == summary
    assert summary.lines()[0].endswith("2 records read, 2 kept")


def test_iter_tables_equals_load_table(tmp_path):
    rows = "".join(f"{i},{i % 3},c{i % 4},{'ab'[i % 2]}\n" for i in range(1000))
    path = write(tmp_path, "a,b,c,y\n" + rows + "1,x,c1,a\n")
    whole = load_table(path, label="y", bad_cells="missing")
    parts = list(iter_tables(path, chunk_rows=300, label="y", bad_cells="missing"))
    assert [len(part.rows) for part in parts] == [300, 300, 300, 101]
    pd.testing.assert_frame_equal(
        pd.concat([part.features for part in parts], ignore_index=True), whole.features
    )
    assert np.array_equal(np.concatenate([part.rows for part in parts]), whole.rows)
    assert sum(p.summary.unparseable_cells.get("b", 0) for p in parts) == 1


@needs_data
def test_nsl_kdd():
    table = load_table(DATA / "nsl-kdd" / "KDDTrain+_20Percent.txt", profile="nsl-kdd")
    assert table.summary.label_counts == {
        "normal": 13449,
        "DoS": 9234,
        "Probe": 2289,
        "R2L": 209,
        "U2R": 11,
    }
    assert table.features.shape == (25192, 41)
    assert table.categorical == ["protocol_type", "service", "flag"]
    fine = load_table(
        DATA / "nsl-kdd" / "KDDTrain+_20Percent.txt", profile="nsl-kdd-fine"
    )
    assert len(fine.summary.label_counts) == 22


@needs_data
def test_unsw_nb15():
    table = load_table(DATA / "unsw-nb15" / "UNSW_NB15_82k.csv.gz", profile="unsw-nb15")
    assert len(table.features) == 82332 and len(table.summary.label_counts) == 10
    assert "id" not in table.features and "label" not in table.features
    assert table.categorical == ["proto", "service", "state"]
    assert table.summary.label_counts["Worms"] == 44


@needs_data
def test_cic_ids2017():
    path = DATA / "cic-ids2017" / "cic_ids2017_multiclass.csv.gz"
    table = load_table(path, profile="cic-ids2017")
    counts = table.summary.label_counts
    assert len(counts) == 10 and counts["Web Attack - Brute Force"] == 150
    assert table.summary.nonfinite_cells == {"Flow Bytes/s": 3, "Flow Packets/s": 9}
    assert table.summary.missing_cells == {"Flow Bytes/s": 6}
    assert table.summary.duplicate_rows == 482
    parts = list(iter_tables(path, chunk_rows=4000, profile="cic-ids2017"))
    pd.testing.assert_frame_equal(
        pd.concat([part.features for part in parts], ignore_index=True), table.features
    )


@needs_data
def test_edge_iiotset():
    with pytest.warns(DataWarning, match="1,229 rows look shifted"):
        mitm = load_table(
            DATA / "edge-iiotset" / "MITM_attack.csv", profile="edge-iiotset"
        )
    assert mitm.summary.shifted_rows == 1229
    assert mitm.summary.label_counts == {"MITM": 1229}
    os_path = DATA / "edge-iiotset" / "OS_Fingerprinting_attack.csv"
    fingerprinting = load_table(os_path, profile="edge-iiotset")
    assert fingerprinting.summary.label_counts == {"Fingerprinting": 1001}
    assert fingerprinting.summary.shifted_rows == 0
    assert "frame.time" not in fingerprinting.features
    assert "Attack_label" not in fingerprinting.features
