"""Distribution: a `tf.distribute` strategy (or a `keras.distribution`) by name.

`make_strategy(name)` returns a `Distribution`: the scope the model, optimizer and
metrics are built in, the number of replicas the global batch is split across, and
whether this process is the chief (the only one that writes artifacts). Under a
backend other than TensorFlow, `keras.distribution.DataParallel` plays the role of
MirroredStrategy.
"""

import contextlib
import os

import keras
import numpy as np

from keras_resnetv2._compat import keras as keras_compat
from keras_resnetv2.utils.checks import check_choice, fail

DISTRIBUTIONS = ("auto", "mirrored", "one_device", "multi_worker", "tpu")


class Distribution:
    """What `run` needs from a strategy: a scope, the replica count, the chief flag."""

    def __init__(self, name, scope, num_replicas, is_chief, worker_id=0, strategy=None):
        self.name = name
        self.scope = scope
        self.num_replicas = num_replicas
        self.is_chief = is_chief
        self.worker_id = worker_id
        self.strategy = strategy


def make_strategy(name):
    """A `Distribution` for `name`, one of `DISTRIBUTIONS`.

    * `auto`: MirroredStrategy over the local GPUs if any, else the CPU (one device).
    * `mirrored`: MirroredStrategy over the local GPUs, or over all logical CPU
      devices when there is no GPU (so it runs, and is testable, on a CPU).
    * `one_device`: the first GPU, else the CPU.
    * `multi_worker`: MultiWorkerMirroredStrategy configured from `TF_CONFIG`.
    * `tpu`: TPUStrategy on the TPU found by `TPUClusterResolver`.

    Under the JAX backend, `auto`/`one_device` use the default device and `mirrored`
    uses `keras.distribution.DataParallel` over the local devices.
    """
    check_choice("distribution", name, DISTRIBUTIONS)
    if keras.backend.backend() != "tensorflow":
        return _make_keras_distribution(name)
    import tensorflow as tf  # optional dependency: TensorFlow (the [tf] extra)

    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            fail(
                "distribution",
                "distribution='multi_worker' reads the cluster from the TF_CONFIG "
                "environment variable, which is not set.",
                name,
            )
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        resolver = strategy.cluster_resolver
        task_type, task_id = resolver.task_type, resolver.task_id
        has_chief = "chief" in resolver.cluster_spec().as_dict()
        is_chief = task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)
        worker_id = task_id + (1 if has_chief and task_type == "worker" else 0)
        return Distribution(name, strategy.scope, strategy.num_replicas_in_sync, is_chief, worker_id, strategy)
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
    else:
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        if name == "mirrored" or (name == "auto" and gpus):
            strategy = tf.distribute.MirroredStrategy(devices=gpus or cpus)
        else:
            strategy = tf.distribute.OneDeviceStrategy((gpus or cpus)[0])
    return Distribution(name, strategy.scope, strategy.num_replicas_in_sync, True, 0, strategy)


def _make_keras_distribution(name):
    """The `Distribution` of `name` under the JAX or torch backend."""
    if name in ("multi_worker", "tpu"):
        fail(
            "distribution",
            f"distribution={name!r} needs the TensorFlow backend (KERAS_BACKEND="
            f"{keras.backend.backend()!r}); use 'auto', 'one_device' or 'mirrored'.",
            name,
        )
    if name == "mirrored":
        distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices())
        return Distribution(name, distribution.scope, len(distribution.device_mesh.devices.flatten()), True)
    return Distribution(name, contextlib.nullcontext, 1, True)


def check_global_batch(batch_size, num_replicas):
    """Raises a `ValueError` unless `batch_size` splits evenly across `num_replicas`."""
    if batch_size % num_replicas:
        fail(
            "batch_size",
            f"The global `batch_size` must be divisible by the {num_replicas} replicas "
            f"(it is split evenly across them); e.g. {max(1, batch_size // num_replicas) * num_replicas}.",
            batch_size,
        )


def distributable(ds):
    """`ds` set to shard by data across workers: in-memory datasets have no files."""
    import tensorflow as tf  # optional dependency: TensorFlow (the [tf] extra)

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def adapt_to_multi_worker(model, distribution, input_shape):
    """Lets `model.fit`/`evaluate` run under MultiWorkerMirroredStrategy.

    Works around two bugs of Keras 3 (3.15) with MultiWorkerMirroredStrategy
    (keras-team/keras#20585, tensorflow/tensorflow#72388); a no-op for the other
    distributions:

    * `fit` builds the compiled metrics and loss from its first batch after
      `strategy.reduce`-ing that nested per-replica batch, which this strategy
      cannot do (`ValueError: Attempt to convert a value (PerReplica...)`). The same
      state is built here from a symbolic batch of one image, and the model skips
      Keras' own build (private methods: `_compat.keras.build_from_batch`).
    * Each step's metric results are reduced across workers with
      `strategy.reduce("MEAN", v, axis=0)`, which fails on scalars (`Invalid
      reduction dimension 0 for input with 0 dimensions`). The train and test steps
      (public override points) here return them with a batch axis of size 1, so the
      reduction is the mean over workers, as MirroredStrategy's is over replicas.

    Args:
        model: a compiled model, built in `distribution`'s scope.
        distribution: a `Distribution`.
        input_shape: `(height, width, channels)` of an image.
    """
    if distribution.name != "multi_worker":
        return
    batch = (np.zeros((1, *input_shape), "float32"), np.zeros((1,), "int64"))
    with distribution.scope():
        keras_compat.build_from_batch(model, batch)
    model.train_step = _with_batch_axis(model.train_step)
    model.test_step = _with_batch_axis(model.test_step)


def _with_batch_axis(step):
    def step_with_batch_axis(data):
        return {name: keras.ops.reshape(value, (1,)) for name, value in step(data).items()}

    return step_with_batch_axis
