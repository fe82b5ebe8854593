"""Calendar and public-holiday inputs that rnncast computes itself, for the data and the horizon.

Both functions take time stamps (a numpy ``datetime64`` array, ISO strings, or a pandas
``DatetimeIndex``/``Series``) and the series' pandas frequency alias (``D``, ``h``, ``W-SUN``,
``MS``, ``QE-DEC`` ...) and return the new columns as ``{name: float64 array}`` in a stable order,
one value per stamp. Neither needs pandas: a cold forecast of one series builds its future stamps
without it (``timeaxis``), and the features of those stamps come from here. The ``holidays``
package is imported only when holidays are asked for.
"""

from __future__ import annotations

import difflib
import functools
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from rnncast.errors import UsageError

# A pandas offset alias: an optional multiple, the base code (case matters: MS is months, ms
# milliseconds) and an optional anchor (W-SUN, QS-JAN), which moves no stamp's calendar position.
ALIAS = re.compile(r"^\s*(\d*)\s*([A-Za-z]+)(?:-[A-Za-z]+)?\s*$")
# What a step of each pandas base code is, by the calendar features it implies. Old spellings
# (H, T, S, M, Q, A) beside the new ones, since saved cards may hold either.
SUB_DAILY = {"h": 3600, "H": 3600, "bh": 3600, "BH": 3600, "cbh": 3600, "CBH": 3600, "min": 60, "T": 60,
             "s": 1, "S": 1, "ms": 1e-3, "L": 1e-3, "us": 1e-6, "U": 1e-6, "ns": 1e-9, "N": 1e-9}
DAILY = {"D": 7, "B": 5, "C": 5}  # code: its steps in one week
WEEKLY = {"W"}
SEMI_MONTHLY = {"SM", "SMS", "SME"}
MONTHLY = {"M", "ME", "MS", "BM", "BME", "BMS", "CBM", "CBME", "CBMS"}
QUARTERLY = {"Q", "QE", "QS", "BQ", "BQE", "BQS"}
YEARLY = {"A", "AS", "BA", "BAS", "Y", "YE", "YS", "BY", "BYE", "BYS"}
SECONDS_PER_DAY = 86_400
# ISO text with a UTC offset after its time (timeaxis writes 2024-02-01 01:00:00+00:00): numpy would
# shift it to UTC, and warn; the wall-clock time before the offset is the one a person lives by.
WITH_OFFSET = re.compile(r"^(.*[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)(?:Z|[+-]\d\d:?\d\d)$")
HOLIDAY_NAMES = ("holiday", "holiday_eve", "holiday_after")


def calendar_features(stamps: Any, freq: str | int | None) -> dict[str, np.ndarray]:
    """Sine and cosine encodings of the calendar cycles a frequency implies, one value per stamp.

    Sub-daily: hour of day (``hour_sin``/``hour_cos``, from the time of day, minutes included)
    and day of week (``dow_*``); daily and business-daily: day of week and day of year (``doy_*``,
    the position in that year, so 1 January is 0 in leap years too); weekly: week of year
    (``woy_*``, the same annual position); semi-monthly: day of year; monthly: month of year
    (``month_*``); quarterly: quarter of year (``quarter_*``). A cycle that a multiple of the step
    fixes (``7D`` for the day of week, ``12MS`` for the month) carries nothing and is left out.

    Raises:
        UsageError: the series has no dated time column, or a yearly (or coarser) step.
    """
    days = _days(stamps)
    features = {}
    for name, position in _cycles(freq, "--calendar"):
        angle = 2 * np.pi * position(days)
        features[f"{name}_sin"], features[f"{name}_cos"] = np.sin(angle), np.cos(angle)
    return features


def _cycles(freq: str | int | None, option: str) -> list[tuple[str, Callable[[np.ndarray], np.ndarray]]]:
    """(name, position in the cycle in [0, 1) as a function of fractional days since 1970) of
    each cycle ``freq`` implies."""
    multiple, code = _parse(freq, option)
    if code in SUB_DAILY:
        step = multiple * SUB_DAILY[code]
        cycles = [("hour", _time_of_day)] if step % SECONDS_PER_DAY else []
        cycles += [("dow", _day_of_week)] if step % (7 * SECONDS_PER_DAY) else []
    elif code in DAILY:
        cycles = [("dow", _day_of_week)] if multiple % DAILY[code] else []
        cycles.append(("doy", _day_of_year))
    elif code in WEEKLY:
        cycles = [("woy", _day_of_year)]
    elif code in SEMI_MONTHLY:
        cycles = [("doy", _day_of_year)]
    elif code in MONTHLY:
        cycles = [("month", _month_of_year)] if multiple % 12 else []
    elif code in QUARTERLY:
        cycles = [("quarter", _quarter_of_year)] if multiple % 4 else []
    else:  # yearly
        cycles = []
    if not cycles:
        why = f"{freq!r} is yearly" if code in YEARLY else f"a step of {freq!r} always lands on the same calendar position"
        raise _undated(option, why)
    return cycles


def _parse(freq: str | int | None, option: str) -> tuple[int, str]:
    """(multiple, base code) of a pandas frequency alias."""
    if not isinstance(freq, str):
        raise _undated(option, "the data has no time column of dates" if freq is None else "the time column holds integer steps")
    match = ALIAS.match(freq)
    multiple, code = (int(match.group(1) or 1), match.group(2)) if match else (0, "")
    if multiple < 1 or not any(code in codes for codes in (SUB_DAILY, DAILY, WEEKLY, SEMI_MONTHLY, MONTHLY, QUARTERLY, YEARLY)):
        raise UsageError(f"`{option}`: {freq!r} is not a pandas frequency such as D, h, W-SUN, MS.")
    return multiple, code


def _undated(option: str, why: str) -> UsageError:
    return UsageError(
        f"`{option}` needs a dated time column with a sub-yearly frequency (hourly to quarterly); {why}. "
        f"Train without `{option}`."
    )


def _days(stamps: Any) -> np.ndarray:
    """Fractional days since 1970-01-01 of each stamp, in its own (wall-clock) time."""
    # The hour and day a person sees, not UTC's: a shop opens at 9 local time all year round.
    if getattr(getattr(stamps, "dt", None), "tz", None) is not None:  # a pandas Series
        stamps = stamps.dt.tz_localize(None)
    elif getattr(stamps, "tz", None) is not None:  # a pandas DatetimeIndex
        stamps = stamps.tz_localize(None)
    elif np.asarray(stamps).dtype.kind in "UO":  # text, or datetime objects
        stamps = [WITH_OFFSET.sub(r"\1", str(stamp).strip()) for stamp in np.ravel(stamps)]
    try:
        seconds = np.asarray(stamps, dtype="datetime64[s]").astype(np.int64)
    except (ValueError, TypeError):
        raise UsageError(f"calendar features need time stamps; received {type(stamps).__name__}.") from None
    return seconds / SECONDS_PER_DAY


def _time_of_day(days: np.ndarray) -> np.ndarray:
    return days % 1


def _day_of_week(days: np.ndarray) -> np.ndarray:
    # 1970-01-01 was a Thursday: shifting by 3 puts Monday at 0, as pandas' day_of_week does.
    return ((np.floor(days) + 3) % 7) / 7


def _day_of_year(days: np.ndarray) -> np.ndarray:
    day = np.floor(days).astype("int64").astype("datetime64[D]")
    year = day.astype("datetime64[Y]")
    start = year.astype("datetime64[D]")
    length = (year + 1).astype("datetime64[D]") - start
    return (day - start).astype(np.int64) / length.astype(np.int64)


def _month_of_year(days: np.ndarray) -> np.ndarray:
    return _month_index(days) / 12


def _quarter_of_year(days: np.ndarray) -> np.ndarray:
    return (_month_index(days) // 3) / 4


def _month_index(days: np.ndarray) -> np.ndarray:
    """Month of year, 0 for January."""
    return np.floor(days).astype("int64").astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12


def holiday_features(stamps: Any, freq: str | int | None, country: str, left_out: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Public holidays of ``country`` (``US``, ``DE``, or a region such as ``US-CA``, ``DE-BY``) as inputs.

    Daily, business-daily and sub-daily series (by the day each stamp falls on): ``holiday``
    (1 on a public holiday, observed days included), ``holiday_eve`` (1 when the next day is one)
    and ``holiday_after`` (1 when the previous day was one). Weekly, semi-monthly, monthly and
    quarterly series: ``holiday``, the number of public holidays in the period a stamp labels
    (pandas' convention: a week ``W-SUN`` ends on its stamp; a month or quarter is the one its
    stamp lies in, or begins with it for multiples such as ``3MS``).

    ``left_out``: names of holidays that do not count (``unnoticed_holidays``).

    Raises:
        UsageError: an unknown country or region, or no dated sub-yearly time axis.
    """
    multiple, code = _parse(freq, "--holidays")
    days = np.floor(_days(stamps)).astype("int64").astype("datetime64[D]")
    daily = code in SUB_DAILY or code in DAILY
    if not (daily or code in WEEKLY | SEMI_MONTHLY | MONTHLY | QUARTERLY):
        raise _undated("--holidays", f"a step of {freq!r} is too coarse to count holidays in")
    if not len(days):
        return {name: np.zeros(0) for name in holiday_columns(freq)}
    if daily:
        dates = _holiday_dates(country, _year(days.min() - 1), _year(days.max() + 1), left_out)
        return {name: np.isin(days + shift, dates).astype(np.float64) for name, shift in zip(HOLIDAY_NAMES, (0, 1, -1))}
    if code in WEEKLY or code in SEMI_MONTHLY:
        length = 7 * multiple if code in WEEKLY else 15 * multiple  # half a month, close enough for a count
        start, end = days - length + 1, days + 1
    else:
        months = multiple * (3 if code in QUARTERLY else 1)
        month = days.astype("datetime64[M]")
        # MS, QS ... label the period they begin; ME, QE ... the one they end.
        first = month if code.endswith("S") else month - months + 1
        start, end = first.astype("datetime64[D]"), (first + months).astype("datetime64[D]")
    dates = _holiday_dates(country, _year(start.min()), _year(end.max()), left_out)
    counts = np.searchsorted(dates, end) - np.searchsorted(dates, start)
    return {"holiday": counts.astype(np.float64)}


def holiday_columns(freq: str | int | None) -> tuple[str, ...]:
    """The names ``holiday_features`` returns for ``freq``, without stamps or a country."""
    _, code = _parse(freq, "--holidays")
    return HOLIDAY_NAMES if code in SUB_DAILY or code in DAILY else ("holiday",)


def _year(day: np.datetime64) -> int:
    return int(day.astype("datetime64[Y]").astype(np.int64)) + 1970


# Kept per country and years: a panel asks for the same calendar once per series.
@functools.lru_cache(maxsize=64)
def _holiday_dates(country: str, first_year: int, last_year: int, left_out: tuple[str, ...] = ()) -> np.ndarray:
    """The sorted public holidays (observed days included) of ``country`` in ``first_year`` to
    ``last_year``, but for those named in ``left_out``."""
    names = _holiday_names(country, first_year, last_year)
    dates = np.array(sorted(day for day, name in names.items() if name not in left_out), dtype="datetime64[D]")
    dates.flags.writeable = False  # shared by every caller of the cache
    return dates


def _holiday_names(country: str, first_year: int, last_year: int) -> dict[np.datetime64, str]:
    """Each public holiday's date and name, an observed day named as its holiday."""
    import holidays

    code, subdivision = _resolve(country)
    calendar = holidays.country_holidays(code, subdiv=subdivision, years=range(first_year, last_year + 1))
    return {np.datetime64(day, "D"): name.replace(" (observed)", "") for day, name in calendar.items()}


# A holiday is noticed when the median of its days' departures from the same weekday's level is
# this many standard errors from zero (about a 5% chance for a day like any other). The median,
# not the mean: a date such as 11/11/11 draws births of its own, which say nothing of Veterans Day.
NOTICED_Z = 2.0
# The standard error of the median of n normal values is this times the standard deviation / sqrt(n).
MEDIAN_ERROR = np.sqrt(np.pi / 2)


def unnoticed_holidays(stamps: Any, values: np.ndarray, freq: str | int | None, country: str) -> tuple[str, ...]:
    """The names of ``country``'s holidays on which daily ``values`` ``[rows, columns]`` (dated by
    ``stamps``) do not depart from the same weekday one and two weeks before and after: each
    day's departure from the mean of those four, in standard deviations of all days' departures,
    has a median over a holiday's occurrences within ``NOTICED_Z`` standard errors of zero in
    every column. A holiday seen fewer than twice is kept (one day cannot tell), and so is every
    holiday of a series whose rows are not single days."""
    multiple, code = _parse(freq, "--holidays")
    if code not in DAILY or multiple != 1:
        return ()
    season = DAILY[code]
    days = np.floor(_days(stamps)).astype("int64").astype("datetime64[D]")
    rows = np.arange(2 * season, len(values) - 2 * season)
    if not len(rows):
        return ()
    names = _holiday_names(country, _year(days.min()), _year(days.max()))
    on_holiday = np.isin(days, np.array(list(names), dtype="datetime64[D]"))
    # Holidays are no reference for each other: New Year's Day is a week after Christmas.
    plain = np.where(on_holiday[:, None], np.nan, np.asarray(values, dtype=np.float64))
    around = np.stack([plain[rows + shift] for shift in (-2 * season, -season, season, 2 * season)])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a day whose four neighbours are all holidays has no reference
        departure = values[rows] - np.nanmean(around, axis=0)
    spread = np.nanstd(departure[~on_holiday[rows]], axis=0)
    departure = departure / np.where(spread > 0, spread, 1.0)
    by_name: dict[str, list[int]] = {}
    for i, day in enumerate(days[rows]):
        if day in names and np.isfinite(departure[i]).all():
            by_name.setdefault(names[day], []).append(i)
    return tuple(sorted(name for name, at in by_name.items()
                        if len(at) > 1 and (np.abs(np.median(departure[at], axis=0)) * np.sqrt(len(at)) < NOTICED_Z * MEDIAN_ERROR).all()))


def check_country(country: str) -> str:
    """``country`` as rnncast records it (``US``, ``DE-BY``), so that ``--holidays`` is checked
    before any data is read.

    Raises:
        UsageError: the country, or its region, is not one the ``holidays`` package knows.
    """
    code, subdivision = _resolve(country)
    return code if subdivision is None else f"{code}-{subdivision}"


def _resolve(country: str) -> tuple[str, str | None]:
    """(country code, subdivision or None) as the ``holidays`` package spells them."""
    import holidays
    from holidays import registry

    supported = holidays.list_supported_countries()
    code, _, subdivision = country.strip().partition("-")
    by_upper = {c.upper(): c for c in supported}
    if code.upper() not in by_upper:
        # Country names too (GERMANY, United States), so that a name typed for a code finds it.
        names = {name.replace("_", " ").upper(): entry[1] for name, entry in registry.COUNTRIES.items()}
        near = difflib.get_close_matches(code.upper(), [*by_upper, *names], n=1)
        hint = f" Did you mean {names.get(near[0]) or by_upper[near[0]]}?" if near else ""
        raise UsageError(
            f"`--holidays` {country!r}: no country code {code!r} in the holidays package.{hint} Valid codes are ISO "
            "3166 ones such as US, DE, GB; python -c \"import holidays; print(holidays.list_supported_countries())\" lists them."
        )
    code = by_upper[code.upper()]
    if not subdivision:
        return code, None
    regions = {r.upper(): r for r in supported[code]}
    if subdivision.upper() not in regions:
        near = difflib.get_close_matches(subdivision.upper(), list(regions), n=1)
        hint = f" Did you mean {code}-{regions[near[0]]}?" if near else ""
        some = ", ".join(list(supported[code])[:8]) or "none"
        raise UsageError(
            f"`--holidays` {country!r}: {code} has no region {subdivision!r}.{hint} Its regions: {some}"
            f"{' ...' if len(supported[code]) > 8 else ''}; holidays.list_supported_countries()[{code!r}] lists them all."
        )
    return code, regions[subdivision.upper()]


def holidays_version() -> str:
    """The version of the ``holidays`` package, for the model card: its calendars change between releases."""
    import holidays

    return holidays.__version__
