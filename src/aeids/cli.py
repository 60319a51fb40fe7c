"""The ``aeids`` command line: train, evaluate, predict, report, explain, demo.

Exit status: 0 on success, 1 on an input or model error (one sentence on
standard error, no traceback), 2 on a usage error.
"""

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import uuid
import warnings
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from . import __version__
from .classifier import AutoencoderClassifier
from .exceptions import AeidsError, ConfigError
from .persistence import check_model_path, load_model, save_model
from .pipeline import (
    evaluate_model,
    loading_options,
    make_estimator,
    predict_file,
    read_table,
    train_model,
)
from .report import format_report
from .threads import thread_limit

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

# --epochs bounds margin fine-tuning too, never above its default.
MARGIN_EPOCHS = AutoencoderClassifier().margin_epochs

TRAIN_EXAMPLE = """example:
  aeids train UNSW_NB15_82k.csv.gz --profile unsw-nb15 --model unsw-model \\
      --test-size 0.3 --seed 0 --json unsw-report.json
  aeids train flows.csv --label Label --drop "Flow ID" --model flows-model
  aeids train flows.csv --label Label --mode detect --normal BENIGN --model det
"""
EVALUATE_EXAMPLE = """example:
  aeids evaluate unsw-model UNSW_NB15_82k.csv.gz --json report.json
  aeids evaluate unsw-model UNSW_NB15_82k.csv.gz --html report.html
"""
PREDICT_EXAMPLE = """example:
  aeids predict unsw-model new-flows.csv --out predictions.csv
  aeids predict unsw-model new-flows.csv --out predictions.csv --explain 3
  aeids predict unsw-model 'flows/*.parquet' --out predictions.parquet \\
      --scheduler local:4
"""
REPORT_EXAMPLE = """example:
  aeids report unsw-model UNSW_NB15_82k.csv.gz --html unsw.html
  aeids report unsw-model UNSW_NB15_82k.csv.gz --markdown unsw.md --json unsw.json
"""
EXPLAIN_EXAMPLE = """example:
  aeids explain unsw-model UNSW_NB15_82k.csv.gz --rows 0,5,17
  aeids explain unsw-model UNSW_NB15_82k.csv.gz --rows 17 --top 8 --json why.json
"""
DEMO_EXAMPLE = """example:
  aeids demo
  aeids demo --model demo-model --json demo-report.json
"""


def main(argv=None):
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    console = _Console(stderr=True, quiet=args.quiet, soft_wrap=True)
    _configure_logging(args.verbose, args.quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _warning_printer(console)
        try:
            with thread_limit(args.threads):
                args.run(args, console)
        except AeidsError as exc:
            return _fail(str(exc))
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            return _fail(f"{exc.filename or ''}: {exc.strerror}.")
        except KeyboardInterrupt:
            return _fail("interrupted; nothing was written.")
    return EXIT_OK


def _fail(message):
    errors = Console(stderr=True, soft_wrap=True)
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return EXIT_ERROR


def build_parser():
    """Return the argument parser of the ``aeids`` command."""
    parser = argparse.ArgumentParser(
        prog="aeids",
        description="Detect and classify network attacks with autoencoders.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="COMMAND")

    train = _command(commands, "train", "train a model on a labelled file",
                     TRAIN_EXAMPLE, _run_train)
    train.add_argument("data", nargs="+",
                       help="CSV (plain or gzip) or Parquet file(s), stacked")
    train.add_argument("--model", required=True, metavar="DIR",
                       help="model directory to write")
    _add_scheduler_option(train, "train the classes' autoencoders in parallel "
                          "on a Dask cluster")
    _add_loading_options(train)
    _add_training_options(train)
    train.add_argument("--json", metavar="FILE",
                       help="write the test report as JSON")

    evaluate = _command(commands, "evaluate", "evaluate a model on a labelled file",
                        EVALUATE_EXAMPLE, _run_evaluate)
    evaluate.add_argument("model", metavar="DIR", help="model directory")
    evaluate.add_argument("data", nargs="+", help="labelled CSV or Parquet file(s)")
    evaluate.add_argument("--json", metavar="FILE", help="write the report as JSON")
    _add_report_outputs(evaluate)

    predict = _command(commands, "predict", "score records of a file",
                       PREDICT_EXAMPLE, _run_predict)
    predict.add_argument("model", metavar="DIR", help="model directory")
    predict.add_argument("data", help="CSV or Parquet file to score")
    predict.add_argument("--out", required=True, metavar="FILE",
                         help="output file: CSV (.csv; .csv.gz for gzip) or "
                              "Parquet (.parquet)")
    predict.add_argument("--chunk-rows", type=_positive_int, default=50_000,
                         metavar="N", help="records read per chunk")
    predict.add_argument("--explain", type=_positive_int, metavar="N",
                         help="add a top_features column: each record's N "
                              "features with the largest share of its error")
    _add_scheduler_option(predict, "score partitions of DATA (a file or a glob) "
                          "on a Dask cluster; OUT becomes a directory of parts")

    report = _command(commands, "report",
                      "write an HTML or Markdown report of a model on a file",
                      REPORT_EXAMPLE, _run_report)
    report.add_argument("model", metavar="DIR", help="model directory")
    report.add_argument("data", nargs="+", help="labelled CSV or Parquet file(s)")
    _add_report_outputs(report)
    report.add_argument("--json", metavar="FILE",
                        help="write the report's data (metrics, curves) as JSON")

    explain = _command(commands, "explain",
                       "show which features make records' reconstruction error",
                       EXPLAIN_EXAMPLE, _run_explain)
    explain.add_argument("model", metavar="DIR", help="model directory")
    explain.add_argument("data", help="CSV or Parquet file holding the records")
    explain.add_argument("--rows", required=True, type=_row_list, metavar="R,R,...",
                         help="0-based record positions in the file")
    explain.add_argument("--top", type=_positive_int, default=5, metavar="N",
                         help="features listed per record (default: 5)")
    explain.add_argument("--json", metavar="FILE",
                         help="write the explanations as JSON")

    demo = _command(commands, "demo",
                    "train and evaluate on the embedded NSL-KDD 20 percent file",
                    DEMO_EXAMPLE, _run_demo)
    demo.add_argument("--model", metavar="DIR",
                      help="keep the trained model here (default: discarded)")
    demo.add_argument("--json", metavar="FILE", help="write the report as JSON")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    return parser


def _command(commands, name, summary, example, run):
    sub = commands.add_parser(
        name, help=summary, description=summary, epilog=example,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.set_defaults(run=run)
    noise = sub.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", action="store_true",
                       help="print errors only")
    noise.add_argument("-v", "--verbose", action="count", default=0,
                       help="print more detail (repeat for debug output)")
    sub.add_argument("--threads", type=_positive_int, metavar="N",
                     help="threads for torch and BLAS (default: every core "
                          "this process may run on)")
    return sub


def _add_loading_options(parser):
    group = parser.add_argument_group("reading the file")
    group.add_argument("--profile", metavar="NAME|FILE.toml",
                       help="dataset profile: edge-iiotset, nsl-kdd, nsl-kdd-fine, "
                            "unsw-nb15, cic-ids2017, or a TOML file")
    group.add_argument("--label", metavar="COLUMN", help="label column")
    group.add_argument("--drop", nargs="+", default=[], metavar="COLUMN",
                       help="more columns to drop (identifiers, payloads)")
    group.add_argument("--categorical", nargs="+", metavar="COLUMN",
                       help="text columns to one-hot encode")
    group.add_argument("--bad-cells", choices=("error", "missing"),
                       help="text in numeric columns: stop, or treat as missing")
    group.add_argument("--drop-duplicates", action="store_true",
                       help="drop exact duplicate records before the split")


def _add_report_outputs(parser):
    group = parser.add_argument_group("report files")
    group.add_argument("--html", metavar="FILE",
                       help="write a self-contained HTML report with figures")
    group.add_argument("--markdown", metavar="FILE",
                       help="write the report's tables as Markdown")


def _add_scheduler_option(parser, purpose):
    parser.add_argument("--scheduler", metavar="ADDRESS|local:N",
                        help=f"{purpose}: a scheduler address, or local:N for N "
                             f"local worker processes (needs aeids[dask])")


@contextlib.contextmanager
def _training_cluster(scheduler):
    if not scheduler:
        yield
        return
    from .distributed import train_on

    with _cluster(scheduler) as client, train_on(client):
        yield


@contextlib.contextmanager
def _cluster(scheduler):
    from .distributed import connect, require_dask

    require_dask()
    # Dask logs its cluster's life at INFO; show it only with -v.
    verbose = logging.getLogger().level <= logging.INFO
    logging.getLogger("distributed").setLevel(
        logging.INFO if verbose else logging.ERROR
    )
    with connect(scheduler) as client:
        yield client


def _add_training_options(parser):
    group = parser.add_argument_group("training")
    group.add_argument("--mode", choices=("classify", "detect"), default="classify",
                       help="one autoencoder per class, or one on normal traffic")
    group.add_argument("--normal", metavar="LABEL",
                       help="the normal class (detect mode; default: the profile's)")
    group.add_argument("--target-fpr", type=float, metavar="RATE",
                       help="detect mode: false-positive rate for the threshold")
    group.add_argument("--test-size", type=float, default=0.3, metavar="SHARE",
                       help="share of rows held out for the report (0: none)")
    group.add_argument("--seed", type=int, default=0, help="random seed")
    group.add_argument("--scaler", default="minmax",
                       choices=("minmax", "standard", "quantile", "row-max", "none"))
    group.add_argument("--no-log-transform", action="store_true",
                       help="do not log-compress heavy-tailed counts")
    group.add_argument("--hidden-layers", default="auto", metavar="auto|notebook|W,W",
                       help="encoder widths ending with the bottleneck")
    group.add_argument("--activation", help="relu, tanh, elu, ...")
    group.add_argument("--epochs", type=_positive_int, metavar="N",
                       help="most epochs of each training phase: training, "
                            "then the classifier's margin fine-tuning (at most "
                            f"{MARGIN_EPOCHS} by default)")
    group.add_argument("--batch-size", type=_positive_int, metavar="N")
    group.add_argument("--patience", type=_positive_int, metavar="N",
                       help="epochs without improvement before a class stops")
    group.add_argument("--stop-loss", type=float, metavar="LOSS",
                       help="also stop a class once its training loss is below")
    group.add_argument("--calibration", choices=("weighted", "fitted", "raw"),
                       help="how errors are made comparable across classes")
    group.add_argument("--unknown-rate", type=float, metavar="RATE",
                       help="reject this share of each class's rows as unknown")
    group.add_argument("--smote", action="store_true",
                       help="oversample rare classes in the training rows")


def _run_train(args, console):
    check_model_path(args.model)
    loading = loading_options(
        profile=_profile_arg(args.profile), label=args.label, drop=args.drop,
        categorical=args.categorical, bad_cells=args.bad_cells,
        drop_duplicates=args.drop_duplicates,
    )
    table = _read(console, args.data, loading, training=True)
    _print_summary(console, table.summary)
    if table.summary.duplicate_rows and not args.drop_duplicates:
        console.print("  (--drop-duplicates drops them before the split)")
    normal = args.normal or _profile_normal(args.profile)
    params = _estimator_params(args)
    with (
        _training_cluster(getattr(args, "scheduler", None)),
        _epoch_progress(console, _most_epochs(args.mode, params)) as callback,
    ):
        result = train_model(
            table, mode=args.mode, test_size=args.test_size, random_state=args.seed,
            scaler=args.scaler, log_transform=not args.no_log_transform,
            estimator_params=params, normal=normal, loading=loading,
            epoch_callback=callback,
        )
    save_model(result.model, args.model)
    if not getattr(args, "discard_model", False):
        console.print(f"model written to {args.model}")
    if result.report is not None:
        _emit_report(console, result.report, args.json, "held-out test rows")


def _run_evaluate(args, console):
    model = load_model(args.model)
    table = _read(console, args.data, model.loading)
    _print_summary(console, table.summary)
    _warn_if_training_file(console, model, table)
    if args.html or args.markdown:
        data = _build_report(console, model, table, args)
        report = data["metrics"]
        _emit_report(console, report, args.json, ", ".join(args.data))
        _write_report_files(console, data, args)
        return
    report = evaluate_model(model, table)
    _emit_report(console, report, args.json, ", ".join(args.data))


def _run_report(args, console):
    model = load_model(args.model)
    table = _read(console, args.data, model.loading)
    _print_summary(console, table.summary)
    data = _build_report(console, model, table, args)
    _emit_report(console, data["metrics"], None, ", ".join(args.data))
    if args.json:
        _write_json_atomically(args.json, data)
        console.print(f"report data written to {args.json}")
    _write_report_files(console, data, args)


def _warn_if_training_file(console, model, table):
    from .report.data import includes_training_rows

    if includes_training_rows(model, table):
        console.print(
            "[yellow]warning:[/yellow] these records come from the file the model "
            "was trained on, so the metrics include training rows and are "
            "optimistic; the held-out report was printed by train (and is kept "
            "in the model's metadata.json)."
        )


def _build_report(console, model, table, args):
    from .report import build_report

    with console.status("scoring and drawing the report"):
        return build_report(model, table, source=", ".join(args.data),
                            model_path=args.model)


def _write_report_files(console, data, args):
    from .report import render_html, render_markdown, write_text

    if args.html:
        write_text(args.html, render_html(data))
        console.print(f"HTML report written to {args.html}")
    if args.markdown:
        write_text(args.markdown, render_markdown(data))
        console.print(f"Markdown report written to {args.markdown}")


def _run_explain(args, console):
    from .explain import explain_records, select_rows
    from .report import format_explanations

    model = load_model(args.model)
    with _reading(console, args.data):
        table = select_rows(model, args.data, args.rows)
    records = explain_records(model, table, top=args.top)
    if not console.quiet:
        _output(format_explanations(records))
    if args.json:
        _write_json_atomically(args.json, records)
        console.print(f"explanations written to {args.json}")


def _run_predict(args, console):
    model = load_model(args.model)
    if args.scheduler:
        _run_predict_distributed(args, console, model)
        return
    with Progress(TextColumn("scoring"), TextColumn("{task.completed:,} records"),
                  console=console, transient=True) as progress:
        task = progress.add_task("scoring", total=None)
        write = predict_file
        options = {}
        if args.explain:
            from .explain import predict_file_explained as write

            options["top"] = args.explain
        summaries = []
        count = write(
            model, args.data, args.out, chunk_rows=args.chunk_rows,
            progress=lambda n: progress.update(task, completed=n),
            loaded=summaries.append, **options,
        )
    total = summaries[0]
    for later in summaries[1:]:
        total.merge(later)
    _print_summary(console, total)
    console.print(f"{count:,} predictions written to {args.out}")


def _run_predict_distributed(args, console, model):
    from .distributed import predict_file as predict_on_cluster

    if args.explain:
        raise ConfigError("--explain does not run on a cluster yet; leave out "
                          "--scheduler to explain predictions.")
    with (
        Progress(TextColumn("scoring on the cluster"),
                 TextColumn("{task.completed:,} records"), console=console,
                 transient=True) as progress,
        _cluster(args.scheduler) as client,
    ):
        task = progress.add_task("scoring", total=None)
        count = predict_on_cluster(
            model, args.data, args.out, client=client, chunk_rows=args.chunk_rows,
            progress=lambda n: progress.update(task, completed=n),
        )
    console.print(f"{count:,} predictions written to the parts in {args.out}")


def _run_demo(args, console):
    from .datasets import demo_path

    console.print("aeids demo: NSL-KDD 20% training file, 5 categories, "
                  "stratified 70/30 split")
    args.profile, args.label, args.drop = "nsl-kdd", None, []
    args.categorical, args.bad_cells, args.drop_duplicates = None, None, False
    args.mode, args.normal, args.target_fpr = "classify", None, None
    args.test_size, args.scaler, args.no_log_transform = 0.3, "minmax", False
    for name in ("epochs", "batch_size", "patience", "stop_loss", "calibration",
                 "unknown_rate", "activation"):
        setattr(args, name, None)
    args.hidden_layers, args.smote = "auto", False
    keep = args.model
    with tempfile.TemporaryDirectory() as scratch:
        args.model = keep or str(Path(scratch) / f"demo-{uuid.uuid4().hex[:6]}")
        args.discard_model = keep is None
        args.data = [str(demo_path())]
        _run_train(args, console)


def _estimator_params(args):
    params = {
        "hidden_layers": _layers_arg(args.hidden_layers),
        "activation": args.activation,
        "max_epochs": args.epochs,
        "batch_size": args.batch_size,
        "patience": args.patience,
    }
    if args.mode == "classify":
        if args.epochs:
            params["margin_epochs"] = min(args.epochs, MARGIN_EPOCHS)
        params.update(stop_loss=args.stop_loss, calibration=args.calibration,
                      unknown_rate=args.unknown_rate,
                      oversample="smote" if args.smote else None)
    else:
        params.update(target_fpr=args.target_fpr)
    return {key: value for key, value in params.items() if value is not None}


def _emit_report(console, report, json_path, source):
    if not console.quiet:
        # The report, heading included, is the command's output: stdout.
        _output(f"\nreport on {source}\n{format_report(report)}")
    if json_path:
        _write_json_atomically(json_path, report)
        console.print(f"report written to {json_path}")


def _output(text):
    """Print a command's result to stdout, carrying on if the reader has gone."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _discard(sys.stdout)


def _discard(stream):
    """Send the rest of `stream`, and any stream sharing its pipe, to devnull.

    When the reader has gone (``aeids evaluate ... 2>&1 | head``), the command
    carries on quietly, so that the files it was asked for are still written.
    """
    broken = os.fstat(stream.fileno())
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        if os.path.samestat(os.fstat(fd), broken):
            os.dup2(devnull, fd)
    os.close(devnull)


class _Console(Console):
    """Rich's console, which on a closed pipe goes quiet instead of exiting."""

    def on_broken_pipe(self):
        self.quiet = True
        _discard(self.file)


def _write_json_atomically(path, payload):
    path = Path(path)
    staging = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        staging.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


def _read(console, paths, loading, training=False):
    with _reading(console, ", ".join(paths)):
        return read_table(paths, loading, training=training)


@contextlib.contextmanager
def _reading(console, name):
    """A spinner with the elapsed time while a file is read."""
    with Progress(SpinnerColumn(), TextColumn(f"reading {escape(str(name))}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        bar.add_task("reading", total=None)
        yield


def _print_summary(console, summary):
    for line in summary.lines():
        console.print(line, highlight=False, markup=False)


class _epoch_progress:
    """A progress bar over training epochs, fed by the training callback."""

    def __init__(self, console, max_epochs):
        self.console = console
        self.total = max_epochs
        self.done = 0
        self.progress = Progress(
            TextColumn("training"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), console=console, transient=True,
        )

    def __enter__(self):
        self.progress.start()
        self.task = self.progress.add_task("training", total=self.total,
                                           status="")
        return self.update

    def update(self, epoch, history):
        val = history["val_loss"][-1]
        finite = [v for v in val if v is not None and v == v]
        status = f"val loss {sum(finite) / len(finite):.4g}" if finite else ""
        self.progress.update(self.task, advance=1, status=status)
        self.done += 1
        if not self.console.is_terminal and self.done % 10 == 0:
            # Piped output gets no bar; a line every 10 epochs shows progress.
            self.console.print(f"training: epoch {self.done} of at most "
                               f"{self.total}, {status}".rstrip(", "),
                               highlight=False)

    def __exit__(self, *exc):
        self.progress.stop()


def _most_epochs(mode, params):
    settings = make_estimator(mode, **params).get_params()
    total = settings["max_epochs"]
    if settings.get("margin_weight"):
        total += settings["margin_epochs"]
    return total


def _profile_arg(value):
    if value and value.endswith(".toml"):
        from .profiles import load_profile

        return load_profile(value)
    return value


def _profile_normal(value):
    if not value:
        return None
    from .profiles import get_profile

    profile = _profile_arg(value)
    profile = get_profile(profile) if isinstance(profile, str) else profile
    return profile.normal


def _layers_arg(value):
    if value in ("auto", "notebook"):
        return value
    try:
        return [int(width) for width in value.split(",")]
    except ValueError:
        raise AeidsError(
            f"--hidden-layers takes auto, notebook or comma-separated widths such "
            f"as 64,32,8; got {value!r}."
        ) from None


def _row_list(text):
    try:
        rows = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated record positions such as 0,5,17; "
            f"got {text!r}"
        ) from None
    if not rows or min(rows) < 0:
        raise argparse.ArgumentTypeError(
            f"expected record positions of 0 or more; got {text!r}"
        )
    return rows


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _configure_logging(verbose, quiet):
    level = logging.WARNING
    if quiet:
        level = logging.ERROR
    elif verbose == 1:
        level = logging.INFO
    elif verbose and verbose > 1:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _warning_printer(console):
    def show(message, category, filename, lineno, file=None, line=None):
        console.print(f"[yellow]warning:[/yellow] {escape(str(message))}",
                      highlight=False)

    return show


if __name__ == "__main__":
    sys.exit(main())
