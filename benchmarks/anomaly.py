"""One-class detection: aeids' detector against PyOD's AutoEncoder and IsolationForest.

Usage::

    python benchmarks/anomaly.py [--datasets nsl-kdd unsw-nb15 cic-ids2017]
                                 [--quick] [--threads 1] [--write]

For every data set, in one run and on the same rows: a stratified 70/30 split
of the whole file (seed 0); the feature encoder is fitted on the normal rows of
the 70%; those rows are split once more into 80% to train on and 20% held out
(:func:`aeids.detector.validation_split`, the split the detector itself makes).
Each model trains on the same 80%; each threshold is the target-FPR rank
(:func:`aeids.detector.fpr_threshold`, 1%) of that model's scores on the same
held-out 20%. Metrics are computed on the whole 30%: attack is the positive
class and every score grows with anomaly.

The Markdown report is printed; ``--write`` also replaces the
``## Anomaly detection`` section of BENCHMARKS.md with it.
"""

import argparse
import os
import platform
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import train_test_split

from aeids.detector import (
    AutoencoderDetector,
    evaluate_detector,
    fpr_threshold,
    validation_split,
)
from aeids.exceptions import DataWarning
from aeids.features import FeatureEncoder
from aeids.io import load_table
from aeids.metrics import detection_metrics
from aeids.profiles import get_profile
from benchmarks_md import cpu_model, write_section

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DATASETS = {
    "nsl-kdd": DATA / "nsl-kdd" / "KDDTrain+_20Percent.txt",
    "unsw-nb15": DATA / "unsw-nb15" / "UNSW_NB15_82k.csv.gz",
    "cic-ids2017": DATA / "cic-ids2017" / "cic_ids2017_multiclass.csv.gz",
}
SEED = 0
TARGET_FPR = 0.01
HEADING = "## Anomaly detection"


def prepare(name):
    """Load a data set, split it and encode it as every model will see it."""
    table = load_table(DATASETS[name], profile=name)
    normal_name = get_profile(name).normal
    labels = table.labels.to_numpy()
    train, test = train_test_split(
        np.arange(len(labels)), test_size=0.3, stratify=labels, random_state=SEED
    )
    normal = train[labels[train] == normal_name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        encoder = FeatureEncoder().fit(table.features.iloc[normal])
        X_normal = encoder.transform(table.features.iloc[normal])
        X_test = encoder.transform(table.features.iloc[test])
    return {
        "normal": X_normal,
        "test": X_test,
        "is_attack": labels[test] != normal_name,
        "rows": len(labels),
    }


def run_aeids(data, quick):
    detector = AutoencoderDetector(
        max_epochs=5 if quick else 60, target_fpr=TARGET_FPR, random_state=SEED
    )
    start = time.perf_counter()
    detector.fit(data["normal"])
    seconds = time.perf_counter() - start
    report = evaluate_detector(detector, data["test"], data["is_attack"])
    report["fit_seconds"] = seconds
    report["epochs"] = len(detector.history_["train_loss"])
    return report


def run_scored(model, score, data, fit_rows, val_rows):
    """Fit a model on ``fit_rows``; threshold its scores on ``val_rows``."""
    start = time.perf_counter()
    model.fit(data["normal"][fit_rows])
    seconds = time.perf_counter() - start
    val_scores = score(model, data["normal"][val_rows])
    threshold = fpr_threshold(val_scores, TARGET_FPR)
    start = time.perf_counter()
    scores = score(model, data["test"])
    rate = len(scores) / (time.perf_counter() - start)
    report = detection_metrics(
        data["is_attack"], scores, scores > threshold, rows_per_second=rate
    )
    report["validation_fpr"] = float(np.mean(val_scores > threshold))
    report["fit_seconds"] = seconds
    return report


def run_pyod(data, fit_rows, val_rows, quick):
    from pyod.models.auto_encoder import AutoEncoder

    # PyOD's defaults (two hidden layers of 64 and 32, batch norm, dropout 0.2,
    # batch 32, 10 epochs, its own standard scaling), silenced and seeded.
    model = AutoEncoder(
        epoch_num=2 if quick else 10, verbose=0, random_state=SEED, device="cpu"
    )
    return run_scored(model, lambda m, X: m.decision_function(X), data,
                      fit_rows, val_rows)


def run_forest(data, fit_rows, val_rows, quick):
    model = IsolationForest(n_estimators=50 if quick else 100, random_state=SEED)
    # score_samples grows with normality; negate it so that higher is anomalous.
    return run_scored(model, lambda m, X: -m.score_samples(X), data,
                      fit_rows, val_rows)


def benchmark(names, quick):
    results = {}
    for name in names:
        data = prepare(name)
        fit_rows, val_rows = validation_split(len(data["normal"]), 0.2, SEED)
        results[name] = {
            "data": {"rows": data["rows"], "train_normal": len(data["normal"]),
                     "validation": len(val_rows), "test": len(data["test"]),
                     "test_attacks": int(data["is_attack"].sum())},
            "aeids AutoencoderDetector": run_aeids(data, quick),
            "PyOD AutoEncoder": run_pyod(data, fit_rows, val_rows, quick),
            "IsolationForest": run_forest(data, fit_rows, val_rows, quick),
        }
        print(f"{name} done", file=sys.stderr)
    return results


def machine():
    model = cpu_model()
    versions = ", ".join(
        f"{package} {metadata.version(package)}"
        for package in ("torch", "scikit-learn", "pyod")
    )
    return (f"{model}, {os.cpu_count()} cores, torch threads "
            f"{torch.get_num_threads()}; {versions}; Python "
            f"{platform.python_version()}")


def render(results, quick, command):
    lines = [
        HEADING,
        "",
        f"`{command}` on {machine()}.",
        "",
        "Per data set: stratified 70/30 split of the whole file (seed 0); the "
        "feature encoder (min-max, log1p) is fitted on the normal rows of the 70%; "
        "every model trains on the same 80% of those rows, and its threshold is "
        f"the {TARGET_FPR:.0%} false-positive rank of its scores on the same "
        "held-out 20% (`fpr_threshold`). Metrics on the whole 30%, attack "
        "positive; FPR is measured on the test normal rows; validation FPR on "
        "the held-out rows. aeids: defaults (auto layers, up to 60 epochs, "
        "patience 5). PyOD: AutoEncoder defaults (10 epochs, batch 32). "
        "IsolationForest: 100 trees. Rows/s: scoring the test rows."
        + (" **Quick run: fewer epochs and trees; not for quoting.**" if quick
           else ""),
        "",
        "| data set | model | ROC-AUC | PR-AUC | precision | recall | F1 | FPR "
        "| validation FPR | fit s | rows/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        for model, r in result.items():
            if model == "data":
                continue
            lines.append(
                f"| {name} | {model} | {r['roc_auc']:.4f} | {r['pr_auc']:.4f} "
                f"| {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} "
                f"| {r['false_positive_rate']:.4f} | {r['validation_fpr']:.4f} "
                f"| {r['fit_seconds']:.1f} | {r['rows_per_second']:,.0f} |"
            )
    lines += ["", "| data set | rows | normal training rows (80/20) | "
              "test rows | test attacks | aeids epochs |", "|---|---|---|---|---|---|"]
    for name, result in results.items():
        d = result["data"]
        lines.append(
            f"| {name} | {d['rows']:,} | {d['train_normal']:,} "
            f"({d['train_normal'] - d['validation']:,}/{d['validation']:,}) "
            f"| {d['test']:,} | {d['test_attacks']:,} "
            f"| {result['aeids AutoencoderDetector']['epochs']} |"
        )
    return "\n".join(lines) + "\n"




def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS),
                        default=list(DATASETS))
    parser.add_argument("--quick", action="store_true",
                        help="few epochs and trees: a smoke run, not for quoting")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: tiny networks train "
                             "fastest on one)")
    parser.add_argument("--write", action="store_true",
                        help="replace the Anomaly detection section of "
                             "BENCHMARKS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = benchmark(args.datasets, args.quick)
    command = "python benchmarks/anomaly.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    section = render(results, args.quick, command.strip())
    print(section)
    if args.write:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
