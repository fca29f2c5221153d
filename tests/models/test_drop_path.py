"""Stochastic depth (`drop_path_rate`): where the drop sits, its schedule, files and flags."""

import copy
import itertools
import json
import math
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from harness import images, randomize, tiny_spec

import keras_resnetv2
from keras_resnetv2 import ORDERS, SHORTCUTS, ResNet, ResNetSpec
from keras_resnetv2.models.builder import drop_path_rates
from keras_resnetv2.models.units import residual_unit
from keras_resnetv2.training import TrainConfig


def drop_layers(model):
    return {l.name: l for l in model.layers if l.name.endswith("_drop_path")}


def other_layers(model):
    """The names of the layers a rate of 0 builds too, in order."""
    return [l.name for l in model.layers if not l.name.endswith(("_drop_path", "_0_identity"))]


def unit_with_drop_path(spec, rate):
    """One shape-keeping unit `u` of `spec` on 6x6x4 inputs, dropping its branch at `rate`."""
    inputs = keras.Input((6, 6, 4))
    outputs = residual_unit(inputs, spec, width=4 // spec.expansion, stride=1, name="u", drop_path_rate=rate)
    return keras.Model(inputs, outputs)


def branch_end(spec):
    """The layer whose output is the branch as it would enter the addition."""
    if spec.shortcut == "exclusive_gating":
        return "u_branch_gate"
    if spec.shortcut == "constant_scaling" and spec.scale_branch:
        return "u_branch_scale"
    ops = ORDERS[spec.order].branch_end
    return f"u_2_{ops[-1]}" if ops else "u_2_conv"


# --- where the drop sits -----------------------------------------------------------------


@pytest.mark.parametrize("order,shortcut", list(itertools.product(sorted(ORDERS), SHORTCUTS)))
def test_the_drop_is_the_last_op_of_the_branch_so_a_dropped_unit_is_its_shortcut(order, shortcut):
    options = {"scale_branch": True} if shortcut == "constant_scaling" else {}
    spec = tiny_spec(order=order, shortcut=shortcut, **options)
    model = unit_with_drop_path(spec, 0.5)
    add = model.get_layer("u_add" if ORDERS[order].after_addition else "u_out")
    drop = model.get_layer("u_drop_path")
    # After any scaling or gating of the branch, right before the addition.
    assert add.input[1] is drop.output
    assert drop.input is model.get_layer(branch_end(spec)).output
    assert add.input[0] is model.get_layer("u_0_identity").output  # weightless, see the next test
    assert (drop.rate, drop.noise_shape) == (0.5, (None, 1, 1, 1))

    probe = keras.Model(model.input, [drop.input, add.input[1]])
    branch, added = (keras.ops.convert_to_numpy(t) for t in probe(images((64, 6, 6, 4)), training=True))
    dropped = np.all(added == 0.0, axis=(1, 2, 3))
    # Each example keeps or drops its whole branch; a kept one is scaled by 1/keep.
    np.testing.assert_allclose(added[~dropped], branch[~dropped] / 0.5, rtol=1e-6, atol=1e-6)
    assert 0 < dropped.sum() < 64


@pytest.mark.parametrize("order,shortcut", list(itertools.product(sorted(ORDERS), SHORTCUTS)))
def test_every_other_layer_keeps_its_place(order, shortcut):
    """Keras orders layers by their distance to the output and weights files follow
    that order: the drop must not move a layer, or weights would not load across rates.
    Bottleneck units in keras' layout: projections and strided shape-keeping units."""
    spec = ResNetSpec.from_depth(11, block="bottleneck", layout="keras", order=order, shortcut=shortcut)
    spec = spec.replace(stage_units=(2, 2, 1), stage_widths=(2, 2, 4))
    today = ResNet(spec, input_shape=(16, 16, 3), classes=3)
    dropping = ResNet(spec.replace(drop_path_rate=0.3), input_shape=(16, 16, 3), classes=3)
    assert other_layers(dropping) == [l.name for l in today.layers]
    assert [w.path for w in dropping.weights] == [w.path for w in today.weights]


def test_units_that_widen_drop_their_branch_too():
    model = ResNet(tiny_spec(drop_path_rate=0.2), input_shape=(8, 8, 3), classes=3)
    assert model.get_layer("conv3_block1_0_conv")  # a projection unit
    assert model.get_layer("conv3_block1_out").input[1] is model.get_layer("conv3_block1_drop_path").output


# --- the schedule ------------------------------------------------------------------------


def test_rates_rise_linearly_from_zero_at_the_first_unit_to_the_rate_at_the_last():
    spec = tiny_spec(stage_units=(2, 3, 2), stage_widths=(2, 4, 4), drop_path_rate=0.3)
    model = ResNet(spec, input_shape=(8, 8, 3), classes=3)
    units = [f"conv{s + 2}_block{u + 1}" for s, n in enumerate(spec.stage_units) for u in range(n)]
    expected = {f"{unit}_drop_path": 0.3 * i / 6 for i, unit in enumerate(units) if i > 0}
    assert {name: layer.rate for name, layer in drop_layers(model).items()} == pytest.approx(expected)
    assert list(drop_layers(model)) == list(expected)  # in build order; no layer for the first unit
    assert drop_path_rates(spec) == pytest.approx([0.0] + list(expected.values()))
    assert drop_path_rates(tiny_spec(stage_units=(1,), stage_widths=(2,), drop_path_rate=0.3)) == [0.0]


def test_rate_zero_adds_no_layer_and_is_todays_model():
    old = tiny_spec().to_dict()
    del old["drop_path_rate"]  # a spec saved before the field existed
    today = ResNet(ResNetSpec.from_dict(old), input_shape=(8, 8, 3), classes=3)
    zero = ResNet(tiny_spec(drop_path_rate=0.0), input_shape=(8, 8, 3), classes=3)
    dropping = ResNet(tiny_spec(drop_path_rate=0.4), input_shape=(8, 8, 3), classes=3)
    assert not any(isinstance(l, keras.layers.Dropout) for l in zero.layers)
    assert [l.get_config() for l in zero.layers] == [l.get_config() for l in today.layers]
    assert other_layers(dropping) == [l.name for l in today.layers]
    assert [w.path for w in dropping.weights] == [w.path for w in today.weights]
    assert dropping.count_params() == today.count_params()

    randomize(today)
    zero.set_weights(today.get_weights())
    dropping.set_weights(today.get_weights())
    x = images((4, 8, 8, 3))
    expected = today.predict_on_batch(x)
    np.testing.assert_array_equal(zero.predict_on_batch(x), expected)
    np.testing.assert_allclose(dropping.predict_on_batch(x), expected, rtol=1e-6, atol=1e-6)


def test_inference_keeps_every_branch_and_training_drops_some():
    model = ResNet(tiny_spec(stage_units=(2, 2), drop_path_rate=0.5), input_shape=(8, 8, 3), classes=3)
    randomize(model)
    x = images((16, 8, 8, 3))
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=True))


# --- files -------------------------------------------------------------------------------


def test_weights_files_load_across_rates(tmp_path):
    source = ResNet(tiny_spec(drop_path_rate=0.3), input_shape=(8, 8, 3), classes=3)
    randomize(source)
    source.save_weights(tmp_path / "dropping.weights.h5")
    plain = ResNet(tiny_spec(), input_shape=(8, 8, 3), classes=3, weights=str(tmp_path / "dropping.weights.h5"))
    plain.save_weights(tmp_path / "plain.weights.h5")
    other = ResNet(tiny_spec(drop_path_rate=0.6), input_shape=(8, 8, 3), classes=3, weights=str(tmp_path / "plain.weights.h5"))
    x = images((2, 8, 8, 3))
    expected = source.predict_on_batch(x)
    np.testing.assert_array_equal(plain.predict_on_batch(x), expected)
    np.testing.assert_array_equal(other.predict_on_batch(x), expected)


def test_zoo_weights_load_at_any_rate():
    plain = keras_resnetv2.ResNet20V2(weights="fashion_mnist")
    dropping = keras_resnetv2.ResNet20V2(weights="fashion_mnist", drop_path_rate=0.1)
    assert len(drop_layers(dropping)) == 8
    x = images((2, 28, 28, 1))
    np.testing.assert_allclose(dropping.predict_on_batch(x), plain.predict_on_batch(x), rtol=1e-6, atol=1e-6)


RELOAD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    model = keras.models.load_model(sys.argv[1], safe_mode=True)
    np.save(sys.argv[3], model.predict_on_batch(np.load(sys.argv[2])))
    print(json.dumps({
        "modules": sorted(m for m in sys.modules if m.split(".")[0] == "keras_resnetv2"),
        "rates": {l.name: l.rate for l in model.layers if l.name.endswith("_drop_path")},
    }))
    """
)


def test_keras_file_reloads_with_plain_keras_in_a_clean_process(tmp_path):
    model = ResNet(tiny_spec(drop_path_rate=0.3), input_shape=(8, 8, 3), classes=3)
    randomize(model)
    model.save(tmp_path / "model.keras")
    x = images((3, 8, 8, 3))
    np.save(tmp_path / "x.npy", x)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [sys.executable, "-c", RELOAD, str(tmp_path / "model.keras"), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["modules"] == []
    assert report["rates"] == {"conv3_block1_drop_path": 0.3}
    # Plain Keras' BatchNorm there, the fused kernel here: equal to float32 round-off.
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict_on_batch(x), rtol=1e-5, atol=1e-6)


def test_spec_json_round_trip_and_older_json():
    spec = tiny_spec(drop_path_rate=0.2)
    assert ResNetSpec.from_json(spec.to_json()) == spec
    assert json.loads(spec.to_json())["drop_path_rate"] == 0.2
    old = json.loads(tiny_spec().to_json())
    del old["drop_path_rate"]
    assert ResNetSpec.from_dict(old).drop_path_rate == 0.0
    assert tiny_spec(drop_path_rate=0).to_json() == tiny_spec().to_json()  # an int reads as a float
    assert spec.for_inference() == tiny_spec()


# --- bad values and the entry points -----------------------------------------------------


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, math.nan, "0.1", True, None])
def test_bad_rates_are_refused_naming_the_argument(value):
    pattern = r"`drop_path_rate` must be a number in \[0, 1\)\. Received: drop_path_rate="
    with pytest.raises(ValueError, match=pattern):
        tiny_spec(drop_path_rate=value)
    with pytest.raises(ValueError, match=pattern):
        keras_resnetv2.ResNet20V2(drop_path_rate=value)
    if value is not None:  # None is TrainConfig's "the architecture's rate"
        with pytest.raises(ValueError, match=pattern):
            TrainConfig(drop_path_rate=value)


def test_train_flag_maps_to_the_spec_and_validates_at_the_door():
    from keras_resnetv2 import train

    values = copy.deepcopy(train.FLAGS)
    values(["train.py", "--model=ResNet20V2", "--depth=56", "--drop_path_rate=0.1"])
    config = train.config_from_flags(values)
    assert config.drop_path_rate == 0.1
    spec = config.architecture()
    assert (spec.depth, spec.drop_path_rate) == (56, 0.1)
    assert spec.for_inference() == keras_resnetv2.get_variant("ResNet56V2").spec()

    values = copy.deepcopy(train.FLAGS)
    values(["train.py", "--drop_path_rate=1.0"])
    with pytest.raises(ValueError, match=r"Received: drop_path_rate=1.0"):
        train.config_from_flags(values)
    with pytest.raises(ValueError, match=r"`drop_path_rate` is given twice.*Received: spec_options="):
        TrainConfig(drop_path_rate=0.1, spec_options={"drop_path_rate": 0.2})
    with pytest.raises(ValueError, match=r"cannot be combined with \['drop_path_rate'\]"):
        TrainConfig(spec=tiny_spec().to_dict(), drop_path_rate=0.1)


def test_a_keras_applications_net_keeps_keras_layer_order_at_any_rate():
    reference = keras.applications.ResNet50V2(weights=None)
    ours = keras_resnetv2.ResNet50V2(weights=None, drop_path_rate=0.2)
    assert len(drop_layers(ours)) == 15
    unnamed = ("input_layer", "max_pooling2d")  # keras leaves them unnamed; ours: `..._0_pool`
    assert [n for n in other_layers(ours) if not n.endswith("_0_pool") and not n.startswith(unnamed)] == [
        l.name for l in reference.layers if not l.name.startswith(unnamed)
    ]
    assert [w.path for w in ours.weights] == [w.path for w in reference.weights]


# --- searches and the zoo ----------------------------------------------------------------


def test_searches_leave_the_rate_alone_unless_asked():
    keras_tuner = pytest.importorskip("keras_tuner")
    from keras_resnetv2.tuning import hypermodel, space

    hp = keras_tuner.HyperParameters()
    spec, _ = space.declare(hp, space.resolve_space())
    assert "drop_path_rate" not in [h.name for h in hp.space] and spec.drop_path_rate == 0.0
    hp = keras_tuner.HyperParameters()
    spec, _ = space.declare(hp, space.resolve_space(drop_path_rate=[0.1, 0.2]))
    assert next(h for h in hp.space if h.name == "drop_path_rate").values == [0.1, 0.2]
    assert spec.drop_path_rate == 0.1
    with pytest.raises(ValueError, match=r"`drop_path_rate` values must be within \[0.0, 0.9\].*Received: drop_path_rate=1.0"):
        space.resolve_space(drop_path_rate=1.0)
    # A search from a config with a rate gives it to every trial.
    config = TrainConfig(drop_path_rate=0.1, validation_split=0.1)
    trial = hypermodel.HyperResNet(config, info=None, steps_per_epoch=1).trial_config(keras_tuner.HyperParameters())
    assert trial.drop_path_rate is None and trial.architecture().drop_path_rate == 0.1


def test_a_run_with_stochastic_depth_exports_to_the_zoo():
    from keras_resnetv2.zoo.export import check_exportable

    spec = keras_resnetv2.get_variant("ResNet20V2").spec(drop_path_rate=0.1).to_dict()
    assert check_exportable("ResNet20V2", spec, "sd", source="run", argument="run_dirs", received="run").name == "ResNet20V2"
    del spec["drop_path_rate"]  # a run saved before the field existed
    assert check_exportable("ResNet20V2", spec, "sd", source="run", argument="run_dirs", received="run").name == "ResNet20V2"
