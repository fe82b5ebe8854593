"""The model zoo: a name, a one-line description and a builder for each model.

Builders import Keras lazily so that listing the zoo stays instant.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from rnncast._keras import import_keras
from rnncast.config import TrainConfig
from rnncast.errors import UsageError


@dataclasses.dataclass(frozen=True)
class NetworkShape:
    """What a network sees and predicts: ``window`` rows of ``n_inputs`` columns in,
    ``steps`` rows of the columns listed in ``outputs`` out."""

    window: int
    n_inputs: int
    steps: int
    outputs: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    build: Callable[[NetworkShape, TrainConfig], object]
    trainable: bool = True


def _head(keras, x, shape: NetworkShape):
    x = keras.layers.Dense(shape.steps * len(shape.outputs), name="head")(x)
    return keras.layers.Reshape((shape.steps, len(shape.outputs)), name="forecast")(x)


def _input(keras, shape: NetworkShape):
    return keras.Input((shape.window, shape.n_inputs), name="window")


def _naive(shape: NetworkShape, config: TrainConfig):
    from rnncast.layers import LastValue

    keras = import_keras()
    inputs = _input(keras, shape)
    return keras.Model(inputs, LastValue(shape.steps, list(shape.outputs), name="forecast")(inputs), name="naive")


def _seasonal_naive(shape: NetworkShape, config: TrainConfig):
    from rnncast.layers import SeasonalNaive

    if config.season is None:
        raise UsageError("`seasonal-naive` needs a season: pass --season N (the data's frequency gave none).")
    if config.season > shape.window:
        raise UsageError(f"`--window` must be at least the season ({config.season}) for seasonal-naive. Received: {shape.window}.")
    keras = import_keras()
    inputs = _input(keras, shape)
    layer = SeasonalNaive(shape.steps, list(shape.outputs), config.season, name="forecast")
    return keras.Model(inputs, layer(inputs), name="seasonal_naive")


def _linear(shape: NetworkShape, config: TrainConfig):
    keras = import_keras()
    inputs = _input(keras, shape)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, _head(keras, x, shape), name="linear")


def _stacked(layer_name: str, model_name: str, layers: int | None = None):
    """A stack of recurrent layers with input/output dropout between them and a dense head."""

    def build(shape: NetworkShape, config: TrainConfig):
        keras = import_keras()
        layer_class = getattr(keras.layers, layer_name)
        count = layers or config.layers
        inputs = _input(keras, shape)
        x = inputs
        for i in range(count):
            x = layer_class(
                config.units, return_sequences=i < count - 1,
                recurrent_dropout=config.recurrent_dropout, name=f"{layer_name.lower()}_{i}",
            )(x)
            if config.dropout:
                x = keras.layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
        return keras.Model(inputs, _head(keras, x, shape), name=model_name)

    return build


ZOO: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("naive", "Baseline: repeats the last observed value.", _naive, trainable=False),
        ModelSpec("seasonal-naive", "Baseline: repeats the value one season earlier (--season).", _seasonal_naive, trainable=False),
        ModelSpec("linear", "Flatten + Dense: a linear autoregression over the window.", _linear),
        ModelSpec("simple-rnn", "One SimpleRNN layer with a dense head.", _stacked("SimpleRNN", "simple_rnn", layers=1)),
        ModelSpec("deep-rnn", "Stacked SimpleRNN layers (--layers) with a dense head.", _stacked("SimpleRNN", "deep_rnn")),
        ModelSpec("lstm", "Stacked LSTM layers with a dense head.", _stacked("LSTM", "lstm")),
        ModelSpec("gru", "Stacked GRU layers with a dense head (the default).", _stacked("GRU", "gru")),
    )
}


def get_spec(name: str) -> ModelSpec:
    try:
        return ZOO[name]
    except KeyError:
        raise UsageError(f"`--model` must be one of {', '.join(ZOO)}. Received: {name}.") from None


def build_model(shape: NetworkShape, config: TrainConfig):
    """Build the network named by ``config.model`` for ``shape``."""
    return get_spec(config.model).build(shape, config)
