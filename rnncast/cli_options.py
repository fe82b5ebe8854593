"""The options of the ``rnncast`` commands, each declared once.

A command names the shared options it takes (``@takes(*DATA, *TRAINING)``) and receives them in
``**options``; ``data_options`` and ``config_given`` turn those into the library's settings.
Adding a way to read a CSV is one line in ``OPTIONS`` and its name in ``READING`` or ``DATA``.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from pathlib import Path
from typing import Annotated, Any, Callable, Optional, get_args

import typer

from rnncast.config import DataOptions, TrainConfig
from rnncast.render import OutputFormat
from rnncast.store import DEFAULT_MODEL_DIR

_TRAIN_DEFAULTS = {field.name: field.default for field in dataclasses.fields(TrainConfig)}


def _option(name: str, kind: Any, *flags: str, help: str, default: Any = None, **extra: Any) -> inspect.Parameter:
    if name in _TRAIN_DEFAULTS:  # --help shows the config's default, which an unset option leaves in place
        extra.setdefault("show_default", "auto" if _TRAIN_DEFAULTS[name] is None else str(_TRAIN_DEFAULTS[name]))
    option = typer.Option(*flags, help=help, **extra)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[kind, option], default=default)


_int, _float, _str, _bool = Optional[int], Optional[float], Optional[str], Optional[bool]
OPTIONS = {p.name: p for p in [
    # How to read a CSV: the fields of DataOptions.
    _option("targets", Optional[list[str]], "--target", "-t", help="Column to forecast; repeat for several (default: all numeric)."),
    _option("time_column", _str, "--time-column", help="Column of time stamps (detected if not given)."),
    _option("fill", _str, "--fill", help="Fill missing values: ffill or interpolate."),
    _option("resample", _str, "--resample", help="Put the series on a regular grid of this pandas frequency (D, h, W, MS...), averaging within each step."),
    _option("delimiter", _str, "--delimiter", help="Field separator (detected if not given)."),
    _option("encoding", str, "--encoding", help="Text encoding of the CSV.", default="utf-8"),
    _option("date_format", _str, "--date-format", help="Format of every time stamp, e.g. %d.%m.%Y (inferred if not given; dates that read two ways are refused)."),
    _option("dayfirst", _bool, "--dayfirst/--monthfirst", help="Read dates such as 01.02.2020 day-first or month-first.", show_default="the data decides"),
    _option("thousands", _str, "--thousands", help="Thousands separator of the numbers, e.g. , or . (which makes , the decimal mark); detected if not given."),
    _option("id_column", _str, "--id-column", help="Column of series ids in a long-format CSV of many series (default: unique_id, if there is one)."),
    # What is known about the horizon: the known-future fields of DataOptions.
    _option("known", Optional[list[str]], "--known", help="Column whose future values you will supply at forecast time (--future FILE); repeat for several. An input, not a target."),
    _option("calendar", bool, "--calendar", help="Add the calendar the frequency implies (hour, weekday, day of year, month as periodic inputs), known for any horizon.", default=False),
    _option("holidays", _str, "--holidays", help="Add the public holidays of a country or region (US, DE, US-CA...) and the days around them as known inputs."),
    _option("static", _str, "--static", help="CSV of per-series attributes for many series: the id column, then numbers or categories (store type, region), as inputs."),
    _option("future", Optional[Path], "--future", help="CSV of the known columns' values (--known) for the steps to forecast, with the time column (and id column)."),
    # How to build and fit a model: the fields of TrainConfig (None: not given, the config's default).
    _option("strategy", _str, "--strategy", "-s", help="direct (all steps at once) or autoregressive (one step, fed back)."),
    _option("horizon", _int, "--horizon", "-H", help="Steps to forecast."),
    _option("window", _int, "--window", "-w", help="Past steps the model sees (auto: a few seasons)."),
    _option("units", _int, "--units", help="Units per layer."),
    _option("layers", _int, "--layers", help="Stacked recurrent layers."),
    _option("dropout", _float, "--dropout", help="Dropout between layers and before the head; MC-Dropout error bars need it (0 for none)."),
    _option("recurrent_dropout", _float, "--recurrent-dropout", help="Dropout on the recurrent state (slow kernel)."),
    _option("bidirectional", _bool, "--bidirectional", help="Wrap recurrent layers in Bidirectional (the window is all past data).", show_default=False),
    _option("seq2seq", _bool, "--seq2seq/--no-seq2seq", help="Train on a horizon-vector target at every time step (direct models).", show_default="the model's default"),
    _option("learning_rate", _float, "--lr", help="Adam learning rate."),
    _option("epochs", _int, "--epochs", help="Most epochs; early stopping usually ends sooner."),
    _option("batch_size", _int, "--batch-size", help="Windows per batch."),
    _option("patience", _int, "--patience", help="Epochs without validation gain before stopping."),
    _option("loss", _str, "--loss", help="mse, mae or huber."),
    _option("clipnorm", _float, "--clipnorm", help="Clip gradients to this norm."),
    _option("season", _int, "--season", help="Seasonal period in steps (auto: from the frequency)."),
    _option("validation_fraction", _float, "--validation-fraction", help="Share of the newest rows held out for validation."),
    _option("seed", _int, "--seed", help="Seed for reproducible training on CPU."),
    _option("distribute", _str, "--distribute", help="none, mirrored (every local GPU, or the CPU) or multi-worker (the cluster in TF_CONFIG; see docs/distributed.md)."),
    _option("preprocess", _str, "--preprocess", help="What the network learns: none (levels), difference, seasonal-difference, window-relative (each window minus its last value), seasonal-residual (the error of seasonal-naive, from the window minus its last value), or auto: the best on validation."),
    _option("fallback", _bool, "--fallback/--no-fallback", help="Keep naive or seasonal-naive (with known inputs, also seasonal-mean) instead of the network when it forecasts the validation part better (single models).", show_default="fallback"),
    _option("ensemble", _int, "--ensemble", help="Train K members and forecast their median: K seeds of --model (--seed, --seed+1, ...), or the best K of --model auto; MC error bars pool their samples."),
    # How to backtest: the fields of backtest.BacktestOptions.
    _option("folds", int, "--folds", help="Forecast origins on the tail of the data.", default=5),
    _option("stride", _int, "--stride", help="Steps between origins.", show_default="the horizon"),
    _option("retrain", bool, "--retrain", help="Refit at every origin instead of once before the first.", default=False),
    _option("mc_samples", _int, "--mc-samples", help="MC-Dropout passes per forecast: adds the coverage and mean width of the 90% interval.", show_default="off"),
]}
READING = ("fill", "resample", "delimiter", "encoding", "date_format", "dayfirst", "thousands")  # also of `forecast --data`
KNOWN = ("known", "calendar", "holidays", "static")
DATA = ("targets", "time_column", *READING, "id_column", *KNOWN)
TRAINING = tuple(name for name in OPTIONS if name in _TRAIN_DEFAULTS)
BACKTEST = ("folds", "stride", "retrain", "mc_samples", "horizon", "window", "strategy", "units", "layers", "epochs", "season", "seed", "ensemble")
# What the options of a backtest mean there, where it differs from `train`.
BACKTEST_HELP = {
    "horizon": "Steps to forecast from each origin.",
    "window": "Past steps the models see (auto: a few seasons).",
    "epochs": "Most epochs per fit; early stopping usually ends sooner.",
    "season": "Seasonal period in steps, for seasonal-naive and MASE (auto: from the frequency).",
    "seed": "Seed for reproducible fits on CPU.",
    "ensemble": "Fit K seeds of each trained model asked for and score their median (the baselines stay single).",
}
# What the reading options of `forecast` mean there: they read --data for the pretrained model,
# where a saved model reads it as it was trained.
ZERO_SHOT_HELP = {
    "targets": "Pretrained model: column to forecast; repeat for several (default: all numeric).",
    "time_column": "Pretrained model: column of time stamps (detected if not given).",
    "id_column": "Pretrained model: column of series ids in a long-format --data of many series (default: unique_id, if there is one).",
    "season": "Pretrained model: seasonal period in steps (auto: from the frequency; 1 for none).",
}

ModelDir = Annotated[Path, typer.Option("--model-dir", "-d", help="Directory of the saved model.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only results and errors.")]
Verbose = Annotated[bool, typer.Option("--verbose", help="Show TensorFlow's logs and tracebacks of internal errors.")]
Format = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
Output = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the result to this file instead of stdout.")]
DEFAULT_DIR = Path(DEFAULT_MODEL_DIR)
_LAST = ("model_dir", "lock_timeout", "output", "output_format", "quiet", "verbose")  # where results go, and how loud


def takes(*names: str, **helps: str) -> Callable[[Callable], Callable]:
    """Give a command (which ends in ``**options``) the shared options ``names``, listed after its
    own but before where its results go; ``helps`` rewords an option's help where it means
    something particular to this command."""

    def with_options(command: Callable) -> Callable:
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.kind is not p.VAR_KEYWORD]
        shared = [_reworded(OPTIONS[name], helps.get(name)) for name in names]
        first = [p for p in own if p.name not in _LAST]
        # The signature is what Typer reads the options from; keyword-only parameters come last in it.
        command.__signature__ = inspect.Signature([*first, *shared, *(p.replace(kind=p.KEYWORD_ONLY) for p in own if p.name in _LAST)])
        return command

    return with_options


def _reworded(parameter: inspect.Parameter, help: str | None) -> inspect.Parameter:
    if help is None:
        return parameter
    kind, option = get_args(parameter.annotation)
    option = copy.copy(option)
    option.help = help
    return parameter.replace(annotation=Annotated[kind, option])


def data_options(options: dict[str, Any]) -> DataOptions:
    """The ``DataOptions`` of the reading options a command was given (the others at their defaults)."""
    given = {f.name: options[f.name] for f in dataclasses.fields(DataOptions) if f.name in options}
    return DataOptions(**{**given, "targets": tuple(options.get("targets") or ()), "known": tuple(options.get("known") or ())})


def config_given(options: dict[str, Any]) -> dict[str, Any]:
    """The ``TrainConfig`` fields a command was given a value for."""
    return {name: value for name, value in options.items() if name in _TRAIN_DEFAULTS and value is not None}
