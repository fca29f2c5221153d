"""bench/inference_profile.py: the TF profile it reads, its former-choice contender and its table."""

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


def test_the_former_choice_runs_the_kernel_after_an_addition_too():
    profile = load("inference_profile")
    from keras_resnetv2.models import batchnorm

    layer = profile.fused_everywhere_class()(name="bn")
    layer.build((None, 4, 4, 3))
    graph = tf.function(lambda t: layer(t + 1.0, training=False)).get_concrete_function(
        tf.TensorSpec((2, 4, 4, 3))).graph
    assert "FusedBatchNormV3" in {op.type for op in graph.get_operations()}
    ours = batchnorm.BatchNormalization(name="bn")
    ours.build((None, 4, 4, 3))
    graph = tf.function(lambda t: ours(t + 1.0, training=False)).get_concrete_function(
        tf.TensorSpec((2, 4, 4, 3))).graph
    assert "FusedBatchNormV3" not in {op.type for op in graph.get_operations()}


def test_report_gives_per_round_ratios_and_the_layer_table():
    profile = load("inference_profile")
    args = profile.argparse.Namespace(batch_size=128, rounds=3, steps=3)

    def result(img_s, op):
        return {"img_s": img_s, "cpu_busy": 0.9, "ms_per_step": {op: 10.0, "small": 1.0},
                "calls_per_step": {op: 4, "small": 1}}

    results = {"ResNet20V2": {"ours": result([900, 1200, 1000], "Conv"),
                              "ours_fused_everywhere": result([800, 1000, 1100], "Conv"),
                              "torch": result([1000, 1000, 2000], "aten::conv")}}
    text = profile.report(results, {"128x8x8x256": {"fused_kernel": 2.0, "keras_formula": 1.0}}, args)
    # Ratios are medians of per-round ratios (0.9, 1.2, 0.5 and 1.125, 1.2, 0.909), not of medians.
    assert "| ours | 1,000.0 (900-1,200) | 0.90 | 1.12 | 90% | Conv 10.0 (4); small 1.0 (1) |" in text
    assert "| torch | 1,000.0 (1,000-2,000) | 1.00 | 1.25 |" in text  # 1.25, 1.0, 1.82
    assert "| 128x8x8x256 | 2.00 | 1.00 | 2.00 |" in text


def test_bad_counts_are_refused_by_name(capsys):
    profile = load("inference_profile")
    with pytest.raises(SystemExit):
        profile.main(["--steps", "0"])
    assert "--steps must be at least 1; received 0" in capsys.readouterr().err
