"""ResNetSpec as data, the variant table, and the builders' public surface."""

import inspect
import json

import keras
import numpy as np
import pytest
from harness import images, randomize, tiny_spec

import keras_resnetv2
from keras_resnetv2 import ResNet, ResNetSpec
from keras_resnetv2.models.spec import SHORTCUT_OPTIONS


def test_json_round_trip_is_exact_for_every_variant():
    for variant in keras_resnetv2.VARIANTS.values():
        spec = variant.spec()
        text = spec.to_json(sort_keys=True)
        assert ResNetSpec.from_json(text) == spec
        assert ResNetSpec.from_json(text).to_json(sort_keys=True) == text
        assert json.loads(text)["stage_units"] == list(spec.stage_units)


def test_shortcut_options_resolve_to_defaults_only_where_they_apply():
    gated = tiny_spec(shortcut="exclusive_gating")
    assert gated.gate_bias == -6.0 and gated.shortcut_scale is None and gated.dropout_rate is None
    scaled = tiny_spec(shortcut="constant_scaling")
    assert (scaled.shortcut_scale, scaled.scale_branch) == (0.5, False)
    assert tiny_spec(shortcut="dropout").dropout_rate == 0.5
    assert all(getattr(tiny_spec(), option) is None for option in SHORTCUT_OPTIONS)


def test_replace_drops_the_options_of_the_old_shortcut():
    gated = tiny_spec(shortcut="exclusive_gating", gate_bias=-3.0)
    assert gated.replace(shortcut="identity") == tiny_spec()
    assert gated.replace(gate_bias=-4.0).gate_bias == -4.0


@pytest.mark.parametrize("name,layout,expected", [
    ("ResNet50", "keras", dict(stride_placement="first", stride_conv="first", conv_bias="always", explicit_padding="none")),
    ("ResNet50V2", "keras", dict(stride_placement="last", stride_conv="3x3", conv_bias="unless_normalized", explicit_padding="all")),
    ("ResNet164V2", "paper", dict(stride_placement="first", stride_conv="first", conv_bias="never", projection="conv",
                                  explicit_padding="strided",
                                  bn_epsilon=1e-5, bn_momentum=0.9, kernel_initializer="he_normal_fan_out")),
    ("ResNet110", "paper", dict(projection="zero_pad", stem="cifar", stem_width=16)),
    ("ResNet200V2", "paper", dict(stride_conv="3x3", stem="imagenet", stage_units=(3, 24, 36, 3))),
])
def test_variant_conventions(name, layout, expected):
    variant = keras_resnetv2.get_variant(name)
    assert variant.layout == layout
    spec = variant.spec()
    assert {k: getattr(spec, k) for k in expected} == expected


def test_boolean_explicit_padding_of_older_specs_reads_as_all_or_none():
    assert tiny_spec(explicit_padding=True) == tiny_spec(explicit_padding="all")
    assert tiny_spec(explicit_padding=False).explicit_padding == "none"
    saved = tiny_spec().to_dict()
    saved["explicit_padding"] = True
    assert ResNetSpec.from_dict(saved).to_dict()["explicit_padding"] == "all"


@pytest.mark.parametrize("spec", [
    ResNetSpec.from_depth(20),  # stride on the first 3x3 of stages 2 and 3
    ResNetSpec.from_depth(20, order="original"),
    ResNetSpec.from_depth(29, block="bottleneck", stride_conv="3x3"),  # stride on the 3x3
], ids=["ResNet20V2", "ResNet20", "ResNet29V2_stride_on_3x3"])
def test_strided_explicit_padding_computes_what_padding_every_conv_computes(spec):
    """The paper layout pads with a layer only where "same" would be asymmetric."""
    lean = ResNet(spec, input_shape=(16, 16, 3), classes=10)
    padded = ResNet(spec.replace(explicit_padding="all"), input_shape=(16, 16, 3), classes=10)

    def pad_layers(model):
        return sorted(l.name for l in model.layers if isinstance(l, keras.layers.ZeroPadding2D))

    strided_3x3 = [l.name for l in lean.layers if isinstance(l, keras.layers.Conv2D)
                   and l.strides == (2, 2) and l.kernel_size == (3, 3)]
    assert len(strided_3x3) == 2
    assert pad_layers(lean) == sorted(["conv1_pad"] + [n.replace("_conv", "_pad") for n in strided_3x3])
    assert len(pad_layers(padded)) == 1 + sum(1 for l in padded.layers if isinstance(l, keras.layers.Conv2D)
                                              and l.kernel_size == (3, 3) and l.name != "conv1_conv")
    randomize(lean)
    padded.set_weights(lean.get_weights())
    x = images((2, 16, 16, 3))
    for training in (False, True):
        np.testing.assert_allclose(padded(x, training=training), lean(x, training=training), atol=1e-5)


def test_depth_is_derived_from_the_stages():
    for variant in keras_resnetv2.VARIANTS.values():
        assert variant.spec().depth == variant.depth


def test_builders_have_the_keras_applications_signature():
    for name in ("ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2"):
        ours = list(inspect.signature(getattr(keras_resnetv2, name)).parameters.values())
        theirs = inspect.signature(getattr(keras.applications, name)).parameters
        assert [(p.name, p.default) for p in theirs.values()] == [(p.name, p.default) for p in ours[:len(theirs)]]
        # Then keyword-only options only: features_only, out_indices, include_preprocessing,
        # fused_batchnorm, then **spec_options.
        extra = ours[len(theirs):]
        assert [(p.name, p.default) for p in extra[:-1]] == [
            ("features_only", False), ("out_indices", None), ("include_preprocessing", None),
            ("fused_batchnorm", True)]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in extra[:-1])
        assert extra[-1].kind is inspect.Parameter.VAR_KEYWORD
    # The paper's nets: classes=None means the named weights' classes, else 10 (CIFAR-10).
    assert inspect.signature(keras_resnetv2.ResNet164V2).parameters["classes"].default is None
    assert keras_resnetv2.ResNet20V2().output_shape == (None, 10)
    assert inspect.signature(keras_resnetv2.ResNet164V2).parameters["weights"].default is None
    assert keras_resnetv2.ResNet164V2.__name__ == "ResNet164V2"
    assert "arXiv:1603.05027" in keras_resnetv2.ResNet164V2.__doc__


def test_every_listed_model_is_exported():
    names = keras_resnetv2.list_models()
    assert len(names) == 24
    assert all(getattr(keras_resnetv2, n) is keras_resnetv2.models.variants.BUILDERS[n] for n in names)


def test_generic_builder_gated_resnet56():
    spec = ResNetSpec.from_depth(56, shortcut="exclusive_gating", order="original")
    model = ResNet(spec, classes=10, name="gated56")
    gates = [l for l in model.layers if isinstance(l, keras.layers.Conv2D) and l.name.endswith("_gate")]
    assert len(gates) == 27 - 2  # every unit but the 2 that widen (they keep their projection)
    same = keras_resnetv2.ResNet56(shortcut="exclusive_gating", name="gated56")
    assert [w.shape for w in same.weights] == [w.shape for w in model.weights]


def test_input_tensor_and_feature_extraction():
    tensor = keras.Input((40, 40, 3))
    model = keras_resnetv2.ResNet20V2(input_tensor=tensor, include_top=False, pooling="avg")
    assert model.inputs[0] is tensor
    assert model.output_shape == (None, 64)
    features = keras_resnetv2.ResNet20V2(include_top=False)
    assert features.input_shape == (None, None, None, 3) and features.output_shape == (None, None, None, 64)
    assert features.predict_on_batch(images((1, 48, 40, 3))).shape == (1, 12, 10, 64)


def test_mixed_precision_keeps_float32_logits():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = keras_resnetv2.ResNet20V2(classifier_activation=None)
        assert model.get_layer("conv2_block1_1_conv").compute_dtype == "float16"
        assert model.get_layer("predictions").compute_dtype == "float32"
        assert keras.ops.convert_to_numpy(model(images((1, 32, 32, 3)))).dtype == np.float32
    finally:
        keras.config.set_dtype_policy("float32")


def test_channels_first_builds():
    keras.config.set_image_data_format("channels_first")
    try:
        model = keras_resnetv2.ResNet20V2(input_shape=(3, 32, 32), include_top=False)
        assert model.output_shape == (None, 64, 8, 8)
        assert model.get_layer("conv2_block1_preact_bn").axis == 1
    finally:
        keras.config.set_image_data_format("channels_last")
