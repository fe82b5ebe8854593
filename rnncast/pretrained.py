"""The pretrained forecaster that ships with rnncast: its input encoding, its anchor, and its files.

The network (``pretrain/train.py``) reads up to ``context`` past steps of one series, left-padded,
as five channels: the value over the context's mean absolute value, an observed mask, sin/cos of
the step's position in the declared season, and log(season)/log(52). It predicts ``horizon``
steps at a few quantiles as a correction to an anchor forecast (the seasonal-naive one where the
context holds a full season, the last value elsewhere), in the same scale. Training and every use
of the weights encode through this module, so that they cannot drift apart.

The weights live in ``rnncast/weights/`` as package data: ``pretrained.onnx`` (forecasting, on
onnxruntime), ``pretrained.keras`` (for fine-tuning) and ``pretrained.json`` (what the network
reads and predicts); ``pretrain/export.py`` writes them from a training run.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

CHANNELS = 5
# Fewest observed steps a training window had: the network has never seen less.
MIN_CONTEXT = 6
CLIP = 50.0  # scaled inputs and targets beyond this are outliers of near-zero-mean series
# Seasons are encoded relative to the longest one of the training corpus (weekly data's year).
LONGEST_SEASON = 52
DESCRIPTION = ("GRU with a quantile head pretrained on generated series, shipped with rnncast: zero-shot "
               "(forecast --data FILE, no training) or fine-tuned (train --model pretrained); horizon up to 48.")
WEIGHTS = Path(__file__).resolve().parent / "weights"
SPEC_FILE = "pretrained.json"
ONNX_FILE = "pretrained.onnx"
KERAS_FILE = "pretrained.keras"


@dataclasses.dataclass(frozen=True)
class Spec:
    """What the shipped network reads and predicts, and where it came from."""

    context: int
    horizon: int
    quantiles: tuple[float, ...]
    anchor: str
    run: str
    # sha256 of each shipped file, by suffix ("onnx", "keras").
    files: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "quantiles": list(self.quantiles)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Spec":
        return cls(**{**values, "quantiles": tuple(values["quantiles"])})


def load_spec(folder: Path = WEIGHTS) -> Spec:
    return Spec.from_dict(json.loads((folder / SPEC_FILE).read_text(encoding="utf-8")))


def encode(past: np.ndarray, mask: np.ndarray, season: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Network inputs ``(n, context, CHANNELS)`` of left-padded ``past`` with its ``mask`` of observed
    steps and each window's ``season`` (1: none), and each window's scale."""
    observed = np.where(mask, past, 0.0)
    scale = np.abs(observed).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
    scale = np.where(scale > 0, scale, 1.0)
    context = past.shape[1]
    phase = 2 * np.pi * np.arange(-context, 0)[None, :] / season[:, None]
    seasonal = (season > 1)[:, None]
    inputs = np.stack([
        (observed / scale[:, None]).clip(-CLIP, CLIP),
        mask.astype(float),
        np.where(seasonal, np.sin(phase), 0.0),
        np.where(seasonal, np.cos(phase), 0.0),
        np.broadcast_to(np.log(season)[:, None] / np.log(LONGEST_SEASON), mask.shape),
    ], axis=-1)
    return inputs.astype(np.float32), scale


def anchor(past: np.ndarray, mask: np.ndarray, season: np.ndarray, horizon: int, kind: str) -> np.ndarray:
    """The forecast the network corrects ``(n, horizon)``: the last value, or with ``kind`` "seasonal"
    the seasonal-naive forecast where the context holds a full season (the last value elsewhere)."""
    steps = np.arange(horizon)
    if kind == "last":
        return np.repeat(past[:, -1:], horizon, axis=1)
    context = past.shape[1]
    full = (mask.sum(axis=1) >= season) & (season <= context)
    index = np.where(full[:, None], context - season[:, None] + steps % season[:, None], context - 1)
    return np.take_along_axis(past, index, axis=1)


def left_padded(histories: Sequence[np.ndarray], context: int) -> tuple[np.ndarray, np.ndarray]:
    """The last ``context`` values of each history, left-padded with zeros, and the observed mask."""
    past = np.zeros((len(histories), context))
    mask = np.zeros((len(histories), context), dtype=bool)
    for row, history in enumerate(histories):
        values = np.asarray(history, dtype=np.float64)[-context:]
        past[row, context - len(values):], mask[row, context - len(values):] = values, True
    return past, mask


def training_pairs(past: np.ndarray, mask: np.ndarray, season: np.ndarray, future: np.ndarray, future_mask: np.ndarray,
                   kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs, targets and per-step weights of windows to train on: the ``future`` values as the
    network predicts them (minus the anchor, in the context's scale), weighted 1 where observed."""
    inputs, scale = encode(past, mask, season)
    base = anchor(past, mask, season, future.shape[1], kind)
    target = np.where(future_mask, (future - base) / scale[:, None], 0.0).clip(-CLIP, CLIP)
    return inputs, target, future_mask.astype(float)
