"""bench/inference_profile.py: the TF profile it reads, its former-choice contender and its table."""

from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

from test_bench_throughput import load

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="profiles TensorFlow")


def test_op_times_come_from_a_real_profile(tmp_path):
    profile = load("inference_profile")
    x = tf.constant(np.ones((64, 64), "float32"))
    step = tf.function(lambda t: tf.nn.relu(tf.matmul(t, t)))
    step(x)
    tf.profiler.experimental.start(str(tmp_path))
    for _ in range(2):
        step(x).numpy()
    tf.profiler.experimental.stop()
    (xspace,) = tmp_path.glob("**/*.xplane.pb")
    ms, calls = profile.tf_op_times(str(xspace), steps=2)
    matmuls = [name for name in ms if "MatMul" in name]
    assert len(matmuls) == 1 and calls[matmuls[0]] == 1 and ms[matmuls[0]] > 0
    assert "Process" not in ms  # the whole step is not an op


def _op_types_after_an_addition(layer):
    layer.build((None, 4, 4, 3))
    graph = tf.function(lambda t: layer(t + 1.0, training=False)).get_concrete_function(
        tf.TensorSpec((2, 4, 4, 3))).graph
    return {op.type for op in graph.get_operations()}


def test_the_former_choices_run_their_own_form_after_an_addition():
    profile = load("inference_profile")
    from keras_resnetv2.models import batchnorm

    fused = _op_types_after_an_addition(profile.form_class("fused_kernel")(name="bn"))
    formula = _op_types_after_an_addition(profile.form_class("keras_formula")(name="bn"))
    assert "FusedBatchNormV3" in fused and "DepthwiseConv2dNative" not in fused
    assert not {"FusedBatchNormV3", "DepthwiseConv2dNative"} & formula and "Mul" in formula
    with mock.patch("keras_resnetv2.models.batchnorm.depthwise_form_fuses", lambda tf: True):
        ours = _op_types_after_an_addition(batchnorm.BatchNormalization(name="bn"))
        assert not {"FusedBatchNormV3", "DepthwiseConv2dNative"} & _op_types_after_an_addition(
            profile.form_class("keras_formula")(name="bn"))  # the former choice even where ours is depthwise
    assert "DepthwiseConv2dNative" in ours and "FusedBatchNormV3" not in ours
    with mock.patch("keras_resnetv2.models.batchnorm.depthwise_form_fuses", lambda tf: False):
        assert "DepthwiseConv2dNative" not in _op_types_after_an_addition(batchnorm.BatchNormalization(name="bn"))
        # the layer table's depthwise form stays one without oneDNN, for the comparison there
        assert "DepthwiseConv2dNative" in _op_types_after_an_addition(profile.form_class("depthwise")(name="bn"))


def test_the_layer_alone_is_timed_in_each_form():
    profile = load("inference_profile")
    times = profile.layer_times(["2x4x4x3"], repeats=2, runs=2)
    assert set(times["2x4x4x3"]) == set(profile.LAYER_FORMS) and all(v > 0 for v in times["2x4x4x3"].values())


def test_report_gives_per_round_ratios_and_the_layer_table():
    profile = load("inference_profile")
    args = profile.argparse.Namespace(batch_size=128, rounds=3, steps=3)

    def result(img_s, op):
        return {"img_s": img_s, "cpu_busy": 0.9, "ms_per_step": {op: 10.0, "small": 1.0},
                "calls_per_step": {op: 4, "small": 1}}

    results = {"ResNet20V2": {"ours": result([900, 1200, 1000], "Conv"),
                              "ours_fused_everywhere": result([800, 1000, 1100], "Conv"),
                              "torch": result([1000, 1000, 2000], "aten::conv")}}
    layer = {"128x8x8x256": {"fused_kernel": 2.0, "keras_formula": 1.0, "depthwise": 0.5}}
    text = profile.report(results, layer, args, {"other_processes": 0.004, "steal": 0.153})
    assert ("**During the run other processes used 0.4% of the CPUs' time and the hypervisor took 15.3% (steal): "
            "these numbers measure the sharing.**") in text
    quiet = profile.report(results, layer, args, {"other_processes": 0.004, "steal": 0.032})
    assert "\nDuring the run other processes used 0.4% of the CPUs' time and the hypervisor took 3.2% (steal).\n" in quiet
    # Only the references present get a column: no ours_keras_formula here.
    assert "| contender | img/s | / torch | / ours_fused_everywhere | CPUs busy |" in text
    # Ratios are medians of per-round ratios (0.9, 1.2, 0.5 and 1.125, 1.2, 0.909), not of medians.
    assert "| ours | 1,000.0 (900-1,200) | 0.90 | 1.12 | 90% | Conv 10.0 (4); small 1.0 (1) |" in text
    assert "| torch | 1,000.0 (1,000-2,000) | 1.00 | 1.25 |" in text  # 1.25, 1.0, 1.82
    assert "| 128x8x8x256 | 2.00 | 1.00 | 0.50 | 2.00 | 4.00 |" in text


def test_bad_counts_are_refused_by_name(capsys):
    profile = load("inference_profile")
    with pytest.raises(SystemExit):
        profile.main(["--steps", "0"])
    assert "--steps must be at least 1; received 0" in capsys.readouterr().err


@pytest.mark.parametrize("shape", ["128x3y", "128x32x32", "0x8x8x4"])
def test_a_bad_layer_shape_is_refused_before_any_timing(capsys, shape):
    profile = load("inference_profile")
    with pytest.raises(SystemExit):
        profile.main(["--models", "--layer_shapes", shape])
    err = capsys.readouterr().err
    assert "--layer_shapes" in err and f"must be NxHxWxC, four positive integers (e.g. 128x32x32x16); received {shape!r}" in err
