"""keras-resnetv2: the ResNet v1 and v2 families of Keras, from one residual unit.

He, Zhang, Ren, Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016
(arXiv:1603.05027), and "Deep Residual Learning for Image Recognition", CVPR 2016
(arXiv:1512.03385).

The package, by concern, lowest first (a part imports only the parts listed before it):

    utils/, catalog.py, _compat/   argument checks, atomic files, figures; the datasets'
                                   metadata; other libraries' private APIs, fenced
    weights/                       resolve a weights name, verify the file, load it
    models/                        the model core: spec, unit, builder, named nets
    data/                          datasets in memory, tf.data pipelines
    paper/                         the paper's tables, reproduction report, gradient flow
    training/                      config, recipes, strategies, resumable runs, artifacts
    tuning/                        KerasTuner searches over the paper's design space
    zoo/                           publishing tools: export, cards, evaluation, CLI
    resnet.py, resnet_v2.py, cifar.py   keras.applications-style namespaces
"""

from keras_resnetv2.utils.cpu import prefer_onednn

prefer_onednn()  # before TensorFlow's import, which reads it: see utils/cpu.py

from keras_resnetv2 import cifar, resnet, resnet_v2, zoo  # noqa: E402, F401
from keras_resnetv2._version import __version__  # noqa: F401
from keras_resnetv2.models.builder import ResNet
from keras_resnetv2.models.preprocessing import decode_predictions, preprocess_input
from keras_resnetv2.models.spec import ORDERS, SHORTCUTS, ResNetSpec
from keras_resnetv2.models.variants import (  # noqa: F401
    VARIANTS, build, get_variant, list_models,
    ResNet20, ResNet20V2, ResNet32, ResNet32V2, ResNet44, ResNet44V2, ResNet50,
    ResNet50V2, ResNet56, ResNet56V2, ResNet101, ResNet101V2, ResNet110, ResNet110V2,
    ResNet152, ResNet152V2, ResNet164, ResNet164V2, ResNet200, ResNet200V2, ResNet1001,
    ResNet1001V2, ResNet1202, ResNet1202V2,
)


def __getattr__(name):
    # The tuner needs KerasTuner and TensorFlow: imported on first use only, so that
    # the models import under any backend with Keras alone.
    if name == "HyperResNet":
        from keras_resnetv2.tuning.hypermodel import HyperResNet  # optional dependency: KerasTuner (the [tune] extra)

        return HyperResNet
    raise AttributeError(f"module 'keras_resnetv2' has no attribute {name!r}")
