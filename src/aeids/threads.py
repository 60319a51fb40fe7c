"""How many threads torch and the BLAS libraries under numpy may use.

torch runs its own thread pool (OpenMP) and numpy calls a BLAS library with
another; left alone, each sizes itself to the machine, and on a machine
shared through CPU affinity (containers, job schedulers, ``taskset``) both
may start more threads than the process has cores. :func:`thread_limit`
sets one count for all of them for the duration of a block::

    from aeids.threads import thread_limit

    with thread_limit(n_jobs=2):
        model.fit(X, y)

``n_jobs`` follows scikit-learn: ``None`` means every core this process may
run on, a positive number that many threads, ``-1`` all cores and ``-2``
all but one.
"""

import logging
import os
from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits

from .exceptions import ConfigError

__all__ = ["available_cores", "resolve_n_jobs", "thread_limit"]

logger = logging.getLogger(__name__)


def available_cores():
    """Number of cores this process may run on (its CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        # macOS and Windows have no affinity call; count every core.
        return os.cpu_count() or 1


def resolve_n_jobs(n_jobs=None):
    """Turn ``n_jobs`` into a thread count, as scikit-learn reads it.

    Parameters
    ----------
    n_jobs : int or None, default=None
        ``None`` or ``-1``: every available core; a positive int: that many
        threads; ``-k``: all cores but ``k - 1``, at least one.

    Returns
    -------
    int
    """
    cores = available_cores()
    if n_jobs is None:
        return cores
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int):
        raise TypeError(
            f"n_jobs must be an int or None; got {type(n_jobs).__name__} {n_jobs!r}."
        )
    if n_jobs == 0:
        raise ConfigError(
            "n_jobs must be a positive number of threads, -1 for every core or "
            "None; got 0."
        )
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    return n_jobs


@contextmanager
def thread_limit(n_jobs=None):
    """Run a block with one thread count for torch, OpenMP and BLAS.

    Parameters
    ----------
    n_jobs : int or None, default=None
        See :func:`resolve_n_jobs`; ``None`` uses every available core.

    Yields
    ------
    int
        The thread count in force inside the block.
    """
    count = resolve_n_jobs(n_jobs)
    previous = torch.get_num_threads()
    logger.debug("Running with %d threads (torch had %d).", count, previous)
    with threadpool_limits(limits=count):
        torch.set_num_threads(count)
        try:
            yield count
        finally:
            torch.set_num_threads(previous)
