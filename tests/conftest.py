"""Shared fixtures: real data from ../shared/data and one small trained model."""

import gzip
from pathlib import Path

import pytest
import torch

from aeids.datasets import demo_path, load_demo
from aeids.pipeline import loading_options, train_model

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA = SHARED / "data"


def shared_file(*parts):
    """Path of a file under ../shared/data, or skip the test if it is absent."""
    path = DATA.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"shared data file not found: {path}")
    return path


@pytest.fixture(scope="session")
def demo_table():
    """The embedded NSL-KDD 20% file, 5 categories."""
    return load_demo()


@pytest.fixture(scope="session")
def small_run(demo_table):
    """A classifier trained for 2 epochs on 70% of the demo file."""
    return train_model(
        demo_table,
        test_size=0.3,
        random_state=0,
        estimator_params={"max_epochs": 2},
        loading=loading_options(profile="nsl-kdd"),
    )


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Small networks train far faster on one thread, above all on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def demo_head(folder, n_records):
    """Write the first ``n_records`` records of the embedded NSL-KDD file."""
    path = Path(folder) / f"nsl-{n_records}.txt"
    with gzip.open(demo_path(), "rt") as handle:
        path.write_text("".join(next(handle) for _ in range(n_records)))
    return path
