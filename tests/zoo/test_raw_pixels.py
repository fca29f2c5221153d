"""Zoo models take raw pixels; a user zoo adds to the bundled one; exports go to a user folder."""

import copy
import json
import re
import shutil
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

import keras_resnetv2
from keras_resnetv2 import zoo
from keras_resnetv2.weights import manifest
from keras_resnetv2.zoo import evaluation, export
from keras_resnetv2.zoo.__main__ import DTYPE_POLICIES
from keras_resnetv2.zoo.__main__ import main as zoo_cli

ENTRIES = zoo.entries()
V2 = "resnet20v2.fashion_mnist"
# 2,000 test images: about +-0.5 point of sampling noise around a 94% accuracy.
SUBSET, SUBSET_TOLERANCE = 2000, 0.015


# --- the preprocessing inside the model ------------------------------------------------


@pytest.mark.parametrize("name", list(ENTRIES))
def test_every_entry_classifies_raw_pixels_at_its_manifest_accuracy(name, fashion_mnist_dir):
    result = evaluation.evaluate(name, limit=SUBSET)
    assert result.examples == SUBSET
    assert abs(result.accuracy - ENTRIES[name]["metrics"]["test_accuracy"]) <= SUBSET_TOLERANCE


def test_the_evaluation_shows_its_progress_when_asked(fashion_mnist_dir, capsys):
    quiet = evaluation.evaluate(V2, limit=600)
    assert "600/600" not in capsys.readouterr().out
    shown = evaluation.evaluate(V2, limit=600, progress=True)  # two batches of at most 500
    shown_text = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # without the terminal's colours
    assert re.search(r"500/600 .*/image", shown_text) and re.search(r"600/600 .*/image", shown_text)
    assert shown.accuracy == quiet.accuracy


def test_the_preprocessing_is_a_stock_layer_right_after_the_input():
    entry = ENTRIES[V2]
    model = keras_resnetv2.ResNet20V2(weights="fashion_mnist")
    layer = model.layers[1]
    assert type(layer) is keras.layers.Rescaling and layer.name == "preprocessing" and not layer.weights
    raw = np.array([0, 72.94, 255], "float32").reshape(1, 3, 1, 1)
    mean, std = entry["preprocessing"]["mean"][0], entry["preprocessing"]["std"][0]
    np.testing.assert_allclose(np.ravel(layer(raw)), (np.ravel(raw) - mean) / std, rtol=1e-5, atol=1e-6)
    bare = keras_resnetv2.ResNet20V2(weights="fashion_mnist", include_preprocessing=False)
    assert [l.name for l in bare.layers] == [l.name for l in model.layers if l.name != "preprocessing"]
    x = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1)).astype("uint8")
    np.testing.assert_allclose(
        model.predict_on_batch(x), bare.predict_on_batch((x.astype("float32") - mean) / std), rtol=1e-4, atol=1e-5)


def test_a_saved_zoo_model_reloads_with_plain_keras(tmp_path, subprocess_env):
    model = keras_resnetv2.ResNet20V2(weights="fashion_mnist")
    model.save(tmp_path / "model.keras")
    x = np.random.default_rng(1).integers(0, 256, (2, 28, 28, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, keras, numpy as np; m = keras.saving.load_model(sys.argv[1], safe_mode=True); "
            "np.save(sys.argv[3], m.predict_on_batch(np.load(sys.argv[2]))); "
            "assert not any(k.startswith('keras_resnetv2') for k in sys.modules)")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.keras"), str(tmp_path / "x.npy"),
                    str(tmp_path / "y.npy")], check=True, env=subprocess_env, timeout=300, capture_output=True)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict_on_batch(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("weights", [None, "a file"])
def test_include_preprocessing_needs_a_zoo_tag(weights, tmp_path):
    if weights == "a file":
        weights = str(manifest.entry_folder(ENTRIES[V2]) / ENTRIES[V2]["file"]["name"])
    assert "preprocessing" not in [l.name for l in keras_resnetv2.ResNet20V2(
        weights=weights, input_shape=(28, 28, 1), classes=10).layers]
    with pytest.raises(ValueError, match=r"`weights` must be a zoo tag.*Received: include_preprocessing=True"):
        keras_resnetv2.ResNet20V2(weights=weights, input_shape=(28, 28, 1), include_preprocessing=True)
    with pytest.raises(ValueError, match=r"`include_preprocessing` must be one of \[None, True, False\]"
                                         r".*Received: include_preprocessing='yes'"):
        keras_resnetv2.ResNet20V2(weights="fashion_mnist", include_preprocessing="yes")


# --- a user zoo adds to the bundled one ------------------------------------------------


@pytest.fixture
def user_zoo(tmp_path, monkeypatch):
    """An empty user zoo in `$KERAS_RESNETV2_ZOO_DIR`."""
    folder = tmp_path / "my_zoo"
    monkeypatch.setenv(manifest.ZOO_DIR_VARIABLE, str(folder))
    return folder


def copy_entry(name, tag, folder, **metrics):
    """A copy of bundled entry `name` as tag `tag` in `folder`, its file beside it."""
    entry = copy.deepcopy(ENTRIES[name])
    entry["tag"] = tag
    entry["metrics"].update(metrics)
    new = manifest.entry_name(entry)
    current = manifest.read_manifest(folder)
    current["entries"][new] = entry
    manifest.write_manifest(current, folder)
    (folder / new).mkdir(parents=True, exist_ok=True)
    shutil.copy(manifest.entry_folder(ENTRIES[name], manifest.bundled_dir()) / entry["file"]["name"], folder / new)
    return entry


def test_a_user_zoo_adds_its_entries_and_wins_on_a_shared_name(user_zoo, capsys):
    copy_entry(V2, "mine", user_zoo)
    copy_entry(V2, "fashion_mnist", user_zoo, test_accuracy=0.5)
    merged = zoo.entries()
    assert set(merged) == set(ENTRIES) | {"resnet20v2.mine"}
    assert merged[V2]["metrics"]["test_accuracy"] == 0.5 and merged["resnet20.fashion_mnist"] == ENTRIES["resnet20.fashion_mnist"]
    assert manifest.entry_folder(merged[V2]) == user_zoo / V2
    assert zoo.available_weights("resnet20v2") == ["fashion_mnist", "mine"]
    keras_resnetv2.ResNet20V2(weights="mine")
    assert zoo_cli(["list"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert listed[V2].endswith("[KERAS_RESNETV2_ZOO_DIR, replaces the bundled entry]")
    assert listed["resnet20v2.mine"].endswith("[KERAS_RESNETV2_ZOO_DIR]")
    assert "KERAS_RESNETV2_ZOO_DIR" not in listed["resnet20.fashion_mnist"]


def test_new_entries_go_to_the_user_zoo_else_the_checkout_never_the_installed_package(user_zoo, monkeypatch, capsys):
    assert manifest.zoo_dir() == user_zoo
    monkeypatch.delenv(manifest.ZOO_DIR_VARIABLE)
    assert manifest.zoo_dir() == manifest.source_checkout() / "zoo"
    monkeypatch.setattr(manifest, "source_checkout", lambda: None)  # as installed from a wheel
    with pytest.raises(ValueError, match=r"keras_resnetv2 is installed.*never written to\. Set "
                                         r"KERAS_RESNETV2_ZOO_DIR to a folder.*Received: KERAS_RESNETV2_ZOO_DIR=None"):
        manifest.zoo_dir()
    assert zoo_cli(["export", "runs/anything", "--tag=mine"]) == 1
    assert "Set KERAS_RESNETV2_ZOO_DIR" in capsys.readouterr().err


def test_an_export_far_below_its_datasets_best_entry_warns():
    best_name, best = max(((n, e) for n, e in ENTRIES.items() if e["dataset"]["name"] == "fashion_mnist"),
                          key=lambda item: item[1]["metrics"]["test_accuracy"])
    entry = copy.deepcopy(ENTRIES[V2])
    entry["tag"] = "short"
    entry["metrics"]["test_accuracy"] = best["metrics"]["test_accuracy"] - 0.06
    with pytest.warns(UserWarning, match=rf"resnet20v2.short reaches {entry['metrics']['test_accuracy']:.2%} test "
                                         rf"accuracy, 6.0 points below {re.escape(best_name)} "
                                         rf"\({best['metrics']['test_accuracy']:.2%}\) on fashion_mnist"):
        export._warn_if_far_below(entry)
    entry["metrics"]["test_accuracy"] += 0.02
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        export._warn_if_far_below(entry)  # 4 points below: no warning


def test_an_entry_with_no_url_and_no_file_says_so(user_zoo, tmp_path, monkeypatch):
    entry = copy_entry(V2, "fashion_mnist", user_zoo)
    (user_zoo / V2 / entry["file"]["name"]).unlink()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv(zoo.MIRROR_VARIABLE, raising=False)
    assert entry["urls"] == []
    with pytest.raises(OSError, match=re.compile(
            r"The zoo entry 'resnet20v2.fashion_mnist' has no download URL .*not hosted anywhere.*neither in the "
            rf"zoo folder {re.escape(str(user_zoo / V2))} nor in the cache .*KERAS_RESNETV2_MIRROR", re.S)):
        keras_resnetv2.ResNet20V2(weights="fashion_mnist")


def test_bundled_entries_list_only_urls_that_exist():
    assert all(entry["urls"] == [] for entry in manifest.entries(manifest.bundled_dir()).values())
    assert json.loads((manifest.bundled_dir() / "manifest.json").read_text())["entries"] == ENTRIES


def test_speed_records_the_figure_into_the_writable_zoo_only(user_zoo, capsys):
    copy_entry(V2, "mine", user_zoo)
    shutil.copy(manifest.entry_folder(ENTRIES[V2]) / "evaluation.json", user_zoo / "resnet20v2.mine")
    assert zoo_cli(["speed", "resnet20v2.mine", "--rounds=1", "--batch_size=16", "--record"]) == 0
    printed = capsys.readouterr().out
    recorded = manifest.read_manifest(user_zoo)["entries"]["resnet20v2.mine"]["inference"]
    assert recorded["batch_size"] == 16 and recorded["rounds"] == 1 and recorded["images_per_second"] > 0
    assert f"resnet20v2.mine: {recorded['images_per_second']:,.0f} img/s" in printed
    assert f"**{recorded['images_per_second']:,.0f} img/s**" in (user_zoo / "resnet20v2.mine" / "README.md").read_text()
    before = (manifest.bundled_dir() / "manifest.json").read_text()
    assert zoo_cli(["speed", "resnet20.fashion_mnist", "--rounds=1", "--batch_size=16", "--record"]) == 1
    assert f"resnet20.fashion_mnist is not an entry of the writable zoo {user_zoo}" in capsys.readouterr().err
    assert (manifest.bundled_dir() / "manifest.json").read_text() == before


def test_speed_and_evaluate_build_under_a_dtype_policy_and_give_the_callers_back(user_zoo, capsys):
    assert zoo_cli(["speed", V2, "--rounds=1", "--batch_size=16", "--dtype_policy=mixed_bfloat16"]) == 0
    assert re.search(rf"{re.escape(V2)}: [\d,]+ img/s .*, mixed_bfloat16$", capsys.readouterr().out.strip())
    assert keras.config.dtype_policy().name == "float32"
    keras.config.set_dtype_policy("mixed_float16")
    try:  # a failing command gives the caller's policy back too
        assert zoo_cli(["speed", "resnet20v2.absent", "--rounds=1", "--dtype_policy=mixed_bfloat16"]) == 1
        assert keras.config.dtype_policy().name == "mixed_float16"
    finally:
        keras.config.set_dtype_policy("float32")
    copy_entry(V2, "mine", user_zoo)
    before = (user_zoo / "manifest.json").read_text()
    assert zoo_cli(["speed", "resnet20v2.mine", "--record", "--dtype_policy=mixed_bfloat16"]) == 1
    assert "--record writes the card's float32 figure; received --dtype_policy=mixed_bfloat16" in capsys.readouterr().err
    assert (user_zoo / "manifest.json").read_text() == before
    with pytest.raises(SystemExit):
        zoo_cli(["evaluate", V2, "--dtype_policy=float64"])
    error = capsys.readouterr().err
    assert "--dtype_policy: invalid choice: 'float64'" in error and all(policy in error for policy in DTYPE_POLICIES)
