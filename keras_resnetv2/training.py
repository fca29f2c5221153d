"""The library behind `train.py`: config, recipe, strategy, fit, evaluate, artifacts.

`run(TrainConfig(...))` trains a named architecture on a named dataset with
`model.fit` under a `tf.distribute` strategy and writes into `model_dir`:

    model.weights.h5   final weights (weights only, no optimizer state)
    config.json        architecture spec, training config, schedule, dataset
                       checksums and statistics, library versions, command
    metrics.json       final-epoch test accuracy/loss and the per-epoch history
    curves.png         loss and accuracy per epoch
    log.csv            the per-epoch CSV log
    tensorboard/       TensorBoard logs
    backup/            the last epoch's training state while training runs

Every file is written under a temporary name in the same folder and renamed, so no
artifact is ever half-written. A run killed at any point and restarted with the same
config resumes from its last completed epoch (`backup/`) and ends with the same
number of epochs; the training stream is a pure function of (seed, epoch), so the
resumed run sees the batches the uninterrupted one would have.

Recipes (`RECIPES`), with departures from arXiv:1603.05027's CIFAR recipe:

* `paper`: SGD, momentum 0.9, weight decay 1e-4, batch 128, learning rate 0.1 with a
  0.01 warm-up for the first 400 iterations, divided by 10 at 50% and 75% of
  training; 164 epochs by default (64k iterations of batch 128 on 50k images). The
  paper's schedule is in iterations (32k, 48k of 64k); here it is the same
  fractions of `epochs * steps_per_epoch`, so it scales to other datasets.
* `budget`: for short runs: SGD with Nesterov momentum 0.9, weight decay 1e-4 (5e-4
  is common on CIFAR but over-regularizes a few epochs), batch 128, learning rate 0.1
  reached by a linear warm-up over 400 iterations, then cosine decay to 0 over a
  fixed number of epochs (`BUDGET_EPOCHS` = 4: ResNet-20V2 reaches 91.8% Fashion-MNIST
  test accuracy in about 11.5 minutes on 2 CPU cores, `make train`).

Both scale the learning rate (and the warm-up rate) linearly with the global batch:
`lr = learning_rate * batch_size / 128` (Goyal et al. 2017).

Weight decay is an L2 penalty `weight_decay / 2 * ||w||^2` on every Conv2D and Dense
kernel, added to the loss. Its gradient `weight_decay * w` then goes through the
momentum, exactly Torch's coupled `optim.sgd` weight decay that the paper used.
Keras' `SGD(weight_decay=...)` is decoupled (`w -= lr * wd * w` outside the
momentum), which with momentum 0.9 decays about 10x less. Departure: Torch decays
every parameter; BN's gamma/beta and biases are not decayed here (usual Keras/TF
practice). The reported `loss` includes the penalty; `cross_entropy` does not.

Every epoch uses `steps_per_epoch = floor(train images / batch_size)` full batches.
"""

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from typing import Optional

import keras
import numpy as np

from keras_resnetv2 import data as data_lib
from keras_resnetv2.spec import ORDERS, SHORTCUTS
from keras_resnetv2.validation import check_choice, fail

RECIPES = ("paper", "budget")
DISTRIBUTIONS = ("auto", "mirrored", "one_device", "multi_worker", "tpu")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
VERBOSITIES = ("auto", 0, 1, 2)
# The batch size the recipes' learning rates are given for.
REFERENCE_BATCH = 128
PAPER_EPOCHS = 164
BUDGET_EPOCHS = 4
RECIPE_DEFAULTS = {
    "paper": dict(
        epochs=PAPER_EPOCHS, batch_size=128, learning_rate=0.1, weight_decay=1e-4,
        momentum=0.9, nesterov=False, warmup_steps=400,
    ),
    "budget": dict(
        epochs=BUDGET_EPOCHS, batch_size=128, learning_rate=0.1, weight_decay=1e-4,
        momentum=0.9, nesterov=True, warmup_steps=400,
    ),
}
# Fields that may change between a killed run and its resumption.
RESUMABLE_CHANGES = ("data_dir", "distribution", "jit_compile", "steps_per_execution", "verbose")

BACKUP_STATE = "state.json"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good backup is kept."""


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on; `None` fields take the recipe's default.

    Attributes:
        model: a registered architecture name (`keras_resnetv2.list_models()`).
        dataset: a dataset name (`keras_resnetv2.data.list_datasets()`).
        model_dir: folder of the artifacts and the backup; default
            `runs/{model}_{dataset}`.
        data_dir: where the dataset's files are (see `data.load`).
        recipe: `"paper"` or `"budget"` (see the module docstring).
        epochs: number of epochs.
        batch_size: global batch size, split across replicas.
        learning_rate: peak learning rate for a batch of 128; scaled linearly.
        weight_decay: L2 coefficient (coupled, as in Torch's SGD).
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        warmup_steps: warm-up iterations (`paper`: constant lr/10; `budget`: linear).
        validation_split: fraction of the training images held out for validation.
        train_subset: train on only this many images (quick runs, tests).
        augment: pad-crop-flip augmentation (the flip per dataset).
        seed: seed of initialization, shuffling and augmentation.
        distribution: one of `DISTRIBUTIONS` (see `make_strategy`).
        sync_batchnorm: synchronize BatchNorm statistics across replicas (TF backend),
            so a distributed run normalizes like one device on the global batch.
        precision: `"float32"`, `"mixed_float16"` or `"mixed_bfloat16"`; the
            classifier stays float32.
        jit_compile: XLA-compile the train step.
        steps_per_execution: train steps per `tf.function` call.
        order, shortcut: override the architecture's activation order / shortcut.
        spec_options: overrides of any other `ResNetSpec` field, e.g.
            `{"stage_widths": [4, 8, 16]}` for a tiny net in a quick test.
        verbose: `model.fit` verbosity: "auto", 0, 1 (progress bar) or 2.
    """

    model: str = "ResNet20V2"
    dataset: str = "fashion_mnist"
    model_dir: Optional[str] = None
    data_dir: Optional[str] = None
    recipe: str = "budget"
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    learning_rate: Optional[float] = None
    weight_decay: Optional[float] = None
    momentum: Optional[float] = None
    nesterov: Optional[bool] = None
    warmup_steps: Optional[int] = None
    validation_split: float = 0.0
    train_subset: Optional[int] = None
    augment: bool = True
    seed: int = 0
    distribution: str = "auto"
    sync_batchnorm: bool = True
    precision: str = "float32"
    jit_compile: bool = False
    steps_per_execution: int = 1
    order: Optional[str] = None
    shortcut: Optional[str] = None
    spec_options: dict = dataclasses.field(default_factory=dict)
    verbose: object = "auto"

    def __post_init__(self):
        import keras_resnetv2

        self.model = keras_resnetv2.get_variant(self.model).name
        check_choice("dataset", self.dataset, data_lib.list_datasets())
        check_choice("recipe", self.recipe, RECIPES)
        check_choice("distribution", self.distribution, DISTRIBUTIONS)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("verbose", self.verbose, VERBOSITIES)
        if self.order is not None:
            check_choice("order", self.order, ORDERS)
        if self.shortcut is not None:
            check_choice("shortcut", self.shortcut, SHORTCUTS)
        for name in ("epochs", "batch_size", "steps_per_execution"):
            _check_int(name, getattr(self, name), minimum=1, optional=name != "steps_per_execution")
        _check_int("warmup_steps", self.warmup_steps, minimum=0, optional=True)
        _check_int("train_subset", self.train_subset, minimum=1, optional=True)
        _check_int("seed", self.seed, minimum=0)
        _check_number("learning_rate", self.learning_rate, low=0.0, low_open=True)
        _check_number("weight_decay", self.weight_decay, low=0.0)
        _check_number("momentum", self.momentum, low=0.0, high=1.0)
        _check_number("validation_split", self.validation_split, low=0.0, high=1.0, optional=False)
        for name in ("nesterov", "augment", "sync_batchnorm", "jit_compile"):
            value = getattr(self, name)
            if not (isinstance(value, bool) or (value is None and name == "nesterov")):
                fail(name, f"`{name}` must be True or False.", value)
        if self.model_dir is None:
            self.model_dir = os.path.join("runs", f"{self.model.lower()}_{self.dataset}")
        if not isinstance(self.model_dir, (str, os.PathLike)) or not os.fspath(self.model_dir):
            fail("model_dir", "`model_dir` must be a non-empty path.", self.model_dir)
        self.model_dir = os.fspath(self.model_dir)
        if self.nesterov and self.momentum == 0.0:
            fail(
                "nesterov",
                "Nesterov momentum (the `budget` recipe's default) needs `momentum` > 0; "
                "set nesterov=False (--nonesterov) for plain SGD.",
                self.nesterov,
            )
        if not isinstance(self.spec_options, dict):
            fail("spec_options", "`spec_options` must be a dict of `ResNetSpec` fields.", self.spec_options)
        for name in ("order", "shortcut"):
            if getattr(self, name) is not None and name in self.spec_options:
                fail(
                    "spec_options",
                    f"`{name}` is given twice, as `{name}={getattr(self, name)!r}` and in "
                    "`spec_options`; give it once.",
                    self.spec_options,
                )
        keras_resnetv2.get_variant(self.model).spec(**self.spec_overrides())  # validates

    def resolved(self):
        """A copy with every `None` hyperparameter replaced by the recipe's default."""
        defaults = RECIPE_DEFAULTS[self.recipe]
        changes = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        return dataclasses.replace(self, **changes)  # validated again

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields):
        names = [f.name for f in dataclasses.fields(cls)]
        for name in fields:
            check_choice("TrainConfig field", name, names)
        return cls(**fields)

    def spec_overrides(self):
        """The `ResNetSpec` fields this run overrides in the named architecture."""
        overrides = dict(self.spec_options)
        overrides.update({k: v for k, v in (("order", self.order), ("shortcut", self.shortcut)) if v is not None})
        return overrides


def _check_int(name, value, *, minimum, optional=False):
    if value is None and optional:
        return
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        fail(name, f"`{name}` must be an integer >= {minimum}{' or None' if optional else ''}.", value)


def _check_number(name, value, *, low, high=None, low_open=False, optional=True):
    if value is None and optional:
        return
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (high is None or value < high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'})"
        fail(name, f"`{name}` must be a number in {interval}.", value)


# ---------------------------------------------------------------------------
# Recipe: optimizer and learning-rate schedule.


def learning_rate_schedule(config, total_steps):
    """The recipe's `LearningRateSchedule` over `total_steps` iterations, and its description."""
    peak = config.learning_rate * config.batch_size / REFERENCE_BATCH
    warmup = config.warmup_steps
    if warmup >= total_steps:
        fail(
            "warmup_steps",
            f"`warmup_steps` must be less than the run's {total_steps} training steps "
            f"({config.epochs} epochs).",
            warmup,
        )
    if config.recipe == "paper":
        points = [(warmup, peak / 10)] if warmup else []
        points += [(round(0.5 * total_steps), peak), (round(0.75 * total_steps), peak / 10)]
        boundaries, values = [], []
        for boundary, value in points:
            if boundary > (boundaries[-1] if boundaries else 0):
                boundaries.append(boundary)
                values.append(value)
        values.append(peak / 100)
        if not boundaries:  # a single step: the whole run at the first rate
            return keras.optimizers.schedules.PiecewiseConstantDecay([total_steps], [peak, peak]), {
                "type": "piecewise_constant", "boundaries": [total_steps], "values": [peak, peak]}
        description = {"type": "piecewise_constant", "boundaries": boundaries, "values": values}
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values), description
    description = {"type": "linear_warmup_cosine", "peak": peak, "warmup_steps": warmup, "total_steps": total_steps}
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else peak,
        decay_steps=total_steps - warmup,
        alpha=0.0,
        warmup_target=peak if warmup else None,
        warmup_steps=warmup,
    )
    return schedule, description


def make_optimizer(config, total_steps):

    schedule, description = learning_rate_schedule(config, total_steps)
    optimizer = keras.optimizers.SGD(
        learning_rate=schedule, momentum=config.momentum, nesterov=config.nesterov
    )
    return optimizer, description


# ---------------------------------------------------------------------------
# Distribution.


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
    import tensorflow as tf

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
    if batch_size % num_replicas:
        fail(
            "batch_size",
            f"The global `batch_size` must be divisible by the {num_replicas} replicas "
            f"(it is split evenly across them); e.g. {max(1, batch_size // num_replicas) * num_replicas}.",
            batch_size,
        )


# ---------------------------------------------------------------------------
# The model.


def build_model(config, info):
    """The architecture with the run's training tweaks: logits, L2 penalty, sync BN.

    The registered builder makes the net; a clone then adds the kernel L2 penalty
    and synchronized BatchNorm through the layers' public config, so the trained
    weights load unchanged into the plain builder.
    """
    import keras_resnetv2

    base = keras_resnetv2.build(
        config.model,
        input_shape=info.input_shape,
        classes=info.num_classes,
        weights=None,
        classifier_activation=None,
        **config.spec_overrides(),
    )
    penalty = config.weight_decay / 2
    sync = config.sync_batchnorm and keras.backend.backend() == "tensorflow"
    if not penalty and not sync:
        return base

    def clone_layer(layer):
        layer_config = layer.get_config()
        if penalty and isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            layer_config["kernel_regularizer"] = keras.regularizers.L2(penalty)
        if sync and isinstance(layer, keras.layers.BatchNormalization):
            layer_config["synchronized"] = True
        return layer.__class__.from_config(layer_config)

    model = keras.models.clone_model(base, clone_function=clone_layer)
    model.set_weights(base.get_weights())  # the builder's seeded initialization
    return model


def export_model(config, info, trained):
    """The plain builder's model (softmax top) holding `trained`'s weights."""
    import keras_resnetv2

    model = keras_resnetv2.build(
        config.model,
        input_shape=info.input_shape,
        classes=info.num_classes,
        weights=None,
        **config.spec_overrides(),
    )
    model.set_weights([np.asarray(w) for w in trained.get_weights()])
    return model


# ---------------------------------------------------------------------------
# Callbacks.


class StopOnNaN(keras.callbacks.Callback):
    """Raises `TrainingDiverged` as soon as the training loss is NaN or infinite.

    Unlike `keras.callbacks.TerminateOnNaN` (which ends training quietly), the run
    fails with a clear message; the backup of the last good epoch is kept.
    """

    def __init__(self, backup_dir, learning_rate):
        super().__init__()
        self.backup_dir = backup_dir
        self.learning_rate = learning_rate
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        state = read_backup_state(self.backup_dir)
        kept = (
            f"The last good backup (epoch {state['epoch']}) is kept in {self.backup_dir}."
            if state
            else "No epoch completed, so there is no backup to keep."
        )
        raise TrainingDiverged(
            f"Training diverged: the loss is {float(loss)} at epoch {self.epoch + 1}, "
            f"step {batch + 1}. {kept} Lower --learning_rate or raise --warmup_steps. "
            f"Received: learning_rate={self.learning_rate!r}"
        )


class EpochBackup(keras.callbacks.Callback):
    """Saves the training state after every epoch, atomically; see `restore_backup`.

    Each save writes the weights (model and optimizer, `model.save_weights`) to
    `epoch-NNNN.weights.h5`, then replaces `state.json` (epoch, history, config), the
    commit point, then deletes the previous epoch's weights: a kill at any moment
    leaves the old or the new state, never a mix. Not `keras.callbacks.
    BackupAndRestore`, which overwrites its weights in place (a kill mid-write leaves a
    corrupt file), commits weights and epoch in two separate writes, resumes through
    the private `model._initial_epoch` and keeps no history.

    Args:
        backup_dir: the folder of the backup.
        history: list of per-epoch records, extended in place.
        identity: the config fields a resumed run must match.
        write: False on non-chief workers (they restore, never write).
    """

    def __init__(self, backup_dir, *, history, identity, write=True):
        super().__init__()
        self.backup_dir = backup_dir
        self.history = history
        self.identity = identity
        self.write = write

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1}
        record.update({k: float(v) for k, v in (logs or {}).items()})
        if not all(math.isfinite(v) for v in record.values()):
            return  # StopOnNaN reports it; keep the last good state.
        self.history.append(record)
        if not self.write:
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = f"epoch-{epoch + 1:04d}.weights.h5"
        atomic_save_weights(self.model, os.path.join(self.backup_dir, weights))
        state = {"epoch": epoch + 1, "weights": weights, "history": self.history, "config": self.identity}
        atomic_write_text(os.path.join(self.backup_dir, BACKUP_STATE), json.dumps(state, indent=1))
        for name in os.listdir(self.backup_dir):
            if name.endswith(".weights.h5") and name != weights:
                os.remove(os.path.join(self.backup_dir, name))


def read_backup_state(backup_dir):
    path = os.path.join(backup_dir, BACKUP_STATE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def restore_backup(model, backup_dir, identity):
    """Loads the last backup into `model` (and its optimizer); returns (epoch, history).

    Raises a `ValueError` if the backup belongs to a run with a different config.
    """
    state = read_backup_state(backup_dir)
    if state is None:
        return 0, []
    saved = state["config"]
    changed = sorted(k for k in set(identity) | set(saved) if identity.get(k) != saved.get(k))
    if changed:
        differences = ", ".join(f"{k}: {saved.get(k)!r} -> {identity.get(k)!r}" for k in changed)
        fail(
            "model_dir",
            f"{backup_dir} holds the backup of a run with a different config "
            f"({differences}). "
            "Rerun with the same flags to resume it, or pass another --model_dir (or delete "
            "the backup folder) to start afresh.",
            os.path.dirname(backup_dir),
        )
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(backup_dir, state["weights"]))
    return state["epoch"], state["history"]


def _identity(config):
    """The config fields a resumed run must share with the killed one, as JSON values."""
    fields = config.to_dict()
    for name in RESUMABLE_CHANGES:
        fields.pop(name)
    return json.loads(json.dumps(fields))


# ---------------------------------------------------------------------------
# Files.


def _fsync(path):
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def atomic_write_bytes(path, payload):
    """Writes `payload` to `path` through a temporary file in the same folder."""
    tmp = _temporary_name(path)
    try:
        with open(tmp, "xb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _temporary_name(path):
    """A hidden sibling of `path` that keeps its suffix (Keras checks `.weights.h5`)."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".tmp-{os.getpid()}-{os.urandom(4).hex()}-{name}")


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_weights(model, path):
    """`model.save_weights(path)` through a temporary file in the same folder."""
    tmp = _temporary_name(path)
    try:
        model.save_weights(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def check_writable(model_dir):
    """Creates `model_dir` and writes a probe file in it, or raises a `ValueError`."""
    try:
        os.makedirs(model_dir, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=model_dir)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        fail("model_dir", f"`model_dir` is not a writable folder ({e.strerror or e}).", model_dir)


def truncate_csv_log(path, epochs):
    """Keeps the header and the rows of the first `epochs` epochs of a CSVLogger file."""
    if not os.path.exists(path):
        return
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not epochs or not rows:
        os.remove(path)
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) < epochs]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(kept)
    atomic_write_text(path, out.getvalue())


def plot_curves(history, path):
    """Writes a PNG of loss and accuracy per epoch (train, and validation if any)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(figure)
    epochs = [h["epoch"] for h in history]
    for i, (metric, title) in enumerate((("cross_entropy", "cross-entropy loss"), ("accuracy", "accuracy"))):
        axes = figure.add_subplot(1, 2, i + 1)
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = [h.get(prefix + metric) for h in history]
            if any(v is not None for v in values):
                axes.plot(epochs, values, marker="o", label=label)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(title)
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    atomic_write_bytes(path, out.getvalue())


def library_versions():
    import keras_resnetv2

    versions = {
        "python": platform.python_version(),
        "keras_resnetv2": keras_resnetv2.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": np.__version__,
    }
    for module in ("tensorflow", "jax", "h5py", "tensorflow_datasets"):
        if module in sys.modules:
            versions[module] = getattr(sys.modules[module], "__version__", "unknown")
    return versions


# ---------------------------------------------------------------------------
# The run.


@dataclasses.dataclass
class RunResult:
    """What `run` returns: the test metrics, the per-epoch history and where it wrote."""

    test_accuracy: float
    test_loss: float
    epochs: int
    resumed_from: int
    history: list
    wall_time: float
    model_dir: str


def run(config, *, command=None):
    """Trains, evaluates and writes the artifacts of `config` (a `TrainConfig`).

    Args:
        config: a `TrainConfig`.
        command: the command line to record in config.json (default: `sys.argv`).

    Returns:
        A `RunResult`.

    Raises:
        ValueError: bad or contradictory settings, an unwritable `model_dir`, a
            backup of a different run; always before training starts.
        TrainingDiverged: the loss became NaN; the last good backup is kept.
    """
    start = time.time()
    config = config.resolved()
    distribution = make_strategy(config.distribution)
    check_global_batch(config.batch_size, distribution.num_replicas)
    model_dir = config.model_dir
    check_writable(model_dir)
    backup_dir = os.path.join(model_dir, "backup")
    if not distribution.is_chief:
        model_dir = os.path.join(model_dir, f".worker-{distribution.worker_id}")
        check_writable(model_dir)

    dataset = data_lib.load(
        config.dataset,
        data_dir=config.data_dir,
        validation_split=config.validation_split,
        train_subset=config.train_subset,
    )
    info = dataset.info
    steps = data_lib.steps_per_epoch(len(dataset.train[0]), config.batch_size)
    total_steps = steps * config.epochs

    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)
    try:
        keras.utils.set_random_seed(config.seed)
        with distribution.scope():
            model = build_model(config, info)
            optimizer, schedule = make_optimizer(config, total_steps)
            model.compile(
                optimizer=optimizer,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[
                    keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                    keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="cross_entropy"),
                ],
                jit_compile=config.jit_compile,
                steps_per_execution=config.steps_per_execution,
            )
            identity = _identity(config)
            initial_epoch, history = restore_backup(model, backup_dir, identity)
        if initial_epoch:
            print(
                f"Resuming from the backup of epoch {initial_epoch}/{config.epochs} in {backup_dir}",
                flush=True,
            )

        train_ds = _distributable(data_lib.train_pipeline(
            *dataset.train,
            batch_size=config.batch_size,
            mean=dataset.mean,
            std=dataset.std,
            seed=config.seed,
            augment=config.augment,
            pad=info.pad,
            flip=info.flip,
            start_epoch=initial_epoch,
        ))
        eval_batch = config.batch_size
        val_ds = None
        if dataset.validation is not None:
            val_ds = _distributable(data_lib.eval_pipeline(
                *dataset.validation, batch_size=eval_batch, mean=dataset.mean, std=dataset.std))
        test_ds = _distributable(data_lib.eval_pipeline(
            *dataset.test, batch_size=eval_batch, mean=dataset.mean, std=dataset.std))

        csv_path = os.path.join(model_dir, "log.csv")
        if distribution.is_chief:
            truncate_csv_log(csv_path, initial_epoch)
        callbacks = [
            StopOnNaN(backup_dir, config.learning_rate),
            keras.callbacks.CSVLogger(csv_path, append=True),
            keras.callbacks.TensorBoard(os.path.join(model_dir, "tensorboard")),
            EpochBackup(backup_dir, history=history, identity=identity, write=distribution.is_chief),
        ]
        model.fit(
            train_ds,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            validation_data=val_ds,
            callbacks=callbacks,
            shuffle=False,  # the pipeline shuffles, reproducibly
            verbose=config.verbose,
        )
        test = model.evaluate(test_ds, return_dict=True, verbose=0)
        wall_time = time.time() - start

        if distribution.is_chief:
            _write_artifacts(
                config, dataset, model, schedule=schedule, history=history, test=test,
                distribution=distribution, steps=steps, wall_time=wall_time,
                resumed_from=initial_epoch, command=command,
            )
            shutil.rmtree(backup_dir, ignore_errors=True)
        else:
            shutil.rmtree(model_dir, ignore_errors=True)
    finally:
        keras.config.set_dtype_policy(previous_policy)

    print(
        f"test accuracy: {test['accuracy']:.4f} ({config.epochs} epochs, {wall_time:.0f} s) -> {config.model_dir}",
        flush=True,
    )
    return RunResult(
        test_accuracy=float(test["accuracy"]),
        test_loss=float(test["cross_entropy"]),
        epochs=len(history),
        resumed_from=initial_epoch,
        history=history,
        wall_time=wall_time,
        model_dir=config.model_dir,
    )


def _distributable(ds):
    """In-memory datasets shard by data across workers (there are no files)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def _write_artifacts(config, dataset, model, *, schedule, history, test, distribution,
                     steps, wall_time, resumed_from, command):
    import keras_resnetv2

    model_dir = config.model_dir
    info = dataset.info
    spec = keras_resnetv2.get_variant(config.model).spec(**config.spec_overrides())
    exported = export_model(config, info, model)
    atomic_save_weights(exported, os.path.join(model_dir, "model.weights.h5"))
    run_config = {
        "model": config.model,
        "spec": spec.to_dict(),
        "input_shape": list(info.input_shape),
        "classes": info.num_classes,
        "parameters": int(exported.count_params()),
        "train_config": config.to_dict(),
        "schedule": schedule,
        "steps_per_epoch": steps,
        "distribution": {
            "name": distribution.name,
            "strategy": type(distribution.strategy).__name__ if distribution.strategy else None,
            "replicas": distribution.num_replicas,
        },
        "dataset": {
            "name": info.name,
            "source": info.source,
            "label_names": list(info.label_names),
            "checksums_sha256": dataset.checksums,
            "mean": list(dataset.mean),
            "std": list(dataset.std),
            "train_examples": len(dataset.train[0]),
            "validation_examples": 0 if dataset.validation is None else len(dataset.validation[0]),
            "test_examples": len(dataset.test[0]),
            "augmentation": {"pad_crop": info.pad if config.augment else 0, "flip": info.flip and config.augment},
        },
        "versions": library_versions(),
        "command": list(sys.argv if command is None else command),
    }
    atomic_write_text(os.path.join(model_dir, "config.json"), json.dumps(run_config, indent=2) + "\n")
    metrics = {
        "test": {
            "accuracy": float(test["accuracy"]),
            "loss": float(test["cross_entropy"]),
            "loss_with_weight_decay": float(test["loss"]),
        },
        "epochs": len(history),
        "resumed_from_epoch": resumed_from,
        "wall_time_s": round(wall_time, 1),
        "history": history,
    }
    atomic_write_text(os.path.join(model_dir, "metrics.json"), json.dumps(metrics, indent=2) + "\n")
    plot_curves(history, os.path.join(model_dir, "curves.png"))
