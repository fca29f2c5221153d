"""keras-resnetv2: the ResNet v1 and v2 families of Keras, from one residual unit.

He, Zhang, Ren, Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016
(arXiv:1603.05027), and "Deep Residual Learning for Image Recognition", CVPR 2016
(arXiv:1512.03385).
"""

from keras_resnetv2 import cifar, resnet, resnet_v2  # noqa: F401
from keras_resnetv2.builder import ResNet
from keras_resnetv2.preprocessing import decode_predictions, preprocess_input
from keras_resnetv2.spec import ORDERS, SHORTCUTS, ResNetSpec
from keras_resnetv2.variants import (  # noqa: F401
    VARIANTS, build, get_variant, list_models,
    ResNet20, ResNet20V2, ResNet32, ResNet32V2, ResNet44, ResNet44V2, ResNet50,
    ResNet50V2, ResNet56, ResNet56V2, ResNet101, ResNet101V2, ResNet110, ResNet110V2,
    ResNet152, ResNet152V2, ResNet164, ResNet164V2, ResNet200, ResNet200V2, ResNet1001,
    ResNet1001V2, ResNet1202, ResNet1202V2,
)

__version__ = "0.1.0"


def __getattr__(name):
    # The tuner needs KerasTuner and TensorFlow: imported on first use only, so that
    # the models import under any backend with Keras alone.
    if name == "HyperResNet":
        from keras_resnetv2.tuning import HyperResNet

        return HyperResNet
    raise AttributeError(f"module 'keras_resnetv2' has no attribute {name!r}")
