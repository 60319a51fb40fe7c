"""Figures of a report, drawn from its data dict as PNG bytes.

Figures are built on :class:`matplotlib.figure.Figure` directly, never through
pyplot: nothing here selects a backend, opens a window or keeps global figure
state, so the library can draw reports inside any application.
"""

import io
import math

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

OWN, OTHER = "#1f77b4", "#d62728"
NORMAL, ATTACK = "#2ca02c", "#d62728"
DPI = 110


def report_figures(data):
    """Draw every figure a report shows.

    Parameters
    ----------
    data : dict
        From :func:`aeids.report.build_report`.

    Returns
    -------
    dict
        Figure name -> PNG bytes: ``confusion``, ``training`` and, for a
        classifier, ``error_distributions``; for a detector, ``curves`` and
        ``score_histogram``. Figures whose data is missing are left out.
    """
    figures = {"confusion": confusion_figure(data["metrics"])}
    if data.get("error_distributions"):
        figures["error_distributions"] = distributions_figure(
            data["error_distributions"]
        )
    if data.get("curves"):
        figures["curves"] = curves_figure(data["curves"])
    if data.get("score_histogram", {}).get("bins"):
        figures["score_histogram"] = score_histogram_figure(data["score_histogram"])
    if any(any(v is not None for v in m) for m in data["training"]["train_loss"]):
        figures["training"] = training_figure(data["training"])
    return {name: _png(figure) for name, figure in figures.items()}


def confusion_figure(metrics):
    """Confusion matrix heatmaps: counts (log colour) and row-normalised."""
    labels = [str(label) for label in metrics["labels"]]
    matrix = np.asarray(metrics["confusion_matrix"], dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    side = max(3.6, 0.5 * len(labels) + 1.6)
    figure = Figure(figsize=(2 * side + 1.2, side), dpi=DPI, layout="constrained")
    counts_ax, shares_ax = figure.subplots(1, 2)
    norm = LogNorm(vmin=1, vmax=max(matrix.max(), 2))
    image = counts_ax.imshow(np.where(matrix > 0, matrix, np.nan), cmap="Blues",
                             norm=norm)
    figure.colorbar(image, ax=counts_ax, shrink=0.8, label="records")
    _annotate(counts_ax, matrix, lambda v: f"{int(v):,}", norm(matrix.clip(1)))
    image = shares_ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=shares_ax, shrink=0.8, label="share of true class")
    _annotate(shares_ax, shares, lambda v: f"{v:.2f}", shares)
    for ax, title in ((counts_ax, "counts"), (shares_ax, "row-normalised")):
        ax.set_title(title)
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    return figure


def distributions_figure(distributions):
    """Per class: calibrated error on its own rows versus other rows."""
    names = list(distributions)
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure = Figure(figsize=(4.2 * columns, 2.9 * rows), dpi=DPI,
                    layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for ax, name in zip(axes, names):
        item = distributions[name]
        _step(ax, item["bins"], item["own"], OWN, f"own rows ({item['n_own']:,})")
        _step(ax, item["bins"], item["other"], OTHER,
              f"other rows ({item['n_other']:,})")
        if item["log_scale"]:
            ax.set_xscale("log")
        separation = item["separation"]
        suffix = "" if separation is None else f"  (separation {separation:.3f})"
        ax.set_title(f"{name}{suffix}", fontsize=10)
        ax.set_xlabel(f"calibrated error under {name} (higher: worse fit)",
                      fontsize=8)
        ax.set_ylabel("share of rows", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
    for ax in axes[len(names):]:
        ax.set_axis_off()
    return figure


def curves_figure(curves):
    """ROC and precision-recall curves with the operating point marked."""
    figure = Figure(figsize=(9.5, 4.2), dpi=DPI, layout="constrained")
    roc_ax, pr_ax = figure.subplots(1, 2)
    roc, pr, point = curves["roc"], curves["pr"], curves["operating_point"]
    roc_ax.plot(roc["fpr"], roc["tpr"], color=OWN,
                label=f"ROC (AUC {roc['auc']:.3f})")
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1,
                label="chance")
    pr_ax.plot(pr["recall"], pr["precision"], color=OWN,
               label=f"PR (AP {pr['auc']:.3f})")
    pr_ax.axhline(pr["base_rate"], color="grey", linestyle=":", linewidth=1,
                  label=f"attack share {pr['base_rate']:.3f}")
    label = f"threshold {point['threshold']:.4g}"
    if point["fpr"] is not None:
        roc_ax.plot(point["fpr"], point["recall"], "o", color=OTHER, label=label)
    pr_ax.plot(point["recall"], point["precision"], "o", color=OTHER, label=label)
    roc_ax.set(xlabel="false-positive rate", ylabel="true-positive rate (recall)",
               title="ROC", xlim=(0, 1), ylim=(0, 1.02))
    pr_ax.set(xlabel="recall", ylabel="precision", title="precision-recall",
              xlim=(0, 1), ylim=(0, 1.02))
    for ax in (roc_ax, pr_ax):
        ax.legend(fontsize=8, loc="lower right" if ax is roc_ax else "lower left")
        ax.grid(alpha=0.3)
    return figure


def score_histogram_figure(histogram):
    """Anomaly scores of normal and attack rows, with the threshold line."""
    figure = Figure(figsize=(8, 3.8), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    normal, attack = histogram["normal"], histogram["attack"]
    _step(ax, histogram["bins"], normal, NORMAL, f"normal rows ({sum(normal):,})")
    _step(ax, histogram["bins"], attack, ATTACK, f"attack rows ({sum(attack):,})")
    ax.axvline(histogram["threshold"], color="black", linestyle="--",
               label=f"threshold {histogram['threshold']:.4g}")
    if histogram["log_scale"]:
        ax.set_xscale("log")
    ax.set(xlabel="anomaly score: reconstruction error (higher: more anomalous)",
           ylabel="share of rows", title="anomaly scores")
    ax.legend(fontsize=8, frameon=False)
    return figure


def training_figure(training):
    """Training and validation loss per epoch, one panel per autoencoder."""
    names = training["members"]
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure = Figure(figsize=(4.2 * columns, 2.8 * rows), dpi=DPI,
                    layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    best = training.get("best_epoch") or [None] * len(names)
    for k, (ax, name) in enumerate(zip(axes, names)):
        for key, colour, label in (("train_loss", OWN, "training"),
                                   ("val_loss", OTHER, "validation")):
            losses = [np.nan if v is None else v for v in training[key][k]]
            if losses:
                ax.plot(range(1, len(losses) + 1), losses, color=colour,
                        marker="." if len(losses) < 30 else None, label=label)
        if best[k] is not None:
            ax.axvline(best[k] + 1, color="grey", linestyle=":", linewidth=1,
                       label="best epoch")
        positive = [v for v in training["train_loss"][k] + training["val_loss"][k]
                    if v is not None and v > 0]
        if positive and max(positive) / min(positive) > 20:
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("mean squared error", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
    for ax in axes[len(names):]:
        ax.set_axis_off()
    return figure


def _step(ax, edges, counts, colour, label):
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return
    shares = counts / total
    ax.stairs(shares, edges, color=colour, fill=True, alpha=0.25)
    ax.stairs(shares, edges, color=colour, label=label, linewidth=1.4)


def _annotate(ax, values, text, shade):
    if values.shape[0] > 12:
        return
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            colour = "white" if shade[i, j] > 0.6 else "black"
            ax.text(j, i, text(values[i, j]), ha="center", va="center",
                    fontsize=7, color=colour)


def _png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
