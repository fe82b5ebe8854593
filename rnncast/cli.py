"""The ``rnncast`` command: parse options, call the library, render, map errors to exit codes.

Nothing heavy is imported at module level, so ``--help`` and usage errors stay instant.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from rnncast.config import DataOptions, TrainConfig
from rnncast.errors import ExitStatus, RnncastError, UsageError
from rnncast.render import OutputFormat
from rnncast.store import DEFAULT_MODEL_DIR

app = typer.Typer(
    name="rnncast",
    help="Train recurrent and convolutional forecasters on a CSV of time series, and forecast from them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_TRAIN_DEFAULTS = {field.name: field.default for field in dataclasses.fields(TrainConfig)}


def _train_option(field: str, *flags: str, help: str) -> Any:
    """An option for a TrainConfig field whose default, shown in --help, is the config's."""
    default = _TRAIN_DEFAULTS[field]
    return typer.Option(*flags, help=help, show_default=str(default) if default is not None else "auto")


ModelDir = Annotated[Path, typer.Option("--model-dir", "-d", help="Directory of the saved model.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only results and errors.")]
Verbose = Annotated[bool, typer.Option("--verbose", help="Show TensorFlow's logs and tracebacks of internal errors.")]
Format = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
TimeColumn = Annotated[Optional[str], typer.Option("--time-column", help="Column of time stamps (detected if not given).")]
Targets = Annotated[Optional[list[str]], typer.Option("--target", "-t", help="Column to forecast; repeat for several (default: all numeric).")]
Fill = Annotated[Optional[str], typer.Option("--fill", help="Fill missing values: ffill or interpolate.")]
Resample = Annotated[Optional[str], typer.Option("--resample", help="Put the series on a regular grid of this pandas frequency (D, h, W, MS...), averaging within each step.")]
Delimiter = Annotated[Optional[str], typer.Option("--delimiter", help="Field separator (detected if not given).")]
Encoding = Annotated[str, typer.Option("--encoding", help="Text encoding of the CSV.")]


def _setup_output(quiet: bool, verbose: bool) -> None:
    if verbose:
        os.environ["RNNCAST_VERBOSE"] = "1"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    logger = logging.getLogger("rnncast")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.ERROR if quiet else logging.WARNING)
    logger.propagate = False


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _emit(text: str, output: Optional[Path]) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"`--output` {output}: cannot write ({error.strerror}).") from None


@contextlib.contextmanager
def _epoch_progress(enabled: bool):
    """A rich progress bar of epochs on stderr, or a no-op callback."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("training"), BarColumn(), TextColumn("epoch {task.completed}/{task.total}"),
        TextColumn("{task.fields[losses]}"), TimeElapsedColumn(),
        console=_stderr_console(), transient=True,
    )
    task = progress.add_task("train", total=None, losses="")

    def on_epoch(epoch: int, epochs: int, logs: dict[str, float]) -> None:
        losses = f"loss {logs.get('loss', float('nan')):.4g}  val {logs.get('val_loss', float('nan')):.4g}"
        progress.update(task, completed=epoch, total=epochs, losses=losses)

    with progress:
        yield on_epoch


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="CSV file with a time column and numeric columns.", show_default=False)],
    model: Annotated[str, typer.Option("--model", "-m", help="Model from `rnncast models`.")] = TrainConfig.model,
    strategy: Annotated[Optional[str], _train_option("strategy", "--strategy", "-s", help="direct (all steps at once) or autoregressive (one step, fed back).")] = None,
    horizon: Annotated[Optional[int], _train_option("horizon", "--horizon", "-H", help="Steps to forecast.")] = None,
    window: Annotated[Optional[int], _train_option("window", "--window", "-w", help="Past steps the model sees (auto: a few seasons).")] = None,
    target: Targets = None,
    time_column: TimeColumn = None,
    fill: Fill = None,
    resample: Resample = None,
    delimiter: Delimiter = None,
    encoding: Encoding = "utf-8",
    units: Annotated[Optional[int], _train_option("units", "--units", help="Units per layer.")] = None,
    layers: Annotated[Optional[int], _train_option("layers", "--layers", help="Stacked recurrent layers.")] = None,
    dropout: Annotated[Optional[float], _train_option("dropout", "--dropout", help="Dropout between layers and before the head.")] = None,
    recurrent_dropout: Annotated[Optional[float], _train_option("recurrent_dropout", "--recurrent-dropout", help="Dropout on the recurrent state (slow kernel).")] = None,
    bidirectional: Annotated[Optional[bool], typer.Option("--bidirectional", help="Wrap recurrent layers in Bidirectional (the window is all past data).", show_default=False)] = None,
    seq2seq: Annotated[Optional[bool], typer.Option("--seq2seq/--no-seq2seq", help="Train on a horizon-vector target at every time step (direct models).", show_default="the model's default")] = None,
    lr: Annotated[Optional[float], _train_option("learning_rate", "--lr", help="Adam learning rate.")] = None,
    epochs: Annotated[Optional[int], _train_option("epochs", "--epochs", help="Most epochs; early stopping usually ends sooner.")] = None,
    batch_size: Annotated[Optional[int], _train_option("batch_size", "--batch-size", help="Windows per batch.")] = None,
    patience: Annotated[Optional[int], _train_option("patience", "--patience", help="Epochs without validation gain before stopping.")] = None,
    loss: Annotated[Optional[str], _train_option("loss", "--loss", help="mse, mae or huber.")] = None,
    clipnorm: Annotated[Optional[float], _train_option("clipnorm", "--clipnorm", help="Clip gradients to this norm.")] = None,
    season: Annotated[Optional[int], _train_option("season", "--season", help="Seasonal period in steps (auto: from the frequency).")] = None,
    validation_fraction: Annotated[Optional[float], _train_option("validation_fraction", "--validation-fraction", help="Share of the newest rows held out for validation.")] = None,
    seed: Annotated[Optional[int], _train_option("seed", "--seed", help="Seed for reproducible training on CPU.")] = None,
    model_dir: ModelDir = Path(DEFAULT_MODEL_DIR),
    output_format: Format = OutputFormat.table,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Train a model on DATA, report validation errors beside the naive baseline, and save it."""
    _setup_output(quiet, verbose)
    given = {
        "model": model, "strategy": strategy, "horizon": horizon, "window": window, "units": units,
        "layers": layers, "dropout": dropout, "recurrent_dropout": recurrent_dropout,
        "bidirectional": bidirectional, "seq2seq": seq2seq, "learning_rate": lr,
        "epochs": epochs, "batch_size": batch_size, "patience": patience, "loss": loss, "clipnorm": clipnorm,
        "season": season, "validation_fraction": validation_fraction, "seed": seed,
    }
    config = TrainConfig(**{k: v for k, v in given.items() if v is not None})
    options = DataOptions(
        time_column=time_column, targets=tuple(target or ()), fill=fill, resample=resample,
        delimiter=delimiter, encoding=encoding,
    )
    from rnncast.models import configure

    configure(config, given=[k for k, v in given.items() if v is not None])
    from rnncast.api import train as train_model

    with _epoch_progress(sys.stderr.isatty() and not quiet) as on_epoch:
        card = train_model(data, config, data_options=options, model_dir=model_dir, on_epoch=on_epoch)
    if not quiet:
        run = card.training
        _stderr_console().print(
            f"Saved {card.config['model']} ({card.config['strategy']}, window {card.config['window']}, "
            f"horizon {card.config['horizon']}) to {model_dir} after {run['epochs']} epoch(s)"
            + (f", best {run['best_epoch']}" if run["epochs"] else "")
            + f", {run['seconds']} s. Validation on {card.metrics['windows']} windows:",
            markup=False,
        )
    from rnncast.render import records_text

    _emit(records_text(_validation_rows(card.metrics), output_format), None)


def _validation_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for target, model_errors in metrics["model"].items():
        naive = metrics["naive"][target]
        rows.append({
            "target": target,
            "mae": model_errors["mae"], "naive_mae": naive["mae"],
            "rmse": model_errors["rmse"], "naive_rmse": naive["rmse"],
            "mae_vs_naive": model_errors["mae"] / naive["mae"] if naive["mae"] else float("nan"),
        })
    return rows


@app.command()
def forecast(
    horizon: Annotated[Optional[int], typer.Option("--horizon", "-H", help="Steps to forecast.", show_default="the trained horizon")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Updated CSV: forecast after its last row, without retraining.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the forecast to this file instead of stdout.")] = None,
    model_dir: ModelDir = Path(DEFAULT_MODEL_DIR),
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.csv,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Forecast the next steps from a saved model; CSV on stdout."""
    _setup_output(quiet, verbose)
    if horizon is not None and horizon < 1:
        raise UsageError(f"`--horizon` must be at least 1. Received: {horizon}.")
    from rnncast.api import forecast as forecast_frame
    from rnncast.render import forecast_text

    frame = forecast_frame(model_dir, horizon=horizon, data=data)
    _emit(forecast_text(frame, output_format), output)


@app.command()
def models(output_format: Format = OutputFormat.table) -> None:
    """List the model zoo, one line each."""
    from rnncast.models import ZOO
    from rnncast.render import records_text

    rows = [{"model": spec.name, "description": spec.description} for spec in ZOO.values()]
    _emit(records_text(rows, output_format), None)


@app.command()
def info(model_dir: ModelDir = Path(DEFAULT_MODEL_DIR), output_format: Format = OutputFormat.table) -> None:
    """Describe a saved model: data, columns, window, horizon, metrics."""
    from rnncast.render import records_text
    from rnncast.store import load_card

    card = load_card(model_dir)
    if output_format is OutputFormat.json:
        document = {k: v for k, v in dataclasses.asdict(card).items() if k != "last_window"}
        import json

        _emit(json.dumps(document, indent=2) + "\n", None)
        return
    config = card.config
    facts = {
        "model": config["model"],
        "strategy": config["strategy"],
        "window": config["window"],
        "horizon": config["horizon"],
        "targets": ", ".join(card.targets),
        "inputs": ", ".join(card.columns),
        "time column": card.time_column or "(none: row numbers)",
        "frequency": card.freq if card.freq is not None else "(steps)",
        "season": config["season"] or "(none)",
        "trained on": f"{card.source['path']} ({card.source['rows']} rows, {card.source['start']} .. {card.source['end']})",
        "training": f"{card.training['epochs']} epochs (best {card.training['best_epoch']}), {card.training['seconds']} s",
        "created": f"{card.created} by rnncast {card.rnncast_version}",
    }
    for target, errors in card.metrics["model"].items():
        naive = card.metrics["naive"][target]
        facts[f"validation {target}"] = (
            f"MAE {errors['mae']:.4g} (naive {naive['mae']:.4g}), RMSE {errors['rmse']:.4g} (naive {naive['rmse']:.4g})"
        )
    _emit(records_text([{"field": k, "value": str(v)} for k, v in facts.items()], output_format), None)


def run(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` and return its exit status; every error becomes a message."""
    try:
        app(args=argv, prog_name="rnncast")
    except SystemExit as done:  # Typer exits itself after help, usage errors and success
        return done.code if isinstance(done.code, int) else ExitStatus.FAILURE
    except RnncastError as error:
        return _fail(str(error), error.exit_status)
    except KeyboardInterrupt:
        return _fail("interrupted.", ExitStatus.INTERRUPTED)
    except Exception as error:  # a bug in rnncast, not the user's doing
        if os.environ.get("RNNCAST_VERBOSE") == "1":
            raise
        return _fail(
            f"internal error ({type(error).__name__}: {error}); rerun with --verbose for details and report it.",
            ExitStatus.FAILURE,
        )
    return ExitStatus.OK


def main() -> None:
    sys.exit(int(run()))


def _fail(message: str, status: ExitStatus) -> ExitStatus:
    sys.stderr.write(f"rnncast: error: {message}\n")
    return status


if __name__ == "__main__":
    main()
