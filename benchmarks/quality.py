"""Classification quality of aeids beside supervised baselines, on real data.

One command trains every model on the same splits, in one run, and prints a
Markdown report (accuracy, macro-F1 and per-class F1 as mean and spread over
seeds, then open-set rejection with one attack class left out of training)::

    python benchmarks/quality.py [--quick] [--seeds 3] [--out report.md]
    python benchmarks/quality.py --only-leave-one-out --loo-seeds 3 \\
        --loo-variants "aeids (default)" "aeids, MSE error"

Each seed draws its own stratified 70/30 split of every dataset; all models of
a seed share it. Preprocessing is :class:`aeids.FeatureEncoder` fitted on the
training rows. The data are read from ``../shared/data`` beside the checkout.
"""

import argparse
import json
import logging
import os
import platform
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from lightgbm import LGBMClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from aeids.classifier import AutoencoderClassifier
from aeids.exceptions import AeidsWarning
from aeids.features import FeatureEncoder
from aeids.io import load_table
from aeids.metrics import classification_metrics
from aeids.network import AutoencoderStack
from aeids.training import train_stack
from benchmarks_md import cpu_model, write_section

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DATASETS = {
    "UNSW-NB15 82k": ("unsw-nb15/UNSW_NB15_82k.csv.gz", "unsw-nb15"),
    "NSL-KDD 20%": ("nsl-kdd/KDDTrain+_20Percent.txt", "nsl-kdd"),
    "CIC-IDS2017 sample": ("cic-ids2017/cic_ids2017_multiclass.csv.gz", "cic-ids2017"),
}
TEST_SIZE = 0.3
UNKNOWN_RATE = 0.05
MIN_LEFT_OUT_ROWS = 100
HEADING = "## Classification quality"
LOO_HEADING = "## Open-set rejection: one attack class left out"

# name -> (FeatureEncoder options, AutoencoderClassifier options)
AEIDS_VARIANTS = {
    "aeids (default)": ({}, {}),
    "aeids, affine calibration": ({}, {"calibration": "fitted"}),
    "aeids, MSE error": ({}, {"error": "mse"}),
    "aeids, scaled error": ({}, {"error": "scaled"}),
    "aeids, 10 margin epochs": ({}, {"margin_epochs": 10}),
    "aeids, no margin fine-tuning": ({}, {"margin_weight": 0.0}),
    "aeids, SMOTE": ({}, {"oversample": "smote"}),
}
RAW = "aeids default, raw argmin"
SHARED = "shared weights (notebook bug)"
SHARED_SCALED = "shared weights, scaled error"
BASELINES = ("LightGBM, balanced", "random forest")

logger = logging.getLogger("quality")


class SharedWeightsClassifier(AutoencoderClassifier):
    """The research notebook's bug: every class's autoencoder is one network.

    One autoencoder is trained on the rows of all classes and copied into every
    class's slot, so all classes reconstruct a record equally well and the
    argmin of raw errors (the notebook's rule) always picks the first class.
    """

    def _train(self, tensor, train_rows, val_rows, callback):
        single = AutoencoderStack(1, self.n_features_in_, self.hidden_layers_,
                                  self.activation_, seeds=[self.random_state])
        self.history_ = train_stack(
            single, tensor, [np.concatenate(train_rows)],
            [np.concatenate(val_rows)], self._training_config(),
        )
        with torch.no_grad():
            for tied, trained in zip(self.network_.parameters(), single.parameters()):
                tied.copy_(trained.expand_as(tied))


def load(name, max_rows=None, seed=0):
    path, profile = DATASETS[name]
    table = load_table(DATA / path, profile=profile)
    features, labels = table.features, table.labels.astype(str).to_numpy()
    if max_rows and len(labels) > max_rows:
        keep, _ = train_test_split(np.arange(len(labels)), train_size=max_rows,
                                   stratify=labels, random_state=seed)
        features, labels = features.iloc[np.sort(keep)], labels[np.sort(keep)]
    return features.reset_index(drop=True), labels


def split(labels, seed):
    return train_test_split(np.arange(len(labels)), test_size=TEST_SIZE,
                            stratify=labels, random_state=seed)


def encode(features, train, test, options):
    encoder = FeatureEncoder(**options).fit(features.iloc[train])
    return (encoder.transform(features.iloc[train]),
            encoder.transform(features.iloc[test]))


def make_baseline(name, seed):
    if name == "LightGBM, balanced":
        return LGBMClassifier(class_weight="balanced", random_state=seed,
                              n_jobs=1, verbose=-1)
    return RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)


def evaluate_seed(features, labels, seed, variants, epochs):
    """Fit every model on one split; return {model: metrics dict}."""
    train, test = split(labels, seed)
    y_train, y_test = labels[train], labels[test]
    classes = sorted(set(labels))
    results, cache = {}, {}

    def matrices(options):
        key = json.dumps(options, sort_keys=True)
        if key not in cache:
            cache[key] = encode(features, train, test, options)
        return cache[key]

    models = [(name, enc, AutoencoderClassifier(random_state=seed, **params))
              for name, (enc, params) in variants.items()]
    # Training longer cannot help it: every class's model is one network.
    shared = SharedWeightsClassifier(calibration="raw", error="mse", max_epochs=10,
                                     random_state=seed)
    models.append((SHARED, {}, shared))
    # One network, but each class's own per-feature error weights and
    # calibration: what class statistics alone tell apart.
    models.append((SHARED_SCALED, {}, SharedWeightsClassifier(
        error="scaled", max_epochs=10, random_state=seed)))
    models += [(name, {}, make_baseline(name, seed)) for name in BASELINES]
    for name, options, model in models:
        if epochs and isinstance(model, AutoencoderClassifier):
            model.set_params(max_epochs=min(epochs, model.max_epochs))
        X_train, X_test = matrices(options)
        start = time.perf_counter()
        model.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        outputs = {name: model.predict(X_test)}
        if name == "aeids (default)":
            # The same trained models, classes picked by the argmin of raw error.
            best = model.reconstruction_errors(X_test).argmin(axis=1)
            outputs[RAW] = model.classes_[best]
        for label, predicted in outputs.items():
            metrics = classification_metrics(y_test, predicted, classes)
            metrics["fit_s"] = fit_s
            results[label] = metrics
            logger.info("seed %d %-32s macro-F1 %.3f acc %.3f (%.0f s)", seed,
                        label, metrics["macro_f1"], metrics["accuracy"], fit_s)
    return results


def leave_one_out(features, labels, seed, epochs, variants, max_classes=None):
    """Train without one attack class; score rejection of its test rows.

    Returns {variant: [one dict per left-out class]}.
    """
    train, test = split(labels, seed)
    X_train, X_test = encode(features, train, test, {})
    counts = {c: int((labels == c).sum()) for c in set(labels)}
    normal = max(counts, key=counts.get)
    attacks = sorted(c for c, n in counts.items()
                     if c != normal and n >= MIN_LEFT_OUT_ROWS)
    results = {variant: [] for variant in variants}
    for left_out in attacks[:max_classes]:
        keep = labels[train] != left_out
        is_new = labels[test] == left_out
        # A left-out record whose encoded features equal a known training
        # record's cannot be told from it by any score of the features.
        known = {row.tobytes() for row in X_train[keep]}
        twin = np.array([row.tobytes() in known for row in X_test])
        distinct = ~is_new | ~twin
        for variant in variants:
            model = AutoencoderClassifier(unknown_rate=UNKNOWN_RATE,
                                          random_state=seed,
                                          **AEIDS_VARIANTS[variant][1])
            if epochs:
                model.set_params(max_epochs=min(epochs, model.max_epochs))
            model.fit(X_train[keep], labels[train][keep])
            score = model.unknown_score(X_test)
            rejected = model.predict(X_test) == model.unknown_label
            results[variant].append(_rejection(left_out, is_new, twin, distinct,
                                               score, rejected))
            logger.info("seed %d %-28s left out %-16s AUROC %.3f", seed, variant,
                        left_out, results[variant][-1]["auroc"])
    return results


def _rejection(left_out, is_new, twin, distinct, score, rejected):
    return {
        "left_out": left_out,
        "n_unknown": int(is_new.sum()),
        "twin_share": float(twin[is_new].mean()),
        "auroc": float(roc_auc_score(is_new, score)),
        "auroc_distinct": (float(roc_auc_score(is_new[distinct], score[distinct]))
                           if (is_new & distinct).any() else float("nan")),
        "unknown_rejected": float(rejected[is_new].mean()),
        "known_rejected": float(rejected[~is_new].mean()),
    }


def spread(values):
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def class_f1(metrics, label):
    return metrics["per_class"].get(label, {"f1": 0.0})["f1"]


def render(report):
    """Render the collected results as Markdown."""
    lines = [
        HEADING, "",
        f"`{report['command']}` on {report['machine']}: {report['minutes']:.1f} "
        f"min, {report['seeds']} seed(s).", "",
        "Each seed draws its own stratified 70/30 split of every data set, and "
        "every model of a seed uses it. `FeatureEncoder()` defaults (log1p, "
        "min-max), fitted on the training rows. aeids: `AutoencoderClassifier` "
        "defaults unless the name says otherwise; \"raw argmin\" is the default "
        "model's class picked by the smallest raw error. The shared-weights "
        "models reproduce the research notebook's bug: one autoencoder trained "
        "on all rows stands in for every class. LightGBM: "
        "`class_weight=\"balanced\"`; random forest: 100 trees. Mean ± standard "
        "deviation over seeds; fit seconds on one torch thread.", "",
    ]
    for dataset, runs in report["quality"].items():
        models = list(runs[0])
        classes = runs[0][models[0]]["labels"]
        lines += [f"### {dataset}", "",
                  "| model | accuracy | macro-F1 | fit s |", "|---|---|---|---|"]
        for model in models:
            lines.append(
                f"| {model} | {spread([r[model]['accuracy'] for r in runs])} | "
                f"{spread([r[model]['macro_f1'] for r in runs])} | "
                f"{np.mean([r[model]['fit_s'] for r in runs]):.0f} |"
            )
        lines += ["", "Per-class F1 (mean over seeds; support is one test split):",
                  "", "| class | support | " + " | ".join(models) + " |",
                  "|---" * (len(models) + 2) + "|"]
        for label in classes:
            cells = [f"{np.mean([class_f1(r[m], label) for r in runs]):.2f}"
                     for m in models]
            support = runs[0][models[0]]["per_class"][label]["support"]
            lines.append(f"| {label} | {support} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def render_leave_one_out(report):
    """Render the leave-one-attack-out results as Markdown."""
    lines = [
        LOO_HEADING, "",
        f"`{report['command']}` on {report['machine']}: {report['minutes']:.1f} "
        f"min, seeds {', '.join(map(str, range(report['loo_seeds'])))}.", "",
        "Each attack class with at least "
        f"{MIN_LEFT_OUT_ROWS} rows is withheld from training in turn (one "
        "stratified 70/30 split per seed, encoded as for the quality tables). Score: "
        "`unknown_score` (higher = more unknown), AUROC for telling the "
        "withheld class's test rows from the known classes' test rows; rates "
        f"at `unknown_rate={UNKNOWN_RATE}`. Twins: the share of the withheld "
        "class's test rows whose encoded features equal those of a known "
        "training row, which no score of the features can tell apart; the last "
        "AUROC leaves them out. Mean ± standard deviation over seeds.", "",
        "| dataset | left out | model | test rows | AUROC | left-out rejected "
        "| known rejected | twins | AUROC without twins |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    summary = []
    for dataset, runs in report["leave_one_out"].items():
        variants = list(runs[0])
        classes = [row["left_out"] for row in runs[0][variants[0]]]
        for i, left_out in enumerate(classes):
            for variant in variants:
                rows = [run[variant][i] for run in runs]

                def cell(key, rows=rows):
                    return spread([row[key] for row in rows])
                lines.append(
                    f"| {dataset} | {left_out} | {variant} | {rows[0]['n_unknown']} "
                    f"| {cell('auroc')} | {cell('unknown_rejected')} | "
                    f"{cell('known_rejected')} | "
                    f"{np.mean([r['twin_share'] for r in rows]):.2f} | "
                    f"{cell('auroc_distinct')} |"
                )
        for variant in variants:
            means = [np.mean([row["auroc"] for row in run[variant]]) for run in runs]
            summary.append(f"| {dataset} | {variant} | {spread(means)} |")
    lines += ["", "Mean AUROC over the withheld classes:", "",
              "| dataset | model | mean AUROC |", "|---|---|---|", *summary]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 6,000 rows per dataset, 3 epochs, 1 seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS),
                        choices=list(DATASETS))
    parser.add_argument("--no-leave-one-out", action="store_true")
    parser.add_argument("--only-leave-one-out", action="store_true")
    parser.add_argument("--loo-seeds", type=int, default=1,
                        help="seeds of the leave-one-attack-out runs")
    parser.add_argument("--loo-variants", nargs="*", default=["aeids (default)"],
                        choices=list(AEIDS_VARIANTS), metavar="NAME",
                        help="aeids variants of the leave-one-attack-out runs: "
                        + ", ".join(f"'{v}'" for v in AEIDS_VARIANTS))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; on a busy machine more than one "
                        "can be several times slower")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument("--write", action="store_true",
                        help="replace the Classification quality section of "
                        "BENCHMARKS.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    warnings.simplefilter("ignore", AeidsWarning)
    torch.set_num_threads(args.threads)

    seeds = 1 if args.quick else args.seeds
    max_rows, epochs = (6000, 3) if args.quick else (None, None)
    started = time.perf_counter()
    report = {"command": "python benchmarks/quality.py " + shlex.join(
        sys.argv[1:] if argv is None else argv), "seeds": seeds,
        "loo_seeds": 1 if args.quick else args.loo_seeds,
        "quality": {}, "leave_one_out": {},
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, torch "
                   f"{torch.__version__}, Python {platform.python_version()}"}
    for dataset in args.datasets:
        features, labels = load(dataset, max_rows)
        if not args.only_leave_one_out:
            report["quality"][dataset] = [
                evaluate_seed(features, labels, seed, AEIDS_VARIANTS, epochs)
                for seed in range(seeds)
            ]
        if not args.no_leave_one_out and dataset != "CIC-IDS2017 sample":
            report["leave_one_out"][dataset] = [
                leave_one_out(features, labels, seed, epochs, args.loo_variants,
                              max_classes=2 if args.quick else None)
                for seed in range(report["loo_seeds"])
            ]
    report["minutes"] = (time.perf_counter() - started) / 60
    sections = []
    if report["quality"]:
        sections.append((HEADING, render(report)))
    if report["leave_one_out"]:
        sections.append((LOO_HEADING, render_leave_one_out(report)))
    text = "\n".join(section for _, section in sections)
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    if args.write:
        for heading, section in sections:
            write_section(heading, section)


if __name__ == "__main__":
    main()
