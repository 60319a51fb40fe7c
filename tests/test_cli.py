"""The command line end to end on real data, and its errors."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from aeids.cli import main
from aeids.datasets import demo_path


def run_cli(*args):
    """Run ``aeids`` in a new process; return (status, stdout, stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "aeids.cli", *map(str, args)],
        capture_output=True, text=True, timeout=300,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    model = folder / "model"
    status = main(["train", str(demo_path()), "--profile", "nsl-kdd", "--model",
                   str(model), "--epochs", "3", "--json", str(folder / "test.json"),
                   "--quiet"])
    assert status == 0
    return folder, model


def test_train_writes_model_and_report(trained):
    folder, model = trained
    report = json.loads((folder / "test.json").read_text())
    assert set(report) >= {"accuracy", "macro_f1", "weighted_f1", "per_class",
                           "confusion_matrix", "labels", "rows_per_second"}
    assert report["labels"] == ["DoS", "Probe", "R2L", "U2R", "normal"]
    assert sum(map(sum, report["confusion_matrix"])) == report["n_samples"] == 7558
    assert report["accuracy"] > 0.85  # 3 epochs; the full demo reaches 0.99
    # --epochs bounds both phases: training and margin fine-tuning.
    params = json.loads((model / "model.json").read_text())["params"]
    assert params["max_epochs"] == params["margin_epochs"] == 3


def test_evaluate_and_predict_round_trip(trained):
    folder, model = trained
    assert main(["evaluate", str(model), str(demo_path()), "--json",
                 str(folder / "all.json"), "--quiet"]) == 0
    report = json.loads((folder / "all.json").read_text())
    assert report["n_samples"] == 25192

    out = folder / "predictions.csv"
    assert main(["predict", str(model), str(demo_path()), "--out", str(out),
                 "--quiet"]) == 0
    predictions = pd.read_csv(out)
    assert len(predictions) == 25192
    assert predictions["row"].tolist() == list(range(25192))
    assert list(predictions.columns) == ["row", "predicted"] + [
        f"error_{c}" for c in ["DoS", "Probe", "R2L", "U2R", "normal"]
    ]
    truth = pd.read_csv(demo_path(), header=None)[41]
    accuracy = report["accuracy"]
    # Predictions of the whole file agree with evaluate's accuracy.
    from aeids.profiles import get_profile

    mapped = truth.map(get_profile("nsl-kdd").label_map)
    assert (predictions["predicted"] == mapped).mean() == pytest.approx(accuracy)


def test_predict_parquet_output(trained, tmp_path):
    _, model = trained
    out = tmp_path / "p.parquet"
    assert main(["predict", str(model), str(demo_path()), "--out", str(out),
                 "--chunk-rows", "10000", "--quiet"]) == 0
    assert len(pd.read_parquet(out)) == 25192


def test_predict_gzip_output_equals_plain_csv(trained, tmp_path):
    _, model = trained
    plain, packed = tmp_path / "p.csv", tmp_path / "p.csv.gz"
    for out in (plain, packed):
        assert main(["predict", str(model), str(demo_path()), "--out", str(out),
                     "--chunk-rows", "10000", "--quiet"]) == 0
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    pd.testing.assert_frame_equal(pd.read_csv(packed), pd.read_csv(plain))


def test_predict_refuses_an_output_format_it_cannot_write(trained, tmp_path):
    _, model = trained
    status, _, err = run_cli("predict", model, demo_path(), "--out",
                             tmp_path / "p.xlsx")
    assert status == 1
    assert "p.xlsx" in err and ".parquet" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_predict_accepts_reordered_and_extra_columns(trained, tmp_path):
    _, model = trained
    frame = pd.read_csv(demo_path(), header=None).head(200)
    from aeids.profiles import get_profile

    frame.columns = list(get_profile("nsl-kdd").names)
    shuffled = frame[list(reversed(frame.columns))].assign(extra=1)
    path = tmp_path / "shuffled.csv"
    shuffled.to_csv(path, index=False)
    out = tmp_path / "out.csv"
    assert main(["predict", str(model), str(path), "--out", str(out), "--quiet"]) == 0
    plain = tmp_path / "plain.csv"
    frame.to_csv(plain, index=False, header=False)
    out2 = tmp_path / "out2.csv"
    assert main(["predict", str(model), str(plain), "--out", str(out2),
                 "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(out2))


def test_predict_missing_column_is_one_clear_error(trained, tmp_path):
    _, model = trained
    frame = pd.read_csv(demo_path(), header=None).head(50)
    from aeids.profiles import get_profile

    frame.columns = list(get_profile("nsl-kdd").names)
    path = tmp_path / "missing.csv"
    frame.drop(columns=["src_bytes"]).to_csv(path, index=False)
    status, _, err = run_cli("predict", model, path, "--out", tmp_path / "o.csv")
    assert status == 1
    assert "src_bytes" in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()


def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("content", "args", "expected"),
    [
        ("a,b,Label\n1,2,x\n3,4,y\n", ["--label", "Class"], "Class"),
        ("a,b,Label\n1,2,x\n3,oops,y\n1,2,x\n3,4,y\n", ["--label", "Label"],
         r"line 3.*oops"),
        ("", ["--label", "Label"], "empty"),
        ("a,b,Label\n1,2,x\n3,4,x\n5,6,x\n7,8,y\n", ["--label", "Label"], "'y'"),
    ],
    ids=["missing-label", "unparseable-cell", "empty-file", "tiny-class"],
)
def test_train_errors_are_one_sentence(tmp_path, content, args, expected):
    data = write(tmp_path / "data.csv", content)
    status, out, err = run_cli("train", data, "--model", tmp_path / "m", *args)
    assert status == 1, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    import re

    assert re.search(expected, lines[0]), lines[0]
    assert str(data) in lines[0] or "class" in lines[0].lower()
    assert not (tmp_path / "m").exists()


def test_usage_error_exits_2(tmp_path):
    status, _, err = run_cli("train", tmp_path / "x.csv")
    assert status == 2
    assert "--model" in err


def test_evaluate_on_the_training_file_warns(trained, capsys):
    _, model = trained
    assert main(["evaluate", str(model), str(demo_path())]) == 0
    err = capsys.readouterr().err
    assert "come from the file the model was trained on" in err


def test_piped_training_prints_progress_lines(tmp_path):
    # Not a terminal: no progress bar, a line every 10 epochs instead.
    status, out, err = run_cli("train", demo_path(), "--profile", "nsl-kdd",
                               "--model", tmp_path / "m", "--epochs", "10",
                               "--threads", "1")
    assert status == 0, err
    assert "training: epoch 10 of at most 20, val loss" in err
    # The report, heading and table, is the output; messages go to stderr.
    assert out.lstrip().startswith("report on held-out test rows\nclass")
    assert "report on" not in err
