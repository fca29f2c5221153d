"""Training throughput of train.py on Fashion-MNIST, as Markdown tables.

    python bench/training_throughput.py [--images 6400] [--epochs 3] [--batch_size 128] \
        [--model ResNet20V2] [--spec_options JSON] [--json out.json]

Three measurements, in images per second, on `--images` training images of
Fashion-MNIST (offline, the Debian package or `--data_dir`):

(a) Input pipeline vs training. The training `tf.data` pipeline of train.py
    (`data.train_pipeline`: shuffle, pad-crop-flip augmentation, normalization,
    batching) iterated alone, against the training throughput of (b)'s train.py
    run. Target (issue 3): the pipeline delivers >= 10x what training consumes.
(b) train.py vs a bare `model.fit`. `training.run` (distribution `auto`, its
    pipeline, augmentation and callbacks: NaN check, CSV log, TensorBoard, the
    per-epoch backup) against `model.fit` of the same model (L2 penalty, same
    optimizer, loss and metrics) on in-memory normalized tensors, same batch, no
    augmentation, no callbacks. Target: train.py >= 0.95x the bare fit.
(c) `--jit_compile`: train.py's throughput with the train step XLA-compiled vs not.

Each throughput counts the epochs after the first (which traces and compiles):
train.py's from the `epoch_time_s` of its per-epoch history (each includes the
previous epoch's backup write), the bare fit's from a timing callback. So
`--epochs` must be at least 2; 3 or more averages out noise. The runs are
sequential in one process; on a loaded machine the ratios are noisy.

A quick check of the script itself (tiny net, numbers meaningless):

    python bench/training_throughput.py --images 512 --epochs 2 --batch_size 64 \
        --spec_options '{"stage_units": [1, 1, 1], "stage_widths": [4, 8, 16], "stem_width": 4}'
"""

import argparse
import contextlib
import dataclasses
import io
import json
import os
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras_resnetv2  # noqa: E402, F401  (before Keras: it turns on oneDNN, utils/cpu.py)
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_resnetv2 import data, training  # noqa: E402

PIPELINE_TARGET = 10.0
FIT_TARGET = 0.95


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def images_per_second(epoch_times, images_per_epoch):
    """Throughput over the epochs after the first (the first compiles)."""
    return images_per_epoch * (len(epoch_times) - 1) / sum(epoch_times[1:])


def pipeline_throughput(dataset, *, batch_size, batches):
    """Images per second of the training pipeline alone, after its first batch."""
    ds = data.train_pipeline(
        *dataset.train, batch_size=batch_size, mean=dataset.mean, std=dataset.std, seed=0,
        pad=dataset.info.pad, flip=dataset.info.flip,
    )
    iterator = iter(ds)
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def train_py_throughput(config, images_per_epoch):
    """Images per second of `training.run(config)`, from its per-epoch history."""
    with tempfile.TemporaryDirectory() as model_dir, contextlib.redirect_stdout(io.StringIO()):
        result = training.run(dataclasses.replace(config, model_dir=model_dir))
    return images_per_second([h["epoch_time_s"] for h in result.history], images_per_epoch)


def bare_fit_throughput(config, dataset, images_per_epoch):
    """Images per second of `model.fit` on in-memory tensors, same model and batch."""
    config = config.resolved()
    x, y = dataset.train
    x = ((x.astype("float32") / 255.0 - np.float32(dataset.mean)) / np.float32(dataset.std)).astype("float32")
    steps = data.steps_per_epoch(len(x), config.batch_size)
    x, y = x[: steps * config.batch_size], y[: steps * config.batch_size]
    keras.utils.set_random_seed(config.seed)
    model = training.build_model(config, dataset.info)
    training.compile_model(model, config, steps * config.epochs)
    timer = EpochTimer()
    model.fit(x, y, batch_size=config.batch_size, epochs=config.epochs, shuffle=True, callbacks=[timer], verbose=0)
    return images_per_second(timer.times, images_per_epoch)


def comparison(first, second, ratio_label, target=None):
    """A Markdown table of two `(label, images per second)` and their ratio."""
    ratio = first[1] / second[1]
    rows = [["measure", "img/s", "ratio", "target"], ["---"] * 4]
    rows += [[label, f"{value:,.0f}", "", ""] for label, value in (first, second)]
    check = "" if target is None else f"{'pass' if ratio >= target else 'FAIL'} (>= {target})"
    rows.append([ratio_label, "", f"{ratio:.3f}", check])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=6400, help="training images (a fixed subset)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is not timed)")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--model", default="ResNet20V2")
    parser.add_argument("--spec_options", default="{}", help="JSON of ResNetSpec overrides (e.g. a tiny net)")
    parser.add_argument("--data_dir", default=None, help="Fashion-MNIST's IDX files (default: the Debian package)")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error(f"--epochs must be at least 2 (the first epoch is not timed). Received: --epochs={args.epochs}")

    config = training.TrainConfig(
        model=args.model, dataset="fashion_mnist", data_dir=args.data_dir, train_subset=args.images,
        batch_size=args.batch_size, epochs=args.epochs, warmup_steps=0, verbose=0,
        spec_options=json.loads(args.spec_options),
    )
    dataset = data.load("fashion_mnist", data_dir=args.data_dir, train_subset=args.images)
    steps = data.steps_per_epoch(args.images, args.batch_size)
    images_per_epoch = steps * args.batch_size
    started = time.time()

    pipeline = pipeline_throughput(dataset, batch_size=args.batch_size, batches=steps * (args.epochs - 1))
    train_py = train_py_throughput(config, images_per_epoch)
    bare = bare_fit_throughput(config, dataset, images_per_epoch)
    jit = train_py_throughput(dataclasses.replace(config, jit_compile=True), images_per_epoch)

    import tensorflow as tf

    print(
        f"## Training throughput: {config.model} on Fashion-MNIST\n\n"
        f"{args.images} images, batch {args.batch_size}, {args.epochs} epochs per run (first not timed), "
        f"spec overrides {config.spec_options or 'none'}; {os.cpu_count()} CPUs, "
        f"keras {keras.__version__}, tensorflow {tf.__version__}, python {platform.python_version()}; "
        f"{time.time() - started:.0f} s in all.\n"
    )
    print("(a) Input pipeline vs training\n")
    print(comparison(("training pipeline alone", pipeline), ("train.py training", train_py),
                     "pipeline / training", PIPELINE_TARGET))
    print("\n(b) train.py vs a bare model.fit on in-memory tensors\n")
    print(comparison(("train.py (training.run)", train_py), ("bare model.fit", bare), "train.py / bare", FIT_TARGET))
    print("\n(c) --jit_compile (train.py)\n")
    print(comparison(("--jit_compile", jit), ("--nojit_compile", train_py), "jit / no jit"))
    if args.json:
        record = {
            "model": config.model, "spec_options": config.spec_options, "images": args.images,
            "batch_size": args.batch_size, "epochs": args.epochs, "cpus": os.cpu_count(),
            "keras": keras.__version__, "tensorflow": tf.__version__,
            "images_per_second": {"pipeline": pipeline, "train_py": train_py, "bare_fit": bare, "train_py_jit": jit},
            "ratios": {"pipeline_over_training": pipeline / train_py, "train_py_over_bare_fit": train_py / bare,
                       "jit_over_no_jit": jit / train_py},
        }
        with open(args.json + ".tmp", "w") as file:
            json.dump(record, file, indent=1)
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
