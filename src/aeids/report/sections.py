"""The sections of a report as plain tables, shared by the HTML and Markdown renderers.

:func:`report_sections` turns the data dict of :func:`~aeids.report.build_report`
into an ordered list of sections, each with a title, tables of strings, notes
and the names of the figures that belong to it. Both renderers walk the same
list, so the HTML and Markdown reports always hold the same tables.
"""

from ..io import LoadSummary

TAILS = ("In the histograms, values beyond the 0.5 and 99.5 percentiles are "
         "counted in the end bins.")


def report_sections(data):
    """Split a report's data into titled sections of tables.

    Parameters
    ----------
    data : dict
        From :func:`aeids.report.build_report`.

    Returns
    -------
    list of dict
        Each with ``id``, ``title``, ``tables`` (list of ``caption``,
        ``header``, ``rows``: all strings), ``notes`` (list of str) and
        ``figures`` (figure names, see :func:`~aeids.report.plots.report_figures`).
    """
    metrics = data["metrics"]
    detector = data["kind"] == "detector"
    sections = [
        _section("metrics", "Metrics",
                 [_detection_table(metrics) if detector
                  else _classification_table(metrics)],
                 notes=_overlap(data) + _throughput(metrics)),
        _section("confusion", "Confusion matrix",
                 [_confusion_table(metrics)], figures=["confusion"],
                 notes=["Rows: true class; columns: predicted class."]),
    ]
    if detector:
        sections.append(_section(
            "anomaly", "Anomaly scores", [_operating_table(data["curves"])]
            if data.get("curves") else [],
            figures=["curves", "score_histogram"],
            notes=["Anomaly score: the record's mean squared reconstruction error "
                   "under the autoencoder of normal traffic; higher means more "
                   "anomalous. Records above the threshold are flagged.",
                   TAILS],
        ))
    else:
        sections.append(_section(
            "errors", "Calibrated error by class",
            [_separation_table(data["error_distributions"])],
            figures=["error_distributions"],
            notes=["Calibrated error under each class's autoencoder, on that "
                   "class's own rows and on every other row; lower means a better "
                   "fit. Separation: probability that another row's error exceeds "
                   "an own row's (ROC-AUC; 0.5 = no separation).", TAILS],
        ))
    sections += [
        _section("training", "Training", [_training_table(data["training"])],
                 figures=["training"],
                 notes=["Per-epoch mean squared reconstruction error of each "
                        "autoencoder on its training rows and on its held-out "
                        "validation rows; epochs are counted from 1."]),
        _section("loading", "Loading summary", [], notes=_loading_lines(data)),
        _section("configuration", "Model configuration",
                 [_key_value_table(_flatten(data["configuration"]), "setting")]),
        _section("versions", "Library versions", [_versions_table(data["versions"])]),
    ]
    return sections


def _section(key, title, tables, figures=(), notes=()):
    return {"id": key, "title": title, "tables": list(tables),
            "figures": list(figures), "notes": list(notes)}


def _table(header, rows, caption=""):
    return {"caption": caption, "header": list(header),
            "rows": [[str(cell) for cell in row] for row in rows]}


def _classification_table(metrics):
    rows = [
        [label, _number(item["precision"]), _number(item["recall"]),
         _number(item["f1"]), f"{item['support']:,}"]
        for label, item in metrics["per_class"].items()
    ]
    for name in ("macro", "weighted"):
        average = metrics[name]
        rows.append([f"{name} average", _number(average["precision"]),
                     _number(average["recall"]), _number(average["f1"]),
                     f"{metrics['n_samples']:,}"])
    rows.append(["accuracy", "", "", _number(metrics["accuracy"]),
                 f"{metrics['n_samples']:,}"])
    return _table(["class", "precision", "recall", "F1", "support"], rows)


def _detection_table(metrics):
    names = [("records", "n_samples"), ("attacks", "n_attacks"),
             ("ROC-AUC", "roc_auc"), ("PR-AUC (average precision)", "pr_auc"),
             ("precision", "precision"), ("recall (detection rate)", "recall"),
             ("F1", "f1"), ("false-positive rate", "false_positive_rate"),
             ("accuracy", "accuracy")]
    rows = [[title, _number(metrics.get(key))] for title, key in names]
    return _table(["metric (attack is positive)", "value"], rows)


def _confusion_table(metrics):
    labels = [str(label) for label in metrics["labels"]]
    rows = [[label, *(f"{count:,}" for count in row)]
            for label, row in zip(labels, metrics["confusion_matrix"])]
    return _table(["true \\ predicted", *labels], rows)


def _separation_table(distributions):
    rows = [
        [name, f"{item['n_own']:,}", f"{item['n_other']:,}",
         _number(item["median_own"]), _number(item["median_other"]),
         _number(item["separation"])]
        for name, item in distributions.items()
    ]
    return _table(["class", "own rows", "other rows", "median own",
                   "median other", "separation"], rows)


def _operating_table(curves):
    point = curves["operating_point"]
    rows = [["threshold", _number(point["threshold"], 6)],
            ["false-positive rate", _number(point["fpr"])],
            ["recall", _number(point["recall"])],
            ["precision", _number(point["precision"])],
            ["ROC-AUC", _number(curves["roc"]["auc"])],
            ["PR-AUC", _number(curves["pr"]["auc"])],
            ["attack share", _number(curves["pr"]["base_rate"])]]
    return _table(["operating point", "value"], rows)


def _training_table(training):
    rows = []
    best = training.get("best_epoch") or [None] * len(training["members"])
    stopped = training.get("stopped_epoch") or [None] * len(training["members"])
    for k, name in enumerate(training["members"]):
        train, val = training["train_loss"][k], training["val_loss"][k]
        finite_val = [v for v in val if v is not None]
        rows.append([
            name, str(len(train)),
            "" if best[k] is None else str(best[k] + 1),
            "" if stopped[k] is None else str(stopped[k] + 1),
            _number(train[-1] if train else None, 6),
            _number(min(finite_val) if finite_val else None, 6),
        ])
    return _table(["autoencoder", "epochs", "best epoch", "stopped at",
                   "last training loss", "best validation loss"], rows)


def _loading_lines(data):
    lines = []
    for title, key in (("training file", "training_file"),
                       ("evaluated file", "evaluated_file")):
        summary = data["loading"].get(key)
        if summary:
            lines.append(f"{title}:")
            lines += LoadSummary.from_dict(summary).lines()
    return lines


def _key_value_table(items, name):
    return _table([name, "value"], [[key, _value(value)] for key, value in items])


def _versions_table(versions):
    training, report = versions.get("training", {}), versions.get("report", {})
    names = list(dict.fromkeys([*training, *report]))
    rows = [[name, training.get(name) or "", report.get(name) or ""]
            for name in names]
    return _table(["package", "trained with", "report made with"], rows)


def _flatten(mapping, prefix=""):
    items = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            items += _flatten(value, name + ".")
        else:
            items.append((name, value))
    return items


def _value(value):
    if value is None:
        return "none"
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value) or "[]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _number(value, digits=4):
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}" if abs(value) >= 1e-3 or value == 0 else (
        f"{value:.3e}")


def _overlap(data):
    if not data.get("includes_training_rows"):
        return []
    return ["Caution: these records come from the file the model was trained on; "
            "unless they are its held-out test rows, the metrics include training "
            "rows and are optimistic. The held-out test report is in the model's "
            "metadata.json (test_report)."]


def _throughput(metrics):
    rate = metrics.get("rows_per_second")
    if rate is None:
        return [f"{metrics['n_samples']:,} records."]
    return [f"{metrics['n_samples']:,} records; scoring throughput "
            f"{rate:,.0f} rows/s (encoding included)."]
