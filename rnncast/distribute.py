"""Scale-out on TensorFlow's own engine: ``tf.distribute`` strategies, and which worker writes.

``--distribute mirrored`` replicates the network on every local GPU (or the CPU) and splits
each batch between the replicas; ``--distribute multi-worker`` does the same across the
machines that ``TF_CONFIG`` lists. Every worker runs the same command on the same data: the
batches are sharded between workers (auto-shard policy DATA), gradients are all-reduced every
step, so every worker ends with the same weights, and only the chief's model is kept.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from rnncast.errors import UsageError

# Workers shuffle with the same seed so that their batch orders agree, which DATA sharding
# needs for the shards to split the windows between them without overlap.
SHARED_SHUFFLE_SEED = 0


@functools.cache
def strategy(name: str):
    """The ``tf.distribute`` strategy for ``--distribute``, created once per process:
    collective operations between workers can be configured only once, before any other op.

    Raises:
        UsageError: multi-worker without a usable ``TF_CONFIG``.
    """
    if name == "multi-worker":
        _check_tf_config()
    from rnncast._keras import import_keras

    import_keras()  # TensorFlow's chatter silenced before it loads
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _check_tf_config() -> None:
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise UsageError(
            "`--distribute multi-worker` needs the TF_CONFIG environment variable naming the cluster and "
            "this worker's task; see docs/distributed.md."
        )
    try:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        task = config["task"]["type"], int(config["task"]["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(
            f"TF_CONFIG must be JSON like {{\"cluster\": {{\"worker\": [\"host:port\", ...]}}, "
            f"\"task\": {{\"type\": \"worker\", \"index\": 0}}}} ({type(error).__name__}: {error})."
        ) from None
    if not workers or task[0] not in config["cluster"]:
        raise UsageError(f"TF_CONFIG: task type {task[0]!r} is not in the cluster ({', '.join(config['cluster'])}).")


def is_chief(name: str) -> bool:
    """Whether this process writes the model: always, except on the non-chief workers of a cluster
    (the chief is task "chief", or worker 0 when the cluster has no chief)."""
    if name != "multi-worker":
        return True
    resolver = strategy(name).cluster_resolver
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


@contextlib.contextmanager
def writable_dir(model_dir: str | os.PathLike[str], name: str) -> Iterator[Path]:
    """Where this worker saves: ``model_dir`` on the chief; on other workers a temporary directory,
    removed afterwards. This is TensorFlow's documented pattern: every worker saves (saving may
    take part in collective operations), but only the chief's copy is kept."""
    if is_chief(name):
        yield Path(model_dir)
        return
    scratch = tempfile.mkdtemp(prefix="rnncast-worker-")
    try:
        yield Path(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def shuffle_seed(name: str, seed: int | None) -> int:
    """The seed of the window shuffle: the user's, else a random one, except across workers."""
    if seed is not None:
        return seed
    if name == "multi-worker":
        return SHARED_SHUFFLE_SEED
    return int(np.random.default_rng().integers(2**31))


def shard_by_data(dataset):
    """Mark ``dataset`` to be split between workers by elements (batches), since it is built from
    arrays in memory rather than from files that workers could divide."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def fit_across_workers(keras, network, train, validation, epochs: int, callbacks: list) -> dict[str, list[float]]:
    """``network.fit`` for a multi-worker strategy: Keras 3's own ``fit`` fails across workers
    (keras-team/keras#20585: it reduces scalar logs along an axis they do not have).

    This is TensorFlow's documented custom training loop around Keras' own per-replica
    ``train_step``: every worker runs the same number of steps through its shard of the batches
    (repeating it if it is one short), the optimizer all-reduces the gradients, and the losses the
    callbacks decide on are averaged across workers, so every worker stops at the same epoch.
    Validation runs in full on every worker. Call inside the strategy's scope, after ``compile``.

    Returns:
        The per-epoch ``loss`` and ``val_loss``, as ``fit(...).history`` has them.
    """
    import tensorflow as tf

    current = tf.distribute.get_strategy()
    steps = max(1, math.ceil(int(train.cardinality()) / _workers(current)))
    batches = iter(current.experimental_distribute_dataset(train.repeat()))
    network.optimizer.build(network.trainable_variables)  # variables cannot be created inside a replica step
    loss_function = keras.losses.get(network.loss)

    @tf.function
    def train_step(iterator):
        logs = current.run(network.train_step, args=(next(iterator),))
        return current.reduce("MEAN", logs["loss"], axis=None)

    def validation_loss() -> float:
        total = count = 0.0
        for x, y in validation:
            total += float(tf.reduce_sum(loss_function(y, network(x, training=False))))
            count += float(tf.reduce_prod(tf.shape(y)[:-1]))
        return float(current.reduce("MEAN", tf.constant(total / count), axis=None))

    callback_list = keras.callbacks.CallbackList(callbacks, model=network)
    history: dict[str, list[float]] = {"loss": [], "val_loss": []}
    network.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(epochs):
        callback_list.on_epoch_begin(epoch)
        network.reset_metrics()
        for _ in range(steps):
            loss = train_step(batches)
        logs = {"loss": float(loss), "val_loss": validation_loss()}
        for key, value in logs.items():
            history[key].append(value)
        callback_list.on_epoch_end(epoch, logs)
        if network.stop_training:
            break
    callback_list.on_train_end()
    return history


def describe(name: str, network) -> dict[str, Any]:
    """How the training was spread, for the model card, with a digest of the final weights
    (equal on every worker of one run)."""
    current = strategy(name)
    digest = hashlib.sha256()
    for weights in network.get_weights():
        digest.update(np.ascontiguousarray(weights).tobytes())
    return {
        "strategy": name,
        "replicas": int(current.num_replicas_in_sync),
        "workers": _workers(current),
        "chief": is_chief(name),
        "weights_sha256": digest.hexdigest(),
    }


def _workers(current) -> int:
    """Processes training together: the chief and workers of the cluster, or this one alone."""
    resolver = getattr(current, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    return max(len(cluster.get("chief", [])) + len(cluster.get("worker", [])), 1)
