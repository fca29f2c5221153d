"""Shared helpers of the model tests: tiny specs, single-unit models, comparisons.

Also the tests' own fence around two private Keras APIs (checked by tests/test_compat.py):
`keras.src.legacy.saving.legacy_h5_format`, which writes the Keras 2 `.h5` format of
keras.applications' hosted ImageNet files (`write_legacy_h5`), and
`keras.src.applications.resnet`, whose hash table and URL ours must equal
(`keras_applications_resnet`).
"""

import h5py
import keras
import numpy as np

from keras_resnetv2 import ResNetSpec
from keras_resnetv2.models.units import residual_unit


def write_legacy_h5(model, path):
    """Writes `model`'s weights in the format of the hosted ImageNet files (Keras 2 `save_weights` to .h5)."""
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, model)


def keras_applications_resnet():
    """keras.applications' private `resnet` module (its `WEIGHTS_HASHES`, `BASE_WEIGHTS_PATH`)."""
    from keras.src.applications import resnet

    return resnet


def tiny_spec(block="basic", **overrides):
    """A two-stage net small enough to build and train in a fraction of a second."""
    fields = dict(block=block, stage_units=(1, 1), stage_widths=(2, 4), stem_width=4)
    fields.update(overrides)
    return ResNetSpec(**fields)


def unit_model(spec, *, channels, units=1, size=6, width=None):
    """A model of `units` shape-keeping units of `spec` on a `size`x`size`x`channels` input."""
    width = width or channels // spec.expansion
    inputs = keras.Input((size, size, channels))
    x = inputs
    for i in range(units):
        x = residual_unit(x, spec, width=width, stride=1, name=f"u{i}")
    return keras.Model(inputs, x)


def randomize(model, seed=0):
    """Random values in every variable, BN moving statistics included (variance > 0).

    Kernels get a fan-in-scaled std (1/sqrt(fan_in)), so that activations stay finite
    through a deep net: outputs that overflow compare nothing."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        std = 1.0 / np.sqrt(np.prod(w.shape[:-1])) if len(w.shape) >= 2 else 0.5  # kernels; vectors
        values = rng.normal(0.0, std, w.shape)
        if "moving_variance" in w.path or "gamma" in w.path:
            values = rng.uniform(0.5, 1.5, w.shape)
        w.assign(values.astype("float32"))


def images(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# Closed-form sizes of the paper's nets, counted from the papers' descriptions (never from
# the builders): the independent side of the parameter, FLOP and zoo-manifest checks.

def conv(k, cin, cout):
    return k * k * cin * cout


def bn(channels):
    return 2 * channels  # gamma and beta; the moving statistics are not trained


def basic_v1_trainable(n, widths=(16, 32, 64), channels=3, classes=10):
    """Trainable parameters of He 2015's 6n+2 CIFAR net, counted from its description
    (Sec. 4.2 of arXiv:1512.03385): a 3x3 conv of 16 filters with BN, three stages of n
    units of two 3x3 conv-BN, parameter-free option-A shortcuts, a Dense classifier."""
    total = conv(3, channels, widths[0]) + bn(widths[0])
    previous = widths[0]
    for width in widths:
        for unit in range(n):
            total += conv(3, previous if unit == 0 else width, width) + conv(3, width, width) + 2 * bn(width)
        previous = width
    return total + widths[-1] * classes + classes


def bottleneck_v2_trainable(n, widths=(16, 32, 64), channels=3, classes=10):
    """Trainable parameters of the 9n+2 pre-activation bottleneck net (resnet-pre-act.lua):
    a bare 3x3 stem conv of 16 filters; units BN-ReLU-1x1 (w), BN-ReLU-3x3 (w), BN-ReLU-1x1
    (4w) with a 1x1 projection where the unit widens; a final BN before the classifier."""
    total = conv(3, channels, widths[0])
    previous = widths[0]
    for width in widths:
        for unit in range(n):
            cin = previous if unit == 0 else 4 * width
            total += bn(cin) + conv(1, cin, width) + bn(width) + conv(3, width, width) + bn(width)
            total += conv(1, width, 4 * width) + (conv(1, cin, 4 * width) if unit == 0 else 0)
        previous = 4 * width
    return total + bn(previous) + previous * classes + classes


def bottleneck_v1_trainable(n, widths=(16, 32, 64), channels=3, classes=10):
    """Trainable parameters of the 9n+2 net with He 2015's original bottleneck unit, as the
    paper's Table 3 ResNet-164 (resnet-pre-act.lua's layout): a 3x3 stem conv of 16 filters
    with BN; units 1x1 (w), 3x3 (w), 1x1 (4w), each followed by BN; a 1x1 projection with
    BN where the unit widens; a Dense classifier."""
    total = conv(3, channels, widths[0]) + bn(widths[0])
    previous = widths[0]
    for width in widths:
        for unit in range(n):
            cin = previous if unit == 0 else 4 * width
            total += conv(1, cin, width) + conv(3, width, width) + conv(1, width, 4 * width)
            total += 2 * bn(width) + bn(4 * width) + ((conv(1, cin, 4 * width) + bn(4 * width)) if unit == 0 else 0)
        previous = 4 * width
    return total + previous * classes + classes


def bottleneck_bn_parameters(n, *, preactivation, widths=(16, 32, 64)):
    """BatchNorm gammas and betas of the 9n+2 bottleneck nets (`bn` per BN layer): the
    original unit normalizes each conv's output, the projection's too, and the stem's;
    the pre-activation unit normalizes each conv's input, and a final BN closes the net."""
    total, previous = (0 if preactivation else bn(widths[0])), widths[0]
    for width in widths:
        for unit in range(n):
            cin = previous if unit == 0 else 4 * width
            if preactivation:
                total += bn(cin) + 2 * bn(width)
            else:
                total += 2 * bn(width) + bn(4 * width) + (bn(4 * width) if unit == 0 else 0)
        previous = 4 * width
    return total + (bn(previous) if preactivation else 0)


def bottleneck_cifar_macs(n, *, size=32, channels=3, widths=(16, 32, 64), classes=10):
    """Multiply-adds of the 9n+2 bottleneck nets (either unit) at `size`: the stem's 3x3
    conv, then units 1x1 (w), 3x3 (w), 1x1 (4w), the first unit of stages 2 and 3
    striding in its first 1x1 (resnet-pre-act.lua), so every conv of a unit runs at the
    stage's resolution; a 1x1 projection in each stage's first unit; the Dense."""
    macs = size * size * 9 * channels * widths[0] + 4 * widths[-1] * classes
    previous = widths[0]
    for stage, width in enumerate(widths):
        side = size // 2**stage
        for unit in range(n):
            cin = previous if unit == 0 else 4 * width
            macs += side * side * (cin * width + 9 * width * width + 4 * width * width)
            macs += side * side * cin * 4 * width if unit == 0 else 0
        previous = 4 * width
    return macs


def basic_v1_bn_parameters(n, widths=(16, 32, 64)):
    """BatchNorm gammas and betas of the 6n+2 net (the pre-activation twin has as many:
    it moves the stem's BN to the end and shares the widening units' pre-activation)."""
    return bn(widths[0]) + sum(2 * n * bn(width) for width in widths)


def basic_cifar_macs(n, *, size=32, channels=3, widths=(16, 32, 64), classes=10):
    """Multiply-adds of the 6n+2 net (either unit: the same convolutions) at `size`:
    the stem, then per stage n units of two 3x3 convs, the first of stages 2 and 3 at
    stride 2 reading the previous width; option-A shortcuts have none; the Dense."""
    macs = size * size * 9 * channels * widths[0] + widths[-1] * classes
    previous = widths[0]
    for stage, width in enumerate(widths):
        side = size // 2**stage
        macs += side * side * 9 * width * (previous + (2 * n - 1) * width)
        previous = width
    return macs


def resnet50_macs(units=(3, 4, 6, 3), widths=(64, 128, 256, 512), classes=1000):
    """Multiply-adds of He 2015's ResNet-50 at 224x224, counted from its description: a
    7x7/2 conv of 64 filters (112x112), a 3x3/2 max pool (56x56), then bottleneck units
    1x1 (w), 3x3 (w), 1x1 (4w) at 56, 28, 14, 7 pixels, a 1x1 projection in each stage's
    first unit, and a Dense classifier on 2048 features."""
    macs = 112 * 112 * 7 * 7 * 3 * 64
    previous = 64
    for stage, (count, width) in enumerate(zip(units, widths)):
        size = 56 // 2**stage
        for unit in range(count):
            cin = previous if unit == 0 else 4 * width
            macs += size * size * (cin * width + 9 * width * width + width * 4 * width)
            macs += size * size * cin * 4 * width if unit == 0 else 0
        previous = 4 * width
    return macs + 2048 * classes
