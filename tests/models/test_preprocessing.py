"""preprocess_input / decode_predictions per family, as keras.applications has them."""

import keras
import numpy as np
import pytest

import keras_resnetv2
from keras_resnetv2 import cifar, resnet, resnet_v2
from keras_resnetv2 import data
from keras_resnetv2.models.preprocessing import family_functions, preprocessing_layer

# fb.resnet.torch's datasets/cifar10.lua: the published per-channel statistics (0..255).
CIFAR10_MEAN = (125.3, 123.0, 113.9)
CIFAR10_STD = (63.0, 62.1, 66.7)


@pytest.mark.parametrize("ours,theirs", [
    (resnet.preprocess_input, keras.applications.resnet.preprocess_input),
    (resnet_v2.preprocess_input, keras.applications.resnet_v2.preprocess_input),
])
def test_imagenet_families_match_keras(ours, theirs):
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(ours(x.copy()), theirs(x.copy()))


def test_cifar_standardizes_with_the_published_training_statistics():
    mean, std = np.array(CIFAR10_MEAN), np.array(CIFAR10_STD)
    x = np.broadcast_to(mean, (1, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(cifar.preprocess_input(x), 0.0, atol=1e-5)
    np.testing.assert_allclose(cifar.preprocess_input(x + std.astype("float32")), 1.0, atol=1e-5)


def test_fashion_mnist_statistics_are_those_of_its_60000_training_images(fashion_mnist_dir):
    images = data.load("fashion_mnist").train[0]
    assert images.shape == (60000, 28, 28, 1)
    pixels = images.astype(np.float64)
    preprocess, _ = family_functions("standardize", "fashion_mnist")
    standardized = preprocess(pixels[:6000].astype("float32"))  # a tenth: the same statistics to 0.02
    full = (pixels - pixels.mean()) / pixels.std()
    np.testing.assert_allclose(standardized, full[:6000], atol=2e-3)


def test_fashion_mnist_standardizes_one_channel():
    preprocess, decode = family_functions("standardize", "fashion_mnist")
    assert preprocess(np.full((1, 28, 28, 1), 72.94, "float32")).max() == pytest.approx(0.0, abs=1e-5)
    scores = np.eye(10)[[9]]
    assert decode(scores, top=1) == [[("Ankle boot", "Ankle boot", 1.0)]]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_the_zoo_preprocessing_layer_standardizes_each_channel_as_preprocess_input(data_format, monkeypatch):
    monkeypatch.setattr(keras.config, "image_data_format", lambda: data_format)  # as preprocessing_layer reads it
    record = {"mode": "standardize", "mean": list(CIFAR10_MEAN), "std": list(CIFAR10_STD)}
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 5, 6) if data_format == "channels_first" else (2, 5, 6, 3))
    layer = preprocessing_layer(record)
    expected = keras_resnetv2.preprocess_input(x, mode="standardize", data_format=data_format, dataset="cifar10")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x.astype("float32"))), expected, rtol=1e-5, atol=1e-5)
    assert not layer.weights and type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def test_decode_predictions_names_cifar_classes_in_keras_format():
    scores = np.zeros((2, 10))
    scores[0, 3], scores[1, 8] = 0.9, 0.7
    top = cifar.decode_predictions(scores, top=2)
    assert top[0][0] == ("cat", "cat", 0.9) and top[1][0] == ("ship", "ship", 0.7)
    assert len(top[0]) == 2


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match=r"3 channel\(s\).*Received: x="):
        cifar.preprocess_input(np.zeros((1, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"batch of 10 scores.*Received: preds="):
        cifar.decode_predictions(np.zeros((2, 7)))
    with pytest.raises(ValueError, match=r"`dataset` must be one of.*Received: dataset='cifar11'"):
        keras_resnetv2.preprocess_input(np.zeros((1, 4, 4, 3)), mode="standardize", dataset="cifar11")
    with pytest.raises(ValueError, match=r"`mode` must be one of.*Received: mode='keras'"):
        keras_resnetv2.preprocess_input(np.zeros((1, 4, 4, 3)), mode="keras")
