"""A builder's model exports with Keras' own `model.export`: a SavedModel that serves its
outputs without the package, a LiteRT (TFLite) file of builtin ops only, and ONNX."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_resnetv2
from conftest import TINY_SPEC_OPTIONS

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="export through TensorFlow")


@pytest.fixture(scope="module")
def trained():
    """A tiny fused-BatchNorm net with stochastic depth, its moving statistics moved by a step,
    and a batch with its predictions."""
    keras.utils.set_random_seed(0)
    model = keras_resnetv2.ResNet20V2(input_shape=(8, 8, 1), classes=3, drop_path_rate=0.2, **TINY_SPEC_OPTIONS)
    x = np.random.default_rng(1).normal(size=(4, 8, 8, 1)).astype("float32")
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    model.fit(x, np.arange(4) % 3, epochs=1, verbose=0)
    return model, x, model.predict(x, verbose=0)


def test_a_saved_model_serves_the_models_outputs_in_a_process_without_the_package(trained, tmp_path,
                                                                                   subprocess_env):
    model, x, expected = trained
    model.export(str(tmp_path / "saved"), format="tf_saved_model", verbose=False)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np, tensorflow as tf
        served = tf.saved_model.load({str(tmp_path / "saved")!r})
        out = served.serve(tf.constant(np.load({str(tmp_path / "x.npy")!r}))).numpy()
        assert not [m for m in sys.modules if m.startswith("keras_resnetv2")], "the package was imported"
        np.save({str(tmp_path / "out.npy")!r}, out)
    """)
    env = {k: v for k, v in subprocess_env.items() if k != "PYTHONPATH"}  # and run outside the checkout
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-5, atol=1e-6)


def test_a_litert_file_predicts_the_models_outputs_with_builtin_ops_only(trained, tmp_path):
    model, x, expected = trained
    path = tmp_path / "model.tflite"
    # Keras lets the converter fall back on TensorFlow ops (Flex), which need TensorFlow's runtime on
    # the device; with builtins only, the conversion fails if any op is not a TFLite builtin.
    model.export(str(path), format="litert", verbose=False,
                 target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]})
    interpreter = _litert_interpreter(path)
    (given,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(given["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], x)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("ignore:In the future `np.object`:FutureWarning")  # Keras' own tf2onnx patch
def test_a_zoo_model_exports_to_onnx_with_its_preprocessing(tmp_path):
    """The raw-pixel model: its `preprocessing` layer (a `Rescaling`) exports as constants;
    Keras' `Normalization` left its mean and variance as graph inputs nobody feeds."""
    import onnxruntime  # the `dev` extra, with tf2onnx, which Keras' ONNX export needs

    model = keras_resnetv2.ResNet20V2(weights="fashion_mnist")
    images = np.random.default_rng(2).integers(0, 256, (3, 28, 28, 1)).astype("float32")
    expected = model.predict(images, verbose=0)  # Keras' ONNX export refuses a model never called
    model.export(str(tmp_path / "model.onnx"), format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [model.inputs[0].name]  # nothing else to feed
    (out,) = session.run(None, {model.inputs[0].name: images})
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def _litert_interpreter(path):
    """LiteRT's interpreter (`ai-edge-litert`, in the `dev` extra), else TensorFlow's (deprecated
    since TF 2.20 in its favour, still shipped by 2.21)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(path))
