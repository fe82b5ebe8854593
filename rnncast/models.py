"""The model zoo: a name, a one-line description, the options it takes and a builder for each model.

Builders import Keras lazily so that listing the zoo and checking options stay instant.

Every network maps ``[batch, window, n_inputs]`` to a forecast ``[batch, steps, outputs]``. Models that
can be trained sequence-to-sequence also have a layer named ``SEQUENCE_LAYER`` giving, at each of the
times ``spec.sequence_times(window)``, the ``steps`` values that follow that time; the forecast is its
last time step, so the saved network is the same whichever way it was trained.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Sequence

from rnncast._keras import import_keras
from rnncast.config import TrainConfig
from rnncast.errors import UsageError

SEQUENCE_LAYER = "sequence"
# The chapter's conv-gru front end: a kernel wider than the stride, so no input is skipped,
# and stride 2 halves the sequence the GRUs must remember.
CONV_KERNEL = 4
CONV_STRIDE = 2
WAVENET_DILATIONS = (1, 2, 4, 8)
# Measured (benchmarks/README.md): with rnncast's learning rate and schedule, sequence-to-vector
# training forecast better than seq2seq on the chapter's data (deep RNN: 0.0028 vs 0.0039 MSE)
# and on sample_data/daily_sales.csv (RMSE gru 11.0 vs 11.9, deep-rnn 11.8 vs 12.6); --seq2seq opts in.
SEQ2SEQ_DEFAULT = False

OPTION_FLAGS = {
    "units": "--units", "layers": "--layers", "dropout": "--dropout", "recurrent_dropout": "--recurrent-dropout",
    "bidirectional": "--bidirectional", "seq2seq": "--seq2seq",
    "learning_rate": "--lr", "epochs": "--epochs", "batch_size": "--batch-size", "patience": "--patience",
    "loss": "--loss", "clipnorm": "--clipnorm",
}
TRAINING_OPTIONS = frozenset({"learning_rate", "epochs", "batch_size", "patience", "loss", "clipnorm"})
RECURRENT_OPTIONS = frozenset({"units", "layers", "dropout", "recurrent_dropout", "bidirectional", "seq2seq"})

# The candidates of `--model auto`: selection backtests them and keeps the best.
AUTO_CANDIDATES = ("naive", "seasonal-naive", "linear", "simple-rnn", "lstm", "gru")


@dataclasses.dataclass(frozen=True)
class NetworkShape:
    """What a network sees and predicts: ``window`` rows of ``n_inputs`` columns in,
    ``steps`` rows of the columns listed in ``outputs`` out."""

    window: int
    n_inputs: int
    steps: int
    outputs: tuple[int, ...]
    # Whether some inputs are known over the horizon (rnncast.known): the head then also reads the
    # window's last row, whose leads hold the known values of every step it predicts.
    known: bool = False
    # The input columns holding the known values 0..steps rows after a row (``known.lead_columns``):
    # ``[offset][source]``. Those of the predicted steps also reach the forecast through one weight
    # per source shared by every step, as a regression's coefficients are (AutoARIMA with regressors).
    leads: tuple[tuple[int, ...], ...] = ()


def _every_step(window: int) -> range:
    return range(window)


def _conv_steps(window: int) -> range:
    """Input time each strided-convolution output ends at: output j sees rows j*stride .. j*stride+kernel-1."""
    return range(CONV_KERNEL - 1, window, CONV_STRIDE)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A zoo entry. ``options`` names the ``TrainConfig`` fields (beyond data, window and
    strategy) that shape the network; ``sequence_times`` is set when it can train seq2seq."""

    name: str
    description: str
    build: Callable[[NetworkShape, TrainConfig], object]
    trainable: bool = True
    options: frozenset[str] = frozenset()
    sequence_times: Callable[[int], range] | None = None

    @property
    def accepted(self) -> frozenset[str]:
        return self.options | (TRAINING_OPTIONS if self.trainable else frozenset())


def _input(keras, shape: NetworkShape):
    return keras.Input((shape.window, shape.n_inputs), name="window")


def _vector_head(keras, x, shape: NetworkShape, inputs=None):
    """Dense layer from one feature vector per window to the ``steps`` x ``outputs`` forecast.

    With known-future inputs, the vector is joined by the window's last row (``inputs``), so the
    known values of the steps ahead reach the head directly, not only through the recurrent
    state; and with leads, each step's known values are added to that step's forecast through
    one weight per source that every step shares, as a regression's coefficients (AutoARIMA with
    regressors).
    """
    if shape.known and inputs is not None:
        last = keras.layers.Flatten(name="last_row")(keras.layers.Cropping1D((shape.window - 1, 0), name="last_input")(inputs))
        x = keras.layers.Concatenate(name="with_known")([x, last])
    x = keras.layers.Dense(shape.steps * len(shape.outputs), name="head")(x)
    forecast = keras.layers.Reshape((shape.steps, len(shape.outputs)), name="network" if shape.leads else "forecast")(x)
    if not shape.leads or inputs is None:
        return forecast
    from rnncast.layers import StepInputs

    # A few hundred windows cannot fit the head's steps x sources x steps weights of the leads;
    # a weight per source is what they can fit (zero at first: training starts from the head alone).
    leads = StepInputs([list(step) for step in shape.leads[1:]], name="leads")(inputs)
    linear = keras.layers.Dense(len(shape.outputs), use_bias=False, kernel_initializer="zeros", name="known_linear")(leads)
    return keras.layers.Add(name="forecast")([forecast, linear])


def _sequence_head(keras, x, shape: NetworkShape):
    """The same dense layer at every time step (the seq2seq output); the forecast is the last step."""
    sequence = keras.layers.Dense(shape.steps * len(shape.outputs), name=SEQUENCE_LAYER)(x)
    last = keras.layers.Cropping1D((sequence.shape[1] - 1, 0), name="last_step")(sequence)
    return keras.layers.Reshape((shape.steps, len(shape.outputs)), name="forecast")(last)


def _naive(shape: NetworkShape, config: TrainConfig):
    from rnncast.layers import LastValue

    keras = import_keras()
    inputs = _input(keras, shape)
    return keras.Model(inputs, LastValue(shape.steps, list(shape.outputs), name="forecast")(inputs), name="naive")


def _check_season(name: str, shape: NetworkShape, config: TrainConfig) -> None:
    if config.season is None:
        raise UsageError(f"`{name}` needs a season: pass --season N (the data's frequency gave none).")
    if config.season > shape.window:
        raise UsageError(f"`--window` must be at least the season ({config.season}) for {name}. Received: {shape.window}.")


def _seasonal(name: str, layer: str):
    """A baseline repeating rows a whole number of seasons back (``layers``' ``layer``); with known
    inputs, a regression on them in seasonal differences: each step adds one weight per source
    times how its known value differs from the same rows' (zero until ``training`` fits them)."""

    def build(shape: NetworkShape, config: TrainConfig):
        from rnncast import layers

        _check_season(name, shape, config)
        keras = import_keras()
        inputs = _input(keras, shape)
        repeat = getattr(layers, layer)
        repeated = repeat(shape.steps, list(shape.outputs), config.season, name="network" if shape.leads else "forecast")(inputs)
        model_name = name.replace("-", "_")
        if not shape.leads:
            return keras.Model(inputs, repeated, name=model_name)
        leads = layers.StepInputs([list(step) for step in shape.leads[1:]], name="leads")(inputs)
        then = repeat(shape.steps, list(shape.leads[0]), config.season, name="repeated_known")(inputs)
        change = keras.layers.Subtract(name="known_change")([leads, then])
        linear = keras.layers.Dense(len(shape.outputs), use_bias=False, kernel_initializer="zeros", name="known_linear")(change)
        return keras.Model(inputs, keras.layers.Add(name="forecast")([repeated, linear]), name=model_name)

    return build


def _holt_winters(shape: NetworkShape, config: TrainConfig):
    from rnncast.layers import HoltWinters

    keras = import_keras()
    inputs = _input(keras, shape)
    layer = HoltWinters(shape.steps, list(shape.outputs), shape.window, [list(step) for step in shape.leads], name="forecast")
    return keras.Model(inputs, layer(inputs), name="holt_winters")


def _linear(shape: NetworkShape, config: TrainConfig):
    keras = import_keras()
    inputs = _input(keras, shape)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, _vector_head(keras, x, shape), name="linear")


def _recurrent_layer(keras, kind: str, config: TrainConfig, return_sequences: bool, name: str):
    if kind in ("SimpleRNN", "LSTM", "GRU"):
        return getattr(keras.layers, kind)(
            config.units, return_sequences=return_sequences, recurrent_dropout=config.recurrent_dropout, name=name,
        )
    from rnncast.layers import LNSimpleRNNCell, PeepholeLSTMCell

    cell_class = {"LNSimpleRNN": LNSimpleRNNCell, "PeepholeLSTM": PeepholeLSTMCell}[kind]
    cell = cell_class(config.units, recurrent_dropout=config.recurrent_dropout)
    return keras.layers.RNN(cell, return_sequences=return_sequences, name=name)


def _recurrent_stack(keras, x, kind: str, count: int, config: TrainConfig):
    """``count`` recurrent layers with dropout after each; the last returns every step only for seq2seq."""
    for i in range(count):
        return_sequences = bool(config.seq2seq) or i < count - 1
        layer = _recurrent_layer(keras, kind, config, return_sequences, name=f"{kind.lower()}_{i}")
        if config.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{i}")
        x = layer(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    return x


def _recurrent_head(keras, x, shape: NetworkShape, config: TrainConfig, inputs):
    return _sequence_head(keras, x, shape) if config.seq2seq else _vector_head(keras, x, shape, inputs)


def _stacked(kind: str, model_name: str, layers: int | None = None):
    """A stack of recurrent layers of ``kind`` (``layers`` of them, else ``--layers``) with a dense head."""

    def build(shape: NetworkShape, config: TrainConfig):
        keras = import_keras()
        inputs = _input(keras, shape)
        x = _recurrent_stack(keras, inputs, kind, layers or config.layers, config)
        return keras.Model(inputs, _recurrent_head(keras, x, shape, config, inputs), name=model_name)

    return build


def _conv_gru(shape: NetworkShape, config: TrainConfig):
    if shape.window < CONV_KERNEL:
        raise UsageError(f"`--window` must be at least {CONV_KERNEL} (the kernel size) for conv-gru. Received: {shape.window}.")
    keras = import_keras()
    inputs = _input(keras, shape)
    x = keras.layers.Conv1D(config.units, CONV_KERNEL, strides=CONV_STRIDE, padding="valid", name="conv")(inputs)
    x = _recurrent_stack(keras, x, "GRU", config.layers, config)
    return keras.Model(inputs, _recurrent_head(keras, x, shape, config, inputs), name="conv_gru")


def _wavenet(shape: NetworkShape, config: TrainConfig):
    keras = import_keras()
    inputs = _input(keras, shape)
    x = inputs
    for block in range(config.layers):
        for rate in WAVENET_DILATIONS:
            # Causal padding keeps one output per input row, each seeing only rows up to its own.
            x = keras.layers.Conv1D(
                config.units, 2, padding="causal", dilation_rate=rate, activation="relu", name=f"conv_{block}_{rate}",
            )(x)
        # One Dropout per block, as one per recurrent layer: after each of the 8 convolutions it
        # cost the defaults three times the chapter task's validation MSE (benchmarks/README.md).
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{block}")(x)
    if config.seq2seq:
        return keras.Model(inputs, _sequence_head(keras, x, shape), name="wavenet")
    last = keras.layers.Flatten()(keras.layers.Cropping1D((shape.window - 1, 0), name="last_step")(x))
    return keras.Model(inputs, _vector_head(keras, last, shape, inputs), name="wavenet")


ZOO: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("naive", "Baseline: repeats the last observed value.", _naive, trainable=False),
        ModelSpec("seasonal-naive", "Baseline: repeats the value one season earlier (--season).",
                  _seasonal("seasonal-naive", "SeasonalNaive"), trainable=False),
        ModelSpec("seasonal-mean", "Baseline: the mean of the window's values whole seasons earlier (--season).",
                  _seasonal("seasonal-mean", "SeasonalMean"), trainable=False),
        ModelSpec("holt-winters", "Baseline: exponential smoothing (damped trend, season in logs where positive) fitted on the training rows.",
                  _holt_winters, trainable=False),
        ModelSpec("linear", "Flatten + Dense: a linear autoregression over the window.", _linear),
        ModelSpec("simple-rnn", "One SimpleRNN layer with a dense head.", _stacked("SimpleRNN", "simple_rnn", layers=1),
                  options=RECURRENT_OPTIONS - {"layers"}, sequence_times=_every_step),
        ModelSpec("deep-rnn", "Stacked SimpleRNN layers (--layers) with a dense head.", _stacked("SimpleRNN", "deep_rnn"),
                  options=RECURRENT_OPTIONS, sequence_times=_every_step),
        ModelSpec("lstm", "Stacked LSTM layers with a dense head.", _stacked("LSTM", "lstm"),
                  options=RECURRENT_OPTIONS, sequence_times=_every_step),
        ModelSpec("peephole-lstm", "Stacked LSTM layers with peephole connections (gates see the cell state).",
                  _stacked("PeepholeLSTM", "peephole_lstm"), options=RECURRENT_OPTIONS, sequence_times=_every_step),
        ModelSpec("gru", "Stacked GRU layers with a dense head (the default).", _stacked("GRU", "gru"),
                  options=RECURRENT_OPTIONS, sequence_times=_every_step),
        ModelSpec("ln-rnn", "Stacked SimpleRNN layers with layer normalisation inside the cell.",
                  _stacked("LNSimpleRNN", "ln_rnn"), options=RECURRENT_OPTIONS, sequence_times=_every_step),
        ModelSpec("conv-gru", f"Strided Conv1D (kernel {CONV_KERNEL}, stride {CONV_STRIDE}) in front of stacked GRUs.",
                  _conv_gru, options=RECURRENT_OPTIONS, sequence_times=_conv_steps),
        ModelSpec("wavenet", "Causal dilated Conv1D stack (dilations 1,2,4,8, repeated --layers times).", _wavenet,
                  options=frozenset({"units", "layers", "dropout", "seq2seq"}), sequence_times=_every_step),
    )
}


def get_spec(name: str) -> ModelSpec:
    try:
        return ZOO[name]
    except KeyError:
        raise UsageError(f"`--model` must be one of {', '.join(ZOO)}. Received: {name}.") from None


def configure(config: TrainConfig, given: Iterable[str] | None = None) -> TrainConfig:
    """Check that the options apply to ``config.model`` and fill in the model's own choice of seq2seq.

    Args:
        config: the settings.
        given: the ``TrainConfig`` fields the user set explicitly (the CLI knows them); options among
            them that the model does not take are errors. A ``TrainConfig`` alone cannot tell a
            default from a choice, so without ``given`` the model ignores what it does not take.

    Raises:
        UsageError: a given option that does not apply to the model, or options that exclude each other.
    """
    spec = get_spec(config.model)
    check_options([spec.name], given or ())
    if config.bidirectional and config.seq2seq:
        raise UsageError(
            "`--seq2seq` cannot be combined with `--bidirectional`: the backward layer would see the values "
            "each time step is trained to predict. Drop one of them."
        )
    if config.seq2seq is None and spec.sequence_times is not None:
        config = dataclasses.replace(config, seq2seq=SEQ2SEQ_DEFAULT and not config.bidirectional)
    return config


def check_options(models: Sequence[str], given: Iterable[str]) -> None:
    """Refuse the options among ``given`` (``TrainConfig`` fields the user set) that none of ``models``
    takes: ``train`` checks its one model; a backtest all of its models, which share the options.

    Raises:
        UsageError: naming the options and what the models take instead.
    """
    accepted = frozenset().union(*(get_spec(name).accepted for name in models))
    rejected = [OPTION_FLAGS[name] for name in OPTION_FLAGS if name in set(given) - accepted]
    if not rejected:
        return
    takes = ", ".join(OPTION_FLAGS[name] for name in OPTION_FLAGS if name in accepted)
    which, take = (f"--model {models[0]}", "takes") if len(models) == 1 else (f"any model of the backtest ({', '.join(models)})", "take")
    raise UsageError(
        f"`{'`, `'.join(rejected)}` {'does' if len(rejected) == 1 else 'do'} not apply to {which}, "
        + (f"which {take} {takes}." if takes else "a baseline with nothing to train; drop the option.")
    )


def build_model(shape: NetworkShape, config: TrainConfig):
    """Build the network named by ``config.model`` for ``shape``."""
    config = configure(config)
    return get_spec(config.model).build(shape, config)
