"""Weights by name: the manifest's schema, refusals that name both sides, the download path."""

import copy
import json
import re
import shutil

import numpy as np
import pytest

import keras_resnetv2
from keras_resnetv2 import zoo
from keras_resnetv2.utils.files import file_digest
from keras_resnetv2.weights import manifest
from keras_resnetv2.zoo.__main__ import main as zoo_cli

ENTRIES = zoo.entries()
V2 = "resnet20v2.fashion_mnist"



def raises(match):
    return pytest.raises(ValueError, match=re.compile(match, re.S))


# --- the manifest ---------------------------------------------------------------------


def test_the_manifest_fits_its_schema_and_has_the_cpu_entries():
    manifest.validate_manifest(manifest.read_manifest())
    assert {"resnet20.fashion_mnist", V2} <= set(ENTRIES)


@pytest.mark.parametrize("mutate,match", [
    (lambda e: e.pop("license"), r"missing field\(s\) \['license'\]"),
    (lambda e: e["file"].pop("sha256"), r"file: missing field\(s\) \['sha256'\]"),
    (lambda e: e.update(classes="10"), r"'classes' must be of type int, not str"),
    (lambda e: e["metrics"].update(test_accuracy=True), r"'test_accuracy' must be of type int/float, not bool"),
    (lambda e: e["file"].update(sha256="ABC"), r"'file.sha256' must be 64 lower-case hex digits"),
    (lambda e: e.update(label_names=["a"]), r"'label_names' must be one name per class"),
    (lambda e: e.update(date="23/11/2026"), r"'date' must be YYYY-MM-DD"),
    (lambda e: e.update(urls=["ftp://x"]), r"'urls' must be http\(s\) URLs"),
    (lambda e: e["metrics"].update(runs=[]), r"metrics.runs must list at least one"),
    (lambda e: e.update(tag="other"), r"must be named 'resnet20v2.other'"),
])
def test_the_schema_rejects_a_broken_entry(mutate, match):
    broken = copy.deepcopy(manifest.read_manifest())
    mutate(broken["entries"][V2])
    with raises(rf"entry '{V2}'.*{match}"):
        manifest.validate_manifest(broken)


def test_a_manifest_of_another_schema_version_is_refused(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": 99, "entries": {}}))
    with raises(r"schema_version 99 is not supported"):
        manifest.read_manifest(tmp_path)


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,match", [
    (dict(weights="cifar10"), r"one of \['fashion_mnist'\] for 'resnet20v2'.*weights='cifar10'"),
    (dict(weights="fashion_mnist", classes=5), r"`classes` must be 10, the classes these weights.*classes=5"),
    (dict(weights="fashion_mnist", input_shape=(32, 32, 1)), r"must be \(28, 28, 1\).*input_shape=\(32, 32, 1\)"),
    (dict(weights="fashion_mnist", include_top=False, input_shape=(32, 32, 3)), r"1-channel images.*input_shape=\(32, 32, 3\)"),
    (dict(weights="fashion_mnist", shortcut="conv1x1"), r"for a modified architecture.*weights='fashion_mnist'"),
])
def test_bad_zoo_arguments_say_what_is_wrong(kwargs, match):
    with raises(match):
        keras_resnetv2.ResNet20V2(**kwargs)


def test_a_tag_of_another_architecture_names_both():
    tagged = sorted(name for name in ENTRIES if name.endswith(".fashion_mnist"))  # every architecture's
    assert {"resnet20.fashion_mnist", "resnet20v2.fashion_mnist"} <= set(tagged)
    with raises(rf"one of \[\] for 'resnet32'.*has 'fashion_mnist' weights for {re.escape(str(tagged))}, "
                r"not for 'resnet32'.*weights='fashion_mnist'"):
        keras_resnetv2.ResNet32(weights="fashion_mnist")


def test_weights_of_another_architecture_are_refused_naming_both():
    path = manifest.entry_folder(ENTRIES[V2]) / ENTRIES[V2]["file"]["name"]
    with raises(r"does not fit the architecture of 'resnet32v2'.*resnet20v2.fashion_mnist.weights.h5"):
        keras_resnetv2.ResNet32V2(weights=str(path), input_shape=(28, 28, 1))


# --- the download path ----------------------------------------------------------------


@pytest.fixture
def remote_zoo(served_folder, tmp_path, monkeypatch):
    """A zoo whose ResNet-20V2 file is only on a 127.0.0.1 server; an empty Keras cache.

    Yields `(served folder, url, hits, cache folder, entry)`.
    """
    folder, url, hits = served_folder
    entry = copy.deepcopy(ENTRIES[V2])
    shutil.copy(manifest.entry_folder(entry) / entry["file"]["name"], folder / entry["file"]["name"])
    entry["urls"] = [url + entry["file"]["name"]]
    local_zoo = tmp_path / "zoo"
    manifest.write_manifest({"schema_version": 1, "entries": {V2: entry}}, local_zoo)
    monkeypatch.setenv(manifest.ZOO_DIR_VARIABLE, str(local_zoo))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    yield folder, url, hits, tmp_path / "keras_home" / "models", entry


def test_a_clean_download_loads_and_the_second_load_uses_the_cache(remote_zoo, monkeypatch):
    folder, url, hits, cache, entry = remote_zoo
    model = keras_resnetv2.ResNet20V2(weights="fashion_mnist")
    assert hits == ["/" + entry["file"]["name"]]
    assert file_digest(cache / entry["file"]["name"]) == entry["file"]["sha256"]
    monkeypatch.delenv(manifest.ZOO_DIR_VARIABLE)
    local = keras_resnetv2.ResNet20V2(weights="fashion_mnist")
    x = np.random.default_rng(0).normal(size=(2, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(model.predict_on_batch(x), local.predict_on_batch(x))
    (folder / entry["file"]["name"]).unlink()  # the network has nothing now
    # The user's zoo has the entry but not its file: the cache is next.
    monkeypatch.setenv(manifest.ZOO_DIR_VARIABLE, str(cache.parent.parent.parent / "zoo"))
    keras_resnetv2.ResNet20V2(weights="fashion_mnist")
    assert len(hits) == 1, "the second load must come from the cache"


def test_a_corrupted_download_is_rejected_and_removed(remote_zoo):
    folder, _, _, cache, entry = remote_zoo
    (folder / entry["file"]["name"]).write_bytes(b"\0" * 1000)
    with raises(rf"{re.escape(str(cache / entry['file']['name']))} is corrupted.*sha256 is "
                rf"{file_digest(folder / entry['file']['name'])}, expected {entry['file']['sha256']}.*removed"):
        keras_resnetv2.ResNet20V2(weights="fashion_mnist")
    assert not (cache / entry["file"]["name"]).exists()


def test_an_unreachable_url_gives_a_clear_error(remote_zoo, tmp_path):
    _, _, _, _, entry = remote_zoo
    entry["urls"] = ["http://127.0.0.1:9/" + entry["file"]["name"]]  # the discard port: nothing listens
    manifest.write_manifest({"schema_version": 1, "entries": {V2: entry}}, tmp_path / "zoo")
    with pytest.raises(OSError, match=re.compile(r"Could not download the weights file 'resnet20v2.fashion_mnist"
                                                 r".weights.h5'.*http://127.0.0.1:9/.*KERAS_RESNETV2_MIRROR", re.S)):
        keras_resnetv2.ResNet20V2(weights="fashion_mnist")


def test_a_mirror_replaces_the_urls(remote_zoo, tmp_path, monkeypatch):
    _, url, hits, _, entry = remote_zoo
    entry["urls"] = ["http://127.0.0.1:9/" + entry["file"]["name"]]
    manifest.write_manifest({"schema_version": 1, "entries": {V2: entry}}, tmp_path / "zoo")
    monkeypatch.setenv(zoo.MIRROR_VARIABLE, url)
    keras_resnetv2.ResNet20V2(weights="fashion_mnist")
    assert hits == ["/" + entry["file"]["name"]]


def test_a_corrupted_zoo_file_is_reported_and_kept(tmp_path, monkeypatch):
    local_zoo = tmp_path / "zoo"
    shutil.copytree(manifest.zoo_dir(), local_zoo)
    path = manifest.entry_folder(ENTRIES[V2], local_zoo) / ENTRIES[V2]["file"]["name"]
    path.write_bytes(path.read_bytes()[:-10] + b"\1" * 10)
    monkeypatch.setenv(manifest.ZOO_DIR_VARIABLE, str(local_zoo))
    with raises(r"corrupted.*expected " + ENTRIES[V2]["file"]["sha256"] + r".*Restore it"):
        keras_resnetv2.ResNet20V2(weights="fashion_mnist")
    assert path.exists()
    assert zoo_cli(["verify"]) == 1


