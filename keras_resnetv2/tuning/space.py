"""The search-space language: dimensions of the paper's design space, pins and ranges.

Every hyperparameter of `DIMENSIONS` can be pinned (a single value: `hp.Fixed`),
restricted (a list: `hp.Choice` over a subset of the valid values) or, for the
continuous ones, given a range (`{"low": ..., "high": ...}`) by the caller
(`resolve_space`); `declare` declares the resolved space on a KerasTuner
`HyperParameters` and returns the trial's `ResNetSpec` and recipe.

`drop_path_rate` (stochastic depth, not in the paper) is searched only when the
caller asks for it; otherwise it is not declared and every trial takes the base
architecture's rate (0 unless set), so the default search is unchanged.
"""

import dataclasses
import math

from keras_resnetv2.models.spec import (
    BLOCKS,
    GATING_SHORTCUTS,
    ORDERS,
    SHORTCUTS,
    ResNetSpec,
    valid_cifar_depths,
)
from keras_resnetv2.utils.checks import check_choice, fail

# The KerasTuner tuners a search runs (`search.TuneConfig.tuner`).
TUNERS = ("random", "bayesian", "hyperband", "grid")


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
    # The spec takes [0, 1); at 0.9 the last unit's branch already sees one example in ten.
    "drop_path_rate": Dimension(low=0.0, high=0.9),
}

# `TrainConfig` fields that are dimensions of the space too: set in the config (a
# train.py flag), they pin their dimension (`pin_given`).
CONFIG_DIMENSIONS = ("order", "shortcut", "learning_rate", "weight_decay", "warmup_steps")

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


def pin_given(requested, given):
    """`requested` (the caller's space) with each hyperparameter of `given` pinned.

    `given` maps names to values set outside the space (train.py's `--warmup_steps`
    with `--tune`): a flag given explicitly is never overridden by the space. A name
    that `requested` already sets to something else is a ValueError.
    """
    space = dict(requested)
    for name, value in given.items():
        if name in space and DIMENSIONS[name].check(name, space[name]) != DIMENSIONS[name].check(name, value):
            fail(
                name,
                f"`{name}` is given twice, as {value!r} (--{name}) and as {space[name]!r} in the search "
                f"space (--tune_space): give it once (a value in --tune_space pins it, a list restricts it).",
                value,
            )
        space[name] = value
    return space


def declare(hp, space, *, family="cifar", drop_path_rate=0.0):
    """Declares the space's hyperparameters in `hp` and returns what they choose.

    Args:
        hp: a KerasTuner `HyperParameters`.
        space: `resolve_space(...)` output.
        family: the stem and stages of the nets, `"cifar"` or `"imagenet"`.
        drop_path_rate: the trials' stochastic depth when `space` does not search it.

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
    if "drop_path_rate" in space:
        drop_path_rate = _choose(hp, "drop_path_rate", space)
    options["drop_path_rate"] = float(drop_path_rate)

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
