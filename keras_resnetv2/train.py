"""Trains a residual network of keras_resnetv2 on a named dataset: the training command.

    python -m keras_resnetv2.train --model=ResNet20V2 --dataset=fashion_mnist --recipe=budget \
        --model_dir=runs/resnet20v2_fashion_mnist

Your own images, one subfolder per class (all of one size; see
`keras_resnetv2.data.image_folder`):

    python train.py --dataset=folder --data_dir=path/to/images --model_dir=runs/mine

A KerasTuner search over the paper's design space (`keras_resnetv2.tuning`), each
trial a training like the above, scored on a validation split:

    python train.py --tune=random --max_trials=20 --epochs=5 --validation_split=0.1 \
        --tune_dir=runs/tune --tune_space='{"block": "basic", "depth_basic": [14, 20]}'
    python train.py --tune=grid --ablation=table1 --seeds=3 --model=ResNet20 \
        --epochs=10 --validation_split=0.1 --tune_dir=runs/table1
    python train.py --spec=runs/tune/best.json     # retrains the best trial

Flags left unset take the recipe's defaults (`keras_resnetv2.training.RECIPE_DEFAULTS`).
Rerunning a killed command resumes it: a training from its last completed epoch, a
search from its completed trials. Everything here is a thin front end of
`keras_resnetv2.training.run` and `keras_resnetv2.tuning.search`.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from keras_resnetv2 import data, training  # noqa: E402
from keras_resnetv2.models.spec import ORDERS, SHORTCUTS  # noqa: E402
from keras_resnetv2.models.variants import list_models  # noqa: E402
from keras_resnetv2.paper.ablations import ABLATIONS  # noqa: E402
from keras_resnetv2.tuning.report import read_spec_file  # noqa: E402
from keras_resnetv2.tuning.space import TUNERS  # noqa: E402
from keras_resnetv2.weights import manifest  # noqa: E402
from keras_resnetv2.zoo import cards, export  # noqa: E402

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
flags.DEFINE_integer(
    "warmup_steps", None, "Warm-up iterations (default: the recipe's, cut to a quarter of a short run).",
    lower_bound=0,
)
flags.DEFINE_float("validation_split", 0.0, "Fraction of the training images held out for validation.")
flags.DEFINE_integer("train_subset", None, "Train on only this many images (quick runs).", lower_bound=1)
flags.DEFINE_boolean("augment", True, "Pad-and-crop and flip augmentation (the flip where the dataset allows).")
flags.DEFINE_float(
    "random_erasing", 0.0, "Probability of a Random Erasing box per training image (0: off; needs --augment).",
    lower_bound=0.0, upper_bound=1.0,
)
flags.DEFINE_float(
    "label_smoothing", 0.0, "Label smoothing of the training loss (0: the paper's cross-entropy).",
    lower_bound=0.0, upper_bound=0.999,
)
flags.DEFINE_boolean(
    "test_every_epoch", False, "Evaluate the test set after every epoch, for the curves (never for selection)."
)
flags.DEFINE_integer("seed", 0, "Seed of initialization, shuffling and augmentation.", lower_bound=0)
flags.DEFINE_enum("distribution", _DEFAULTS.distribution, training.DISTRIBUTIONS, "Distribution strategy.")
flags.DEFINE_boolean("sync_batchnorm", True, "Synchronize BatchNorm statistics across replicas.")
flags.DEFINE_boolean(
    "fused_batchnorm", True, "Train BatchNorm through TF's fused kernel where statistics are not synchronized."
)
flags.DEFINE_enum(
    "precision", _DEFAULTS.precision, training.PRECISIONS,
    "Compute precision; auto: mixed_bfloat16 on a CPU with AMX-BF16 and no GPU, else float32 (a resumed run keeps its own).",
)
flags.DEFINE_boolean("jit_compile", False, "XLA-compile the train step.")
flags.DEFINE_integer("steps_per_execution", 1, "Train steps per tf.function call.", lower_bound=1)
flags.DEFINE_enum("order", None, list(ORDERS), "Override the architecture's activation order.")
flags.DEFINE_enum("shortcut", None, list(SHORTCUTS), "Override the architecture's shortcut.")
flags.DEFINE_float(
    "drop_path_rate", None,
    "Stochastic depth: drop probability of the last unit's residual branch in training, in [0, 1), "
    "linear from 0 at the first unit (default: the architecture's, 0).",
)
flags.DEFINE_string(
    "spec_options", None,
    'JSON object of other ResNetSpec fields to override, e.g. \'{"stage_widths": [4, 8, 16]}\'.',
)
flags.DEFINE_enum(
    "verbose", "auto", ["auto", "0", "1", "2"],
    "model.fit verbosity: 1 a progress bar, 2 one line per epoch; auto: 1 on a terminal, 2 in a log.",
)
flags.DEFINE_integer("depth", None, "Another depth of --model's family and block (e.g. 56 for a 6n+2 net).")
flags.DEFINE_string("spec", None, "JSON file of a whole ResNetSpec, or a search's best.json, to train.")
flags.DEFINE_string(
    "init_weights", None,
    "Start from these weights instead of a random initialization (fine-tuning, a warm restart): a weights "
    "file of the architecture (a run's model.weights.h5) or a zoo tag of --model (e.g. fashion_mnist).",
)
flags.DEFINE_enum("tune", None, list(TUNERS), "Run a KerasTuner search instead of one training.")
flags.DEFINE_string("tune_dir", "runs/tune", "Folder of the search state and its report.")
flags.DEFINE_integer("max_trials", None, "Trials (default: 10, or every row x seed of --ablation).")
flags.DEFINE_integer("executions_per_trial", 1, "Models trained per trial.")
flags.DEFINE_string(
    "tune_space", None,
    "JSON object pinning (a value) or restricting (a list) hyperparameters. --order, --shortcut, "
    "--learning_rate, --weight_decay and --warmup_steps, when given, pin theirs.",
)
flags.DEFINE_enum("ablation", None, list(ABLATIONS), "Search exactly the rows of the paper's Table 1 or 2.")
flags.DEFINE_integer("seeds", 1, "Initialization seeds per ablation row.")
flags.DEFINE_integer(
    "max_consecutive_failed_trials", None,
    "Stop a search after this many failed trials in a row (default 3; with --ablation, never: a diverging "
    "row is a result).",
)
flags.DEFINE_string(
    "zoo_tag", None,
    "After training, export the run as zoo entry {model}.{tag} (weights, manifest entry, model card; "
    "the zoo folder is $KERAS_RESNETV2_ZOO_DIR or the checkout's zoo/).",
)

FLAGS = flags.FLAGS
# Errors that are the user's to fix: reported in one line, without a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, ImportError, training.TrainingDiverged)


def config_from_flags(values):
    """The `TrainConfig` of parsed `values` (an absl FlagValues)."""
    spec, recipe = read_spec_file(values.spec) if values.spec else (None, {})
    return training.TrainConfig(
        model=values.model,
        dataset=values.dataset,
        model_dir=values.model_dir,
        data_dir=values.data_dir,
        recipe=values.recipe,
        epochs=values.epochs,
        batch_size=values.batch_size,
        learning_rate=_given(values.learning_rate, recipe.get("learning_rate")),
        weight_decay=_given(values.weight_decay, recipe.get("weight_decay")),
        momentum=values.momentum,
        nesterov=values.nesterov,
        warmup_steps=_given(values.warmup_steps, recipe.get("warmup_steps")),
        validation_split=values.validation_split,
        train_subset=values.train_subset,
        augment=values.augment,
        random_erasing=values.random_erasing,
        label_smoothing=values.label_smoothing,
        test_every_epoch=values.test_every_epoch,
        seed=values.seed,
        distribution=values.distribution,
        sync_batchnorm=values.sync_batchnorm,
        fused_batchnorm=values.fused_batchnorm,
        precision=values.precision,
        jit_compile=values.jit_compile,
        steps_per_execution=values.steps_per_execution,
        order=values.order,
        shortcut=values.shortcut,
        drop_path_rate=values.drop_path_rate,
        depth=values.depth,
        spec_options=_parse_json_object("spec_options", values.spec_options),
        spec=spec,
        init_weights=values.init_weights,
        verbose=values.verbose if values.verbose == "auto" else int(values.verbose),
    )


def tune_config_from_flags(values):
    """The `tuning.search.TuneConfig` of parsed `values` (needs KerasTuner)."""
    from keras_resnetv2.tuning import search  # optional dependency: KerasTuner (the [tune] extra)

    return search.TuneConfig(
        tuner=values.tune,
        tune_dir=values.tune_dir,
        max_trials=values.max_trials,
        executions_per_trial=values.executions_per_trial,
        space=_parse_json_object("tune_space", values.tune_space),
        ablation=values.ablation,
        seeds=values.seeds,
        max_consecutive_failed_trials=values.max_consecutive_failed_trials,
    )


def _given(flag_value, default):
    return default if flag_value is None else flag_value


def _parse_json_object(flag, text):
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"`--{flag}` must be a JSON object ({e}). Received: {flag}={text!r}") from e
    if not isinstance(value, dict):
        raise ValueError(f"`--{flag}` must be a JSON object. Received: {flag}={text!r}")
    return value


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        config = config_from_flags(FLAGS)
        if FLAGS.tune:
            if FLAGS.zoo_tag:
                raise ValueError(f"--zoo_tag exports one training, not a search. Received: zoo_tag={FLAGS.zoo_tag!r}")
            return _search(config)
        if FLAGS.zoo_tag:  # checked before, not after, the training
            export.check_exportable(config.model, config.architecture().to_dict(), FLAGS.zoo_tag,
                                   source=f"--model={config.model} with these flags", argument="zoo_tag",
                                   received=FLAGS.zoo_tag)
            zoo_folder = manifest.zoo_dir()
        result = training.run(config, command=[os.path.basename(sys.executable)] + sys.argv)
        if FLAGS.zoo_tag and result.is_chief:
            entry = export.export_runs(
                [result.model_dir], FLAGS.zoo_tag, zoo_folder=zoo_folder, data_dir=config.data_dir,
                readme=cards.checkout_readme(zoo_folder),
            )
            print(f"zoo entry {entry['architecture']}.{entry['tag']} -> {manifest.entry_folder(entry, zoo_folder)}",
                  flush=True)
    except USER_ERRORS as e:
        print(f"train.py: error: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


def _search(config):
    try:
        from keras_resnetv2.tuning import search  # optional dependency: KerasTuner (the [tune] extra)
    except ImportError as e:
        raise ImportError(
            f"--tune runs a KerasTuner search, and KerasTuner is not installed ({e}): "
            "`pip install keras-resnetv2[tune]` (or `pip install keras-tuner`). Received: --tune="
            f"{FLAGS.tune}"
        ) from e
    try:
        search.search(config, tune_config_from_flags(FLAGS))
    except search.SearchFailed as e:
        raise ValueError(str(e)) from e
    return 0


def run():
    """The console script `keras-resnetv2-train`: parses the flags and trains."""
    app.run(main)


if __name__ == "__main__":
    run()
