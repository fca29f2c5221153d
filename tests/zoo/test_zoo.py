"""The zoo: every entry verified and evaluated, the CLI, export, cards, the wheel."""

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
from conftest import REPO_ROOT

import keras_resnetv2
from keras_resnetv2 import zoo
from keras_resnetv2.utils.files import file_digest
from keras_resnetv2.models.flops import count_flops
from keras_resnetv2.weights import manifest
from keras_resnetv2.zoo import cards
from keras_resnetv2.zoo.__main__ import main as zoo_cli
from harness import (
    basic_cifar_macs, basic_v1_bn_parameters, basic_v1_trainable, bottleneck_bn_parameters, bottleneck_cifar_macs,
    bottleneck_v1_trainable, bottleneck_v2_trainable,
)

ENTRIES = zoo.entries()
V2 = "resnet20v2.fashion_mnist"
# Each entry's sizes from the closed forms of tests/harness.py (trainable parameters, BN
# statistics, multiply-adds), never from the builders: an entry of a new architecture
# needs its line here.
CLOSED_FORMS = {
    ("ResNet20", (28, 28, 1)): (basic_v1_trainable(3, channels=1), basic_v1_bn_parameters(3),
                                basic_cifar_macs(3, size=28, channels=1)),
    ("ResNet20V2", (28, 28, 1)): (basic_v1_trainable(3, channels=1), basic_v1_bn_parameters(3),
                                  basic_cifar_macs(3, size=28, channels=1)),
    # The deep-zoo campaign's pair (bench/deep_zoo.py), ready for their export.
    ("ResNet164", (28, 28, 1)): (bottleneck_v1_trainable(18, channels=1),
                                 bottleneck_bn_parameters(18, preactivation=False),
                                 bottleneck_cifar_macs(18, size=28, channels=1)),
    ("ResNet164V2", (28, 28, 1)): (bottleneck_v2_trainable(18, channels=1),
                                   bottleneck_bn_parameters(18, preactivation=True),
                                   bottleneck_cifar_macs(18, size=28, channels=1)),
}


def raises(match):
    return pytest.raises(ValueError, match=re.compile(match, re.S))


@pytest.mark.parametrize("name", list(ENTRIES))
def test_every_entry_file_matches_its_hash_size_parameters_and_flops(name):
    entry = ENTRIES[name]
    path = manifest.entry_folder(entry) / entry["file"]["name"]
    assert file_digest(path) == entry["file"]["sha256"]
    assert os.path.getsize(path) == entry["file"]["size"]
    trainable, statistics, macs = CLOSED_FORMS[entry["builder"], tuple(entry["input_shape"])]
    assert entry["parameters"] == {"total": trainable + statistics, "trainable": trainable}
    assert entry["flops"] == 2 * macs
    model = keras_resnetv2.build(entry["builder"], weights=entry["tag"])
    assert model.count_params() == entry["parameters"]["total"]
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == entry["parameters"]["trainable"]
    assert count_flops(model) == entry["flops"]
    assert model.input_shape[1:] == tuple(entry["input_shape"]) and model.output_shape[-1] == entry["classes"]


def _check_accuracy(name, capsys):
    assert zoo_cli(["evaluate", name]) == 0
    assert re.search(rf"OK  {re.escape(name)}: test accuracy [\d.]+% on 10,000 raw images", capsys.readouterr().out)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ENTRIES))
def test_every_entry_reproduces_its_test_accuracy_on_all_10000_images(name, fashion_mnist_dir, capsys):
    """`zoo evaluate` on the full test set; the default tier checks 2,000 raw images of
    every entry (tests/zoo/test_raw_pixels.py)."""
    _check_accuracy(name, capsys)


def test_the_bare_net_of_a_zoo_tag_classifies_images_preprocessed_by_hand(fashion_mnist_dir):
    from keras_resnetv2 import data

    model = keras_resnetv2.ResNet20V2(weights="fashion_mnist", include_preprocessing=False)
    images, labels = data.load("fashion_mnist").test
    x = keras_resnetv2.preprocess_input(images.astype("float32"), mode="standardize", dataset="fashion_mnist")
    predicted = np.argmax(model.predict(x, batch_size=500, verbose=0), axis=-1)
    accuracy = float(np.mean(predicted == labels))
    assert abs(accuracy - ENTRIES[V2]["metrics"]["test_accuracy"]) <= 0.001
    top = keras_resnetv2.decode_predictions(model.predict(x[:1], verbose=0), top=1, dataset="fashion_mnist")
    assert top[0][0][0] == ENTRIES[V2]["label_names"][predicted[0]]


def test_a_zoo_tag_without_the_top_takes_the_entry_channels_and_its_weights():
    model = keras_resnetv2.ResNet20V2(weights="fashion_mnist", include_top=False, pooling="avg")
    assert model.input_shape == (None, None, None, 1) and model.output_shape == (None, 64)
    full = keras_resnetv2.ResNet20V2(weights="fashion_mnist")
    layers = [layer for layer in model.layers if layer.weights]
    assert len(layers) == len([layer for layer in full.layers if layer.weights]) - 1  # all but `predictions`
    for layer in layers:
        for ours, theirs in zip(layer.get_weights(), full.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(ours, theirs)
    images = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1)).astype("float32")
    pooled = keras.Model(full.inputs, full.get_layer("avg_pool").output)
    np.testing.assert_allclose(model.predict(images, verbose=0), pooled.predict(images, verbose=0), atol=1e-5)


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


@pytest.mark.slow  # a full ResNet-20V2 trained, then evaluated twice on the 10k test images
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
    assert entry["inference"]["images_per_second"] > 0 and entry["inference"]["batch_size"] == 128
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

    # A warm restart from the first run's weights: its entry records them and shows both runs.
    weights = tmp_path / "run" / "model.weights.h5"
    result = subprocess.run(args + ["--epochs=1", "--train_subset=256", f"--model_dir={tmp_path / 'restart'}",
                                    f"--init_weights={weights}", "--zoo_tag=restart"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    restart = manifest.get_entry("resnet20v2.restart", tmp_path / "zoo")
    start = restart["training"]["init_weights"]
    assert start == {"weights": str(weights), "sha256": file_digest(weights), "command": entry["command"], "epochs": 1,
                     "schedule": entry["training"]["schedule"]}
    folder = manifest.entry_folder(restart, tmp_path / "zoo")
    history = (folder / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history] == ["epoch", "1", "2"]  # both runs' epochs
    assert restart["training"]["epoch_time_s_total"] > entry["training"]["epoch_time_s_total"]


UNEXPORTABLE = [
    (["--zoo_tag=Fashion-MNIST"], r"A zoo tag is lower-case.*zoo_tag='Fashion-MNIST'|tag='Fashion-MNIST'"),
    (["--zoo_tag=smoke", '--spec_options={"stage_widths": [16, 32, 128]}'], r"trains a modified ResNet20V2 \(stage_widths=\[16, 32, 128\]; "
     r"the named net has stage_widths=\[16, 32, 64\]\).*Received: zoo_tag="),
    (["--zoo_tag=smoke", "--tune=random"], r"--zoo_tag exports one training, not a search"),
]


def test_train_py_refuses_an_unexportable_run_before_training(tiny_train_args, train_py_refusals, tmp_path):
    args = [a for a in tiny_train_args[2:] if not a.startswith("--spec_options")]
    cases = [args + [f"--model_dir={tmp_path / f'run{i}'}"] + extra for i, (extra, _) in enumerate(UNEXPORTABLE)]
    results = train_py_refusals(cases, KERAS_RESNETV2_ZOO_DIR=str(tmp_path / "zoo"))
    for i, ((extra, match), result) in enumerate(zip(UNEXPORTABLE, results)):
        assert result["returncode"] == 1 and re.search(match, result["stderr"]), (extra, result["stderr"][-2000:])
        assert not (tmp_path / f"run{i}" / "log.csv").exists()


def test_the_recorded_command_is_portable_and_names_its_precision():
    from keras_resnetv2.zoo.export import _command

    campaign = ["/usr/bin/python3.11", "/work/campaign/train.py", "--model=ResNet164V2", "--spec_options={\"a\": 1}",
                "--model_dir=/work/main/runs/deep_zoo/resnet164v2/", "--precision=float32"]
    assert _command(campaign, "float32") == ("python train.py --model=ResNet164V2 '--spec_options={\"a\": 1}' "
                                             "--model_dir=runs/deep_zoo/resnet164v2 --precision=float32")
    installed = ["python", "/venv/lib/site-packages/keras_resnetv2/train.py", "--model_dir=runs/mine"]
    assert _command(installed, "float32") == (  # relative: kept; `auto`'s pick made explicit
        "python -m keras_resnetv2.train --model_dir=runs/mine --precision=float32")
    assert _command(["python", "train.py", "--model_dir=/tmp/a/b"], "mixed_bfloat16") == (
        "python train.py --model_dir=runs/b --precision=mixed_bfloat16")


def test_the_export_names_what_a_modified_run_changes():
    from keras_resnetv2.zoo.export import check_exportable

    spec = keras_resnetv2.get_variant("ResNet20V2").spec().replace(stage_units=(9, 9, 9)).to_dict()  # depth 56
    with raises(r"runs/r56 trains a modified ResNet20V2 \(stage_units=\[9, 9, 9\]; the named net has "
                r"stage_units=\[3, 3, 3\]\).*Received: run_dirs='runs/r56'"):
        check_exportable("ResNet20V2", spec, "fashion_mnist", source="runs/r56", argument="run_dirs", received="runs/r56")


def test_the_export_refuses_an_unfinished_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    with raises(r"is not a finished train.py run: \['metrics.json', 'model.weights.h5'\] missing"):
        from keras_resnetv2.zoo.export import export_runs

        export_runs([str(run)], "smoke", zoo_folder=tmp_path / "zoo")


def test_the_card_of_a_warm_restart_shows_both_runs():
    """An entry whose run started from a 40-epoch run's weights (`train.py --init_weights`)."""
    name = "resnet164v2.fashion_mnist"  # trained under a cosine schedule, which has a peak
    entry = json.loads(json.dumps(ENTRIES[name]))
    entry["training"]["init_weights"] = {"weights": "runs/first/model.weights.h5", "sha256": "ab" * 32,
                                         "command": "python train.py --first", "epochs": 40,
                                         "schedule": {"type": "linear_warmup_cosine", "peak": 0.5}}
    epochs, peak = entry["metrics"]["epochs"], entry["training"]["schedule"]["peak"]
    evaluation = json.loads((manifest.entry_folder(entry) / "evaluation.json").read_text())
    card = cards.model_card(entry, evaluation)
    assert f"| epochs | {epochs}, after the 40 of the run whose final weights it starts from ({40 + epochs} in all) |" in card
    assert f"    python train.py --first\n    {entry['metrics']['runs'][0]['command']}\n" in card
    assert f"SHA-256 `{'ab' * 32}`" in card and "One command" not in card
    assert f"Two runs: the final weights of a 40-epoch run (its command under Reproduce), then {epochs} epochs of a second schedule from them (peak {peak:g}; the first run's 0.5)" in card
    assert f"iterations ({40 + epochs} epochs of batch" in card
    assert f"| {40} + {epochs} |" in cards.readme_table({name: entry})
    assert f"| {ENTRIES[V2]['metrics']['epochs']} |" in cards.readme_table({V2: ENTRIES[V2]})  # one run: its own


def test_a_warm_restarts_history_follows_its_first_runs():
    from keras_resnetv2.zoo.export import _whole_history

    first = [{"epoch": 1, "accuracy": 0.5}, {"epoch": 2, "accuracy": 0.6}]
    second = [{"epoch": 1, "accuracy": 0.55}]
    assert _whole_history(second, {"history": first}) == first + [{"epoch": 3, "accuracy": 0.55}]
    assert _whole_history(second, {}) == second


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
    assert "keras_resnetv2/weights/bundled/manifest.json" in names
    for name, entry in ENTRIES.items():
        assert f"keras_resnetv2/weights/bundled/{name}/{entry['file']['name']}" in names
        assert f"keras_resnetv2/weights/bundled/{name}/README.md" in names


@pytest.mark.parametrize("name", list(ENTRIES))
def test_every_cards_usage_snippet_runs_and_decodes_the_entrys_labels(name):
    entry = ENTRIES[name]
    card = (manifest.entry_folder(entry) / "README.md").read_text()
    snippet = re.search(r"## Use\n\n```python\n(.*?)```", card, re.S).group(1)
    *statements, last = snippet.strip().splitlines()
    namespace = {}
    exec(compile("\n".join(statements), f"{name} card", "exec"), namespace)
    assert namespace["model"].name == entry["architecture"]
    top = eval(compile(last, f"{name} card", "eval"), namespace)
    assert len(top) == 1 and len(top[0]) == 3
    assert all(label in entry["label_names"] for label, _, _ in top[0])
