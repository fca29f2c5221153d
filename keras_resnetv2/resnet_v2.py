"""The namespace of `keras.applications.resnet_v2`: drop-in ResNet v2 builders."""

from keras_resnetv2.models.preprocessing import family_functions
from keras_resnetv2.models.variants import ResNet50V2, ResNet101V2, ResNet152V2

preprocess_input, decode_predictions = family_functions("tf")
