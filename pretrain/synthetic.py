"""A seeded corpus of short synthetic series for pretraining a zero-shot forecaster.

Four families, each vectorised over series: structural compositions (trend, one or two
seasonalities, a slow cycle, level shifts, random-walk level, noise of several kinds), ETS
simulations ((A,Ad,A) and (M,N,M)), ARIMA simulations (ARIMA(p,d,q) with drift, and the seasonal
"airline" model), and KernelSynth-style Gaussian-process samples (Ansari et al. 2024, Chronos:
random sums and products of RBF, periodic, linear and white-noise kernels). Every series is then
placed at a random level: affine and kept positive with a softplus, exponentiated (which makes
seasonality and noise multiplicative), or left signed.

    python pretrain/synthetic.py --series 20000 --seed 0   # prints a summary
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

MIN_LENGTH, MAX_LENGTH = 20, 500
BURN_IN = 60
# The declared season (1 = none) and how often a seasonal family uses it: monthly and quarterly
# dominate business data; weekly, daily and hourly periods keep the network general.
SEASONS = np.array([1, 4, 7, 12, 24, 52])
SEASON_WEIGHTS = np.array([0.3, 0.2, 0.1, 0.25, 0.1, 0.05])
# A second, longer seasonality where real data has one (daily data: yearly; hourly data: weekly).
SECOND_SEASON = {7: 365.25, 24: 168}
FAMILIES = ("structural", "ets", "arima", "kernel")
FAMILY_WEIGHTS = np.array([0.4, 0.2, 0.2, 0.2])


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Series left-aligned in ``values`` (NaN after each one's ``lengths``), with declared ``seasons``."""

    values: np.ndarray
    lengths: np.ndarray
    seasons: np.ndarray
    families: np.ndarray


def generate(n: int, seed: int) -> Corpus:
    """``n`` series of lengths log-uniform in [MIN_LENGTH, MAX_LENGTH], reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    family = rng.choice(len(FAMILIES), n, p=FAMILY_WEIGHTS)
    lengths = np.exp(rng.uniform(np.log(MIN_LENGTH), np.log(MAX_LENGTH + 1), n)).astype(int).clip(MIN_LENGTH, MAX_LENGTH)
    steps = MAX_LENGTH + BURN_IN
    raw = np.empty((n, steps))
    seasons = np.empty(n, dtype=int)
    for index, make in enumerate((structural, ets, arima)):
        rows = np.flatnonzero(family == index)
        raw[rows], seasons[rows] = make(rng, len(rows), steps)
    rows = np.flatnonzero(family == FAMILIES.index("kernel"))
    raw[rows], seasons[rows] = kernel_synth(rng, lengths[rows], steps)
    raw = raw[:, BURN_IN:]
    values = place(rng, raw, lengths)
    values[np.arange(MAX_LENGTH) >= lengths[:, None]] = np.nan
    return Corpus(values.astype(np.float32), lengths, seasons, family)


def _seasons(rng, n: int) -> np.ndarray:
    return rng.choice(SEASONS, n, p=SEASON_WEIGHTS)


def _fourier(rng, t: np.ndarray, period: np.ndarray, harmonics: int = 3) -> np.ndarray:
    """A random periodic pattern of unit-ish size per row (zero where ``period`` is 1)."""
    pattern = np.zeros((len(period), len(t)))
    period = period[:, None].astype(float)
    for k in range(1, harmonics + 1):
        # Higher harmonics are weaker; none above the Nyquist limit of the period.
        weight = rng.normal(0, 1 / k, (len(period), 1)) * (2 * k < period)
        pattern += weight * np.sin(2 * np.pi * k * t / period + rng.uniform(0, 2 * np.pi, (len(period), 1)))
    return pattern * (period > 1)


def _noise(rng, n: int, steps: int) -> np.ndarray:
    """Gaussian, heavy-tailed (Student t, 2-5 degrees of freedom) or AR(1)-coloured noise."""
    kind = rng.choice(3, n, p=[0.5, 0.25, 0.25])
    noise = rng.standard_normal((n, steps))
    dof = rng.uniform(2, 5, (n, 1))
    # Roughly unit spread: dividing by the t's own standard deviation, sqrt(dof / (dof - 2)), would
    # shrink the bulk to nothing as dof nears 2; the +1 caps that.
    heavy = rng.standard_t(dof, (n, steps)) / np.sqrt(dof / (dof - 2 + 1e-9) + 1)
    noise = np.where((kind == 1)[:, None], heavy, noise)
    phi = np.where(kind == 2, rng.uniform(0.3, 0.9, n), 0.0)
    for step in range(1, steps):
        noise[:, step] += phi * noise[:, step - 1]
    return noise


def structural(rng, n: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Trend (linear, damped or piecewise) + seasonality (one or two) + cycle + shifts + walk + noise."""
    t = np.arange(steps, dtype=float)
    season = _seasons(rng, n)
    scale = lambda sigma: np.exp(rng.normal(0, sigma, (n, 1)))  # noqa: E731 - a log-normal strength per row
    slope = rng.normal(0, 1, (n, 1)) * (rng.random((n, 1)) < 0.7) * 4 / steps
    kind = rng.choice(3, (n, 1), p=[0.5, 0.25, 0.25])
    phi = rng.uniform(0.95, 0.999, (n, 1))
    damped = slope * (1 - phi**t) / (1 - phi)
    piecewise = slope * t
    for _ in range(3):
        knot = rng.uniform(0, steps, (n, 1))
        piecewise += rng.normal(0, 4 / steps, (n, 1)) * np.maximum(t - knot, 0) * (rng.random((n, 1)) < 0.5)
    trend = np.select([kind == 0, kind == 1], [slope * t, damped], piecewise) * steps / 4 * scale(0.8)
    seasonal = _fourier(rng, t, season) * scale(0.8) * 2 * (rng.random((n, 1)) < 0.85)
    second = np.array([SECOND_SEASON.get(int(m), 1) for m in season])
    seasonal += _fourier(rng, t, np.where(rng.random(n) < 0.3, second, 1)) * scale(0.8)
    # A slow cycle of non-integer period, as in sunspot or business-cycle series.
    cycle = np.sin(2 * np.pi * t / rng.uniform(6, 60, (n, 1)) + rng.uniform(0, 2 * np.pi, (n, 1))) * 2 * scale(0.5) * (rng.random((n, 1)) < 0.2)
    shifts = np.zeros((n, steps))
    for _ in range(3):
        at = rng.uniform(0, steps, (n, 1))
        shifts += (t >= at) * rng.normal(0, 3, (n, 1)) * (rng.random((n, 1)) < 0.2)
    walk = np.cumsum(rng.standard_normal((n, steps)), axis=1) * 0.3 * scale(0.5) * (rng.random((n, 1)) < 0.35)
    noise = _noise(rng, n, steps) * scale(0.5)
    return trend + seasonal + cycle + shifts + walk + noise, season


def ets(rng, n: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Half ETS(A,Ad,A), half ETS(M,N,M), with random smoothing parameters and initial states."""
    season = _seasons(rng, n)
    multiplicative = rng.random(n) < 0.5
    alpha, beta, gamma = rng.uniform(0.05, 0.6, n), rng.uniform(0, 0.15, n), rng.uniform(0, 0.3, n)
    beta = beta * (rng.random(n) < 0.6)
    phi = np.where(rng.random(n) < 0.5, 1.0, rng.uniform(0.8, 0.98, n))
    sigma = np.where(multiplicative, rng.uniform(0.01, 0.15, n), rng.uniform(0.2, 1.5, n))
    rows = np.arange(n)
    initial = _fourier(rng, np.arange(52.0), season)
    states = np.where(multiplicative[:, None], np.exp(0.2 * initial), initial * rng.uniform(0.5, 3, (n, 1)))
    level = np.where(multiplicative, 1.0, 0.0)
    trend = rng.normal(0, 0.1, n)
    out = np.empty((n, steps))
    for step in range(steps):
        slot = step % season
        s = np.where(season > 1, states[rows, slot], np.where(multiplicative, 1.0, 0.0))
        e = rng.standard_normal(n) * sigma
        additive = level + phi * trend + s + e
        out[:, step] = np.where(multiplicative, level * s * (1 + e), additive)
        new_level = np.where(multiplicative, level * (1 + alpha * e), level + phi * trend + alpha * e)
        trend = np.where(multiplicative, 0.0, phi * trend + beta * e)
        states[rows, slot] = np.where(multiplicative, s * (1 + gamma * e), s + gamma * e)
        # Multiplicative levels stay positive and finite.
        level = np.where(multiplicative, np.clip(new_level, 1e-3, 1e3), new_level)
    return out, season


def arima(rng, n: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """ARIMA(p<=2, d<=2, q<=2) with drift, or the seasonal airline model (0,1,1)(0,1,1)_m."""
    season = _seasons(rng, n)
    airline = (season > 1) & (rng.random(n) < 0.4)
    # Stationary AR(2) from two real roots inside the unit circle.
    roots = rng.uniform(-0.9, 0.9, (n, 2)) * (rng.random((n, 2)) < [0.7, 0.3])
    ar1, ar2 = roots.sum(axis=1), -roots.prod(axis=1)
    ma = rng.uniform(-0.8, 0.8, (n, 2)) * (rng.random((n, 2)) < [0.6, 0.3])
    d = rng.choice(3, n, p=[0.35, 0.55, 0.1])
    e = rng.standard_normal((n, steps))
    arma = np.zeros((n, steps))
    for step in range(2, steps):
        arma[:, step] = ar1 * arma[:, step - 1] + ar2 * arma[:, step - 2] + e[:, step] + ma[:, 0] * e[:, step - 1] + ma[:, 1] * e[:, step - 2]
    drift = rng.normal(0, 0.3, (n, 1)) * (rng.random((n, 1)) < 0.5)
    once = np.cumsum(arma + drift, axis=1)
    twice = np.cumsum(once - once.mean(axis=1, keepdims=True), axis=1) / 20
    out = np.select([d[:, None] == 0, d[:, None] == 1], [arma + drift * 10, once], twice)
    theta, big_theta = rng.uniform(-0.8, 0.2, n), rng.uniform(-0.9, 0.0, n)
    rows, y = np.arange(n), np.zeros((n, steps))
    for step in range(60, steps):  # from 60 so that step - season - 1 >= 0 for every season up to 52
        back = step - season
        y[:, step] = (y[:, step - 1] + y[rows, back] - y[rows, back - 1] + e[:, step] + theta * e[:, step - 1]
                      + big_theta * e[rows, back] + theta * big_theta * e[rows, back - 1])
    return np.where(airline[:, None], y, out), season


def kernel_synth(rng, lengths: np.ndarray, steps: int, max_kernels: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-process samples whose kernel is a random sum/product of 1-4 kernels from a bank.

    Each row is sampled only over the last ``lengths`` steps that the corpus keeps (zeros before):
    the Cholesky factor costs the cube of the length, and most series are short.
    """
    n = len(lengths)
    out, season = np.zeros((n, steps)), np.ones(n, dtype=int)
    for row in range(n):
        length = int(lengths[row])
        t = np.arange(length, dtype=float)
        lag = t[:, None] - t[None, :]
        kernel = None
        for _ in range(rng.integers(1, max_kernels + 1)):
            kind = rng.choice(4, p=[0.3, 0.4, 0.15, 0.15])
            if kind == 0:
                part = np.exp(-0.5 * (lag / rng.choice([5.0, 20.0, 60.0, 200.0])) ** 2)
            elif kind == 1:
                period = int(rng.choice(SEASONS[1:], p=SEASON_WEIGHTS[1:] / SEASON_WEIGHTS[1:].sum()))
                season[row] = period if season[row] == 1 else season[row]
                part = np.exp(-2 * np.sin(np.pi * np.abs(lag) / period) ** 2 / rng.choice([0.5, 1.0, 2.0]) ** 2)
            elif kind == 2:
                centre = rng.uniform(0, length)
                part = (t[:, None] - centre) * (t[None, :] - centre) / length**2 * 4 + rng.uniform(0, 1)
            else:
                part = np.eye(length) * rng.uniform(0.01, 0.3)
            kernel = part if kernel is None else (kernel + part if rng.random() < 0.5 else kernel * part)
        factor = np.linalg.cholesky(kernel + (1e-5 + 1e-4 * np.trace(kernel) / length) * np.eye(length))
        out[row, -length:] = factor @ rng.standard_normal(length)
    return out, season


def place(rng, raw: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Put each series at a random level: positive affine (softplus floor), exponential, or signed."""
    n, steps = raw.shape
    # Keep the last ``length`` values of each series, left-aligned.
    shifted = np.take_along_axis(raw, (np.arange(steps) + steps - lengths[:, None]) % steps, axis=1)
    valid = np.arange(steps) < lengths[:, None]
    mean = np.nanmean(np.where(valid, shifted, np.nan), axis=1, keepdims=True)
    std = np.nanstd(np.where(valid, shifted, np.nan), axis=1, keepdims=True) + 1e-8
    z = (shifted - mean) / std
    kind = rng.choice(3, (n, 1), p=[0.6, 0.3, 0.1])
    cv = np.exp(rng.normal(-1.6, 0.9, (n, 1)))  # spread relative to level: median 0.2
    affine = 1 + cv * z
    # Softplus with a sharpness of 20 leaves values above ~0.2 as they are and floors the rest near 0.
    positive = np.logaddexp(0, 20 * affine) / 20
    exponential = np.exp(z * rng.uniform(0.05, 0.8, (n, 1)))
    signed = z * rng.uniform(0.5, 2, (n, 1)) + rng.normal(0, 1, (n, 1))
    return np.select([kind == 0, kind == 1], [positive, exponential], signed) * np.exp(rng.uniform(0, 9, (n, 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import time

    started = time.perf_counter()
    corpus = generate(args.series, args.seed)
    print(f"{args.series} series in {time.perf_counter() - started:.1f} s; finite: {np.isfinite(corpus.values).sum() == corpus.lengths.sum()}")
    for index, name in enumerate(FAMILIES):
        rows = corpus.families == index
        print(f"{name}: {rows.sum()} series, seasons {dict(zip(*np.unique(corpus.seasons[rows], return_counts=True)))}")


if __name__ == "__main__":
    main()
