"""Trains a residual network of keras_resnetv2 on a named dataset.

    python train.py --model=ResNet20V2 --dataset=fashion_mnist --recipe=budget \
        --model_dir=runs/resnet20v2_fashion_mnist

Your own images, one subfolder per class (all of one size; see
`keras_resnetv2.image_folder`):

    python train.py --dataset=folder --data_dir=path/to/images --model_dir=runs/mine

Flags left unset take the recipe's defaults (`keras_resnetv2.training.RECIPE_DEFAULTS`).
Rerunning a killed command resumes it from its last completed epoch. Everything here
is a thin front end of `keras_resnetv2.training.run`.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from keras_resnetv2 import data, training  # noqa: E402
from keras_resnetv2.spec import ORDERS, SHORTCUTS  # noqa: E402
from keras_resnetv2.variants import list_models  # noqa: E402

_DEFAULTS = training.TrainConfig()

flags.DEFINE_enum("model", _DEFAULTS.model, list_models(), "Architecture.", case_sensitive=False)
flags.DEFINE_enum("dataset", _DEFAULTS.dataset, data.list_datasets(), "Dataset.")
flags.DEFINE_string(
    "data_dir", None,
    "Folder of the dataset's files (fashion_mnist: the four IDX files; folder: class subfolders of "
    "images, or train/ and test/ folders of them; others: TFDS's data dir).",
)
flags.DEFINE_string("model_dir", None, "Folder of the artifacts and backup (default runs/{model}_{dataset}).")
flags.DEFINE_enum("recipe", _DEFAULTS.recipe, training.RECIPES, "Training recipe.")
flags.DEFINE_integer("epochs", None, "Epochs (default: the recipe's).", lower_bound=1)
flags.DEFINE_integer("batch_size", None, "Global batch size, split across replicas.", lower_bound=1)
flags.DEFINE_float(
    "learning_rate", None, "Peak learning rate for a batch of 128; scaled linearly with --batch_size."
)
flags.DEFINE_float("weight_decay", None, "L2 weight decay of the conv and dense kernels (Torch-style, coupled).")
flags.DEFINE_float("momentum", None, "SGD momentum.")
flags.DEFINE_boolean("nesterov", None, "Nesterov momentum (default: the recipe's).")
flags.DEFINE_integer("warmup_steps", None, "Warm-up iterations.", lower_bound=0)
flags.DEFINE_float("validation_split", 0.0, "Fraction of the training images held out for validation.")
flags.DEFINE_integer("train_subset", None, "Train on only this many images (quick runs).", lower_bound=1)
flags.DEFINE_boolean("augment", True, "Pad-and-crop and flip augmentation (the flip where the dataset allows).")
flags.DEFINE_integer("seed", 0, "Seed of initialization, shuffling and augmentation.", lower_bound=0)
flags.DEFINE_enum("distribution", _DEFAULTS.distribution, training.DISTRIBUTIONS, "Distribution strategy.")
flags.DEFINE_boolean("sync_batchnorm", True, "Synchronize BatchNorm statistics across replicas.")
flags.DEFINE_enum("precision", _DEFAULTS.precision, training.PRECISIONS, "Compute precision.")
flags.DEFINE_boolean("jit_compile", False, "XLA-compile the train step.")
flags.DEFINE_integer("steps_per_execution", 1, "Train steps per tf.function call.", lower_bound=1)
flags.DEFINE_enum("order", None, list(ORDERS), "Override the architecture's activation order.")
flags.DEFINE_enum("shortcut", None, list(SHORTCUTS), "Override the architecture's shortcut.")
flags.DEFINE_string(
    "spec_options", None,
    'JSON object of other ResNetSpec fields to override, e.g. \'{"stage_widths": [4, 8, 16]}\'.',
)
flags.DEFINE_enum("verbose", "auto", ["auto", "0", "1", "2"], "model.fit verbosity (1: progress bar).")

FLAGS = flags.FLAGS
# Errors that are the user's to fix: reported in one line, without a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, ImportError, training.TrainingDiverged)


def config_from_flags(values):
    """The `TrainConfig` of parsed `values` (an absl FlagValues)."""
    return training.TrainConfig(
        model=values.model,
        dataset=values.dataset,
        model_dir=values.model_dir,
        data_dir=values.data_dir,
        recipe=values.recipe,
        epochs=values.epochs,
        batch_size=values.batch_size,
        learning_rate=values.learning_rate,
        weight_decay=values.weight_decay,
        momentum=values.momentum,
        nesterov=values.nesterov,
        warmup_steps=values.warmup_steps,
        validation_split=values.validation_split,
        train_subset=values.train_subset,
        augment=values.augment,
        seed=values.seed,
        distribution=values.distribution,
        sync_batchnorm=values.sync_batchnorm,
        precision=values.precision,
        jit_compile=values.jit_compile,
        steps_per_execution=values.steps_per_execution,
        order=values.order,
        shortcut=values.shortcut,
        spec_options=_parse_spec_options(values.spec_options),
        verbose=values.verbose if values.verbose == "auto" else int(values.verbose),
    )


def _parse_spec_options(text):
    if text is None:
        return {}
    try:
        options = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"`--spec_options` must be a JSON object ({e}). Received: spec_options={text!r}") from e
    if not isinstance(options, dict):
        raise ValueError(f"`--spec_options` must be a JSON object. Received: spec_options={text!r}")
    return options


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        training.run(config_from_flags(FLAGS), command=[os.path.basename(sys.executable)] + sys.argv)
    except USER_ERRORS as e:
        print(f"train.py: error: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    app.run(main)
