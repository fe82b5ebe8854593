"""Custom Keras layers of the zoo, registered so that safe-mode loading finds them."""

from __future__ import annotations

from rnncast._keras import import_keras

keras = import_keras()


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` expected a positive integer, got {value!r}.")


@keras.saving.register_keras_serializable(package="rnncast")
class LastValue(keras.layers.Layer):
    """Naive forecast: the last value of each chosen column, repeated for ``steps`` steps."""

    def __init__(self, steps: int, columns: list[int], **kwargs):
        super().__init__(**kwargs)
        _check_positive("steps", steps)
        self.steps = steps
        self.columns = list(columns)

    def call(self, inputs):
        last = keras.ops.take(inputs[:, -1:, :], self.columns, axis=-1)
        return keras.ops.repeat(last, self.steps, axis=1)

    def get_config(self):
        return {**super().get_config(), "steps": self.steps, "columns": self.columns}


@keras.saving.register_keras_serializable(package="rnncast")
class SeasonalNaive(keras.layers.Layer):
    """Seasonal-naive forecast: step h repeats the value one season before it."""

    def __init__(self, steps: int, columns: list[int], season: int, **kwargs):
        super().__init__(**kwargs)
        _check_positive("steps", steps)
        _check_positive("season", season)
        self.steps = steps
        self.columns = list(columns)
        self.season = season

    def call(self, inputs):
        last_season = keras.ops.take(inputs[:, -self.season :, :], self.columns, axis=-1)
        return keras.ops.take(last_season, [h % self.season for h in range(self.steps)], axis=1)

    def get_config(self):
        return {**super().get_config(), "steps": self.steps, "columns": self.columns, "season": self.season}
