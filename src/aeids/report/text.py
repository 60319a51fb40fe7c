"""Reports as plain text, for the terminal and log files."""

_LONG_LABEL = 12


def format_report(report):
    """Render a classification or detection report as aligned text.

    Parameters
    ----------
    report : dict
        From :func:`aeids.metrics.classification_metrics` or
        :func:`aeids.metrics.detection_metrics`.

    Returns
    -------
    str
    """
    if "per_class" in report:
        return _classification(report)
    return _detection(report)


def _classification(report):
    labels = report["labels"]
    width = max(12, *(len(str(label)) for label in labels))
    head = f"{'class':<{width}}  precision  recall     f1  support"
    lines = [head, "-" * len(head)]
    for label in labels:
        row = report["per_class"][label]
        lines.append(
            f"{label:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  "
            f"{row['f1']:5.3f}  {row['support']:7d}"
        )
    lines.append("-" * len(head))
    for name in ("macro", "weighted"):
        avg = report[name]
        lines.append(
            f"{name + ' avg':<{width}}  {avg['precision']:9.3f}  "
            f"{avg['recall']:6.3f}  {avg['f1']:5.3f}  {report['n_samples']:7d}"
        )
    lines.append(f"{'accuracy':<{width}}  {report['accuracy']:.3f}")
    lines += ["", "confusion matrix (rows: true class, columns: predicted)"]
    lines += _matrix(labels, report["confusion_matrix"])
    lines += _throughput(report)
    return "\n".join(lines)


def _detection(report):
    def value(key):
        number = report.get(key)
        return "n/a" if number is None else f"{number:.4f}"

    lines = [
        f"records {report['n_samples']:,} ({report['n_attacks']:,} attacks)",
        f"ROC-AUC {value('roc_auc')}   PR-AUC {value('pr_auc')}",
        f"at the threshold: precision {value('precision')}  recall "
        f"{value('recall')}  F1 {value('f1')}",
        f"false-positive rate {value('false_positive_rate')}  accuracy "
        f"{value('accuracy')}",
        "",
        "confusion matrix (rows: true, columns: predicted)",
    ]
    lines += _matrix(report["labels"], report["confusion_matrix"])
    lines += _throughput(report)
    return "\n".join(lines)


def _matrix(labels, matrix):
    """Rows and columns named by label; numbered when a label is long."""
    names = [str(label) for label in labels]
    values = max((len(str(v)) for row in matrix for v in row), default=1)
    if max(map(len, names), default=0) <= _LONG_LABEL:
        cell = max(7, values, *map(len, names))
        titles, heads = [f"{n:>{cell}}" for n in names], names
    else:
        # Long labels would stretch every column: number them instead.
        digits = len(str(len(names)))
        cell = max(4, values, digits)
        titles = [f"{k:>{digits}} {n}" for k, n in enumerate(names, start=1)]
        width = max(map(len, titles))
        titles = [f"{t:<{width}}" for t in titles]
        heads = [str(k) for k in range(1, len(names) + 1)]
    lines = [" " * len(titles[0]) + " " + " ".join(f"{h:>{cell}}" for h in heads)]
    for title, row in zip(titles, matrix):
        lines.append(f"{title} " + " ".join(f"{v:>{cell}}" for v in row))
    if heads is not names:
        lines.append("(columns numbered as the rows)")
    return lines


def _throughput(report):
    rate = report.get("rows_per_second")
    if rate is None:
        return []
    return ["", f"scoring throughput: {rate:,.0f} rows/s (encoding included)"]


def format_explanations(records):
    """Render per-record explanations as text blocks.

    Parameters
    ----------
    records : list of dict
        From :func:`aeids.explain.explain_records`.

    Returns
    -------
    str
    """
    blocks = []
    for record in records:
        label = "" if record["label"] is None else f"  label {record['label']}"
        lines = [
            f"row {record['row']}{label}  predicted {record['predicted']}  "
            f"error {record['score']:.4g} under {record['explained_under']}",
        ]
        width = max(12, *(len(item["feature"]) for item in record["features"]))
        lines.append(f"  {'feature':<{width}}   share  encoded  rebuilt  "
                     "record's value")
        for item in record["features"]:
            # A one-hot feature names one category; show the record's own.
            value = _value(item["value"])
            if item["feature"] != item["column"]:
                value = f"{item['column']}={value}"
            lines.append(f"  {item['feature']:<{width}}  {item['share']:6.3f}  "
                         f"{item['encoded']:7.3f}  {item['reconstruction']:7.3f}  "
                         f"{value}")
        blocks.append("\n".join(lines))
    if records:
        blocks.append(f"shares relative to {records[0]['relative_to']}")
    return "\n\n".join(blocks)


def _value(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return "missing" if value is None else str(value)
