"""FusedBatchNormalization computes what Keras' BatchNormalization computes, faster."""

from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_resnetv2
from keras_resnetv2 import training
from keras_resnetv2._compat.tensorflow import executed_ops
from keras_resnetv2.models import batchnorm
from keras_resnetv2.models.batchnorm import with_fused_batch_norm
from keras_resnetv2.models.batchnorm import BatchNormalization as FusedBatchNormalization
from conftest import TINY_SPEC_OPTIONS

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's fused kernel")


def _pair(channels=5, momentum=0.9, input_shape=(None, 4, 4)):
    rng = np.random.default_rng(0)
    keras_bn = keras.layers.BatchNormalization(momentum=momentum, name="bn")
    fused_bn = FusedBatchNormalization(momentum=momentum, name="bn")
    for layer in (keras_bn, fused_bn):
        layer.build((*input_shape, channels))
    weights = [rng.normal(size=channels).astype("float32") for _ in range(2)]
    weights += [rng.normal(size=channels).astype("float32"), rng.uniform(0.5, 2, channels).astype("float32")]
    keras_bn.set_weights(weights)
    fused_bn.set_weights(weights)
    return keras_bn, fused_bn


def test_training_outputs_gradients_and_moving_statistics_match_keras():
    keras_bn, fused_bn = _pair()
    start_mean, start_variance = (w.numpy().copy() for w in fused_bn.non_trainable_weights)
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(3.0, 2.0, (8, 4, 4, 5)).astype("float32"))
    upstream = tf.constant(rng.normal(size=(8, 4, 4, 5)).astype("float32"))  # dLoss/dy, not uniform
    results = []
    for layer in (keras_bn, fused_bn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * upstream)
        grads = tape.gradient(loss, [x, layer.gamma.value, layer.beta.value])
        results.append((y.numpy(), [g.numpy() for g in grads], [w.numpy() for w in layer.non_trainable_weights]))
    (y_keras, g_keras, stats_keras), (y_fused, g_fused, stats_fused) = results
    np.testing.assert_allclose(y_fused, y_keras, atol=1e-5)
    for got, expected in zip(g_fused, g_keras):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    # Moving mean and the (biased) moving variance, as Keras updates them.
    for got, expected in zip(stats_fused, stats_keras):
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    # ... which is the momentum update with the batch's own (biased) statistics, from NumPy.
    batch = x.numpy().reshape(-1, 5).astype(np.float64)
    np.testing.assert_allclose(stats_fused[0], 0.9 * start_mean + 0.1 * batch.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(stats_fused[1], 0.9 * start_variance + 0.1 * batch.var(axis=0), rtol=1e-5)


def _op_types(fn, *args):
    return {op.type for op in tf.function(fn).get_concrete_function(*args).graph.get_operations()}


@pytest.mark.parametrize("fuses", [True, False], ids=["onednn_cpu", "elsewhere"])
def test_inference_folds_after_a_convolution_else_scales_and_shifts_and_computes_keras_function(fuses):
    keras_bn, fused_bn = _pair(channels=3)
    rng = np.random.default_rng(2)
    for layer in (keras_bn, fused_bn):  # statistics away from their start, the same in both
        layer.moving_mean.assign([0.5, -1.0, 2.0])
        layer.moving_variance.assign([0.25, 4.0, 1.5])
    x = rng.normal(size=(2, 4, 4, 3)).astype("float32")
    kernel = tf.constant(rng.normal(size=(1, 1, 3, 3)).astype("float32"))

    def after_conv(layer, training=False):
        return layer(tf.nn.conv2d(x, kernel, 1, "SAME"), training=training)

    def after_add(layer, training=False):
        return layer(tf.constant(x) + 1.0, training=training)

    with mock.patch("keras_resnetv2.models.batchnorm.depthwise_form_fuses", lambda tf: fuses):
        for producer in (after_conv, after_add):
            expected = producer(keras_bn)
            ops = _op_types(producer, fused_bn)
            # The kernel where the remapper folds it into the convolution. After an addition, with
            # oneDNN on a CPU, a 1x1 depthwise convolution and a bias (fused with a ReLU into one
            # pass); elsewhere Keras' element-wise formula.
            if producer is after_conv:
                assert "FusedBatchNormV3" in ops and "DepthwiseConv2dNative" not in ops
            else:
                assert "FusedBatchNormV3" not in ops
                assert ("DepthwiseConv2dNative" in ops) is fuses and ("BiasAdd" in ops) is fuses
            traced = tf.function(producer)(fused_bn)
            fused_bn.trainable = False  # a frozen layer normalizes with its moving statistics, as Keras'
            frozen = tf.function(producer)(fused_bn, training=True)
            fused_bn.trainable = True
            np.testing.assert_allclose(traced, expected, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(frozen, expected, rtol=1e-6, atol=1e-6)
        eager = fused_bn(x, training=False)  # no graph: no producer op to fold into
    np.testing.assert_allclose(eager, keras_bn(x, training=False), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fuses", [True, False], ids=["depthwise", "formula"])
def test_inference_forms_give_keras_gradients(fuses):
    """Fine-tuning calls a net with training=False under a GradientTape: input, gamma and beta
    gradients through either inference form equal those through Keras' layer."""
    keras_bn, fused_bn = _pair(channels=3)
    x = tf.constant(np.random.default_rng(4).normal(size=(2, 4, 4, 3)).astype("float32"))
    weights = tf.constant(np.random.default_rng(5).normal(size=(2, 4, 4, 3)).astype("float32"))

    @tf.function
    def gradients(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.nn.relu(layer(x + 1.0, training=False)) * weights)
        return tape.gradient(loss, [x, layer.gamma, layer.beta])

    with mock.patch("keras_resnetv2.models.batchnorm.depthwise_form_fuses", lambda tf: fuses):
        ours = gradients(fused_bn)
    for got, expected in zip(ours, gradients(keras_bn)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_the_depthwise_form_is_for_onednn_on_cpus_in_float32_and_bfloat16():
    with mock.patch("keras_resnetv2.models.batchnorm.onednn_enabled", lambda: False):
        assert not batchnorm.depthwise_form_fuses(tf)
    with mock.patch("keras_resnetv2.models.batchnorm.onednn_enabled", lambda: True):
        with mock.patch.object(tf.config, "list_logical_devices", lambda *a: [_Device("CPU")]):
            assert batchnorm.depthwise_form_fuses(tf)
        for accelerator in ("GPU", "TPU"):
            with mock.patch.object(tf.config, "list_logical_devices", lambda *a: [_Device("CPU"), _Device(accelerator)]):
                assert not batchnorm.depthwise_form_fuses(tf), accelerator
    for policy, depthwise in (("mixed_bfloat16", True), ("mixed_float16", False)):  # float16 convs: slow on CPUs
        layer = FusedBatchNormalization(dtype=policy)
        layer.build((None, 4, 4, 3))
        spec = tf.TensorSpec((2, 4, 4, 3), layer.compute_dtype)
        with mock.patch("keras_resnetv2.models.batchnorm.depthwise_form_fuses", lambda tf: True):
            ops = _op_types(lambda t: layer(t + 1.0, training=False), spec)
        assert ("DepthwiseConv2dNative" in ops) is depthwise, policy


class _Device:
    def __init__(self, device_type):
        self.device_type = device_type


@pytest.mark.skipif(not batchnorm.depthwise_form_fuses(tf), reason="oneDNN on a CPU-only machine")
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_the_depthwise_form_fuses_with_its_relu_into_one_onednn_op(tmp_path, policy):
    """What the depthwise form is for: the graph optimizer's rewrite, in the ops that ran."""
    fused_bn = FusedBatchNormalization(dtype=policy)
    fused_bn.build((None, 4, 4, 3))
    step = tf.function(lambda t: tf.nn.relu(fused_bn(t + 1.0, training=False)))
    x = tf.constant(np.ones((2, 4, 4, 3)), fused_bn.compute_dtype)
    step(x)
    ran = _executed_op_types(step, x, tmp_path)
    # e.g. `_MklNativeFusedDepthwiseConv2dNative` (TF 2.21): the conv, its bias and the ReLU in one op
    fused = [op for op in ran if "FusedDepthwiseConv2dNative" in op]
    assert len(fused) == 1 and not {"DepthwiseConv2dNative", "BiasAdd", "Relu"} & set(ran), ran


def _executed_op_types(step, x, logdir):
    """The types of the ops one run of `step` executed, after the graph optimizer's rewrites."""
    tf.profiler.experimental.start(str(logdir))
    step(x).numpy()
    tf.profiler.experimental.stop()
    (path,) = logdir.glob("**/*.xplane.pb")
    return [op_type for _, op_type, _ in executed_ops(str(path))]


def test_unfusable_inputs_take_keras_path():
    x = np.random.default_rng(2).normal(size=(2, 4, 4, 3)).astype("float32")
    keras_1d, fused_1d = _pair(channels=3, input_shape=(None, 7))
    sequence = np.random.default_rng(3).normal(size=(2, 7, 3)).astype("float32")  # 3D: no NHWC kernel
    assert not fused_1d._fusable(tf.constant(sequence), None)
    np.testing.assert_array_equal(fused_1d(sequence, training=True), keras_1d(sequence, training=True))
    np.testing.assert_array_equal(fused_1d(sequence, training=False), keras_1d(sequence, training=False))
    synchronized = FusedBatchNormalization(synchronized=True)
    synchronized.build(x.shape)
    assert not synchronized._fusable(tf.constant(x), None)
    _, fused_bn = _pair(channels=3)
    assert not fused_bn._fusable(tf.constant(x), tf.ones((2, 4, 4)))  # a mask
    assert fused_bn._fusable(tf.constant(x), None)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_takes_the_fused_kernel_with_float32_statistics(policy):
    keras.config.set_dtype_policy(policy)
    try:
        keras_bn, fused_bn = _pair()
    finally:
        keras.config.set_dtype_policy("float32")
    x = tf.cast(np.random.default_rng(5).normal(1.0, 2.0, (8, 4, 4, 5)), fused_bn.compute_dtype)
    assert fused_bn._fusable(x, None) and fused_bn.moving_mean.dtype == "float32"
    y_keras, y_fused = keras_bn(x, training=True), fused_bn(x, training=True)
    assert y_fused.dtype == y_keras.dtype == fused_bn.compute_dtype
    np.testing.assert_allclose(tf.cast(y_fused, "float32"), tf.cast(y_keras, "float32"), atol=0.05)
    for got, expected in zip(fused_bn.non_trainable_weights, keras_bn.non_trainable_weights):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5)
    y_keras, y_fused = keras_bn(x, training=False), fused_bn(x, training=False)
    assert y_fused.dtype == y_keras.dtype == fused_bn.compute_dtype
    np.testing.assert_allclose(tf.cast(y_fused, "float32"), tf.cast(y_keras, "float32"), atol=0.05)


def test_a_fused_clone_trains_like_the_plain_model_and_its_weights_load_back(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras_resnetv2.ResNet20V2(weights=None, input_shape=(16, 16, 1), stage_widths=(4, 8, 16), stem_width=4,
                                      fused_batchnorm=False)
    fused = with_fused_batch_norm(model)
    assert sum(isinstance(layer, FusedBatchNormalization) for layer in fused.layers) == 19
    assert [w.path for w in fused.weights] == [w.path for w in model.weights]
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(16, 16, 16, 1)).astype("float32"), rng.integers(0, 10, 16)
    # Two SGD steps: round-off differences stay at float32 noise (more steps of a random-label
    # fit amplify them chaotically).
    for net in (model, fused):
        net.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
        for _ in range(2):
            net.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), fused.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    # Weights files written by either load into the other (Keras keys them by class name).
    fused.save_weights(tmp_path / "fused.weights.h5")
    model.load_weights(tmp_path / "fused.weights.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), fused.predict(x, verbose=0), atol=1e-6)
    model.save_weights(tmp_path / "plain.weights.h5")
    with_fused_batch_norm(keras.models.clone_model(model)).load_weights(tmp_path / "plain.weights.h5")
    # Saved as Keras' own layer, which is what it deserializes to.
    config = keras.saving.serialize_keras_object(fused.get_layer("post_bn"))
    assert (config["module"], config["class_name"], config["registered_name"]) == (
        "keras.layers", "BatchNormalization", None)
    assert type(keras.saving.deserialize_keras_object(config)) is keras.layers.BatchNormalization


def test_train_builds_fused_bn_on_one_replica_and_synchronized_bn_on_several():
    info = keras_resnetv2.data.get_info("fashion_mnist")
    config = training.TrainConfig(spec_options=TINY_SPEC_OPTIONS).resolved()
    bns = lambda model: [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]  # noqa: E731
    one = bns(training.build_model(config, info))
    assert one and all(isinstance(layer, FusedBatchNormalization) and not layer.synchronized for layer in one)
    several = bns(training.build_model(config, info, replicas=2))
    assert all(type(layer) is keras.layers.BatchNormalization and layer.synchronized for layer in several)
    plain = training.TrainConfig(spec_options=TINY_SPEC_OPTIONS, fused_batchnorm=False).resolved()
    assert all(type(layer) is keras.layers.BatchNormalization for layer in bns(training.build_model(plain, info)))
    with pytest.raises(ValueError, match=r"fused_batchnorm.*Received: fused_batchnorm='yes'"):
        training.TrainConfig(fused_batchnorm="yes")
