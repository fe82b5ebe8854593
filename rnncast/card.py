"""The schema of a model card, checked on load: a card edited by hand or damaged is refused with
the field at fault, instead of failing later inside a forecast with a KeyError or a shape error.

Only what forecasting relies on is checked: the types of the fields, and that they agree with
each other (each series' last window has ``config.window`` rows of every column, its scaler one
value per column, the targets are columns). Metrics, training facts and the source are only displayed.

Format version 2 holds one series or many alike, under ``series``; ``upgrade`` reads a card of
version 1 (top-level ``last_window`` and ``scaler`` for one series, ``panel`` for many) as version 2.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from rnncast.config import STRATEGIES, DataOptions
from rnncast.errors import ModelFileError

Kind = tuple[Callable[[Any], bool], str]


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


DICT: Kind = (lambda v: isinstance(v, dict), "an object")
OPTIONAL_DICT: Kind = (lambda v: v is None or isinstance(v, dict), "an object or null")
TEXT: Kind = (lambda v: isinstance(v, str), "a string")
OPTIONAL_TEXT: Kind = (lambda v: v is None or isinstance(v, str), "a string or null")
TIME: Kind = (lambda v: isinstance(v, str) or _integer(v), "a time stamp or a step number")
FREQ: Kind = (lambda v: v is None or isinstance(v, str) or _integer(v), "a frequency, a step or null")
OPTIONAL_INTEGER: Kind = (lambda v: v is None or _integer(v), "an integer or null")
POSITIVE: Kind = (lambda v: _integer(v) and v >= 1, "an integer of at least 1")
NAMES: Kind = (lambda v: isinstance(v, list) and bool(v) and all(isinstance(n, str) for n in v), "a non-empty list of names")
LIST: Kind = (lambda v: isinstance(v, list), "a list")
NUMBERS: Kind = (lambda v: isinstance(v, list) and all(_number(x) for x in v), "a list of numbers")
STRATEGY: Kind = (lambda v: v in STRATEGIES, f"one of {', '.join(STRATEGIES)}")

# The key of the one series of a wide file in ``series``: no id column, so no id.
ONE_SERIES = ""

FIELDS: dict[str, Kind] = {
    "config": DICT, "data_options": DICT, "columns": NAMES, "targets": NAMES, "time_column": OPTIONAL_TEXT,
    "freq": FREQ, "last_time": TIME, "id_column": OPTIONAL_TEXT, "series": DICT, "skipped": DICT, "metrics": DICT,
    "training": DICT, "source": DICT, "created": TEXT, "rnncast_version": TEXT,
}
# Fields added after the first cards of version 1, absent from those (and so from their upgrade).
OPTIONAL_FIELDS: dict[str, Kind] = {
    "files": DICT, "uncertainty": OPTIONAL_DICT, "preprocessing": OPTIONAL_DICT, "step_seconds": OPTIONAL_INTEGER,
    "ensemble": OPTIONAL_DICT, "time_format": OPTIONAL_TEXT,
}


def upgrade(values: dict[str, Any], path: Path) -> dict[str, Any]:
    """A card of format version 1 as version 2 (any other is returned as it is): the top-level
    ``last_window`` and ``scaler`` of one series become its entry under ``ONE_SERIES``, with the
    span of ``source``; a global model's ``panel`` gives ``id_column``, ``series`` and ``skipped``.

    Raises:
        ModelFileError: a field that moves is missing, of the wrong type or inconsistent, named as in version 1.
    """
    if values.get("format_version") != 1:
        return values
    card = _Fields(values, path)
    window, columns = card.get(("config", "window"), POSITIVE), len(card.get(("columns",), NAMES))
    if values.get("panel") is None:
        card.scaled_window((), window, columns)
        one = {"scaler": values["scaler"], "last_time": card.get(("last_time",), TIME), "last_window": values["last_window"],
               "rows": card.get(("source", "rows"), POSITIVE), "start": card.get(("source", "start"), TIME)}
        moved = {"id_column": None, "series": {ONE_SERIES: one}, "skipped": {}}
    else:
        moved = {key: card.get(("panel", key), kind) for key, kind in (("id_column", TEXT), ("series", DICT), ("skipped", DICT))}
        for key in moved["series"]:
            card.scaled_window(("panel", "series", key), window, columns)
    rest = {key: value for key, value in values.items() if key not in ("last_window", "scaler", "panel")}
    return {**rest, **moved, "format_version": 2}


def check_card(values: dict[str, Any], path: Path) -> None:
    """Check a card's fields against the schema.

    Raises:
        ModelFileError: names the first field that is missing, of the wrong type or inconsistent.
    """
    card = _Fields(values, path)
    for name, kind in FIELDS.items():
        card.get((name,), kind)
    for name, kind in OPTIONAL_FIELDS.items():
        if name in values:
            card.get((name,), kind)
    card.get(("config", "model"), TEXT)
    card.get(("config", "strategy"), STRATEGY)
    card.get(("config", "horizon"), POSITIVE)
    window = card.get(("config", "window"), POSITIVE)
    columns = values["columns"]
    for target in values["targets"]:
        if target not in columns:
            card.fail(("targets",), f"names {target!r}, which is not one of the columns ({', '.join(columns)})")
    series = values["series"]
    if values["id_column"] is None and list(series) != [ONE_SERIES]:
        card.fail(("series",), 'must hold the one series of a wide file, under the key "", when id_column is null')
    if not series:
        card.fail(("series",), "holds no series")
    for key in series:
        card.series(("series", key), window, len(columns))
    for key in values["skipped"]:
        card.get(("skipped", key), POSITIVE)
    known = {field.name for field in dataclasses.fields(DataOptions)}
    for key in values["data_options"]:
        if key not in known:
            card.fail(("data_options", key), "is not a way of reading a CSV that this rnncast knows")
    if values.get("uncertainty") is not None:
        card.calibration(("uncertainty",), len(values["targets"]))
    if values.get("preprocessing") is not None:
        card.preprocessing(("preprocessing",))
    if values.get("ensemble") is None:
        card.network(())
        return
    for i, _ in enumerate(card.get(("ensemble", "members"), LIST)):
        member = ("ensemble", "members", i)
        member_window = card.get((*member, "config", "window"), POSITIVE)
        if member_window > window:
            card.fail((*member, "config", "window"), f"is {member_window}, longer than config.window ({window})")
        card.preprocessing((*member, "preprocessing"))
        card.network(member)


Name = tuple[str | int, ...]


class _Fields:
    """Access to a card's nested fields that refuses, naming the field, whatever is not as expected."""

    def __init__(self, values: dict[str, Any], path: Path) -> None:
        self.values, self.path = values, path

    def fail(self, name: Name, problem: str) -> None:
        # The one series of a wide file has the empty key: series."".last_window, not series..last_window.
        field = ".".join('""' if part == ONE_SERIES else str(part) for part in name)
        raise ModelFileError(
            f"{self.path}: field '{field}' {problem}; the model directory was edited or damaged — train again."
        )

    def get(self, name: Name, kind: Kind) -> Any:
        value: Any = self.values
        for part in name:
            if isinstance(part, int) and isinstance(value, list) and part < len(value):
                value = value[part]
            elif isinstance(part, str) and isinstance(value, dict) and part in value:
                value = value[part]
            else:
                self.fail(name, "is missing")
        accepts, expected = kind
        if not accepts(value):
            got = repr(value) if len(repr(value)) <= 40 else type(value).__name__
            self.fail(name, f"must be {expected}, not {got}")
        return value

    def series(self, prefix: Name, window: int, columns: int) -> None:
        """One series of ``series``: its span, and its scaler and last window."""
        self.get((*prefix, "last_time"), TIME)
        self.get((*prefix, "start"), TIME)
        self.get((*prefix, "rows"), POSITIVE)
        self.scaled_window(prefix, window, columns)

    def scaled_window(self, prefix: Name, window: int, columns: int) -> None:
        """The scaler and last window of one series: one value per column, ``window`` rows."""
        for part in ("mean", "scale"):
            if len(self.get((*prefix, "scaler", part), NUMBERS)) != columns:
                self.fail((*prefix, "scaler", part), f"must have one value per column ({columns})")
        rows = self.get((*prefix, "last_window"), LIST)
        if len(rows) != window:
            self.fail((*prefix, "last_window"), f"has {len(rows)} rows; config.window is {window}")
        for i, _ in enumerate(rows):
            if len(self.get((*prefix, "last_window", i), NUMBERS)) != columns:
                self.fail((*prefix, "last_window", i), f"must have one value per column ({columns})")

    def calibration(self, prefix: Name, targets: int) -> None:
        """The interval calibration: per level, a table of factors per step and target."""
        levels = self.get((*prefix, "levels"), NUMBERS)
        if len(self.get((*prefix, "raw_coverage"), NUMBERS)) != len(levels):
            self.fail((*prefix, "raw_coverage"), f"must have one value per level ({len(levels)})")
        for key in ("samples", "windows"):
            self.get((*prefix, key), POSITIVE)
        # Cards written before signed scores hold one symmetric "factors" table.
        sides = ("factors",) if "factors" in self.get(prefix, DICT) else ("lower_factors", "upper_factors")
        for side in sides:
            if len(self.get((*prefix, side), LIST)) != len(levels):
                self.fail((*prefix, side), f"must have one table per level ({len(levels)})")
            for i, _ in enumerate(levels):
                for j, _ in enumerate(self.get((*prefix, side, i), LIST)):
                    if len(self.get((*prefix, side, i, j), NUMBERS)) != targets:
                        self.fail((*prefix, side, i, j), f"must have one value per target ({targets})")

    def preprocessing(self, prefix: Name) -> None:
        self.get((*prefix, "method"), TEXT)
        self.get((*prefix, "lag"), (lambda v: _integer(v) and v >= 0, "an integer of at least 0"))
        self.get((*prefix, "scale"), NUMBERS)

    def network(self, prefix: Name) -> None:
        """The file names and hashes of one network; the files themselves are checked by ``store.load``."""
        for key in ("keras", "keras_sha256"):
            self.get((*prefix, "files", key), TEXT)
