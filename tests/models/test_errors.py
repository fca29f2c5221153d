"""Bad input fails at the door, naming the argument, the valid choices and what came."""

import contextlib
import json
import re

import numpy as np
import pytest

import keras_resnetv2
from keras_resnetv2 import ResNetSpec


@contextlib.contextmanager
def raises(match):
    """`pytest.raises(ValueError, match=...)` whose message also ends with `Received: arg=...`."""
    with pytest.raises(ValueError, match=re.compile(match, re.S)) as info:
        yield info
    assert re.search(r"Received: [\w ]+=[^\n]+$", str(info.value)), str(info.value)


@pytest.mark.parametrize("block,depth,valid", [("basic", 100, r"6n\+2, e\.g\. \[8, 14, 20"),
                                               ("bottleneck", 100, r"9n\+2, e\.g\. \[11, 20, 29"),
                                               ("basic", 2, r"6n\+2")])
def test_depth_not_in_the_family_lists_valid_depths(block, depth, valid):
    with raises(valid + r".*depth=" + str(depth)):
        ResNetSpec.from_depth(depth, block=block)


def test_imagenet_depth_lists_the_named_depths():
    with raises(r"\[50, 101, 152, 200\].*depth=77"):
        ResNetSpec.from_depth(77, family="imagenet", block="bottleneck")


@pytest.mark.parametrize("argument,value,close", [
    ("order", "full_preact", "full_preactivation"),
    ("shortcut", "gating", "shortcut_only_gating|exclusive_gating"),
    ("shortcut", "idenity", "identity"),
])
def test_unknown_choice_lists_choices_and_a_close_match(argument, value, close):
    with raises(rf"`{argument}` must be one of \[.*\]\. Did you mean '({close})'\?.*{argument}='{value}'"):
        keras_resnetv2.ResNet20(**{argument: value})


def test_unknown_spec_option_is_refused():
    with raises(r"`option` must be one of .*'gate_bias'.*Did you mean 'gate_bias'.*option='gate_bais'"):
        keras_resnetv2.ResNet20(gate_bais=-3.0)


@pytest.mark.parametrize("option,value", [("gate_bias", -3.0), ("shortcut_scale", 0.3), ("dropout_rate", 0.2)])
def test_option_of_another_shortcut_is_refused(option, value):
    with raises(rf"`{option}` applies only to shortcut in .*not to shortcut='identity'.*{option}={value}"):
        keras_resnetv2.ResNet56(**{option: value})


def test_pooling_outside_the_choices_is_refused():
    with raises(r"`pooling` must be one of \[None, 'avg', 'max'\].*pooling='mean'"):
        keras_resnetv2.ResNet20(include_top=False, pooling="mean")


def test_imagenet_weights_on_a_net_without_them():
    with raises(r"No ImageNet weights exist for 'resnet20v2'.*'resnet50v2'.*weights='imagenet'"):
        keras_resnetv2.ResNet20V2(weights="imagenet")


def test_imagenet_weights_on_a_modified_architecture():
    with raises(r"No ImageNet weights exist for a modified architecture.*weights='imagenet'"):
        keras_resnetv2.ResNet50V2(shortcut="exclusive_gating")


def test_imagenet_top_needs_1000_classes():
    with raises(r"`classes` must be 1000.*classes=10"):
        keras_resnetv2.ResNet50V2(classes=10)


def test_pretrained_top_needs_softmax_or_logits():
    with raises(r"`classifier_activation` must be None or 'softmax'.*classifier_activation='sigmoid'"):
        keras_resnetv2.ResNet50(classifier_activation="sigmoid")


@pytest.mark.parametrize("kwargs,match", [
    (dict(weights=None, include_top=False, input_shape=(16, 16, 3)), r"at least 32x32.*input_shape=\(16, 16, 3\)"),
    (dict(weights="imagenet", include_top=False, input_shape=(224, 224, 1)), r"3-channel images.*input_shape=\(224, 224, 1\)"),
    (dict(weights="imagenet", input_shape=(160, 160, 3)), r"must be \(224, 224, 3\).*input_shape=\(160, 160, 3\)"),
    (dict(weights=None, input_shape=(224, 224)), r"three positive integers.*input_shape=\(224, 224\)"),
    (dict(weights=None, input_shape=(None, 224, 3)), r"static.*input_shape=\(None, 224, 3\)"),
])
def test_bad_input_shapes(kwargs, match):
    with raises(match):
        keras_resnetv2.ResNet50V2(**kwargs)


def test_cifar_net_refuses_inputs_below_its_total_stride():
    with raises(r"at least 4x4.*input_shape=\(2, 2, 3\)"):
        keras_resnetv2.ResNet20(input_shape=(2, 2, 3))


def test_weights_path_that_does_not_exist():
    with raises(r"`weights` must be None, one of \['fashion_mnist'\] for 'resnet20', or the path.*weights='/no/such.weights.h5'"):
        keras_resnetv2.ResNet20(weights="/no/such.weights.h5")


@pytest.mark.parametrize("other", ["ResNet32", "ResNet20V2x5"])
def test_weights_of_another_architecture(other, tmp_path):
    path = tmp_path / "resnet20.weights.h5"
    keras_resnetv2.ResNet20().save_weights(path)
    name, classes = (other, 10) if other == "ResNet32" else ("ResNet20V2", 5)
    with raises(rf"{path} does not fit the architecture of '{name.lower()}'.*weights='{path}'"):
        keras_resnetv2.build(name, weights=str(path), classes=classes)


def test_unknown_model_name_suggests_one():
    with raises(r"`model` must be one of \['ResNet50', .*Did you mean 'ResNet20V2'.*model='ResNet20V3'"):
        keras_resnetv2.build("ResNet20V3")


@pytest.mark.parametrize(
    "fields, pattern",
    [
        (dict(bn_epsilon="1e-3"), r"`bn_epsilon` must be a number in \(0, inf\)\. Received: bn_epsilon='1e-3'"),
        (dict(bn_momentum=1.0), r"`bn_momentum` must be a number in \[0, 1\)\. Received: bn_momentum=1\.0"),
        (dict(stem_width=8.0), r"`stem_width` must be an integer >= 1\. Received: stem_width=8\.0"),
        (dict(zero_init_last="yes"), r"`zero_init_last` must be True or False\. Received: zero_init_last='yes'"),
        (dict(drop_path_rate=float("nan")), r"`drop_path_rate` must be a number in \[0, 1\)\. Received: drop_path_rate=nan"),
        (dict(shortcut="exclusive_gating", gate_bias="x"), r"`gate_bias` must be a finite number\. Received: gate_bias='x'"),
        (dict(shortcut="constant_scaling", scale_branch=1), r"`scale_branch` must be True or False\. Received: scale_branch=1"),
        (dict(shortcut="constant_scaling", shortcut_scale=0.0), r"`shortcut_scale` must be a number in \(0, 1\)\. Received: shortcut_scale=0\.0"),
        (dict(shortcut="dropout", dropout_rate=True), r"`dropout_rate` must be a number in \(0, 1\)\. Received: dropout_rate=True"),
    ],
)
def test_spec_numbers_and_flags_are_type_checked(fields, pattern):
    with raises(pattern):
        ResNetSpec(block="basic", stage_units=(1,), stage_widths=(4,), **fields)


def test_numpy_numbers_are_accepted_and_stored_as_python_numbers():
    spec = ResNetSpec(block="basic", stage_units=(np.int64(1),), stage_widths=(np.int32(4),),
                      stem_width=np.int64(8), bn_epsilon=np.float32(1e-3), drop_path_rate=np.float64(0.1))
    assert json.loads(json.dumps(spec.to_dict()))["stem_width"] == 8  # JSON-compatible, as to_dict says
    assert (type(spec.stem_width), type(spec.bn_epsilon), type(spec.stage_units[0])) == (int, float, int)


def test_builder_refuses_a_spec_that_is_not_a_resnet_spec():
    with raises(r"`spec` must be a `ResNetSpec`.*Received: spec=\{'block': 'basic'\}"):
        keras_resnetv2.ResNet({"block": "basic"})


def test_spec_fields_are_validated():
    with raises(r"`stage_widths` must have one entry per stage"):
        ResNetSpec(block="basic", stage_units=(1, 1), stage_widths=(4,))
    with raises(r"`stage_units` must be a non-empty sequence of positive integers.*stage_units=\(1, 0\)"):
        ResNetSpec(block="basic", stage_units=(1, 0), stage_widths=(4, 8))
    with raises(r"zero_pad.*multiple of its input channels; 16 -> 24.*projection='zero_pad'"):
        ResNetSpec(block="basic", stage_units=(1, 1), stage_widths=(16, 24), projection="zero_pad")
    with raises(r"`explicit_padding` must be one of \['all', 'strided', 'none'\].*explicit_padding='same'"):
        ResNetSpec(block="basic", stage_units=(1,), stage_widths=(4,), explicit_padding="same")
    with raises(r"`layout` must be one of \['keras', 'paper'\].*layout='torch'"):
        ResNetSpec.from_depth(20, layout="torch")
