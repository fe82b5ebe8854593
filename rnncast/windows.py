"""Window and origin arithmetic shared by training, calibration, selection and backtests: how
many rows a model needs, where the validation tail starts, and which windows to score."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

MAX_VALIDATION_ORIGINS = 1000


def default_window(season: int | None, horizon: int, n_rows: int, fraction: float) -> int:
    """A few seasons of context, at least twice the horizon, capped so that many windows remain,
    but never less than one season where ``n_rows`` hold a window of it (``fraction``: the
    validation share): a shorter window hides a phase of the season from the network, and
    seasonal-naive, which needs a season of history, could not be the fallback. On four years of
    monthly data (48 rows, horizon 12) the capped window of 9 rows left a gru 2-3 times worse than
    seasonal-naive on two of the real series of ``benchmarks/real_world.py``, with nothing to fall back on."""
    preferred = max(3 * (season or 0), 2 * horizon, 24)
    window = max(1, min(preferred, n_rows // 5))
    if season and window < season and minimum_rows(season, horizon, fraction) <= n_rows:
        return season
    return window


def minimum_rows(window: int, horizon: int, fraction: float) -> int:
    """Fewest rows leaving one training window and a validation tail of at least ``horizon`` rows."""
    n_rows = window + 2 * horizon
    while n_rows - validation_rows(n_rows, horizon, fraction) < window + horizon:
        n_rows += 1
    return n_rows


def validation_rows(n_rows: int, horizon: int, fraction: float) -> int:
    return max(math.ceil(n_rows * fraction), horizon)


def window_phrase(given: int | None, window: int) -> str:
    """How a message names the window: the option the user passed, or the size rnncast chose."""
    return f"--window {window}" if given else f"the default window of {window} rows"


def origins(n_rows: int, window: int, horizon: int, limit: int = MAX_VALIDATION_ORIGINS) -> np.ndarray:
    """Start rows of up to ``limit`` evenly spaced windows whose horizon fits in ``n_rows``."""
    count = n_rows - window - horizon + 1
    return np.unique(np.linspace(0, count - 1, min(count, limit)).round().astype(int))


def cut_windows(tails: Sequence[np.ndarray], starts: Sequence[np.ndarray], scalers: Sequence[Any], window: int,
                horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """The windows of every series that start at ``starts``, scaled by each series' scaler (a
    ``preprocessing.Standardizer``), and the ``horizon`` rows after each."""
    steps = np.arange(window + horizon)
    rows = np.concatenate([scaler.transform(tail[first[:, None] + steps]) for tail, first, scaler in zip(tails, starts, scalers)])
    return rows[:, :window], rows[:, window:]


def seasonal_rows(window: int, steps: int, season: int, every: bool = False) -> np.ndarray:
    """The weights ``[steps, window]`` over a window's rows of the rows a whole number of seasons
    before each future step (``season <= window``): 1 on the latest (seasonal-naive's repeat), or
    with ``every`` equal weights on all that the window holds (seasonal-mean's)."""
    weights = np.zeros((steps, window))
    for step in range(steps):
        # Future step ``step`` is row ``window + step``; m seasons before it is observed from m = ceil((step + 1) / season).
        rows = window + step - season * np.arange(-(-(step + 1) // season), (window + step) // season + 1)
        weights[step, rows if every else rows[:1]] = 1 / len(rows) if every else 1
    return weights
