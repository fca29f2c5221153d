"""Artifacts of a run: config.json, metrics.json, the CSV log, the curves plot, versions.

Every artifact is written atomically (`keras_resnetv2.utils.files`): never half-written,
whenever the process is killed.
"""

import csv
import io
import json
import os
import platform
import sys
import tempfile

import keras
import numpy as np

from keras_resnetv2 import _version
from keras_resnetv2.utils.checks import fail
from keras_resnetv2.utils.figures import new_figure, save_figure
from keras_resnetv2.utils.files import atomic_save_weights, atomic_write_text, file_digest


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


def plot_curves(history, path, *, restarts=()):
    """Writes a PNG of loss and accuracy per epoch: train, and validation and test where recorded;
    a dashed line after each epoch of `restarts` (where a run started from the previous one's weights)."""
    from matplotlib.ticker import MaxNLocator  # optional dependency: matplotlib

    figure = new_figure(figsize=(10, 4))
    epochs = [h["epoch"] for h in history]
    for i, (metric, title) in enumerate((("cross_entropy", "cross-entropy loss"), ("accuracy", "accuracy"))):
        axes = figure.add_subplot(1, 2, i + 1)
        for prefix, label in (("", "train"), ("val_", "validation"), ("test_", "test")):
            values = [h.get(prefix + metric) for h in history]
            if any(v is not None for v in values):
                axes.plot(epochs, values, marker="o", label=label)
        for j, epoch in enumerate(restarts):
            axes.axvline(epoch + 0.5, color="gray", linestyle="--", label="warm restart" if j == 0 else None)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(title)
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.tight_layout()
    save_figure(figure, path)


def library_versions():
    """Versions of Python and of the libraries a run used, for config.json."""
    versions = {
        "python": platform.python_version(),
        "keras_resnetv2": _version.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": np.__version__,
    }
    for module in ("tensorflow", "jax", "h5py", "tensorflow_datasets"):
        if module in sys.modules:
            versions[module] = getattr(sys.modules[module], "__version__", "unknown")
    return versions



def init_weights_record(config):
    """Where a run's `init_weights` came from: the name or path given and the file's
    SHA-256; when the file is a run's `model.weights.h5`, that run's command, precision,
    schedule, epochs and per-epoch history too (from its config.json and metrics.json beside it),
    so that a zoo entry's card shows both runs."""
    path = config.init_weights_file()
    record = {"weights": config.init_weights, "sha256": file_digest(path)}
    parent = _read_json_object(os.path.join(os.path.dirname(path), "config.json"))
    if isinstance(parent.get("command"), list):
        record.update(command=parent["command"], precision=parent.get("train_config", {}).get("precision"),
                      schedule=parent.get("schedule"))
    metrics = _read_json_object(os.path.join(os.path.dirname(path), "metrics.json"))
    if isinstance(metrics.get("history"), list) and metrics["history"]:
        record.update(epochs=len(metrics["history"]), history=metrics["history"])
    return record


def _read_json_object(path):
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def write_artifacts(config, dataset, exported, *, schedule, history, test, distribution,
                    steps, wall_time, resumed_from, command):
    """Writes model.weights.h5, config.json, metrics.json and curves.png of a finished run.

    Args:
        config: the run's resolved `TrainConfig`.
        dataset: the `data.ImageDataset` it trained on.
        exported: the plain builder's model holding the trained weights.
        schedule: the description of the learning-rate schedule.
        history: the per-epoch records.
        test: the test metrics (`model.evaluate(..., return_dict=True)`).
        distribution: the run's `Distribution`.
        steps: training steps per epoch.
        wall_time: seconds the run took.
        resumed_from: the epoch the run resumed from (0: a fresh run).
        command: the command line to record (None: `sys.argv`).
    """
    model_dir = config.model_dir
    info = dataset.info
    spec = config.architecture()
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
            "augmentation": {
                "pad_crop": info.pad if config.augment else 0,
                "flip": info.flip and config.augment,
                "random_erasing": config.random_erasing if config.augment else 0.0,
            },
        },
        "versions": library_versions(),
        "command": list(sys.argv if command is None else command),
    }
    if config.init_weights is not None:
        run_config["init_weights"] = init_weights_record(config)
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
