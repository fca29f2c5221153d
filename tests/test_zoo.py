"""The model zoo: manifest schema, verified loading, downloads, CLI, export, cards."""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import REPO_ROOT

import keras_resnetv2
from keras_resnetv2 import zoo
from keras_resnetv2.files import file_digest
from keras_resnetv2.flops import count_flops
from keras_resnetv2.zoo import cards, manifest
from keras_resnetv2.zoo.__main__ import main as zoo_cli

ENTRIES = zoo.entries()
# The large nets' evaluation belongs to the slow tier.
SMALL = [n for n, e in ENTRIES.items() if e["parameters"]["total"] < 1_000_000]
LARGE = [n for n in ENTRIES if n not in SMALL]
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


@pytest.mark.parametrize("name", list(ENTRIES))
def test_every_entry_file_matches_its_hash_size_parameters_and_flops(name):
    entry = ENTRIES[name]
    path = manifest.entry_folder(entry) / entry["file"]["name"]
    assert file_digest(path) == entry["file"]["sha256"]
    assert os.path.getsize(path) == entry["file"]["size"]
    model = keras_resnetv2.build(entry["builder"], weights=entry["tag"])
    assert model.count_params() == entry["parameters"]["total"]
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == entry["parameters"]["trainable"]
    assert count_flops(model) == entry["flops"]
    assert model.input_shape[1:] == tuple(entry["input_shape"]) and model.output_shape[-1] == entry["classes"]


def _check_accuracy(name, capsys):
    assert zoo_cli(["evaluate", name]) == 0
    assert re.search(rf"OK  {re.escape(name)}: test accuracy [\d.]+% on 10,000 images", capsys.readouterr().out)


@pytest.mark.parametrize("name", SMALL)
def test_every_entry_reproduces_its_test_accuracy(name, fashion_mnist_dir, capsys):
    _check_accuracy(name, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("name", LARGE or [pytest.param(None, marks=pytest.mark.skip("no large entries"))])
def test_every_large_entry_reproduces_its_test_accuracy(name, fashion_mnist_dir, capsys):
    _check_accuracy(name, capsys)


def test_the_builder_with_a_zoo_tag_classifies_the_real_test_set(fashion_mnist_dir):
    from keras_resnetv2 import data

    model = keras_resnetv2.ResNet20V2(weights="fashion_mnist")
    images, labels = data.load("fashion_mnist").test
    x = keras_resnetv2.preprocess_input(images.astype("float32"), mode="standardize", dataset="fashion_mnist")
    predicted = np.argmax(model.predict(x, batch_size=500, verbose=0), axis=-1)
    accuracy = float(np.mean(predicted == labels))
    assert abs(accuracy - ENTRIES[V2]["metrics"]["test_accuracy"]) <= 0.001
    top = keras_resnetv2.decode_predictions(model.predict(x[:1], verbose=0), top=1, dataset="fashion_mnist")
    assert top[0][0][0] == ENTRIES[V2]["label_names"][predicted[0]]


def test_a_zoo_tag_without_the_top_takes_the_entry_channels():
    model = keras_resnetv2.ResNet20V2(weights="fashion_mnist", include_top=False, pooling="avg")
    assert model.input_shape == (None, None, None, 1) and model.output_shape == (None, 64)


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
    with raises(r"one of \[\] for 'resnet32'.*has 'fashion_mnist' weights for \['resnet20.fashion_mnist', "
                r"'resnet20v2.fashion_mnist'\], not for 'resnet32'.*weights='fashion_mnist'"):
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
    monkeypatch.setenv(manifest.ZOO_DIR_VARIABLE, str(cache.parent.parent / "zoo"))
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


# --- the command line -----------------------------------------------------------------


def test_list_show_and_verify(capsys):
    assert zoo_cli(["list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in ENTRIES)
    assert zoo_cli(["show", V2]) == 0
    assert json.loads(capsys.readouterr().out.split("\ncard: ")[0]) == ENTRIES[V2]
    assert zoo_cli(["verify"]) == 0
    assert capsys.readouterr().out.count("OK ") == len(ENTRIES)


def test_an_unknown_name_lists_the_entries(capsys):
    assert zoo_cli(["show", "resnet20v2.cifar10"]) == 1
    assert re.search(r"No zoo entry 'resnet20v2.cifar10'; the zoo has \[.*'resnet20v2.fashion_mnist'", capsys.readouterr().err)


def test_the_module_runs_as_a_command(subprocess_env):
    result = subprocess.run([sys.executable, "-m", "keras_resnetv2.zoo", "list"], capture_output=True,
                            text=True, env=subprocess_env, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0 and V2 in result.stdout


# --- export, cards, README, packaging -------------------------------------------------


def test_train_py_exports_a_run_as_a_zoo_entry(tiny_train_args, subprocess_env, tmp_path):
    """A real (short) ResNet-20V2 run with --zoo_tag: weights, manifest entry, card, plots."""
    args = [a for a in tiny_train_args if not a.startswith("--spec_options")]
    env = dict(subprocess_env, KERAS_RESNETV2_ZOO_DIR=str(tmp_path / "zoo"))
    result = subprocess.run(
        args + ["--epochs=1", "--train_subset=256", f"--model_dir={tmp_path / 'run'}", "--zoo_tag=smoke"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    entry = manifest.get_entry("resnet20v2.smoke", tmp_path / "zoo")
    folder = manifest.entry_folder(entry, tmp_path / "zoo")
    assert file_digest(folder / entry["file"]["name"]) == entry["file"]["sha256"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["README.md", "confusion.png", "curves.png", "evaluation.json", "history.csv", entry["file"]["name"]])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert entry["metrics"]["test_accuracy"] == metrics["test"]["accuracy"]
    assert entry["command"].startswith("python ") and "--zoo_tag=smoke" in entry["command"]
    assert entry["training"]["resumed_from_epoch"] == 0
    assert entry["training"]["epoch_time_s_total"] == round(metrics["history"][0]["epoch_time_s"], 1) > 0
    evaluation = json.loads((folder / "evaluation.json").read_text())
    assert (folder / "README.md").read_text() == cards.model_card(entry, evaluation)
    assert abs(evaluation["accuracy"] - entry["metrics"]["test_accuracy"]) <= 0.001

    # Two seeds make one entry: every run's accuracy, the median run's weights.
    other = tmp_path / "run2"
    shutil.copytree(tmp_path / "run", other)
    metrics["test"]["accuracy"] += 0.01
    (other / "metrics.json").write_text(json.dumps(metrics))
    from keras_resnetv2.zoo.export import export_runs

    both = export_runs([str(other), str(tmp_path / "run")], "smoke", zoo_folder=tmp_path / "zoo")
    accuracies = sorted(r["test_accuracy"] for r in both["metrics"]["runs"])
    assert both["metrics"]["test_accuracy"] == accuracies[0]
    assert both["metrics"]["median_test_accuracy"] == pytest.approx(np.median(accuracies))
    assert (both["metrics"]["min_test_accuracy"], both["metrics"]["max_test_accuracy"]) == tuple(accuracies)


@pytest.mark.parametrize("extra,match", [
    (["--zoo_tag=Fashion-MNIST"], r"A zoo tag is lower-case.*zoo_tag='Fashion-MNIST'|tag='Fashion-MNIST'"),
    (["--zoo_tag=smoke", '--spec_options={"stage_widths": [16, 32, 128]}'], r"trains a modified ResNet20V2"),
    (["--zoo_tag=smoke", "--tune=random"], r"--zoo_tag exports one training, not a search"),
])
def test_train_py_refuses_an_unexportable_run_before_training(extra, match, tiny_train_args, subprocess_env, tmp_path):
    args = [a for a in tiny_train_args if not a.startswith("--spec_options")]
    result = subprocess.run(args + [f"--model_dir={tmp_path / 'run'}"] + extra, capture_output=True, text=True,
                            env=dict(subprocess_env, KERAS_RESNETV2_ZOO_DIR=str(tmp_path / "zoo")), timeout=300)
    assert result.returncode == 1 and re.search(match, result.stderr), result.stderr[-2000:]
    assert not (tmp_path / "run" / "log.csv").exists()


def test_the_export_refuses_an_unfinished_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    with raises(r"is not a finished train.py run: \['metrics.json', 'model.weights.h5'\] missing"):
        from keras_resnetv2.zoo.export import export_runs

        export_runs([str(run)], "smoke", zoo_folder=tmp_path / "zoo")


@pytest.mark.parametrize("name", list(ENTRIES))
def test_every_card_is_generated_from_the_manifest(name):
    entry = ENTRIES[name]
    folder = manifest.entry_folder(entry)
    evaluation = json.loads((folder / "evaluation.json").read_text())
    assert (folder / "README.md").read_text() == cards.model_card(entry, evaluation)
    assert (folder / "curves.png").stat().st_size > 0 and (folder / "confusion.png").stat().st_size > 0
    assert abs(evaluation["accuracy"] - entry["metrics"]["test_accuracy"]) <= 0.001


def test_the_readme_zoo_table_is_current():
    readme = open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8").read()
    assert f"{cards.TABLE_START}\n{cards.readme_table(ENTRIES)}{cards.TABLE_END}" in readme


def test_the_wheel_ships_the_zoo(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), REPO_ROOT], check=True, capture_output=True, timeout=300, cwd=tmp_path)
    shutil.rmtree(os.path.join(REPO_ROOT, "build"), ignore_errors=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "keras_resnetv2/zoo_files/manifest.json" in names
    for name, entry in ENTRIES.items():
        assert f"keras_resnetv2/zoo_files/{name}/{entry['file']['name']}" in names
        assert f"keras_resnetv2/zoo_files/{name}/README.md" in names
