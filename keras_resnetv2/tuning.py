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
"""

import dataclasses

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
class Dimension:
    """One hyperparameter: its valid values (a tuple) or range (low, high, log)."""

    values: tuple = ()
    low: float = None
    high: float = None
    log: bool = False

    def check(self, name, requested):
        """Returns `requested` as a tuple of values (or a range) within this dimension."""
        values = requested if isinstance(requested, (list, tuple)) else (requested,)
        if not values:
            fail(name, f"`{name}` needs at least one value.", requested)
        for value in values:
            inside = (
                value in self.values
                if self.values
                else isinstance(value, (int, float)) and self.low <= value <= self.high
            )
            if not inside:
                allowed = list(self.values) if self.values else f"[{self.low}, {self.high}]"
                fail(name, f"`{name}` values must be within {allowed}.", requested)
        return tuple(values)


DIMENSIONS = {
    "order": Dimension(tuple(ORDERS)),
    "shortcut": Dimension(SHORTCUTS),
    "gate_bias": Dimension(low=-10.0, high=0.0),
    "shortcut_scale": Dimension(low=0.05, high=0.95),
    "scale_branch": Dimension((False, True)),
    "block": Dimension(tuple(BLOCKS)),
    "depth_basic": Dimension(tuple(valid_cifar_depths("basic", 200))),
    "depth_bottleneck": Dimension(tuple(valid_cifar_depths("bottleneck", 111))),
    "width_multiplier": Dimension(low=0.125, high=8.0),
    "learning_rate": Dimension(low=1e-4, high=1.0, log=True),
    "weight_decay": Dimension(low=0.0, high=1e-2, log=True),
    "warmup_steps": Dimension(low=0, high=10_000),
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
    "learning_rate": (0.02, 0.4),
    "weight_decay": (1e-5, 1e-3),
    "warmup_steps": (0, 400),
}
RANGES = ("learning_rate", "weight_decay")  # searched as log-uniform ranges
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
        **requested: hyperparameter name -> a single value (pinned) or a list of
            values (a restricted choice; for `learning_rate`/`weight_decay` a
            `(low, high)` range). Unknown names and out-of-range values raise.

    Returns:
        dict name -> tuple of values (a `(low, high)` pair for the ranges).
    """
    space = dict(DEFAULT_SPACE)
    for name, value in requested.items():
        check_choice("hyperparameter", name, DIMENSIONS)
        values = DIMENSIONS[name].check(name, value)
        if name in RANGES and len(values) not in (1, 2):
            fail(name, f"`{name}` takes one value or a (low, high) range.", value)
        space[name] = values
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
    if len(values) == 1:
        return hp.Fixed(name, values[0])
    default = PAPER_DEFAULTS.get(name)
    if name in RANGES:
        low, high = values
        default = default if default is not None and low <= default <= high else None
        return hp.Float(name, low, high, sampling="log" if low > 0 else "linear", default=default)
    default = default if default in values else None
    return hp.Choice(name, list(values), default=default)
