"""Every hostile input in ../shared/cases has its outcome asserted here."""

from pathlib import Path

import numpy as np
import pytest

from aeids.exceptions import DataError, DataWarning
from aeids.io import load_table
from aeids.pipeline import loading_options, read_table, train_model

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"

pytestmark = pytest.mark.skipif(
    not CASES.is_dir(), reason=f"shared case files not found at {CASES}"
)


def test_case01_infinity_counted_and_missing():
    table = load_table(CASES / "case01.csv", label="Label")
    assert table.summary.nonfinite_cells == {"Flow Bytes/s": 2, "Flow Packets/s": 2}
    assert np.isnan(table.features["Flow Bytes/s"]).sum() == 2
    assert table.features.dtypes.eq(np.float64).all()
    assert any("non-finite" in line for line in table.summary.lines())


def test_case02_header_names_stripped():
    table = load_table(CASES / "case02.csv", label="Label")
    assert list(table.features.columns) == [
        "Destination Port",
        "Flow Duration",
        "Total Fwd Packets",
    ]
    assert table.labels.tolist() == ["BENIGN", "BENIGN", "SSH-Patator", "DoS Hulk"]


def test_case02_missing_label_lists_columns():
    with pytest.raises(DataError, match=r"no label column 'label'.*'Label'") as info:
        load_table(CASES / "case02.csv", label="label")
    assert info.value.column == "label"


def test_case04_headerless_detected_no_record_lost():
    table = load_table(CASES / "case04.csv")
    assert len(table.features) == 5
    assert table.features.iloc[0, 0] == 0.12
    assert list(table.rows) == [0, 1, 2, 3, 4]


def test_case04_field_count_checked_against_profile():
    with pytest.raises(DataError, match=r"line 1: found 10 fields .* has 43"):
        load_table(CASES / "case04.csv", profile="nsl-kdd")


def test_case04_declared_names():
    names = "dur proto service state spkts dpkts sbytes dbytes attack_cat label"
    table = load_table(
        CASES / "case04.csv", names=names.split(), label="attack_cat", drop=["label"]
    )
    expected = ["Normal", "Normal", "Generic", "Exploits", "Normal"]
    assert table.labels.tolist() == expected
    assert table.categorical == ["proto", "service", "state"]


def test_case05_identifiers_dropped_by_name():
    ids = ["Flow.ID", "Source.IP", "Destination.IP"]
    table = load_table(CASES / "case05.csv", drop=ids)
    assert not set(ids) & set(table.features.columns)
    assert table.summary.columns_dropped["Flow.ID"] == "on the drop list"
    assert table.features["Destination.Port"].tolist() == [443, 80, 53000, 443]


def test_case05_identifiers_recognised_without_drop_list():
    table = load_table(CASES / "case05.csv")
    ids = {"Flow.ID", "Source.IP", "Destination.IP"}
    assert not ids & set(table.features.columns)
    assert {table.summary.columns_dropped[name] for name in ids} == {
        "identifier by name"
    }
    assert "dropped 3 columns (identifier by name): Flow.ID, Source.IP, " \
        "Destination.IP" in "\n".join(table.summary.lines())
    # Ports and protocol describe behaviour and stay.
    assert {"Source.Port", "Destination.Port", "ProtocolName"} <= set(
        table.features.columns
    )
    kept = load_table(CASES / "case05.csv", categorical=["Source.IP"])
    assert "Source.IP" in kept.features.columns
    assert "Flow.ID" not in kept.features.columns


def test_case06_addresses_and_second_label_dropped_without_profile():
    table = load_table(CASES / "case06.csv", label="Attack_type",
                       bad_cells="missing")
    dropped = table.summary.columns_dropped
    assert {name: dropped[name] for name in
            ("frame.time", "ip.src_host", "ip.dst_host", "Attack_label")} == {
        "frame.time": "identifier by name", "ip.src_host": "identifier by name",
        "ip.dst_host": "identifier by name", "Attack_label": "another label column",
    }
    assert not set(dropped) & set(table.features.columns)
    assert table.labels.tolist()[:2] == ["Normal", "Normal"]


def test_case05_remaining_text_cell_reported(tmp_path):
    text = (CASES / "case05.csv").read_text().replace(",443,4500", ",https,4500")
    path = tmp_path / "case05-text.csv"
    path.write_text(text)
    ids = ["Flow.ID", "Source.IP", "Destination.IP"]
    pattern = r"column 'Destination.Port', line 2: cannot read 'https' as a number"
    with pytest.raises(DataError, match=pattern) as info:
        load_table(path, drop=ids)
    assert (info.value.line, info.value.value) == (2, "https")


def test_case06_edge_profile():
    with pytest.warns(DataWarning, match="lacks the drop-list columns"):
        table = load_table(CASES / "case06.csv", profile="edge-iiotset")
    assert "tcp.srcport" not in table.features
    assert table.categorical == ["http.request.method", "mqtt.topic"]
    assert table.features["http.request.method"].tolist()[2] == "GET"
    assert table.summary.shifted_rows == 0


def test_case06_stray_text_counted_or_reported():
    with pytest.raises(DataError, match=r"line 5: cannot read '0.0.0.0'"):
        load_table(CASES / "case06.csv", label="Attack_type")
    table = load_table(CASES / "case06.csv", label="Attack_type", bad_cells="missing")
    assert table.summary.unparseable_cells["tcp.srcport"] == 1
    assert np.isnan(table.features["tcp.srcport"][3])


def test_case07_categorical_columns_kept_as_text():
    train = load_table(CASES / "case07-train.csv", label="label")
    test = load_table(CASES / "case07-test.csv", label="label")
    assert train.categorical == test.categorical == ["protocol_type", "service", "flag"]
    assert list(train.features.columns) == list(test.features.columns)
    assert set(test.features["service"]) - set(train.features["service"]) == {
        "ecr_i",
        "telnet",
    }


def test_case09_small_class_loads_with_counts():
    table = load_table(CASES / "case09.csv", label="Attack_type")
    assert table.summary.label_counts == {"Normal": 7, "MITM": 3}


def test_case09_split_leaving_one_training_row_names_the_file():
    loading = loading_options(label="Attack_type")
    table = read_table(CASES / "case09.csv", loading, training=True)
    with pytest.raises(DataError, match=r"case09\.csv: each class needs at least "
                       r"2 training rows .* after 50% .*'MITM' \(1 row\)") as info:
        train_model(table, test_size=0.5, random_state=0)
    assert info.value.path.endswith("case09.csv")


def test_case10_constant_column_kept_for_features_step():
    table = load_table(CASES / "case10.csv", label="Label")
    assert (table.features["Bwd PSH Flags"] == 0).all()


def test_case11_blank_cells_counted():
    table = load_table(CASES / "case11.csv", label="label")
    assert table.summary.missing_cells == {"dbytes": 1, "ct_flw_http_mthd": 1}
    assert table.features.isna().sum().sum() == 2


def test_case12_four_features():
    table = load_table(CASES / "case12.csv", label="Label")
    assert table.features.shape == (4, 4)


def test_case12_architecture_checked_against_the_feature_count():
    from aeids import AutoencoderClassifier, ConfigError, FeatureEncoder
    from aeids.network import resolve_layers

    table = load_table(CASES / "case12.csv", label="Label")
    X = FeatureEncoder().fit_transform(table.features)
    assert X.shape[1] == 4
    two_classes = ["Benign", "Benign", "Brute", "Brute"]
    wide = AutoencoderClassifier(hidden_layers=[16, 8], max_epochs=1)
    with pytest.raises(ConfigError, match="bottleneck width 8 .* 4 input features"):
        wide.fit(X, two_classes)
    with pytest.raises(ConfigError, match="bottleneck width 4 .* 3 input features"):
        resolve_layers([4], 3)
