"""Thread counts for torch and BLAS."""

import os

import pytest
import torch
from threadpoolctl import threadpool_info

from aeids.exceptions import ConfigError
from aeids.threads import available_cores, resolve_n_jobs, thread_limit


def test_available_cores_follows_affinity():
    assert available_cores() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("n_jobs", "expected"),
    [(None, "all"), (-1, "all"), (1, 1), (3, 3), (-1000, 1)],
)
def test_resolve_n_jobs_reads_like_scikit_learn(n_jobs, expected):
    cores = available_cores()
    assert resolve_n_jobs(n_jobs) == (cores if expected == "all" else expected)


def test_resolve_n_jobs_refuses_zero_and_non_integers():
    with pytest.raises(ConfigError, match="n_jobs must be a positive number"):
        resolve_n_jobs(0)
    with pytest.raises(TypeError, match="n_jobs must be an int or None; got str"):
        resolve_n_jobs("2")


def test_thread_limit_sets_torch_and_blas_then_restores():
    before = torch.get_num_threads()
    with thread_limit(1) as count:
        assert count == 1
        assert torch.get_num_threads() == 1
        limited = [pool["num_threads"] for pool in threadpool_info()]
        assert limited and all(n == 1 for n in limited)
    assert torch.get_num_threads() == before


def test_thread_limit_restores_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="boom"), thread_limit(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
