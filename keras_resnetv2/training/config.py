"""`TrainConfig`: everything a training run depends on, validated on construction."""

import dataclasses
import os
import sys
from typing import Optional

from keras_resnetv2 import data as data_lib
from keras_resnetv2.models.spec import ORDERS, SHORTCUTS, ResNetSpec
from keras_resnetv2.models.variants import get_variant
from keras_resnetv2.training.distribution import DISTRIBUTIONS
from keras_resnetv2.training.precision import PRECISIONS, resolve_precision
from keras_resnetv2.training.recipes import RECIPE_DEFAULTS, RECIPES
from keras_resnetv2.utils.checks import check_bool, check_choice, check_int, check_number, fail
from keras_resnetv2.weights import registry

VERBOSITIES = ("auto", 0, 1, 2)
# `ResNetSpec` fields that are also fields (and train.py flags) of their own.
SPEC_FIELDS = ("order", "shortcut", "drop_path_rate")


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on; `None` fields take the recipe's default.

    Attributes:
        model: a registered architecture name (`keras_resnetv2.list_models()`).
        dataset: a dataset name (`keras_resnetv2.data.list_datasets()`).
        model_dir: folder of the artifacts and the backup; default
            `runs/{model}_{dataset}`.
        data_dir: where the dataset's files are (see `data.load`); required by
            `dataset="folder"`, a folder of class subfolders of images.
        recipe: `"paper"` or `"budget"` (see `keras_resnetv2.training.recipes`).
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
        random_erasing: probability that a training image gets a Random Erasing
            box (Zhong et al., AAAI 2020; `data.random_erase`); 0 turns it off.
            Applies only with `augment`. Not in the paper's recipe.
        label_smoothing: weight of the uniform distribution mixed into the
            one-hot targets of the training loss (Szegedy et al. 2016); 0 is the
            paper's plain cross-entropy. `cross_entropy` is always reported
            against the unsmoothed labels.
        test_every_epoch: also evaluate the test set after every epoch, for the
            curves (`test_accuracy`, `test_cross_entropy` in the history). Never
            used to pick an epoch: the reported accuracy is the final epoch's.
        seed: seed of initialization, shuffling and augmentation.
        distribution: one of `DISTRIBUTIONS` (see `distribution.make_strategy`).
        sync_batchnorm: synchronize BatchNorm statistics across replicas (TF backend),
            so a distributed run normalizes like one device on the global batch.
        fused_batchnorm: train BatchNorm through TF's fused kernel where statistics
            are not synchronized (one replica, or `sync_batchnorm=False`): the same
            function, 1.09-1.37x faster training steps than Keras' layer on a 2-core
            CPU (the README's performance table; `keras_resnetv2.models.batchnorm`).
        precision: `"auto"` (default: `mixed_bfloat16` on a CPU with AMX-BF16 and no
            GPU, else float32; a resumed run keeps its backup's; see
            `keras_resnetv2.training.precision`), `"float32"`, `"mixed_float16"` or
            `"mixed_bfloat16"`; the classifier stays float32.
        jit_compile: XLA-compile the train step.
        steps_per_execution: train steps per `tf.function` call.
        order, shortcut: override the architecture's activation order / shortcut.
        drop_path_rate: stochastic depth, the `ResNetSpec` field of that name: the
            drop probability of the last unit's branch in training (linear from 0 at
            the first unit); None keeps the architecture's (0: off). Not in the
            paper's recipe. The trained weights load into the plain builders.
        depth: another depth of the architecture's family and block (e.g.
            `model="ResNet20V2", depth=56` trains a ResNet-56V2 of the same layout).
        spec_options: overrides of any other `ResNetSpec` field, e.g.
            `{"stage_widths": [4, 8, 16]}` for a tiny net in a quick test.
        spec: a whole `ResNetSpec` as a dict (e.g. a search's `best.json`) to train
            instead of the named architecture; `model` then only names the run.
        init_weights: weights to start from instead of the seeded initialization
            (fine-tuning, or a second cosine cycle: a warm restart): the path to a
            weights file of this architecture (a run's `model.weights.h5`), or a name
            from `keras_resnetv2.zoo.available_weights` of `model` (a zoo tag,
            verified by its SHA-256). The optimizer and schedule start afresh; the
            `seed` still orders the data. config.json records the file's SHA-256, and
            the command, schedule and history of the run that trained it when that
            run's config.json and metrics.json lie beside it (`artifacts.init_weights_record`).
        verbose: `model.fit` verbosity: 0, 1 (progress bar), 2 (one line per epoch)
            or "auto": 1 on a terminal, 2 otherwise (`fit_verbosity`).
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
    random_erasing: float = 0.0
    label_smoothing: float = 0.0
    test_every_epoch: bool = False
    seed: int = 0
    distribution: str = "auto"
    sync_batchnorm: bool = True
    fused_batchnorm: bool = True
    precision: str = "auto"
    jit_compile: bool = False
    steps_per_execution: int = 1
    order: Optional[str] = None
    shortcut: Optional[str] = None
    drop_path_rate: Optional[float] = None
    depth: Optional[int] = None
    spec_options: dict = dataclasses.field(default_factory=dict)
    spec: Optional[dict] = None
    init_weights: Optional[str] = None
    verbose: object = "auto"

    def __post_init__(self):
        self.model = get_variant(self.model).name
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
            setattr(self, name, check_int(name, getattr(self, name), minimum=1, optional=name != "steps_per_execution"))
        self.warmup_steps = check_int("warmup_steps", self.warmup_steps, minimum=0, optional=True)
        self.train_subset = check_int("train_subset", self.train_subset, minimum=1, optional=True)
        self.seed = check_int("seed", self.seed, minimum=0)
        self.learning_rate = check_number("learning_rate", self.learning_rate, low=0.0, low_open=True, optional=True)
        self.weight_decay = check_number("weight_decay", self.weight_decay, low=0.0, optional=True)
        self.momentum = check_number("momentum", self.momentum, low=0.0, high=1.0, optional=True)
        self.validation_split = check_number("validation_split", self.validation_split, low=0.0, high=1.0)
        self.random_erasing = check_number("random_erasing", self.random_erasing, low=0.0, high=1.0, high_closed=True)
        self.label_smoothing = check_number("label_smoothing", self.label_smoothing, low=0.0, high=1.0)
        for name in (
            "nesterov", "augment", "test_every_epoch", "sync_batchnorm", "fused_batchnorm", "jit_compile"
        ):
            value = getattr(self, name)
            if not (value is None and name == "nesterov"):  # None: the recipe's
                check_bool(name, value)
        if self.dataset == data_lib.FOLDER and self.data_dir is None:
            fail(
                "data_dir",
                f"dataset={data_lib.FOLDER!r} reads its images from `data_dir` (--data_dir), "
                "a folder of class subfolders of images.",
                self.data_dir,
            )
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
        for name in SPEC_FIELDS:
            if getattr(self, name) is not None and name in self.spec_options:
                fail(
                    "spec_options",
                    f"`{name}` is given twice, as `{name}={getattr(self, name)!r}` and in "
                    "`spec_options`; give it once.",
                    self.spec_options,
                )
        if self.spec is not None:
            overridden = [
                name for name in SPEC_FIELDS + ("depth", "spec_options") if getattr(self, name) not in (None, {})
            ]
            if overridden:
                fail(
                    "spec",
                    f"`spec` is a whole architecture; it cannot be combined with {overridden}.",
                    self.spec,
                )
        self.architecture()  # validates
        if self.init_weights is not None:
            self._check_init_weights()

    def _check_init_weights(self):
        if isinstance(self.init_weights, os.PathLike):
            self.init_weights = os.fspath(self.init_weights)
        names = registry.available_weights(get_variant(self.model).arch)
        if isinstance(self.init_weights, str) and (os.path.isfile(self.init_weights) or self.init_weights in names):
            return
        fail(
            "init_weights",
            f"`init_weights` must be the path to an existing weights file or one of {names} "
            f"(the named weights of {self.model}).",
            self.init_weights,
        )

    def init_weights_file(self):
        """The local file behind `init_weights` (a zoo tag fetched and verified), or None."""
        if self.init_weights is None:
            return None
        return registry.resolve_weights(self.init_weights, get_variant(self.model).arch, include_top=True)

    def resolved(self):
        """A copy with every `None` hyperparameter replaced by the recipe's default, and
        `precision="auto"` by this machine's pick (`keras_resnetv2.training.precision`)."""
        defaults = RECIPE_DEFAULTS[self.recipe]
        changes = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        changes["precision"] = resolve_precision(self.precision)[0]
        return dataclasses.replace(self, **changes)  # validated again

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields):
        names = [f.name for f in dataclasses.fields(cls)]
        for name in fields:
            check_choice("TrainConfig field", name, names)
        return cls(**fields)

    def architecture(self):
        """The `ResNetSpec` this run trains."""
        if self.spec is not None:
            return ResNetSpec.from_dict(self.spec)
        return get_variant(self.model).spec(depth=self.depth, **self.spec_overrides())

    def spec_overrides(self):
        """The `ResNetSpec` fields this run overrides in the named architecture."""
        overrides = dict(self.spec_options)
        overrides.update({name: getattr(self, name) for name in SPEC_FIELDS if getattr(self, name) is not None})
        return overrides


def fit_verbosity(verbose):
    """`model.fit`'s verbosity for a config's `verbose`: "auto" is a progress bar (1)
    on a terminal and one line per epoch (2) otherwise, since a bar's redraws fill a
    log file or a pipe with carriage returns."""
    if verbose != "auto":
        return verbose
    return 1 if sys.stdout.isatty() else 2

