"""Installed like a library: a wheel into a fresh virtual environment, training from any folder.

The slow test builds the wheel from a copy of the checkout (the checkout gets no build/ nor
*.egg-info), installs it with the `train` extra only into a new venv, and from a temporary
folder trains with no flag but the size of the run, and classifies the raw test images with a
zoo model. The fast tier covers the same paths in the checkout's environment.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import pytest
from conftest import REPO_ROOT

from keras_resnetv2 import zoo
from keras_resnetv2.weights import manifest

V2 = "resnet20v2.fashion_mnist"
QUICK_RUN = ["-m", "keras_resnetv2.train", "--train_subset=512", "--epochs=1"]


def check_quick_run(result, folder):
    """The run of `QUICK_RUN` in `folder`: default model_dir, warm-up note, one line per epoch."""
    assert result.returncode == 0, result.stderr[-3000:]
    assert "warm-up does not fit this run's 4 training steps; warming up for 1" in result.stdout
    log = result.stdout + result.stderr
    assert re.search(r"^4/4 - .*accuracy", log, re.M)  # Keras prints no "Epoch 1/1" for one epoch
    assert "\r" not in log and "\x08" not in log, "progress-bar redraws in a log"
    metrics = json.loads((folder / "runs" / "resnet20v2_fashion_mnist" / "metrics.json").read_text())
    assert metrics["epochs"] == 1
    config = json.loads((folder / "runs" / "resnet20v2_fashion_mnist" / "config.json").read_text())
    assert config["train_config"]["warmup_steps"] == 1 and config["dataset"]["train_examples"] == 512


@pytest.mark.slow  # a full ResNet-20V2 trained and tested; the wheel test below runs it too
def test_a_quick_run_needs_no_other_flag(fashion_mnist_dir, subprocess_env, tmp_path):
    result = subprocess.run([sys.executable, *QUICK_RUN], cwd=tmp_path, env=subprocess_env,
                            capture_output=True, text=True, timeout=900)
    check_quick_run(result, tmp_path)


def test_the_readme_says_how_to_install_and_that_distributed_runs_need_a_trusted_network():
    readme = pathlib.Path(REPO_ROOT, "README.md").read_text()
    install = readme.split("Installed as a library instead")[1].split("\n## ")[0]
    for text in ('pip install -e ".[train]"', "pip wheel .", "python -m keras_resnetv2.train", "keras-resnetv2-train",
                 "| `tf` |", "| `train` |", "| `tune` |", "| `data` |", "| `bench` |", "| `dev` |"):
        assert text in install, text
    security = readme.split("### Security of distributed runs")[1].split("\n## ")[0]
    for text in ("unauthenticated, unencrypted", "KERASTUNER_ORACLE_IP", "TF_CONFIG", "trusted network"):
        assert text in security, text


def _checkout_state():
    status = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=True).stdout
    return sorted(line for line in status.splitlines() if "build" in line or "egg-info" in line or "dist" in line)


@pytest.mark.slow
def test_the_wheel_installs_trains_and_classifies_raw_pixels(fashion_mnist_dir, tmp_path):
    before = _checkout_state()
    source = tmp_path / "source"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if os.path.isfile(os.path.join(REPO_ROOT, name)):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.join(REPO_ROOT, name), source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(source)], check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "dist").glob("keras_resnetv2-*.whl")
    assert _checkout_state() == before, "the build wrote into the checkout"

    # Nothing of the checkout on the path: pip would take its *.egg-info, if any, for an install.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", manifest.ZOO_DIR_VARIABLE)}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300, env=env)
    python = str(venv / "bin" / "python")
    start = time.time()
    subprocess.run([python, "-m", "pip", "install", "-q", f"{wheel}[train]"], check=True, timeout=1800, env=env,
                   cwd=tmp_path)
    install_time = time.time() - start
    print(f"\nwheel {wheel.name}: {wheel.stat().st_size / 2**20:.2f} MiB; `pip install wheel[train]` "
          f"into a fresh venv: {install_time:.0f} s")
    folder = tmp_path / "somewhere"
    folder.mkdir()
    where = subprocess.run([python, "-c", "import keras_resnetv2, importlib.util as u; "
                            "print(keras_resnetv2.__file__, u.find_spec('keras_tuner'))"],
                           cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert where.returncode == 0, where.stderr[-3000:]
    assert str(venv) in where.stdout and where.stdout.strip().endswith("None"), where.stdout  # no KerasTuner

    run = subprocess.run([python, *QUICK_RUN], cwd=folder, env=env, capture_output=True, text=True, timeout=1800)
    check_quick_run(run, folder)

    evaluated = subprocess.run([python, "-m", "keras_resnetv2.zoo", "evaluate", V2], cwd=folder, env=env,
                               capture_output=True, text=True, timeout=900)
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr[-3000:]
    accuracy = 100 * zoo.entries()[V2]["metrics"]["test_accuracy"]
    assert f"OK  {V2}: test accuracy {accuracy:.2f}% on 10,000 raw images" in evaluated.stdout
    print(evaluated.stdout.strip())

    # Every bundled entry, the deep ones too, from the wheel: the file found and its sha256 checked,
    # the builder's model (`keras_resnetv2.ResNet164V2(weights="fashion_mnist")`...) loaded.
    verified = subprocess.run([python, "-m", "keras_resnetv2.zoo", "verify"], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=900)
    assert verified.returncode == 0, verified.stdout + verified.stderr[-3000:]
    for name in zoo.entries():
        assert re.search(rf"^OK    {re.escape(name)}: sha256 .*/site-packages/keras_resnetv2/weights/bundled/", verified.stdout,
                         re.M), verified.stdout

    exported = subprocess.run([python, "-m", "keras_resnetv2.zoo", "export", "runs/resnet20v2_fashion_mnist",
                               "--tag=mine"], cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert exported.returncode == 1 and "Set KERAS_RESNETV2_ZOO_DIR" in exported.stderr, exported.stderr[-2000:]
    assert _checkout_state() == before
