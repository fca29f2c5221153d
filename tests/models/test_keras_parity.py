"""The six keras.applications models, drop-in identical: names, weights, outputs, files.

ResNet50V2 with every head and ResNet50 with and without its top run in the default tier;
ResNet50's pooled heads and the 101/152 models in the slow tier (`make test-slow`).
"""

import hashlib

import keras
import numpy as np
import pytest
from harness import images, keras_applications_resnet, write_legacy_h5

import keras_resnetv2
from keras_resnetv2 import zoo

HEADS = {
    "top": dict(include_top=True),
    "features": dict(include_top=False, pooling=None),
    "avg": dict(include_top=False, pooling="avg"),
    "max": dict(include_top=False, pooling="max"),
}


def named_layers(model):
    """Layer names in order, None where keras.applications leaves the layer unnamed
    (the input and the strided identity shortcut, which we name `..._0_pool`)."""
    unnamed = lambda name: name.startswith(("input_layer", "max_pooling2d")) or name.endswith("_0_pool")
    return [None if unnamed(l.name) else l.name for l in model.layers]


def perturb_batch_norms(model, seed=0):
    """Non-trivial BN statistics, so that a miswired BN would change the outputs."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = (w.shape for w in layer.weights)
            layer.set_weights([rng.uniform(0.8, 1.2, gamma), rng.normal(0, 0.1, beta),
                               rng.normal(0, 0.1, mean), rng.uniform(0.8, 1.2, variance)])


def _parity_cases():
    for name in ("ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2"):
        for head in sorted(HEADS):
            # ResNet50's pooled heads: the same pooling code as ResNet50V2's, tested in the default tier.
            fast = name == "ResNet50V2" or (name == "ResNet50" and head in ("top", "features"))
            yield pytest.param(name, head, marks=() if fast else pytest.mark.slow, id=f"{name}-{head}")


@pytest.mark.parametrize("name,head", _parity_cases())
def test_identical_to_keras_applications(name, head):
    reference = getattr(keras.applications, name)(weights=None, **HEADS[head])
    ours = getattr(keras_resnetv2, name)(weights=None, **HEADS[head])

    assert named_layers(ours) == named_layers(reference)
    assert len(ours.layers) == len(reference.layers)
    assert [w.path for w in ours.weights] == [w.path for w in reference.weights]
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]
    assert ours.count_params() == reference.count_params()
    assert ours.name == reference.name

    perturb_batch_norms(reference)
    ours.set_weights(reference.get_weights())
    x = images((2, 224, 224, 3) if head == "top" else (2, 64, 64, 3))
    expected = reference.predict_on_batch(x)
    # To float32 round-off: ours infers through TF's fused BatchNorm kernel, which oneDNN folds into
    # the convolutions; over ResNet152's 155 layers that moves outputs by ~1e-6 of their scale.
    np.testing.assert_allclose(ours.predict_on_batch(x), expected, rtol=1e-5,
                               atol=1e-5 * max(1.0, float(np.abs(expected).max())))


@pytest.mark.parametrize("name,count", [
    ("ResNet50", 25_636_712), ("ResNet50V2", 25_613_800),
    pytest.param("ResNet101", 44_707_176, marks=pytest.mark.slow),
    pytest.param("ResNet152", 60_419_944, marks=pytest.mark.slow),
    pytest.param("ResNet101V2", 44_675_560, marks=pytest.mark.slow),
    pytest.param("ResNet152V2", 60_380_648, marks=pytest.mark.slow),
])
def test_parameter_counts_match_the_documented_ones(name, count):
    assert getattr(keras_resnetv2, name)(weights=None).count_params() == count


@pytest.mark.parametrize("include_top", [True, False])
def test_legacy_h5_file_loads_through_the_weights_argument(include_top, tmp_path):
    reference = keras.applications.ResNet50V2(weights=None, include_top=include_top)
    perturb_batch_norms(reference)
    path = tmp_path / "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5"
    write_legacy_h5(reference, path)
    ours = keras_resnetv2.ResNet50V2(weights=str(path), include_top=include_top)
    x = images((2, 224, 224, 3))
    np.testing.assert_allclose(ours.predict_on_batch(x), reference.predict_on_batch(x), rtol=1e-5, atol=1e-5)


def test_imagenet_hashes_are_keras_applications_hashes():
    resnet = keras_applications_resnet()
    assert zoo.IMAGENET_HASHES == {k: v for k, v in resnet.WEIGHTS_HASHES.items() if k in zoo.IMAGENET_HASHES}
    assert zoo.IMAGENET_BASE_URL == resnet.BASE_WEIGHTS_PATH


def test_imagenet_weights_download_verify_and_cache(served_folder, tmp_path, monkeypatch):
    folder, url, hits = served_folder
    reference = keras.applications.ResNet50V2(weights=None, include_top=False)
    perturb_batch_norms(reference)
    file_name = "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
    write_legacy_h5(reference, folder / file_name)
    md5 = hashlib.md5((folder / file_name).read_bytes()).hexdigest()

    monkeypatch.setenv(zoo.MIRROR_VARIABLE, url)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setitem(zoo.IMAGENET_HASHES, "resnet50v2", (zoo.IMAGENET_HASHES["resnet50v2"][0], md5))
    x = images((1, 64, 64, 3))
    ours = keras_resnetv2.ResNet50V2(weights="imagenet", include_top=False)
    np.testing.assert_allclose(ours.predict_on_batch(x), reference.predict_on_batch(x), rtol=1e-5, atol=1e-5)
    assert hits == [f"/{file_name}"]
    assert (tmp_path / "keras_home" / "models" / file_name).exists()

    keras_resnetv2.ResNet50V2(weights="imagenet", include_top=False)
    assert len(hits) == 1, "the second load must come from the cache"


def test_imagenet_weights_with_a_wrong_hash_are_refused(served_folder, tmp_path, monkeypatch):
    folder, url, _ = served_folder
    file_name = "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
    (folder / file_name).write_bytes(b"not the weights you are looking for")
    monkeypatch.setenv(zoo.MIRROR_VARIABLE, url)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    with pytest.raises(ValueError, match=r"corrupted.*fac2f116257151a9d068a22e544a4917.*removed"):
        keras_resnetv2.ResNet50V2(weights="imagenet", include_top=False)
    assert not (tmp_path / "keras_home" / "models" / file_name).exists()
