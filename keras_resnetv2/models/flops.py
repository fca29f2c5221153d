"""FLOP counts of a built model, for the zoo's cards and the benchmarks' FLOP/s.

Counts the multiply-adds of the convolutions and Dense layers (2 FLOPs each, the
usual convention of papers and of fvcore/ptflops "FLOPs" x 2); batch normalization,
activations, additions and pooling are left out (under 1% of a ResNet's total).
"""

import math

import keras

from keras_resnetv2.utils.checks import fail


def count_flops(model):
    """Forward FLOPs per example of a Functional `model` with a static input size.

    A training step costs about 3x this (the forward pass, and the backward pass's
    gradients with respect to activations and to weights).
    """
    total = 0
    for layer in _leaf_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            output = layer.output.shape
            spatial = output[1:3] if layer.data_format == "channels_last" else output[2:4]
            if None in spatial:
                fail("model", "Counting FLOPs needs a static input size (no None in input_shape).", model.name)
            kernel = math.prod(layer.kernel.shape)  # kh * kw * (cin / groups) * cout
            total += 2 * kernel * math.prod(spatial)
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * math.prod(layer.kernel.shape)
    return total


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer
