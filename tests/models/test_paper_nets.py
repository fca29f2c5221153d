"""The paper's nets have the paper's sizes (golden counts of trainable parameters).

The paper counts trainable parameters, as Torch does; `count_params()` also counts
BatchNorm's moving statistics.
"""

import numpy as np
import pytest

import keras_resnetv2
from keras_resnetv2.models.builder import total_stride
from harness import (
    basic_v1_trainable, bottleneck_bn_parameters, bottleneck_cifar_macs, bottleneck_v1_trainable,
    bottleneck_v2_trainable,
)
from keras_resnetv2.models.flops import count_flops


def trainable_parameters(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# (builder, closed-form trainable count, the paper's figure in millions, its rounding):
# arXiv:1512.03385 Table 6 (0.27M...19.4M) and arXiv:1603.05027 Table 3 (1.7M; 10.2M).
PAPER_SIZES = [
    ("ResNet20", basic_v1_trainable(3), 0.27, 2),
    ("ResNet32", basic_v1_trainable(5), 0.46, 2),
    ("ResNet44", basic_v1_trainable(7), 0.66, 2),
    ("ResNet56", basic_v1_trainable(9), 0.85, 2),
    ("ResNet110", basic_v1_trainable(18), 1.7, 1),
    pytest.param("ResNet1202", basic_v1_trainable(200), 19.4, 1, marks=pytest.mark.slow),
    ("ResNet164", bottleneck_v1_trainable(18), 1.70, 2),
    ("ResNet164V2", bottleneck_v2_trainable(18), 1.70, 2),
]


@pytest.mark.parametrize("name,count,paper,digits", PAPER_SIZES)
def test_parameter_count_is_the_closed_form_and_the_papers(name, count, paper, digits):
    assert round(count / 1e6, digits) == paper
    assert trainable_parameters(keras_resnetv2.build(name)) == count


@pytest.mark.slow
def test_resnet1001v2_has_the_closed_form_count_within_1_5_percent_of_the_papers_10_2m():
    count = bottleneck_v2_trainable(111)
    assert abs(count / 10.2e6 - 1) < 0.015
    assert trainable_parameters(keras_resnetv2.build("ResNet1001V2")) == count


def test_the_closed_forms_count_what_they_describe():
    # One unit per stage, by hand: stem 432 + 32, units 4,672 / 13,952 / 55,552, Dense 650.
    assert basic_v1_trainable(1) == 432 + 32 + 4672 + 13952 + 55552 + 650
    assert bottleneck_v2_trainable(1) == 432 + 4704 + 23808 + 94720 + 512 + 2570


def test_the_bottleneck_closed_forms_count_what_they_describe():
    # One unit per stage. Stem 432 + BN 32; per stage, 1x1 + 3x3 + 1x1 + projection weights,
    # then the BNs (w, w, 4w, and the projection's 4w); Dense 2,570.
    assert bottleneck_v1_trainable(1) == 432 + 32 + (4608 + 320) + (23552 + 640) + (94208 + 1280) + 2570
    assert bottleneck_bn_parameters(1, preactivation=False) == 32 + 320 + 640 + 1280
    # Pre-activation: each unit's BNs on its input (16 / 64 / 128 channels), w and w; the final 256.
    assert bottleneck_bn_parameters(1, preactivation=True) == (32 + 64) + (128 + 128) + (256 + 256) + 512
    # 32x32 stem 442,368; then each stage's weights times its pixels (32x32, 16x16, 8x8); the Dense.
    assert bottleneck_cifar_macs(1) == 442368 + 4608 * 1024 + 23552 * 256 + 94208 * 64 + 2560


@pytest.mark.parametrize("name,preactivation,trainable", [
    ("ResNet164", False, bottleneck_v1_trainable), ("ResNet164V2", True, bottleneck_v2_trainable)])
def test_the_deep_zoo_pair_at_28x28x1_has_the_closed_form_sizes(name, preactivation, trainable):
    model = keras_resnetv2.build(name, input_shape=(28, 28, 1), classes=10)
    assert trainable_parameters(model) == trainable(18, channels=1)
    assert model.count_params() == trainable(18, channels=1) + bottleneck_bn_parameters(18, preactivation=preactivation)
    assert count_flops(model) == 2 * bottleneck_cifar_macs(18, size=28, channels=1)


def test_v2_twins_share_the_shape_of_their_v1_nets():
    for depth in (20, 110):
        v1, v2 = keras_resnetv2.build(f"ResNet{depth}"), keras_resnetv2.build(f"ResNet{depth}V2")
        assert trainable_parameters(v1) == trainable_parameters(v2)
        assert v1.output_shape == v2.output_shape == (None, 10)


@pytest.mark.parametrize("name,units", [("ResNet200", (3, 24, 36, 3)), ("ResNet200V2", (3, 24, 36, 3))])
def test_imagenet_resnet200_has_the_papers_stages(name, units):
    variant = keras_resnetv2.get_variant(name)
    spec = variant.spec()
    assert spec.stage_units == units and spec.depth == 200
    assert total_stride(spec) == 32


def test_cifar_defaults_are_32x32x3_and_10_classes():
    model = keras_resnetv2.ResNet20V2()
    assert model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 10)
    assert model.name == "resnet20v2"


def test_v2_layer_sequence_follows_the_official_code():
    """resnet-pre-act.lua: bare conv1, units with a shared pre-activation where the
    dimensions grow, stride on the first 1x1, and a final BN-ReLU before pooling."""
    model = keras_resnetv2.ResNet164V2()
    names = [l.name for l in model.layers]
    assert names[:3] == ["input_layer", "conv1_pad", "conv1_conv"]
    assert names[3] == "conv2_block1_preact_bn"
    assert names[-4:] == ["post_bn", "post_relu", "avg_pool", "predictions"]
    assert model.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert model.get_layer("conv3_block1_0_conv").strides == (2, 2)
    assert model.get_layer("conv3_block1_2_conv").strides == (1, 1)
    assert not any(getattr(l, "use_bias", False) for l in model.layers if l.name.endswith("_conv"))
