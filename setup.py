"""keras-resnetv2: ResNet v1/v2 for Keras 3, from one residual unit (arXiv:1603.05027)."""

import re

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "([^"]+)"', open("keras_resnetv2/_version.py", encoding="utf-8").read()).group(1)

setup(
    name="keras-resnetv2",
    version=VERSION,
    description="Keras 3 ResNet v1/v2 builders, the paper's variants and a model zoo.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    # zoo/ (manifest, weights, cards) is installed as keras_resnetv2/weights/bundled, where
    # keras_resnetv2.weights.manifest.zoo_dir() finds it outside a source checkout.
    packages=find_packages(include=["keras_resnetv2", "keras_resnetv2.*"]) + ["keras_resnetv2.weights.bundled"],
    package_dir={"keras_resnetv2.weights.bundled": "zoo"},
    package_data={"keras_resnetv2.weights.bundled": ["manifest.json", "*/*"]},
    # Upper bounds: the newest versions tested, for the private APIs fenced in
    # keras_resnetv2/_compat/ (tests/test_compat.py names what an upgrade removed).
    install_requires=["keras>=3.13.2,<3.16", "numpy", "h5py"],
    entry_points={"console_scripts": ["keras-resnetv2-train=keras_resnetv2.train:run"]},
    extras_require={
        "tf": ["tensorflow>=2.20,<2.22"],
        # train.py / keras_resnetv2.training: flags, TensorBoard logs, plots, image folders.
        "train": ["tensorflow>=2.20,<2.22", "absl-py", "tensorboard", "matplotlib", "pillow"],
        # keras_resnetv2.tuning: KerasTuner searches (train.py --tune).
        "tune": ["keras-tuner[bayesian]>=1.4,<1.5"],
        # CIFAR and ImageNet through tensorflow-datasets (Fashion-MNIST needs none).
        "data": ["tensorflow-datasets"],
        # bench/throughput.py's PyTorch reference nets, a CPU-only build (plain `torch` pulls
        # in CUDA); the +cpu wheel comes from PyTorch's CPU wheel index or a local wheel folder.
        "bench": ["torch==2.13.0+cpu"],
        "dev": [
            "tensorflow-cpu>=2.20,<2.22", "jax[cpu]", "pytest>=8", "pytest-xdist>=3.2", "absl-py", "tensorboard", "matplotlib",
            "pillow", "keras-tuner[bayesian]>=1.4,<1.5",
            # tests/models/test_export.py runs the LiteRT file on LiteRT's own interpreter
            # (TensorFlow's tf.lite.Interpreter is deprecated).
            "ai-edge-litert",
            # ... and exports a zoo model to ONNX (Keras' export goes through tf2onnx).
            "tf2onnx", "onnxruntime",
        ],
    },
)
