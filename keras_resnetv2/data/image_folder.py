"""A user's own dataset: a folder of class subfolders of images, read into uint8 arrays.

Two layouts, told apart by a `train` subfolder:

    data_dir/train/<class>/*.png and data_dir/test/<class>/*.png
    data_dir/<class>/*.png     (a fixed `TEST_SPLIT` of the images is the test set)

The label names are the sorted class subfolder names (test/ must have the same ones).
Files ending in `IMAGE_EXTENSIONS` (any case) are read with Pillow; other files and
hidden ones are ignored. When every image has one channel (Pillow modes "1", "L",
"LA") they stay grayscale, otherwise all are converted to RGB (alpha dropped).

Departure from `keras.utils.image_dataset_from_directory`: images are never resized
(a resize changes what the network sees, silently); they must all have one size, or
`load` raises naming the common size and a file that differs. The whole folder is held in memory, like the
other in-memory datasets; `data.load("folder", data_dir=...)` wraps this module with
the dataset's metadata (CIFAR's pad-4 crop and flip augmentation).
"""

import collections
import dataclasses
import hashlib
import io
import os
from typing import Tuple

import numpy as np

from keras_resnetv2.utils.checks import fail

# The file types read (those of `keras.utils.image_dataset_from_directory`).
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# The fraction of the images held out as the test set when there is no test/ folder.
TEST_SPLIT = 0.2


@dataclasses.dataclass
class ImageFolder:
    """The images of a folder.

    Attributes:
        path: the folder, absolute.
        label_names: the class subfolder names, indexed by label.
        train, test: `(uint8 images NHWC, int64 labels)`.
        sha256: SHA-256 over every image's relative path and bytes, in order.
    """

    path: str
    label_names: Tuple[str, ...]
    train: Tuple[np.ndarray, np.ndarray]
    test: Tuple[np.ndarray, np.ndarray]
    sha256: str


def load(data_dir, *, test_split_seed):
    """Reads the folder `data_dir` (see the module docstring).

    Args:
        data_dir: the folder.
        test_split_seed: seed of the held-out test images (layout without test/).

    Returns:
        An `ImageFolder`.

    Raises:
        FileNotFoundError: `data_dir`, or the test/ beside its train/, is missing.
        ValueError: `data_dir` not set, no class subfolders, a class without
            images, different classes in train/ and test/, too few images to split,
            images of different sizes, an unreadable image.
    """
    if data_dir is None:
        fail(
            "data_dir",
            "The 'folder' dataset reads `data_dir` (--data_dir), a folder of class "
            "subfolders of images; it is not set.",
            data_dir,
        )
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(
            f"The image folder {data_dir} does not exist or is not a folder. Received: data_dir={data_dir!r}"
        )
    train_dir = os.path.join(data_dir, "train")
    if os.path.isdir(train_dir):
        test_dir = os.path.join(data_dir, "test")
        if not os.path.isdir(test_dir):
            raise FileNotFoundError(
                f"{data_dir} has a train/ folder but no test/ folder beside it: add "
                "test/<class>/ images, or put the class subfolders directly in the "
                f"folder (a {TEST_SPLIT:.0%} test split is then held out). Received: data_dir={data_dir!r}"
            )
        label_names = _class_folders(train_dir, data_dir)
        test_names = _class_folders(test_dir, data_dir)
        if test_names != label_names:
            fail(
                "data_dir",
                "train/ and test/ must have the same class subfolders; only in train/: "
                f"{sorted(set(label_names) - set(test_names))}, only in test/: "
                f"{sorted(set(test_names) - set(label_names))}.",
                data_dir,
            )
        train_files = _image_files(train_dir, label_names, data_dir)
        test_files = _image_files(test_dir, label_names, data_dir, allow_empty=True)
    else:
        label_names = _class_folders(data_dir, data_dir)
        files = _image_files(data_dir, label_names, data_dir)
        held_out = int(round(TEST_SPLIT * len(files)))
        if held_out == 0 or held_out == len(files):
            fail(
                "data_dir",
                f"{data_dir} has {len(files)} images: too few to hold out a {TEST_SPLIT:.0%} "
                "test split and train on the rest.",
                data_dir,
            )
        order = np.random.default_rng(test_split_seed).permutation(len(files))
        test_files = [files[i] for i in np.sort(order[:held_out])]
        train_files = [files[i] for i in np.sort(order[held_out:])]

    digest = hashlib.sha256()
    images = _read_images([path for path, _ in train_files + test_files], data_dir, digest)
    labels = np.array([label for _, label in train_files + test_files], np.int64)
    n = len(train_files)
    return ImageFolder(
        path=os.path.abspath(data_dir),
        label_names=tuple(label_names),
        train=(images[:n], labels[:n]),
        test=(images[n:], labels[n:]),
        sha256=digest.hexdigest(),
    )


def _class_folders(folder, data_dir):
    names = sorted(
        name for name in os.listdir(folder)
        if not name.startswith(".") and os.path.isdir(os.path.join(folder, name))
    )
    if not names:
        fail("data_dir", f"{folder} has no class subfolders (one folder of images per class).", data_dir)
    return names


def _image_files(folder, label_names, data_dir, *, allow_empty=False):
    """`(path, label)` of the images in `folder/<class>/`, sorted by class and name."""
    files = []
    for label, name in enumerate(label_names):
        class_dir = os.path.join(folder, name)
        found = sorted(
            f for f in os.listdir(class_dir)
            if not f.startswith(".")
            and f.lower().endswith(IMAGE_EXTENSIONS)
            and os.path.isfile(os.path.join(class_dir, f))
        )
        if not found and not allow_empty:
            fail(
                "data_dir",
                f"The class folder {class_dir} has no images (files ending in {', '.join(IMAGE_EXTENSIONS)}).",
                data_dir,
            )
        files += [(os.path.join(class_dir, f), label) for f in found]
    return files


def _read_images(paths, data_dir, digest):
    """The images at `paths` as one uint8 NHWC array; updates `digest` with each file."""
    try:
        from PIL import Image, UnidentifiedImageError  # optional dependency: Pillow (the [train] extra)
    except ImportError as e:
        raise ImportError(
            "The 'folder' dataset reads images with Pillow, which is not installed: "
            f"`pip install pillow`. Received: data_dir={data_dir!r}"
        ) from e

    opened = []
    for path in paths:
        with open(path, "rb") as f:
            raw = f.read()
        digest.update(os.path.relpath(path, data_dir).encode("utf-8") + b"\0" + raw)
        try:
            image = Image.open(io.BytesIO(raw))
            image.load()
        except (UnidentifiedImageError, OSError) as e:
            fail("data_dir", f"{path} is not a readable image ({e}).", data_dir)
        opened.append(image)
    sizes = collections.Counter(image.size for image in opened)
    if len(sizes) > 1:
        (common, count), (odd, _) = sizes.most_common(2)
        example = next(p for p, image in zip(paths, opened) if image.size == common)
        odd_path = next(p for p, image in zip(paths, opened) if image.size == odd)
        fail(
            "data_dir",
            f"All images must have the same size (they are not resized): {count} of the "
            f"{len(paths)} are {common[0]}x{common[1]} (width x height, e.g. {example}) but "
            f"{odd_path} is {odd[0]}x{odd[1]}; resize them to one size.",
            data_dir,
        )
    mode = "L" if all(image.mode in ("1", "L", "LA") for image in opened) else "RGB"
    width, height = opened[0].size
    return np.stack([np.asarray(image.convert(mode), np.uint8).reshape(height, width, -1) for image in opened])
