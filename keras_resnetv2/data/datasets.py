"""Datasets by name, in memory: the splits, the catalog's metadata, the statistics.

`load(name)` returns an `ImageDataset`: train/validation/test arrays (uint8 images in
NHWC, int64 labels), the dataset's `catalog.DatasetInfo` (classes, label names, input
shape, augmentation) and the per-channel mean/std of the images actually trained on.

Sources:

* `fashion_mnist`: offline, from the IDX files of Debian's `dataset-fashion-mnist`
  (`/usr/share/datasets/fashion-mnist/*.gz`) or of a `data_dir` (gzipped or not),
  verified by the SHA-256 of the *decompressed* IDX bytes (Debian recompresses the
  .gz files, so checksums of the compressed upstream files reject them).
* `cifar10`, `cifar100`: tensorflow-datasets (`pip install tensorflow-datasets`),
  read into memory; `data_dir` is TFDS's data directory.
* `imagenet2012`: tensorflow-datasets with the manually downloaded archives in
  `data_dir/downloads/manual`; too large for memory, so it streams (`stream_imagenet`).
* `folder`: a user's own images in `data_dir`, one subfolder per class (the sorted
  subfolder names are the label names), read with Pillow; see `image_folder.load`.

Augmentation and batching: `pipelines`.
"""

import dataclasses
import importlib.util
import os
from typing import Dict, Optional, Tuple

import numpy as np

from keras_resnetv2.catalog import DATASETS, DatasetInfo
from keras_resnetv2.data import idx, image_folder, tfds_source
from keras_resnetv2.utils.checks import check_choice, check_int, check_number, fail

# The validation split is drawn with this fixed seed, so that runs with different
# training seeds are compared on the same held-out images.
VALIDATION_SPLIT_SEED = 1603
# The dataset read from a folder of class subfolders of images (`image_folder.load`).
FOLDER = "folder"


def list_datasets():
    """The dataset names `load` accepts."""
    return [*DATASETS, FOLDER]


def get_info(name):
    """The `DatasetInfo` of `name`, or a `ValueError` listing the valid names.

    The `folder` dataset's metadata comes from its files: `load(FOLDER, data_dir=...).info`.
    """
    check_choice("dataset", name, list_datasets())
    if name == FOLDER:
        fail(
            "dataset",
            f"The {FOLDER!r} dataset's classes and image shape come from its files; "
            f"read them with `load({FOLDER!r}, data_dir=PATH).info`.",
            name,
        )
    return DATASETS[name]


@dataclasses.dataclass
class ImageDataset:
    """An in-memory dataset: uint8 NHWC images and int64 labels per split.

    Attributes:
        info: the `DatasetInfo`.
        train, validation, test: `(images, labels)`; `validation` is None without a
            validation split.
        mean, std: per-channel statistics of `train`'s images, in [0, 1] units.
        checksums: SHA-256 (or version) of every source file, for provenance.
    """

    info: DatasetInfo
    train: Tuple[np.ndarray, np.ndarray]
    validation: Optional[Tuple[np.ndarray, np.ndarray]]
    test: Tuple[np.ndarray, np.ndarray]
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    checksums: Dict[str, str]


def load(name, *, data_dir=None, validation_split=0.0, train_subset=None):
    """Loads dataset `name` into memory.

    Args:
        name: one of `list_datasets()` except streaming ones (`imagenet2012`).
        data_dir: folder with the source files (Fashion-MNIST's IDX files; the image
            folder of `folder`, required; TFDS's data directory for the others).
            Default: the Debian package's folder for Fashion-MNIST, TFDS's default
            otherwise.
        validation_split: fraction in [0, 1) of the training images held out as a
            validation set (e.g. 0.1 is the paper's 45k/5k CIFAR split), drawn with
            the fixed seed `VALIDATION_SPLIT_SEED`.
        train_subset: if set, keep only this many training images (after the
            validation split), a fixed random subset; for quick runs and tests.

    Returns:
        An `ImageDataset`.
    """
    info = None if name == FOLDER else get_info(name)
    if info is not None and info.streaming:
        fail(
            "dataset",
            f"Dataset {name!r} does not fit in memory; use `data.stream_imagenet` "
            f"(in-memory datasets: {[n for n, i in DATASETS.items() if not i.streaming]}).",
            name,
        )
    validation_split = check_number("validation_split", validation_split, low=0.0, high=1.0)
    train_subset = check_int("train_subset", train_subset, minimum=1, optional=True)

    if name == FOLDER:
        info, (x_train, y_train), (x_test, y_test), checksums = _load_image_folder(data_dir)
    elif name == "fashion_mnist" and (
        data_dir is not None or os.path.isdir(idx.FASHION_MNIST_DIR) or not importlib.util.find_spec("tensorflow_datasets")
    ):
        (x_train, y_train), (x_test, y_test), checksums = idx.load_fashion_mnist(data_dir)
    else:  # CIFAR, or Fashion-MNIST without the Debian package: TFDS downloads and verifies it
        (x_train, y_train), (x_test, y_test), checksums = tfds_source.load_in_memory(name, data_dir)

    validation = None
    if validation_split:
        order = np.random.default_rng(VALIDATION_SPLIT_SEED).permutation(len(x_train))
        held_out = int(round(validation_split * len(x_train)))
        if held_out == 0 or held_out == len(x_train):
            fail(
                "validation_split",
                f"`validation_split` leaves an empty split of the {len(x_train)} training images.",
                validation_split,
            )
        val_idx, train_idx = np.sort(order[:held_out]), np.sort(order[held_out:])
        validation = (x_train[val_idx], y_train[val_idx])
        x_train, y_train = x_train[train_idx], y_train[train_idx]
    if train_subset is not None:
        if train_subset > len(x_train):
            fail(
                "train_subset",
                f"`train_subset` must be at most the {len(x_train)} training images.",
                train_subset,
            )
        keep = np.sort(np.random.default_rng(VALIDATION_SPLIT_SEED + 1).permutation(len(x_train))[:train_subset])
        x_train, y_train = x_train[keep], y_train[keep]

    mean, std = channel_stats(x_train)
    return ImageDataset(
        info=info,
        train=(x_train, y_train),
        validation=validation,
        test=(x_test, y_test),
        mean=mean,
        std=std,
        checksums=checksums,
    )


def channel_stats(images):
    """Per-channel mean and std of uint8 NHWC `images`, in [0, 1] units."""
    pixels = images.reshape(-1, images.shape[-1])
    mean = np.zeros(pixels.shape[-1])
    sq = np.zeros(pixels.shape[-1])
    for start in range(0, len(pixels), 1 << 22):  # chunks: no float64 copy of it all
        chunk = pixels[start : start + (1 << 22)].astype(np.float64)
        mean += chunk.sum(axis=0)
        sq += (chunk**2).sum(axis=0)
    mean /= len(pixels)
    std = np.sqrt(np.maximum(sq / len(pixels) - mean**2, 0.0))
    return tuple(float(m) / 255.0 for m in mean), tuple(max(float(s), 1e-3) / 255.0 for s in std)



def _load_image_folder(data_dir):
    folder = image_folder.load(data_dir, test_split_seed=VALIDATION_SPLIT_SEED + 2)
    info = DatasetInfo(
        name=FOLDER,
        num_classes=len(folder.label_names),
        label_names=folder.label_names,
        input_shape=folder.train[0].shape[1:],
        flip=True,
        pad=4,
        source=f"image folder {folder.path}",
    )
    return info, folder.train, folder.test, {FOLDER: folder.sha256}

