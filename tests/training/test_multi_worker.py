"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1, configured by TF_CONFIG."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from conftest import REPO_ROOT

# A worker: train.py's flags -> TrainConfig -> training.run, then the trained weights
# saved outside model_dir, so the test can compare the workers' weights (the chief
# alone writes model_dir).
WORKER_SCRIPT = textwrap.dedent(
    """
    import sys
    from keras_resnetv2 import train
    from keras_resnetv2 import training
    weights_path, argv = sys.argv[1], sys.argv[2:]
    train.FLAGS(["train.py"] + argv)
    result = training.run(train.config_from_flags(train.FLAGS))
    result.model.save_weights(weights_path)
    """
)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _datasets(path):
    with h5py.File(path) as f:
        arrays = {}
        f.visititems(lambda name, obj: arrays.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
    return arrays


@pytest.mark.slow  # two worker processes
def test_two_workers_end_with_identical_weights_and_only_the_chief_writes(
    tiny_train_args, subprocess_env, tmp_path
):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes = []
    for index in range(2):
        scratch = tmp_path / f"tmp{index}"
        scratch.mkdir()
        env = dict(
            subprocess_env,
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            TMPDIR=str(scratch),  # where a non-chief worker's temporary logs go
            CUDA_VISIBLE_DEVICES="",
        )
        flags = tiny_train_args[2:] + [
            f"--model_dir={tmp_path / f'run{index}'}", "--distribution=multi_worker",
            "--epochs=2", "--train_subset=256",
        ]
        processes.append(subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, str(tmp_path / f"weights{index}.weights.h5")] + flags,
            env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=420)[0])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]

    # Worker 0 is the chief (no "chief" task in the cluster): it alone writes artifacts.
    chief_dir, other_dir = tmp_path / "run0", tmp_path / "run1"
    assert sorted(os.listdir(chief_dir)) == sorted(
        ["model.weights.h5", "config.json", "metrics.json", "curves.png", "log.csv", "tensorboard"]
    )
    assert not other_dir.exists()
    assert os.listdir(tmp_path / "tmp1") == []  # its temporary logs are removed
    assert "(worker 1: written by the chief)" in outputs[1]
    config = json.loads((chief_dir / "config.json").read_text())
    assert config["distribution"] == {  # the class behind tf.distribute.MultiWorkerMirroredStrategy
        "name": "multi_worker", "strategy": "CollectiveAllReduceStrategy", "replicas": 2,
    }
    metrics = json.loads((chief_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 2

    # Both workers apply the same all-reduced updates: identical weights, equal to
    # the chief's saved artifact.
    chief, other, saved = (
        _datasets(tmp_path / "weights0.weights.h5"),
        _datasets(tmp_path / "weights1.weights.h5"),
        _datasets(chief_dir / "model.weights.h5"),
    )
    assert len(chief) > 20 and chief.keys() == other.keys() == saved.keys()
    for name in chief:
        np.testing.assert_array_equal(other[name], chief[name], err_msg=name)
        np.testing.assert_array_equal(saved[name], chief[name], err_msg=name)
