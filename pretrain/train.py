"""Pretrain a small GRU forecaster on the synthetic corpus, within a wall-clock budget, on CPU.

The network reads a context of up to ``--context`` steps (left-padded, with a mask channel),
scaled by the context's mean absolute value, plus the declared season as sin/cos of each step's
position in the season and log(season); it predicts the next ``--horizon`` steps as quantiles,
relative to the last observed value (or, with ``--anchor seasonal``, to the seasonal-naive
forecast) and in the same scale, trained with the pinball loss.

    nice -n 19 python pretrain/train.py --out pretrain/runs/base --minutes 20

Each epoch draws fresh windows from the corpus, so the network sees a new sample every epoch; the
learning rate follows a cosine over the time budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "pretrain"))

import synthetic  # noqa: E402

from rnncast.finetune import pinball  # noqa: E402
from rnncast.pretrained import CHANNELS, MIN_CONTEXT, training_pairs  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a saved network needs to be used again, and how it was trained."""

    context: int = 104
    horizon: int = 48
    quantiles: tuple[float, ...] = (0.05, 0.1, 0.5, 0.9, 0.95)
    units: int = 64
    layers: int = 2
    weighting: str = "none"
    anchor: str = "last"
    series: int = 20000
    seed: int = 0
    batch_size: int = 256
    windows_per_epoch: int = 32768
    learning_rate: float = 2e-3
    minutes: float = 20.0


def sample_windows(corpus: synthetic.Corpus, rng, count: int, context: int, horizon: int):
    """``count`` (past, past mask, future, future mask, season) windows at random forecast origins."""
    series = rng.integers(0, len(corpus.lengths), count)
    length = corpus.lengths[series]
    origin = rng.integers(MIN_CONTEXT, length)  # at least MIN_CONTEXT observed, at least one future value
    past_index = origin[:, None] - context + np.arange(context)
    future_index = origin[:, None] + np.arange(horizon)
    last = corpus.values.shape[1] - 1
    past = corpus.values[series[:, None], past_index.clip(0, last)]
    future = corpus.values[series[:, None], future_index.clip(0, last)]
    past_mask = past_index >= 0
    # A third of the windows are cut short, so that short histories (yearly series) are common.
    keep = np.where(rng.random(count) < 0.3, rng.integers(MIN_CONTEXT, context + 1, count), context)
    past_mask &= np.arange(context) >= context - keep[:, None]
    return past, past_mask, future, future_index < length[:, None], corpus.seasons[series]


def naive_error(inputs: np.ndarray, season: np.ndarray) -> np.ndarray:
    """In-context MAE of the seasonal-naive forecast, in scaled units (lag 1 when too short for the season)."""
    values, mask = inputs[..., 0], inputs[..., 1] > 0
    rows = np.arange(len(values))
    errors = np.empty(len(values))
    for lag in np.unique(season):
        chosen = rows[season == lag]
        usable = mask[chosen].sum(axis=1) > lag + 1
        lags = np.where(usable, lag, 1)
        for step in np.unique(lags):
            part = chosen[lags == step]
            both = mask[part, step:] & mask[part, :-step]
            diff = np.abs(values[part, step:] - values[part, :-step]) * both
            errors[part] = diff.sum(axis=1) / np.maximum(both.sum(axis=1), 1)
    return errors


def batch(corpus, rng, count: int, settings: Settings):
    """Inputs and targets: y_true holds the scaled future and its per-step weight (0 where absent)."""
    past, past_mask, future, future_mask, season = sample_windows(corpus, rng, count, settings.context, settings.horizon)
    inputs, target, weight = training_pairs(past, past_mask, season, future, future_mask, settings.anchor)
    if settings.weighting == "mase":
        # Errors in units of the context's seasonal-naive MAE, as MASE counts them; capped so that
        # near-constant contexts do not dominate.
        weight *= (1 / np.maximum(naive_error(inputs, season), 0.02))[:, None].clip(max=20) / 5
    return inputs, np.stack([target, weight], axis=-1).astype(np.float32)


def build(keras, settings: Settings):
    inputs = keras.Input((settings.context, CHANNELS))
    x = inputs
    for layer in range(settings.layers):
        x = keras.layers.GRU(settings.units, return_sequences=layer < settings.layers - 1)(x)
    x = keras.layers.Dense(settings.horizon * len(settings.quantiles))(x)
    outputs = keras.layers.Reshape((settings.horizon, len(settings.quantiles)))(x)
    return keras.Model(inputs, outputs)


def limit_threads() -> None:
    """One intra-op and one inter-op thread: the machine is shared."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="Folder for model.keras and settings.json.")
    defaults = Settings()
    for field in dataclasses.fields(Settings):
        if field.name != "quantiles":
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(getattr(defaults, field.name)), default=getattr(defaults, field.name))
    args = parser.parse_args()
    settings = Settings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Settings) if f.name != "quantiles"})
    if settings.weighting not in ("none", "mase"):
        parser.error(f"--weighting must be none or mase. Received: {settings.weighting}")
    if settings.anchor not in ("last", "seasonal"):
        parser.error(f"--anchor must be last or seasonal. Received: {settings.anchor}")

    started = time.perf_counter()
    corpus = synthetic.generate(settings.series, settings.seed)
    held_out = synthetic.generate(2000, settings.seed + 1)
    validation = batch(held_out, np.random.default_rng(settings.seed + 1), 4096, settings)
    print(f"corpus: {settings.series} series in {time.perf_counter() - started:.0f} s", flush=True)

    from rnncast._keras import import_keras

    keras = import_keras()
    limit_threads()
    keras.utils.set_random_seed(settings.seed)
    network = build(keras, settings)
    optimizer = keras.optimizers.Adam(settings.learning_rate, clipnorm=1.0)
    network.compile(optimizer=optimizer, loss=pinball(settings.quantiles), jit_compile=True)
    print(f"parameters: {network.count_params()}", flush=True)

    rng = np.random.default_rng(settings.seed)
    budget = settings.minutes * 60
    history = []
    epoch = 0
    while time.perf_counter() - started < budget:
        fraction = (time.perf_counter() - started) / budget
        optimizer.learning_rate.assign(settings.learning_rate * 0.5 * (1 + np.cos(np.pi * min(fraction, 1))))
        inputs, targets = batch(corpus, rng, settings.windows_per_epoch, settings)
        fitted = network.fit(inputs, targets, batch_size=settings.batch_size, epochs=1, verbose=0)
        val = network.evaluate(*validation, batch_size=1024, verbose=0)
        epoch += 1
        history.append({"epoch": epoch, "loss": fitted.history["loss"][0], "val_loss": val, "seconds": round(time.perf_counter() - started)})
        print(f"epoch {epoch}: loss {history[-1]['loss']:.4f} val {val:.4f} lr {float(optimizer.learning_rate):.5f} "
              f"{history[-1]['seconds']} s", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    network.save(args.out / "model.keras")
    card = {**dataclasses.asdict(settings), "parameters": network.count_params(), "history": history,
            "train_seconds": round(time.perf_counter() - started)}
    (args.out / "settings.json").write_text(json.dumps(card, indent=1))
    print(f"saved {args.out} after {epoch} epochs, {card['train_seconds']} s", flush=True)


if __name__ == "__main__":
    main()
