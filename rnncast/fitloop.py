"""The Keras side of fitting: the run's strategy and seed, (input, target) batches cut within each
series by tf.data, and the training loop with early stopping (``training`` and ``panel`` share it)."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Callable, Sequence

import numpy as np

from rnncast import distribute
from rnncast._keras import import_keras
from rnncast.config import TrainConfig
from rnncast.errors import TrainingDiverged
from rnncast.models import SEQUENCE_LAYER, NetworkShape, get_spec
from rnncast.rollout import has_dropout

log = logging.getLogger("rnncast")

EpochCallback = Callable[[int, int, dict[str, float]], None]


def start(config: TrainConfig):
    """Import Keras, create the distribution strategy (before any other TensorFlow op, as
    multi-worker training requires) and seed the run; returns the keras module."""
    keras = import_keras()
    distribute.strategy(config.distribute)
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    return keras


def split_windows(windows, shape: NetworkShape, sequence_times: Sequence[int] | None = None):
    """Split a batch of ``window + steps`` rows into the network's input and its target.

    The target is the next ``steps`` rows of the output columns; with ``sequence_times`` (seq2seq),
    it is, at each of those input times, the ``steps`` rows that follow it, flattened per time.
    """
    import tensorflow as tf

    outputs = list(shape.outputs)
    inputs = windows[:, : shape.window]
    if sequence_times is None:
        return inputs, tf.gather(windows[:, shape.window :], outputs, axis=-1)
    rows = [[t + 1 + h for h in range(shape.steps)] for t in sequence_times]
    targets = tf.gather(tf.gather(windows, rows, axis=1), outputs, axis=-1)
    return inputs, tf.reshape(targets, (-1, len(rows), shape.steps * len(outputs)))


def sequence_times(config: TrainConfig, window: int) -> list[int] | None:
    """The input times whose outputs a seq2seq model is trained on (None: not seq2seq)."""
    return list(get_spec(config.model).sequence_times(window)) if config.seq2seq else None


def fit_series(keras, network, series: Sequence[tuple[np.ndarray, int]], shape: NetworkShape, config: TrainConfig, on_epoch,
               window_map: np.ndarray | None = None) -> dict[str, Any]:
    """Train ``network`` on the windows of one series or many, each given as its (preprocessed)
    rows and its first validation row, and validate on the windows that end in its validation part."""
    options = {"window_map": window_map, "sequence_times": sequence_times(config, shape.window)}
    seed = distribute.shuffle_seed(config.distribute, config.seed)
    train = panel_dataset([rows[:end] for rows, end in series], shape, config.batch_size, True, seed, **options)
    validation = panel_dataset([rows[end - shape.window :] for rows, end in series], shape, 1024, False, None, **options)
    return train_network(keras, network, train, validation, config, on_epoch)


def train_network(keras, network, train, validation, config: TrainConfig, on_epoch) -> dict[str, Any]:
    """Compile and fit ``network`` on batches of (window, target) pairs with early stopping;
    call inside the strategy's scope. Returns the training summary for the model card.

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
    """
    if config.distribute != "none":
        train, validation = distribute.shard_by_data(train), distribute.shard_by_data(validation)
    if _gpu_available() and (warning := generic_kernel_warning(keras, network)):
        log.warning(warning)
    losses = {"mse": "mse", "mae": "mae", "huber": keras.losses.Huber()}
    trainee, metrics, monitor = network, [], "val_loss"
    if config.seq2seq:
        # Loss on every time step (more gradient paths, as the chapter argues); the forecast is the
        # last step only, so that is what is reported and what early stopping watches.
        trainee = keras.Model(network.inputs, network.get_layer(SEQUENCE_LAYER).output)
        metrics, monitor = [_last_step(keras, config.loss)], "val_last_step"
    trainee.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=config.clipnorm),
        loss=losses[config.loss],
        metrics=metrics,
        jit_compile=True,
    )
    stopper = keras.callbacks.EarlyStopping(
        monitor=monitor, mode="min", patience=config.patience, restore_best_weights=True, start_from_epoch=0,
    )
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        stopper,
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode="min", factor=0.5, patience=max(1, config.patience // 2), verbose=0),
    ]
    if on_epoch is not None:
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: on_epoch(epoch + 1, config.epochs, dict(logs or {})),
        ))
    started = time.perf_counter()
    with xla_for_training(trainee):
        if config.distribute == "multi-worker":
            epochs = distribute.fit_across_workers(keras, trainee, train, validation, config.epochs, callbacks)
        else:
            epochs = trainee.fit(train, validation_data=validation, epochs=config.epochs, callbacks=callbacks, verbose=0).history
    losses_seen = epochs.get("loss", []) + epochs.get("val_loss", [])
    if not np.isfinite(losses_seen).all():
        raise TrainingDiverged(
            f"training diverged: the loss became {losses_seen[-1]} at epoch {len(epochs['loss'])}; "
            "lower --lr or set --clipnorm 1.0. The previous model, if any, was kept."
        )
    val_losses = epochs[monitor]
    summary = {
        "epochs": len(val_losses),
        "best_epoch": int(np.argmin(val_losses)) + 1,
        "best_val_loss": float(np.min(val_losses)),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if config.distribute != "none":
        summary["distribute"] = distribute.describe(config.distribute, network)
    return summary


def _gpu_available() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def generic_kernel_warning(keras, network) -> str | None:
    """Why the network's GRU/LSTM layers cannot use the GPU's cuDNN kernel, if an option forces
    Keras's generic one: recurrent dropout, which MC Dropout does not need (``--dropout`` suffices)."""
    recurrent = (keras.layers.GRU, keras.layers.LSTM)
    slow = [
        layer.name for layer in network.layers
        if isinstance(inner := getattr(layer, "forward_layer", layer), recurrent) and inner.recurrent_dropout
    ]
    if not slow:
        return None
    return (
        f"--recurrent-dropout keeps {', '.join(slow)} off the GPU's cuDNN kernel, several times slower; "
        "MC-Dropout error bars work with --dropout alone, which keeps it."
    )


@contextlib.contextmanager
def xla_for_training(model):
    """Train the compiled ``model`` on CPU with XLA exactly when the network has no dropout.

    Keras drops ``jit_compile`` whenever ``--seed`` turned on op determinism, because some GPU
    kernels have no deterministic XLA form; on CPU, XLA's kernels are deterministic, and without XLA
    a seeded run took two to three times the CPU seconds per epoch of an unseeded one for the
    recurrent models. Dropout is the opposite case: XLA's random masks on CPU made a GRU with
    ``--dropout 0.1`` at batch 4096 five times slower per step (4.2 s against 0.8 s), and a seeded
    LSTM at batch 32 2.4 times slower (benchmarks/README.md). Layers that cannot be compiled
    (a cuDNN LSTM or GRU) still say so through ``supports_jit``; on a GPU Keras's choice stands.
    Afterwards the model predicts as Keras compiled it, i.e. exactly as the same network loaded from disk.
    """
    chosen = model.jit_compile
    if not _gpu_available():
        # Private, as Keras has no public switch past its determinism check (keras 3 trainer.py).
        model._jit_compile = not has_dropout(model) and all(layer.supports_jit for layer in model._flatten_layers())
    try:
        yield
    finally:
        model._jit_compile = chosen


def _last_step(keras, loss: str):
    """The loss of the last time step alone: the seq2seq model's forecast (the chapter's last_time_step_mse)."""
    functions = {"mse": keras.losses.mean_squared_error, "mae": keras.losses.mean_absolute_error, "huber": keras.losses.huber}

    def last_step(y_true, y_pred):
        return functions[loss](y_true[:, -1], y_pred[:, -1])

    return last_step


def panel_dataset(values: np.ndarray | Sequence[np.ndarray], shape: NetworkShape, batch_size: int, shuffle: bool, seed: int | None,
                  sequence_times: Sequence[int] | None = None, window_map: np.ndarray | None = None):
    """Batches of (input, target) pairs cut lazily from each series' ``[time, features]`` rows, never
    across two series: ``[series, time, features]``, or a list of series of different lengths
    (one series: ``values[None]``).

    Only the (series, start) index pairs are shuffled, as one tensor and afresh each epoch, and
    the windows are gathered a batch at a time: per-window tf.data elements (what
    ``keras.utils.timeseries_dataset_from_array`` makes) cost 0.65 s per batch of 4,096, slower
    than the GRU's training step, and a shuffle buffer of 4 million elements held 1.3 GB.
    ``window_map`` (``Preprocessing.window_map``) maps each cut over time; with
    ``sequence_times``, seq2seq targets (see ``split_windows``).
    """
    import tensorflow as tf

    length = shape.window + shape.steps
    lengths = [len(one) for one in values]
    index = tf.constant(np.concatenate([
        np.stack([np.full(max(n - length + 1, 0), i), np.arange(max(n - length + 1, 0))], axis=-1) for i, n in enumerate(lengths)
    ]).astype(np.int64))
    rows = tf.constant(np.concatenate([np.asarray(one).reshape(n, -1) for one, n in zip(values, lengths)]), dtype=tf.float32)
    firsts = tf.constant(np.cumsum([0, *lengths[:-1]]), dtype=tf.int64)
    offsets = tf.range(length, dtype=tf.int64)

    def cut(pairs):
        windows = tf.gather(rows, tf.gather(firsts, pairs[:, :1]) + pairs[:, 1:] + offsets)
        if window_map is not None:
            windows = tf.einsum("ij,bjc->bic", window_map, windows)
        return split_windows(windows, shape, sequence_times)

    if shuffle:
        # A new key on every pass over the dataset, the same sequence of keys for the same seed.
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        order = keys.map(lambda key: tf.random.experimental.stateless_shuffle(index, seed=tf.stack([key, 0])))
    else:
        order = tf.data.Dataset.from_tensors(index)
    return order.unbatch().batch(batch_size).map(cut, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
