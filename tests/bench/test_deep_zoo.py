"""bench/deep_zoo.py: the campaign's queue, its resume after kill -9, its status lines."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO_ROOT, TINY_SPEC_OPTIONS

sys.path.insert(0, os.path.join(REPO_ROOT, "bench"))
import deep_zoo  # noqa: E402


def _tiny_plan(epochs):
    flags = [
        "--model=ResNet20V2", "--train_subset=1024", "--batch_size=32", "--warmup_steps=2", "--verbose=2",
        f"--spec_options={json.dumps(TINY_SPEC_OPTIONS)}", "--test_every_epoch", "--random_erasing=0.5",
        "--label_smoothing=0.1",
    ]
    return [
        {"name": "first", "flags": flags + [f"--epochs={epochs}"]},
        {"name": "second", "flags": flags + ["--epochs=1", "--seed=1"]},
    ]


def test_plan_trains_the_pair_with_one_recipe_after_the_seed_noise():
    by_name = {entry["name"]: entry for entry in deep_zoo.PLAN}
    v2, v1 = by_name["resnet164v2"]["flags"], by_name["resnet164"]["flags"]
    assert v2[0] == "--model=ResNet164V2" and v1[0] == "--model=ResNet164"
    assert v2[1:] == v1[1:]  # same recipe, seed and epochs
    # noise, the pair, the long zoo run and its restart, the SD re-runs, the longest zoo run
    roles = [e["role"] for e in deep_zoo.PLAN]
    assert roles == ["noise"] * 6 + ["pair"] * 2 + ["zoo"] * 2 + ["drop_path"] * 2 + ["zoo"]
    long = by_name[f"resnet164v2_e{deep_zoo.LONG_EPOCHS}"]["flags"]  # the pair's recipe, only longer
    assert sorted(set(v2) - set(long)) == [f"--epochs={deep_zoo.EPOCHS}"]
    assert sorted(set(long) - set(v2)) == [f"--epochs={deep_zoo.LONG_EPOCHS}"]
    # The warm restart: the long run's recipe, from its archived final weights, shorter and at a lower peak.
    restart = by_name[f"resnet164v2_e{deep_zoo.LONG_EPOCHS}_restart{deep_zoo.RESTART_EPOCHS}"]["flags"]
    assert sorted(set(restart) - set(long)) == [
        f"--epochs={deep_zoo.RESTART_EPOCHS}", f"--init_weights={deep_zoo.RESTART_FROM}",
        f"--learning_rate={deep_zoo.RESTART_LEARNING_RATE}"]
    assert os.path.isfile(os.path.join(deep_zoo.REPO_ROOT, deep_zoo.RESTART_FROM))  # committed, archived
    longest = by_name[f"resnet164v2_e{deep_zoo.LONGEST_EPOCHS}"]["flags"]  # the pair's recipe, longer still
    assert sorted(set(longest) - set(v2)) == [f"--epochs={deep_zoo.LONGEST_EPOCHS}"]
    for name in ("resnet56v2", "resnet56"):
        runs = [by_name[f"{name}_seed{seed}"] for seed in range(3)]
        assert [deep_zoo._flag(r["flags"], "seed") for r in runs] == ["0", "1", "2"]
        assert all(deep_zoo._flag(r["flags"], "depth") == "56" and r["role"] == "noise" for r in runs)
    for seed in (0, 1):  # stochastic depth: the same run as a noise run, plus the rate
        with_sd, without = by_name[f"resnet56v2_drop_path_seed{seed}"]["flags"], by_name[f"resnet56v2_seed{seed}"]["flags"]
        assert sorted(set(with_sd) - set(without)) == [f"--drop_path_rate={deep_zoo.DROP_PATH_RATE}"]


def test_comparison_runs_are_grouped_by_role(tmp_path):
    runs = deep_zoo.comparison_runs(str(tmp_path), deep_zoo.PLAN)
    assert [r.name for r in runs["pair"]] == ["resnet164v2", "resnet164"]
    assert [(r.unit, r.depth) for r in runs["pair"]] == [("full_preactivation", 164), ("original", 164)]
    assert {r.depth for r in runs["noise"]} == {56} and len(runs["noise"]) == 6
    assert [r.drop_path_rate for r in runs["drop_path"]] == [deep_zoo.DROP_PATH_RATE] * 2
    assert not any(r.done for group in runs.values() for r in group)  # nothing trained in tmp_path


def _finished_run(out, name, accuracy):
    history = [{"epoch": e, "accuracy": 0.5, "test_accuracy": accuracy - (2 - e) / 100, "epoch_time_s": 60.0}
               for e in (1, 2)]
    (out / name).mkdir(parents=True)
    (out / name / "metrics.json").write_text(json.dumps({"epochs": 2, "history": history,
                                                         "test": {"accuracy": accuracy}}))
    (out / name / "config.json").write_text(json.dumps({"versions": {"keras": "3.x"}}))


def test_finished_runs_are_archived_and_outlive_the_runs_folder(tmp_path, capsys):
    plan = [{"name": n, "role": "noise", "flags": ["--model=ResNet20V2", "--epochs=2", f"--seed={i}"]}
            for i, n in enumerate(("a", "b"))]
    out, archive = tmp_path / "runs", tmp_path / "archive"
    _finished_run(out, "a", 0.91)
    _finished_run(out, "b", 0.92)
    assert deep_zoo.run(str(out), plan, archive=str(archive)) == 0  # both done: archived, nothing trained
    record = json.loads((archive / "a.json").read_text())
    assert record["flags"] == plan[0]["flags"] and record["metrics"]["test"]["accuracy"] == 0.91
    assert record["versions"] == {"keras": "3.x"} and not list(archive.glob("*.tmp"))
    assert "ARCHIVED a" in (out / deep_zoo.LOG_FILE).read_text()

    fresh = tmp_path / "new_machine"  # runs/ lost: the archive still says done
    assert deep_zoo.run_state(str(fresh), plan[1], str(archive))["state"] == "done"
    assert deep_zoo.run_state(str(fresh), plan[1])["state"] == "pending"  # without the archive
    runs = deep_zoo.comparison_runs(str(fresh), plan, str(archive))["noise"]
    assert [r.test_accuracy for r in runs] == [0.91, 0.92]
    capsys.readouterr()
    deep_zoo.status(str(fresh), plan, str(archive))
    assert re.search(r"^b\s+done\s+2/2\s+0\.9200", capsys.readouterr().out, re.M)

    reordered = dict(plan[1], flags=plan[1]["flags"][::-1])  # absl reads flags in any order: the same run
    assert deep_zoo.run_state(str(fresh), reordered, str(archive))["state"] == "done"
    changed = dict(plan[1], flags=plan[1]["flags"] + ["--label_smoothing=0.2"])  # another run: not done
    assert deep_zoo.run_state(str(fresh), changed, str(archive))["state"] == "pending"
    with pytest.raises(FileNotFoundError, match="has not finished"):
        deep_zoo.archive_run(str(fresh), str(archive), plan[0])


def test_every_committed_record_counts_its_plan_run_as_done(tmp_path):
    """The committed archive against the built-in plan: a record whose run the plan no longer
    recognises would be trained again from epoch 0 (hours) on the next machine."""
    archive = deep_zoo.DEFAULT_ARCHIVE
    names = [e["name"] for e in deep_zoo.PLAN if os.path.isfile(os.path.join(archive, f"{e['name']}.json"))]
    assert len(names) >= 7  # six depth-56 noise runs and ResNet-164V2
    for entry in deep_zoo.PLAN:
        if entry["name"] in names:
            assert deep_zoo.run_state(str(tmp_path), entry, archive)["state"] == "done", entry["name"]


def test_a_keep_weights_run_archives_a_folder_the_zoo_export_takes(tmp_path):
    entry = {"name": "pair", "role": "pair", "keep_weights": True, "flags": ["--model=ResNet164V2", "--epochs=2"]}
    out, archive = tmp_path / "runs", tmp_path / "archive"
    _finished_run(out, "pair", 0.95)
    (out / "pair" / "model.weights.h5").write_bytes(b"final weights")
    deep_zoo.archive_run(str(out), str(archive), entry)
    assert sorted(p.name for p in (archive / "pair").iterdir()) == sorted(deep_zoo.KEPT_FILES)  # no .tmp left
    assert (archive / "pair" / "model.weights.h5").read_bytes() == b"final weights"
    assert json.loads((archive / "pair.json").read_text())["run_dir"] == "pair"
    fresh = tmp_path / "new_machine"
    assert deep_zoo.run_state(str(fresh), entry, str(archive))["state"] == "done"
    (archive / "pair" / "model.weights.h5").unlink()  # a record without its weights: train again
    assert deep_zoo.run_state(str(fresh), entry, str(archive))["state"] == "pending"
    assert [e["name"] for e in deep_zoo.PLAN if e.get("keep_weights")] == [
        "resnet164v2", "resnet164", f"resnet164v2_e{deep_zoo.LONG_EPOCHS}",
        f"resnet164v2_e{deep_zoo.LONG_EPOCHS}_restart{deep_zoo.RESTART_EPOCHS}",
        f"resnet164v2_e{deep_zoo.LONGEST_EPOCHS}"]


def test_the_built_in_plan_archives_into_the_repository_and_a_test_plan_nowhere(monkeypatch):
    seen = {}
    monkeypatch.setattr(deep_zoo, "status", lambda out, plan, archive: seen.update(archive=archive))
    deep_zoo.main(["status", "--out", "x"])
    assert seen["archive"] == deep_zoo.DEFAULT_ARCHIVE
    deep_zoo.main(["status", "--out", "x", "--plan", '[{"name": "a", "flags": []}]'])
    assert seen["archive"] is None


def test_an_archive_that_is_a_file_is_refused_before_any_training(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit):
        deep_zoo.main(["run", "--out", str(tmp_path / "runs"), "--archive", str(tmp_path / "notes.txt")])
    assert "--archive must be a folder (or 'none')" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine" and not (tmp_path / "runs").exists()


def test_status_reads_pending_started_and_done_runs(tmp_path, capsys):
    plan = [{"name": n, "flags": ["--model=ResNet20V2", "--epochs=4"]} for n in ("a", "b", "c")]
    plan.append({"name": "d", "flags": ["--model=ResNet20", "--epochs=2"]})  # the other unit, same FLOPs
    plan.append({"name": "e", "flags": ["--model=ResNet20", "--depth=56", "--epochs=2"]})  # never timed
    (tmp_path / "a").mkdir()
    history = [{"epoch": e, "accuracy": 0.5, "test_accuracy": 0.6 + e / 100, "epoch_time_s": 100.0 + e}
               for e in (1, 2, 3, 4)]
    (tmp_path / "a" / "metrics.json").write_text(json.dumps(
        {"epochs": 4, "history": history, "test": {"accuracy": 0.6421}}))
    (tmp_path / "b" / "backup").mkdir(parents=True)
    slower = [dict(history[0], epoch_time_s=300.0)]  # the machine got busier since run a
    (tmp_path / "b" / "backup" / "state.json").write_text(json.dumps({"epoch": 1, "history": slower}))
    deep_zoo.status(str(tmp_path), plan)
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:7]}
    assert lines["a"][1:4] == ["done", "4/4", "0.6421"] and lines["a"][-2] == "103"  # the median epoch
    assert lines["b"][1:4] == ["started", "1/4", "0.6100"]
    assert lines["b"][-1] == "0h15m"  # 3 epochs left at 300 s each
    # 4 epochs of the same net at the latest run's speed (b's 300 s, not a's 103 s).
    assert lines["c"][1:3] == ["pending", "0/4"] and lines["c"][-1] == "0h20m"
    assert lines["d"][1:3] == ["pending", "0/2"] and lines["d"][-1] == "0h10m"  # the original unit: b's speed
    assert lines["e"][-1] == "?" and "campaign ETA: 0h45m + runs not timed yet" in out  # 15 + 20 + 10 min
    assert "spent so far: 0h11m of epoch wall time" in out  # a's 101 + 102 + 103 + 104 s, b's 300 s


def test_status_warns_of_a_run_that_learns_nothing_or_diverges(tmp_path, capsys):
    def epoch(e, train, test, loss=1.0):
        return {"epoch": e, "accuracy": train, "cross_entropy": loss, "test_accuracy": test, "epoch_time_s": 60.0}

    # resnet56_seed1's first two epochs: the test accuracy swings at the peak learning rate, healthy
    assert deep_zoo.health([epoch(1, 0.667, 0.8389, 1.034), epoch(2, 0.8253, 0.7761, 0.5476)], classes=10) is None
    assert "under 2x chance (0.10)" in deep_zoo.health([epoch(1, 0.11, 0.10)], classes=10)
    rising = [epoch(1, 0.7, 0.8, 0.60), epoch(2, 0.8, 0.85, 0.50), epoch(3, 0.75, 0.8, 0.56)]
    assert "training cross-entropy 0.5600 after epoch 3, 12% above its lowest (0.5000)" in deep_zoo.health(rising, 10)
    assert deep_zoo.health(rising[:2] + [epoch(3, 0.78, 0.8, 0.54)], 10) is None  # 8%: within the 10%
    assert deep_zoo.health([epoch(1, 0.11, 0.10)], classes=None) is None  # an archived run: no config to read

    plan = [{"name": n, "flags": ["--model=ResNet20V2", "--epochs=4"]} for n in ("ok", "stuck")]
    for name, train in (("ok", 0.6), ("stuck", 0.12)):
        (tmp_path / name / "backup").mkdir(parents=True)
        (tmp_path / name / "backup" / "state.json").write_text(json.dumps({"epoch": 1, "history": [epoch(1, train, 0.5)]}))
        (tmp_path / name / "config.json").write_text(json.dumps({"classes": 10}))
    deep_zoo.status(str(tmp_path), plan)
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING stuck: training accuracy 0.1200 after epoch 1")


def test_epoch_time_leaves_out_the_first_epoch_when_it_can():
    times = [{"epoch_time_s": t} for t in (3385.0, 979.0, 462.0, 483.0)]  # a first epoch beside other work
    assert deep_zoo._median_epoch_time(times) == 483.0
    assert deep_zoo._median_epoch_time(times[:1]) == 3385.0 and deep_zoo._median_epoch_time([]) is None


def _sleeper(*args):
    """A live process whose command line holds `args`."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *args])


def test_a_second_campaign_on_the_same_folder_is_refused(tmp_path, capsys):
    campaign = _sleeper("deep_zoo.py", "run")  # a campaign of a version without the lock
    try:
        (tmp_path / deep_zoo.PID_FILE).write_text(str(campaign.pid))
        assert deep_zoo.run(str(tmp_path), _tiny_plan(1)) == 1
        assert "already running" in capsys.readouterr().err
        assert not (tmp_path / "first").exists()
        assert deep_zoo.campaign_running(str(tmp_path))
    finally:
        campaign.kill()
        campaign.wait()


def test_a_pid_reused_by_another_program_is_not_a_campaign(tmp_path):
    other = _sleeper("something_else")
    try:
        (tmp_path / deep_zoo.PID_FILE).write_text(str(other.pid))
        deadline = time.time() + 10  # its command line reads empty until the program has started
        while not (pathlib.Path(f"/proc/{other.pid}/cmdline").read_bytes()) and time.time() < deadline:
            time.sleep(0.01)
        assert deep_zoo.campaign_pid(str(tmp_path)) is None
        assert not deep_zoo.campaign_running(str(tmp_path))
    finally:
        other.kill()
        other.wait()


def test_a_campaign_holding_the_lock_refuses_a_second_even_without_a_pid_file(tmp_path, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
         str(tmp_path / deep_zoo.LOCK_FILE)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert deep_zoo.run(str(tmp_path), _tiny_plan(1)) == 1
        assert "a campaign, or a training it started, holds its lock" in capsys.readouterr().err
        assert not (tmp_path / "first").exists() and not (tmp_path / deep_zoo.PID_FILE).exists()
        assert deep_zoo.campaign_running(str(tmp_path))
        deep_zoo.status(str(tmp_path), _tiny_plan(1))
        assert "running (its lock is held)" in capsys.readouterr().out
    finally:
        holder.kill()
        holder.wait()


def test_the_training_inherits_the_lock_so_a_killed_campaign_leaves_no_unlocked_run(tmp_path):
    fake_python = tmp_path / "python"  # stands in for the interpreter: records its open files, fails
    fake_python.write_text(f"#!/bin/sh\nls -l /proc/$$/fd > {tmp_path / 'fds.txt'}\nexit 3\n")
    fake_python.chmod(0o755)
    out = tmp_path / "runs"
    assert deep_zoo.run(str(out), _tiny_plan(1), python=str(fake_python)) == 3
    assert str(out / deep_zoo.LOCK_FILE) in (tmp_path / "fds.txt").read_text()
    assert not deep_zoo.lock_held(str(out)) and not (out / deep_zoo.PID_FILE).exists()


@pytest.mark.parametrize("plan", ["[{]", "{}", "[]", '[{"name": "a"}]', '[{"name": "a", "flags": "--epochs=1"}]',
                                  '[{"name": "../a", "flags": []}]', '[{"name": "a", "flags": []}, {"name": "a", "flags": []}]'])
def test_a_malformed_plan_is_refused_naming_the_flag(tmp_path, capsys, plan):
    with pytest.raises(SystemExit):
        deep_zoo.main(["run", "--out", str(tmp_path / "runs"), "--plan", plan])
    assert re.search(r"--plan('s names)? must be", capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_campaign_resumes_after_kill_9(tmp_path, fashion_mnist_dir, subprocess_env):
    plan = json.dumps(_tiny_plan(4))
    archive = tmp_path / "archive"
    command = [sys.executable, os.path.join(REPO_ROOT, "bench", "deep_zoo.py"), "run", "--out", str(tmp_path),
               "--plan", plan, "--archive", str(archive)]
    state = tmp_path / "first" / "backup" / "state.json"
    first = subprocess.Popen(command, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
    deadline = time.time() + 180
    while not state.exists() and time.time() < deadline and first.poll() is None:
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)  # the campaign and its train.py
    first.wait()
    deadline = time.time() + 30
    while deep_zoo.lock_held(str(tmp_path)) and time.time() < deadline:  # train.py's exit closes the lock
        time.sleep(0.1)
    assert state.exists(), first.stdout.read().decode()[-3000:]
    killed_at = json.loads(state.read_text())["epoch"]
    assert 1 <= killed_at < 4

    second = subprocess.run(command, env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"Resuming from the backup of epoch {killed_at}/4" in second.stdout
    metrics = json.loads((tmp_path / "first" / "metrics.json").read_text())
    assert metrics["epochs"] == 4 and metrics["resumed_from_epoch"] == killed_at
    assert all("test_accuracy" in h for h in metrics["history"])
    assert (tmp_path / "second" / "metrics.json").exists()
    assert not (tmp_path / deep_zoo.PID_FILE).exists()
    log = (tmp_path / deep_zoo.LOG_FILE).read_text()
    assert log.count("START first") == 2 and log.count("DONE first") == 1 and "campaign complete" in log
    assert json.loads((archive / "first.json").read_text())["metrics"] == metrics

    status = subprocess.run(command[:2] + ["status", "--out", str(tmp_path), "--plan", plan],
                            capture_output=True, text=True, env=subprocess_env, timeout=60)
    assert re.search(r"^first\s+done\s+4/4\s", status.stdout, re.M) and "not running" in status.stdout
