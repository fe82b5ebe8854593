"""Time stamps of forecast steps without pandas, so that a cold ``rnncast forecast`` skips its import.

Only series on a fixed step (seconds to weeks) in naive or UTC time are handled here; calendar
frequencies (months, business days) return None and the caller uses pandas.
"""

from __future__ import annotations

import numpy as np

SECONDS_PER_DAY = 86_400
UTC_SUFFIX = "+00:00"


def fixed_step_seconds(freq: str | None) -> int | None:
    """Whole seconds between consecutive rows of a pandas frequency, if it is a fixed duration."""
    if freq is None:
        return None
    import pandas as pd
    from pandas.tseries.frequencies import to_offset

    offset = to_offset(freq)
    if isinstance(offset, pd.offsets.Tick):
        nanos = offset.nanos
    elif isinstance(offset, pd.offsets.Day):
        nanos = offset.n * SECONDS_PER_DAY * 10**9
    elif isinstance(offset, pd.offsets.Week):
        # An anchored week (W-SUN) is a fixed 7 days on a series that lies on its anchor.
        nanos = offset.n * 7 * SECONDS_PER_DAY * 10**9
    else:
        return None
    return nanos // 10**9 if nanos > 0 and nanos % 10**9 == 0 else None


def future_labels(last: str, step_seconds: int, horizon: int) -> list[str] | None:
    """The ``horizon`` time stamps after ISO time ``last``, as pandas prints them, or None where
    that needs pandas (an offset other than UTC, fractional seconds)."""
    utc = last.endswith(UTC_SUFFIX)
    stamp = last.removesuffix(UTC_SUFFIX)
    if len(stamp) != len("2000-01-01T00:00:00"):  # another offset, or fractional seconds
        return None
    start = np.datetime64(stamp, "s")
    times = start + np.arange(1, horizon + 1) * np.timedelta64(step_seconds, "s")
    seconds = times.astype(np.int64)
    if not utc and (seconds % SECONDS_PER_DAY == 0).all():
        return [str(t) for t in times.astype("datetime64[D]")]
    return [str(t).replace("T", " ") + (UTC_SUFFIX if utc else "") for t in times]
