"""The paper's nets have the paper's sizes (golden counts of trainable parameters).

The paper counts trainable parameters, as Torch does; `count_params()` also counts
BatchNorm's moving statistics.
"""

import numpy as np
import pytest

import keras_resnetv2
from keras_resnetv2.models.builder import total_stride


def trainable_parameters(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# (builder, exact trainable count, the paper's figure in millions, its rounding)
GOLDEN = [
    ("ResNet20", 269_722, 0.27, 2),
    ("ResNet32", 464_154, 0.46, 2),
    ("ResNet44", 658_586, 0.66, 2),
    ("ResNet56", 853_018, 0.85, 2),
    ("ResNet110", 1_727_962, 1.7, 1),
    ("ResNet1202", 19_421_274, 19.4, 1),
    ("ResNet164V2", 1_703_258, 1.70, 2),
    ("ResNet1001V2", 10_327_706, None, None),
]


@pytest.mark.parametrize("name,count,paper,digits", GOLDEN)
def test_parameter_count(name, count, paper, digits):
    model = keras_resnetv2.build(name)
    assert trainable_parameters(model) == count
    if paper is not None:
        assert round(count / 1e6, digits) == paper


def test_resnet1001v2_is_within_1_5_percent_of_the_papers_10_2m():
    assert abs(10_327_706 / 10.2e6 - 1) < 0.015  # the golden count above, against Table 3


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
