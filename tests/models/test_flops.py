"""FLOP counts: hand-computed on small nets, the usual figures on the known ones."""

import keras
import pytest

import keras_resnetv2
from keras_resnetv2.models.flops import count_flops
from harness import resnet50_macs


def test_a_conv_and_a_dense_layer_count_two_flops_per_multiply_add():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(5, 3, strides=2, padding="same")(inputs)  # 4x4x5 outputs, 27 MACs each
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(7)(x)  # 80 x 7 MACs
    assert count_flops(keras.Model(inputs, outputs)) == 2 * (4 * 4 * 5 * 27 + 80 * 7)


def test_resnet20_counts_the_convolutions_of_its_three_stages():
    # Per stage: 6 3x3 convs of width w at size s (the first of stages 2-3 reads w/2);
    # the stem reads 3 channels; option-A shortcuts have no FLOPs; the Dense 64x10.
    macs = 32 * 32 * 9 * 3 * 16 + 10 * 64
    for width, size in ((16, 32), (32, 16), (64, 8)):
        first_input = width if width == 16 else width // 2
        macs += size * size * 9 * width * (first_input + 5 * width)
    assert count_flops(keras_resnetv2.ResNet20()) == 2 * macs
    assert macs == pytest.approx(40.6e6, rel=0.01)  # the usual "41M FLOPs" of ResNet-20


def test_resnet50_counts_its_closed_form_and_the_papers_3_8_gflops():
    assert count_flops(keras_resnetv2.ResNet50(weights=None)) == 2 * resnet50_macs()
    # arXiv:1512.03385 Table 1 gives 3.8 x 10^9 multiply-adds for ResNet-50 (rounded).
    assert resnet50_macs() == pytest.approx(3.8e9, rel=0.02)


def test_a_dynamic_input_size_is_an_error():
    with pytest.raises(ValueError, match=r"static input size.*Received: model='resnet20v2'"):
        count_flops(keras_resnetv2.ResNet20V2(include_top=False, input_shape=(None, None, 3)))
