"""keras_resnetv2.training and train.py: config, recipes, the run and its artifacts."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import keras
import numpy as np
import pytest

import keras_resnetv2
from keras_resnetv2 import training
from keras_resnetv2.training import TrainConfig, artifacts, backup, distribution, recipes
from keras_resnetv2.utils.files import file_digest

from conftest import REPO_ROOT, TINY_SPEC_OPTIONS

ARTIFACTS = ("model.weights.h5", "config.json", "metrics.json", "curves.png", "log.csv", "tensorboard")


# ---------------------------------------------------------------------------
# TrainConfig.


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("model", "ResNet21V2", "`model` must be one of ["),
        ("dataset", "mnist", "`dataset` must be one of ['fashion_mnist', 'cifar10'"),
        ("recipe", "cosine", "`recipe` must be one of ['paper', 'budget']"),
        ("distribution", "horovod", "`distribution` must be one of ['auto', 'mirrored', 'one_device'"),
        ("precision", "float16", "`precision` must be one of ['auto', 'float32', 'mixed_float16', 'mixed_bfloat16']"),
        ("order", "preact", "`order` must be one of ['original'"),
        ("shortcut", "gated", "`shortcut` must be one of ['identity'"),
        ("epochs", 0, "`epochs` must be an integer >= 1 or None."),
        ("batch_size", 12.5, "`batch_size` must be an integer >= 1 or None."),
        ("learning_rate", 0.0, "`learning_rate` must be a number in (0, inf)."),
        ("weight_decay", -1e-4, "`weight_decay` must be a number in [0, inf)."),
        ("momentum", 1.0, "`momentum` must be a number in [0, 1)."),
        ("validation_split", 1.0, "`validation_split` must be a number in [0, 1)."),
        ("warmup_steps", -1, "`warmup_steps` must be an integer >= 0 or None."),
        ("steps_per_execution", 0, "`steps_per_execution` must be an integer >= 1."),
        ("seed", -3, "`seed` must be an integer >= 0."),
        ("jit_compile", "yes", "`jit_compile` must be True or False."),
        ("verbose", 3, "`verbose` must be one of ['auto', 0, 1, 2]"),
        ("init_weights", "fashion_mnst", "`init_weights` must be the path to an existing weights file or one of "
                                         "['fashion_mnist'] (the named weights of ResNet20V2)."),
    ],
)
def test_config_rejects_bad_values(field, value, expected):
    with pytest.raises(ValueError) as e:
        TrainConfig(**{field: value})
    message = str(e.value)
    assert expected in message
    assert message.endswith(f"Received: {field}={value!r}")


def test_config_rejects_contradictions():
    with pytest.raises(ValueError, match=r"Nesterov momentum .* needs `momentum` > 0.*Received: nesterov=True"):
        TrainConfig(momentum=0.0, nesterov=True)
    with pytest.raises(ValueError, match=r"--nonesterov.*Received: nesterov=True"):
        TrainConfig(recipe="budget", momentum=0.0).resolved()
    with pytest.raises(ValueError, match=r"`order` is given twice.*Received: spec_options="):
        TrainConfig(order="original", spec_options={"order": "full_preactivation"})
    with pytest.raises(ValueError, match=r"Did you mean 'stage_widths'\?.*='widths'"):
        TrainConfig(spec_options={"widths": [1, 2, 3]})
    with pytest.raises(ValueError, match=r"dataset='folder' reads its images from `data_dir`.*Received: data_dir=None$"):
        TrainConfig(dataset="folder")
    TrainConfig(momentum=0.0, nesterov=False, recipe="budget").resolved()  # consistent


def test_config_round_trip_and_recipe_defaults():
    config = TrainConfig(model="resnet56v2", recipe="paper", learning_rate=0.05, spec_options=TINY_SPEC_OPTIONS)
    assert config.model == "ResNet56V2"  # canonical name
    assert config.model_dir == os.path.join("runs", "resnet56v2_fashion_mnist")
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    resolved = config.resolved()
    assert resolved.learning_rate == 0.05  # an override wins
    assert (resolved.epochs, resolved.batch_size, resolved.momentum, resolved.weight_decay) == (164, 128, 0.9, 1e-4)
    assert (resolved.warmup_steps, resolved.nesterov) == (400, False)
    budget = TrainConfig().resolved()
    assert (budget.epochs, budget.nesterov) == (training.BUDGET_EPOCHS, True)
    with pytest.raises(ValueError, match=r"Received: TrainConfig field='lr'"):
        TrainConfig.from_dict({"lr": 0.1})


# ---------------------------------------------------------------------------
# Recipes.


def _rates(schedule, steps):
    return [float(schedule(step)) for step in steps]


def test_paper_schedule_warmup_and_steps():
    config = TrainConfig(recipe="paper").resolved()
    schedule, description = recipes.learning_rate_schedule(config, 64000)
    assert description["boundaries"] == [400, 32000, 48000]
    np.testing.assert_allclose(
        _rates(schedule, [0, 399, 401, 31999, 32001, 47999, 48001, 63999]),
        [0.01, 0.01, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001],
        rtol=1e-6,
    )
    # Linear scaling with the global batch, warm-up rate included.
    doubled, _ = recipes.learning_rate_schedule(TrainConfig(recipe="paper", batch_size=256).resolved(), 32000)
    np.testing.assert_allclose(_rates(doubled, [0, 1000, 16001, 24001]), [0.02, 0.2, 0.02, 0.002], rtol=1e-6)


def test_budget_schedule_warmup_then_cosine():
    config = TrainConfig(recipe="budget", warmup_steps=100).resolved()
    schedule, _ = recipes.learning_rate_schedule(config, 1100)
    start, mid_warmup, peak, middle, end = _rates(schedule, [0, 50, 100, 600, 1100])
    assert start == 0.0 and mid_warmup == pytest.approx(0.05) and peak == pytest.approx(0.1)
    assert middle == pytest.approx(0.05, rel=1e-4) and end == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match=r"less than the run's 1100 training steps.*Received: warmup_steps=1100"):
        recipes.learning_rate_schedule(TrainConfig(warmup_steps=1100).resolved(), 1100)


def test_weight_decay_is_a_coupled_l2_penalty_on_kernels():
    config = TrainConfig(spec_options=TINY_SPEC_OPTIONS, weight_decay=1e-3).resolved()
    info = keras_resnetv2.data.get_info("fashion_mnist")
    model = training.build_model(config, info)
    kernels = [w for w in model.trainable_weights if w.path.endswith("kernel")]
    assert kernels and all("gamma" not in w.path for w in kernels)
    expected = sum(0.5e-3 * float(np.sum(np.square(w.numpy()))) for w in kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)
    assert not any(w.path.endswith(("gamma", "beta")) and getattr(w, "regularizer", None) for w in model.weights)


def test_global_batch_must_split_across_replicas():
    distribution.check_global_batch(128, 2)
    with pytest.raises(ValueError, match=r"divisible by the 3 replicas.*Received: batch_size=128"):
        distribution.check_global_batch(128, 3)


# ---------------------------------------------------------------------------
# Files.


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    path = tmp_path / "metrics.json"
    artifacts.atomic_write_text(str(path), "one")
    artifacts.atomic_write_text(str(path), "two")
    assert path.read_text() == "two" and os.listdir(tmp_path) == ["metrics.json"]


def test_truncate_csv_log_keeps_completed_epochs(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\n0,2.0\n1,1.5\n2,1.2\n")
    artifacts.truncate_csv_log(str(path), 2)
    assert path.read_text() == "epoch,loss\n0,2.0\n1,1.5\n"
    artifacts.truncate_csv_log(str(path), 0)
    assert not path.exists()


def test_unwritable_model_dir_fails_before_loading_data(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")

    def fail_load(*args, **kwargs):
        raise AssertionError("data loaded before model_dir was checked")

    monkeypatch.setattr(keras_resnetv2.data, "load", fail_load)
    model_dir = str(blocker / "run")
    with pytest.raises(ValueError) as e:
        training.run(TrainConfig(model_dir=model_dir, distribution="one_device"))
    assert "`model_dir` is not a writable folder" in str(e.value)
    assert str(e.value).endswith(f"Received: model_dir={model_dir!r}")


def test_diverging_loss_stops_with_the_last_good_backup(tmp_path):
    """StopOnNaN raises; EpochBackup keeps the last finite epoch's state."""
    backup_dir = str(tmp_path / "backup")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    history = []
    callbacks = [
        backup.StopOnNaN(backup_dir, 0.1),
        backup.EpochBackup(backup_dir, history=history, identity={"seed": 0}),
    ]
    x = np.ones((8, 2), np.float32)
    model.fit(x, np.ones((8, 1)), epochs=1, batch_size=4, callbacks=callbacks, verbose=0)
    with pytest.raises(training.TrainingDiverged) as e:
        model.fit(x, np.full((8, 1), np.nan), epochs=3, initial_epoch=1, batch_size=4, callbacks=callbacks, verbose=0)
    assert "the loss is nan at epoch 2, step 1" in str(e.value)
    assert f"The last good backup (epoch 1) is kept in {backup_dir}" in str(e.value)
    assert str(e.value).endswith("Received: learning_rate=0.1")
    assert backup.read_backup_state(backup_dir)["epoch"] == 1
    assert sorted(os.listdir(backup_dir)) == ["epoch-0001.weights.h5", "state.json"]
    assert [h["epoch"] for h in history] == [1]


# ---------------------------------------------------------------------------
# Whole runs.


def _tiny_config(model_dir, **overrides):
    fields = dict(
        model="ResNet20V2", spec_options=TINY_SPEC_OPTIONS, train_subset=256, batch_size=32,
        epochs=1, warmup_steps=2, model_dir=str(model_dir), verbose=0, distribution="one_device",
    )
    fields.update(overrides)
    return TrainConfig(**fields)


def test_one_epoch_run_writes_every_artifact(fashion_mnist_dir, tmp_path, capsys):
    model_dir = tmp_path / "run"
    result = training.run(_tiny_config(model_dir, validation_split=0.05), command=["train.py", "--test"])
    assert sorted(os.listdir(model_dir)) == sorted(ARTIFACTS)  # no backup, no temporary file
    out = capsys.readouterr().out
    assert f"test accuracy: {result.test_accuracy:.4f} (1 epochs, " in out and out.rstrip().endswith(f"-> {model_dir}")

    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["resumed_from_epoch"] == 0
    accuracy = metrics["test"]["accuracy"]
    assert 0.0 <= accuracy <= 1.0 and accuracy * 10000 == pytest.approx(round(accuracy * 10000), abs=1e-2)
    assert metrics["test"]["loss"] > 0 and np.isfinite(metrics["test"]["loss"])
    assert metrics["test"]["accuracy"] == pytest.approx(result.test_accuracy)
    (record,) = metrics["history"]
    assert record["epoch"] == 1
    assert {"loss", "accuracy", "cross_entropy", "val_loss", "val_accuracy"} <= set(record)
    assert record["loss"] > record["cross_entropy"] > 0  # the penalty is in `loss` only
    assert 0 < record["epoch_time_s"] < result.wall_time

    config = json.loads((model_dir / "config.json").read_text())
    spec = keras_resnetv2.get_variant("ResNet20V2").spec(**TINY_SPEC_OPTIONS)
    assert config["spec"] == spec.to_dict()
    assert config["train_config"]["epochs"] == 1 and config["train_config"]["momentum"] == 0.9
    assert config["dataset"]["checksums_sha256"] == keras_resnetv2.data.FASHION_MNIST_SHA256
    assert config["dataset"]["train_examples"] == 256 and config["steps_per_epoch"] == 8
    assert config["versions"]["keras"] == keras.__version__ and config["command"] == ["train.py", "--test"]

    # The weights load into the plain builder and reproduce the test accuracy.
    model = keras_resnetv2.build("ResNet20V2", input_shape=(28, 28, 1), classes=10, weights=None, **TINY_SPEC_OPTIONS)
    model.load_weights(str(model_dir / "model.weights.h5"))
    with h5py.File(model_dir / "model.weights.h5") as f:
        assert "optimizer" not in f
    dataset = keras_resnetv2.data.load("fashion_mnist")
    x = ((dataset.test[0][:2000] / 255.0 - config["dataset"]["mean"][0]) / config["dataset"]["std"][0]).astype("float32")
    predictions = model.predict(x, batch_size=500, verbose=0)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)  # softmax top
    assert (model_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((model_dir / "log.csv").read_text().splitlines()) == 2


def test_init_weights_start_a_run_from_a_runs_file_and_record_it(fashion_mnist_dir, tmp_path):
    first = training.run(_tiny_config(tmp_path / "first"), command=["train.py", "--first"])
    path = str(tmp_path / "first" / "model.weights.h5")
    config = _tiny_config(tmp_path / "second", init_weights=path, seed=3)
    info = keras_resnetv2.data.load("fashion_mnist").info
    started = training.build_model(config.resolved(), info)
    for ours, trained in zip(started.get_weights(), first.model.get_weights()):  # not the seed's initialization
        np.testing.assert_array_equal(ours, trained)

    training.run(config, command=["train.py", "--second"])
    record = json.loads((tmp_path / "second" / "config.json").read_text())["init_weights"]
    first_metrics = json.loads((tmp_path / "first" / "metrics.json").read_text())
    first_config = json.loads((tmp_path / "first" / "config.json").read_text())
    assert record == {"weights": path, "sha256": file_digest(path), "command": ["train.py", "--first"],
                      "precision": first_config["train_config"]["precision"], "schedule": first_config["schedule"],
                      "epochs": 1, "history": first_metrics["history"]}

    other = _tiny_config(tmp_path / "third", init_weights=path, spec_options={**TINY_SPEC_OPTIONS, "stage_widths": [4, 8, 32]})
    with pytest.raises(ValueError, match=r"The weights file .* does not fit the architecture of 'resnet20v2'.*"
                                         rf"Received: init_weights='{re.escape(path)}'$"):
        training.build_model(other.resolved(), info)


def test_init_weights_take_a_zoo_tag_verified_by_its_hash():
    config = TrainConfig(model="ResNet20V2", init_weights="fashion_mnist")
    entry = keras_resnetv2.weights.manifest.get_entry("resnet20v2.fashion_mnist")
    assert config.init_weights_file() == str(
        keras_resnetv2.weights.manifest.entry_folder(entry) / entry["file"]["name"])
    model = training.build_model(config.resolved(), keras_resnetv2.data.load("fashion_mnist").info)
    zoo = keras_resnetv2.ResNet20V2(weights="fashion_mnist", include_preprocessing=False, classifier_activation=None)
    for ours, theirs in zip(model.get_weights(), zoo.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def _write_two_class_folder(folder, *, count):
    """`count` 12x12 RGB PNGs per class: dark noise ("circle") and bright noise ("square")."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(["circle", "square"]):
        (folder / name).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 100, (12, 12, 3)) + 100 * label
            Image.fromarray(pixels.astype(np.uint8)).save(folder / name / f"{i}.png")


def test_run_on_a_folder_of_images(tmp_path):
    """A user's own images: label names and shape from the folder, in config.json."""
    _write_two_class_folder(tmp_path / "images", count=20)
    model_dir = tmp_path / "run"
    result = training.run(_tiny_config(
        model_dir, dataset="folder", data_dir=str(tmp_path / "images"), train_subset=None, batch_size=8,
    ))
    assert result.epochs == 1 and 0.0 <= result.test_accuracy <= 1.0
    config = json.loads((model_dir / "config.json").read_text())
    assert config["dataset"]["label_names"] == ["circle", "square"] and config["input_shape"] == [12, 12, 3]
    assert config["dataset"]["train_examples"] == 32 and config["dataset"]["test_examples"] == 8
    assert list(config["dataset"]["checksums_sha256"]) == ["folder"]
    assert result.model.output_shape == (None, 2)


def test_resume_refuses_a_backup_of_another_run(fashion_mnist_dir, tmp_path):
    backup_dir = tmp_path / "run" / "backup"
    backup_dir.mkdir(parents=True)
    other = backup.identity_of(_tiny_config(tmp_path / "run", seed=5).resolved())
    (backup_dir / "state.json").write_text(json.dumps({"epoch": 1, "weights": "x", "history": [], "config": other}))
    with pytest.raises(ValueError, match=r"different config \(seed: 5 -> 0\).*--model_dir"):
        training.run(_tiny_config(tmp_path / "run"))


def test_a_resumed_run_keeps_its_backups_precision(fashion_mnist_dir, tmp_path, capsys):
    """`precision="auto"` adopts the backup's (the refusal names only the seed), and says so."""
    backup_dir = tmp_path / "run" / "backup"
    backup_dir.mkdir(parents=True)
    other = backup.identity_of(_tiny_config(tmp_path / "run", seed=5, precision="mixed_float16").resolved())
    (backup_dir / "state.json").write_text(json.dumps({"epoch": 1, "weights": "x", "history": [], "config": other}))
    with pytest.raises(ValueError, match=r"different config \(seed: 5 -> 0\)\."):
        training.run(_tiny_config(tmp_path / "run"))
    assert "Precision: mixed_float16 (--precision=auto: the backup's precision)" in capsys.readouterr().out


def _wait_for(predicate, process, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return False


@pytest.mark.slow  # kills a training process and restarts it
def test_killed_run_resumes_with_the_right_epoch_count(tiny_train_args, subprocess_env, tmp_path):
    model_dir = tmp_path / "run"
    state = model_dir / "backup" / "state.json"
    command = tiny_train_args + [f"--model_dir={model_dir}", "--epochs=5", "--train_subset=2048"]
    first = subprocess.Popen(command, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert _wait_for(state.exists, first, timeout=120), first.communicate()[0].decode()[-3000:]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL
    killed_at = json.loads(state.read_text())["epoch"]
    assert 1 <= killed_at < 5
    assert not (model_dir / "metrics.json").exists()

    second = subprocess.run(command, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"Resuming from the backup of epoch {killed_at}/5 in {model_dir / 'backup'}" in second.stdout
    assert f"Epoch {killed_at + 1}/5" in second.stdout and f"Epoch {killed_at}/5" not in second.stdout
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 5 and metrics["resumed_from_epoch"] == killed_at
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3, 4, 5]
    rows = (model_dir / "log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2", "3", "4"]
    assert sorted(os.listdir(model_dir)) == sorted(ARTIFACTS)


def test_nan_loss_exits_nonzero_with_a_clear_message(tiny_train_args, subprocess_env, tmp_path):
    command = tiny_train_args + [
        f"--model_dir={tmp_path / 'run'}", "--epochs=2", "--train_subset=256", "--learning_rate=1e12",
    ]
    result = subprocess.run(command, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    # NaN or an infinity, whichever the diverging float32 arithmetic reaches first.
    assert re.search(r"train.py: error: Training diverged: the loss is (nan|-?inf) at epoch 1", result.stderr)
    assert "Received: learning_rate=1000000000000.0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_bad_flags_fail_with_choices(tiny_train_args, train_py_refusals, tmp_path):
    """And without KerasTuner installed: train.py imports, and `--tune` says what to install."""
    bad_dataset, bad_options, no_tuner = train_py_refusals([
        tiny_train_args[2:] + ["--dataset=mnist", f"--model_dir={tmp_path}"],
        tiny_train_args[2:] + ["--spec_options=[1]", f"--model_dir={tmp_path}"],
        tiny_train_args[2:] + ["--tune=random", f"--model_dir={tmp_path}"],
    ], BLOCKED_MODULES="keras_tuner")
    assert no_tuner["returncode"] == 1
    assert ("--tune runs a KerasTuner search, and KerasTuner is not installed" in no_tuner["stderr"]
            and "`pip install keras-resnetv2[tune]`" in no_tuner["stderr"]), no_tuner["stderr"][-2000:]
    assert bad_dataset["returncode"] == 1
    assert ("flag --dataset=mnist: value should be one of <fashion_mnist|cifar10|cifar100|imagenet2012|folder>"
            in bad_dataset["stderr"])
    assert bad_options["returncode"] == 1
    assert ("train.py: error: `--spec_options` must be a JSON object. Received: spec_options='[1]'"
            in bad_options["stderr"])


JAX_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import keras
    from keras_resnetv2 import training
    spec_options, data_dir, root, distributions = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    out = {"backend": keras.backend.backend()}
    for distribution in distributions:
        config = training.TrainConfig(
            dataset="folder", data_dir=data_dir, spec_options=spec_options, batch_size=8, epochs=1,
            warmup_steps=1, model_dir=f"{root}/{distribution}", distribution=distribution, verbose=0,
        )
        result = training.run(config)
        out[distribution] = [h["loss"] for h in result.history] + [result.test_loss]
    print("RESULT " + json.dumps(out))
    """
)


def _run_under_jax(tmp_path, env, distributions):
    """Runs `JAX_SCRIPT` on a folder of tiny images, two CPU devices; returns the losses."""
    pytest.importorskip("jax")
    _write_two_class_folder(tmp_path / "images", count=16)
    env = dict(env, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT, json.dumps(TINY_SPEC_OPTIONS), str(tmp_path / "images"), str(tmp_path),
         *distributions],
        env=env, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.split("RESULT ")[1])
    assert out.pop("backend") == "jax"
    return out


@pytest.mark.slow  # two JAX processes (one per device count)
def test_jax_data_parallel_runs_and_matches_one_device(subprocess_env, tmp_path):
    """KERAS_BACKEND=jax: `mirrored` is keras.distribution.DataParallel over two CPU devices,
    whose sharded step computes BN over the global batch: the losses of one device."""
    out = _run_under_jax(tmp_path, subprocess_env, ["one_device", "mirrored"])
    np.testing.assert_allclose(out["mirrored"], out["one_device"], rtol=1e-5)
    config = json.loads((tmp_path / "mirrored" / "config.json").read_text())
    assert config["distribution"] == {"name": "mirrored", "strategy": None, "replicas": 2}
    assert config["versions"]["keras_backend"] == "jax"
    assert sorted(os.listdir(tmp_path / "mirrored")) == sorted(ARTIFACTS)


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
    )
    tf.config.experimental.enable_op_determinism()
    from keras_resnetv2 import training
    spec_options, root = json.loads(sys.argv[1]), sys.argv[2]
    out = {}
    for distribution in ("one_device", "mirrored"):
        config = training.TrainConfig(
            spec_options=spec_options, train_subset=64, batch_size=32, epochs=2, warmup_steps=1,
            model_dir=f"{root}/{distribution}", distribution=distribution, verbose=0,
            weight_decay=1e-3, augment=True, precision="float32",  # float32 noise, on any CPU
        )
        result = training.run(config)
        out[distribution] = [h["loss"] for h in result.history]
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.slow  # two training processes (one per device count)
def test_mirrored_over_two_cpus_matches_one_device(fashion_mnist_dir, subprocess_env, tmp_path):
    """Sync BN + the loss scaling of tf.distribute: 2 replicas of 16 == 1 device of 32.

    Four steps, weight decay included. The tolerance is float noise: synchronized BN
    computes the variance in one pass (E[x^2] - E[x]^2), and Fashion-MNIST's constant
    backgrounds make near-constant channels where summing 16+16 instead of 32 changes
    the rounding (measured: ~1e-4 absolute on the weights after 2-4 steps; a model
    without BN, or random images, match to 5e-7).
    """
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, json.dumps(TINY_SPEC_OPTIONS), str(tmp_path)],
        env=subprocess_env, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    losses = json.loads(result.stdout.split("RESULT ")[1])
    np.testing.assert_allclose(losses["mirrored"], losses["one_device"], rtol=2e-4)
    config = json.loads((tmp_path / "mirrored" / "config.json").read_text())
    assert config["distribution"] == {"name": "mirrored", "strategy": "MirroredStrategy", "replicas": 2}
    with h5py.File(tmp_path / "one_device" / "model.weights.h5") as a, h5py.File(tmp_path / "mirrored" / "model.weights.h5") as b:
        names = []
        a.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        assert len(names) > 20
        for name in names:
            np.testing.assert_allclose(b[name][()], a[name][()], rtol=1e-3, atol=1e-3, err_msg=name)


def test_depth_override_keeps_the_family_block_and_layout():
    config = TrainConfig(model="ResNet20V2", depth=56, shortcut="exclusive_gating")
    spec = config.architecture()
    assert spec.depth == 56 and spec.stage_units == (9, 9, 9) and spec.block == "basic"
    assert spec.order == "full_preactivation" and spec.shortcut == "exclusive_gating"
    assert spec.projection == "zero_pad"  # the paper layout of the basic CIFAR nets
    with pytest.raises(ValueError, match=r"6n\+2.*Received: depth=57"):
        TrainConfig(model="ResNet20V2", depth=57)
    with pytest.raises(ValueError, match=r"cannot be combined with \['depth'\].*Received: spec="):
        TrainConfig(model="ResNet20V2", depth=56, spec=spec.to_dict())


def test_a_backup_of_an_older_version_resumes_under_the_fields_added_since():
    """A backup written before `label_smoothing` existed, and while `model_dir` was still
    part of a run's identity (the deep-zoo campaign's), matches the same run today."""
    from keras_resnetv2.training.backup import changed_fields, identity_of

    identity = identity_of(TrainConfig(model_dir="runs/here").resolved())
    older = {k: v for k, v in identity.items() if k != "label_smoothing"}
    older["model_dir"] = "/elsewhere/runs/there"
    assert changed_fields(identity, older) == []
    assert changed_fields(identity, dict(older, label_smoothing=0.1)) == ["label_smoothing"]
    assert changed_fields(identity, dict(older, epochs=identity["epochs"] + 1)) == ["epochs"]
