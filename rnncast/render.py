"""Turning results into the text a user asked for: CSV, JSON or a rich table."""

from __future__ import annotations

import csv
import enum
import io
import json
import shutil
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


class OutputFormat(str, enum.Enum):
    csv = "csv"
    json = "json"
    table = "table"


def forecast_text(frame: "pd.DataFrame", output_format: OutputFormat) -> str:
    """A forecast frame (time index, one column per target) as CSV, JSON or a table; a frame of
    many series is indexed by (id, time) and comes out in long format.

    JSON shape: ``{"time_column": str, "targets": [str], "forecast": [{time_column: str|int, target: float}]}``,
    with ``"id_column": str`` first and the id in each row for many series.
    """
    if output_format is OutputFormat.csv:
        return frame.to_csv()
    table = frame.reset_index()
    time_column = frame.index.names[-1]
    table[time_column] = _index_values(frame.index.get_level_values(-1))
    if output_format is OutputFormat.json:
        ids = {"id_column": frame.index.names[0]} if frame.index.nlevels > 1 else {}
        document = {
            **ids,
            "time_column": time_column,
            "targets": list(frame.columns),
            "forecast": table.to_dict(orient="records"),
        }
        return json.dumps(document, indent=2) + "\n"
    return rich_table_text(list(table.columns), table.itertuples(index=False))


def _index_values(index: "pd.Index") -> list[Any]:
    import pandas as pd

    return list(index.astype(str)) if isinstance(index, pd.DatetimeIndex) else [int(v) for v in index]


def records_text(rows: list[dict[str, Any]], output_format: OutputFormat) -> str:
    """Rows of plain values (one dict per row) as CSV, JSON (a list of objects) or a table."""
    if output_format is OutputFormat.json:
        return json.dumps(rows, indent=2) + "\n"
    columns = list(rows[0]) if rows else []
    if output_format is OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()
    return rich_table_text(columns, ([row[c] for c in columns] for row in rows))


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
