"""Members: the networks a forecast runs, each an engine with its preprocessing around it, and
their combined forecasts (the per-step median, pooled MC-Dropout paths). A single model is one
member; an ensemble (``ensemble.py``) is several."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Sequence

import numpy as np

from rnncast.config import DataOptions
from rnncast.engines import Engine
from rnncast.known import input_only, network_outputs
from rnncast.preprocessing import Preprocessing
from rnncast.rollout import mc_rollout, rollout

if TYPE_CHECKING:
    from rnncast.store import ModelCard


@dataclasses.dataclass(frozen=True)
class Member:
    """One network as a forecast runs it: the rows it sees, and predictors over scaled windows
    with its preprocessing applied."""

    window: int
    engine: Engine
    # The columns the network predicts (rollout's ``outputs``; empty: the targets).
    outputs: tuple[int, ...] = ()


def as_member(engine: Engine, preprocessing: Preprocessing, outputs: list[int], window: int) -> Member:
    """The engine with ``preprocessing`` around its predictors, so that they take and return scaled values."""
    stochastic = engine.stochastic
    return Member(window, dataclasses.replace(
        engine,
        deterministic=preprocessing.wrap(engine.deterministic, outputs),
        stochastic=None if stochastic is None else (lambda seed: preprocessing.wrap(stochastic(seed), outputs)),
    ), tuple(outputs))


def saved_members(card: "ModelCard", engines: list[Engine]) -> list[Member]:
    """The members of a saved model, from its card and ``store.load``'s engines: one for a single network."""
    specs = [(card.config, card.preprocessing)] if card.ensemble is None else [
        (m["config"], m["preprocessing"]) for m in card.ensemble["members"]
    ]
    targets = [card.columns.index(t) for t in card.targets]
    inputs = input_only(card.columns, DataOptions.from_dict(card.data_options))
    return [
        as_member(engine, Preprocessing.from_dict(preprocessing), network_outputs(config["strategy"], targets, len(card.columns), inputs),
                  config["window"])
        for (config, preprocessing), engine in zip(specs, engines, strict=True)
    ]


def member_forecasts(members: Sequence[Member], recent: np.ndarray, horizon: int, target_index: list[int],
                     future: np.ndarray | None = None) -> np.ndarray:
    """Each member's deterministic forecast from ``recent [n, rows, columns]`` (scaled, at least the
    longest member window; ``future``: ``rollout``'s), as ``[members, n, horizon, targets]``."""
    return np.stack([
        rollout(m.engine.deterministic, recent[:, -m.window :], horizon, target_index, list(m.outputs), future) for m in members
    ])


def median_forecast(members: Sequence[Member], recent: np.ndarray, horizon: int, target_index: list[int],
                    future: np.ndarray | None = None) -> np.ndarray:
    """The per-step median of the members' forecasts, ``[n, horizon, targets]`` (one member: its own forecast)."""
    return np.median(member_forecasts(members, recent, horizon, target_index, future), axis=0)


def pooled_paths(members: Sequence[Member], recent: np.ndarray, horizon: int, target_index: list[int], samples: int,
                 seed: int | None, future: np.ndarray | None = None) -> np.ndarray:
    """``samples`` MC-Dropout trajectories from each member, pooled as ``[n, members * samples, horizon, targets]``;
    member i draws its masks from ``seed + i``, and a member without dropout repeats its deterministic path."""
    paths = []
    for i, m in enumerate(members):
        windows = recent[:, -m.window :]
        if m.engine.stochastic is None:
            path = rollout(m.engine.deterministic, windows, horizon, target_index, list(m.outputs), future)
            paths.append(np.repeat(path[:, None], samples, axis=1))
        else:
            predict = m.engine.stochastic(None if seed is None else seed + i)
            paths.append(mc_rollout(predict, windows, horizon, target_index, samples, list(m.outputs), future))
    return np.concatenate(paths, axis=1)
