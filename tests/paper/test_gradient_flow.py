"""The gradient-flow diagnostic measures what Eq. 4-7 of arXiv:1603.05027 predict.

With `zero_init_last=True` every residual branch ends at zero (its last BN's gamma, or
its last conv's kernel), so F = 0 and dF/dx = 0 at initialization, and only the
shortcut term is left: dE/dx_l = prod_{i=l}^{L-1} h'_i * dE/dx_L. The nets below have
one stage as wide as the stem, so no unit changes shape.
"""

import importlib.util
import json
import os

import keras
import numpy as np
import pytest
from conftest import REPO_ROOT
from harness import images

import keras_resnetv2
from keras_resnetv2 import ORDERS, SHORTCUTS, ResNet, ResNetSpec
from keras_resnetv2.paper.gradient_flow import gradient_norms, residual_units
from keras_resnetv2.models.spec import BLOCKS

UNITS = 4
BATCH = 4
SIZE = 16


def flat_spec(block="basic", **fields):
    """`UNITS` shape-keeping units with zero-initialized branches."""
    spec = ResNetSpec(block=block, stage_units=(UNITS,), stage_widths=(4,), zero_init_last=True, **fields)
    return spec.replace(stem_width=spec.output_channels)


def build(spec, **kwargs):
    return ResNet(spec, input_shape=(SIZE, SIZE, 1), classes=10, **kwargs)


def measure(model):
    return gradient_norms(model, images((BATCH, SIZE, SIZE, 1)), np.arange(BATCH))


def assert_units_scale_by(result, factor, *, to_output):
    """||dE/dx_l|| = factor * ||dE/dx_{l+1}||, and the same per example."""
    pairs = ((result.norms, result.output_norm), (result.example_norms, result.output_example_norm))
    for norms, output in pairs:
        ends = (*norms[1:], output) if to_output else norms[1:]
        np.testing.assert_allclose(norms[: len(ends)], factor * np.asarray(ends), rtol=1e-5)


@pytest.mark.parametrize(
    "order, block",
    [("full_preactivation", "basic"), ("full_preactivation", "bottleneck"),
     ("relu_only_preactivation", "basic"), ("relu_before_addition", "basic"), ("original", "basic")],
)
def test_identity_mappings_keep_the_gradient(order, block):
    """Eq. 4-5: dE/dx_l = dE/dx_L at every unit.

    With the original unit's ReLU after the addition, x_l >= 0 passes unchanged, so the
    inputs agree; the last output differs by that ReLU's mask.
    """
    model = build(flat_spec(block, order=order))
    ends_with_bn = "bn" in ORDERS[order].branch_end
    for unit in residual_units(model):  # F = 0: the branch's last BN gamma or conv kernel is zero
        last = model.get_layer(f"{unit}_{len(BLOCKS[block][0])}_{'bn' if ends_with_bn else 'conv'}")
        assert not np.any(keras.ops.convert_to_numpy(last.gamma if ends_with_bn else last.kernel))
    assert_units_scale_by(measure(model), 1.0, to_output=not ORDERS[order].after_addition)


@pytest.mark.parametrize("order", ["full_preactivation", "original"])
def test_constant_scaling_halves_the_gradient_at_every_unit(order):
    """Eq. 7 with lambda = 0.5: dE/dx_l = 0.5^(L-l) dE/dx_L."""
    result = measure(build(flat_spec(order=order, shortcut="constant_scaling", shortcut_scale=0.5)))
    assert_units_scale_by(result, 0.5, to_output=order == "full_preactivation")
    np.testing.assert_allclose(result.relative_norms, 0.5 ** np.arange(UNITS - 1, -1, -1), rtol=1e-5)


@pytest.mark.parametrize("shortcut", ["exclusive_gating", "shortcut_only_gating"])
def test_gating_scales_the_gradient_by_one_minus_the_gate(shortcut):
    """h(x) = (1 - g(x)) x, g(x) = sigmoid(W_g x + b_g) (units.py): with W_g = 0 and F = 0
    both gatings scale dE/dx by 1 - sigmoid(b_g) per unit (with W_g != 0 the gate's own
    derivative adds a term)."""
    bias = -1.0
    model = build(flat_spec(shortcut=shortcut, gate_bias=bias))
    for unit in residual_units(model):
        gate = model.get_layer(f"{unit}_gate")
        gate.kernel.assign(np.zeros(gate.kernel.shape, "float32"))
    assert_units_scale_by(measure(model), 1.0 - 1.0 / (1.0 + np.exp(-bias)), to_output=True)


def test_one_entry_per_residual_unit():
    model = keras_resnetv2.ResNet20V2(input_shape=(SIZE, SIZE, 1), classes=10)
    result = measure(model)
    assert result.units == tuple(f"conv{s}_block{i}" for s in (2, 3, 4) for i in (1, 2, 3))
    assert len(result.norms) == len(result.example_norms) == 9
    assert np.all(np.isfinite(result.norms)) and min(result.norms) > 0 and result.loss > 0
    assert json.loads(json.dumps(result.to_dict()))["units"][0] == "conv2_block1"


@pytest.mark.parametrize("i, shortcut", list(enumerate(SHORTCUTS)))
def test_every_order_shortcut_and_block(i, shortcut):
    """Two stages: an identity-shaped unit with the variant, then a projecting one."""
    orders = sorted(ORDERS)
    block = ("basic", "bottleneck")[i % 2]
    spec = ResNetSpec(block=block, stage_units=(2, 1), stage_widths=(2, 4), order=orders[i % len(orders)],
                      shortcut=shortcut)
    spec = spec.replace(stem_width=2 * spec.expansion)
    result = measure(build(spec, classifier_activation=None))
    assert result.units == ("conv2_block1", "conv2_block2", "conv3_block1")
    assert np.all(np.isfinite(result.norms)) and min(result.norms) > 0


def test_bad_inputs_raise_clear_errors():
    plain = keras.Sequential([keras.Input((SIZE, SIZE, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="no residual units"):
        measure(plain)
    with pytest.raises(ValueError, match="Functional"):
        gradient_norms("ResNet20V2", images((2, SIZE, SIZE, 1)), np.arange(2))
    model = build(flat_spec())
    with pytest.raises(ValueError, match=r"one entry per image \(4\)"):
        gradient_norms(model, images((BATCH, SIZE, SIZE, 1)), np.arange(3))


@pytest.mark.slow  # the bench script end to end
def test_bench_script_writes_its_json_and_plot(fashion_mnist_dir, tmp_path, capsys):
    path = os.path.join(REPO_ROOT, "bench", "gradient_flow.py")
    module_spec = importlib.util.spec_from_file_location("gradient_flow", path)
    bench = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(bench)
    bench.main(["--depths", "20", "--steps", "2", "--batch_size", "8", "--train_subset", "64",
                "--probe_batch", "8", "--orders", "full_preactivation", "--shortcuts", "identity",
                "constant_scaling", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "gradient_flow.json").read_text())
    assert [r["shortcut"] for r in results["records"]] == ["identity", "constant_scaling"]
    assert all(len(r[phase]["norms"]) == 9 for r in results["records"] for phase in bench.PHASES)
    assert (tmp_path / "gradient_flow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| 20 | full_preactivation | constant_scaling |" in capsys.readouterr().out
