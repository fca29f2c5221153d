"""A weights file loads only into its own architecture: names, Keras' paths and shapes,
never shapes alone (issue 17). Every refusal names the argument `weights`."""

import copy
import re

import h5py
import keras
import numpy as np
import pytest
from harness import write_legacy_h5

import keras_resnetv2
from keras_resnetv2 import ResNetSpec, zoo
from keras_resnetv2.models.variants import get_variant
from keras_resnetv2.weights import manifest, registry

ENTRIES = zoo.entries()
V1, V2 = "resnet20.fashion_mnist", "resnet20v2.fashion_mnist"


def zoo_path(name):
    return str(manifest.entry_folder(ENTRIES[name]) / ENTRIES[name]["file"]["name"])


def raises(match):
    return pytest.raises(ValueError, match=re.compile(match + r".*Received: weights=", re.S))


def test_the_resnet20_file_is_refused_by_resnet20v2_naming_both_and_the_first_differences():
    # Same 39 layers with weights, same shapes: a shape check loads it silently.
    with raises(r"\(the zoo entry 'resnet20.fashion_mnist'\) does not fit the architecture of 'resnet20v2'"
                r".*layers/batch_normalization: conv1_bn in the file, conv2_block1_preact_bn in the model"):
        keras_resnetv2.ResNet20V2(weights=zoo_path(V1), input_shape=(28, 28, 1))


def test_the_same_architecture_loads_by_path_as_by_tag():
    by_path = keras_resnetv2.ResNet20V2(weights=zoo_path(V2), input_shape=(28, 28, 1), classes=10)
    by_tag = keras_resnetv2.ResNet20V2(weights="fashion_mnist", include_preprocessing=False)
    x = np.random.default_rng(0).normal(size=(2, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(by_path.predict_on_batch(x), by_tag.predict_on_batch(x))


def test_a_layer_renamed_in_the_file_is_refused(tmp_path):
    path = tmp_path / "renamed.weights.h5"
    path.write_bytes(open(zoo_path(V2), "rb").read())
    with h5py.File(path, "r+") as file:
        file["layers/conv2d/vars"].attrs["name"] = "stem_conv"
    with raises(r"layers/conv2d: stem_conv in the file, conv1_conv in the model.*only in the file: \['stem_conv'\]"
                r".*only in the model: \['conv1_conv'\]"):
        keras_resnetv2.ResNet20V2(weights=str(path), input_shape=(28, 28, 1))


def test_a_layer_renamed_in_the_model_is_refused():
    base = keras_resnetv2.ResNet20V2(input_shape=(28, 28, 1), classes=10)

    def rename(layer):
        config = layer.get_config()
        if config["name"] == "post_bn":
            config["name"] = "final_bn"
        return layer.__class__.from_config(config)

    renamed = keras.models.clone_model(base, clone_function=rename)
    with raises(r"layers/batch_normalization_18: post_bn in the file, final_bn in the model"):
        registry.load_weights(renamed, zoo_path(V2))


def test_a_legacy_h5_file_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "resnet20.h5"
    write_legacy_h5(keras_resnetv2.ResNet20(input_shape=(28, 28, 1)), path)
    with raises(r"resnet20.h5 does not fit the architecture of 'resnet20v2'.*#1: conv1_bn in the file, "
                r"conv2_block1_preact_bn in the model"):
        keras_resnetv2.ResNet20V2(weights=str(path), input_shape=(28, 28, 1))
    keras_resnetv2.ResNet20(weights=str(path), input_shape=(28, 28, 1))  # its own loads


@pytest.mark.parametrize("name", list(ENTRIES))
def test_every_entry_records_the_spec_its_builder_builds(name):
    entry = ENTRIES[name]
    assert ResNetSpec.from_dict(entry["spec"]) == get_variant(entry["builder"]).spec()


def test_a_manifest_spec_other_than_the_builders_is_refused(tmp_path, monkeypatch):
    entry = copy.deepcopy(ENTRIES[V2])
    entry["spec"]["explicit_padding"] = "all"
    manifest.write_manifest({"schema_version": 1, "entries": {V2: entry}}, tmp_path)
    (tmp_path / V2).mkdir()
    (tmp_path / V2 / entry["file"]["name"]).write_bytes(open(zoo_path(V2), "rb").read())
    monkeypatch.setenv(manifest.ZOO_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(ValueError, match=r"zoo entry resnet20v2.fashion_mnist records another architecture than "
                                         r"'resnet20v2'.*'explicit_padding': \('all', 'strided'\).*"
                                         r"Received: weights='fashion_mnist'"):
        keras_resnetv2.ResNet20V2(weights="fashion_mnist")
