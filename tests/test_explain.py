"""Per-record explanations on models trained on an NSL-KDD slice."""

import warnings

import numpy as np
import pandas as pd
import pytest

from aeids.exceptions import DataError
from aeids.explain import (
    RELATIVE,
    explain_records,
    feature_columns,
    feature_contributions,
    predict_file_explained,
    select_rows,
    top_features,
)
from aeids.pipeline import loading_options, read_table, train_model
from aeids.report.text import format_explanations
from conftest import demo_head

# Records with services the 2,000-row training slice never saw are expected.
pytestmark = pytest.mark.filterwarnings("ignore::aeids.UnseenCategoryWarning")



@pytest.fixture(scope="module")
def nsl_slice(tmp_path_factory):
    return demo_head(tmp_path_factory.mktemp("nsl"), 2000)


@pytest.fixture(scope="module", params=["classify", "detect"])
def run(request, nsl_slice):
    loading = loading_options(profile="nsl-kdd")
    table = read_table(nsl_slice, loading)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train_model(table, mode=request.param, normal="normal",
                           loading=loading, estimator_params={"max_epochs": 2})


def head(table, n):
    return table.__class__(table.features.iloc[:n].reset_index(drop=True),
                           table.labels.iloc[:n].reset_index(drop=True),
                           table.rows[:n], table.categorical, table.summary)


def test_shares_sum_to_one(run):
    X = run.model.transform(run.test.features)
    parts = feature_contributions(run.model, X)
    assert parts["shares"].shape == X.shape
    assert np.all(parts["shares"] >= 0)
    np.testing.assert_allclose(parts["shares"].sum(axis=1), 1, rtol=1e-9)
    weights = getattr(run.model.estimator, "feature_weights_", None)
    weighted = parts["squared"] if weights is None else (
        parts["squared"] * weights[parts["member"]])
    np.testing.assert_allclose(parts["score"], weighted.mean(axis=1))
    # Fitting stores each member's typical error per feature.
    assert parts["relative"]
    assert run.model.estimator.feature_error_medians_.shape == (
        run.model.estimator.network_.n_models, X.shape[1])


def test_score_is_the_models_error(run):
    model = run.model
    X = model.transform(run.test.features.iloc[:50])
    parts = feature_contributions(model, X)
    if model.kind == "detector":
        expected = model.estimator.decision_function(X)
    else:
        errors = model.estimator.reconstruction_errors(X)
        expected = errors[np.arange(len(X)), parts["member"]]
    np.testing.assert_allclose(parts["score"], expected, rtol=1e-4)


def test_perturbed_feature_comes_first(run):
    model = run.model
    X = model.transform(run.test.features.iloc[:20])
    names = list(model.encoder.feature_names_out_)
    for name in ("src_bytes", "count", "service=http"):
        j = names.index(name)
        changed = X.copy()
        changed[:, j] += 5
        parts = feature_contributions(model, changed)
        # The shift also disturbs the reconstruction of other features, so
        # the perturbed one leads in nearly every row rather than owning it.
        assert np.mean(parts["shares"].argmax(axis=1) == j) >= 0.9, name
        assert np.median(parts["shares"][:, j]) > 0.2, name


def test_explain_records_maps_features_to_columns(run):
    table = head(run.test, 3)
    table.features.loc[1, "src_bytes"] = 1e12
    records = explain_records(run.model, table, top=4)
    assert [r["row"] for r in records] == list(table.rows)
    top = records[1]["features"][0]
    assert top["feature"] == top["column"] == "src_bytes"
    assert top["value"] == 1e12
    for record in records:
        assert len(record["features"]) == 4
        assert record["relative_to"] == RELATIVE
        shares = [item["share"] for item in record["features"]]
        assert shares == sorted(shares, reverse=True) and sum(shares) <= 1 + 1e-9
        for item in record["features"]:
            if "=" in item["feature"]:
                assert item["column"] == item["feature"].split("=", 1)[0]
            assert item["value"] == table.features.loc[
                records.index(record), item["column"]]


def test_explanation_text_shows_the_records_own_category():
    record = {
        "row": 7, "label": "Probe", "predicted": "normal", "score": 0.07,
        "explained_under": "normal", "relative_to": RELATIVE,
        "features": [
            {"feature": "protocol_type=tcp", "column": "protocol_type",
             "value": "icmp", "encoded": 0.0, "reconstruction": 0.55,
             "share": 0.2},
            {"feature": "count", "column": "count", "value": 3.0,
             "encoded": 0.25, "reconstruction": 0.5, "share": 0.1},
        ],
    }
    lines = format_explanations([record]).splitlines()
    assert lines[0] == "row 7  label Probe  predicted normal  error 0.07 under normal"
    assert lines[2].split() == ["protocol_type=tcp", "0.200", "0.000", "0.550",
                                "protocol_type=icmp"]
    assert lines[3].split() == ["count", "0.100", "0.250", "0.500", "3"]


def test_feature_columns_cover_the_encoding(run):
    encoder = run.model.encoder
    columns = feature_columns(encoder)
    assert len(columns) == len(encoder.feature_names_out_)
    assert set(columns) == set(encoder.numeric_columns_) | set(
        encoder.categorical_columns_)
    assert columns[encoder.feature_names_out_.index("service=http")] == "service"


def test_stored_typical_errors_make_shares_relative(run):
    model = run.model
    X = model.transform(run.test.features.iloc[:10])
    j = list(model.encoder.feature_names_out_).index("count")
    changed = X.copy()
    changed[:, j] += 5
    n_members = model.estimator.network_.n_models
    typical = np.full((n_members, X.shape[1]), 0.01)
    typical[:, j] = 1e6
    stored = model.estimator.feature_error_medians_
    model.estimator.feature_error_medians_ = typical
    try:
        parts = feature_contributions(model, changed)
        records = explain_records(model, head(run.test, 2), top=2)
    finally:
        model.estimator.feature_error_medians_ = stored
    assert parts["relative"]
    assert np.all(parts["shares"].argmax(axis=1) != j)
    np.testing.assert_allclose(parts["shares"].sum(axis=1), 1)
    assert records[0]["relative_to"] == RELATIVE


def test_top_features_text(run):
    X = run.model.transform(run.test.features.iloc[:5])
    texts = top_features(run.model, X, top=3)
    names = set(run.model.encoder.feature_names_out_)
    for text in texts:
        pairs = [item.rsplit(":", 1) for item in text.split(";")]
        assert len(pairs) == 3 and {name for name, _ in pairs} <= names
        assert 0 < sum(float(share) for _, share in pairs) <= 1.001
    with pytest.raises(ValueError, match="top must be a positive"):
        top_features(run.model, X, top=0)


def test_select_rows_keeps_the_order_asked(run, nsl_slice):
    table = select_rows(run.model, nsl_slice, [17, 0, 5], chunk_rows=700)
    assert list(table.rows) == [17, 0, 5]
    frame = pd.read_csv(nsl_slice, header=None)
    assert list(table.features["src_bytes"]) == list(frame.iloc[[17, 0, 5], 4])
    with pytest.raises(DataError, match="Row 5000 is not among the records"):
        select_rows(run.model, nsl_slice, [3, 5000])


def test_predict_file_explained(run, nsl_slice, tmp_path):
    out = tmp_path / "predictions.csv"
    count = predict_file_explained(run.model, nsl_slice, out, top=2,
                                   chunk_rows=900)
    frame = pd.read_csv(out)
    assert count == len(frame) == 2000
    assert frame["top_features"].str.count(";").eq(1).all()
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.csv"]
