"""Shared helpers of the model tests: tiny specs, single-unit models, comparisons."""

import keras
import numpy as np

from keras_resnetv2 import ResNetSpec
from keras_resnetv2.models.units import residual_unit


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
    """Random values in every variable, BN moving statistics included (variance > 0)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        values = rng.normal(0.0, 0.5, w.shape)
        if "moving_variance" in w.path or "gamma" in w.path:
            values = rng.uniform(0.5, 1.5, w.shape)
        w.assign(values.astype("float32"))


def images(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")
