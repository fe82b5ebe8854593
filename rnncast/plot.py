"""A forecast as an image (PNG, JPEG, SVG or PDF, as the file name says): the recent history, the
forecast mean and its error band, one panel per target (and per series, for many)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from rnncast.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

# The suffixes matplotlib writes without extra software, and the format each names.
FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".svg": "svg", ".pdf": "pdf"}
# Series of a global model drawn at most (the first of the forecast; --id picks others).
PLOT_SERIES = 6


def image_format(path: str | os.PathLike[str]) -> str:
    """The image format the suffix of ``path`` names.

    Raises:
        UsageError: a suffix that names no supported format.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(
            f"`--plot` {path}: {f'{suffix} is not an image format rnncast writes' if suffix else 'the file name has no suffix'}; "
            f"end it in {', '.join(FORMATS)}."
        )
    return FORMATS[suffix]


def write_plot(path: str | os.PathLike[str], history: "pd.DataFrame", forecast: "pd.DataFrame",
               interval: float | None = None) -> None:
    """Draw ``history`` and ``forecast`` (with ``<target>_lower``/``_upper`` columns when present) to an
    image in the format of the file's suffix. Frames indexed by (id, time) hold many series: the
    first ``PLOT_SERIES`` of the forecast are drawn, one row per series and target.

    Raises:
        UsageError: the suffix names no supported format, or the file cannot be written.
    """
    # A bare Figure renders with Agg and leaves pyplot's global state and any display alone.
    from matplotlib.figure import Figure

    targets = list(history.columns)
    if forecast.index.nlevels > 1:
        keys = list(dict.fromkeys(forecast.index.get_level_values(0)))[:PLOT_SERIES]
        panels = [(f"{key}: ", history.xs(key, level=0), forecast.xs(key, level=0)) for key in keys]
    else:
        panels = [("", history, forecast)]
    rows = len(panels) * len(targets)
    figure = Figure(figsize=(10, 2.8 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, 1, sharex=len(panels) == 1, squeeze=False)[:, 0]
    for axis, (label, past, future, name) in zip(axes, [(*panel, name) for panel in panels for name in targets]):
        axis.plot(past.index, past[name], color="0.25", label="history")
        # Start the forecast line at the last observation so the two read as one curve.
        joined_index = past.index[-1:].append(future.index)
        joined = [past[name].iloc[-1], *future[name]]
        axis.plot(joined_index, joined, color="C0", label="forecast" + (" (MC mean)" if f"{name}_std" in future else ""))
        if f"{name}_lower" in future:
            band = f"{interval:.0%} interval" if interval is not None else "interval"
            axis.fill_between(future.index, future[f"{name}_lower"], future[f"{name}_upper"],
                              color="C0", alpha=0.25, linewidth=0, label=band)
        axis.set_ylabel(label + name)
        axis.grid(alpha=0.3)
        axis.legend(loc="best", fontsize="small")
        axis.tick_params(axis="x", labelrotation=20)
    axes[-1].set_xlabel(history.index.names[-1] or "step")
    try:
        figure.savefig(path, format=image_format(path), dpi=100)
    except OSError as error:
        raise UsageError(f"`--plot` {path}: cannot write ({error.strerror or error}).") from None
