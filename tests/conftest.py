"""Shared fixtures of the data and training tests."""

import http.server
import os
import sys
import threading

import pytest

from keras_resnetv2 import data

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A depth-8 pre-activation net (one unit per stage, stem and widths 4/4/8/16): trains at
# thousands of images per second on a CPU, enough to exercise the whole loop.
TINY_SPEC_OPTIONS = {"stage_units": [1, 1, 1], "stage_widths": [4, 8, 16], "stem_width": 4}


@pytest.fixture(scope="session")
def fashion_mnist_dir():
    """The Debian package's Fashion-MNIST folder; skips when it is not installed."""
    missing = [
        stem for stem in data.FASHION_MNIST_SHA256
        if not os.path.isfile(os.path.join(data.FASHION_MNIST_DIR, stem + ".gz"))
    ]
    if missing:
        pytest.skip(f"Fashion-MNIST missing ({missing}): `sudo apt-get install {data.FASHION_MNIST_PACKAGE}`.")
    return data.FASHION_MNIST_DIR


@pytest.fixture(scope="session")
def tiny_fashion_mnist(fashion_mnist_dir):
    """Fashion-MNIST loaded once, with a 10% validation split."""
    return data.load("fashion_mnist", validation_split=0.1)


@pytest.fixture
def fashion_mnist_copy(fashion_mnist_dir, tmp_path):
    """A folder of links to the four IDX files, to replace one of them in a test."""
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for stem in data.FASHION_MNIST_SHA256:
        os.symlink(os.path.join(fashion_mnist_dir, stem + ".gz"), folder / (stem + ".gz"))
    return folder


@pytest.fixture
def tiny_train_args(fashion_mnist_dir):
    """`train.py` flags of a tiny, quick run (add --model_dir, --epochs...)."""
    import json

    return [
        sys.executable, os.path.join(REPO_ROOT, "train.py"),
        "--model=ResNet20V2", "--dataset=fashion_mnist",
        f"--spec_options={json.dumps(TINY_SPEC_OPTIONS)}",
        "--batch_size=32", "--warmup_steps=2", "--verbose=2",
    ]


@pytest.fixture
def subprocess_env():
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def served_folder(tmp_path):
    """An HTTP server on 127.0.0.1 serving `tmp_path / "served"`; yields (folder, url, hits)."""
    folder = tmp_path / "served"
    folder.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/", hits
    server.shutdown()


# Runs train.py's command line once per argument list, all in one process (each list
# parsed afresh): the refusal checks pay TensorFlow's import once, not once per case.
REFUSALS_SCRIPT = """
import contextlib, io, json, os, sys
for name in filter(None, os.environ.get("BLOCKED_MODULES", "").split(",")):
    sys.modules[name] = None  # as if not installed: importing it raises ImportError
from absl import app, flags
from keras_resnetv2 import train
results = []
for argv in json.loads(sys.argv[1]):
    flags.FLAGS.unparse_flags()
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            app.run(train.main, argv=["train.py", *argv])
            code = 0
        except SystemExit as e:
            code = e.code
    results.append({"returncode": code, "stderr": stderr.getvalue()})
print("RESULTS " + json.dumps(results))
"""


@pytest.fixture
def train_py_refusals(subprocess_env):
    """`run(argv_lists, **env)` -> one `{"returncode", "stderr"}` per list, from one process.

    `BLOCKED_MODULES="a,b"` in `env` makes those modules absent from that process."""
    import json
    import subprocess

    def run(argv_lists, **env):
        done = subprocess.run([sys.executable, "-c", REFUSALS_SCRIPT, json.dumps(argv_lists)], capture_output=True,
                              text=True, env=dict(subprocess_env, **env), cwd=REPO_ROOT, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        line = [l for l in done.stdout.splitlines() if l.startswith("RESULTS ")][-1]
        return json.loads(line[len("RESULTS "):])

    return run
