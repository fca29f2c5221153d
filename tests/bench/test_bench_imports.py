"""Every bench script that times TensorFlow imports keras_resnetv2 before Keras, so that
oneDNN is on for it as for a user's process (keras_resnetv2/utils/cpu.py)."""

import pathlib
import re

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if re.search(r"^import keras\b", p.read_text(), re.M))


def first_line(text, pattern):
    match = re.search(pattern, text, re.M)
    return None if match is None else text[: match.start()].count("\n")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_keras_resnetv2_is_imported_before_keras(script):
    text = script.read_text()
    ours = first_line(text, r"^(import keras_resnetv2\b|from keras_resnetv2\b)")
    assert ours is not None and ours < first_line(text, r"^import keras$|^import keras "), script.name


def test_the_check_finds_the_scripts():
    assert {"throughput.py", "batchnorm_cost.py", "training_throughput.py"} <= {p.name for p in SCRIPTS}
