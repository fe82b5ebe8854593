"""Ensembles: several networks trained on the same series that forecast as one (``--ensemble K``).

The members are K seeds of one model or, with ``--model auto``, the K best candidates of the
selection. The point forecast is the per-step median of the members' forecasts, which one member
gone astray cannot drag away as it would a mean.

MC-Dropout error bars pool the members' stochastic trajectories (``--mc-samples N`` from each), so
the band holds each network's own uncertainty and the members' disagreement. A member without
dropout contributes its deterministic path N times: leaving it out would centre the band away
from a forecast it is part of, and the band stays honest because the calibration (split-conformal,
per horizon step) is fitted on exactly these pooled samples of the ensemble's validation windows.
With no member with dropout there is no spread to sample: the intervals come from the validation
residuals of the median forecast, as for one network without dropout (``uncertainty.fit_residuals``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from rnncast.config import TrainConfig
from rnncast.engines import keras_engine
from rnncast.errors import UsageError
from rnncast.members import Member, as_member, median_forecast, pooled_paths
from rnncast.models import AUTO_CANDIDATES, get_spec
from rnncast.preprocessing import Preprocessing, Standardizer
from rnncast.scoring import score
from rnncast.windows import MAX_VALIDATION_ORIGINS, minimum_rows, validation_rows

if TYPE_CHECKING:
    from rnncast.data import TimeSeries
    from rnncast.dataset import Panel
    from rnncast.training import EpochCallback, FittedModel

COMBINE = "median"

# Ranks `--model auto`'s candidates on a series: the configs, best first, and the card's summary
# (``selection.rank_models``, which sits above ensembles and is handed down by the caller).
Ranker = Callable[[Any, TrainConfig], tuple[list[TrainConfig], dict[str, Any]]]


def fitted_member(fitted: "FittedModel") -> Member:
    """The member of a fitted network (``training.FittedModel``)."""
    return as_member(keras_engine(fitted.network), fitted.preprocessing, fitted.outputs, fitted.config.window)


def member_seeds(seed: int | None, count: int) -> list[int]:
    """Member i trains with ``seed + i``, so member 0 is the single model of that seed; without a
    seed, a drawn one, kept in the card so that any member can be retrained."""
    base = seed if seed is not None else secrets.randbelow(2**31 - count)
    return [base + i for i in range(count)]


def check_ensemble(config: TrainConfig) -> None:
    """Refuse an ensemble that would be meaningless.

    Raises:
        UsageError: seeds of a baseline or of the pretrained model (which forecast alike), or more members than ``--model auto`` has candidates.
    """
    if config.ensemble == 1:
        return
    if config.model == "auto":
        if config.ensemble > len(AUTO_CANDIDATES):
            raise UsageError(
                f"`--ensemble` with --model auto takes the best K of the {len(AUTO_CANDIDATES)} candidates "
                f"({', '.join(AUTO_CANDIDATES)}), so K must be at most {len(AUTO_CANDIDATES)}. Received: {config.ensemble}."
            )
    elif config.model == "pretrained":
        raise UsageError(
            f"`--ensemble {config.ensemble}` trains seeds of a model, and every seed of --model pretrained starts from the same shipped "
            "weights and may keep them unchanged on validation, so the members would forecast alike; train one, or an ensemble of --model gru."
        )
    elif not get_spec(config.model).trainable:
        raise UsageError(
            f"`--ensemble {config.ensemble}` trains seeds of a model, and --model {config.model} has nothing to train "
            "(every seed forecasts the same); use a trained model such as gru, or `rnncast train --model auto` for the best K models."
        )


@dataclasses.dataclass
class FittedEnsemble:
    """Trained members and what the ensemble as a whole scored on validation.

    ``config`` is the first (best) member's, with the longest member window and ``ensemble`` K;
    ``preprocessing`` is the first member's, each member's own being in ``summary``.
    """

    members: list["FittedModel"]
    config: TrainConfig
    target_index: list[int]
    metrics: dict[str, Any]
    history: dict[str, Any]
    uncertainty: dict[str, Any] | None
    summary: dict[str, Any]

    @property
    def preprocessing(self) -> Preprocessing:
        return self.members[0].preprocessing

    @property
    def networks(self) -> list[Any]:
        return [m.network for m in self.members]

    def runners(self) -> list[Member]:
        return [fitted_member(m) for m in self.members]

    @property
    def scalers(self) -> dict[str, Standardizer]:
        """Each series' scaler (every member fits the same ones)."""
        return self.members[0].scalers

    @property
    def scaler(self) -> Standardizer:
        return self.members[0].scaler

    @property
    def skipped(self) -> dict[str, int]:
        return self.members[0].skipped


def fit_ensemble(series: "Panel | TimeSeries", config: TrainConfig, on_epoch: "EpochCallback | None" = None,
                 rank: Ranker | None = None) -> tuple[FittedEnsemble, dict[str, Any] | None]:
    """Train ``config.ensemble`` members and score their median on the validation tail.

    Args:
        rank: with ``--model auto``, the selection whose best ``config.ensemble`` candidates become
            the members (``selection.rank_models``).

    Returns:
        The ensemble, and for ``--model auto`` the selection summary for the model card.

    Raises:
        UsageError: a meaningless ensemble (see ``check_ensemble``).
    """
    from rnncast.dataset import Panel
    from rnncast.training import fit

    check_ensemble(config)
    series = series if isinstance(series, Panel) else Panel.of(series)
    count = config.ensemble
    selection = None
    if config.model == "auto":
        if rank is None:
            raise ValueError("`rank` is needed to choose the members of an ensemble of `--model auto`. Received: None.")
        ranked, selection = rank(series, dataclasses.replace(config, ensemble=1))
        # Members are zoo networks, MC-sampled and pooled alike; the pretrained one's quantile head is not.
        configs = [c for c in ranked if c.model != "pretrained"][:count]
    else:
        configs = [config] * count
    # Each member is the model it names: a baseline kept in place of a seed would not be a seed of it.
    with _each_warning_once():
        members = [
            fit(series, dataclasses.replace(c, seed=seed, ensemble=1, fallback=False), on_epoch)
            for c, seed in zip(configs, member_seeds(config.seed, count))
        ]
    first = members[0]
    longest = max(m.config.window for m in members)
    metrics, uncertainty = _validate(series, members, longest)
    # Each member's own run is in ``summary``; the card's training entry adds them up.
    history = {
        "members": count,
        "epochs": sum(m.history["epochs"] for m in members),
        "seconds": round(sum(m.history["seconds"] for m in members), 2),
    }
    summary = {
        "combine": COMBINE,
        "kind": "top-k" if config.model == "auto" else "seeds",
        "members": [
            {"model": m.config.model, "seed": m.config.seed, "config": m.config.to_dict(),
             "preprocessing": m.preprocessing.to_dict(), "metrics": m.metrics, "training": m.history}
            for m in members
        ],
    }
    ensemble_config = dataclasses.replace(first.config, window=longest, ensemble=count)
    fitted = FittedEnsemble(members, ensemble_config, first.target_index, metrics, history, uncertainty, summary)
    return fitted, selection


@contextlib.contextmanager
def _each_warning_once():
    """Drop a warning already given: every member resolves the same series, and would repeat which
    are padded or skipped once per member."""
    seen: set[str] = set()

    def first_time(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        fresh = message not in seen
        seen.add(message)
        return fresh

    logger = logging.getLogger("rnncast")
    logger.addFilter(first_time)
    try:
        yield
    finally:
        logger.removeFilter(first_time)


def _validate(panel: "Panel", members: list["FittedModel"], longest: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validation errors of the median forecast beside the baselines, scored per series and over
    series as ``scoring.score`` scores one model, on the windows the members were scored on; and
    its calibration across the series' validation windows: of the pooled samples when a member has
    dropout, else of the median's residuals."""
    from rnncast.dataset import left_padded
    from rnncast.training import ORIGINS_PER_SERIES
    from rnncast.uncertainty import calibrate

    first = members[0]
    config, target_index = dataclasses.replace(first.config, window=longest), first.target_index
    runners = [fitted_member(m) for m in members]
    # A short series, padded to fit each member's window in training, is padded to fit the longest here.
    rows = minimum_rows(longest, config.horizon, config.validation_fraction)
    values = [left_padded(panel.series[key], rows, panel.freq).frame.to_numpy(dtype=np.float64) for key in first.scalers]
    tails = [v[len(v) - validation_rows(len(v), config.horizon, config.validation_fraction) - longest :] for v in values]
    scalers = list(first.scalers.values())

    def point(windows: np.ndarray, after: np.ndarray) -> np.ndarray:
        return median_forecast(runners, windows, config.horizon, target_index, after)

    ids, limit = (list(first.scalers), ORIGINS_PER_SERIES) if panel.many else (None, MAX_VALIDATION_ORIGINS)
    metrics = score(point, tails, scalers, config, target_index, panel.targets, ids, limit)
    paths = None
    if any(r.engine.stochastic is not None for r in runners):
        paths = lambda windows, samples, after: pooled_paths(  # noqa: E731
            runners, windows, config.horizon, target_index, samples, config.seed, after)
    return metrics, calibrate(point, paths, tails, scalers, longest, config.horizon, target_index).to_dict()
