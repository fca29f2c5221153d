"""Every private API of another library that keras_resnetv2 uses is still there.

Each check fails with a message naming the symbol, the module of ours that needs it
and what to do, so that an upgrade past setup.py's upper bounds is diagnosed at once
rather than deep inside a training or a search.
"""

import pathlib
import platform
import re
import subprocess
import sys

import keras
import keras_tuner
import pytest

from keras_resnetv2._compat import keras as keras_compat
from keras_resnetv2._compat import keras_tuner as tuner_compat
from keras_resnetv2._compat import tensorflow as tensorflow_compat


def _missing(library, symbol, user):
    return (f"{library} {symbol} is gone in this version; keras_resnetv2/_compat/{user} needs it. "
            f"Pin {library} below this version (setup.py) or port the workaround.")


def test_keras_symbolic_build_exists_and_builds_the_compiled_metrics():
    for name in ("_symbolic_build", "_maybe_symbolic_build"):
        assert hasattr(keras.Model, name), _missing("keras", f"Model.{name}", "keras.py")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(loss="mse", metrics=["mae"])
    unbuilt = len(model.metrics_variables)
    keras_compat.build_from_batch(model, (keras.ops.zeros((1, 3)), keras.ops.zeros((1, 2))))
    built = len(model.metrics_variables)
    assert built > unbuilt, _missing("keras", "Model._symbolic_build(data_batch=) building compiled metrics", "keras.py")
    model._maybe_symbolic_build()  # now a no-op that accepts fit's call


def test_keras_serializes_a_subclass_registered_by_serialize_as_as_its_parent():
    from keras.src import api_export

    assert isinstance(getattr(api_export, "REGISTERED_OBJS_TO_NAMES", None), dict), _missing(
        "keras", "src.api_export.REGISTERED_OBJS_TO_NAMES", "keras.py")

    @keras_compat.serialize_as("keras.layers.Dense")
    class QuietDense(keras.layers.Dense):
        pass

    config = keras.saving.serialize_keras_object(QuietDense(2))
    assert (config["module"], config["class_name"], config["registered_name"]) == ("keras.layers", "Dense", None), \
        _missing("keras", "serialize_keras_object consulting REGISTERED_OBJS_TO_NAMES first", "keras.py")
    assert type(keras.saving.deserialize_keras_object(config)) is keras.layers.Dense
    with pytest.raises(TypeError, match="must subclass keras.layers.Conv2D"):
        keras_compat.serialize_as("keras.layers.Conv2D")(QuietDense)


def test_keras_tuner_private_symbols_exist():
    from keras_tuner.src import utils as tuner_utils
    from keras_tuner.src.tuners import gridsearch

    assert callable(getattr(tuner_utils, "save_json", None)), _missing("keras-tuner", "src.utils.save_json", "keras_tuner.py")
    assert hasattr(gridsearch, "LinkedList"), _missing("keras-tuner", "src.tuners.gridsearch.LinkedList", "keras_tuner.py")
    oracle = keras_tuner.oracles.GridSearchOracle(objective="loss", max_trials=1)
    for name in ("_retry_queue", "_ordered_ids", "_populate_next", "_compare"):
        assert hasattr(oracle, name), _missing("keras-tuner", f"GridSearchOracle.{name}", "keras_tuner.py")


def test_keras_tuner_state_writes_go_through_the_atomic_writer(tmp_path):
    from keras_tuner.src import utils as tuner_utils

    original = tuner_utils.save_json
    with tuner_compat.atomic_state_writes():
        assert tuner_utils.save_json is not original
        tuner_utils.save_json(str(tmp_path / "state.json"), {"a": 1})
    assert tuner_utils.save_json is original
    assert (tmp_path / "state.json").read_text() == '{"a": 1}'


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's registry")
def test_tensorflow_gradient_registry_exists_and_is_released():
    import tensorflow as tf
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    assert isinstance(registry, dict), _missing("tensorflow", "python.framework.ops._gradient_registry._registry",
                                                "tensorflow.py")
    before = tensorflow_compat.custom_gradients()

    @tf.custom_gradient
    def identity(x):
        return x, lambda dy: dy

    tf.function(identity).get_concrete_function(tf.TensorSpec([1]))
    added = tensorflow_compat.custom_gradients() - before
    assert added, "tf.custom_gradient no longer registers in ops._gradient_registry: see _compat/tensorflow.py"
    tensorflow_compat.release_custom_gradients(keep=before)
    assert tensorflow_compat.custom_gradients() == before


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's profiler")
def test_tensorflow_profiler_files_give_the_ops_the_executor_ran(tmp_path):
    import tensorflow as tf

    step = tf.function(lambda t: tf.matmul(t, t))
    x = tf.ones((8, 8))
    step(x)
    tf.profiler.experimental.start(str(tmp_path))
    step(x).numpy()
    tf.profiler.experimental.stop()
    (path,) = tmp_path.glob("**/*.xplane.pb")
    ops = tensorflow_compat.executed_ops(str(path))
    matmuls = [(name, op_type, ps) for name, op_type, ps in ops if "MatMul" in op_type]
    assert len(matmuls) == 1 and matmuls[0][2] > 0, _missing(
        "tensorflow", "tsl.profiler.protobuf.xplane_pb2 (ops on tf_Compute threads)", "tensorflow.py")
    assert not [op_type for _, op_type, _ in ops if not op_type or ":" in op_type]  # "A::B" events are no ops


def test_tensorflow_says_whether_onednn_is_on():
    from tensorflow.python.util import _pywrap_util_port

    assert hasattr(_pywrap_util_port, "IsMklEnabled"), _missing(
        "tensorflow", "python.util._pywrap_util_port.IsMklEnabled", "tensorflow.py")


@pytest.mark.parametrize("setting", ["1", "0"])
@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
                    reason="TensorFlow's x86-64 Linux builds have oneDNN; others may not")
def test_tensorflow_reports_whether_onednn_runs_the_cpu_ops(setting, subprocess_env):
    env = dict(subprocess_env, TF_ENABLE_ONEDNN_OPTS=setting)
    code = "from keras_resnetv2._compat.tensorflow import onednn_enabled; print(onednn_enabled())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split()[-1] == str(setting == "1"), f"onednn_enabled() is {out.split()[-1]} with TF_ENABLE_ONEDNN_OPTS={setting}"


def test_keras_private_modules_the_tests_use_exist(tmp_path):
    """tests/harness.py fences two private Keras modules for the tests; its helpers still work."""
    import h5py
    from harness import keras_applications_resnet, write_legacy_h5

    gone = "A private Keras symbol is gone in this version; tests/harness.py needs it: port `{}` there."
    try:
        write_legacy_h5(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")]), tmp_path / "w.h5")
    except (ImportError, AttributeError) as error:
        raise AssertionError(gone.format("write_legacy_h5")) from error
    with h5py.File(tmp_path / "w.h5", "r") as file:
        assert "d" in file.attrs["layer_names"].astype(str), gone.format("write_legacy_h5")
    resnet = keras_applications_resnet()
    assert isinstance(getattr(resnet, "WEIGHTS_HASHES", None), dict), gone.format("keras_applications_resnet")
    assert isinstance(getattr(resnet, "BASE_WEIGHTS_PATH", None), str), gone.format("keras_applications_resnet")


def test_no_test_reaches_into_private_keras_modules_outside_the_fences():
    tests = pathlib.Path(__file__).parent
    fences = {"harness.py", "test_compat.py"}
    offenders = sorted(str(p.relative_to(tests)) for p in tests.rglob("*.py")
                       if p.name not in fences and re.search(r"keras(_tuner)?\.src\b", p.read_text()))
    assert not offenders, f"private Keras modules used outside tests/harness.py: {offenders}"
