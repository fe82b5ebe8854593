"""What the forecast numbers may be: what training saw of each target's values (its decimal places,
whether it was ever negative), and the forecast columns held to it."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

log = logging.getLogger("rnncast")

# Forecasts keep this many digits beyond the data's own: a forecast of 2863 prints as 2863.0, not
# 2862.9999407444757 (float32 round-off), and a mean of integers keeps its fraction.
EXTRA_DIGITS = 2
# Data written with more decimal places than this is treated as full precision: not rounded.
MAX_DECIMALS = 10
# A horizon beyond this many trained horizons warns: validation measured the errors up to the
# trained horizon only, and further steps rest on forecasts fed back as inputs (chained direct
# blocks, autoregressive steps), so their errors compound with nothing to bound them.
FAR = 4


def observed(values: np.ndarray, targets: Sequence[str]) -> dict[str, dict[str, Any]]:
    """For the card, per target (``values [rows, targets]``): its decimal places (None beyond
    ``MAX_DECIMALS``) and whether it was never negative."""
    return {
        "decimals": {name: decimals(values[:, t]) for t, name in enumerate(targets)},
        "non_negative": {name: bool(np.nanmin(values[:, t]) >= 0) for t, name in enumerate(targets)},
    }


def decimals(values: np.ndarray) -> int | None:
    """The fewest decimal places that reproduce every finite value, or None if more than ``MAX_DECIMALS``."""
    finite = values[np.isfinite(values)]
    for places in range(MAX_DECIMALS + 1):
        if np.allclose(np.round(finite, places), finite, rtol=1e-12, atol=0):
            return places
    return None


def held_to_data(columns: dict[str, np.ndarray], targets: Sequence[str], source: dict[str, Any],
                 allow_negative: bool = False) -> dict[str, np.ndarray]:
    """Forecast ``columns`` (per target, its value and any ``_std``, ``_lower`` and ``_upper``) with
    the values and bounds of a target never negative in training clipped at 0 (unless
    ``allow_negative``), and every column rounded to the target's decimals plus ``EXTRA_DIGITS``.
    ``source`` is the card's; a card saved before these facts leaves the columns as they are."""
    places = source.get("decimals", {})
    non_negative = {} if allow_negative else source.get("non_negative", {})
    held = dict(columns)
    for target in targets:
        for name in (target, f"{target}_std", f"{target}_lower", f"{target}_upper"):
            if name not in held:
                continue
            if non_negative.get(target) and name != f"{target}_std":
                held[name] = np.maximum(held[name], 0.0)
            if places.get(target) is not None:
                held[name] = np.round(held[name], places[target] + EXTRA_DIGITS)
    return held


def warn_if_far(horizon: int, trained: int) -> None:
    """One warning when ``horizon`` is more than ``FAR`` trained horizons."""
    if horizon > FAR * trained:
        log.warning(
            "--horizon %d is %.0f times the trained horizon %d, the furthest validated: the model feeds its own forecasts back "
            "that far, so errors compound unchecked (a trend may carry values anywhere); train with a longer --horizon to validate it.",
            horizon, horizon / trained, trained,
        )
