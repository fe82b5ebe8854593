"""Custom Keras layers of the zoo, registered so that safe-mode loading finds them."""

from __future__ import annotations

from rnncast._keras import import_keras
from rnncast.windows import seasonal_rows

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


@keras.saving.register_keras_serializable(package="rnncast")
class SeasonalMean(SeasonalNaive):
    """Seasonal-mean forecast: step h is the mean of the values a whole number of seasons before it
    that the window holds, so one season's noise is not repeated as seasonal-naive repeats it."""

    def build(self, input_shape):
        self.rows = seasonal_rows(input_shape[1], self.steps, self.season, every=True).astype("float32")

    def call(self, inputs):
        return keras.ops.einsum("hw,bwc->bhc", self.rows, keras.ops.take(inputs, self.columns, axis=-1))


@keras.saving.register_keras_serializable(package="rnncast")
class HoltWinters(keras.layers.Layer):
    """Exponential smoothing as a fixed linear map of the window (``rnncast.smoothing``): step h of
    column c is ``kernel[c, h]`` times the window's values of c, in logs where ``log[c]`` is 1,
    which needs the values in their units (``mean`` and ``scale`` undo the standardisation) and
    holds them at ``floor`` or above.

    With known inputs (``leads``: the columns holding the known values 0..steps rows after a row,
    ``known.lead_columns``), the smoothing runs on the values less ``known`` times the known
    inputs of their rows, and each step adds them back with that step's known values: a
    regression on the known inputs with smoothed errors, in logs a multiplicative effect (a
    promotion's +60%). All are weights, set once the smoothing is fitted (``smoothing.set_smoothing``).
    """

    def __init__(self, steps: int, columns: list[int], window: int, leads: list[list[int]] | None = None, **kwargs):
        super().__init__(**kwargs)
        _check_positive("steps", steps)
        _check_positive("window", window)
        self.steps, self.columns, self.window = steps, list(columns), window
        self.leads = [list(step) for step in leads] if leads else []

    def build(self, input_shape):
        count = len(self.columns)
        self.kernel = self.add_weight(shape=(count, self.steps, self.window), initializer="zeros", trainable=False, name="kernel")
        self.log = self.add_weight(shape=(count,), initializer="zeros", trainable=False, name="log")
        self.mean = self.add_weight(shape=(count,), initializer="zeros", trainable=False, name="mean")
        self.scale = self.add_weight(shape=(count,), initializer="ones", trainable=False, name="scale")
        self.floor = self.add_weight(shape=(count,), initializer="ones", trainable=False, name="floor")
        if self.leads:
            self.known = self.add_weight(shape=(count, len(self.leads[0])), initializer="zeros", trainable=False, name="known")

    def call(self, inputs):
        x = keras.ops.take(inputs, self.columns, axis=-1)
        logs = self.log > 0.5
        # A value below ``floor`` (half the smallest the training rows had) in a column smoothed in logs,
        # such as a day the shop was shut, counts as the floor: its log would drag the whole forecast down.
        seen = keras.ops.where(logs, keras.ops.log(keras.ops.maximum(x * self.scale + self.mean, self.floor)), x)
        if self.leads:
            seen = seen - keras.ops.einsum("bwk,ck->bwc", keras.ops.take(inputs, self.leads[0], axis=-1), self.known)
        forecast = keras.ops.einsum("chw,bwc->bhc", self.kernel, seen)
        if self.leads:
            ahead = keras.ops.take(inputs[:, -1, :], [i for step in self.leads[1:] for i in step], axis=-1)
            ahead = keras.ops.reshape(ahead, (-1, self.steps, len(self.leads[0])))
            forecast = forecast + keras.ops.einsum("bhk,ck->bhc", ahead, self.known)
        return keras.ops.where(logs, (keras.ops.exp(keras.ops.minimum(forecast, 80.0)) - self.mean) / self.scale, forecast)

    def get_config(self):
        return {**super().get_config(), "steps": self.steps, "columns": self.columns, "window": self.window, "leads": self.leads}


@keras.saving.register_keras_serializable(package="rnncast")
class StepInputs(keras.layers.Layer):
    """The window's last row rearranged by forecast step: ``columns[step]`` are the inputs that
    belong to that step (``[batch, steps, len(columns[0])]``), so one weight can serve every step."""

    def __init__(self, columns: list[list[int]], **kwargs):
        super().__init__(**kwargs)
        if not columns or len({len(step) for step in columns}) != 1 or not columns[0]:
            raise ValueError(f"`columns` expected equally long, non-empty lists of column indices per step, got {columns!r}.")
        self.columns = [list(step) for step in columns]

    def call(self, inputs):
        flat = keras.ops.take(inputs[:, -1, :], [i for step in self.columns for i in step], axis=-1)
        return keras.ops.reshape(flat, (-1, len(self.columns), len(self.columns[0])))

    def get_config(self):
        return {**super().get_config(), "columns": self.columns}


@keras.saving.register_keras_serializable(package="rnncast")
class LNSimpleRNNCell(keras.layers.SimpleRNNCell):
    """The chapter's layer-normalised SimpleRNN cell: layer norm between the linear step and the activation.

    It subclasses ``SimpleRNNCell`` (the chapter wraps one) so that the cell stays a dropout cell whose
    masks ``keras.layers.RNN`` resets each batch: ``dropout`` and ``recurrent_dropout`` work as in Keras.
    """

    def __init__(self, units: int, activation="tanh", **kwargs):
        super().__init__(units, activation=None, **kwargs)
        self.normalized_activation = keras.activations.get(activation)
        self.layer_norm = keras.layers.LayerNormalization(name="layer_norm")

    def build(self, input_shape):
        # Keras 3 builds sub-layers lazily; the RNN loop needs every weight before it traces a step.
        super().build(input_shape)
        self.layer_norm.build((None, self.units))

    def call(self, sequence, states, training=False):
        linear, _ = super().call(sequence, states, training=training)
        output = self.normalized_activation(self.layer_norm(linear))
        return output, [output] if isinstance(states, (list, tuple)) else output

    def get_config(self):
        return {**super().get_config(), "activation": keras.activations.serialize(self.normalized_activation)}


@keras.saving.register_keras_serializable(package="rnncast")
class PeepholeLSTMCell(keras.layers.LSTMCell):
    """LSTM cell with peephole connections (Gers & Schmidhuber, 2000), which Keras 3 no longer ships.

    The input and forget gates also see the previous cell state c(t-1), the output gate the new one c(t),
    each through a diagonal (per-unit) weight. Peepholes start at zero, i.e. as a plain LSTM.
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.input_peephole = self.add_weight(shape=(self.units,), name="input_peephole", initializer="zeros")
        self.forget_peephole = self.add_weight(shape=(self.units,), name="forget_peephole", initializer="zeros")
        self.output_peephole = self.add_weight(shape=(self.units,), name="output_peephole", initializer="zeros")

    def call(self, inputs, states, training=False):
        h_previous, c_previous = states[0], states[1]
        input_mask = self.get_dropout_mask(inputs)
        recurrent_mask = self.get_recurrent_dropout_mask(h_previous)
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * input_mask
        if training and 0.0 < self.recurrent_dropout < 1.0:
            h_previous = h_previous * recurrent_mask
        z = keras.ops.matmul(inputs, self.kernel) + keras.ops.matmul(h_previous, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        z_input, z_forget, z_cell, z_output = keras.ops.split(z, 4, axis=-1)
        input_gate = self.recurrent_activation(z_input + self.input_peephole * c_previous)
        forget_gate = self.recurrent_activation(z_forget + self.forget_peephole * c_previous)
        c = forget_gate * c_previous + input_gate * self.activation(z_cell)
        output_gate = self.recurrent_activation(z_output + self.output_peephole * c)
        h = output_gate * self.activation(c)
        return h, [h, c]
