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
is redone: `_compat.keras_tuner`), and distributes with KerasTuner's chief/worker mode
(`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`, `KERASTUNER_TUNER_ID`).

What the training config sets explicitly is never overridden by the space: its
`CONFIG_DIMENSIONS` (train.py's `--order`, `--warmup_steps`...) pin their
hyperparameter, and architecture options the space decides (`depth`, `spec_options`,
`spec`) are refused outside an ablation. Default warm-ups shrink to fit a short run as
in `training.recipes`.

KerasTuner's chief serves the oracle over gRPC without authentication or encryption
(`add_insecure_port`): a chief asked to listen on an address that is neither loopback
nor private warns before it starts (`warn_if_exposed`).
"""

import dataclasses
import ipaddress
import json
import os
import socket
import warnings

import keras
import keras_tuner

from keras_resnetv2 import data as data_lib
from keras_resnetv2._compat import keras_tuner as tuner_compat
from keras_resnetv2.paper.ablations import ABLATIONS
from keras_resnetv2.training.config import fit_verbosity
from keras_resnetv2.training.distribution import check_global_batch, make_strategy
from keras_resnetv2.training.recipes import fit_default_warmup
from keras_resnetv2.tuning import report as tuning_report
from keras_resnetv2.tuning.hypermodel import HyperResNet
from keras_resnetv2.tuning.space import CONFIG_DIMENSIONS, DEFAULT_SPACE, TUNERS, Range, pin_given, resolve_space
from keras_resnetv2.utils.checks import check_choice, check_int, fail
from keras_resnetv2.utils.files import atomic_write_text



class SearchFailed(RuntimeError):
    """Too many trials in a row failed (diverged or raised)."""


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
            setattr(self, name, check_int(name, getattr(self, name), minimum=1))
        if self.max_trials is None:
            self.max_trials = len(ABLATIONS[self.ablation]) * self.seeds if self.ablation else 10
        self.max_trials = check_int("max_trials", self.max_trials, minimum=1)
        if self.max_consecutive_failed_trials is None:
            self.max_consecutive_failed_trials = self.max_trials + 1 if self.ablation else 3
        self.max_consecutive_failed_trials = check_int(
            "max_consecutive_failed_trials", self.max_consecutive_failed_trials, minimum=1)
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
            ("auto": a progress bar on a terminal, one line per epoch otherwise).

    Returns:
        The ranked trial rows (see `tuning_report.trial_rows`); the report is in
        `tune.tune_dir`.
    """
    default_warmup = config.warmup_steps is None
    if not tune.ablation:
        for name in ("depth", "spec_options", "spec"):
            if getattr(config, name):
                fail(
                    name,
                    f"A search's space decides the architecture, so `{name}` (--{name}) does not apply: "
                    'pin or restrict it in the space (--tune_space), e.g. {"block": "basic", "depth_basic": 56}.',
                    getattr(config, name),
                )
        given = {name: getattr(config, name) for name in CONFIG_DIMENSIONS if getattr(config, name) is not None}
        tune = dataclasses.replace(tune, space=pin_given(tune.space, given))
    config = config.resolved()
    if verbose is None:
        verbose = fit_verbosity(config.verbose)
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
    space = resolve_space(**tune.space)
    if default_warmup:  # the ablation rows' warm-up, and the space's default choices
        config = fit_default_warmup(config, config.epochs * steps)
        if "warmup_steps" not in tune.space:
            space["warmup_steps"] = tuple(sorted({min(v, config.warmup_steps) for v in DEFAULT_SPACE["warmup_steps"]}))
    hypermodel = HyperResNet(
        config, dataset.info, steps_per_epoch=steps, space=space, ablation=tune.ablation, seeds=tune.seeds,
    )
    tuner = _make_tuner(tune, hypermodel, distribution.strategy)
    train_ds = data_lib.train_pipeline(
        *dataset.train, batch_size=config.batch_size, mean=dataset.mean, std=dataset.std, seed=config.seed,
        augment=config.augment, pad=dataset.info.pad, flip=dataset.info.flip, random_erasing=config.random_erasing,
    )
    val_ds = data_lib.eval_pipeline(*dataset.validation, batch_size=config.batch_size, mean=dataset.mean, std=dataset.std)
    writes_report = "KERASTUNER_ORACLE_IP" not in os.environ or "chief" in os.environ.get("KERASTUNER_TUNER_ID", "")
    if os.environ.get("KERASTUNER_ORACLE_IP") and os.environ.get("KERASTUNER_TUNER_ID") == "chief":
        warn_if_exposed(os.environ["KERASTUNER_ORACLE_IP"])
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)
    try:
        with tuner_compat.atomic_state_writes():
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


def warn_if_exposed(host):
    """Warns unless every address of `host` is loopback or private (RFC 1918, ULA).

    KerasTuner's chief listens there with gRPC's insecure port: anyone who reaches it
    can read and steer the search, unauthenticated and unencrypted. An unspecified
    address (0.0.0.0, ::) listens on every interface, public ones included.
    """
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        addresses = set()
    exposed = [a for a in sorted(addresses) if not _is_internal(ipaddress.ip_address(a.split("%")[0]))]
    if exposed or not addresses:
        warnings.warn(
            f"The KerasTuner chief will listen on KERASTUNER_ORACLE_IP={host!r} "
            f"({', '.join(exposed) if exposed else 'an address that does not resolve'}), which is neither "
            "loopback nor private. Its gRPC service has no authentication and no encryption: anyone who "
            "reaches it can read and steer the search. Run distributed searches on a trusted network.",
            stacklevel=2,
        )
        return True
    return False


def _is_internal(address):
    return (address.is_loopback or address.is_private) and not address.is_unspecified


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
                "grid": tuner_compat.GridSearch}[tune.tuner]
        tuner = kind(hypermodel, max_trials=tune.max_trials, **common)
    tuner_compat.forget_ended_trials(tuner.oracle)  # the tuner reloaded its folder, if any
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
