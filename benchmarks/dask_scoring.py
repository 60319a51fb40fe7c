"""Distributed scoring: a local Dask cluster of 2 workers against one process.

Usage::

    python benchmarks/dask_scoring.py [--rows 5000000] [--workers 2] [--write]

The UNSW-NB15 file (../shared/data) is repeated into a plain CSV of at least
``--rows`` records under /tmp (written at run time, never committed; deleted
at the end). A small classifier is trained on a slice of the original file;
the big file is then scored by :func:`aeids.pipeline.predict_file` in this
process and by :func:`aeids.distributed.predict_file` on a ``LocalCluster``
of ``--workers`` single-threaded processes, both into Parquet. The two
outputs are compared row for row. Cluster start-up is timed apart from
scoring.

The Markdown report is printed; ``--write`` also replaces the
``## Distributed scoring`` section of BENCHMARKS.md with it.
"""

import argparse
import gzip
import os
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

from aeids import distributed as ad
from aeids.pipeline import (
    loading_options,
    predict_file,
    read_table,
    train_model,
)
from benchmarks_md import cpu_model, memory_gib, write_section

ROOT = Path(__file__).resolve().parents[1]
UNSW = ROOT.parent / "shared" / "data" / "unsw-nb15" / "UNSW_NB15_82k.csv.gz"
HEADING = "## Distributed scoring"


def machine():
    """CPU model, cores, memory and load of this machine, as a dict."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(),
            "memory_gib": round(memory_gib(), 1),
            "load": os.getloadavg(), "python": platform.python_version()}


def write_input(folder, rows):
    with gzip.open(UNSW, "rb") as handle:
        lines = handle.read().splitlines(keepends=True)
    header, body = lines[0], b"".join(lines[1:])
    copies = -(-rows // (len(lines) - 1))
    path = folder / "unsw-repeated.csv"
    with open(path, "wb") as out:
        out.write(header)
        for _ in range(copies):
            out.write(body)
    training = folder / "train.csv"
    training.write_bytes(b"".join([header, *lines[1::5]]))
    return path, training, copies * (len(lines) - 1)


def run(rows, workers, blocksize):
    from distributed import Client, LocalCluster

    folder = Path(tempfile.mkdtemp(prefix="aeids-bench-", dir="/tmp"))
    try:
        start = machine()
        path, training, n_rows = write_input(folder, rows)
        loading = loading_options(profile="unsw-nb15")
        table = read_table(training, loading, training=True)
        model = train_model(table, test_size=0, loading=loading,
                            estimator_params={"max_epochs": 3}).model

        tick = time.perf_counter()
        predict_file(model, path, folder / "single.parquet")
        single = time.perf_counter() - tick

        tick = time.perf_counter()
        with (
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            startup = time.perf_counter() - tick
            tick = time.perf_counter()
            ad.predict_file(model, path, folder / "parts.parquet", client=client,
                            blocksize=blocksize)
            spread = time.perf_counter() - tick
        parts = sorted((folder / "parts.parquet").iterdir())

        expected = pd.read_parquet(folder / "single.parquet")
        got = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        equal = expected.equals(got)
        return {"machine": start, "end_load": os.getloadavg(), "rows": n_rows,
                "bytes": path.stat().st_size, "single_s": single,
                "startup_s": startup, "cluster_s": spread, "parts": len(parts),
                "workers": workers, "blocksize": blocksize, "equal": equal,
                "compared": len(expected)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def markdown(result):
    m = result["machine"]
    rate = result["rows"] / result["single_s"], result["rows"] / result["cluster_s"]
    load = ", ".join(f"{x:.2f}" for x in m["load"])
    end = ", ".join(f"{x:.2f}" for x in result["end_load"])
    return "\n".join([
        HEADING,
        "",
        f"`python benchmarks/dask_scoring.py`: {result['rows']:,} UNSW-NB15 records "
        f"(the 82,332-record file repeated; {result['bytes'] / 2**30:.2f} GiB of "
        f"plain CSV in /tmp), scored by a classifier trained 3 epochs on a fifth "
        f"of the original file; output Parquet.",
        "",
        "| run | wall time | records/s |",
        "|---|---|---|",
        f"| one process, `pipeline.predict_file` | {result['single_s']:.1f} s "
        f"| {rate[0]:,.0f} |",
        f"| LocalCluster, {result['workers']} workers x 1 thread, "
        f"`distributed.predict_file` ({result['parts']} partitions of "
        f"{result['blocksize']}) | {result['cluster_s']:.1f} s | {rate[1]:,.0f} |",
        "",
        f"Cluster start-up, not included above: {result['startup_s']:.1f} s. "
        f"Outputs equal row for row: {result['equal']} "
        f"({result['compared']:,} rows compared).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, "
        f"Python {m['python']}. The machine is shared with other jobs: load "
        f"average (1, 5, 15 min) {load} at the start and {end} at the end, on "
        f"{m['cores']} cores, so both runs competed for the CPUs and the "
        f"speed-up is a floor, not a measure of scaling.",
        "",
    ])




def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--blocksize", default="64 MiB")
    parser.add_argument("--write", action="store_true",
                        help="replace the Distributed scoring section of "
                             "BENCHMARKS.md")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    section = markdown(run(args.rows, args.workers, args.blocksize))
    print(section)
    if args.write:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
