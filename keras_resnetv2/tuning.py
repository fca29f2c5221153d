"""KerasTuner search over the design space of arXiv:1603.05027.

`HyperResNet` turns a KerasTuner `HyperParameters` object into a `ResNetSpec` (and
the recipe's learning rate, weight decay and warm-up) and builds it with the one
builder: it has no layer code of its own. Its space is what the paper studies:

    order             the five activation orders (Fig. 4)
    shortcut          the six shortcuts (Fig. 2), with, conditionally,
      gate_bias         gating shortcuts only
      shortcut_scale    constant scaling only (and scale_branch)
    block             basic or bottleneck, with, conditionally,
      depth_basic       valid 6n+2 depths / depth_bottleneck: valid 9n+2 depths
    width_multiplier  scales every stage width (and the stem)
    learning_rate, weight_decay, warmup_steps

Every hyperparameter can be pinned (a single value: `hp.Fixed`) or restricted (a
list: `hp.Choice` over a subset of the valid values) by the caller.

The ablation mode (`ablation="table1"` or `"table2"`, run by the grid tuner) replaces
that space by the rows of the paper's Table 1 (shortcuts, on the original unit) or
Table 2 (activation orders, identity shortcut), times `seeds` initialization seeds.

`search(config, tune)` runs a search the way `training.run` runs a training: the same
dataset pipeline, strategy, precision, model tweaks (L2 penalty, synchronized or fused BN) and
compile code; trials are scored by their final-epoch validation accuracy. A search
resumes from `tune_dir` when rerun (completed trials are kept, the interrupted one
is redone: `tuning_resume`), and distributes with KerasTuner's chief/worker mode
(`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`, `KERASTUNER_TUNER_ID`).
"""

import dataclasses
import json
import math
import os
import time

import keras
import keras_tuner

from keras_resnetv2 import data as data_lib
from keras_resnetv2 import tuning_report, tuning_resume
from keras_resnetv2.training import runner
from keras_resnetv2.files import atomic_write_text
from keras_resnetv2.training.distribution import check_global_batch, make_strategy

from keras_resnetv2.spec import (
    BLOCKS,
    GATING_SHORTCUTS,
    ORDERS,
    SHORTCUTS,
    ResNetSpec,
    valid_cifar_depths,
)
from keras_resnetv2.validation import check_choice, fail


@dataclasses.dataclass(frozen=True)
class Range:
    """A continuous hyperparameter range, searched log-uniformly when `low > 0`."""

    low: float
    high: float


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One hyperparameter: its valid values, or the interval its values must lie in."""

    values: tuple = ()
    low: float = None
    high: float = None

    def contains(self, value):
        if self.values:
            return value in self.values
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high

    def check(self, name, requested):
        """`requested` (a value, a list of values, or a {"low", "high"} range), checked."""
        if isinstance(requested, dict):
            if self.values or set(requested) != {"low", "high"}:
                fail(name, f"`{name}` takes a value or a list of values"
                     + ("" if self.values else ', or a range {"low": ..., "high": ...}') + ".", requested)
            requested = Range(requested["low"], requested["high"])
        if isinstance(requested, Range):
            if not (self.contains(requested.low) and self.contains(requested.high) and requested.low < requested.high):
                fail(name, f"`{name}`'s range must satisfy {self.low} <= low < high <= {self.high}.", requested)
            return requested
        values = tuple(requested) if isinstance(requested, (list, tuple)) else (requested,)
        if not values:
            fail(name, f"`{name}` needs at least one value.", requested)
        if not all(self.contains(v) for v in values):
            allowed = list(self.values) if self.values else f"[{self.low}, {self.high}]"
            fail(name, f"`{name}` values must be within {allowed}.", requested)
        return values


DIMENSIONS = {
    "order": Dimension(tuple(ORDERS)),
    "shortcut": Dimension(SHORTCUTS),
    "gate_bias": Dimension(low=-20.0, high=20.0),
    "shortcut_scale": Dimension(low=0.05, high=0.95),
    "scale_branch": Dimension((False, True)),
    "block": Dimension(tuple(BLOCKS)),
    "depth_basic": Dimension(tuple(valid_cifar_depths("basic", 200))),
    "depth_bottleneck": Dimension(tuple(valid_cifar_depths("bottleneck", 111))),
    "width_multiplier": Dimension(low=0.125, high=8.0),
    "learning_rate": Dimension(low=1e-8, high=math.inf),
    "weight_decay": Dimension(low=0.0, high=1.0),
    "warmup_steps": Dimension(low=0, high=math.inf),
}

# The default search: every order and shortcut, CPU-sized depths, and ranges.
DEFAULT_SPACE = {
    "order": tuple(ORDERS),
    "shortcut": SHORTCUTS,
    "gate_bias": (-8.0, -6.0, -4.0, -2.0, 0.0),
    "shortcut_scale": (0.5,),
    "scale_branch": (False, True),
    "block": tuple(BLOCKS),
    "depth_basic": (8, 14, 20, 32),
    "depth_bottleneck": (11, 20, 29),
    "width_multiplier": (0.5, 1.0, 2.0),
    "learning_rate": Range(0.02, 0.4),
    "weight_decay": Range(1e-5, 1e-3),
    "warmup_steps": (0, 400),
}
# The first trial of a search tries the paper's choices where the space allows them.
PAPER_DEFAULTS = {
    "order": "full_preactivation",
    "shortcut": "identity",
    "gate_bias": -6.0,
    "block": "basic",
    "depth_basic": 20,
    "width_multiplier": 1.0,
    "learning_rate": 0.1,
    "weight_decay": 1e-4,
    "warmup_steps": 400,
}


def resolve_space(**requested):
    """The search space: `DEFAULT_SPACE` with the caller's pins and restrictions.

    Args:
        **requested: hyperparameter name -> a single value (pinned), a list of
            values (a restricted choice) or, for numbers, a `{"low": .., "high": ..}`
            range. Unknown names and out-of-range values raise a `ValueError`.

    Returns:
        dict name -> tuple of values or `Range`.
    """
    space = dict(DEFAULT_SPACE)
    for name, value in requested.items():
        check_choice("hyperparameter", name, DIMENSIONS)
        space[name] = DIMENSIONS[name].check(name, value)
    return space


def declare(hp, space, *, family="cifar"):
    """Declares the space's hyperparameters in `hp` and returns what they choose.

    Returns:
        `(spec, recipe)`: the `ResNetSpec` and a dict of `learning_rate`,
        `weight_decay`, `warmup_steps`.
    """
    order = _choose(hp, "order", space)
    shortcut = _choose(hp, "shortcut", space)
    options = {}
    with hp.conditional_scope("shortcut", list(GATING_SHORTCUTS)):
        gate_bias = _choose(hp, "gate_bias", space)
    with hp.conditional_scope("shortcut", ["constant_scaling"]):
        shortcut_scale = _choose(hp, "shortcut_scale", space)
        scale_branch = _choose(hp, "scale_branch", space)
    if shortcut in GATING_SHORTCUTS:
        options["gate_bias"] = float(gate_bias)
    if shortcut == "constant_scaling":
        options.update(shortcut_scale=float(shortcut_scale), scale_branch=bool(scale_branch))

    block = _choose(hp, "block", space)
    depths = {}
    for candidate in BLOCKS:
        with hp.conditional_scope("block", [candidate]):
            depths[candidate] = _choose(hp, f"depth_{candidate}", space)
    width = _choose(hp, "width_multiplier", space)

    base = ResNetSpec.from_depth(depths[block], family=family, block=block, order=order)
    spec = base.replace(
        shortcut=shortcut,
        stage_widths=tuple(max(1, round(w * width)) for w in base.stage_widths),
        stem_width=max(1, round(base.stem_width * width)),
        **options,
    )
    recipe = {
        "learning_rate": _choose(hp, "learning_rate", space),
        "weight_decay": _choose(hp, "weight_decay", space),
        "warmup_steps": int(_choose(hp, "warmup_steps", space)),
    }
    return spec, recipe


def _choose(hp, name, space):
    values = space[name]
    default = PAPER_DEFAULTS.get(name)
    if isinstance(values, Range):
        default = default if default is not None and values.low <= default <= values.high else None
        sampling = "log" if values.low > 0 else "linear"
        return hp.Float(name, values.low, values.high, sampling=sampling, default=default)
    if len(values) == 1:
        return hp.Fixed(name, values[0])
    return hp.Choice(name, list(values), default=default if default in values else None)


# The paper's ablations, as spec overrides per row, with its CIFAR-10 error (%) of
# ResNet-110 (Table 1; "fail" = above 20%) and ResNet-110 / ResNet-164 (Table 2).
ABLATIONS = {
    "table1": {
        "identity": ({"order": "original", "shortcut": "identity"}, "6.61"),
        "constant_scaling": ({"order": "original", "shortcut": "constant_scaling", "shortcut_scale": 0.5}, "fail"),
        "constant_scaling_both": (
            {"order": "original", "shortcut": "constant_scaling", "shortcut_scale": 0.5, "scale_branch": True}, "12.35"),
        "exclusive_gating": ({"order": "original", "shortcut": "exclusive_gating", "gate_bias": -6.0}, "8.70"),
        "shortcut_only_gating_b0": ({"order": "original", "shortcut": "shortcut_only_gating", "gate_bias": 0.0}, "12.86"),
        "shortcut_only_gating": ({"order": "original", "shortcut": "shortcut_only_gating", "gate_bias": -6.0}, "6.91"),
        "conv1x1": ({"order": "original", "shortcut": "conv1x1"}, "12.22"),
        "dropout": ({"order": "original", "shortcut": "dropout", "dropout_rate": 0.5}, "fail"),
    },
    "table2": {
        order: ({"order": order, "shortcut": "identity"}, error)
        for order, error in (
            ("original", "6.61 / 5.93"),
            ("bn_after_addition", "8.17 / 6.50"),
            ("relu_before_addition", "7.84 / 6.14"),
            ("relu_only_preactivation", "6.71 / 5.91"),
            ("full_preactivation", "6.37 / 5.46"),
        )
    },
}
TUNERS = ("random", "bayesian", "hyperband", "grid")


class SearchFailed(RuntimeError):
    """Too many trials in a row failed (diverged or raised)."""


class HyperResNet(keras_tuner.HyperModel):
    """A KerasTuner `HyperModel` over the paper's design space (see the module doc).

    Args:
        config: the `training.TrainConfig` every trial starts from (dataset, recipe,
            epochs, batch size, precision...); `config.model` gives the base
            architecture of an ablation.
        info: the dataset's `DatasetInfo` (input shape, classes).
        steps_per_epoch: training steps per epoch (the schedule's length).
        space: `resolve_space(...)` output; ignored with `ablation`.
        ablation: None, "table1" or "table2".
        seeds: initialization seeds per ablation row.
    """

    def __init__(self, config, info, *, steps_per_epoch, space=None, ablation=None, seeds=1):
        super().__init__(name="hyper_resnet")
        self.config = config.resolved()
        self.info = info
        self.steps_per_epoch = steps_per_epoch
        self.space = space or resolve_space()
        self.ablation = None if ablation is None else check_choice("ablation", ablation, ABLATIONS)
        self.seeds = seeds
        self._gradients_before = _custom_gradients()

    def trial_config(self, hp):
        """The `TrainConfig` of the trial `hp` describes (declaring what it uses)."""
        if self.ablation:
            row = hp.Choice("row", list(ABLATIONS[self.ablation]))
            seed = hp.Choice("seed", list(range(self.seeds)))
            base = self.config.architecture().replace(shortcut="identity")
            spec = base.replace(**ABLATIONS[self.ablation][row][0])
            recipe = {}
        else:
            spec, recipe = declare(hp, self.space, family=self.config.architecture().stem)
            seed = self.config.seed
        return dataclasses.replace(
            self.config, spec=spec.to_dict(), depth=None, order=None, shortcut=None, spec_options={},
            seed=seed, **recipe
        )

    def build(self, hp):
        _release_custom_gradients(keep=self._gradients_before)
        config = self.trial_config(hp)
        keras.utils.set_random_seed(config.seed)
        model = runner.build_model(config, self.info)
        runner.compile_model(model, config, config.epochs * self.steps_per_epoch)
        return model

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        """`model.fit`; returns the final epoch's metrics, the epochs and seconds.

        Trials are scored on their last epoch, never their best. A NaN loss fails
        the trial (KerasTuner records it as failed and goes on).
        """
        start = time.time()
        history = model.fit(*args, callbacks=[*(callbacks or []), FailOnNaN()], **kwargs)
        final = {name: float(values[-1]) for name, values in history.history.items()}
        final.update(epochs=len(history.epoch), seconds=time.time() - start)
        return final


def _custom_gradients():
    """Names in TensorFlow's global registry of `tf.custom_gradient` functions."""
    if keras.backend.backend() != "tensorflow":
        return set()
    from tensorflow.python.framework import ops as tf_ops

    return {name for name in tf_ops._gradient_registry._registry if name.startswith("CustomGradient-")}


def _release_custom_gradients(*, keep):
    """Drops the custom gradients registered by earlier trials (TensorFlow only).

    Works around a TensorFlow 2.21 leak: tracing a train step under a
    `tf.distribute` replica context registers a `tf.custom_gradient` (from
    `ReplicaContext.all_reduce`) in TF's global gradient registry, never removed, and
    it keeps that trial's whole graph alive: about 9 MiB per trial of a tiny net.
    Earlier trials' train steps are traced already (KerasTuner cleared the session),
    so their entries are no longer needed. Private API, hence the narrow scope:
    only entries added since this `HyperResNet` was made.
    """
    if keras.backend.backend() != "tensorflow":
        return
    from tensorflow.python.framework import ops as tf_ops

    registry = tf_ops._gradient_registry._registry
    for name in _custom_gradients() - keep:
        registry.pop(name, None)


class FailOnNaN(keras.callbacks.Callback):
    """Fails the KerasTuner trial as soon as the loss is not finite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise keras_tuner.errors.FailedTrialError(
                f"The loss became {float(loss)} at batch {batch}; the trial diverged."
            )


@dataclasses.dataclass
class TuneConfig:
    """How to search (the training side comes from a `training.TrainConfig`).

    Attributes:
        tuner: one of `TUNERS`; "grid" enumerates every combination (the ablation
            rows times the seeds, with `ablation`).
        tune_dir: folder of the search state and its report.
        max_trials: trials to run (default: all rows x seeds for an ablation, else 10).
        executions_per_trial: models trained per trial (their metrics averaged).
        space: pins and restrictions of the space (`resolve_space` arguments).
        ablation: None, "table1" or "table2".
        seeds: initialization seeds per ablation row.
        max_consecutive_failed_trials: stop a hopeless search after this many (default
            3; in ablation mode every trial, since a row that diverges is one of the
            table's results: the paper's "fail").
    """

    tuner: str = "random"
    tune_dir: str = "runs/tune"
    max_trials: int = None
    executions_per_trial: int = 1
    space: dict = dataclasses.field(default_factory=dict)
    ablation: str = None
    seeds: int = 1
    max_consecutive_failed_trials: int = None

    def __post_init__(self):
        check_choice("tuner", self.tuner, TUNERS)
        if self.ablation is not None:
            check_choice("ablation", self.ablation, ABLATIONS)
            if self.space:
                fail("space", "An ablation searches the paper's table rows; `space` does not apply.", self.space)
        for name in ("executions_per_trial", "seeds"):
            _check_positive(name, getattr(self, name))
        if self.max_trials is None:
            self.max_trials = len(ABLATIONS[self.ablation]) * self.seeds if self.ablation else 10
        _check_positive("max_trials", self.max_trials)
        if self.max_consecutive_failed_trials is None:
            self.max_consecutive_failed_trials = self.max_trials + 1 if self.ablation else 3
        _check_positive("max_consecutive_failed_trials", self.max_consecutive_failed_trials)
        resolve_space(**self.space)  # validates

    def description(self):
        """What defines the search; a `tune_dir` holding another one is refused."""
        if self.ablation:
            return {"ablation": self.ablation, "seeds": self.seeds}
        space = resolve_space(**self.space)
        return {"space": {name: dataclasses.asdict(v) if isinstance(v, Range) else list(v) for name, v in space.items()}}


def search(config, tune, *, callbacks=None, verbose=None):
    """Runs (or resumes) the search `tune` over trainings like `config`.

    Args:
        config: a `training.TrainConfig`; its `validation_split` must be > 0 (trials
            are scored on held-out training images, never on the test set).
        tune: a `TuneConfig`.
        callbacks: extra Keras callbacks of every trial's `fit`.
        verbose: KerasTuner's and `fit`'s verbosity; default `config.verbose`
            ("auto": 1, a progress bar).

    Returns:
        The ranked trial rows (see `tuning_report.trial_rows`); the report is in
        `tune.tune_dir`.
    """
    config = config.resolved()
    if verbose is None:
        verbose = 1 if config.verbose == "auto" else config.verbose
    if not config.validation_split > 0:
        fail(
            "validation_split",
            "A search scores trials on a validation split of the training images; set "
            "`validation_split` (--validation_split), e.g. 0.1.",
            config.validation_split,
        )
    _claim_tune_dir(tune)
    distribution = make_strategy(config.distribution)
    check_global_batch(config.batch_size, distribution.num_replicas)
    dataset = data_lib.load(
        config.dataset, data_dir=config.data_dir, validation_split=config.validation_split,
        train_subset=config.train_subset,
    )
    steps = data_lib.steps_per_epoch(len(dataset.train[0]), config.batch_size)
    hypermodel = HyperResNet(
        config, dataset.info, steps_per_epoch=steps, space=resolve_space(**tune.space),
        ablation=tune.ablation, seeds=tune.seeds,
    )
    tuner = _make_tuner(tune, hypermodel, distribution.strategy)
    train_ds = data_lib.train_pipeline(
        *dataset.train, batch_size=config.batch_size, mean=dataset.mean, std=dataset.std, seed=config.seed,
        augment=config.augment, pad=dataset.info.pad, flip=dataset.info.flip, random_erasing=config.random_erasing,
    )
    val_ds = data_lib.eval_pipeline(*dataset.validation, batch_size=config.batch_size, mean=dataset.mean, std=dataset.std)
    writes_report = "KERASTUNER_ORACLE_IP" not in os.environ or "chief" in os.environ.get("KERASTUNER_TUNER_ID", "")
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)
    try:
        with tuning_resume.atomic_state_writes():
            tuner.search(
                train_ds, epochs=config.epochs, steps_per_epoch=steps, validation_data=val_ds, shuffle=False,
                callbacks=list(callbacks or []), verbose=verbose,
            )
    except RuntimeError as error:
        if "consecutive failures" not in str(error):
            raise
        if writes_report:
            write_search_report(tuner, hypermodel, tune.tune_dir)
        raise SearchFailed(
            f"The search stopped after {tune.max_consecutive_failed_trials} failed trials in a row "
            f"(--max_consecutive_failed_trials); the trials so far are in "
            f"{os.path.join(tune.tune_dir, 'trials.md')}. Last error: {str(error).splitlines()[-1]}"
        ) from error
    finally:
        keras.config.set_dtype_policy(previous_policy)
    if not writes_report:
        return None  # a worker of a distributed search: the chief writes the report
    rows = write_search_report(tuner, hypermodel, tune.tune_dir)
    best = rows[0] if rows and rows[0][tuning_report.SCORE] is not None else None
    summary = f"best val_accuracy {best[tuning_report.SCORE]:.4f} (trial {best['trial']})" if best else "no trial completed"
    print(f"search: {len(rows)} trials, {summary} -> {tune.tune_dir}", flush=True)
    return rows


def write_search_report(tuner, hypermodel, folder):
    """Writes the ranked table, plot and best spec of `tuner`'s trials into `folder`."""
    rows = tuning_report.trial_rows(tuner.oracle.trials.values())
    best_spec = best_recipe = None
    if rows and rows[0][tuning_report.SCORE] is not None:
        best = tuner.oracle.trials[rows[0]["trial"]]
        best_config = hypermodel.trial_config(best.hyperparameters.copy())
        best_spec = best_config.architecture()
        best_recipe = {k: getattr(best_config, k) for k in ("learning_rate", "weight_decay", "warmup_steps")}
    tuning_report.write_report(rows, folder, best_spec=best_spec, best_recipe=best_recipe)
    return rows


def _make_tuner(tune, hypermodel, strategy):
    common = dict(
        objective=keras_tuner.Objective("val_accuracy", "max"),
        directory=tune.tune_dir,
        project_name="search",
        overwrite=False,
        executions_per_trial=tune.executions_per_trial,
        distribution_strategy=strategy,
        max_consecutive_failed_trials=tune.max_consecutive_failed_trials,
        seed=hypermodel.config.seed,
    )
    if tune.tuner == "hyperband":
        tuner = keras_tuner.Hyperband(hypermodel, max_epochs=hypermodel.config.epochs, **common)
    else:
        kind = {"random": keras_tuner.RandomSearch, "bayesian": keras_tuner.BayesianOptimization,
                "grid": tuning_resume.GridSearch}[tune.tuner]
        tuner = kind(hypermodel, max_trials=tune.max_trials, **common)
    tuning_resume.forget_ended_trials(tuner.oracle)  # the tuner reloaded its folder, if any
    return tuner


def _claim_tune_dir(tune):
    """Records the search's definition in `tune_dir`, or refuses a different one."""
    os.makedirs(tune.tune_dir, exist_ok=True)
    path = os.path.join(tune.tune_dir, "search.json")
    definition = tune.description()
    if os.path.exists(path):
        with open(path, encoding="utf-8") as file:
            existing = json.load(file)
        if existing != json.loads(json.dumps(definition)):
            fail(
                "tune_dir",
                f"{tune.tune_dir} holds another search ({path}: {json.dumps(existing)[:300]}); "
                "use a new `tune_dir` rather than mixing two searches.",
                tune.tune_dir,
            )
        return
    atomic_write_text(path, json.dumps(definition, indent=1))


def _check_positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        fail(name, f"`{name}` must be a positive integer.", value)
