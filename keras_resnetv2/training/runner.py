"""The run: build the model under the strategy, fit, evaluate, write the artifacts."""

import dataclasses
import os
import shutil
import tempfile
import time

import keras
import numpy as np

from keras_resnetv2 import data as data_lib
from keras_resnetv2.models.builder import ResNet
from keras_resnetv2.training import artifacts
from keras_resnetv2.training.backup import EpochBackup, StopOnNaN, identity_of, read_backup_state, restore_backup
from keras_resnetv2.training.config import fit_verbosity
from keras_resnetv2.training.distribution import (
    adapt_to_multi_worker,
    check_global_batch,
    distributable,
    make_strategy,
)
from keras_resnetv2.training.precision import resolve_precision
from keras_resnetv2.training.recipes import fit_default_warmup, make_optimizer
from keras_resnetv2.weights import registry


def _build(config, info, **kwargs):
    return ResNet(
        config.architecture(),
        input_shape=info.input_shape,
        classes=info.num_classes,
        name=config.model.lower(),
        **kwargs,
    )


def build_model(config, info, replicas=None):
    """The architecture with the run's training tweaks: logits, L2 penalty, BN kernel.

    The registered builder makes the net, with BatchNorm through the fused kernel
    (`keras_resnetv2.models.batchnorm`) when `config.fused_batchnorm`, else Keras'
    layer, and loads `config.init_weights` when given; a clone then adds the kernel
    L2 penalty and synchronizes BatchNorm statistics across `replicas` (default: the
    current strategy's) when there are several and `config.sync_batchnorm`, through
    the layers' public config, so the trained weights load unchanged into the plain
    builder.
    """
    tensorflow = keras.backend.backend() == "tensorflow"
    if replicas is None and tensorflow:
        import tensorflow as tf  # optional dependency: TensorFlow (the [tf] extra)

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
    sync = config.sync_batchnorm and tensorflow and (replicas or 1) > 1
    base = _build(config, info, classifier_activation=None, fused_batchnorm=config.fused_batchnorm and not sync)
    init_file = config.init_weights_file()
    if init_file is not None:
        registry.load_weights(base, init_file, argument="init_weights")
    penalty = config.weight_decay / 2
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
    model.set_weights(base.get_weights())  # the builder's seeded initialization, or init_weights
    return model


class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of logits against integer labels smoothed by `label_smoothing`.

    Keras' `SparseCategoricalCrossentropy` has no label smoothing; this one-hot
    encodes the labels and applies `CategoricalCrossentropy`'s: the target is
    `(1 - label_smoothing) * one_hot + label_smoothing / classes`.
    """

    def __init__(self, label_smoothing, name="smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        classes = keras.ops.shape(y_pred)[-1]
        one_hot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, [-1]), "int32"), classes)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=True, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class TestEvaluation(keras.callbacks.Callback):
    """Adds the test set's metrics to every epoch's logs, as `test_<metric>`.

    For the curves only (the paper's Fig. 6 plots test error per epoch); a run's
    reported accuracy is always its final epoch's, never the best of these.
    Must come before the callbacks that record the logs.
    """

    def __init__(self, test_ds):
        super().__init__()
        self.test_ds = test_ds

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        test = self.model.evaluate(self.test_ds, return_dict=True, verbose=0)
        logs.update({f"test_{name}": float(value) for name, value in test.items()})


def compile_model(model, config, total_steps):
    """Compiles `model` with the recipe's optimizer, the loss and the metrics of a run.

    The loss is the cross-entropy of the logits (against labels smoothed by
    `config.label_smoothing`) plus the L2 penalty; `cross_entropy` reports the
    plain cross-entropy alone. Returns the description of the learning-rate
    schedule over `total_steps` iterations.
    """
    optimizer, schedule = make_optimizer(config, total_steps)
    if config.label_smoothing:
        loss = SmoothedSparseCrossentropy(config.label_smoothing)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="cross_entropy"),
        ],
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    return schedule


def export_model(config, info, trained):
    """The plain builder's model (softmax top) holding `trained`'s weights."""
    model = _build(config, info)
    model.set_weights([np.asarray(w) for w in trained.get_weights()])
    return model


@dataclasses.dataclass
class RunResult:
    """What `run` returns: the test metrics, the per-epoch history, where it wrote.

    `model` is the plain builder's model (softmax top) holding the trained weights,
    on every worker of a distributed run (the chief alone saves it: `is_chief`).
    """

    test_accuracy: float
    test_loss: float
    epochs: int
    resumed_from: int
    history: list
    wall_time: float
    model_dir: str
    model: keras.Model = dataclasses.field(repr=False)
    is_chief: bool = True


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
    default_warmup = config.warmup_steps is None
    backup_dir = os.path.join(config.model_dir, "backup")
    saved = read_backup_state(backup_dir)
    precision, why = resolve_precision(config.precision, saved=saved["config"].get("precision") if saved else None)
    if precision != config.precision:
        print(f"Precision: {precision} (--precision={config.precision}: {why})", flush=True)
    config = dataclasses.replace(config, precision=precision).resolved()
    distribution = make_strategy(config.distribution)
    check_global_batch(config.batch_size, distribution.num_replicas)
    if distribution.is_chief:
        artifacts.check_writable(config.model_dir)

    dataset = data_lib.load(
        config.dataset,
        data_dir=config.data_dir,
        validation_split=config.validation_split,
        train_subset=config.train_subset,
    )
    info = dataset.info
    steps = data_lib.steps_per_epoch(len(dataset.train[0]), config.batch_size)
    total_steps = steps * config.epochs
    if default_warmup:
        config = fit_default_warmup(config, total_steps)

    # Only the chief writes `model_dir`; the other workers of a multi-worker run write
    # their logs to a temporary folder removed at the end (as in TF's multi-worker
    # guide), and read the chief's backup (`model_dir` must be on a shared filesystem
    # for a multi-worker run to resume).
    log_dir = config.model_dir
    if not distribution.is_chief:
        log_dir = tempfile.mkdtemp(prefix=f"keras_resnetv2-worker{distribution.worker_id}-")
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)
    try:
        keras.utils.set_random_seed(config.seed)
        with distribution.scope():
            model = build_model(config, info)
            schedule = compile_model(model, config, total_steps)
            identity = identity_of(config)
            initial_epoch, history = restore_backup(model, backup_dir, identity)
        adapt_to_multi_worker(model, distribution, info.input_shape)
        if initial_epoch:
            print(
                f"Resuming from the backup of epoch {initial_epoch}/{config.epochs} in {backup_dir}",
                flush=True,
            )

        train_ds = distributable(data_lib.train_pipeline(
            *dataset.train,
            batch_size=config.batch_size,
            mean=dataset.mean,
            std=dataset.std,
            seed=config.seed,
            augment=config.augment,
            pad=info.pad,
            flip=info.flip,
            start_epoch=initial_epoch,
            random_erasing=config.random_erasing,
        ))
        eval_batch = config.batch_size
        val_ds = None
        if dataset.validation is not None:
            val_ds = distributable(data_lib.eval_pipeline(
                *dataset.validation, batch_size=eval_batch, mean=dataset.mean, std=dataset.std))
        test_ds = distributable(data_lib.eval_pipeline(
            *dataset.test, batch_size=eval_batch, mean=dataset.mean, std=dataset.std))

        csv_path = os.path.join(log_dir, "log.csv")
        if distribution.is_chief:
            artifacts.truncate_csv_log(csv_path, initial_epoch)
        callbacks = [TestEvaluation(test_ds)] if config.test_every_epoch else []
        callbacks += [
            StopOnNaN(backup_dir, config.learning_rate),
            keras.callbacks.CSVLogger(csv_path, append=True),
            keras.callbacks.TensorBoard(os.path.join(log_dir, "tensorboard")),
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
            verbose=fit_verbosity(config.verbose),
        )
        test = model.evaluate(test_ds, return_dict=True, verbose=0)
        wall_time = time.time() - start
        exported = export_model(config, info, model)
        if distribution.is_chief:
            artifacts.write_artifacts(
                config, dataset, exported, schedule=schedule, history=history, test=test,
                distribution=distribution, steps=steps, wall_time=wall_time,
                resumed_from=initial_epoch, command=command,
            )
            shutil.rmtree(backup_dir, ignore_errors=True)
    finally:
        keras.config.set_dtype_policy(previous_policy)
        if log_dir != config.model_dir:
            shutil.rmtree(log_dir, ignore_errors=True)

    writer = "" if distribution.is_chief else f" (worker {distribution.worker_id}: written by the chief)"
    print(
        f"test accuracy: {test['accuracy']:.4f} ({config.epochs} epochs, {wall_time:.0f} s) "
        f"-> {config.model_dir}{writer}",
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
        model=exported,
        is_chief=distribution.is_chief,
    )

