"""HTML, Markdown and data reports from small real runs on NSL-KDD."""

import base64
import io
import json
import re
import warnings

import numpy as np
import pytest
from matplotlib.image import imread

from aeids import AutoencoderClassifier
from aeids.pipeline import loading_options, read_table, train_model
from aeids.report import build_report, render_html, render_markdown, write_text
from conftest import demo_head

IMAGE = re.compile(r'<img id="figure-(\w+)"[^>]*src="data:image/png;base64,([^"]+)"')



@pytest.fixture(scope="module")
def nsl_slice(tmp_path_factory):
    return demo_head(tmp_path_factory.mktemp("nsl"), 3000)


@pytest.fixture(scope="module")
def reports(nsl_slice):
    """Report data of a 3-epoch classifier and a 3-epoch detector."""
    loading = loading_options(profile="nsl-kdd")
    table = read_table(nsl_slice, loading)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for mode in ("classify", "detect"):
            run = train_model(table, mode=mode, normal="normal", loading=loading,
                              estimator_params={"max_epochs": 3})
            out[mode] = build_report(run.model, run.test, model_path="model-dir")
    return out


@pytest.fixture(scope="module")
def html(reports):
    return {mode: render_html(data) for mode, data in reports.items()}


def images(page):
    return {name: imread(io.BytesIO(base64.b64decode(data)), format="png")
            for name, data in IMAGE.findall(page)}


@pytest.mark.parametrize("mode, sections, figures", [
    ("classify", ["metrics", "confusion", "errors", "training", "loading",
                  "configuration", "versions"],
     {"confusion", "error_distributions", "training"}),
    ("detect", ["metrics", "confusion", "anomaly", "training", "loading",
                "configuration", "versions"],
     {"confusion", "curves", "score_histogram", "training"}),
])
def test_html_has_every_section_and_figure(html, mode, sections, figures):
    page = html[mode]
    for section in sections:
        assert f'<section id="{section}">' in page
    drawn = images(page)
    assert set(drawn) == figures
    for name, pixels in drawn.items():
        assert pixels.ndim == 3 and pixels.shape[0] > 100, name
        assert pixels[..., :3].var() > 0, f"figure {name} is blank"


def test_html_is_self_contained(html):
    for page in html.values():
        assert not re.search(r'(src|href)="(?!data:)', page)
        assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith(
            "</html>")


def test_html_holds_the_numbers(reports, html):
    metrics = reports["classify"]["metrics"]
    page = html["classify"]
    assert f"{metrics['macro']['f1']:.4f}" in page
    assert "model-dir" in page
    assert reports["classify"]["includes_training_rows"]
    assert "come from the file the model was trained on" in page
    assert reports["classify"]["versions"]["report"]["torch"] in page


def test_markdown_has_the_tables(reports):
    text = render_markdown(reports["classify"])
    assert "| class | precision | recall | F1 | support |" in text
    assert "| true \\ predicted | DoS | Probe | R2L | normal |" in text
    assert "| class | own rows | other rows |" in text
    assert "| autoencoder | epochs |" in text
    assert "| setting | value |" in text and "params.max_epochs | 3" in text
    assert "| package | trained with | report made with |" in text
    assert "records read" in text
    detector = render_markdown(reports["detect"])
    assert "| metric (attack is positive) | value |" in detector
    assert "| operating point | value |" in detector
    assert "data:image" not in text + detector


def test_report_data_is_json(reports):
    for data in reports.values():
        assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_error_distributions_count_every_row(reports):
    data = reports["classify"]
    n = data["metrics"]["n_samples"]
    for item in data["error_distributions"].values():
        assert sum(item["own"]) == item["n_own"]
        assert sum(item["other"]) == item["n_other"]
        assert item["n_own"] + item["n_other"] == n
        assert len(item["bins"]) == len(item["own"]) + 1
        assert 0 <= item["separation"] <= 1


def test_curves_and_operating_point(reports):
    data = reports["detect"]
    curves, metrics = data["curves"], data["metrics"]
    assert curves["roc"]["fpr"][0] == 0 and curves["roc"]["tpr"][-1] == 1
    assert np.all(np.diff(curves["roc"]["fpr"]) >= 0)
    point = curves["operating_point"]
    assert point["fpr"] == metrics["false_positive_rate"]
    assert point["recall"] == metrics["recall"]
    histogram = data["score_histogram"]
    assert sum(histogram["attack"]) == metrics["n_attacks"]
    assert sum(histogram["normal"]) == metrics["n_samples"] - metrics["n_attacks"]
    assert histogram["bins"][0] <= histogram["threshold"] <= histogram["bins"][-1]


def test_training_curves_come_from_the_history(reports):
    training = reports["classify"]["training"]
    assert training["members"] == ["DoS", "Probe", "R2L", "normal"]
    for key in ("train_loss", "val_loss"):
        assert len(training[key]) == 4
        # 3 epochs, then the margin fine-tuning's epochs.
        epochs = 3 + AutoencoderClassifier().margin_epochs
        assert all(len(losses) == epochs for losses in training[key])
    assert reports["detect"]["training"]["members"] == ["normal"]


def test_write_text_is_atomic(tmp_path):
    target = tmp_path / "report.html"
    write_text(target, "first")
    write_text(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    with pytest.raises(FileNotFoundError):
        write_text(tmp_path / "absent" / "report.html", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_text_confusion_matrix_numbers_long_labels():
    from aeids.metrics import classification_metrics
    from aeids.report.text import format_report

    labels = ["BENIGN", "DDoS", "Web Attack - Sql Injection"]
    y_true = ["BENIGN"] * 1203 + ["DDoS"] * 300 + [labels[2]] * 7
    y_pred = ["BENIGN"] * 1200 + [labels[2]] * 3 + ["BENIGN"] + ["DDoS"] * 299 \
        + [labels[2]] * 7
    lines = format_report(classification_metrics(y_true, y_pred, labels)).splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith("confusion matrix"))
    block = lines[start + 1:start + 6]
    assert block[0].split() == ["1", "2", "3"]
    assert block[1].split() == ["1", "BENIGN", "1200", "0", "3"]
    assert block[3].split() == ["3", "Web", "Attack", "-", "Sql", "Injection",
                                "0", "0", "7"]
    assert block[4] == "(columns numbered as the rows)"
    # Every row is as wide as the header: the columns line up.
    assert len({len(line) for line in block[:4]}) == 1
