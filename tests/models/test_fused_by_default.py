"""The builders' models run BatchNorm through TF's fused kernel on every user path, and
save as plain Keras models."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_resnetv2
from keras_resnetv2.models import batchnorm
from conftest import TINY_SPEC_OPTIONS

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's fused kernel")


def _tiny(**kwargs):
    keras.utils.set_random_seed(0)
    return keras_resnetv2.ResNet20V2(input_shape=(8, 8, 1), classes=3, **TINY_SPEC_OPTIONS, **kwargs)


def _batch_norms(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def _follows_a_bias_free_conv(model, layer):
    """Whether `layer`'s input is a Conv2D layer's output, without a bias (the op is then Conv2D)."""
    config = next(c for c in model.get_config()["layers"] if c["name"] == layer.name)
    producer = model.get_layer(config["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0])
    return isinstance(producer, keras.layers.Conv2D) and not producer.use_bias


@pytest.fixture
def fused_calls(monkeypatch):
    """The fused kernel's calls as functions are traced: `is_training` of each."""
    calls = []
    kernel = tf.compat.v1.nn.fused_batch_norm

    def counted(*args, is_training=True, **kwargs):
        calls.append(is_training)
        return kernel(*args, is_training=is_training, **kwargs)

    monkeypatch.setattr(tf.compat.v1.nn, "fused_batch_norm", counted)
    return calls


def test_builders_default_to_the_fused_layer_and_the_option_gives_keras_layer():
    fused, plain = _batch_norms(_tiny()), _batch_norms(_tiny(fused_batchnorm=False))
    assert len(fused) == len(plain) == 7
    assert all(type(layer) is batchnorm.BatchNormalization for layer in fused)
    assert all(type(layer) is keras.layers.BatchNormalization for layer in plain)
    for build in (keras_resnetv2.ResNet50V2, keras_resnetv2.resnet_v2.ResNet50V2, keras_resnetv2.ResNet164):
        assert type(build(weights=None, input_shape=(32, 32, 3)).get_layer("post_bn" if "V2" in build.__name__
                                                                            else "conv1_bn")) is batchnorm.BatchNormalization
    with pytest.raises(ValueError, match=r"fused_batchnorm.*Received: fused_batchnorm='no'"):
        _tiny(fused_batchnorm="no")


def test_fit_train_on_batch_and_a_custom_loop_train_through_the_fused_kernel(fused_calls):
    x = np.random.default_rng(0).normal(size=(8, 8, 8, 1)).astype("float32")
    y = np.arange(8) % 3
    model = _tiny()
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert fused_calls.count(True) == 7  # one trace, every BN layer
    model.train_on_batch(x, y)
    assert fused_calls.count(True) == 14  # train_on_batch traces its own step

    fused_calls.clear()

    @tf.function
    def custom_step(images):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model(images, training=True))
        return tape.gradient(loss, model.trainable_variables)

    custom_step(x)
    assert fused_calls == [True] * 7
    fused_calls.clear()
    model.predict(x, verbose=0)
    # Inference: the kernel with the moving statistics after each convolution (the remapper folds
    # it in: no BatchNorm op is left there), a scale-and-shift after the additions and the stem.
    after_conv = [layer for layer in _batch_norms(model) if _follows_a_bias_free_conv(model, layer)]
    assert len(after_conv) == 4 and fused_calls == [False] * 4  # the stem's conv and each unit's first


def test_a_distribution_strategy_trains_through_the_fused_kernel(fused_calls):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = _tiny()
        model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    x = np.random.default_rng(1).normal(size=(8, 8, 8, 1)).astype("float32")
    model.fit(x, np.arange(8) % 3, batch_size=4, epochs=1, verbose=0)
    assert fused_calls.count(True) == 7


def test_synchronized_batchnorm_takes_keras_computation(fused_calls):
    model = _tiny()
    clone = keras.models.clone_model(
        model, clone_function=lambda layer: layer.__class__.from_config(
            dict(layer.get_config(), synchronized=True) if isinstance(layer, keras.layers.BatchNormalization)
            else layer.get_config()))
    clone(np.zeros((2, 8, 8, 1), "float32"), training=True)
    assert fused_calls == []


def test_a_saved_model_loads_with_plain_keras_in_a_process_without_the_package(tmp_path, subprocess_env):
    model = _tiny(drop_path_rate=0.2)
    x = np.random.default_rng(2).normal(size=(4, 8, 8, 1)).astype("float32")
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    model.fit(x, np.arange(4) % 3, epochs=1, verbose=0)  # moving statistics away from their start
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x)
    expected = model.predict(x, verbose=0)
    unfused = batchnorm.with_keras_batch_norm(model)
    script = textwrap.dedent(f"""
        import sys
        import keras, numpy as np
        model = keras.saving.load_model({str(tmp_path / "model.keras")!r}, safe_mode=True)
        assert not [m for m in sys.modules if m.startswith("keras_resnetv2")], "the package was imported"
        assert {{type(l) for l in model.layers if isinstance(l, keras.layers.BatchNormalization)}} == {{
            keras.layers.BatchNormalization}}
        np.save({str(tmp_path / "out.npy")!r}, model.predict(np.load({str(tmp_path / "x.npy")!r}), verbose=0))
    """)
    env = {k: v for k, v in subprocess_env.items() if k != "PYTHONPATH"}  # and run outside the checkout
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = np.load(tmp_path / "out.npy")
    np.testing.assert_array_equal(loaded, unfused.predict(x, verbose=0))  # Keras' layer, in both processes
    np.testing.assert_allclose(loaded, expected, rtol=1e-5, atol=1e-6)  # ours: the fused kernel, to round-off
    assert os.path.getsize(tmp_path / "model.keras") > 0
