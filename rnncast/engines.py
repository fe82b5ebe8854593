"""Running a saved network: onnxruntime where the model has an ONNX export, Keras otherwise.

Forecasting from a saved model is the common cron job. onnxruntime loads and predicts in a
fraction of a second, where importing TensorFlow alone takes seconds and ~600 MB, so training
exports the network to ONNX (a deterministic graph, and one with dropout active for MC Dropout)
and checks the export against Keras before shipping it. Forecasting uses the export and falls
back to Keras where there is none.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
from pathlib import Path
from typing import Callable

import numpy as np

from rnncast.errors import UsageError
from rnncast.rollout import Predictor, has_dropout, keras_predictor, stochastic_predictor

log = logging.getLogger("rnncast")

ENGINES = ("auto", "onnx", "keras")
# An export is shipped only if it matches Keras to this, relative to the outputs' scale (the
# series' scale): float32 graphs rewritten by the converter differ by ~1e-6..1e-5, a wrong
# conversion by far more.
TOLERANCE = 1e-4
OPSET = 17


@dataclasses.dataclass(frozen=True)
class Engine:
    """How to run a network: one deterministic predictor, and MC-Dropout ones for a seed
    (``stochastic`` is None for a network without dropout)."""

    name: str
    deterministic: Predictor
    stochastic: Callable[[int | None], Predictor] | None


def keras_engine(network) -> Engine:
    stochastic = (lambda seed: stochastic_predictor(network, seed)) if has_dropout(network) else None
    return Engine("keras", keras_predictor(network), stochastic)


def onnx_engine(deterministic: bytes, stochastic_model: bytes | None) -> Engine:
    """An engine over ONNX models given as bytes (read under the model directory's lock)."""
    import onnxruntime

    def session(model: bytes):
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def predictor(runner) -> Predictor:
        name = runner.get_inputs()[0].name
        return lambda windows: runner.run(None, {name: np.ascontiguousarray(windows, dtype=np.float32)})[0]

    def stochastic(seed: int | None) -> Predictor:
        # onnxruntime seeds its random kernels when a session is created, from this global seed.
        onnxruntime.set_seed(seed if seed is not None else secrets.randbelow(2**31))
        return predictor(session(stochastic_model))

    return Engine("onnx", predictor(session(deterministic)), stochastic if stochastic_model else None)


def choose(preferred: str, has_export: bool) -> str:
    """The engine to run: ``preferred`` unless it is "auto", which takes ONNX when there is an export."""
    if preferred not in ENGINES:
        raise UsageError(f"`--engine` must be one of {', '.join(ENGINES)}. Received: {preferred}.")
    if preferred == "onnx" and not has_export:
        raise UsageError("`--engine onnx`: this model has no ONNX export (see `rnncast info`); use --engine keras or auto.")
    if preferred == "auto":
        return "onnx" if has_export and _onnxruntime_available() else "keras"
    return preferred


def _onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def export_onnx(network, deterministic_path: str, stochastic_path: str | None) -> None:
    """Export ``network`` to ONNX, deterministic and (when it has dropout) with dropout active,
    and check both against Keras.

    Raises:
        RuntimeError: the export libraries are missing or the export disagrees with Keras.
    """
    import tensorflow as tf
    import tf2onnx

    signature = (tf.TensorSpec((None, *network.input_shape[1:]), tf.float32, name="window"),)
    probe = np.random.default_rng(0).standard_normal((64, *network.input_shape[1:])).astype(np.float32)
    with _quiet_tf2onnx():
        proto, _ = tf2onnx.convert.from_function(
            tf.function(lambda w: network(w, training=False), input_signature=signature),
            input_signature=signature, opset=OPSET,
        )
    Path(deterministic_path).write_bytes(proto.SerializeToString())
    expected = network.predict(probe, verbose=0)
    got = onnx_engine(Path(deterministic_path).read_bytes(), None).deterministic(probe)
    error = np.abs(got - expected).max() / max(1.0, float(np.abs(expected).max()))
    if not error <= TOLERANCE:
        raise RuntimeError(f"the ONNX export differs from Keras by {error:.2g} (tolerance {TOLERANCE:g})")
    if stochastic_path is None:
        return
    with _stateful_dropout(), _quiet_tf2onnx():
        proto, _ = tf2onnx.convert.from_function(
            tf.function(lambda w: network(w, training=True), input_signature=signature),
            input_signature=signature, opset=OPSET,
        )
    # tf2onnx writes seed=0 on every random node: all masks would be equal and every process
    # would repeat the same draws. Without the attribute onnxruntime seeds them itself.
    for node in proto.graph.node:
        for attribute in [a for a in node.attribute if a.name == "seed"]:
            node.attribute.remove(attribute)
    Path(stochastic_path).write_bytes(proto.SerializeToString())
    exported = onnx_engine(Path(deterministic_path).read_bytes(), Path(stochastic_path).read_bytes())
    passes = exported.stochastic(0)(np.repeat(probe[:1], 32, axis=0))
    if not np.isfinite(passes).all() or float(passes.std(axis=0).max()) == 0.0:
        raise RuntimeError("the MC-Dropout ONNX export does not vary between passes")


@contextlib.contextmanager
def _stateful_dropout():
    """Trace Keras dropout as ``tf.nn.dropout``, which converts to ONNX, and keep each layer's
    masks apart: tf2onnx's duplicate-merging optimizer would fuse the identical random nodes."""
    import keras.src.backend as backend
    import tensorflow as tf
    import tf2onnx.optimizer

    original = backend.random.dropout
    merge = tf2onnx.optimizer._optimizers.pop("merge_duplication", None)
    backend.random.dropout = lambda inputs, rate, noise_shape=None, seed=None: tf.nn.dropout(inputs, rate=rate, noise_shape=noise_shape)
    try:
        yield
    finally:
        backend.random.dropout = original
        if merge is not None:
            tf2onnx.optimizer._optimizers["merge_duplication"] = merge


@contextlib.contextmanager
def _quiet_tf2onnx():
    """tf2onnx logs every conversion step at INFO; rnncast shows them only with --verbose."""
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    if os.environ.get("RNNCAST_VERBOSE") != "1":
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
