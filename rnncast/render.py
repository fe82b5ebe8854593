"""Turning results into the text a user asked for: CSV, JSON or a rich table; and the chatter
beside them on stderr: progress bars and plain lines."""

from __future__ import annotations

import contextlib
import csv
import enum
import io
import json
import logging
import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from rnncast.errors import ENVIRONMENT_ERRNOS, OUT_OF_SPACE, EnvironmentFailure, ExitStatus, UsageError

from rnncast.jsonable import json_safe

if TYPE_CHECKING:
    import pandas as pd

    from rnncast.api import Forecast


def setup_output(quiet: bool, verbose: bool) -> None:
    """Warnings on stderr as ``warning: ...`` lines (only errors with ``quiet``); ``verbose`` lets
    a bug's traceback through (``cli.run``) and libraries' own warnings."""
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


def emit(text: str, output: Optional[Path] = None) -> None:
    """Write a result to stdout, or to ``output``; a machine that cannot take it is an ``EnvironmentFailure``.

    Raises:
        typer.Exit: the reader of a pipe went away, with ``ExitStatus.BROKEN_PIPE`` and nothing said.
    """
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
                import typer

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



class OutputFormat(str, enum.Enum):
    csv = "csv"
    json = "json"
    table = "table"


def forecast_text(forecast: "Forecast | pd.DataFrame", output_format: OutputFormat) -> str:
    """A forecast (time index, one column per target) as CSV, JSON or a table; a frame of many
    series is indexed by (id, time) and comes out in long format. A ``Forecast`` of one series
    is printed without importing pandas.

    JSON shape: ``{"time_column": str, "targets": [str], "forecast": [{time_column: str|int, target: float}]}``,
    with ``"id_column": str`` first and the id in each row for many series.
    """
    from rnncast.api import Forecast  # here: `--help` renders nothing and stays light

    if isinstance(forecast, Forecast):
        index_names = [forecast.card.time_column or "step"]
        labels = [[label] for label in forecast.time_labels()]
        columns = {name: values.tolist() for name, values in forecast.columns.items()}
    else:
        index = forecast.index
        index_names = list(index.names)
        levels = [list(index.get_level_values(level)) for level in range(index.nlevels - 1)]
        labels = [list(row) for row in zip(*levels, _index_values(index.get_level_values(-1)))]
        columns = {name: forecast[name].tolist() for name in forecast.columns}
    names = [*index_names, *columns]
    rows = [[*label, *values] for label, values in zip(labels, zip(*columns.values()))]
    if output_format is OutputFormat.csv:
        return _csv_text(names, rows)
    if output_format is OutputFormat.json:
        ids = {"id_column": index_names[0]} if len(index_names) > 1 else {}
        document = {
            **ids,
            "time_column": index_names[-1],
            "targets": list(columns),
            "forecast": [dict(zip(names, row)) for row in rows],
        }
        return json_text(document)
    return rich_table_text(names, rows)


def json_text(document: Any) -> str:
    """``document`` as strict JSON, the one way rnncast prints JSON: a number that is undefined
    (NaN, an infinity) is ``null``, which every parser accepts, where ``NaN`` is not JSON."""
    return json.dumps(json_safe(document), indent=2, allow_nan=False) + "\n"


def _index_values(index: "pd.Index") -> list[Any]:
    import pandas as pd

    return list(index.astype(str)) if isinstance(index, pd.DatetimeIndex) else [int(v) for v in index]


def records_text(rows: list[dict[str, Any]], output_format: OutputFormat) -> str:
    """Rows of plain values (one dict per row) as CSV, JSON (a list of objects) or a table."""
    if output_format is OutputFormat.json:
        return json_text(rows)
    columns = list(rows[0]) if rows else []
    values = [[row[c] for c in columns] for row in rows]
    if output_format is OutputFormat.csv:
        return _csv_text(columns, values)
    return rich_table_text(columns, values)


def _csv_text(columns: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def rich_table_text(columns: list[str], rows) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, show_edge=False)
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    buffer = io.StringIO()
    # Wrapping cells only helps on a terminal; piped output keeps each row on one line.
    width = shutil.get_terminal_size((80, 24)).columns if sys.stdout.isatty() else 400
    Console(file=buffer, width=width, color_system=None).print(table)
    return buffer.getvalue()


def _cell(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def say(lines: list[str]) -> None:
    """Chatter (never a result) on stderr, as plain text."""
    console = _stderr_console()
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)


@contextlib.contextmanager
def epoch_progress(enabled: bool):
    """A bar of training epochs on stderr; yields the ``on_epoch(epoch, epochs, logs)`` of
    ``api.train``, or None when disabled."""
    with _progress(enabled, "training", "epoch {task.completed}/{task.total}", "{task.fields[losses]}", losses="") as update:
        yield update and (lambda epoch, epochs, logs: update(
            completed=epoch, total=epochs,
            losses=f"loss {logs.get('loss', float('nan')):.4g}  val {logs.get('val_loss', float('nan')):.4g}"))


@contextlib.contextmanager
def fit_progress(enabled: bool):
    """A bar of the fits of a backtest on stderr; yields its ``on_fit(model, done, total)``, or None when disabled."""
    with _progress(enabled, "backtesting {task.fields[model]}", "{task.completed}/{task.total}", model="") as update:
        yield update and (lambda model, done, total: update(completed=done, total=total, model=model))


@contextlib.contextmanager
def _progress(enabled: bool, label: str, *columns: str, **fields: Any):
    """A transient progress bar on stderr, yielding its ``update(**values)``; None when disabled."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn(label), BarColumn(), *map(TextColumn, columns), TimeElapsedColumn(),
                        console=_stderr_console(), transient=True)
    task = progress.add_task(label, total=None, **fields)
    with progress:
        yield lambda **values: progress.update(task, **values)


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)
