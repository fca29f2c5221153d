"""The residual unit does what the paper says, checked by what it computes.

Each reference below is written from the paper's figures (Fig. 2 shortcuts, Fig. 4
orders) with NumPy and `keras.ops.conv` on the unit's own weights, independently of
the unit's wiring, and compared with the unit's output.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import images, randomize, unit_model

from keras_resnetv2 import ResNetSpec
from keras_resnetv2.models.units import residual_unit

CHANNELS = 4


def spec_of(order="full_preactivation", shortcut="identity", block="basic", **fields):
    return ResNetSpec(
        block=block, stage_units=(1,), stage_widths=(CHANNELS,), order=order, shortcut=shortcut, **fields
    )


def conv(model, name, x, strides=1):
    """Conv with symmetric explicit padding (the spec's `explicit_padding=True`)."""
    layer = model.get_layer(f"{name}_conv")
    kernel = layer.kernel.numpy()
    pad = kernel.shape[0] // 2
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    y = keras.ops.convert_to_numpy(keras.ops.conv(x, kernel, strides=strides, padding="valid"))
    return y + layer.bias.numpy() if layer.use_bias else y


def bn(model, name, x):
    layer = model.get_layer(f"{name}_bn")
    gamma, beta, mean, variance = (w.numpy() for w in layer.weights)
    return gamma * (x - mean) / np.sqrt(variance + layer.epsilon) + beta


def relu(x):
    return np.maximum(x, 0.0)


# Fig. 4 of arXiv:1603.05027, written out for the basic unit with an identity shortcut.
REFERENCES = {
    "original": lambda m, x: relu(x + bn(m, "u0_2", conv(m, "u0_2", relu(bn(m, "u0_1", conv(m, "u0_1", x)))))),
    "bn_after_addition": lambda m, x: relu(bn(m, "u0_add", x + conv(m, "u0_2", relu(bn(m, "u0_1", conv(m, "u0_1", x)))))),
    "relu_before_addition": lambda m, x: x + relu(bn(m, "u0_2", conv(m, "u0_2", relu(bn(m, "u0_1", conv(m, "u0_1", x)))))),
    "relu_only_preactivation": lambda m, x: x + bn(m, "u0_2", conv(m, "u0_2", relu(bn(m, "u0_1", conv(m, "u0_1", relu(x)))))),
    "full_preactivation": lambda m, x: x + conv(m, "u0_2", relu(bn(m, "u0_1", conv(m, "u0_1", relu(bn(m, "u0_preact", x)))))),
}


def run(model, x, training=False):
    return keras.ops.convert_to_numpy(model(x, training=training))


@pytest.mark.parametrize("order", sorted(REFERENCES))
def test_each_order_computes_its_figure(order):
    model = unit_model(spec_of(order), channels=CHANNELS)
    randomize(model)
    x = images((2, 6, 6, CHANNELS))
    np.testing.assert_allclose(run(model, x), REFERENCES[order](model, x), rtol=1e-4, atol=1e-4)


def test_full_preactivation_bottleneck_computes_its_figure():
    spec = spec_of("full_preactivation", block="bottleneck")
    model = unit_model(spec, channels=4 * CHANNELS, width=CHANNELS)
    randomize(model)
    x = images((2, 6, 6, 4 * CHANNELS))
    a1 = relu(bn(model, "u0_preact", x))
    a2 = relu(bn(model, "u0_1", conv(model, "u0_1", a1)))
    a3 = relu(bn(model, "u0_2", conv(model, "u0_2", a2)))
    np.testing.assert_allclose(run(model, x), x + conv(model, "u0_3", a3), rtol=1e-4, atol=1e-4)


def test_dimension_changing_unit_shares_its_preactivation():
    """resnet-pre-act.lua: "common BN, ReLU" feeds both the branch and the projection."""
    spec = ResNetSpec(block="basic", stage_units=(1,), stage_widths=(8,))
    inputs = keras.Input((6, 6, CHANNELS))
    model = keras.Model(inputs, residual_unit(inputs, spec, width=8, stride=2, name="u0"))
    randomize(model)
    x = images((2, 6, 6, CHANNELS))
    shared = relu(bn(model, "u0_preact", x))
    branch = conv(model, "u0_2", relu(bn(model, "u0_1", conv(model, "u0_1", shared, strides=2))))
    np.testing.assert_allclose(run(model, x), conv(model, "u0_0", shared, strides=2) + branch, rtol=1e-4, atol=1e-4)


def test_zero_pad_shortcut_subsamples_and_appends_zero_channels():
    spec = ResNetSpec(block="basic", stage_units=(1,), stage_widths=(8,), order="original",
                      projection="zero_pad", zero_init_last=True, stem_width=CHANNELS)
    inputs = keras.Input((6, 6, CHANNELS))
    model = keras.Model(inputs, residual_unit(inputs, spec, width=8, stride=2, name="u0"))
    x = images((2, 6, 6, CHANNELS))
    expected = relu(np.concatenate([x[:, ::2, ::2, :], np.zeros((2, 3, 3, CHANNELS))], axis=-1))
    np.testing.assert_array_equal(run(model, x), expected)
    assert model.count_params() == sum(int(np.prod(w.shape)) for w in model.weights)
    assert not any("u0_0_conv" in w.path for w in model.weights)


def paired_models(shortcut, **fields):
    """(identity unit, `shortcut` unit) sharing the weights of every common layer."""
    reference = unit_model(spec_of(), channels=CHANNELS)
    randomize(reference)
    variant = unit_model(spec_of(shortcut=shortcut, **fields), channels=CHANNELS)
    for layer in reference.layers:
        if layer.weights:
            variant.get_layer(layer.name).set_weights(layer.get_weights())
    return reference, variant


@pytest.mark.parametrize("scale_branch", [False, True])
def test_constant_scaling_scales_by_exactly_lambda(scale_branch):
    reference, scaled = paired_models("constant_scaling", shortcut_scale=0.5, scale_branch=scale_branch)
    x = images((2, 6, 6, CHANNELS))
    branch = run(reference, x) - x
    expected = 0.5 * x + (0.5 if scale_branch else 1.0) * branch
    np.testing.assert_allclose(run(scaled, x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shortcut", ["exclusive_gating", "shortcut_only_gating"])
def test_gating_mixes_shortcut_and_branch_by_the_gate(shortcut):
    reference, gated = paired_models(shortcut, gate_bias=-2.0)
    gate = gated.get_layer("u0_gate")
    gate.kernel.assign(np.zeros(gate.kernel.shape, "float32"))  # g(x) = sigmoid(b_g) everywhere
    x = images((2, 6, 6, CHANNELS))
    g = 1.0 / (1.0 + np.exp(2.0))
    branch = run(reference, x) - x
    expected = (1 - g) * x + (g if shortcut == "exclusive_gating" else 1.0) * branch
    np.testing.assert_allclose(run(gated, x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("gate_bias", [None, -2.5])
def test_gate_starts_at_sigmoid_of_its_bias(gate_bias):
    model = unit_model(spec_of(shortcut="exclusive_gating", gate_bias=gate_bias), channels=CHANNELS)
    gate = keras.Model(model.input, model.get_layer("u0_gate").output)
    b = -6.0 if gate_bias is None else gate_bias
    values = run(gate, np.zeros((1, 6, 6, CHANNELS), "float32"))
    np.testing.assert_allclose(values, np.full_like(values, 1.0 / (1.0 + np.exp(-b))), rtol=1e-6)


def test_conv1x1_shortcut_projects_every_unit():
    model = unit_model(spec_of("original", shortcut="conv1x1"), channels=CHANNELS)
    randomize(model)
    x = images((2, 6, 6, CHANNELS))
    shortcut = bn(model, "u0_0", conv(model, "u0_0", x))
    branch = bn(model, "u0_2", conv(model, "u0_2", relu(bn(model, "u0_1", conv(model, "u0_1", x)))))
    np.testing.assert_allclose(run(model, x), relu(shortcut + branch), rtol=1e-4, atol=1e-4)


def test_dropout_shortcut_drops_only_in_training():
    reference, dropped = paired_models("dropout")
    x = images((4, 6, 6, CHANNELS)) + 3.0  # nonzero everywhere
    np.testing.assert_allclose(run(dropped, x), run(reference, x), rtol=1e-6)

    quiet = unit_model(spec_of(shortcut="dropout", dropout_rate=0.5, zero_init_last=True), channels=CHANNELS)
    trained = run(quiet, x, training=True)
    kept = trained != 0
    np.testing.assert_allclose(trained[kept], 2.0 * x[kept], rtol=1e-6)  # inverted dropout
    assert 0.35 < 1.0 - kept.mean() < 0.65


def gradient_through(model, x, weights):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        energy = tf.reduce_sum(model(x, training=False) * weights)
    return tape.gradient(energy, x).numpy()


def test_identity_mappings_propagate_signal_and_gradient_unchanged():
    """Eq. 4-5: with zero-initialized branches, x_L = x_l and dE/dx_l = dE/dx_L."""
    model = unit_model(spec_of(zero_init_last=True), channels=CHANNELS, units=6)
    x = images((2, 6, 6, CHANNELS))
    np.testing.assert_array_equal(run(model, x), x)
    weights = images((2, 6, 6, CHANNELS), seed=1)  # dE/dx_L for E = sum(weights * x_L)
    np.testing.assert_array_equal(gradient_through(model, x, weights), weights)


def test_constant_scaling_shrinks_signal_and_gradient_exponentially():
    """Eq. 6-7 with lambda = 0.5: x_L = 0.5^(L-l) x_l, and so does the gradient."""
    units = 6
    spec = spec_of(shortcut="constant_scaling", zero_init_last=True)
    model = unit_model(spec, channels=CHANNELS, units=units)
    x = images((2, 6, 6, CHANNELS))
    np.testing.assert_allclose(run(model, x), 0.5**units * x, rtol=1e-6)
    weights = images((2, 6, 6, CHANNELS), seed=1)
    np.testing.assert_allclose(gradient_through(model, x, weights), 0.5**units * weights, rtol=1e-6)
