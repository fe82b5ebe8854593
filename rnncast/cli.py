"""The ``rnncast`` command: parse options, call the library, render, map errors to exit codes.

Nothing heavy is imported at module level, so ``--help`` and usage errors stay instant.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from rnncast.config import DataOptions, TrainConfig
from rnncast.errors import ENVIRONMENT_ERRNOS, OUT_OF_SPACE, EnvironmentFailure, ExitStatus, RnncastError, UsageError
from rnncast.render import OutputFormat
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
DateFormat = Annotated[Optional[str], typer.Option("--date-format", help="Format of every time stamp, e.g. %d.%m.%Y (inferred if not given; dates that read two ways are refused).")]
DayFirst = Annotated[Optional[bool], typer.Option("--dayfirst/--monthfirst", help="Read dates such as 01.02.2020 day-first or month-first.", show_default="the data decides")]
Thousands = Annotated[Optional[str], typer.Option("--thousands", help="Thousands separator of the numbers, e.g. , or . (which makes , the decimal mark); detected if not given.")]
IdColumn = Annotated[Optional[str], typer.Option("--id-column", help="Column of series ids in a long-format CSV of many series (default: unique_id, if there is one).")]


def _setup_output(quiet: bool, verbose: bool) -> None:
    if verbose:
        os.environ["RNNCAST_VERBOSE"] = "1"
    else:
        # Libraries' deprecation and runtime warnings are for rnncast's developers, not a cron job's mail.
        warnings.simplefilter("ignore")
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
        if sys.stdout is None:  # started with stdout closed (`>&-`)
            raise EnvironmentFailure("standard output is closed; redirect it to a file or pass --output FILE.")
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except OSError as error:
            # What is left in the buffer would fail again at exit, with a traceback.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            if isinstance(error, BrokenPipeError):  # the reader went away (`| head -1`): stop quietly
                raise typer.Exit(ExitStatus.BROKEN_PIPE) from None
            raise EnvironmentFailure(f"cannot write to standard output ({error.strerror}); "
                                     "redirect it to a file or pass --output FILE.") from None
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        if error.errno in ENVIRONMENT_ERRNOS:
            fix = "free space or write it elsewhere" if error.errno in OUT_OF_SPACE else "write it elsewhere"
            raise EnvironmentFailure(f"`--output` {output}: cannot write ({error.strerror}); {fix}.") from None
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
    model: Annotated[str, typer.Option("--model", "-m", help="Model from `rnncast models`, or auto: the best of several on the validation part.")] = TrainConfig.model,
    strategy: Annotated[Optional[str], _train_option("strategy", "--strategy", "-s", help="direct (all steps at once) or autoregressive (one step, fed back).")] = None,
    horizon: Annotated[Optional[int], _train_option("horizon", "--horizon", "-H", help="Steps to forecast.")] = None,
    window: Annotated[Optional[int], _train_option("window", "--window", "-w", help="Past steps the model sees (auto: a few seasons).")] = None,
    target: Targets = None,
    time_column: TimeColumn = None,
    fill: Fill = None,
    resample: Resample = None,
    delimiter: Delimiter = None,
    encoding: Encoding = "utf-8",
    date_format: DateFormat = None,
    dayfirst: DayFirst = None,
    thousands: Thousands = None,
    units: Annotated[Optional[int], _train_option("units", "--units", help="Units per layer.")] = None,
    layers: Annotated[Optional[int], _train_option("layers", "--layers", help="Stacked recurrent layers.")] = None,
    dropout: Annotated[Optional[float], _train_option("dropout", "--dropout", help="Dropout between layers and before the head; MC-Dropout error bars need it (0 for none).")] = None,
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
    id_column: IdColumn = None,
    distribute: Annotated[Optional[str], _train_option("distribute", "--distribute", help="none, mirrored (every local GPU, or the CPU) or multi-worker (the cluster in TF_CONFIG; see docs/distributed.md).")] = None,
    preprocess: Annotated[Optional[str], _train_option("preprocess", "--preprocess", help="What the network learns: none (levels), difference, seasonal-difference, window-relative (each window minus its last value), seasonal-residual (the error of seasonal-naive, from the window minus its last value), or auto: the best on validation.")] = None,
    fallback: Annotated[Optional[bool], typer.Option("--fallback/--no-fallback", help="Keep naive or seasonal-naive instead of the network when it forecasts the validation part better (single models).", show_default="fallback")] = None,
    ensemble: Annotated[Optional[int], _train_option("ensemble", "--ensemble", help="Train K members and forecast their median: K seeds of --model (--seed, --seed+1, ...), or the best K of --model auto; MC error bars pool their samples.")] = None,
    model_dir: ModelDir = Path(DEFAULT_MODEL_DIR),
    lock_timeout: Annotated[float, typer.Option("--lock-timeout", help="Seconds to wait while another rnncast trains into the same --model-dir.")] = 60.0,
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
        "season": season, "validation_fraction": validation_fraction, "seed": seed, "distribute": distribute, "preprocess": preprocess,
        "fallback": fallback, "ensemble": ensemble,
    }
    config = TrainConfig(**{k: v for k, v in given.items() if v is not None})
    options = DataOptions(
        time_column=time_column, targets=tuple(target or ()), fill=fill, resample=resample,
        delimiter=delimiter, encoding=encoding, id_column=id_column,
        date_format=date_format, dayfirst=dayfirst, thousands=thousands,
    )
    from rnncast.ensemble import check_ensemble
    from rnncast.models import configure

    if config.model != "auto":
        configure(config, given=[k for k, v in given.items() if v is not None])
    check_ensemble(config)
    from rnncast.api import train as train_model

    with _epoch_progress(sys.stderr.isatty() and not quiet) as on_epoch:
        card = train_model(data, config, data_options=options, model_dir=model_dir, on_epoch=on_epoch, lock_timeout=lock_timeout)
    if not quiet:
        run = card.training
        what = card.config["model"] if card.ensemble is None else _ensemble_fact(card.ensemble)
        _stderr_console().print(
            f"Saved {what} ({card.config['strategy']}, window {card.config['window']}, "
            f"horizon {card.config['horizon']}) to {model_dir} after {_training_fact(run)}. "
            f"Validation{' of the median' if card.ensemble else ''} on {card.metrics['windows']} windows"
            + (f" of {card.source['series']} series (the mean over series last):" if card.panel else ":"),
            markup=False, soft_wrap=True,
        )
        if card.ensemble is not None:
            _stderr_console().print(f"members' validation MAE: {_spread_fact(card)}.", markup=False, soft_wrap=True)
        if "distribute" in run and not run["distribute"]["chief"]:
            _stderr_console().print("This worker is not the chief: its copy of the model was not kept.", markup=False)
        if "selection" in card.metrics:
            selection = card.metrics["selection"]
            scores = ", ".join(f"{_candidate(row['model'], row['preprocess'])} {row['mase']:.3g}" for row in selection["scores"])
            chose = f"the best {len(card.ensemble['members'])}" if card.ensemble else _candidate(selection["chosen"], selection["preprocess"])
            _stderr_console().print(f"auto chose {chose} ({selection['fits']} fits); backtest MASE on validation: {scores}.",
                                    markup=False, soft_wrap=True)
        if "preprocessing" in card.metrics:
            _stderr_console().print(f"preprocessing: {_preprocessing_fact(card.config, card.metrics['preprocessing'])}.", markup=False, soft_wrap=True)
        if "fallback" in card.metrics:
            _stderr_console().print(f"fallback: {_fallback_fact(card.metrics['fallback'])}; --no-fallback keeps the network.",
                                    markup=False, soft_wrap=True)
    from rnncast.render import records_text

    _emit(records_text(_validation_rows(card.metrics), output_format), None)


def _candidate(model: str, preprocess: str) -> str:
    """A candidate of `--model auto` with its preprocessing, e.g. gru/difference."""
    return model if preprocess == "none" else f"{model}/{preprocess}"


def _validation_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    if "series" in metrics:  # a global model: each series, then the means over series
        return [
            {"id": key, **row}
            for key, scores in [*metrics["series"].items(), ("all", metrics)]
            for row in _validation_rows({"model": scores["model"], "naive": scores["naive"]})
        ]
    rows = []
    for target, model_errors in metrics["model"].items():
        naive = metrics["naive"][target]
        seasonal = metrics.get("seasonal_naive", {}).get(target)
        rows.append({
            "target": target,
            "mae": model_errors["mae"], "naive_mae": naive["mae"],
            **({"seasonal_naive_mae": seasonal["mae"]} if seasonal else {}),
            "rmse": model_errors["rmse"], "naive_rmse": naive["rmse"],
            **({"seasonal_naive_rmse": seasonal["rmse"]} if seasonal else {}),
            "mae_vs_naive": model_errors["mae"] / naive["mae"] if naive["mae"] else float("nan"),
        })
    return rows


@app.command()
def forecast(
    horizon: Annotated[Optional[int], typer.Option("--horizon", "-H", help="Steps to forecast.", show_default="the trained horizon")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Updated CSV: forecast after its last row, without retraining.")] = None,
    ids: Annotated[Optional[list[str]], typer.Option("--id", help="Series to forecast, for a model of many series; repeat for several (default: all).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the forecast to this file instead of stdout.")] = None,
    model_dir: ModelDir = Path(DEFAULT_MODEL_DIR),
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.csv,
    mc_samples: Annotated[Optional[int], typer.Option("--mc-samples", help="MC-Dropout passes for error bars: adds <target>_std, _lower, _upper (a model without dropout gives its validation-residual intervals, whatever N).", show_default="off")] = None,
    interval: Annotated[Optional[float], typer.Option("--interval", help="Central interval of the --mc-samples error bars.", show_default="0.9")] = None,
    calibrate: Annotated[bool, typer.Option("--calibrate/--no-calibrate", help="Rescale the MC interval by the per-step factors fitted on validation (see `rnncast info`); --no-calibrate gives the raw one.")] = True,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed for reproducible MC error bars.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Also draw the history, forecast and error band to this image (.png, .jpg, .svg or .pdf).")] = None,
    engine: Annotated[str, typer.Option("--engine", help="onnx (onnxruntime, no TensorFlow), keras, or auto: ONNX where the model has an export.")] = "auto",
    fill: Fill = None,
    resample: Resample = None,
    delimiter: Delimiter = None,
    encoding: Encoding = "utf-8",
    date_format: DateFormat = None,
    dayfirst: DayFirst = None,
    thousands: Thousands = None,
    allow_negative: Annotated[bool, typer.Option("--allow-negative", help="Keep negative forecasts of a target that was never negative in training (clipped at 0 by default).")] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Forecast the next steps from a saved model; CSV on stdout."""
    _setup_output(quiet, verbose)
    if horizon is not None and horizon < 1:
        raise UsageError(f"`--horizon` must be at least 1. Received: {horizon}.")
    if interval is not None and mc_samples is None:
        raise UsageError(f"`--interval {interval}` sets the error bars of --mc-samples, which was not given; add --mc-samples N (e.g. 200) or drop --interval.")
    if plot is not None:
        from rnncast.plot import image_format

        image_format(plot)  # before forecasting, which may take a while
    from rnncast.forecast import MCOptions

    mc = MCOptions(mc_samples, MCOptions.interval if interval is None else interval, calibrate, seed) if mc_samples is not None else None
    from rnncast.api import Forecast, predict
    from rnncast.render import forecast_text

    # How to read --data where it differs from the training CSV; the rest comes from the card.
    reading = DataOptions(fill=fill, resample=resample, delimiter=delimiter, encoding=encoding, date_format=date_format,
                          dayfirst=dayfirst, thousands=thousands)
    result = predict(model_dir, horizon=horizon, data=data, mc=mc, engine=engine, ids=ids, data_options=reading,
                     allow_negative=allow_negative)
    if plot is not None:
        from rnncast.api import recent_history
        from rnncast.plot import write_plot

        frame = result.frame() if isinstance(result, Forecast) else result
        write_plot(plot, recent_history(model_dir, data, reading), frame, mc.interval if mc else None)
    _emit(forecast_text(result, output_format), output)


@app.command()
def check(
    data: Annotated[Path, typer.Argument(help="CSV file to inspect.", show_default=False)],
    horizon: Annotated[Optional[int], _train_option("horizon", "--horizon", "-H", help="Steps `train` would forecast.")] = None,
    window: Annotated[Optional[int], _train_option("window", "--window", "-w", help="Past steps `train` would use (auto: a few seasons).")] = None,
    season: Annotated[Optional[int], _train_option("season", "--season", help="Seasonal period in steps (auto: from the frequency).")] = None,
    validation_fraction: Annotated[Optional[float], _train_option("validation_fraction", "--validation-fraction", help="Share of the newest rows held out for validation.")] = None,
    target: Targets = None,
    time_column: TimeColumn = None,
    fill: Fill = None,
    resample: Resample = None,
    delimiter: Delimiter = None,
    encoding: Encoding = "utf-8",
    id_column: IdColumn = None,
    date_format: DateFormat = None,
    dayfirst: DayFirst = None,
    thousands: Thousands = None,
    output_format: Format = OutputFormat.table,
) -> None:
    """Report what the loader sees in DATA and what to do; exit 0 exactly when `train` with the same options would accept it."""
    from rnncast.api import check as check_data
    from rnncast.render import records_text

    given = {"horizon": horizon, "window": window, "season": season, "validation_fraction": validation_fraction}
    config = TrainConfig(**{k: v for k, v in given.items() if v is not None})
    options = DataOptions(
        time_column=time_column, targets=tuple(target or ()), fill=fill, resample=resample,
        delimiter=delimiter, encoding=encoding, id_column=id_column, date_format=date_format, dayfirst=dayfirst,
        thousands=thousands,
    )
    _setup_output(quiet=True, verbose=False)
    findings, problem = check_data(data, config, options)
    verdict = {"check": "verdict", "finding": "train accepts this file" if problem is None else problem, "advice": ""}
    _emit(records_text([*findings, verdict], output_format), None)
    if problem is not None:
        raise typer.Exit(ExitStatus.BAD_DATA)


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
    from rnncast.store import load_card, network_files

    card = load_card(model_dir)
    if output_format is OutputFormat.json:
        from rnncast.render import json_text

        _emit(json_text({k: v for k, v in dataclasses.asdict(card).items() if k != "last_window"}), None)
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
        "preprocessing": _preprocessing_fact(config, card.metrics.get("preprocessing")),
        "trained on": f"{card.source['path']} ({card.source['rows']} rows, {card.source['start']} .. {card.source['end']})",
        "training": _training_fact(card.training),
        "created": f"{card.created} by rnncast {card.rnncast_version}",
    }
    for target, errors in card.metrics["model"].items():
        baselines = [(name, card.metrics[key][target]) for name, key in (("naive", "naive"), ("seasonal-naive", "seasonal_naive"))
                     if key in card.metrics]
        facts[f"validation {target}"] = ", ".join(
            f"{metric.upper()} {errors[metric]:.4g} (" + ", ".join(f"{name} {e[metric]:.4g}" for name, e in baselines) + ")"
            for metric in ("mae", "rmse")
        )
    if "fallback" in card.metrics:
        facts["fallback"] = _fallback_fact(card.metrics["fallback"])
    if card.ensemble is not None:
        facts["ensemble"] = f"{_ensemble_fact(card.ensemble)}; the validation above is of their median"
        for i, member in enumerate(card.ensemble["members"], start=1):
            errors = ", ".join(f"{t} {e['mae']:.4g}" for t, e in member["metrics"]["model"].items())
            # A baseline has nothing to train, so its seed means nothing.
            seed = f", seed {member['seed']}" if member["training"]["epochs"] else ""
            facts[f"member {i}"] = f"{member['model']}{seed}, validation MAE {errors}"
    from rnncast.uncertainty import describe

    facts["error bars"] = describe(card)
    facts["forecast engine"] = _engine_fact(network_files(card))
    _emit(records_text([{"field": k, "value": str(v)} for k, v in facts.items()], output_format), None)


Horizon = Annotated[Optional[int], _train_option("horizon", "--horizon", "-H", help="Steps to forecast from each origin.")]
Window = Annotated[Optional[int], _train_option("window", "--window", "-w", help="Past steps the models see (auto: a few seasons).")]
Strategy = Annotated[Optional[str], _train_option("strategy", "--strategy", "-s", help="direct (all steps at once) or autoregressive (one step, fed back).")]
Units = Annotated[Optional[int], _train_option("units", "--units", help="Units per layer.")]
Layers = Annotated[Optional[int], _train_option("layers", "--layers", help="Stacked recurrent layers.")]
Epochs = Annotated[Optional[int], _train_option("epochs", "--epochs", help="Most epochs per fit; early stopping usually ends sooner.")]
Season = Annotated[Optional[int], _train_option("season", "--season", help="Seasonal period in steps, for seasonal-naive and MASE (auto: from the frequency).")]
Seed = Annotated[Optional[int], _train_option("seed", "--seed", help="Seed for reproducible fits on CPU.")]
Ensemble = Annotated[Optional[int], _train_option("ensemble", "--ensemble", help="Fit K seeds of each trained model asked for and score their median (naive and seasonal-naive stay single).")]
Folds = Annotated[int, typer.Option("--folds", help="Forecast origins on the tail of the data.")]
Stride = Annotated[Optional[int], typer.Option("--stride", help="Steps between origins.", show_default="the horizon")]
Retrain = Annotated[bool, typer.Option("--retrain", help="Refit at every origin instead of once before the first.")]
McSamples = Annotated[Optional[int], typer.Option("--mc-samples", help="MC-Dropout passes per forecast: adds the coverage and mean width of the 90% interval.", show_default="off")]
Output = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the result to this file instead of stdout.")]


def _backtest_settings(given: dict[str, Any], folds: int, stride: Optional[int], retrain: bool, base: Optional[TrainConfig] = None,
                       mc_samples: Optional[int] = None):
    from rnncast.evaluate import BacktestOptions

    options = BacktestOptions(folds=folds, stride=stride, retrain=retrain, mc_samples=mc_samples)
    overrides = {k: v for k, v in given.items() if v is not None}
    config = dataclasses.replace(base, **overrides) if base else TrainConfig(**overrides)
    return config, options


@contextlib.contextmanager
def _fit_progress(enabled: bool):
    """A rich progress bar of the models being backtested on stderr, or a no-op callback."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("backtesting {task.fields[model]}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=_stderr_console(), transient=True,
    )
    task = progress.add_task("backtest", total=None, model="")

    def on_fit(model: str, done: int, total: int) -> None:
        progress.update(task, completed=done, total=total, model=model)

    with progress:
        yield on_fit


def _report_text(report, command: str, rows, output_format: OutputFormat) -> str:
    from rnncast.render import json_text, records_text

    return json_text(report.to_dict(command)) if output_format is OutputFormat.json else records_text(rows, output_format)


@app.command()
def evaluate(
    data: Annotated[Path, typer.Argument(help="CSV file to backtest on.", show_default=False)],
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Zoo model to backtest; repeat for several.")] = None,
    model_dir: Annotated[Optional[Path], typer.Option("--model-dir", "-d", help="Backtest the settings of this saved model (refitted, so it never sees the tail).", show_default=DEFAULT_MODEL_DIR)] = None,
    folds: Folds = 5,
    stride: Stride = None,
    retrain: Retrain = False,
    mc_samples: McSamples = None,
    horizon: Horizon = None,
    window: Window = None,
    strategy: Strategy = None,
    units: Units = None,
    layers: Layers = None,
    epochs: Epochs = None,
    season: Season = None,
    seed: Seed = None,
    ensemble: Ensemble = None,
    target: Targets = None,
    time_column: TimeColumn = None,
    fill: Fill = None,
    resample: Resample = None,
    delimiter: Delimiter = None,
    encoding: Encoding = "utf-8",
    date_format: DateFormat = None,
    dayfirst: DayFirst = None,
    thousands: Thousands = None,
    id_column: IdColumn = None,
    output: Output = None,
    output_format: Format = OutputFormat.table,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Backtest a model on the tail of DATA beside the baselines: MAE, RMSE, MASE, sMAPE, overall and per step."""
    _setup_output(quiet, verbose)
    if model and model_dir is not None:
        raise UsageError("pass either --model or --model-dir, not both.")
    given = {"horizon": horizon, "window": window, "strategy": strategy, "units": units, "layers": layers,
             "epochs": epochs, "season": season, "seed": seed, "ensemble": ensemble}
    base, options = None, DataOptions(
        time_column=time_column, targets=tuple(target or ()), fill=fill, resample=resample, delimiter=delimiter,
        encoding=encoding, id_column=id_column, date_format=date_format, dayfirst=dayfirst, thousands=thousands,
    )
    if not model:
        from rnncast.evaluate import saved_settings

        base, options = saved_settings(model_dir or Path(DEFAULT_MODEL_DIR), options)
    config, backtest_options = _backtest_settings(given, folds, stride, retrain, base, mc_samples)
    from rnncast.evaluate import backtest

    with _fit_progress(sys.stderr.isatty() and not quiet) as on_fit:
        report = backtest(data, model or [config.model], config, backtest_options, data_options=options, on_fit=on_fit,
                          given=[k for k, v in given.items() if v is not None])
    if not quiet:
        _stderr_console().print(report.describe(), markup=False, soft_wrap=True)
    _emit(_report_text(report, "evaluate", report.details(), output_format), output)


@app.command()
def compare(
    data: Annotated[Path, typer.Argument(help="CSV file to backtest on.", show_default=False)],
    models: Annotated[str, typer.Option("--models", "-m", help="Comma-separated zoo models; the baselines are always added.")] = "naive,seasonal-naive,linear,gru",
    folds: Folds = 5,
    stride: Stride = None,
    retrain: Retrain = False,
    mc_samples: McSamples = None,
    horizon: Horizon = None,
    window: Window = None,
    strategy: Strategy = None,
    units: Units = None,
    layers: Layers = None,
    epochs: Epochs = None,
    season: Season = None,
    seed: Seed = None,
    ensemble: Ensemble = None,
    target: Targets = None,
    time_column: TimeColumn = None,
    fill: Fill = None,
    resample: Resample = None,
    delimiter: Delimiter = None,
    encoding: Encoding = "utf-8",
    date_format: DateFormat = None,
    dayfirst: DayFirst = None,
    thousands: Thousands = None,
    id_column: IdColumn = None,
    output: Output = None,
    output_format: Format = OutputFormat.table,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Backtest several models on the same origins of DATA and print a leaderboard, best MASE first."""
    _setup_output(quiet, verbose)
    names = [name.strip() for name in models.split(",") if name.strip()]
    if not names:
        raise UsageError(f"`--models` must name at least one model, separated by commas. Received: {models!r}.")
    given = {"horizon": horizon, "window": window, "strategy": strategy, "units": units, "layers": layers,
             "epochs": epochs, "season": season, "seed": seed, "ensemble": ensemble}
    config, backtest_options = _backtest_settings(given, folds, stride, retrain, mc_samples=mc_samples)
    options = DataOptions(
        time_column=time_column, targets=tuple(target or ()), fill=fill, resample=resample, delimiter=delimiter,
        encoding=encoding, id_column=id_column, date_format=date_format, dayfirst=dayfirst, thousands=thousands,
    )
    from rnncast.evaluate import backtest

    with _fit_progress(sys.stderr.isatty() and not quiet) as on_fit:
        report = backtest(data, names, config, backtest_options, data_options=options, on_fit=on_fit,
                          given=[k for k, v in given.items() if v is not None])
    if not quiet:
        _stderr_console().print(report.describe(), markup=False, soft_wrap=True)
    _emit(_report_text(report, "compare", report.leaderboard(), output_format), output)


def _engine_fact(networks: list[dict[str, str]]) -> str:
    for files in networks:
        if "onnx" not in files:
            return f"Keras (TensorFlow): the ONNX export failed: {files.get('onnx_error', 'not attempted')}"
    with_mc = " and MC Dropout" if any("onnx_mc" in files for files in networks) else ""
    return f"onnxruntime for point forecasts{with_mc} (export checked against Keras); --engine keras to use TensorFlow"


def _training_fact(run: dict[str, Any]) -> str:
    if "members" in run:
        return f"{run['epochs']} epoch(s) over {run['members']} members, {run['seconds']} s"
    return f"{run['epochs']} epoch(s)" + (f", best {run['best_epoch']}" if run["epochs"] else "") + f", {run['seconds']} s"


def _ensemble_fact(ensemble: dict[str, Any]) -> str:
    members = ensemble["members"]
    if ensemble["kind"] == "seeds":
        return f"the median of {len(members)} {members[0]['model']} seeds"
    return f"the median of the best {len(members)} of auto: {', '.join(m['model'] for m in members)}"


def _spread_fact(card) -> str:
    """Per target, the range of the members' validation MAE beside their median's."""
    facts = []
    for target, errors in card.metrics["model"].items():
        maes = [member["metrics"]["model"][target]["mae"] for member in card.ensemble["members"]]
        facts.append(f"{target} {min(maes):.4g}..{max(maes):.4g} (their median forecast {errors['mae']:.4g})")
    return "; ".join(facts)


def _preprocessing_fact(config: dict[str, Any], selection: dict[str, Any] | None) -> str:
    method = config.get("preprocess", "none")
    if selection is None:
        return method
    scores = ", ".join(f"{m} {s:.4g}" for m, s in selection["scores"].items() if s is not None)
    return f"{method}, chosen on validation (standardised MAE of a linear model: {scores})"


def _fallback_fact(fallback: dict[str, Any]) -> str:
    network = fallback["network"]
    maes = ", ".join(f"{target} {errors['mae']:.4g}" for target, errors in network["validation"].items())
    return (f"kept {fallback['kept']}, not the trained {network['model']} (preprocessing {network['preprocess']}): "
            f"{fallback['reason']} (the {network['model']}'s validation MAE: {maes})")


def run(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` and return its exit status; every error becomes a message."""
    try:
        app(args=argv, prog_name="rnncast")
    except SystemExit as done:  # Typer exits itself after help, usage errors and success
        if isinstance(done.__context__, typer.Exit) and isinstance(done.__context__.__cause__, KeyboardInterrupt):
            return _fail("interrupted.", ExitStatus.INTERRUPTED)  # Typer turns Ctrl-C into a silent exit 130
        return done.code if isinstance(done.code, int) else ExitStatus.FAILURE
    except RnncastError as error:
        return _fail(str(error), error.exit_status)
    except KeyboardInterrupt:  # Ctrl-C outside Typer's own handling
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
    # A process started with stdin, stdout or stderr closed would hand their numbers to the next
    # files it opens (a lock, a model file), where anything printed to them would then land.
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            os.open(os.devnull, os.O_RDWR)
    sys.exit(int(run()))


def _fail(message: str, status: ExitStatus) -> ExitStatus:
    if sys.stderr is not None:  # with stderr closed, the exit status is all that can be said
        sys.stderr.write(f"rnncast: error: {message}\n")
    return status


if __name__ == "__main__":
    main()
