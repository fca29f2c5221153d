"""The namespace of `keras.applications.resnet`: drop-in ResNet v1 builders."""

from keras_resnetv2.models.preprocessing import family_functions
from keras_resnetv2.models.variants import ResNet50, ResNet101, ResNet152

preprocess_input, decode_predictions = family_functions("caffe")
