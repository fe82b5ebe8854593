"""Settings that travel together, validated once and stored in the model card."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from rnncast.errors import UsageError

Strategy = Literal["direct", "autoregressive"]
STRATEGIES = ("direct", "autoregressive")
FILL_METHODS = ("ffill", "interpolate")
LOSSES = ("mse", "mae", "huber")
DISTRIBUTE = ("none", "mirrored", "multi-worker")
# "auto" picks one of the others on the validation part (rnncast.preprocessing.select_preprocessing).
PREPROCESS_CHOICES = ("auto", "none", "difference", "seasonal-difference", "window-relative", "seasonal-residual")


def _require(condition: bool, option: str, expected: str, received: Any) -> None:
    if not condition:
        raise UsageError(f"`--{option}` must be {expected}. Received: {received}.")


@dataclasses.dataclass(frozen=True)
class DataOptions:
    """How to read a CSV: which columns mean what, and how to repair it."""

    time_column: str | None = None
    targets: tuple[str, ...] = ()
    fill: str | None = None
    resample: str | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    id_column: str | None = None
    # One strftime format for every time stamp (or "ISO8601"); None: inferred, ambiguity refused.
    date_format: str | None = None
    # Read dates such as 01.02.2020 day-first (True) or month-first (False); None: the data decides.
    dayfirst: bool | None = None
    # Thousands separator of numbers written as text; None: detected per column.
    thousands: str | None = None
    # Columns whose values over the horizon the user supplies at forecast time (--known, --future).
    known: tuple[str, ...] = ()
    # Inputs rnncast computes for any time stamp: periodic calendar encodings, a country's holidays.
    calendar: bool = False
    holidays: str | None = None
    # Holidays of --holidays that training found the data does not set apart (``calendars.unnoticed_holidays``):
    # learned, not an option, so no command declares it.
    holidays_left_out: tuple[str, ...] = dataclasses.field(default=(), metadata={"learned": True})
    # A CSV of per-series attributes (id column, numbers or categories) for many series (--static).
    static: str | None = None

    def __post_init__(self) -> None:
        _require(
            self.fill is None or self.fill in FILL_METHODS,
            "fill", f"one of {', '.join(FILL_METHODS)}", self.fill,
        )
        _require(
            self.delimiter is None or len(self.delimiter) == 1,
            "delimiter", "a single character", repr(self.delimiter),
        )
        _require(
            self.date_format is None or "%" in self.date_format or self.date_format == "ISO8601",
            "date-format", "a strftime format such as %d.%m.%Y, or ISO8601", repr(self.date_format),
        )
        _require(
            self.thousands is None or (len(self.thousands) == 1 and not self.thousands.isalnum()),
            "thousands", "a single character that is not a letter or digit, such as , or .", repr(self.thousands),
        )
        if self.holidays is not None:
            from rnncast.calendars import check_country

            # Checked and spelt as recorded (de-by: DE-BY) before any data is read.
            object.__setattr__(self, "holidays", check_country(self.holidays))

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "targets": list(self.targets), "known": list(self.known),
                "holidays_left_out": list(self.holidays_left_out)}

    def over(self, saved: dict[str, Any]) -> "DataOptions":
        """The options a model was trained with (``saved``, from its card), with those set here
        (the ones that differ from the defaults) replacing them."""
        default = DataOptions()
        given = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(default, f.name)}
        return dataclasses.replace(DataOptions.from_dict(saved), **given)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "DataOptions":
        return cls(**{**values, "targets": tuple(values.get("targets", ())), "known": tuple(values.get("known", ())),
                      "holidays_left_out": tuple(values.get("holidays_left_out", ()))})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a model is built and fitted.

    ``window`` of None means "choose from the season and the horizon"; ``seq2seq`` of None means
    "the model's default" (``rnncast.models.configure`` fills it in).
    """

    model: str = "gru"
    strategy: Strategy = "direct"
    horizon: int = 10
    window: int | None = None
    units: int = 32
    layers: int = 2
    # Dropout layers (not recurrent_dropout) by default, so that any recurrent model can give
    # MC-Dropout error bars: measured in benchmarks/uncertainty.py --placement and docs/uncertainty.md.
    dropout: float = 0.1
    recurrent_dropout: float = 0.0
    bidirectional: bool = False
    seq2seq: bool | None = None
    learning_rate: float = 0.005
    epochs: int = 100
    batch_size: int = 32
    patience: int = 10
    loss: str = "mse"
    clipnorm: float | None = None
    validation_fraction: float = 0.2
    season: int | None = None
    seed: int | None = None
    distribute: str = "none"
    preprocess: str = "auto"
    # Keep naive or seasonal-naive instead of the network when it forecasts the validation part
    # better (training.fit); backtests of a named model turn it off, so they measure that model.
    fallback: bool = True
    # Members of an ensemble forecasting their median (rnncast.ensemble); 1 is a single model.
    ensemble: int = 1

    def __post_init__(self) -> None:
        _require(self.strategy in STRATEGIES, "strategy", f"one of {', '.join(STRATEGIES)}", self.strategy)
        _require(self.horizon >= 1, "horizon", "at least 1", self.horizon)
        _require(self.window is None or self.window >= 1, "window", "at least 1", self.window)
        _require(self.units >= 1, "units", "at least 1", self.units)
        _require(self.layers >= 1, "layers", "at least 1", self.layers)
        _require(0 <= self.dropout < 1, "dropout", "in [0, 1)", self.dropout)
        _require(0 <= self.recurrent_dropout < 1, "recurrent-dropout", "in [0, 1)", self.recurrent_dropout)
        _require(self.learning_rate > 0, "lr", "positive", self.learning_rate)
        _require(self.epochs >= 1, "epochs", "at least 1", self.epochs)
        _require(self.batch_size >= 1, "batch-size", "at least 1", self.batch_size)
        _require(self.patience >= 0, "patience", "at least 0", self.patience)
        _require(self.loss in LOSSES, "loss", f"one of {', '.join(LOSSES)}", self.loss)
        _require(self.clipnorm is None or self.clipnorm > 0, "clipnorm", "positive", self.clipnorm)
        _require(
            0 < self.validation_fraction < 0.9,
            "validation-fraction", "in (0, 0.9)", self.validation_fraction,
        )
        _require(self.season is None or self.season >= 1, "season", "at least 1", self.season)
        _require(self.distribute in DISTRIBUTE, "distribute", f"one of {', '.join(DISTRIBUTE)}", self.distribute)
        _require(self.preprocess in PREPROCESS_CHOICES, "preprocess", f"one of {', '.join(PREPROCESS_CHOICES)}", self.preprocess)
        _require(self.ensemble >= 1, "ensemble", "at least 1 (1 is a single model)", self.ensemble)

    @property
    def output_steps(self) -> int:
        """How many steps one forward pass of the network predicts."""
        return self.horizon if self.strategy == "direct" else 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        return cls(**values)
