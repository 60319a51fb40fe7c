"""Speed and memory: scoring, training epochs, streaming prediction, peak RSS.

Usage::

    python benchmarks/speed.py [--threads N] [--workdir /tmp/aeids-speed]
                               [--quick] [--write]

Everything is measured in one run, on real UNSW-NB15 rows (the 82k file,
encoded once by a :class:`~aeids.FeatureEncoder` and repeated to the sizes
needed), on this machine, with the load average recorded beside it:

* in-memory scoring: rows/s of aeids (``reconstruction_errors``), of a Python
  loop over the K per-class models as separate ``nn.Sequential`` networks
  (``member(k)``), and of the research notebook's way, one row at a time
  through each model (a few hundred rows, extrapolated); each also as a share
  of the machine's float32 matrix-product rate (a large ``torch.mm``),
  counting 2 * inputs * outputs FLOPs per layer, model and row;
* one training epoch at batch size 256: the batched stack against a loop over
  10 separate models with an Adam each, on the same rows in the same order;
* one epoch over about 2 million rows for 15 classes;
* ``aeids predict`` CSV to CSV on a file of 2 million rows, beside pyarrow's
  raw read of that file and the in-memory scoring time of as many rows;
* the peak resident memory of ``aeids predict`` on 5 million rows and on 500
  thousand rows.

The CSV files are written to ``--workdir`` at run time from the 82k file's
lines and deleted at the end. Timings are medians of repeats. The Markdown
report is printed; ``--write`` also replaces the ``## Speed and memory``
section of BENCHMARKS.md with it.
"""

import argparse
import gzip
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow.csv as pa_csv
import torch

from aeids.exceptions import DataWarning
from aeids.io import load_table
from aeids.network import AutoencoderStack, default_layers
from aeids.persistence import save_model
from aeids.pipeline import loading_options, train_model
from aeids.threads import available_cores, thread_limit
from aeids.training import (
    TrainingConfig,
    _Stream,
    make_optimizer,
    steps_per_epoch,
    train_stack,
)
from benchmarks_md import cpu_model, memory_gib, write_section

ROOT = Path(__file__).resolve().parents[1]
UNSW = ROOT.parent / "shared" / "data" / "unsw-nb15" / "UNSW_NB15_82k.csv.gz"
HEADING = "## Speed and memory"
AEIDS = str(Path(sys.executable).with_name("aeids"))


def median_time(run, repeats):
    """Median wall time of ``run()`` over ``repeats`` calls, after a warm-up."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine():
    """CPU, cores, memory, versions and the load average now."""
    return {
        "cpu": cpu_model(),
        "cores": available_cores(),
        "ram_gib": memory_gib(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def load_average():
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def matmul_rate(size=4096, repeats=5):
    """FLOP/s of a large float32 ``torch.mm`` on this machine."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    return 2 * size**3 / median_time(lambda: torch.mm(a, b), repeats)


def model_flops(stack):
    """FLOPs per row of all K models: 2 * inputs * outputs per layer."""
    return 2 * stack.n_models * sum(w.shape[1] * w.shape[2] for w in stack.weights)


def scoring(estimator, X, n_rows, repeats, threads, per_row=300):
    """Rows/s of aeids, of a loop over separate models, and of per-row scoring.

    Returns a dict of name to ``(rows/s, threads)``; aeids is measured with
    ``threads`` threads and with one.
    """
    data = X[np.arange(n_rows) % len(X)]
    tensor = torch.from_numpy(data)
    members = [estimator.network_.member(k).eval()
               for k in range(estimator.network_.n_models)]

    def looped():
        with torch.inference_mode():
            for start in range(0, len(tensor), 8192):
                x = tensor[start:start + 8192]
                for member in members:
                    (member(x) - x).pow(2).mean(dim=1).numpy()

    def notebook():
        with torch.inference_mode():
            for i in range(per_row):
                row = tensor[i:i + 1]
                for member in members:
                    (member(row) - row).pow(2).mean().item()

    def aeids():
        estimator.reconstruction_errors(data)

    out = {"aeids": (n_rows / median_time(aeids, repeats), threads)}
    if threads > 1:
        with thread_limit(1):
            out["aeids, one thread"] = (n_rows / median_time(aeids, repeats), 1)
    out["loop over separate models"] = (n_rows / median_time(looped, repeats),
                                        threads)
    out["notebook, one row at a time"] = (per_row / median_time(notebook, repeats),
                                          threads)
    return out


def epoch_batched_vs_looped(X, codes, repeats, batch_size=256):
    """Seconds of one epoch for the stack and for separate models with an Adam each."""
    n_models = int(codes.max()) + 1
    train_rows = [np.flatnonzero(codes == k) for k in range(n_models)]
    layers = default_layers(X.shape[1])
    tensor = torch.from_numpy(X)
    steps = steps_per_epoch(train_rows, batch_size)

    def batched():
        stack = AutoencoderStack(n_models, X.shape[1], layers)
        config = TrainingConfig(max_epochs=1, batch_size=batch_size)
        train_stack(stack, tensor, train_rows, [np.empty(0, int)] * n_models, config)

    def looped():
        stack = AutoencoderStack(n_models, X.shape[1], layers)
        members = [stack.member(k) for k in range(n_models)]
        optimizers = [make_optimizer(m.parameters(), TrainingConfig())
                      for m in members]
        streams = [_Stream(rows, np.random.default_rng([0, k]))
                   for k, rows in enumerate(train_rows)]
        for _ in range(steps):
            for member, optimizer, stream in zip(members, optimizers, streams,
                                                 strict=True):
                batch = tensor[torch.from_numpy(stream.take(batch_size))]
                loss = (member(batch) - batch).pow(2).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

    return {"rows": steps * n_models * batch_size, "steps": steps,
            "classes": n_models,
            "batched": median_time(batched, repeats),
            "looped": median_time(looped, repeats)}


def big_epoch(X, n_rows, n_models, batch_size=256):
    """Seconds of one batched epoch over ``n_rows`` rows in ``n_models`` classes."""
    data = torch.from_numpy(X[np.arange(n_rows) % len(X)])
    codes = np.arange(n_rows) % n_models
    train_rows = [np.flatnonzero(codes == k) for k in range(n_models)]
    stack = AutoencoderStack(n_models, X.shape[1], default_layers(X.shape[1]))
    config = TrainingConfig(max_epochs=1, batch_size=batch_size)
    start = time.perf_counter()
    train_stack(stack, data, train_rows, [np.empty(0, int)] * n_models, config)
    return {"rows": n_rows, "classes": n_models, "seconds": time.perf_counter() - start,
            "steps": steps_per_epoch(train_rows, batch_size)}


def write_csv(path, n_rows):
    """Write ``n_rows`` data lines of the 82k file, repeated, under its header."""
    header, body = gzip.decompress(UNSW.read_bytes()).split(b"\n", 1)
    lines = body.rstrip(b"\n").split(b"\n")
    block = b"\n".join(lines) + b"\n"
    full, rest = divmod(n_rows, len(lines))
    with open(path, "wb") as handle:
        handle.write(header + b"\n")
        for _ in range(full):
            handle.write(block)
        if rest:
            handle.write(b"\n".join(lines[:rest]) + b"\n")
    return path


# Starts a command and prints its exit code and peak RSS (KiB, from wait4).
_PEAK = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n"
)


def run_measured(command):
    """Run a command; return its wall seconds and peak RSS in bytes.

    A small Python process starts the command: the peak Linux reports for a
    child forked from this (large) process would include this one's memory.
    """
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK, *command],
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    code, peak = (int(x) for x in done.stdout.split())
    if code:
        raise RuntimeError(f"{' '.join(command)} exited with {code}")
    return seconds, peak * 1024


def predict_command(model_dir, path, out, threads):
    return [AEIDS, "predict", str(model_dir), str(path), "--out", str(out),
            "--quiet", "--threads", str(threads)]


def end_to_end(model_dir, workdir, n_rows, score_rate, threads):
    """``aeids predict`` CSV to CSV beside pyarrow's raw read and in-memory scoring."""
    path = write_csv(workdir / f"unsw_{n_rows}.csv", n_rows)
    read = median_time(lambda: pa_csv.read_csv(path), 1)
    seconds, rss = run_measured(
        predict_command(model_dir, path, workdir / "predictions.csv", threads))
    path.unlink()
    return {"rows": n_rows, "predict": seconds, "read": read,
            "score": n_rows / score_rate, "rss": rss}


def peak_rss(model_dir, workdir, sizes, threads):
    out = {}
    for n_rows in sizes:
        path = write_csv(workdir / f"unsw_{n_rows}.csv", n_rows)
        out[n_rows] = run_measured(
            predict_command(model_dir, path, workdir / "predictions.csv", threads))
        path.unlink()
    return out


def benchmark(workdir, threads, quick):
    scale = 10 if quick else 1
    results = {"machine": machine(), "threads": threads,
               "load": [load_average()], "quick": quick}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        table = load_table(UNSW, profile="unsw-nb15")
        trained = train_model(table, test_size=0, estimator_params={"max_epochs": 1},
                              loading=loading_options(profile="unsw-nb15"))
    model_dir = workdir / "model"
    save_model(trained.model, model_dir)
    estimator = trained.model.estimator
    X = trained.model.transform(table.features)
    codes = np.unique(table.labels.to_numpy(), return_inverse=True)[1]
    repeats = 1 if quick else 3

    results["matmul"] = {threads: matmul_rate()}
    if threads > 1:
        with thread_limit(1):
            results["matmul"][1] = matmul_rate()
    results["flops"] = model_flops(estimator.network_)
    results["n_features"] = X.shape[1]
    results["layers"] = estimator.hidden_layers_
    results["n_classes"] = estimator.network_.n_models
    results["scoring"] = scoring(estimator, X, 200_000 // scale, repeats, threads)
    results["load"].append(load_average())
    results["epoch"] = epoch_batched_vs_looped(X, codes, repeats)
    results["big_epoch"] = big_epoch(X, 2_000_000 // scale, 15)
    results["load"].append(load_average())
    results["predict"] = end_to_end(model_dir, workdir, 2_000_000 // scale,
                                    results["scoring"]["aeids"][0], threads)
    results["rss"] = peak_rss(model_dir, workdir,
                              (500_000 // scale, 5_000_000 // scale), threads)
    results["load"].append(load_average())
    shutil.rmtree(model_dir)
    return results


def render(r, command):
    m = r["machine"]
    flops, peak = r["flops"], r["matmul"]
    rates = ", ".join(f"{peak[n] / 1e9:.1f} GFLOP/s on {n} thread{'s' * (n > 1)}"
                      for n in sorted(peak, reverse=True))
    lines = [
        HEADING, "",
        f"`{command}` on {m['cpu']}, {m['cores']} cores available, "
        f"{m['ram_gib']:.0f} GiB RAM; torch {m['torch']}, numpy {m['numpy']}, "
        f"Python {m['python']}; threads: {r['threads']}. Load average (1/5/15 min) "
        f"at the start, after scoring, after training and at the end: "
        f"{', '.join(r['load'])}. The machine was shared: single runs are noisy, "
        "and timings are medians of repeats where repeated.",
        "",
        f"Data: UNSW-NB15 82k rows encoded to {r['n_features']} features; "
        f"{r['n_classes']} class autoencoders {r['layers']} (mirrored), "
        f"{flops / 1e6:.2f} MFLOP per row for all of them. Matrix-product rate of "
        f"this machine (float32 `torch.mm`, 4096x4096): {rates}.", "",
        "| in-memory scoring | threads | rows/s | GFLOP/s "
        "| share of `torch.mm` rate, same threads | vs notebook |",
        "|---|---|---|---|---|---|",
    ]
    notebook = r["scoring"]["notebook, one row at a time"][0]
    for name, (rate, threads) in r["scoring"].items():
        lines.append(
            f"| {name} | {threads} | {rate:,.0f} | {rate * flops / 1e9:.1f} | "
            f"{rate * flops / peak[threads]:.0%} | {rate / notebook:,.0f}x |")
    ceiling = peak[r["threads"]] / flops
    lines += [
        "",
        f"Ceiling: at the full `torch.mm` rate on {r['threads']} thread"
        f"{'s' * (r['threads'] > 1)}, scoring would reach {ceiling:,.0f} rows/s, "
        f"{ceiling / notebook:,.0f}x the per-row rate measured here"
        + ("; no batching can reach 1,000x that per-row rate on this machine."
           if ceiling / notebook < 1000 else "."),
    ]
    e, b, p = r["epoch"], r["big_epoch"], r["predict"]
    # A training row costs about three forward passes of its own model
    # (forward, then gradients for the inputs and for the weights).
    step_flops = 3 * flops / r["n_classes"]
    share = {name: e["rows"] * step_flops / e[name] / peak[r["threads"]]
             for name in ("batched", "looped")}
    budget = 1.5 * (p["read"] + p["score"])
    small, large = sorted(r["rss"])
    rss_small, rss_large = r["rss"][small][1], r["rss"][large][1]
    lines += [
        "",
        "| measurement | result | target |",
        "|---|---|---|",
        f"| one epoch, {e['classes']} classes, batch 256, "
        f"{e['rows']:,} rows ({e['steps']} steps): batched / loop over separate "
        f"models | {e['batched']:.2f} s / {e['looped']:.2f} s "
        f"({e['looped'] / e['batched']:.1f}x) | >= 3x |",
        f"| the same, as a share of the `torch.mm` rate (3 forward passes a row) "
        f"| {share['batched']:.0%} / {share['looped']:.0%} | |",
        f"| one epoch, {b['classes']} classes, {b['rows']:,} rows "
        f"({b['steps']} steps) | {b['seconds']:.1f} s | <= 10 s |",
        f"| `aeids predict` CSV to CSV, {p['rows']:,} rows | {p['predict']:.1f} s "
        f"({p['rows'] / p['predict']:,.0f} rows/s) | <= 1.5 x (read + score) "
        f"= {budget:.1f} s |",
        f"| pyarrow `read_csv` of the same file | {p['read']:.1f} s | |",
        f"| in-memory scoring of as many rows (at the rate above) "
        f"| {p['score']:.1f} s | |",
        f"| peak RSS of `aeids predict`, {large:,} rows / {small:,} rows "
        f"| {rss_large / 2**20:,.0f} MiB / {rss_small / 2**20:,.0f} MiB "
        f"({rss_large / rss_small:.2f}x) | <= 1.2x and < 1 GiB |",
        f"| wall time of those runs | {r['rss'][large][0]:.1f} s / "
        f"{r['rss'][small][0]:.1f} s | |",
    ]
    if r["quick"]:
        lines += ["", "A `--quick` run at a tenth of the sizes: not for quoting."]
    return "\n".join(lines) + "\n"




def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=available_cores(),
                        help="threads for torch and BLAS (default: every core "
                             "this process may run on)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/aeids-speed"),
                        help="where the generated CSV files go (deleted after)")
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the sizes: a smoke run, not for quoting")
    parser.add_argument("--write", action="store_true",
                        help="replace the Speed and memory section of BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    with thread_limit(args.threads):
        results = benchmark(args.workdir, args.threads, args.quick)
    command = "python benchmarks/speed.py " + " ".join(argv or sys.argv[1:])
    section = render(results, command.strip())
    print(section)
    if args.write:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
