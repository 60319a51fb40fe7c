"""Reference runs of the classifier on the real datasets, with default settings.

One command::

    python benchmarks/reference.py [--write]

trains and evaluates exactly what these command lines do (seed 0, stratified
70/30 split), and prints a Markdown table of per-class F1, macro-F1 and
accuracy; ``--write`` also replaces the ``## Reference runs`` section of
BENCHMARKS.md::

    aeids train UNSW_NB15_82k.csv.gz --profile unsw-nb15 --model M --seed 0
    aeids train KDDTrain+_20Percent.txt --profile nsl-kdd --model M --seed 0
    aeids train MITM_attack.csv OS_Fingerprinting_attack.csv \\
        --profile edge-iiotset --model M --seed 0
"""

import argparse
import os
import shlex
import sys
import time
import warnings
from pathlib import Path

import torch

from aeids import thread_limit
from aeids.pipeline import loading_options, read_table, train_model
from benchmarks_md import cpu_model, write_section

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RUNS = {
    "UNSW-NB15 82k": (["unsw-nb15/UNSW_NB15_82k.csv.gz"], "unsw-nb15"),
    "NSL-KDD 20%, 5 categories": (["nsl-kdd/KDDTrain+_20Percent.txt"], "nsl-kdd"),
    "Edge-IIoTset, MITM vs OS_Fingerprinting": (
        ["edge-iiotset/MITM_attack.csv", "edge-iiotset/OS_Fingerprinting_attack.csv"],
        "edge-iiotset",
    ),
}


def run(files, profile):
    loading = loading_options(profile=profile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = read_table([str(DATA / f) for f in files], loading, training=True)
        start = time.perf_counter()
        result = train_model(table, test_size=0.3, random_state=0, loading=loading)
    return result.report, time.perf_counter() - start


def render(results, command):
    lines = [
        "## Reference runs",
        "",
        f"`{command}`: the classifier with default "
        "settings, seed 0, stratified 70/30 split, evaluated on the held-out 30%. "
        f"Machine: {machine()}.",
        "",
    ]
    for name, (report, seconds) in results.items():
        lines += [
            f"**{name}**: macro-F1 {report['macro_f1']:.3f}, accuracy "
            f"{report['accuracy']:.3f}, weighted F1 {report['weighted_f1']:.3f} "
            f"({report['n_samples']:,} test rows; training and evaluation "
            f"{seconds:.0f} s)",
            "",
            "| class | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for label in report["labels"]:
            row = report["per_class"][label]
            lines.append(
                f"| {label} | {row['precision']:.3f} | {row['recall']:.3f} | "
                f"{row['f1']:.3f} | {row['support']} |"
            )
        lines.append("")
    return "\n".join(lines)


def machine():
    threads = torch.get_num_threads()
    return (f"{cpu_model()}, {os.cpu_count()} cores, {threads} "
            f"thread{'s' if threads > 1 else ''}, no GPU in use, torch "
            f"{torch.__version__}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true",
                        help="replace the section in BENCHMARKS.md")
    parser.add_argument("--threads", type=int, default=None,
                        help="thread count (default: every available core)")
    args = parser.parse_args()
    with thread_limit(args.threads):
        results = {name: run(*spec) for name, spec in RUNS.items()}
        text = render(results, "python benchmarks/reference.py "
                      + shlex.join(sys.argv[1:]))
    print(text)
    if args.write:
        write_section("## Reference runs", text)


if __name__ == "__main__":
    main()
