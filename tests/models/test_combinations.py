"""Every block x order x shortcut builds, trains a step, and survives serialization."""

import itertools
import json

import keras
import numpy as np
import pytest
from harness import images, tiny_spec

from keras_resnetv2 import ORDERS, SHORTCUTS, ResNet, ResNetSpec
from keras_resnetv2.models.spec import BLOCKS

COMBINATIONS = list(itertools.product(sorted(BLOCKS), sorted(ORDERS), SHORTCUTS))


@pytest.mark.parametrize("block,order,shortcut", COMBINATIONS)
def test_combination_trains_and_round_trips(block, order, shortcut, tmp_path):
    spec = tiny_spec(block, order=order, shortcut=shortcut)
    model = ResNet(spec, input_shape=(8, 8, 3), classes=3)
    x, y = images((4, 8, 8, 3)), np.arange(4) % 3

    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", run_eagerly=True)
    before = [w.numpy().copy() for w in model.trainable_weights]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    assert all(changed), [w.path for w, c in zip(model.trainable_weights, changed) if not c]

    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    # The reloaded file has Keras' BatchNormalization; ours infers through the fused kernel.
    np.testing.assert_allclose(model.predict_on_batch(x), reloaded.predict_on_batch(x), rtol=1e-5, atol=1e-6)
    assert [l.name for l in reloaded.layers] == [l.name for l in model.layers]

    assert ResNetSpec.from_json(spec.to_json()) == spec
    assert json.loads(ResNetSpec.from_json(spec.to_json()).to_json()) == spec.to_dict()


@pytest.mark.parametrize("layout", ["keras", "paper"])
@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_layouts_build_and_reload(layout, block, tmp_path):
    depth = 8 if block == "basic" else 11
    spec = ResNetSpec.from_depth(depth, block=block, layout=layout, order="original")
    model = ResNet(spec, input_shape=(16, 16, 3), classes=4)
    path = tmp_path / "model.keras"
    model.save(path)
    x = images((2, 16, 16, 3))
    np.testing.assert_allclose(model.predict_on_batch(x), keras.models.load_model(path).predict_on_batch(x),
                               rtol=1e-5, atol=1e-6)  # Keras' BatchNormalization once reloaded


@pytest.mark.parametrize("shortcut", SHORTCUTS)
def test_shortcuts_on_strided_units_that_keep_their_channels(shortcut):
    """keras' v2 layout strides the last unit of a stage, whose shortcut subsamples."""
    spec = ResNetSpec.from_depth(20, block="bottleneck", layout="keras", shortcut=shortcut)
    assert spec.stride_placement == "last" and spec.stage_units == (2, 2, 2)
    model = ResNet(spec, input_shape=(16, 16, 3), classes=4)
    assert model.get_layer("conv2_block1_out").output.shape[1:3] == (16, 16)
    assert model.get_layer("conv2_block2_out").output.shape[1:3] == (8, 8)
    shortcut_layer = "conv2_block2_0_conv" if shortcut == "conv1x1" else "conv2_block2_0_pool"
    assert model.get_layer(shortcut_layer).output.shape[1:3] == (8, 8)
    assert model.predict_on_batch(images((2, 16, 16, 3))).shape == (2, 4)


def test_every_trainable_weight_receives_a_gradient():
    import tensorflow as tf

    for order, shortcut in itertools.product(sorted(ORDERS), SHORTCUTS):
        model = ResNet(tiny_spec("bottleneck", order=order, shortcut=shortcut), input_shape=(8, 8, 3), classes=3)
        x = tf.constant(images((2, 8, 8, 3)))
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x, training=True) * tf.constant(images((2, 3), seed=1)))
        grads = tape.gradient(loss, model.trainable_weights)
        missing = [w.path for w, g in zip(model.trainable_weights, grads) if g is None]
        assert not missing, (order, shortcut, missing)
