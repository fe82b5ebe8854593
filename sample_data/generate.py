"""Writes the bundled sample CSVs (run from the repository root: python sample_data/generate.py)."""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def daily_sales(rng: np.random.Generator) -> pd.DataFrame:
    """Four years of daily sales: trend, weekly and yearly seasonality, noise."""
    dates = pd.date_range("2021-01-01", periods=4 * 365, freq="D")
    t = np.arange(len(dates))
    weekly = np.array([0.85, 0.95, 1.0, 1.0, 1.1, 1.35, 1.2])[dates.day_of_week]
    yearly = 1 + 0.25 * np.sin(2 * np.pi * (dates.day_of_year - 80) / 365.25)
    level = 200 + 0.05 * t
    sales = level * weekly * yearly + rng.normal(0, 8, len(t))
    return pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "sales": sales.round(2)})


def hourly_energy(rng: np.random.Generator) -> pd.DataFrame:
    """Five months of hourly electricity load driven by temperature, with daily and weekly cycles."""
    times = pd.date_range("2024-01-01", periods=150 * 24, freq="h")
    hours = times.hour.to_numpy()
    day_of_year = times.day_of_year.to_numpy()
    seasonal_temp = 5 + 10 * (day_of_year - 1) / 150
    daily_temp = 4 * np.sin(2 * np.pi * (hours - 9) / 24)
    weather = np.convolve(rng.normal(0, 1.0, len(times)), np.ones(48) / 6, mode="same")
    temperature = seasonal_temp + daily_temp + weather
    daily_load = 1 + 0.3 * np.exp(-((hours - 8) ** 2) / 6) + 0.4 * np.exp(-((hours - 19) ** 2) / 8)
    weekend = np.where(times.day_of_week.to_numpy() >= 5, 0.85, 1.0)
    load = 900 * daily_load * weekend + 12 * np.clip(15 - temperature, 0, None) + rng.normal(0, 15, len(times))
    solar = np.clip(np.sin(np.pi * (hours - 6) / 12), 0, None) * (40 + 2 * (day_of_year / 30)) + rng.normal(0, 2, len(times))
    return pd.DataFrame({
        "timestamp": times.strftime("%Y-%m-%d %H:%M"),
        "load_mw": load.round(1),
        "solar_mw": np.clip(solar, 0, None).round(1),
        "temperature_c": temperature.round(2),
    })


if __name__ == "__main__":
    rng = np.random.default_rng(2024)
    daily_sales(rng).to_csv(HERE / "daily_sales.csv", index=False)
    hourly_energy(rng).to_csv(HERE / "hourly_energy.csv", index=False)
