"""KerasTuner searches end to end: report, retraining, failures, resume, distribution."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import keras_tuner
import pytest
from conftest import REPO_ROOT

from keras_resnetv2 import data
from keras_resnetv2._compat import keras_tuner as tuner_compat
from keras_resnetv2.paper.ablations import ABLATIONS
from keras_resnetv2.tuning import hypermodel as tuning_hypermodel
from keras_resnetv2.tuning import search as tuning_search
from keras_resnetv2.training import TrainConfig
from keras_resnetv2.training import runner

# Basic depth-8 nets at a quarter of the width (stem 4, stages 4/8/16).
TINY_SPACE = {"block": "basic", "depth_basic": 8, "width_multiplier": 0.25, "warmup_steps": 2}


def tiny_config(tmp_path, **overrides):
    fields = dict(
        model="ResNet20V2", train_subset=192, validation_split=0.05, epochs=1, batch_size=32,
        verbose=0, model_dir=str(tmp_path / "unused"),
    )
    fields.update(overrides)
    return TrainConfig(**fields)


def read_trials(tune_dir):
    """trial id -> trial.json content, as KerasTuner saved them."""
    folder = os.path.join(tune_dir, "search")
    trials = {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name, "trial.json")
        if name.startswith("trial_") and os.path.exists(path):
            with open(path) as file:
                trials[name] = json.load(file)
    return trials


def test_small_search_writes_its_report_and_the_best_spec_retrains(fashion_mnist_dir, tmp_path, capsys):
    tune = tuning_search.TuneConfig(
        tuner="random", tune_dir=str(tmp_path / "tune"), max_trials=2,
        space=dict(TINY_SPACE, order=["full_preactivation", "original"], shortcut=["identity", "exclusive_gating"]),
    )
    rows = tuning_search.search(tiny_config(tmp_path), tune)  # the config's verbose=0 (train.py's --verbose) applies
    assert "Epoch 1/1" not in capsys.readouterr().out
    assert [r["status"] for r in rows] == ["COMPLETED"] * 2
    assert sorted(r["trial"] for r in rows) == ["0", "1"]
    assert all(0.0 <= r["val_accuracy"] <= 1.0 and r["epochs"] == 1 and r["seconds"] > 0 for r in rows)
    assert [r["val_accuracy"] for r in rows] == sorted((r["val_accuracy"] for r in rows), reverse=True)
    for name in ("trials.md", "trials.csv", "trials.png", "best.json", "search.json"):
        assert os.path.getsize(tmp_path / "tune" / name) > 0
    table = (tmp_path / "tune" / "trials.md").read_text()
    assert table.count("COMPLETED") == 2 and "val_accuracy" in table

    best = json.loads((tmp_path / "tune" / "best.json").read_text())
    assert best["trial"]["trial"] == rows[0]["trial"]
    assert best["spec"]["order"] == rows[0]["order"] and best["spec"]["shortcut"] == rows[0]["shortcut"]
    retrain = tiny_config(tmp_path, spec=best["spec"], model_dir=str(tmp_path / "retrain"), **best["recipe"])
    result = runner.run(retrain)
    saved = json.loads((tmp_path / "retrain" / "config.json").read_text())
    assert saved["spec"] == best["spec"] and result.epochs == 1


@pytest.mark.slow  # train.py in its own process; the best spec's retraining runs in-process above
def test_best_json_drives_train_py(fashion_mnist_dir, tmp_path, tiny_train_args, subprocess_env):
    spec = tiny_config(tmp_path).architecture().replace(shortcut="shortcut_only_gating", gate_bias=-3.0)
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"spec": spec.to_dict(), "recipe": {"learning_rate": 0.05}}))
    args = [a for a in tiny_train_args if not a.startswith("--spec_options")]
    result = subprocess.run(
        [*args, f"--spec={best}", "--epochs=1", "--train_subset=128", f"--model_dir={tmp_path / 'run'}"],
        capture_output=True, text=True, env=subprocess_env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["spec"] == spec.to_dict()
    assert saved["train_config"]["learning_rate"] == 0.05


def test_diverging_trial_fails_and_the_search_goes_on(fashion_mnist_dir, tmp_path):
    tune = tuning_search.TuneConfig(
        tuner="grid", tune_dir=str(tmp_path / "tune"), max_trials=2,
        space=dict(TINY_SPACE, order="full_preactivation", shortcut="identity", weight_decay=1e-4,
                   learning_rate=[1e12, 0.05]),
    )
    rows = tuning_search.search(tiny_config(tmp_path), tune, verbose=0)
    by_rate = {r["learning_rate"]: r for r in rows}
    assert by_rate[1e12]["status"] == "FAILED" and by_rate[1e12]["val_accuracy"] is None
    assert by_rate[0.05]["status"] == "COMPLETED"
    assert rows[0]["learning_rate"] == 0.05  # failed trials rank last


def test_hopeless_search_stops_with_a_clear_message(fashion_mnist_dir, tmp_path):
    tune = tuning_search.TuneConfig(
        tuner="random", tune_dir=str(tmp_path / "tune"), max_trials=5, max_consecutive_failed_trials=2,
        space=dict(TINY_SPACE, learning_rate=1e12),
    )
    with pytest.raises(tuning_search.SearchFailed, match=r"stopped after 2 failed trials in a row.*trials\.md.*diverged"):
        tuning_search.search(tiny_config(tmp_path), tune, verbose=0)
    assert (tmp_path / "tune" / "trials.md").read_text().count("FAILED") == 2


def test_ablation_grid_enumerates_exactly_the_table_rows_with_seeds(tmp_path):
    """The grid oracle over HyperResNet's ablation space, run at the oracle level: every
    row x seed once, no model trained (the end-to-end grid is the rerun test below)."""
    tune = tuning_search.TuneConfig(tuner="grid", tune_dir=str(tmp_path / "tune"), ablation="table2", seeds=2)
    assert tune.max_trials == 10
    info = data.get_info("fashion_mnist")
    hypermodel = tuning_hypermodel.HyperResNet(tiny_config(tmp_path, model="ResNet20"), info, steps_per_epoch=1,
                                               ablation="table2", seeds=2)
    space = keras_tuner.HyperParameters()
    hypermodel.trial_config(space)
    oracle = tuner_compat.ResumableGridSearchOracle(
        objective=keras_tuner.Objective("val_accuracy", "max"), max_trials=tune.max_trials, hyperparameters=space)
    oracle._set_project_dir(str(tmp_path / "tune"), "search")
    seen = []
    while (trial := oracle.create_trial("tuner0")).status != keras_tuner.engine.trial.TrialStatus.STOPPED:
        config = hypermodel.trial_config(trial.hyperparameters)
        seen.append((trial.hyperparameters.get("row"), config.seed))
        assert config.architecture().order == trial.hyperparameters.get("row")
        oracle.update_trial(trial.trial_id, {"val_accuracy": 0.5})
        trial.status = keras_tuner.engine.trial.TrialStatus.COMPLETED
        oracle.end_trial(trial)
    assert sorted(seen) == sorted((order, seed) for order in ABLATIONS["table2"] for seed in (0, 1))


def test_an_ablation_grid_rerun_goes_on_with_the_rows_left(fashion_mnist_dir, tmp_path):
    """A stopped grid search, rerun with a larger budget, runs only the rows it has not run."""
    config = tiny_config(tmp_path, model="ResNet20", warmup_steps=2,
                         spec_options={"stage_units": [1, 1, 1], "stem_width": 4, "stage_widths": [4, 8, 16]})
    tune = dict(tuner="grid", tune_dir=str(tmp_path / "tune"), ablation="table2", seeds=1)
    tuning_search.search(config, tuning_search.TuneConfig(max_trials=2, **tune), verbose=0)
    before = read_trials(tune["tune_dir"])
    assert [t["hyperparameters"]["values"]["row"] for t in before.values()] == list(ABLATIONS["table2"])[:2]

    rows = tuning_search.search(config, tuning_search.TuneConfig(**tune), verbose=0)  # a new tuner reloads the folder
    after = read_trials(tune["tune_dir"])
    assert [t["hyperparameters"]["values"]["row"] for t in after.values()] == list(ABLATIONS["table2"])
    assert all(after[name] == trial for name, trial in before.items()), "a completed trial must not run again"
    assert sorted(r["row"] for r in rows) == sorted(ABLATIONS["table2"])


def test_a_tune_dir_holding_another_search_is_refused(tmp_path):
    first = tuning_search.TuneConfig(tuner="random", tune_dir=str(tmp_path / "tune"), max_trials=1, space=TINY_SPACE)
    tuning_search._claim_tune_dir(first)  # what a search of `first` writes before its first trial
    tuning_search._claim_tune_dir(first)  # the same search again: a resume, accepted
    other = tuning_search.TuneConfig(tuner="random", tune_dir=str(tmp_path / "tune"), max_trials=1,
                                     space=dict(TINY_SPACE, order="original"))
    with pytest.raises(ValueError, match=r"holds another search.*Received: tune_dir="):
        tuning_search.search(tiny_config(tmp_path), other, verbose=0)  # refused before any trial
    assert not os.path.exists(tmp_path / "tune" / "search")


@pytest.mark.parametrize("kwargs,match", [
    (dict(tuner="evolution"), r"`tuner` must be one of \['random', 'bayesian', 'hyperband', 'grid'\].*tuner='evolution'"),
    (dict(max_trials=0), r"`max_trials` must be an integer >= 1.*max_trials=0"),
    (dict(space={"shortcut": "gate"}), r"`shortcut` values must be within .*Received: shortcut='gate'"),
    (dict(ablation="table3"), r"`ablation` must be one of \['table1', 'table2'\].*ablation='table3'"),
])
def test_bad_tune_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tuning_search.TuneConfig(**kwargs)


def test_search_needs_a_validation_split(tmp_path):
    with pytest.raises(ValueError, match=r"validation split.*Received: validation_split=0.0"):
        tuning_search.search(tiny_config(tmp_path, validation_split=0.0), tuning_search.TuneConfig(tune_dir=str(tmp_path)))


def tune_args(tune_dir, max_trials, epochs):
    return [
        sys.executable, os.path.join(REPO_ROOT, "train.py"), "--tune=random", f"--tune_dir={tune_dir}",
        f"--max_trials={max_trials}", f"--epochs={epochs}", "--train_subset=192", "--validation_split=0.05",
        "--batch_size=32", "--verbose=0", f"--tune_space={json.dumps(TINY_SPACE)}",
    ]


def wait_for(condition, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow  # kills a search process and restarts it
def test_killed_search_resumes_keeping_completed_trials(fashion_mnist_dir, tmp_path, subprocess_env):
    tune_dir = str(tmp_path / "tune")
    args = tune_args(tune_dir, max_trials=2, epochs=2)
    process = subprocess.Popen(args, env=subprocess_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: read_trials(tune_dir).get("trial_0", {}).get("status") == "COMPLETED"
                 and "trial_1" in read_trials(tune_dir), 300, "trial 0 to complete and trial 1 to start")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    before = read_trials(tune_dir)
    assert before["trial_1"]["status"] == "RUNNING"

    result = subprocess.run(args, env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    after = read_trials(tune_dir)
    assert sorted(after) == ["trial_0", "trial_1"]
    assert after["trial_0"] == before["trial_0"], "a completed trial must not run again"
    assert all(t["status"] == "COMPLETED" for t in after.values())
    table = (tmp_path / "tune" / "trials.csv").read_text().splitlines()
    assert len(table) == 1 + 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_distributed_search_survives_a_killed_worker(fashion_mnist_dir, tmp_path, subprocess_env):
    """KerasTuner chief/worker mode on loopback: a chief oracle on 127.0.0.1 and two workers.
    A worker killed mid-trial loses nothing of the others; restarted, it redoes its trial."""
    tune_dir = str(tmp_path / "tune")
    args = tune_args(tune_dir, max_trials=4, epochs=4)
    common = dict(subprocess_env, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(free_port()))

    def start(tuner_id):
        return subprocess.Popen(args, env=dict(common, KERASTUNER_TUNER_ID=tuner_id),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    chief = start("chief")
    time.sleep(3)
    workers = {name: start(name) for name in ("tuner0", "tuner1")}
    try:
        running = lambda: [t for t in read_trials(tune_dir).values() if t["status"] == "RUNNING"]
        wait_for(lambda: len(running()) == 2, 300, "both workers to run a trial")
        workers["tuner1"].send_signal(signal.SIGKILL)
        workers["tuner1"].wait()
        workers["tuner1"] = start("tuner1")
        for process in [*workers.values(), chief]:
            _, err = process.communicate(timeout=600)
            assert process.returncode == 0, err[-2000:]
    finally:
        for process in [*workers.values(), chief]:
            process.kill()
    trials = read_trials(tune_dir)
    assert sorted(trials) == ["trial_0", "trial_1", "trial_2", "trial_3"]
    assert all(t["status"] == "COMPLETED" for t in trials.values())
    rows = (tmp_path / "tune" / "trials.csv").read_text().splitlines()[1:]
    assert len(rows) == 4 and len({r.split(",")[1] for r in rows}) == 4  # four distinct trials


class ResidentMemory(keras.callbacks.Callback):
    """Appends the process's resident memory (MiB) to `path` at the end of each fit.

    (KerasTuner deep-copies callbacks for every trial, so state lives in a file.)
    """

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_train_end(self, logs=None):
        with open("/proc/self/status") as status:
            kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        with open(self.path, "a") as file:
            file.write(f"{kib / 1024}\n")


@pytest.mark.slow
def test_memory_stays_bounded_over_20_trials(fashion_mnist_dir, tmp_path):
    path = tmp_path / "rss.txt"
    tune = tuning_search.TuneConfig(tuner="random", tune_dir=str(tmp_path / "tune"), max_trials=20,
                             space=dict(TINY_SPACE, shortcut=["identity", "exclusive_gating", "conv1x1"]))
    tuning_search.search(tiny_config(tmp_path, train_subset=96), tune, callbacks=[ResidentMemory(str(path))], verbose=0)
    samples = [float(line) for line in path.read_text().split()]
    assert len(samples) == 20
    # Once the first trials have warmed TensorFlow's caches up, memory stays flat: the
    # session is cleared and earlier trials' graphs released between trials. Without the
    # release, each trial kept about 9 MiB (780 -> 1145 MiB over 40 trials).
    assert max(samples[5:]) - samples[4] < 40, [round(s) for s in samples]


@pytest.mark.parametrize("tuner", ["bayesian", "hyperband"])
def test_bayesian_and_hyperband_tuners_run(tuner, fashion_mnist_dir, tmp_path):
    tune = tuning_search.TuneConfig(tuner=tuner, tune_dir=str(tmp_path / "tune"), max_trials=2,
                             space=dict(TINY_SPACE, shortcut=["identity", "conv1x1"]))
    rows = tuning_search.search(tiny_config(tmp_path, epochs=2), tune, verbose=0)
    assert rows and all(r["status"] == "COMPLETED" for r in rows)
    assert (tmp_path / "tune" / "best.json").exists()
