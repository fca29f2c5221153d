"""Fault tolerance: per-epoch backups, resumption, and a clear stop on a NaN loss.

A run killed at any point and restarted with the same config resumes from its last
completed epoch (`EpochBackup`, `restore_backup`) and ends with the same number of
epochs; the training stream is a pure function of (seed, epoch), so the resumed run
sees the batches the uninterrupted one would have. A diverging run stops with
`TrainingDiverged` (`StopOnNaN`), keeping the backup of its last good epoch.
"""

import dataclasses
import json
import math
import os
import time

import keras

from keras_resnetv2.utils.files import atomic_save_weights, atomic_write_text
from keras_resnetv2.training.config import TrainConfig
from keras_resnetv2.utils.checks import fail

# Fields that may change between a killed run and its resumption (the backup lives in
# `model_dir`, so a moved or differently spelled folder resumes too).
RESUMABLE_CHANGES = (
    "data_dir", "model_dir", "distribution", "fused_batchnorm", "jit_compile", "steps_per_execution", "verbose",
)
BACKUP_STATE = "state.json"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good backup is kept."""


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

    Each record of the history holds the epoch's logs and `epoch_time_s`: the
    seconds since the previous epoch's backup was written (for the first epoch of a
    process, since the epoch began), so the records' times add up to the training
    time, backups included, but for the last backup's write.

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
        self._since = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._since is None:
            self._since = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1}
        record.update({k: float(v) for k, v in (logs or {}).items()})
        if not all(math.isfinite(v) for v in record.values()):
            return  # StopOnNaN reports it; keep the last good state.
        record["epoch_time_s"] = round(time.perf_counter() - self._since, 3)
        self.history.append(record)
        if self.write:
            self._save(epoch)
        self._since = time.perf_counter()

    def _save(self, epoch):
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = f"epoch-{epoch + 1:04d}.weights.h5"
        atomic_save_weights(self.model, os.path.join(self.backup_dir, weights))
        state = {"epoch": epoch + 1, "weights": weights, "history": self.history, "config": self.identity}
        atomic_write_text(os.path.join(self.backup_dir, BACKUP_STATE), json.dumps(state, indent=1))
        for name in os.listdir(self.backup_dir):
            if name.endswith(".weights.h5") and name != weights:
                os.remove(os.path.join(self.backup_dir, name))


def read_backup_state(backup_dir):
    """The committed state of the backup in `backup_dir` (a dict), or None if there is none."""
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
    changed = changed_fields(identity, saved)
    if changed:
        differences = ", ".join(f"{k}: {saved.get(k, _field_defaults().get(k))!r} -> {identity.get(k)!r}" for k in changed)
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


def changed_fields(identity, saved):
    """The config fields where `identity` differs from a backup's `saved` identity.

    A field added to `TrainConfig` since the backup was written matches at its
    default, and fields that became resumable since (`RESUMABLE_CHANGES`) are ignored,
    so backups of older versions of the package resume.
    """
    saved = {k: v for k, v in {**_field_defaults(), **saved}.items() if k not in RESUMABLE_CHANGES}
    return sorted(k for k in set(identity) | set(saved) if identity.get(k) != saved.get(k))


def _field_defaults():
    return {
        f.name: f.default for f in dataclasses.fields(TrainConfig)
        if f.default is not dataclasses.MISSING and f.name not in RESUMABLE_CHANGES
    }


def identity_of(config):
    """The config fields a resumed run must share with the killed one, as JSON values."""
    fields = config.to_dict()
    for name in RESUMABLE_CHANGES:
        fields.pop(name)
    return json.loads(json.dumps(fields))

