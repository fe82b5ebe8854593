"""Invertible transforms fitted on the training part only and stored in the model card."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from rnncast.errors import DataError


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """Per-column standardisation: (x - mean) / scale."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> "Standardizer":
        mean = values.mean(axis=0)
        scale = values.std(axis=0)
        if not (np.isfinite(mean).all() and np.isfinite(scale).all()):
            raise DataError("values are too large to standardise; rescale the data.")
        return cls(mean=mean, scale=np.where(scale > 0, scale, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.mean) / self.scale).astype(np.float32)

    def inverse(self, values: np.ndarray, columns: list[int] | None = None) -> np.ndarray:
        """Back to original units; ``columns`` picks the parameters for a subset of columns."""
        mean, scale = (self.mean, self.scale) if columns is None else (self.mean[columns], self.scale[columns])
        return values.astype(np.float64) * scale + mean

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Standardizer":
        return cls(mean=np.asarray(values["mean"], dtype=np.float64), scale=np.asarray(values["scale"], dtype=np.float64))
