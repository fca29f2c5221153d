"""Recomputes a zoo entry's test accuracy on the real test set (and its confusion matrix).

Needs the dataset (`keras_resnetv2.data`, which uses TensorFlow). `evaluate` measures
what users get: the raw 0..255 test images into the model the entry's builder makes
for its tag, whose first layer applies the entry's preprocessing.
"""

import dataclasses

import keras
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


def evaluate_model(model, *, dataset, mean=None, std=None, data_dir=None, batch_size=500, limit=None,
                   progress=False):
    """Classifies the test split of `dataset` with `model`.

    Args:
        model: a classifier.
        dataset: a `keras_resnetv2.data` dataset name.
        mean, std: per-channel statistics on the 0..255 scale to normalize the
            images with, for a bare net; None (default) feeds the raw uint8 images,
            for a model that preprocesses them itself.
        data_dir: the dataset's folder, as `keras_resnetv2.data.load` takes it.
        batch_size: images per forward pass.
        limit: evaluate only the first `limit` test images (quick checks).
        progress: show a progress bar (images classified so far, and the time left).

    Returns:
        An `Evaluation`.
    """
    images, labels = data.load(dataset, data_dir=data_dir).test
    images, labels = images[:limit], labels[:limit]
    if mean is not None:
        images = (images.astype("float32") - np.asarray(mean, "float32")) / np.asarray(std, "float32")
    bar = keras.utils.Progbar(len(images), unit_name="image") if progress else None
    predicted = []
    for i in range(0, len(images), batch_size):
        predicted.append(np.argmax(model.predict_on_batch(images[i:i + batch_size]), axis=-1))
        if bar is not None:
            bar.add(len(predicted[-1]))
    predicted = np.concatenate(predicted)
    classes = int(model.output.shape[-1])
    confusion = np.zeros((classes, classes), np.int64)
    np.add.at(confusion, (labels.astype(np.int64), predicted), 1)
    return Evaluation(accuracy=float(np.mean(predicted == labels)), confusion=confusion, examples=len(labels))


def evaluate(name, *, data_dir=None, limit=None, progress=False):
    """Builds the zoo entry `name` as users get it (its builder with `weights=tag`: the
    file found and verified, the preprocessing inside the model) and evaluates it on
    the raw test images (the first `limit` of them, if given)."""
    entry = manifest.get_entry(name)
    model = variants.build(entry["builder"], weights=entry["tag"])
    return evaluate_model(model, dataset=entry["dataset"]["name"], data_dir=data_dir, limit=limit, progress=progress)
