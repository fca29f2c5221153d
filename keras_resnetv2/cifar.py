"""The CIFAR family of arXiv:1512.03385 and arXiv:1603.05027, with its preprocessing.

`preprocess_input` standardizes each channel with CIFAR-10's training statistics;
`decode_predictions` names CIFAR-10's classes. For other datasets use
`keras_resnetv2.models.preprocessing.family_functions("standardize", dataset)`.
"""

from keras_resnetv2.models.preprocessing import family_functions
from keras_resnetv2.models.variants import (  # noqa: F401
    ResNet20, ResNet20V2, ResNet32, ResNet32V2, ResNet44, ResNet44V2, ResNet56,
    ResNet56V2, ResNet110, ResNet110V2, ResNet164, ResNet164V2, ResNet1001,
    ResNet1001V2, ResNet1202, ResNet1202V2,
)

preprocess_input, decode_predictions = family_functions("standardize", "cifar10")
