"""`ResNetSpec`: a residual network as data, validated on construction.

A spec says everything the builder needs: the residual unit (block, activation order,
shortcut), the stages, and every convention on which implementations disagree (stride
placement, conv biases, padding, BatchNorm constants, initialization). The paper's
variants and the keras.applications models are values of this one type.

Two layouts name the conventions:

* `"keras"`: exactly keras.applications' `ResNet50`... (post-activation orders) and
  `ResNet50V2`... (pre-activation orders): stride on the first unit (v1) or on the
  last unit of a stage (v2, the TF-slim layout), conv biases, BN epsilon 1.001e-5 and
  momentum 0.99, Glorot-uniform initialization.
* `"paper"`: the official code of arXiv:1603.05027 (`resnet-pre-act.lua` for CIFAR,
  `fb.resnet.torch` for ImageNet): stride on the first unit of a stage, no conv biases,
  symmetric padding (`padding="same"` at stride 1, a `ZeroPadding2D` layer before
  strided convs), Torch's BN constants (epsilon 1e-5, momentum 0.1, i.e. Keras
  momentum 0.9), He-normal initialization on fan-out, and He et al. 2015's
  parameter-free "option A" shortcut for the basic-block CIFAR nets.
"""

import dataclasses
import json
import numbers
from typing import NamedTuple, Optional, Tuple

from keras_resnetv2.utils.checks import check_bool, check_choice, check_int, check_number, fail

BLOCKS = {
    # block -> (kernel sizes of the branch convs, output channels per unit of width)
    "basic": ((3, 3), 1),
    "bottleneck": ((1, 3, 1), 4),
}


@dataclasses.dataclass(frozen=True)
class ActivationOrder:
    """Where BN and ReLU sit in a unit (Fig. 4 of arXiv:1603.05027).

    Between two branch convs there is always BN then ReLU; the orders differ in what
    comes before the first conv (`preactivation`), after the last conv (`branch_end`)
    and after the addition (`after_addition`).
    """

    preactivation: Tuple[str, ...]
    branch_end: Tuple[str, ...]
    after_addition: Tuple[str, ...]


ORDERS = {
    "original": ActivationOrder((), ("bn",), ("relu",)),
    "bn_after_addition": ActivationOrder((), (), ("bn", "relu")),
    "relu_before_addition": ActivationOrder((), ("bn", "relu"), ()),
    "relu_only_preactivation": ActivationOrder(("relu",), ("bn",), ()),
    "full_preactivation": ActivationOrder(("bn", "relu"), (), ()),
}

SHORTCUTS = (
    "identity",
    "constant_scaling",
    "exclusive_gating",
    "shortcut_only_gating",
    "conv1x1",
    "dropout",
)
GATING_SHORTCUTS = ("exclusive_gating", "shortcut_only_gating")
# Option-specific fields: the shortcuts they belong to, and their default values.
SHORTCUT_OPTIONS = {
    "shortcut_scale": (("constant_scaling",), 0.5),
    "scale_branch": (("constant_scaling",), False),
    "gate_bias": (GATING_SHORTCUTS, -6.0),
    "dropout_rate": (("dropout",), 0.5),
}
PROJECTIONS = ("conv", "zero_pad")


class Stem(NamedTuple):
    """A stem's conv and max-pool, and the defaults of nets built on it."""

    kernel_size: int
    stride: int
    max_pool: bool  # a 3x3, stride-2 max-pool after the conv
    width: int  # default `stem_width`
    input_size: int  # default input height and width
    classes: int  # default classes of the top


STEMS = {
    "cifar": Stem(kernel_size=3, stride=1, max_pool=False, width=16, input_size=32, classes=10),
    "imagenet": Stem(kernel_size=7, stride=2, max_pool=True, width=64, input_size=224, classes=1000),
}
STRIDE_PLACEMENTS = ("first", "last")
STRIDE_CONVS = ("first", "3x3")
CONV_BIASES = ("always", "unless_normalized", "never")
# Which unit convs (kernel > 1) are padded by a `ZeroPadding2D` layer, symmetric as in
# Torch, before a "valid" conv, instead of `padding="same"`: "all" (keras v2's
# topology), "strided" (only strided convs, where "same" would pad asymmetrically; at
# stride 1 "same" is the same symmetric padding without the extra layer, its copy of
# the activations and its gradient) or "none" (keras v1: "same" everywhere). "all" and
# "strided" compute the same function.
EXPLICIT_PADDINGS = ("all", "strided", "none")
KERNEL_INITIALIZERS = ("glorot_uniform", "he_normal_fan_out")
LAYOUTS = ("keras", "paper")

# Units per stage of the named ImageNet depths (He et al. 2015, Table 1; ResNet-200
# from arXiv:1603.05027, Table 5).
IMAGENET_STAGE_UNITS = {
    "basic": {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)},
    "bottleneck": {
        50: (3, 4, 6, 3),
        101: (3, 4, 23, 3),
        152: (3, 8, 36, 3),
        200: (3, 24, 36, 3),
    },
}
IMAGENET_WIDTHS = (64, 128, 256, 512)
CIFAR_WIDTHS = (16, 32, 64)


def is_preactivation(order):
    """True for the orders whose units start with an activation (Fig. 4(d), 4(e))."""
    return bool(ORDERS[order].preactivation)


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """A residual network, as data.

    Attributes:
        block: `"basic"` (two 3x3 convs) or `"bottleneck"` (1x1, 3x3, 1x1 with 4x
            output channels).
        stage_units: residual units per stage.
        stage_widths: branch width per stage (bottleneck outputs are 4x this).
        order: activation order, one of `ORDERS` (Fig. 4 of the paper).
        shortcut: shortcut of the units that keep their channel count, one of
            `SHORTCUTS` (Fig. 2). Units that change the channel count keep a
            projection (`projection`), as in the paper, unless the shortcut is
            `"conv1x1"`.
        shortcut_scale: lambda of `"constant_scaling"` (shortcut times lambda).
        scale_branch: `"constant_scaling"` only: also scale the branch by 1 - lambda.
        gate_bias: initial bias b_g of the 1x1 gate conv, gating shortcuts only.
        dropout_rate: rate of the `"dropout"` shortcut. Departs from the paper: Keras'
            `Dropout` rescales the kept values by 1 / (1 - rate) in training and is
            the identity at inference, so the shortcut's expected scale is 1; the paper
            (Sec. 3.1) reads its dropout as a scale with expectation 0.5.
        projection: shortcut of channel-changing units: `"conv"` (1x1 projection,
            "option B") or `"zero_pad"` (subsample and zero channels, "option A";
            needs output channels to be a multiple of input channels).
        stem: `"cifar"` (3x3/1 conv) or `"imagenet"` (7x7/2 conv, 3x3/2 max pool).
        stem_width: filters of the stem conv.
        stride_placement: `"first"` (first unit of stages 2..n; paper, keras v1) or
            `"last"` (last unit of stages 1..n-1; keras v2 / TF-slim).
        stride_conv: bottleneck conv carrying the stride: `"first"` (the first 1x1;
            `resnet-pre-act.lua`, keras v1) or `"3x3"` (keras v2, fb.resnet.torch).
        conv_bias: `"always"` (keras v1), `"unless_normalized"` (bias only on convs not
            followed by BN; keras v2) or `"never"` (the official code).
        explicit_padding: which unit convs get a `ZeroPadding2D` layer instead of
            `padding="same"`, one of `EXPLICIT_PADDINGS`: `"all"` (keras v2),
            `"strided"` (the paper layout; same function as `"all"`, fewer passes over
            memory) or `"none"` (keras v1). `True` and `False`, the values of specs
            saved before the field had three values, read as `"all"` and `"none"`.
        bn_epsilon, bn_momentum: BatchNormalization constants.
        kernel_initializer: `"glorot_uniform"` (Keras) or `"he_normal_fan_out"` (the
            official code's `normal(0, sqrt(2 / (k * k * filters)))`).
        zero_init_last: start every residual branch at zero (its last BN's gamma or
            its last conv's kernel), so that every unit starts as its shortcut.
        drop_path_rate: stochastic depth (Huang et al., ECCV 2016, arXiv:1603.09382;
            timm's name and schedule): in training, each example skips a unit's
            residual branch with a probability rising linearly from 0 at the first
            unit to `drop_path_rate` at the last, and the kept branches are scaled by
            1 / (1 - rate); at inference every branch is kept, unscaled. A training
            option only: it adds weightless `Dropout` layers, so weights files load
            across rates (`for_inference`). Departures from Huang et al., as timm:
            the first unit is never dropped (theirs: rate / L); examples are dropped
            one by one (theirs: the whole mini-batch); kept branches are scaled in
            training (theirs: branches scaled by the survival probability at test
            time); off by default (their rate: 0.5 at the last unit).
    """

    block: str
    stage_units: Tuple[int, ...]
    stage_widths: Tuple[int, ...]
    order: str = "full_preactivation"
    shortcut: str = "identity"
    shortcut_scale: Optional[float] = None
    scale_branch: Optional[bool] = None
    gate_bias: Optional[float] = None
    dropout_rate: Optional[float] = None
    projection: str = "conv"
    stem: str = "cifar"
    stem_width: Optional[int] = None
    stride_placement: str = "first"
    stride_conv: str = "first"
    conv_bias: str = "never"
    explicit_padding: str = "strided"
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9
    kernel_initializer: str = "he_normal_fan_out"
    zero_init_last: bool = False
    drop_path_rate: float = 0.0

    def __post_init__(self):
        check_choice("block", self.block, BLOCKS)
        check_choice("order", self.order, ORDERS)
        check_choice("shortcut", self.shortcut, SHORTCUTS)
        check_choice("projection", self.projection, PROJECTIONS)
        check_choice("stem", self.stem, STEMS)
        check_choice("stride_placement", self.stride_placement, STRIDE_PLACEMENTS)
        check_choice("stride_conv", self.stride_conv, STRIDE_CONVS)
        check_choice("conv_bias", self.conv_bias, CONV_BIASES)
        if isinstance(self.explicit_padding, bool):
            object.__setattr__(self, "explicit_padding", "all" if self.explicit_padding else "none")
        check_choice("explicit_padding", self.explicit_padding, EXPLICIT_PADDINGS)
        check_choice("kernel_initializer", self.kernel_initializer, KERNEL_INITIALIZERS)
        for argument in ("stage_units", "stage_widths"):
            value = getattr(self, argument)
            if (
                not isinstance(value, (tuple, list))
                or not value
                or not all(_is_positive_int(v) for v in value)
            ):
                fail(argument, f"`{argument}` must be a non-empty sequence of positive integers.", value)
            object.__setattr__(self, argument, tuple(int(v) for v in value))
        if len(self.stage_units) != len(self.stage_widths):
            fail(
                "stage_widths",
                f"`stage_widths` must have one entry per stage ({len(self.stage_units)}, "
                f"as `stage_units={self.stage_units}`).",
                self.stage_widths,
            )
        self._resolve_shortcut_options()
        if self.stem_width is None:
            object.__setattr__(self, "stem_width", STEMS[self.stem].width)
        object.__setattr__(self, "stem_width", check_int("stem_width", self.stem_width, minimum=1))
        object.__setattr__(self, "bn_epsilon", check_number("bn_epsilon", self.bn_epsilon, low=0.0, low_open=True))
        object.__setattr__(self, "bn_momentum", check_number("bn_momentum", self.bn_momentum, low=0.0, high=1.0))
        check_bool("zero_init_last", self.zero_init_last)
        if self.projection == "zero_pad":
            self._check_zero_pad()
        object.__setattr__(self, "drop_path_rate", check_number(
            "drop_path_rate", self.drop_path_rate, low=0.0, high=1.0))

    def _resolve_shortcut_options(self):
        for option, (owners, default) in SHORTCUT_OPTIONS.items():
            value = getattr(self, option)
            if self.shortcut not in owners:
                if value is not None:
                    fail(
                        option,
                        f"`{option}` applies only to shortcut in {list(owners)}, "
                        f"not to shortcut={self.shortcut!r}.",
                        value,
                    )
                continue
            object.__setattr__(self, option, default if value is None else value)
        if self.shortcut == "constant_scaling":
            object.__setattr__(self, "shortcut_scale", check_number(
                "shortcut_scale", self.shortcut_scale, low=0.0, high=1.0, low_open=True))
            check_bool("scale_branch", self.scale_branch)
        if self.shortcut in GATING_SHORTCUTS:
            object.__setattr__(self, "gate_bias", check_number("gate_bias", self.gate_bias))
        if self.shortcut == "dropout":
            object.__setattr__(self, "dropout_rate", check_number(
                "dropout_rate", self.dropout_rate, low=0.0, high=1.0, low_open=True))

    def _check_zero_pad(self):
        channels_in = self.stem_width
        for width in self.stage_widths:
            channels_out = width * self.expansion
            if channels_out < channels_in or channels_out % channels_in:
                fail(
                    "projection",
                    "projection='zero_pad' needs every stage's output channels to be a "
                    f"multiple of its input channels; {channels_in} -> {channels_out} is "
                    "not. Use projection='conv'.",
                    self.projection,
                )
            channels_in = channels_out

    @property
    def expansion(self):
        """Output channels of a unit per unit of branch width (1 basic, 4 bottleneck)."""
        return BLOCKS[self.block][1]

    @property
    def depth(self):
        """Weighted layers on the longest path: stem conv, branch convs, classifier."""
        return len(BLOCKS[self.block][0]) * sum(self.stage_units) + 2

    @property
    def output_channels(self):
        return self.stage_widths[-1] * self.expansion

    @property
    def default_input_size(self):
        return STEMS[self.stem].input_size

    @property
    def default_classes(self):
        """Classes of the top by default: 10 for the CIFAR stem, 1000 for ImageNet's."""
        return STEMS[self.stem].classes

    def for_inference(self):
        """This spec without its training-only options (`drop_path_rate` at 0).

        Two specs with equal `for_inference()` have the same weights and compute the
        same function at inference: weights files and named weights load across them.
        """
        return self.replace(drop_path_rate=0.0)

    def replace(self, **changes):
        """Returns a copy with `changes` applied and validated.

        Option fields of the old shortcut are dropped when the shortcut changes, so
        `spec.replace(shortcut="identity")` works on a gated spec.
        """
        _check_fields(changes)
        fields = self.to_dict()
        if "shortcut" in changes:
            for option in SHORTCUT_OPTIONS:
                fields[option] = None
        fields.update(changes)
        return ResNetSpec(**fields)

    def to_dict(self):
        """A JSON-compatible dict; `ResNetSpec.from_dict` inverts it exactly."""
        fields = dataclasses.asdict(self)
        fields["stage_units"] = list(self.stage_units)
        fields["stage_widths"] = list(self.stage_widths)
        return fields

    @classmethod
    def from_dict(cls, fields):
        _check_fields(fields)
        return cls(**fields)

    def to_json(self, **kwargs):
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_depth(cls, depth, *, family="cifar", block="basic", layout="paper", **overrides):
        """The spec of a ResNet-`depth` of `family`, with `layout`'s conventions.

        Args:
            depth: int. CIFAR: 6n+2 (basic) or 9n+2 (bottleneck); ImageNet: 18, 34
                (basic) or 50, 101, 152, 200 (bottleneck).
            family: `"cifar"` (3 stages of widths 16, 32, 64 on a 3x3 stem) or
                `"imagenet"` (4 stages of widths 64..512 on a 7x7 stem and max pool).
            block: `"basic"` or `"bottleneck"`. Depth alone is ambiguous (164 is both
                6n+2 and 9n+2), so the block is always explicit.
            layout: `"keras"` or `"paper"`, see the module docstring.
            **overrides: any other `ResNetSpec` field.
        """
        check_choice("family", family, STEMS)
        check_choice("block", block, BLOCKS)
        check_choice("layout", layout, LAYOUTS)
        _check_fields(overrides)
        if family == "cifar":
            stage_units = (_cifar_units_per_stage(depth, block),) * 3
            widths = CIFAR_WIDTHS
        else:
            table = IMAGENET_STAGE_UNITS[block]
            if depth not in table:
                fail(
                    "depth",
                    f"`depth` for an ImageNet ResNet with block={block!r} must be one of "
                    f"{sorted(table)}.",
                    depth,
                )
            stage_units, widths = table[depth], IMAGENET_WIDTHS
        order = overrides.get("order", "full_preactivation")
        check_choice("order", order, ORDERS)
        fields = dict(
            block=block,
            stage_units=stage_units,
            stage_widths=widths,
            stem=family,
            **layout_conventions(layout, order=order, family=family, block=block),
        )
        fields.update(overrides)
        return cls(**fields)


def layout_conventions(layout, *, order, family, block):
    """The convention fields of `layout` for a net of `order`, `family` and `block`."""
    check_choice("layout", layout, LAYOUTS)
    if layout == "keras":
        preactivation = is_preactivation(order)
        return dict(
            projection="conv",
            stride_placement="last" if preactivation else "first",
            stride_conv="3x3" if preactivation else "first",
            conv_bias="unless_normalized" if preactivation else "always",
            explicit_padding="all" if preactivation else "none",
            bn_epsilon=1.001e-5,
            bn_momentum=0.99,
            kernel_initializer="glorot_uniform",
        )
    return dict(
        # He et al. 2015 (Sec. 4.2) use option A on the basic CIFAR nets;
        # resnet-pre-act.lua projects in its bottleneck nets.
        projection="zero_pad" if (family == "cifar" and block == "basic") else "conv",
        stride_placement="first",
        stride_conv="first" if family == "cifar" else "3x3",
        conv_bias="never",
        explicit_padding="strided",
        bn_epsilon=1e-5,
        bn_momentum=0.9,
        kernel_initializer="he_normal_fan_out",
    )


def valid_cifar_depths(block, limit=12):
    """The first `limit` valid CIFAR depths of `block` (6n+2 or 9n+2)."""
    per_unit = 3 * len(BLOCKS[block][0])
    return [per_unit * n + 2 for n in range(1, limit + 1)]


def _cifar_units_per_stage(depth, block):
    per_unit = 3 * len(BLOCKS[block][0])
    if not _is_positive_int(depth) or depth < per_unit + 2 or (depth - 2) % per_unit:
        fail(
            "depth",
            f"`depth` of a CIFAR ResNet with block={block!r} must be {per_unit}n+2, "
            f"e.g. {valid_cifar_depths(block)}...",
            depth,
        )
    return (depth - 2) // per_unit


def _check_fields(fields):
    names = [f.name for f in dataclasses.fields(ResNetSpec)]
    for name in fields:
        check_choice("option", name, names)


def _is_positive_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0
