"""A forecast as a PNG: the recent history, the forecast mean and its error band, one panel per target."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rnncast.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd


def write_plot(path: str | os.PathLike[str], history: "pd.DataFrame", forecast: "pd.DataFrame",
               interval: float | None = None) -> None:
    """Draw ``history`` and ``forecast`` (with ``<target>_lower``/``_upper`` columns when present) to a PNG.

    Raises:
        UsageError: the file cannot be written.
    """
    # A bare Figure renders with Agg and leaves pyplot's global state and any display alone.
    from matplotlib.figure import Figure

    targets = list(history.columns)
    figure = Figure(figsize=(10, 2.8 * len(targets) + 0.6), layout="constrained")
    axes = figure.subplots(len(targets), 1, sharex=True, squeeze=False)[:, 0]
    for axis, name in zip(axes, targets):
        axis.plot(history.index, history[name], color="0.25", label="history")
        # Start the forecast line at the last observation so the two read as one curve.
        joined_index = history.index[-1:].append(forecast.index)
        joined = [history[name].iloc[-1], *forecast[name]]
        axis.plot(joined_index, joined, color="C0", label="forecast" + (" (MC mean)" if f"{name}_std" in forecast else ""))
        if f"{name}_lower" in forecast:
            band = f"{interval:.0%} interval" if interval is not None else "interval"
            axis.fill_between(forecast.index, forecast[f"{name}_lower"], forecast[f"{name}_upper"],
                              color="C0", alpha=0.25, linewidth=0, label=band)
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
        axis.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel(history.index.name or "step")
    axes[-1].tick_params(axis="x", labelrotation=20)
    try:
        figure.savefig(path, format="png", dpi=100)
    except OSError as error:
        raise UsageError(f"`--plot` {path}: cannot write ({error.strerror or error}).") from None
