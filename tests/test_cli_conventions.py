"""Command-line conventions: help with examples, exit statuses, quiet output."""

import gzip
import json
import subprocess
import sys

import pandas as pd
import pytest

from aeids.cli import build_parser, main
from aeids.datasets import demo_path

COMMANDS = ["train", "evaluate", "predict", "report", "explain", "demo"]



@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-epoch classifier on the first 2,000 NSL-KDD records, via the CLI."""
    folder = tmp_path_factory.mktemp("conventions")
    data = folder / "nsl-2000.txt"
    with gzip.open(demo_path(), "rt") as handle:
        data.write_text("".join(next(handle) for _ in range(2000)))
    model = folder / "model"
    status = main(["train", str(data), "--profile", "nsl-kdd", "--model",
                   str(model), "--epochs", "2", "--quiet"])
    assert status == 0
    return folder, model, data


def test_every_command_is_listed():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    assert sorted(commands.choices) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_an_example(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and f"aeids {command}" in out.split("example:")[1]
    assert "--quiet" in out and "--verbose" in out


@pytest.mark.parametrize("argv", [
    [],
    ["report"],
    ["report", "model"],
    ["explain", "model", "data.csv"],
    ["explain", "model", "data.csv", "--rows", "1,x"],
    ["explain", "model", "data.csv", "--rows", "-1"],
    ["explain", "model", "data.csv", "--rows", "1", "--top", "0"],
    ["predict", "model", "data.csv", "--out", "o.csv", "--explain", "none"],
    ["evaluate", "model", "data.csv", "--quiet", "--verbose"],
])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_input_errors_return_1(trained, tmp_path, capsys):
    folder, model, data = trained
    missing = str(tmp_path / "no-model")
    assert main(["report", missing, str(data), "--html", "x.html"]) == 1
    assert "is not a model directory" in capsys.readouterr().err
    assert main(["explain", str(model), str(tmp_path / "absent.csv"),
                 "--rows", "0"]) == 1
    assert main(["explain", str(model), str(data), "--rows", "0,99999"]) == 1
    assert "Row 99999 is not among the records" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_process_exit_status(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "aeids.cli", "report", str(tmp_path / "nothing"),
         str(tmp_path / "data.csv"), "--quiet"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr


def test_closed_output_pipe_still_writes_files(trained, tmp_path):
    # As with `aeids evaluate ... 2>&1 | head -3`: the reader leaves early.
    folder, model, data = trained
    raw, html = tmp_path / "e.json", tmp_path / "e.html"
    process = subprocess.Popen(
        [sys.executable, "-m", "aeids.cli", "evaluate", str(model), str(data),
         "--json", str(raw), "--html", str(html)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    process.stdout.close()
    assert process.wait(timeout=300) == 0
    assert json.loads(raw.read_text())["n_samples"] == 2000
    assert '<section id="errors">' in html.read_text()


def test_predict_says_what_loading_changed(trained, tmp_path, capsys):
    folder, model, data = trained
    lines = data.read_text().splitlines(keepends=True)
    # Two chunks of 1,000 records, one non-finite cell in each.
    for i in (10, 1500):
        fields = lines[i].split(",")
        fields[4] = "Infinity"
        lines[i] = ",".join(fields)
    changed = tmp_path / "changed.txt"
    changed.write_text("".join(lines))
    out = tmp_path / "p.csv"
    assert main(["predict", str(model), str(changed), "--out", str(out),
                 "--chunk-rows", "1000"]) == 0
    err = capsys.readouterr().err
    assert "2,000 records read, 2,000 kept" in err
    assert "non-finite cells set missing: 2 in src_bytes 2" in err
    assert len(pd.read_csv(out)) == 2000


def test_report_writes_html_and_markdown(trained, tmp_path, capsys):
    folder, model, data = trained
    html, markdown, raw = (tmp_path / "r.html", tmp_path / "r.md",
                           tmp_path / "r.json")
    assert main(["report", str(model), str(data), "--html", str(html),
                 "--markdown", str(markdown), "--json", str(raw)]) == 0
    out = capsys.readouterr().out
    assert "macro avg" in out
    assert html.read_text().count("data:image/png;base64,") == 3
    assert "| class | precision |" in markdown.read_text()
    assert json.loads(raw.read_text())["kind"] == "classifier"


def test_evaluate_html_quietly(trained, tmp_path, capsys):
    folder, model, data = trained
    html = tmp_path / "e.html"
    assert main(["evaluate", str(model), str(data), "--html", str(html),
                 "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert '<section id="errors">' in html.read_text()


def test_explain_and_predict_explain(trained, tmp_path, capsys):
    folder, model, data = trained
    why = tmp_path / "why.json"
    assert main(["explain", str(model), str(data), "--rows", "0,5,17", "--top",
                 "3", "--json", str(why)]) == 0
    assert "row 17" in capsys.readouterr().out
    records = json.loads(why.read_text())
    assert [r["row"] for r in records] == [0, 5, 17]
    assert all(len(r["features"]) == 3 for r in records)
    out = tmp_path / "p.csv"
    assert main(["predict", str(model), str(data), "--out", str(out),
                 "--explain", "2", "--quiet"]) == 0
    frame = pd.read_csv(out)
    assert len(frame) == 2000 and "top_features" in frame.columns
