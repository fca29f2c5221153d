"""`preprocess_input` and `decode_predictions` for each family of nets.

ImageNet nets use keras.applications' own functions: "caffe" mode for the keras v1
models (BGR, mean subtraction), "tf" mode for the keras v2 models (scale to [-1, 1]),
"torch" mode for ResNet-200(V2), whose paper layout follows fb.resnet.torch.
CIFAR-family nets normalize each channel with the training set's mean and standard
deviation (fb.resnet.torch's CIFAR recipe; the paper subtracts the per-pixel mean) and
decode with that dataset's label names, both from `keras_resnetv2.catalog`.

`preprocessing_layer` is the same standardization as a stock Keras layer, which the
models built for a zoo tag start with (they take raw 0..255 pixels).
"""

import keras
import numpy as np
from keras.applications import imagenet_utils

from keras_resnetv2.catalog import DATASETS, standardized_datasets
from keras_resnetv2.utils.checks import check_choice, fail

IMAGENET_MODES = ("caffe", "tf", "torch")


def preprocess_input(x, *, mode, data_format=None, dataset="cifar10"):
    """Preprocesses a batch of images on the 0..255 scale for a family of nets.

    Args:
        x: numpy array or tensor of images, channels last unless `data_format`.
        mode: `"caffe"`, `"tf"` or `"torch"` (keras.applications' ImageNet modes) or
            `"standardize"` (per-channel mean/std of `dataset`).
        data_format: `"channels_last"` or `"channels_first"`; default: Keras' global.
        dataset: a dataset of `catalog.standardized_datasets()`, for `"standardize"`.
    """
    check_choice("mode", mode, IMAGENET_MODES + ("standardize",))
    if mode != "standardize":
        return imagenet_utils.preprocess_input(x, data_format=data_format, mode=mode)
    stats = DATASETS[check_choice("dataset", dataset, standardized_datasets())]
    channels_first = (data_format or keras.config.image_data_format()) == "channels_first"
    mean = _per_channel(stats.mean, "float32", channels_first)
    std = _per_channel(stats.std, "float32", channels_first)
    channels = np.shape(x)[-3 if channels_first else -1]
    if channels != len(stats.mean):
        fail(
            "x",
            f"Images for dataset={dataset!r} must have {len(stats.mean)} channel(s); "
            f"these have {channels} (shape {tuple(np.shape(x))}).",
            f"<array of shape {tuple(np.shape(x))}>",
        )
    return (x - mean) / std


def preprocessing_layer(record, *, name="preprocessing"):
    """The stock layer that applies a zoo entry's `preprocessing` record to raw images.

    `record` is the manifest's `{"mode": "standardize", "mean": [...], "std": [...]}`
    (per channel, 0..255 scale): `keras.layers.Rescaling(1 / std, offset=-mean / std)`,
    `(x - mean) / std` to float32 round-off. It has no variables, reloads from a `.keras`
    file with plain Keras and exports to every format `model.export` writes. Keras'
    `Normalization(mean=..., variance=...)` computes the same, but its ONNX export (Keras
    3.15, tf2onnx 1.17) turns the mean and variance into graph inputs nobody feeds.
    """
    check_choice("preprocessing mode", record["mode"], ("standardize",))
    channels_first = keras.config.image_data_format() == "channels_first"
    mean = _per_channel(record["mean"], "float64", channels_first)
    std = _per_channel(record["std"], "float64", channels_first)
    return keras.layers.Rescaling(scale=(1.0 / std).tolist(), offset=(-mean / std).tolist(), name=name)


def _per_channel(values, dtype, channels_first):
    """Per-channel `values` shaped to broadcast over images: (C,), or (C, 1, 1) channels first."""
    return np.reshape(np.asarray(values, dtype), (-1, 1, 1) if channels_first else (-1,))


def decode_predictions(preds, top=5, *, dataset="imagenet"):
    """Decodes class probabilities into `(class_name, class_name, score)` lists.

    ImageNet goes through keras.applications (which downloads the class index once);
    the other datasets use their label names, in the same tuple format.
    """
    if dataset == "imagenet":
        return imagenet_utils.decode_predictions(preds, top=top)
    choices = ["imagenet", *(name for name, info in DATASETS.items() if not info.streaming)]
    labels = DATASETS[check_choice("dataset", dataset, choices)].label_names
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != len(labels):
        fail(
            "preds",
            f"`preds` must be a batch of {len(labels)} scores for dataset={dataset!r}.",
            f"<array of shape {preds.shape}>",
        )
    results = []
    for row in preds:
        best = np.argsort(row)[::-1][:top]
        results.append([(labels[i], labels[i], float(row[i])) for i in best])
    return results


def family_functions(mode, dataset="cifar10"):
    """The `(preprocess_input, decode_predictions)` pair of a family, with keras'
    signatures: `preprocess_input(x, data_format=None)`, `decode_predictions(preds, top=5)`.
    """
    check_choice("mode", mode, IMAGENET_MODES + ("standardize",))
    decode_dataset = "imagenet" if mode in IMAGENET_MODES else dataset

    def family_preprocess_input(x, data_format=None):
        return preprocess_input(x, mode=mode, data_format=data_format, dataset=dataset)

    def family_decode_predictions(preds, top=5):
        return decode_predictions(preds, top, dataset=decode_dataset)

    family_preprocess_input.__name__ = "preprocess_input"
    family_decode_predictions.__name__ = "decode_predictions"
    family_preprocess_input.__doc__ = f"`preprocess_input` in mode {mode!r}" + (
        f" with {dataset}'s statistics." if mode == "standardize" else " (keras.applications)."
    )
    family_decode_predictions.__doc__ = f"`decode_predictions` over {decode_dataset}'s classes."
    return family_preprocess_input, family_decode_predictions
