"""One shared check over the whole model zoo, plus the options each model accepts or rejects."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import seasonal_frame
from rnncast.config import DataOptions, TrainConfig
from rnncast.data import load_csv
from rnncast.dataset import Panel
from rnncast.rollout import keras_predictor, rollout
from rnncast.models import ZOO, NetworkShape, configure
from rnncast.fitloop import panel_dataset, xla_for_training
from rnncast.training import fit, score_held_out

# One layer keeps the suite fast (compiling dominates); the seq-to-vector variant stacks two.
TINY_OPTIONS = {"units": 4, "layers": 1, "epochs": 1}
# Every model with both strategies: direct on multivariate data with two of three columns as targets
# (outputs are a subset, inputs have no future), trained seq2seq where the model can be; autoregressive
# on univariate data (blocks chained). Variants: a stack of two layers, bidirectional layers.
CASES = [
    (name, strategy, {"seq2seq": True} if strategy == "direct" and spec.sequence_times else {})
    for name, spec in ZOO.items() for strategy in ("direct", "autoregressive")
] + [
    ("deep-rnn", "direct", {"layers": 2}),
    ("gru", "autoregressive", {"bidirectional": True}),
]


@pytest.mark.parametrize(("name", "strategy", "extra"), CASES, ids=lambda case: case if isinstance(case, str) else "-".join(f"{k}={v}" for k, v in case.items()) or None)
def test_every_model_trains_forecasts_and_round_trips(name, strategy, extra, write_csv, tmp_path):
    import keras

    spec = ZOO[name]
    multivariate = strategy == "direct"
    frame = seasonal_frame(rows=60, columns=("load", "temp", "solar") if multivariate else ("y",))
    targets = ("load", "temp") if multivariate else ()
    series = load_csv(write_csv(frame), DataOptions(targets=targets))
    options = {k: v for k, v in {**TINY_OPTIONS, **extra}.items() if k in spec.accepted}  # baselines take none
    config = TrainConfig(model=name, strategy=strategy, window=8, horizon=3, season=7, seed=1, fallback=False, **options)

    fitted = fit(series, config)

    windows = fitted.scaler.transform(series.frame.to_numpy())[np.arange(4)[:, None] + np.arange(8)]
    predicted = rollout(keras_predictor(fitted.network), windows, 3, fitted.target_index)
    assert predicted.shape == (4, 3, len(series.targets)) and np.isfinite(predicted).all()
    path = tmp_path / "model.keras"
    fitted.network.save(path)
    loaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    # oneDNN (on some CPUs) may run the loaded graph's kernels in another order: equal to round-off.
    np.testing.assert_allclose(rollout(keras_predictor(loaded), windows, 3, fitted.target_index), predicted, rtol=1e-5, atol=1e-6)


def test_one_model_trains_on_many_series_and_validates_on_series_held_out():
    rng = np.random.default_rng(0)
    series = np.sin(np.linspace(0, 6, 20) + rng.uniform(0, 6, (30, 1)))[..., None]
    config = TrainConfig(model="linear", horizon=2, window=18, epochs=1, seed=1, preprocess="none", fallback=False)
    held_out = Panel.from_array(series[24:], "valid")

    fitted = fit(Panel.from_array(series[:24], "train"), config, held_out=held_out)

    assert fitted.metrics["windows"] == 6 and len(fitted.scalers) == 24  # one window per held-out series, its last horizon
    naive = series[24:, -3:-2, 0] - series[24:, -2:, 0]
    assert fitted.metrics["naive"]["y0"]["rmse"] == pytest.approx(np.sqrt((naive**2).mean(axis=1)).mean())
    assert score_held_out(fitted, held_out) == fitted.metrics
    with pytest.raises(ValueError, match="auto"):
        fit(Panel.from_array(series[:24], "train"), dataclasses.replace(config, preprocess="auto"), held_out=held_out)


def test_seeded_training_compiles_with_xla_and_repeats_exactly():
    import keras

    series = np.sin(np.linspace(0, 6, 16) + np.random.default_rng(0).uniform(0, 6, (20, 1)))[..., None]
    config = TrainConfig(model="gru", units=4, layers=1, horizon=2, epochs=1, seed=1)
    config = dataclasses.replace(config, window=14, preprocess="none")
    first, second = (fit(Panel.from_array(series[:16], "t"), config, held_out=Panel.from_array(series[16:], "v"))
                     for _ in range(2))  # --seed: op determinism on
    windows = series[16:, :14]
    np.testing.assert_array_equal(keras_predictor(first.network)(windows), keras_predictor(second.network)(windows))

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(loss="mse", jit_compile=True)
    assert not model.jit_compile  # what Keras does under op determinism: twice the time per epoch
    with xla_for_training(model):
        assert model.jit_compile
    assert not model.jit_compile  # predictions as from the saved network
    dropped = keras.Sequential([keras.Input((3,)), keras.layers.Dropout(0.1), keras.layers.Dense(1)])
    dropped.compile(loss="mse", jit_compile=True)
    dropped._jit_compile = True  # Keras's choice without --seed
    with xla_for_training(dropped):
        assert not dropped.jit_compile  # XLA's random masks on CPU cost more than XLA saves
    assert dropped.jit_compile


def test_windows_of_many_series_never_cross_two_series():
    values = (100 * np.arange(3)[:, None] + np.arange(6))[..., None].astype(np.float32)
    shape = NetworkShape(window=3, n_inputs=1, steps=2, outputs=(0,))
    pairs = [(x, y) for x, y in panel_dataset(values, shape, batch_size=4, shuffle=True, seed=1).unbatch().as_numpy_iterator()]

    assert len(pairs) == 3 * 2
    for x, y in pairs:
        rows = np.concatenate([x[:, 0], y[:, 0]])
        assert np.array_equal(np.diff(rows), np.ones(4))


def test_seq2seq_targets_follow_each_time_of_the_strided_convolution():
    values = np.arange(12, dtype=np.float32)[None, :, None]
    shape = NetworkShape(window=10, n_inputs=1, steps=2, outputs=(0,))
    times = list(ZOO["conv-gru"].sequence_times(10))
    [(x, y)] = list(panel_dataset(values, shape, 1, shuffle=False, seed=None, sequence_times=times).as_numpy_iterator())

    # kernel 4, stride 2: outputs end at inputs 3, 5, 7, 9; each target is the two values after that.
    assert times == [3, 5, 7, 9]
    assert y[0].tolist() == [[4, 5], [6, 7], [8, 9], [10, 11]]


def test_peephole_cell_with_zero_peepholes_is_a_plain_lstm():
    import keras

    from rnncast.layers import PeepholeLSTMCell

    inputs = np.arange(72, dtype=np.float32).reshape((3, 6, 4)) / 72
    lstm = keras.layers.LSTM(5)
    peephole = keras.layers.RNN(PeepholeLSTMCell(5))
    lstm(inputs), peephole(inputs)
    peephole.set_weights(lstm.get_weights() + [np.zeros(5)] * 3)

    np.testing.assert_allclose(peephole(inputs), lstm(inputs), rtol=1e-5, atol=1e-6)


def test_seq2seq_is_chosen_for_models_that_support_it_and_left_unset_for_others():
    assert configure(TrainConfig(model="gru")).seq2seq is False
    assert configure(TrainConfig(model="wavenet", seq2seq=True)).seq2seq is True
    assert configure(TrainConfig(model="linear")).seq2seq is None


def test_only_options_the_user_gave_are_checked_against_the_model():
    from rnncast.errors import UsageError

    assert configure(TrainConfig(model="naive", units=8)).model == "naive"  # a TrainConfig cannot tell a default from a choice
    with pytest.raises(UsageError, match="`--units` does not apply to --model naive"):
        configure(TrainConfig(model="naive", units=8), given=["model", "units"])


def test_models_lists_the_whole_zoo(cli):
    result = cli("models", "--format", "json")

    assert result.code == 0
    import json

    assert [row["model"] for row in json.loads(result.out)] == [*ZOO, "pretrained"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "naive", "--units", "4"),
         "`--units` does not apply to --model naive, a baseline with nothing to train; drop the option."),
        (("--model", "seasonal-naive", "--lr", "0.1", "--epochs", "3"),
         "`--lr`, `--epochs` do not apply to --model seasonal-naive, a baseline with nothing to train; drop the option."),
        (("--model", "simple-rnn", "--layers", "3"),
         "`--layers` does not apply to --model simple-rnn, which takes --units, --dropout, --recurrent-dropout, "
         "--bidirectional, --seq2seq, --lr, --epochs, --batch-size, --patience, --loss, --clipnorm."),
        (("--model", "linear", "--seq2seq"),
         "`--seq2seq` does not apply to --model linear, which takes --lr, --epochs, --batch-size, --patience, --loss, --clipnorm."),
        (("--model", "wavenet", "--recurrent-dropout", "0.2", "--bidirectional"),
         "`--recurrent-dropout`, `--bidirectional` do not apply to --model wavenet, which takes --units, --layers, "
         "--dropout, --seq2seq, --lr, --epochs, --batch-size, --patience, --loss, --clipnorm."),
        (("--model", "gru", "--bidirectional", "--seq2seq"),
         "`--seq2seq` cannot be combined with `--bidirectional`: the backward layer would see the values "
         "each time step is trained to predict. Drop one of them."),
    ],
)
def test_options_that_do_not_apply_to_the_model_are_usage_errors(cli, daily_csv, tmp_path, args, message):
    result = cli("train", daily_csv, "-d", tmp_path / "m", *args)

    assert (result.code, result.out) == (2, "")
    assert result.err == f"rnncast: error: {message}\n"
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("options", "slow"),
    [
        ({"model": "gru", "recurrent_dropout": 0.2}, "gru_0, gru_1"),
        ({"model": "lstm", "layers": 1, "recurrent_dropout": 0.2, "bidirectional": True}, "bidirectional_0"),
        ({"model": "gru", "dropout": 0.2}, None),
        ({"model": "simple-rnn", "recurrent_dropout": 0.2}, None),  # no cuDNN kernel to lose
    ],
)
def test_recurrent_dropout_on_cudnn_layers_is_named_in_the_gpu_warning(options, slow):
    import keras

    from rnncast.models import build_model
    from rnncast.fitloop import generic_kernel_warning

    network = build_model(NetworkShape(8, 1, 3, (0,)), TrainConfig(units=4, window=8, horizon=3, **options))
    warning = generic_kernel_warning(keras, network)
    assert (warning is None) if slow is None else f"--recurrent-dropout keeps {slow} off the GPU's cuDNN kernel" in warning
