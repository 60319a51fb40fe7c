"""Scoring and training on a real local Dask cluster, against one process."""

import gzip
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
import torch

from aeids import AutoencoderClassifier, FeatureEncoder
from aeids.cli import main
from aeids.exceptions import ConfigError, DataError
from aeids.persistence import load_model, save_model
from aeids.pipeline import loading_options, predict_file, read_table, train_model

distributed = pytest.importorskip("distributed", reason="needs aeids[dask]")
from aeids import distributed as ad  # noqa: E402

UNSW = (Path(__file__).resolve().parents[2] / "shared" / "data" / "unsw-nb15"
        / "UNSW_NB15_82k.csv.gz")
pytestmark = [
    pytest.mark.skipif(not UNSW.is_file(), reason=f"{UNSW} is absent"),
    pytest.mark.filterwarnings("ignore::aeids.AeidsWarning"),
]
LOADING = loading_options(profile="unsw-nb15")


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                 dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def lines():
    with gzip.open(UNSW, "rb") as handle:
        return handle.read().splitlines(keepends=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory, lines):
    """A training slice and a scoring slice of UNSW-NB15, as plain CSV."""
    folder = tmp_path_factory.mktemp("unsw")
    train = folder / "train.csv"
    rare = [line for line in lines[3::2] if b",Worms," in line]
    train.write_bytes(b"".join(lines[:1] + lines[1::10] + rare))
    score = folder / "score.csv"
    score.write_bytes(b"".join(lines[:1] + lines[2::8]))
    return train, score


@pytest.fixture(scope="module")
def model(files):
    table = read_table(files[0], LOADING, training=True)
    params = {"max_epochs": 2, "hidden_layers": [16, 8]}
    return train_model(table, test_size=0, estimator_params=params,
                       loading=LOADING).model


def single_machine(model, path, out):
    predict_file(model, path, out, chunk_rows=5_000)
    return pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out)


def parts(folder):
    found = sorted(folder.iterdir())
    read = pd.read_parquet if folder.suffix == ".parquet" else pd.read_csv
    return found, pd.concat([read(part) for part in found], ignore_index=True)


def test_csv_blocks_score_as_one_process(client, model, files, tmp_path):
    expected = single_machine(model, files[1], tmp_path / "single.csv")
    count = ad.predict_file(model, files[1], tmp_path / "out", client=client,
                            blocksize=300_000, chunk_rows=5_000)
    found, got = parts(tmp_path / "out")
    assert len(found) >= 4
    assert count == len(expected) == 10_292
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_parquet_row_groups_score_as_one_process(client, model, files, tmp_path):
    source = tmp_path / "score.parquet"
    table = pa_csv.read_csv(files[1], convert_options=pa_csv.ConvertOptions(
        strings_can_be_null=False))
    pq.write_table(table, source, row_group_size=2_000)
    expected = single_machine(model, source, tmp_path / "single.parquet")
    count = ad.predict_file(model, source, tmp_path / "out.parquet",
                            client=client, blocksize=1, chunk_rows=5_000)
    found, got = parts(tmp_path / "out.parquet")
    assert len(found) == pq.ParquetFile(source).metadata.num_row_groups == 6
    assert count == len(expected)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_a_glob_names_each_records_file(client, model, lines, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_bytes(b"".join(lines[:1] + lines[5:3_000]))
    with gzip.open(folder / "b.csv.gz", "wb") as handle:
        handle.write(b"".join(lines[:1] + lines[40_000:42_000]))
    frame = ad.score_dataframe(model, str(folder / "*.csv*"), client=client,
                               blocksize=200_000, chunk_rows=5_000)
    got = client.compute(frame).result()
    assert frame.npartitions == 4
    for name in ("a.csv", "b.csv.gz"):
        expected = single_machine(model, folder / name, tmp_path / f"{name}.csv")
        mine = got[got["file"] == str(folder / name)].drop(columns="file")
        # Dask holds text as Arrow strings in memory; the values must agree.
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), expected,
                                      check_exact=True, check_dtype=False)


def test_a_bad_cell_in_a_late_block_names_the_file(client, model, lines, tmp_path):
    rows = lines[:1] + lines[1:4_000]
    cells = rows[3_500].split(b",")
    cells[1] = b"not-a-number"
    rows[3_500] = b",".join(cells)
    source = tmp_path / "bad.csv"
    source.write_bytes(b"".join(rows))
    message = r"bad.csv, column 'dur', line \d+: cannot read 'not-a-n.*block at byte"
    with pytest.raises(DataError, match=message):
        ad.predict_file(model, source, tmp_path / "out", client=client,
                        blocksize=200_000, chunk_rows=1_000)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.tmp-*"))


def test_output_that_is_not_parts_is_refused(client, model, files, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a directory of prediction parts"):
        ad.predict_file(model, files[1], tmp_path / "out", client=client)


@pytest.fixture(scope="module")
def encoded(files):
    table = read_table(files[0], LOADING, training=True)
    return FeatureEncoder().fit_transform(table.features), table.labels.to_numpy()


def test_fit_distributed_equals_one_process(client, encoded):
    X, y = encoded
    # Margin fine-tuning (on by default) runs on the client after the classes.
    params = {"max_epochs": 5, "patience": 1, "stop_loss": 0.065,
              "margin_epochs": 2, "hidden_layers": [16, 8], "random_state": 3,
              "unknown_rate": 0.05}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = AutoencoderClassifier(**params).fit(X, y)
        spread = ad.fit_distributed(AutoencoderClassifier(**params), X, y,
                                    client=client)
    for name, tensor in alone.network_.state_dict().items():
        torch.testing.assert_close(spread.network_.state_dict()[name], tensor)
    for key in ("best_epoch", "stopped_epoch", "val_loss"):
        np.testing.assert_array_equal(spread.history_[key], alone.history_[key])
    assert len(set(alone.history_["stopped_epoch"])) > 1
    # The learned feature weights amplify float32 rounding differences of
    # the networks (about 1e-7) to 1e-3 in thresholds and 0.03 in
    # calibrated errors (of about 5) on this small training set.
    np.testing.assert_allclose(spread.feature_weights_, alone.feature_weights_,
                               rtol=0.05)
    np.testing.assert_allclose(spread.thresholds_, alone.thresholds_, rtol=1e-2)
    np.testing.assert_allclose(spread.calibrated_errors(X),
                               alone.calibrated_errors(X), rtol=1e-2, atol=0.05)
    assert np.mean(spread.predict(X) == alone.predict(X)) > 0.995


def test_command_line_trains_and_predicts_on_a_scheduler(client, files, tmp_path):
    address = client.scheduler.address
    common = ["--profile", "unsw-nb15", "--epochs", "2", "--test-size", "0",
              "--hidden-layers", "16,8", "-q"]
    assert main(["train", str(files[0]), "--model", str(tmp_path / "one"),
                 *common]) == 0
    assert main(["train", str(files[0]), "--model", str(tmp_path / "many"),
                 "--scheduler", address, *common]) == 0
    one, many = load_model(tmp_path / "one"), load_model(tmp_path / "many")
    for name, tensor in one.estimator.network_.state_dict().items():
        torch.testing.assert_close(many.estimator.network_.state_dict()[name],
                                   tensor)

    save_model(one, tmp_path / "model")
    assert main(["predict", str(tmp_path / "model"), str(files[1]), "--out",
                 str(tmp_path / "single.csv"), "-q"]) == 0
    assert main(["predict", str(tmp_path / "model"), str(files[1]), "--out",
                 str(tmp_path / "parts"), "--scheduler", address, "-q"]) == 0
    _, got = parts(tmp_path / "parts")
    pd.testing.assert_frame_equal(got, pd.read_csv(tmp_path / "single.csv"),
                                  check_exact=True)


def test_a_malformed_local_scheduler_is_a_usage_error():
    with pytest.raises(ConfigError, match="local:N"), ad.connect("local:two"):
        pass
