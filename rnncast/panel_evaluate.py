"""Backtests of global models over many series: scores per series, and aggregated over series.

Every series has its own origins at its own tail (``backtest.backtest_origins``); the one engine
(``backtest.run_backtest``) fits one global model per zoo name on the rows of every series before
that series' first origin (or, with ``retrain``, before each fold's origin), then forecasts every
series from every origin in one batched pass. Per-series scores are the single-series ones
(``backtest.score_forecast``); the aggregates are the mean and median MASE over series, and the
share of series on which a model's MAE is below the seasonal-naive forecast's (the naive one's
when there is no season).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from typing import Any, Callable, Sequence

import numpy as np

from rnncast.backtest import (
    BASELINES,
    SCHEMA_VERSION,
    BacktestOptions,
    model_config,
    backtest_origins,
    backtest_settings_json,
    run_backtest,
    fitter,
    score_forecast,
)
from rnncast.config import TrainConfig
from rnncast.data import infer_season
from rnncast.dataset import Panel, first_few
from rnncast.errors import DataError
from rnncast.metrics import seasonal_scale
from rnncast.models import ZOO
from rnncast.windows import default_window, minimum_rows

log = logging.getLogger("rnncast")


@dataclasses.dataclass
class PanelResult:
    """One model's backtest: settings, time taken, and per series id the scores per target."""

    model: str
    config: TrainConfig
    seconds: float
    series: dict[str, dict[str, Any]]
    rank: int = 0

    def overall(self, key: str, target: str, metric: str) -> float:
        value = self.series[key][target]["overall"][metric]
        return math.nan if value is None else value

    def mean(self, target: str, metric: str) -> float:
        values = [self.overall(key, target, metric) for key in self.series]
        return float(np.nanmean(values)) if not np.isnan(values).all() else math.nan

    def median(self, target: str, metric: str) -> float:
        values = [self.overall(key, target, metric) for key in self.series]
        return float(np.nanmedian(values)) if not np.isnan(values).all() else math.nan


@dataclasses.dataclass
class PanelReport:
    """Every model's backtest on every usable series, best (lowest mean MASE) first."""

    panel: Panel
    horizon: int
    options: BacktestOptions
    season: int | None
    origins: dict[str, np.ndarray]
    models: list[PanelResult]
    reference: str
    requested: tuple[str, ...]
    skipped: dict[str, int]

    @property
    def beats_column(self) -> str:
        return f"beats_{self.reference.replace('-', '_')}"

    def beats(self, result: PanelResult, key: str, target: str) -> bool:
        """Whether ``result``'s MAE on series ``key`` is below the reference forecast's."""
        reference = next(r for r in self.models if r.model == self.reference)
        return result.overall(key, target, "mae") < reference.overall(key, target, "mae")

    @property
    def metrics(self) -> tuple[str, ...]:
        """The scores of ``details``: interval coverage and width too where ``--mc-samples`` sampled."""
        return ("mae", "rmse", "mase", "smape") + (("coverage", "width") if self.options.mc_samples else ())

    def share_beating(self, result: PanelResult, target: str) -> float:
        return float(np.mean([self.beats(result, key, target) for key in result.series]))

    def details(self) -> list[dict[str, Any]]:
        """Rows of ``evaluate``: each series for the models asked for, then every model over all series
        (means of the scores, and the share of series where it beats the reference)."""
        rows = [
            {"id": key, "model": result.model, "target": target,
             **{m: result.overall(key, target, m) for m in self.metrics},
             self.beats_column: float(self.beats(result, key, target))}
            for result in self.models if result.model in self.requested
            for key in result.series
            for target in self.panel.targets
        ]
        rows += [
            {"id": "all", "model": result.model, "target": target,
             **{m: result.mean(target, m) for m in self.metrics},
             self.beats_column: self.share_beating(result, target)}
            for result in self.models
            for target in self.panel.targets
        ]
        return rows

    def leaderboard(self) -> list[dict[str, Any]]:
        """Rows of ``compare``: one per model and target, best first, aggregated over series."""
        return [
            {"rank": result.rank, "model": result.model, "target": target, "series": len(result.series),
             "mean_mase": result.mean(target, "mase"), "median_mase": result.median(target, "mase"),
             "mean_smape": result.mean(target, "smape"), self.beats_column: self.share_beating(result, target),
             "seconds": result.seconds}
            for result in self.models
            for target in self.panel.targets
        ]

    def describe(self) -> str:
        stride = self.options.stride or self.horizon
        fits = "refitted at each origin" if self.options.retrain else "fitted once on the rows before each series' first origin"
        skipped = f" (and {len(self.skipped)} too short, left out)" if self.skipped else ""
        return (
            f"Backtest of {len(self.origins)} series{skipped}, {self.options.folds} fold(s) every {stride} steps at the "
            f"tail of each, horizon {self.horizon}; one global model per name, {fits}. MASE is scaled by each series' "
            f"in-sample {'seasonal-naive (season %d)' % self.season if self.season else 'naive'} error; "
            f"{self.beats_column} is the share of series where a model's MAE is below {self.reference}'s."
        )

    def to_dict(self, command: str) -> dict[str, Any]:
        """The JSON document (``docs/json-output.md``, "Many series")."""
        document = {
            "schema_version": SCHEMA_VERSION,
            "command": command,
            "data": {
                "path": os.path.abspath(self.panel.source),
                "id_column": self.panel.id_column,
                "series": len(self.origins),
                "skipped": self.skipped,
                "time_column": self.panel.time_column,
                "freq": self.panel.freq,
                "targets": list(self.panel.targets),
            },
            "backtest": {
                **backtest_settings_json(self.options, self.horizon, self.season),
                "reference": self.reference,
            },
            "models": [
                {
                    "rank": result.rank,
                    "model": result.model,
                    "baseline": result.model in BASELINES,
                    "seconds": result.seconds,
                    "config": result.config.to_dict(),
                    "targets": {
                        target: {
                            "mean_mase": result.mean(target, "mase"),
                            "median_mase": result.median(target, "mase"),
                            "mean_smape": result.mean(target, "smape"),
                            self.beats_column: self.share_beating(result, target),
                        }
                        for target in self.panel.targets
                    },
                    "series": {
                        key: {target: scores[target]["overall"] for target in self.panel.targets}
                        for key, scores in result.series.items()
                    },
                }
                for result in self.models
            ],
        }
        return document


def backtest_panel(
    panel: Panel,
    models: Sequence[str],
    config: TrainConfig,
    options: BacktestOptions,
    on_fit: Callable[[str, int, int], None] | None = None,
    given: Sequence[str] = (),
) -> PanelReport:
    """Backtest global ``models`` and the baselines on the tail of every series long enough
    (``given``: the settings the user chose, as ``evaluate.backtest`` takes them).

    Raises:
        DataError: no series is long enough for the folds, window and horizon.
    """
    season = config.season or infer_season(panel.freq)
    span = config.horizon + (options.stride or config.horizon) * (options.folds - 1)
    median_rows = int(np.median([len(one) for one in panel.series.values()]))
    config = dataclasses.replace(
        config, season=season,
        window=config.window or default_window(season, config.horizon, max(median_rows - span, 1), config.validation_fraction),
    )
    names = list(dict.fromkeys([*models, *BASELINES]))
    if season is None and "seasonal-naive" in names:
        log.warning("seasonal-naive is left out: the data's frequency gives no season; pass --season N to include it.")
        names.remove("seasonal-naive")
    # Seeds of a model with nothing to train all forecast alike, so only trained models get them.
    configs = [model_config(config if name in ZOO and ZOO[name].trainable else dataclasses.replace(config, ensemble=1), name) for name in names]
    panel, skipped = _long_enough(panel, configs, span, options)

    target_index = [panel.columns.index(t) for t in panel.targets]
    values = {key: one.frame.to_numpy(dtype=np.float64) for key, one in panel.series.items()}
    origins = {key: backtest_origins(len(v), config.horizon, options) for key, v in values.items()}
    actual = {key: v[origins[key][:, None] + np.arange(config.horizon)][..., target_index] for key, v in values.items()}
    scale = {key: seasonal_scale(v[: origins[key][0], target_index], season) for key, v in values.items()}
    results = []
    for done, candidate in enumerate(configs):
        if on_fit is not None:
            on_fit(candidate.model, done, len(configs))
        started = time.perf_counter()
        forecasts = run_backtest(panel, fitter(candidate, options.mc_samples, given), origins, options.retrain)
        seconds = round(time.perf_counter() - started, 2)
        scores = {key: score_forecast(forecasts[key], actual[key], scale[key], panel.targets) for key in values}
        results.append(PanelResult(candidate.model, candidate, seconds, scores))
    results.sort(key=lambda r: (math.isnan(m := np.nanmean([r.mean(t, "mase") for t in panel.targets])), m))
    for rank, result in enumerate(results, start=1):
        result.rank = rank
    reference = "seasonal-naive" if "seasonal-naive" in names else "naive"
    return PanelReport(panel, config.horizon, options, season, origins, results, reference, tuple(models), skipped)


def _long_enough(panel: Panel, configs: list[TrainConfig], span: int, options: BacktestOptions) -> tuple[Panel, dict[str, int]]:
    """The series that leave every model a fit (training windows and a validation tail) before the first origin."""
    horizon = configs[0].horizon
    needed = max(minimum_rows(c.window, horizon, c.validation_fraction) for c in configs) + span
    skipped = {key: len(one) for key, one in panel.series.items() if len(one) < needed}
    name = os.path.basename(panel.source)
    if len(skipped) == len(panel):
        raise DataError(
            f"{name}: every series is too short: a backtest of --folds {options.folds} every --stride "
            f"{options.stride or horizon} steps with --horizon {horizon} and --window {max(c.window for c in configs)} "
            f"needs {needed} rows per series, and the longest has {max(skipped.values())}; use fewer --folds, a smaller "
            "--stride, --window or --horizon, or more data."
        )
    if skipped:
        log.warning("%s: leaving out %d of %d series with fewer than the %d rows the backtest needs: %s.",
                    name, len(skipped), len(panel), needed, first_few(f"{k} ({n} rows)" for k, n in skipped.items()))
    return panel.subset([key for key in panel.series if key not in skipped]), skipped
