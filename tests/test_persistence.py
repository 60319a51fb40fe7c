"""Model directories: round trips, atomic saves and hostile contents."""

import json
import subprocess
import sys

import numpy as np
import pytest
from safetensors.torch import save_file

from aeids.exceptions import AeidsError, ModelFormatError
from aeids.persistence import FILES, load_model, save_model
from aeids.pipeline import score_table


@pytest.fixture
def saved(small_run, tmp_path):
    path = tmp_path / "model"
    save_model(small_run.model, path)
    return path


def test_directory_holds_only_json_and_safetensors(saved):
    assert sorted(p.name for p in saved.iterdir()) == sorted(FILES)
    config = json.loads((saved / "model.json").read_text())
    assert config["kind"] == "classifier"
    assert config["versions"]["torch"]
    assert config["classes"] == ["DoS", "Probe", "R2L", "U2R", "normal"]


def test_load_in_new_process_gives_identical_predictions(small_run, saved, tmp_path):
    expected = score_table(small_run.model, small_run.test)
    out = tmp_path / "scores.csv"
    code = (
        "import sys, aeids\n"
        "from aeids.pipeline import score_table\n"
        "from aeids.datasets import load_demo\n"
        "from aeids.pipeline import split_table\n"
        "model = aeids.load_model(sys.argv[1])\n"
        "_, test = split_table(load_demo(), 0.3, 0)\n"
        "score_table(model, test).to_csv(sys.argv[2], index=False)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(saved), str(out)], check=True)
    import pandas as pd

    got = pd.read_csv(out)
    assert got["predicted"].tolist() == expected["predicted"].tolist()
    np.testing.assert_allclose(
        got.filter(like="error_").to_numpy(),
        expected.filter(like="error_").to_numpy(),
        rtol=1e-12,
    )


def test_resave_replaces_and_crash_keeps_previous(small_run, saved, monkeypatch):
    before = (saved / "model.json").read_text()
    import aeids.persistence as persistence

    def crash(model, folder):
        (folder / "model.json").write_text("{half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(persistence, "_write", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        save_model(small_run.model, saved)
    assert (saved / "model.json").read_text() == before
    assert load_model(saved).estimator.classes_.tolist()[0] == "DoS"
    assert [p.name for p in saved.parent.iterdir() if p.name.startswith(".")] == []


def test_refuses_to_overwrite_a_folder_that_is_not_a_model(small_run, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(AeidsError, match="is not an aeids model directory"):
        save_model(small_run.model, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("missing", FILES)
def test_missing_file(saved, missing):
    (saved / missing).unlink()
    with pytest.raises(ModelFormatError, match=f"{missing} missing"):
        load_model(saved)


def test_truncated_weights(saved):
    weights = saved / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelFormatError, match="weights.safetensors cannot be read"):
        load_model(saved)


def test_weights_of_the_wrong_shape(saved):
    import torch

    save_file({"weights.0": torch.zeros(2, 3, 4)}, saved / "weights.safetensors")
    with pytest.raises(ModelFormatError, match="inconsistent or edited"):
        load_model(saved)


def test_edited_json(saved):
    config = json.loads((saved / "model.json").read_text())
    config["classes"] = config["classes"][:2]
    (saved / "model.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="inconsistent or edited"):
        load_model(saved)


def test_not_json(saved):
    (saved / "preprocessing.json").write_text("not json at all")
    with pytest.raises(ModelFormatError, match="cannot be read as JSON"):
        load_model(saved)


def test_pickle_payload_is_never_executed(saved, tmp_path):
    import pickle

    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (saved / "weights.safetensors").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ModelFormatError):
        load_model(saved)
    assert not marker.exists()


def test_unknown_format_version(saved):
    config = json.loads((saved / "model.json").read_text())
    config["format_version"] = 99
    (saved / "model.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="format version 99"):
        load_model(saved)
