"""Recomputes a zoo entry's test accuracy on the real test set (and its confusion matrix).

Needs the dataset (`keras_resnetv2.data`, which uses TensorFlow); the images are
normalized with the entry's recorded per-channel mean and std, exactly as in training.
"""

import dataclasses

import numpy as np

from keras_resnetv2 import data
from keras_resnetv2.models import variants
from keras_resnetv2.weights import manifest


@dataclasses.dataclass
class Evaluation:
    """Test-set predictions of a model and what follows from them.

    Attributes:
        accuracy: fraction of the test images classified correctly.
        confusion: `[true class, predicted class]` counts.
        examples: number of test images.
    """

    accuracy: float
    confusion: np.ndarray
    examples: int

    @property
    def per_class_accuracy(self):
        return np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=1), 1)


def evaluate_model(model, *, dataset, mean, std, data_dir=None, batch_size=500):
    """Classifies the test split of `dataset` with `model`.

    Args:
        model: a classifier taking normalized images.
        dataset: a `keras_resnetv2.data` dataset name.
        mean, std: per-channel statistics on the 0..255 scale (the entry's
            `preprocessing`).
        data_dir: the dataset's folder, as `keras_resnetv2.data.load` takes it.
        batch_size: images per forward pass.

    Returns:
        An `Evaluation`.
    """
    images, labels = data.load(dataset, data_dir=data_dir).test
    mean = np.asarray(mean, "float32")
    std = np.asarray(std, "float32")
    predicted = np.concatenate([
        np.argmax(model.predict_on_batch((images[i:i + batch_size].astype("float32") - mean) / std), axis=-1)
        for i in range(0, len(images), batch_size)
    ])
    classes = int(model.output.shape[-1])
    confusion = np.zeros((classes, classes), np.int64)
    np.add.at(confusion, (labels.astype(np.int64), predicted), 1)
    return Evaluation(accuracy=float(np.mean(predicted == labels)), confusion=confusion, examples=len(labels))


def evaluate(name, *, data_dir=None):
    """Builds the zoo entry `name` through its builder (`weights=tag`, so the file is
    found and verified as users get it) and evaluates it on the real test set."""
    entry = manifest.get_entry(name)
    model = variants.build(entry["builder"], weights=entry["tag"])
    preprocessing = entry["preprocessing"]
    return evaluate_model(
        model,
        dataset=entry["dataset"]["name"],
        mean=preprocessing["mean"],
        std=preprocessing["std"],
        data_dir=data_dir,
    )
