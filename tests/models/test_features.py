"""Multi-scale features (`features_only=True`): which layers, their strides, weights, errors."""

import hashlib

import keras
import numpy as np
import pytest
from harness import images, randomize, tiny_spec, write_legacy_h5

import keras_resnetv2
from keras_resnetv2 import ResNet, ResNetSpec, zoo
from keras_resnetv2.models.features import feature_maps

IMAGENET = {
    "ResNet50": (["conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"],
                 [64, 256, 512, 1024, 2048]),
    # keras' V2 layout strides the LAST unit of conv2..conv4: each map is the unit before it.
    "ResNet50V2": (["conv1_conv", "conv2_block2_out", "conv3_block3_out", "conv4_block5_out", "post_relu"],
                   [64, 256, 512, 1024, 2048]),
}
CIFAR = {
    "ResNet20": ["conv2_block3_out", "conv3_block3_out", "conv4_block3_out"],
    "ResNet20V2": ["conv2_block3_out", "conv3_block3_out", "post_relu"],
}


def corresponding_outputs(full, names):
    """The outputs of the layers `names` of `full`, as one model."""
    return keras.Model(full.input, [full.get_layer(n).output for n in names])


def assert_outputs_equal(model, reference, x):
    # To float32 round-off: TF's graph optimizer folds BatchNorms into convolutions
    # differently where a features model takes an intermediate map as an output.
    for ours, theirs in zip(model.predict_on_batch(x), reference.predict_on_batch(x)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(theirs).max()))


@pytest.mark.parametrize("name", sorted(IMAGENET))
def test_imagenet_nets_give_strides_2_to_32(name):
    names, channels = IMAGENET[name]
    model = getattr(keras_resnetv2, name)(weights=None, features_only=True, input_shape=(64, 64, 3))
    assert model.output_names == names
    assert [tuple(o.shape) for o in model.outputs] == [(None, 64 // s, 64 // s, c) for s, c in zip((2, 4, 8, 16, 32), channels)]
    spec = keras_resnetv2.get_variant(name).spec()
    assert [(m.name, m.stride, m.channels) for m in feature_maps(spec)] == list(zip(names, (2, 4, 8, 16, 32), channels))


@pytest.mark.parametrize("name", sorted(CIFAR))
def test_cifar_nets_give_one_map_per_stage(name):
    model = getattr(keras_resnetv2, name)(features_only=True, input_shape=(32, 32, 3))
    assert model.output_names == CIFAR[name]
    assert [tuple(o.shape) for o in model.outputs] == [(None, 32, 32, 16), (None, 16, 16, 32), (None, 8, 8, 64)]


@pytest.mark.parametrize("order", ["original", "full_preactivation"])
@pytest.mark.parametrize("layout", ["keras", "paper"])
def test_maps_are_the_full_models_layer_outputs_and_the_last_is_the_headless_output(order, layout):
    """A tiny ImageNet-stem net of each layout: the maps are the full graph's tensors."""
    spec = ResNetSpec.from_depth(50, family="imagenet", block="bottleneck", layout=layout, order=order).replace(
        stage_units=(2, 2, 1, 1), stage_widths=(2, 2, 4, 4), stem_width=4
    )
    features = ResNet(spec, features_only=True, input_shape=(64, 64, 3))
    headless = ResNet(spec, include_top=False, input_shape=(64, 64, 3))
    randomize(headless)
    features.set_weights(headless.get_weights())
    strided_last = layout == "keras" and order == "full_preactivation"
    assert features.output_names[1] == ("conv2_block1_out" if strided_last else "conv2_block2_out")
    x = images((2, 64, 64, 3))
    assert_outputs_equal(features, corresponding_outputs(headless, features.output_names), x)
    np.testing.assert_allclose(features.predict_on_batch(x)[-1], headless.predict_on_batch(x), rtol=1e-6)


def test_out_indices_pick_maps_in_stride_order_and_cut_the_graph():
    model = keras_resnetv2.ResNet20V2(features_only=True, out_indices=(1, 0))
    assert model.output_names == ["conv2_block3_out", "conv3_block3_out"]
    assert not any(l.name.startswith("conv4_") or l.name.startswith("post_") for l in model.layers)
    last = keras_resnetv2.ResNet20V2(features_only=True, out_indices=[2])
    assert last.output_names == ["post_relu"]


@pytest.mark.parametrize("kwargs,match", [
    (dict(out_indices=(3,)), r"distinct feature map indices from \[0, 1, 2\] \(strides \[1, 2, 4\]\)\. Received: out_indices=\(3,\)"),
    (dict(out_indices=(0, 0)), r"from \[0, 1, 2\].*Received: out_indices=\(0, 0\)"),
    (dict(out_indices=()), r"non-empty.*Received: out_indices=\(\)"),
    (dict(out_indices=1), r"list or tuple.*Received: out_indices=1"),
    (dict(pooling="avg"), r"`features_only=True` returns the 4D feature maps; `pooling` must be None.*Received: pooling='avg'"),
    (dict(features_only="yes"), r"`features_only` must be True or False. Received: features_only='yes'"),
    (dict(features_only=False, out_indices=(0,)), r"needs `features_only=True`.*Received: out_indices=\(0,\)"),
])
def test_bad_feature_arguments_are_refused(kwargs, match):
    kwargs.setdefault("features_only", True)
    with pytest.raises(ValueError, match=match):
        keras_resnetv2.ResNet20V2(**kwargs)


def test_out_indices_of_an_imagenet_net_name_its_five_maps():
    with pytest.raises(ValueError, match=r"from \[0, 1, 2, 3, 4\] \(strides \[2, 4, 8, 16, 32\]\)\. Received: out_indices=\(5,\)"):
        ResNet(tiny_spec(stem="imagenet", stage_units=(1, 1, 1, 1), stage_widths=(2, 2, 2, 2)), features_only=True, out_indices=(5,))


def test_zoo_weights_load_into_a_features_model():
    features = keras_resnetv2.ResNet20V2(weights="fashion_mnist", features_only=True)
    full = keras_resnetv2.ResNet20V2(weights="fashion_mnist")
    assert features.input_shape == (None, None, None, 1)
    x = images((2, 28, 28, 1))
    assert_outputs_equal(features, corresponding_outputs(full, CIFAR["ResNet20V2"]), x)


def test_a_weights_file_loads_into_a_features_model(tmp_path):
    full = ResNet(tiny_spec(order="original"), input_shape=(8, 8, 3), classes=3)
    randomize(full)
    full.save_weights(tmp_path / "full.weights.h5")
    features = ResNet(tiny_spec(order="original"), features_only=True, input_shape=(8, 8, 3),
                      weights=str(tmp_path / "full.weights.h5"))
    headless = ResNet(tiny_spec(order="original"), include_top=False, input_shape=(8, 8, 3))
    headless.set_weights(full.get_weights()[:len(headless.weights)])
    assert_outputs_equal(features, corresponding_outputs(headless, features.output_names), images((2, 8, 8, 3)))


def test_imagenet_weights_load_through_the_registry(served_folder, tmp_path, monkeypatch):
    """No ImageNet file is reachable offline: a legacy `_notop.h5` file written from a
    randomized keras.applications ResNet50V2 stands in for it, served from 127.0.0.1
    under the real file name, with its MD5 in place of the hosted file's."""
    folder, url, hits = served_folder
    reference = keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=(64, 64, 3))
    randomize(reference)
    file_name = "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
    write_legacy_h5(reference, folder / file_name)
    md5 = hashlib.md5((folder / file_name).read_bytes()).hexdigest()
    monkeypatch.setenv(zoo.MIRROR_VARIABLE, url)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setitem(zoo.IMAGENET_HASHES, "resnet50v2", (zoo.IMAGENET_HASHES["resnet50v2"][0], md5))

    features = keras_resnetv2.ResNet50V2(weights="imagenet", features_only=True, input_shape=(64, 64, 3), drop_path_rate=0.1)
    assert hits == [f"/{file_name}"]
    x = images((2, 64, 64, 3))
    assert_outputs_equal(features, corresponding_outputs(reference, IMAGENET["ResNet50V2"][0]), x)


def test_a_features_model_saves_and_reloads(tmp_path):
    model = keras_resnetv2.ResNet20(features_only=True, input_shape=(16, 16, 3), drop_path_rate=0.1)
    model.save(tmp_path / "features.keras")
    reloaded = keras.models.load_model(tmp_path / "features.keras", safe_mode=True)
    assert reloaded.output_names == CIFAR["ResNet20"]
    assert_outputs_equal(reloaded, model, images((2, 16, 16, 3)))
