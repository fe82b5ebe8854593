"""The ``rnncast`` command: parse options, call the library, render, map errors to exit codes.

Nothing heavy is imported at module level, so ``--help`` and usage errors stay instant. The
options shared by several commands are declared once, in ``cli_options``; what a model card
means for a person is worded by ``report``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from rnncast.cli_options import (
    BACKTEST, BACKTEST_HELP, DATA, DEFAULT_DIR, READING, TRAINING, ZERO_SHOT_HELP, Format, ModelDir, Output, Quiet, Verbose,
    config_given, data_options, takes,
)
from rnncast.config import DataOptions, TrainConfig
from rnncast.errors import ExitStatus, RnncastError, UsageError
from rnncast.render import OutputFormat, emit, setup_output
from rnncast.store import DEFAULT_MODEL_DIR

app = typer.Typer(
    name="rnncast",
    help="Train recurrent and convolutional forecasters on a CSV of time series, and forecast from them.",
    no_args_is_help=True,
    add_completion=False,
    # Plain help: rich's help formatter (and the markdown parser it loads) would double the
    # time of `rnncast --help`.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _records(rows: list[dict[str, Any]], output_format: OutputFormat) -> None:
    from rnncast.render import records_text

    emit(records_text(rows, output_format))


@app.command()
@takes(*DATA, *TRAINING)
def train(
    data: Annotated[Path, typer.Argument(help="CSV file with a time column and numeric columns.", show_default=False)],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model from `rnncast models`, or auto: the best of several on the validation part.", show_default=TrainConfig.model)] = None,
    init: Annotated[Optional[str], typer.Option("--init", help="Train on from the network saved in this model directory (e.g. last night's), with its settings; keeps it as it was if that validates better. pretrained: --model pretrained.")] = None,
    model_dir: ModelDir = DEFAULT_DIR,
    lock_timeout: Annotated[float, typer.Option("--lock-timeout", help="Seconds to wait while another rnncast trains into the same --model-dir.")] = 60.0,
    output_format: Format = OutputFormat.table,
    quiet: Quiet = False,
    verbose: Verbose = False,
    **options: Any,
) -> None:
    """Train a model on DATA, report validation errors beside the naive baseline, and save it."""
    setup_output(quiet, verbose)
    from rnncast.api import train as train_model
    from rnncast.render import epoch_progress, say
    from rnncast.report import train_summary, validation_rows

    given = {**({"model": model} if model is not None else {}), **config_given(options)}
    config, reading = TrainConfig(**given), data_options(options)
    with epoch_progress(sys.stderr.isatty() and not quiet) as on_epoch:
        card = train_model(data, config, data_options=reading, model_dir=model_dir, on_epoch=on_epoch, lock_timeout=lock_timeout,
                           given=list(given), init=init)
    if not quiet:
        say(train_summary(card, model_dir))
    _records(validation_rows(card.metrics), output_format)


@app.command()
@takes(*READING, "future", "targets", "time_column", "id_column", "season", **ZERO_SHOT_HELP)
def forecast(
    horizon: Annotated[Optional[int], typer.Option("--horizon", "-H", help="Steps to forecast.", show_default="the trained horizon; pretrained: a season, or 8")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Updated CSV: forecast after its last row, without retraining (zero-shot with the pretrained model when --model-dir holds no model).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="pretrained: forecast --data zero-shot with the model shipped with rnncast, whatever --model-dir holds.", show_default="the model in --model-dir")] = None,
    ids: Annotated[Optional[list[str]], typer.Option("--id", help="Series to forecast, for a model of many series; repeat for several (default: all).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the forecast to this file instead of stdout.")] = None,
    model_dir: ModelDir = DEFAULT_DIR,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.csv,
    mc_samples: Annotated[Optional[int], typer.Option("--mc-samples", help="MC-Dropout passes for error bars: adds <target>_std, _lower, _upper (a model without dropout gives its validation-residual intervals, the pretrained model its quantile head's, whatever N).", show_default="off")] = None,
    interval: Annotated[Optional[float], typer.Option("--interval", help="Central interval of the --mc-samples error bars.", show_default="0.9")] = None,
    calibrate: Annotated[bool, typer.Option("--calibrate/--no-calibrate", help="Rescale the MC interval by the per-step factors fitted on validation (see `rnncast info`); --no-calibrate gives the raw one.")] = True,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed for reproducible MC error bars.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Also draw the history, forecast and error band to this image (.png, .jpg, .svg or .pdf).")] = None,
    engine: Annotated[str, typer.Option("--engine", help="onnx (onnxruntime, no TensorFlow), keras, or auto: ONNX where the model has an export.")] = "auto",
    allow_negative: Annotated[bool, typer.Option("--allow-negative", help="Keep negative forecasts of a target that was never negative in training (clipped at 0 by default).")] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
    **options: Any,
) -> None:
    """Forecast the next steps from a saved model, or of --data from the pretrained one; CSV on stdout."""
    setup_output(quiet, verbose)
    from rnncast.api import Forecast, predict, uses_pretrained
    from rnncast.recent import recent_history
    from rnncast.rollout import MCOptions
    from rnncast.plot import image_format, write_plot
    from rnncast.render import forecast_text

    mc = MCOptions.asked(mc_samples, interval, calibrate, seed)
    if plot is not None:
        image_format(plot)  # before forecasting, which may take a while
    reading = data_options(options)  # how to read --data where it differs from the training CSV
    pretrained = uses_pretrained(model, model_dir, data)
    result = predict(model_dir, horizon=horizon, data=data, mc=mc, engine=engine, ids=ids, data_options=reading,
                     allow_negative=allow_negative, future=options["future"], model="pretrained" if pretrained else None,
                     season=options["season"])
    if plot is not None:
        frame = result.frame() if isinstance(result, Forecast) else result
        write_plot(plot, recent_history(model_dir, data, reading, pretrained), frame, mc.interval if mc else None)
    emit(forecast_text(result, output_format), output)


@app.command()
@takes("horizon", "window", "season", "validation_fraction", "strategy", *DATA, "future",
       horizon="Steps `train` would forecast.", window="Past steps `train` would use (auto: a few seasons).",
       future="CSV of the --known columns' future values: checked against DATA's end and --horizon as `forecast --future` would.")
def check(
    data: Annotated[Path, typer.Argument(help="CSV file to inspect.", show_default=False)],
    output_format: Format = OutputFormat.table,
    **options: Any,
) -> None:
    """Report what the loader sees in DATA and what to do; exit 0 exactly when `train` with the same options would accept it."""
    from rnncast.api import check as check_data

    config, reading = TrainConfig(**config_given(options)), data_options(options)
    setup_output(quiet=True, verbose=False)
    findings, problem = check_data(data, config, reading, options["future"])
    verdict = {"check": "verdict", "finding": "train accepts this file" if problem is None else problem, "advice": ""}
    _records([*findings, verdict], output_format)
    if problem is not None:
        raise typer.Exit(ExitStatus.BAD_DATA)


@app.command()
def models(output_format: Format = OutputFormat.table) -> None:
    """List the model zoo, one line each."""
    from rnncast.models import ZOO
    from rnncast.pretrained import DESCRIPTION

    zoo = [{"model": spec.name, "description": spec.description} for spec in ZOO.values()]
    _records([*zoo, {"model": "pretrained", "description": DESCRIPTION}], output_format)


@app.command()
def info(model_dir: ModelDir = DEFAULT_DIR, output_format: Format = OutputFormat.table) -> None:
    """Describe a saved model: data, columns, window, horizon, metrics."""
    from rnncast.report import card_document, card_facts
    from rnncast.store import load_card

    card = load_card(model_dir)
    if output_format is OutputFormat.json:
        from rnncast.render import json_text

        emit(json_text(card_document(card)))
    else:
        _records(card_facts(card), output_format)


def _backtest(command: str, data: Path, names: list[str], base: Optional[TrainConfig], reading: DataOptions, options: dict[str, Any],
              output: Optional[Path], output_format: OutputFormat, quiet: bool) -> None:
    """Run a backtest of ``names`` (or of ``base``'s model) and print its report."""
    from rnncast.evaluate import BacktestOptions, backtest
    from rnncast.render import fit_progress, json_text, records_text, say

    given = config_given(options)
    config = TrainConfig(**{**(base.to_dict() if base else {}), **given})
    settings = BacktestOptions(options["folds"], options["stride"], options["retrain"], options["mc_samples"])
    with fit_progress(sys.stderr.isatty() and not quiet) as on_fit:
        report = backtest(data, names or [config.model], config, settings, data_options=reading, on_fit=on_fit, given=list(given))
    if not quiet:
        say([report.describe()])
    rows = report.details() if command == "evaluate" else report.leaderboard()
    emit(json_text(report.to_dict(command)) if output_format is OutputFormat.json else records_text(rows, output_format), output)


@app.command()
@takes(*BACKTEST, *DATA, **BACKTEST_HELP)
def evaluate(
    data: Annotated[Path, typer.Argument(help="CSV file to backtest on.", show_default=False)],
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Zoo model (or pretrained) to backtest; repeat for several.")] = None,
    model_dir: Annotated[Optional[Path], typer.Option("--model-dir", "-d", help="Backtest the settings of this saved model (refitted, so it never sees the tail).", show_default=DEFAULT_MODEL_DIR)] = None,
    output: Output = None,
    output_format: Format = OutputFormat.table,
    quiet: Quiet = False,
    verbose: Verbose = False,
    **options: Any,
) -> None:
    """Backtest a model on the tail of DATA beside the baselines: MAE, RMSE, MASE, sMAPE, overall and per step."""
    setup_output(quiet, verbose)
    if model and model_dir is not None:
        raise UsageError("pass either --model or --model-dir, not both.")
    base, reading = None, data_options(options)
    if not model:
        from rnncast.evaluate import saved_settings

        base, reading = saved_settings(model_dir or DEFAULT_DIR, reading)
    _backtest("evaluate", data, model or [], base, reading, options, output, output_format, quiet)


@app.command()
@takes(*BACKTEST, *DATA, **BACKTEST_HELP)
def compare(
    data: Annotated[Path, typer.Argument(help="CSV file to backtest on.", show_default=False)],
    models: Annotated[str, typer.Option("--models", "-m", help="Comma-separated zoo models (or pretrained); the baselines are always added.")] = "naive,seasonal-naive,linear,gru",
    output: Output = None,
    output_format: Format = OutputFormat.table,
    quiet: Quiet = False,
    verbose: Verbose = False,
    **options: Any,
) -> None:
    """Backtest several models on the same origins of DATA and print a leaderboard, best MASE first."""
    setup_output(quiet, verbose)
    names = [name.strip() for name in models.split(",") if name.strip()]
    if not names:
        raise UsageError(f"`--models` must name at least one model, separated by commas. Received: {models!r}.")
    _backtest("compare", data, names, None, data_options(options), options, output, output_format, quiet)


def run(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` and return its exit status; every error becomes a message."""
    try:
        app(args=argv, prog_name="rnncast")
    except SystemExit as done:  # Typer exits itself after help, usage errors and success
        if _interrupted(done):
            return _fail("interrupted.", ExitStatus.INTERRUPTED)  # Typer turns Ctrl-C into a silent exit 130
        return done.code if isinstance(done.code, int) else ExitStatus.FAILURE
    except RnncastError as error:
        return _fail(str(error), error.exit_status)
    except KeyboardInterrupt:  # Ctrl-C outside Typer's own handling
        return _fail("interrupted.", ExitStatus.INTERRUPTED)
    except Exception as error:  # a bug in rnncast, not the user's doing, unless Ctrl-C set it off
        if _interrupted(error):
            return _fail("interrupted.", ExitStatus.INTERRUPTED)
        if os.environ.get("RNNCAST_VERBOSE") == "1":
            raise
        return _fail(
            f"internal error ({type(error).__name__}: {error}); rerun with --verbose for details and report it.",
            ExitStatus.FAILURE,
        )
    return ExitStatus.OK


def main() -> None:
    # A process started with stdin, stdout or stderr closed would hand their numbers to the next
    # files it opens (a lock, a model file), where anything printed to them would then land.
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            os.open(os.devnull, os.O_RDWR)
    sys.exit(int(run()))


def _interrupted(error: BaseException) -> bool:
    """Whether Ctrl-C is behind ``error``: the interrupt lands wherever the main thread is, and code
    cleaning up after it inside TensorFlow or Typer may raise an exception of its own."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _fail(message: str, status: ExitStatus) -> ExitStatus:
    if sys.stderr is not None:  # with stderr closed, the exit status is all that can be said
        sys.stderr.write(f"rnncast: error: {message}\n")
    return status


if __name__ == "__main__":
    main()
