"""Model code is backend-agnostic: no TensorFlow import, same numbers under JAX."""

import ast
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from harness import images

import keras_resnetv2

PACKAGE = pathlib.Path(keras_resnetv2.__file__).parent
# Only the data pipelines, the training library (with its fused BatchNorm), the tuner, the
# gradient diagnostic and TensorFlow's private-API fence may use TensorFlow.
TENSORFLOW_ALLOWED = ("models/batchnorm.py", "data/", "paper/gradient_flow.py", "training/", "tuning/",
                      "_compat/tensorflow.py")


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_model_modules_never_import_tensorflow():
    modules = {p.relative_to(PACKAGE).as_posix(): p for p in PACKAGE.rglob("*.py")}
    checked = {name: p for name, p in modules.items() if not name.startswith(TENSORFLOW_ALLOWED)}
    assert {"models/spec.py", "models/units.py", "models/builder.py", "models/variants.py", "weights/registry.py",
            "weights/manifest.py", "models/preprocessing.py", "catalog.py"} <= set(checked)
    offenders = {n: m for n, p in checked.items() for m in imported_modules(p) if m.split(".")[0] == "tensorflow"}
    assert not offenders


JAX_SCRIPT = """
import json, sys
import numpy as np
import keras, keras_resnetv2
assert keras.backend.backend() == "jax", keras.backend.backend()
results = {}
for name, options, path in json.loads(sys.argv[1]):
    model = keras_resnetv2.build(name, **options)
    model.load_weights(path)
    x = np.load(path + ".x.npy")
    results[name + str(options)] = np.asarray(model.predict_on_batch(x)).tolist()
results["tensorflow_imported"] = "tensorflow" in sys.modules
print(json.dumps(results))
"""

# One unit per stage (a stage's first unit carries its projection shortcut and stride): every
# unit's code under JAX, at a fraction of the full nets' compile time.
ONE_UNIT = {"stage_units": [1, 1, 1]}
CASES = [
    ("ResNet20", ONE_UNIT),
    ("ResNet20V2", ONE_UNIT),
    ("ResNet20V2", {"shortcut": "exclusive_gating", **ONE_UNIT}),
    ("ResNet164", {"order": "relu_before_addition", "shortcut": "constant_scaling", **ONE_UNIT}),
]


def test_jax_backend_builds_and_matches_tensorflow(tmp_path):
    pytest.importorskip("jax")
    cases, expected = [], {}
    for i, (name, options) in enumerate(CASES):
        model = keras_resnetv2.build(name, **options)
        path = str(tmp_path / f"model{i}.weights.h5")
        model.save_weights(path)
        x = images((2, 32, 32, 3), seed=i)
        np.save(path + ".x.npy", x)
        expected[name + str(options)] = model.predict_on_batch(x)
        cases.append((name, options, path))

    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(PACKAGE.parent), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT, json.dumps(cases)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = json.loads(result.stdout.strip().splitlines()[-1])
    assert outputs.pop("tensorflow_imported") is False
    for key, value in expected.items():
        np.testing.assert_allclose(np.asarray(outputs[key]), value, rtol=1e-4, atol=1e-5)
