"""The named architectures: a table of variants and one-line public builders.

Every builder has keras.applications' signature, plus keyword-only options:
`include_preprocessing` (a zoo model's own preprocessing), `features_only` and
`out_indices` (multi-scale feature maps), and spec options: any `ResNetSpec` field
(`order`, `shortcut`, `gate_bias`, `drop_path_rate`...) and `layout`.
`ResNet56(shortcut="exclusive_gating")` is the paper's gated ResNet-56.
"""

import dataclasses

from keras_resnetv2.models import builder
from keras_resnetv2.models.spec import ResNetSpec
from keras_resnetv2.utils.checks import check_choice

# The builders' keyword-only spec options: `ResNetSpec` fields, the layout and a depth.
SPEC_OPTIONS = [f.name for f in dataclasses.fields(ResNetSpec)] + ["layout", "depth"]


@dataclasses.dataclass(frozen=True)
class Variant:
    """A named architecture.

    Attributes:
        name: the public builder's name, e.g. `"ResNet164V2"`.
        family: `"imagenet"` or `"cifar"`.
        block: `"basic"` or `"bottleneck"`.
        depth: the depth in the name.
        order: activation order (`"original"` for v1, `"full_preactivation"` for v2).
        layout: `"keras"` for the six keras.applications models, else `"paper"`.
        preprocessing: the family of `preprocess_input` the net expects.
    """

    name: str
    family: str
    block: str
    depth: int
    order: str
    layout: str
    preprocessing: str

    @property
    def arch(self):
        """The lower-case architecture id (keras' model name), e.g. `"resnet164v2"`."""
        return self.name.lower()

    def spec(self, layout=None, depth=None, **overrides):
        """This variant's `ResNetSpec`, at another `depth` of its family and block if
        given, with `overrides` of any field."""
        overrides.setdefault("order", self.order)
        return ResNetSpec.from_depth(
            depth or self.depth,
            family=self.family,
            block=self.block,
            layout=layout or self.layout,
            **overrides,
        )


def _variants():
    table = []
    for depth in (50, 101, 152):
        table.append(Variant(f"ResNet{depth}", "imagenet", "bottleneck", depth, "original", "keras", "caffe"))
        table.append(Variant(f"ResNet{depth}V2", "imagenet", "bottleneck", depth, "full_preactivation", "keras", "tf"))
    table.append(Variant("ResNet200", "imagenet", "bottleneck", 200, "original", "paper", "torch"))
    table.append(Variant("ResNet200V2", "imagenet", "bottleneck", 200, "full_preactivation", "paper", "torch"))
    for block, depths in (("basic", (20, 32, 44, 56, 110, 1202)), ("bottleneck", (164, 1001))):
        for depth in depths:
            table.append(Variant(f"ResNet{depth}", "cifar", block, depth, "original", "paper", "cifar"))
            table.append(Variant(f"ResNet{depth}V2", "cifar", block, depth, "full_preactivation", "paper", "cifar"))
    return {v.arch: v for v in table}


VARIANTS = _variants()


def get_variant(name):
    """The `Variant` named `name` (case-insensitive: "ResNet20V2" or "resnet20v2")."""
    variant = VARIANTS.get(str(name).lower())
    return variant or VARIANTS[check_choice("model", name, list_models()).lower()]


def list_models():
    """The public builder names, in table order."""
    return [v.name for v in VARIANTS.values()]


def build(name, **kwargs):
    """Builds the variant `name` with the builder's keyword arguments."""
    return BUILDERS[get_variant(name).name](**kwargs)


_DOC = """Instantiates {title} ({reference}).

{family_note} Activation order {order!r}; conventions of the {layout!r} layout
(see `keras_resnetv2.models.spec`).

Args:
    include_top, weights, input_tensor, input_shape, pooling, classes,
    classifier_activation, name: as in keras.applications (`keras_resnetv2.ResNet`
        documents each). Default `weights`: {weights!r}; zoo tags: see
        `keras_resnetv2.zoo.available_weights({arch!r})`. Default `classes`:
        {classes}.
    features_only: return the multi-scale feature maps (one output per stride)
        instead; `out_indices` picks some of them (see `keras_resnetv2.ResNet`).
    include_preprocessing: keyword-only; whether a model for a zoo tag starts with
        the entry's preprocessing and takes raw 0..255 pixels (default: True for a
        zoo tag, else False; see `keras_resnetv2.ResNet`).
    fused_batchnorm: keyword-only; BatchNorm through TensorFlow's fused kernel
        (default True: the same function, faster, saved as Keras' layer); False:
        Keras' `BatchNormalization` (see `keras_resnetv2.models.batchnorm`).
    **spec_options: keyword-only overrides of any `ResNetSpec` field (`order`,
        `shortcut`, `gate_bias`, `projection`, `drop_path_rate`, ...) or `layout`.
        Named weights load only into the unmodified architecture, at any
        `drop_path_rate` (stochastic depth changes training only).

Returns:
    A `keras.Model`.
"""


def _make_builder(variant):
    default_weights = "imagenet" if variant.layout == "keras" else None
    # keras.applications' signature for its six models; elsewhere None: the classes
    # of the named weights, else the family's default.
    default_classes = 1000 if variant.layout == "keras" else None

    def build_variant(
        include_top=True,
        weights=default_weights,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=default_classes,
        classifier_activation="softmax",
        name=variant.arch,
        *,
        features_only=False,
        out_indices=None,
        include_preprocessing=None,
        fused_batchnorm=True,
        **spec_options,
    ):
        for option in spec_options:
            check_choice("option", option, SPEC_OPTIONS)
        spec = variant.spec(**spec_options)
        weights_arch = variant.arch if spec.for_inference() == variant.spec() else None
        return builder.ResNet(
            spec,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name,
            weights_arch=weights_arch,
            features_only=features_only,
            out_indices=out_indices,
            include_preprocessing=include_preprocessing,
            fused_batchnorm=fused_batchnorm,
        )

    v2 = variant.order == "full_preactivation"
    build_variant.__name__ = build_variant.__qualname__ = variant.name
    build_variant.__doc__ = _DOC.format(
        title=f"the {'pre-activation ' if v2 else ''}ResNet-{variant.depth}",
        reference="He et al., arXiv:1603.05027" if v2 else "He et al., arXiv:1512.03385",
        family_note=(
            f"ImageNet family: 7x7 stem, {variant.block} units."
            if variant.family == "imagenet"
            else f"CIFAR family: 3x3 stem, {variant.block} units, 32x32x3 input and 10 classes by default."
        ),
        order=variant.order,
        layout=variant.layout,
        weights=default_weights,
        arch=variant.arch,
        classes=default_classes or f"{variant.spec().default_classes}, or the classes of the named weights",
    )
    return build_variant


BUILDERS = {v.name: _make_builder(v) for v in VARIANTS.values()}

ResNet50 = BUILDERS["ResNet50"]
ResNet101 = BUILDERS["ResNet101"]
ResNet152 = BUILDERS["ResNet152"]
ResNet200 = BUILDERS["ResNet200"]
ResNet50V2 = BUILDERS["ResNet50V2"]
ResNet101V2 = BUILDERS["ResNet101V2"]
ResNet152V2 = BUILDERS["ResNet152V2"]
ResNet200V2 = BUILDERS["ResNet200V2"]
ResNet20 = BUILDERS["ResNet20"]
ResNet32 = BUILDERS["ResNet32"]
ResNet44 = BUILDERS["ResNet44"]
ResNet56 = BUILDERS["ResNet56"]
ResNet110 = BUILDERS["ResNet110"]
ResNet1202 = BUILDERS["ResNet1202"]
ResNet164 = BUILDERS["ResNet164"]
ResNet1001 = BUILDERS["ResNet1001"]
ResNet20V2 = BUILDERS["ResNet20V2"]
ResNet32V2 = BUILDERS["ResNet32V2"]
ResNet44V2 = BUILDERS["ResNet44V2"]
ResNet56V2 = BUILDERS["ResNet56V2"]
ResNet110V2 = BUILDERS["ResNet110V2"]
ResNet1202V2 = BUILDERS["ResNet1202V2"]
ResNet164V2 = BUILDERS["ResNet164V2"]
ResNet1001V2 = BUILDERS["ResNet1001V2"]
