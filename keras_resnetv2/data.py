"""Datasets by name: in-memory uint8 arrays, metadata and tf.data pipelines.

`load(name)` returns an `ImageDataset`: train/validation/test arrays (uint8 images in
NHWC, int64 labels), the dataset's `DatasetInfo` (classes, label names, input shape,
augmentation) and the per-channel mean/std of the images actually trained on.
`train_pipeline` and `eval_pipeline` turn arrays into batched, normalized
`tf.data.Dataset`s.

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

Augmentation is the paper's (Sec. 4.2 of arXiv:1512.03385, used unchanged by
arXiv:1603.05027): zero-pad 4 pixels, random crop back to the input size, random
horizontal flip. The flip is a per-dataset choice: it stays on for Fashion-MNIST,
whose garments are left-right symmetric up to details (Random Erasing, Zhong et al.
2017, flips it too), and would be off for digits. Normalization uses per-channel
mean/std of the training images (fb.resnet.torch's choice) rather than the paper's
per-pixel mean subtraction.

Determinism: with the same seed, the training stream is a pure function of
(seed, epoch, position): epoch `e` shuffles with a stateless seed `(seed, e)` and each
image draws its crop and flip from `(seed, e * n + position)`, so a run resumed at
epoch `e` sees exactly the batches the uninterrupted run would have seen.
"""

import dataclasses
import gzip
import hashlib
import importlib.util
import os
import zlib
from typing import Dict, Optional, Tuple

import numpy as np

from keras_resnetv2 import image_folder
from keras_resnetv2.preprocessing import DATASETS as LABELS  # one list of label names per dataset
from keras_resnetv2.validation import check_choice, fail

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
# SHA-256 of the decompressed IDX files (identical to upstream zalandoresearch's bytes).
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
# The validation split is drawn with this fixed seed, so that runs with different
# training seeds are compared on the same held-out images.
VALIDATION_SPLIT_SEED = 1603
# The dataset read from a folder of class subfolders of images (`image_folder.load`).
FOLDER = "folder"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a model and a pipeline need to know about a dataset.

    Attributes:
        name: the dataset's name, as passed to `load`.
        num_classes: number of classes.
        label_names: class names, indexed by label.
        input_shape: `(height, width, channels)` of an image.
        flip: whether random horizontal flips are a valid augmentation.
        pad: pixels of zero padding before the random crop (0: no crop).
        source: where the data comes from.
        streaming: True when the dataset is too large for memory (`stream_imagenet`).
    """

    name: str
    num_classes: int
    label_names: Tuple[str, ...]
    input_shape: Tuple[int, int, int]
    flip: bool
    pad: int
    source: str
    streaming: bool = False


DATASETS = {
    "fashion_mnist": DatasetInfo(
        name="fashion_mnist",
        num_classes=10,
        label_names=LABELS["fashion_mnist"]["labels"],
        input_shape=(28, 28, 1),
        flip=True,
        pad=4,
        source=f"IDX files of the Debian package {FASHION_MNIST_PACKAGE} or --data_dir",
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        num_classes=10,
        label_names=LABELS["cifar10"]["labels"],
        input_shape=(32, 32, 3),
        flip=True,
        pad=4,
        source="tensorflow-datasets 'cifar10'",
    ),
    "cifar100": DatasetInfo(
        name="cifar100",
        num_classes=100,
        label_names=LABELS["cifar100"]["labels"],
        input_shape=(32, 32, 3),
        flip=True,
        pad=4,
        source="tensorflow-datasets 'cifar100' (fine labels)",
    ),
    "imagenet2012": DatasetInfo(
        name="imagenet2012",
        num_classes=1000,
        label_names=tuple(f"class_{i}" for i in range(1000)),
        input_shape=(224, 224, 3),
        flip=True,
        pad=0,
        source="tensorflow-datasets 'imagenet2012' (manual download)",
        streaming=True,
    ),
}
# ImageNet statistics (fb.resnet.torch), in [0, 1] units: too large to compute here.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
            f"Dataset {name!r} does not fit in memory; use `stream_imagenet` "
            f"(in-memory datasets: {[n for n, i in DATASETS.items() if not i.streaming]}).",
            name,
        )
    if not (isinstance(validation_split, (int, float)) and 0.0 <= validation_split < 1.0):
        fail("validation_split", "`validation_split` must be a number in [0, 1).", validation_split)
    if train_subset is not None and not (
        isinstance(train_subset, (int, np.integer))
        and not isinstance(train_subset, bool)
        and train_subset > 0
    ):
        fail("train_subset", "`train_subset` must be None or a positive integer.", train_subset)

    if name == FOLDER:
        info, (x_train, y_train), (x_test, y_test), checksums = _load_image_folder(data_dir)
    elif name == "fashion_mnist":
        (x_train, y_train), (x_test, y_test), checksums = _load_fashion_mnist(data_dir)
    else:
        (x_train, y_train), (x_test, y_test), checksums = _load_tfds_in_memory(name, data_dir)

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


# ---------------------------------------------------------------------------
# Fashion-MNIST from IDX files.


def _load_fashion_mnist(data_dir):
    if data_dir is None and not os.path.isdir(FASHION_MNIST_DIR) and importlib.util.find_spec("tensorflow_datasets"):
        # No Debian package here: TFDS downloads and verifies it where the network allows.
        return _load_tfds_in_memory("fashion_mnist", None)
    data_dir = FASHION_MNIST_DIR if data_dir is None else os.fspath(data_dir)
    arrays, checksums = {}, {}
    for stem, expected in FASHION_MNIST_SHA256.items():
        path = _find_idx_file(data_dir, stem)
        raw = read_idx_bytes(path, expected_sha256=expected)
        arrays[stem] = parse_idx(raw, path)
        checksums[stem] = expected
    x_train, y_train = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    x_test, y_test = arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]
    for images, labels, split in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if len(images) != len(labels):
            raise ValueError(
                f"Fashion-MNIST {split}: {len(images)} images but {len(labels)} labels in {data_dir}."
            )
    return (x_train[..., None], y_train.astype(np.int64)), (x_test[..., None], y_test.astype(np.int64)), checksums


def _find_idx_file(data_dir, stem):
    for candidate in (stem + ".gz", stem):
        path = os.path.join(data_dir, candidate)
        if os.path.isfile(path):
            return path
    if data_dir == FASHION_MNIST_DIR:
        how = (
            f"Install the Debian package: `sudo apt-get install {FASHION_MNIST_PACKAGE}`, "
            "or pass --data_dir (data_dir=) with the four IDX files (.gz or not), or "
            "`pip install tensorflow-datasets` to download it through TFDS."
        )
    else:
        how = (
            f"Pass --data_dir (data_dir=) a folder with the four IDX files (.gz or not), "
            f"or install them with `sudo apt-get install {FASHION_MNIST_PACKAGE}` and drop "
            "--data_dir."
        )
    raise FileNotFoundError(
        f"Fashion-MNIST file {stem}.gz not found in {data_dir}. {how} Received: data_dir={data_dir!r}"
    )


def read_idx_bytes(path, *, expected_sha256):
    """The decompressed bytes of IDX file `path` (gzipped if it ends in .gz), verified.

    Raises:
        ValueError: naming the file and both digests, if the file is truncated,
            corrupted or not gzip, or its decompressed bytes do not hash to
            `expected_sha256`.
    """
    digest = hashlib.sha256()
    chunks = []
    problem = None
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                chunks.append(chunk)
    except (EOFError, OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        problem = f"it is truncated or not a valid gzip file ({e})"
    actual = digest.hexdigest()
    if problem is None and actual != expected_sha256:
        problem = "its content does not match (corrupted, truncated or a different file)"
    if problem is not None:
        size = sum(len(c) for c in chunks)
        raise ValueError(
            f"Checksum error in {path}: {problem}. SHA-256 of the {size} decompressed "
            f"bytes read: {actual}; expected: {expected_sha256}. Reinstall the data "
            f"(`sudo apt-get install --reinstall {FASHION_MNIST_PACKAGE}`) or pass "
            f"--data_dir with intact files. Received: path={path!r}"
        )
    return b"".join(chunks)


def parse_idx(raw, path="<bytes>"):
    """An IDX file's bytes as a uint8 numpy array (only the unsigned-byte type)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (bad magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise ValueError(f"{path}: IDX header says shape {shape}, but the file has {len(raw) - header} data bytes.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


# ---------------------------------------------------------------------------
# A folder of class subfolders of images.


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


# ---------------------------------------------------------------------------
# tensorflow-datasets sources.


def _import_tfds(name):
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ImportError(
            f"Dataset {name!r} is read through tensorflow-datasets, which is not "
            "installed: `pip install tensorflow-datasets` (or `pip install "
            "keras-resnetv2[data]`). Fashion-MNIST needs no extra package. "
            f"Received: dataset={name!r}"
        ) from e
    return tfds


def _load_tfds_in_memory(name, data_dir):
    tfds = _import_tfds(name)
    builder = tfds.builder(name, data_dir=data_dir)
    builder.download_and_prepare()
    splits = tfds.as_numpy(builder.as_dataset(split=["train", "test"], batch_size=-1, as_supervised=True))
    (x_train, y_train), (x_test, y_test) = splits
    checksums = {f"tfds:{name}": str(builder.info.version)}
    return (
        (np.asarray(x_train, np.uint8), np.asarray(y_train, np.int64)),
        (np.asarray(x_test, np.uint8), np.asarray(y_test, np.int64)),
        checksums,
    )


def stream_imagenet(split, *, data_dir, batch_size, seed, training):
    """ImageNet (ILSVRC 2012) through TFDS, streamed, batched and normalized.

    Training: the Inception-style random-resized crop (8%-100% of the area) at 224
    and a random flip, a common substitute for the paper's scale augmentation (the
    shorter side resized to [256, 480]); evaluation: resize the shorter side to 256
    and crop the central 224 (the paper reports single 320 crops too). Normalized
    with fb.resnet.torch's ImageNet mean/std.

    Args:
        split: "train" or "validation".
        data_dir: TFDS's data directory; the archives go in `data_dir/downloads/manual`.
        batch_size: global batch size.
        seed: shuffle and augmentation seed.
        training: whether to shuffle, repeat and augment.
    """
    import tensorflow as tf

    check_choice("split", split, ("train", "validation"))
    tfds = _import_tfds("imagenet2012")
    ds = tfds.load(
        "imagenet2012",
        split=split,
        data_dir=data_dir,
        as_supervised=True,
        shuffle_files=training,
        read_config=tfds.ReadConfig(shuffle_seed=seed),
    )
    size = DATASETS["imagenet2012"].input_shape[0]
    mean = tf.constant(IMAGENET_MEAN, tf.float32)
    std = tf.constant(IMAGENET_STD, tf.float32)

    def train_map(image, label):
        bbox = tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4])
        begin, crop, _ = tf.image.sample_distorted_bounding_box(
            tf.shape(image), bbox, min_object_covered=0.1,
            aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0),
            max_attempts=10, use_image_if_no_bounding_boxes=True, seed=seed,
        )
        image = tf.slice(image, begin, crop)
        image = tf.image.resize(image, (size, size))
        image = tf.image.random_flip_left_right(image, seed=seed)
        return (image / 255.0 - mean) / std, label

    def eval_map(image, label):
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = 256.0 / tf.reduce_min(shape)
        image = tf.image.resize(image, tf.cast(tf.round(shape * scale), tf.int32))
        image = tf.image.resize_with_crop_or_pad(image, size, size)
        return (image / 255.0 - mean) / std, label

    if training:
        ds = ds.shuffle(16 * batch_size, seed=seed).repeat()
    ds = ds.map(train_map if training else eval_map, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------------------
# Pipelines.


def steps_per_epoch(num_examples, batch_size):
    """Full batches per epoch (the training stream drops the last partial batch)."""
    steps = num_examples // batch_size
    if steps == 0:
        fail(
            "batch_size",
            f"`batch_size` must be at most the {num_examples} training images.",
            batch_size,
        )
    return steps


# Random Erasing's box: its area as a fraction of the image, and its aspect ratio
# (Zhong et al., AAAI 2020, Sec. 3.1: s_l = 0.02, s_h = 0.4, r_1 = 0.3, r_2 = 1/0.3).
ERASING_AREA = (0.02, 0.4)
ERASING_ASPECT = (0.3, 1 / 0.3)


def random_erase(image, seed, probability):
    """Random Erasing of one image: a random box filled with random pixel values.

    With `probability`, a box of area `ERASING_AREA` times the image's and aspect
    ratio (height / width) log-uniform in `ERASING_ASPECT` is placed uniformly in
    the image and filled with uniform random values (Zhong et al.'s "RE-R").
    Departure: the paper redraws a box that does not fit the image (up to 100
    times); here its sides are clipped to the image's, which erases slightly more
    often on tall or wide draws. Stateless: a pure function of `seed` (shape [2]).

    Args:
        image: uint8 tensor `(height, width, channels)`.
        seed: int64 tensor of shape `[2]`.
        probability: float in [0, 1].

    Returns:
        The image, erased or not, same shape and dtype.
    """
    import tensorflow as tf

    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    draws = tf.random.stateless_uniform([5], seed=seed)
    area = tf.cast(height * width, tf.float32) * (ERASING_AREA[0] + draws[1] * (ERASING_AREA[1] - ERASING_AREA[0]))
    log_low, log_high = np.log(ERASING_ASPECT[0]), np.log(ERASING_ASPECT[1])
    aspect = tf.exp(log_low + draws[2] * (log_high - log_low))
    box_h = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(area * aspect)), tf.int32), 1, height)
    box_w = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(area / aspect)), tf.int32), 1, width)
    top = tf.cast(draws[3] * tf.cast(height - box_h + 1, tf.float32), tf.int32)
    left = tf.cast(draws[4] * tf.cast(width - box_w + 1, tf.float32), tf.int32)
    rows = tf.range(height)[:, None, None]
    cols = tf.range(width)[None, :, None]
    inside = (rows >= top) & (rows < top + box_h) & (cols >= left) & (cols < left + box_w)
    noise_seed = tf.random.experimental.stateless_fold_in(seed, 1)
    noise = tf.cast(tf.random.stateless_uniform(shape, seed=noise_seed, maxval=256, dtype=tf.int32), image.dtype)
    erase = inside & (draws[0] < probability)
    return tf.where(erase, noise, image)


def train_pipeline(
    images, labels, *, batch_size, mean, std, seed, augment=True, pad=4, flip=True, start_epoch=0,
    random_erasing=0.0,
):
    """An endless stream of shuffled, augmented, normalized training batches.

    Every epoch is a fresh permutation of the images cut into `steps_per_epoch` full
    batches (the last partial batch is dropped, so every replica of a distributed
    run gets equal batches). The stream is a pure function of `seed` and the epoch
    (see the module docstring); `start_epoch` starts it where a resumed run left off.

    Args:
        images: uint8 array `(n, height, width, channels)`.
        labels: int array `(n,)`.
        batch_size: global batch size.
        mean, std: per-channel statistics in [0, 1] units.
        seed: int.
        augment: apply the random crop (if `pad`), flip (if `flip`) and
            Random Erasing (if `random_erasing`).
        pad: zero padding before the random crop, in pixels.
        flip: random horizontal flips.
        start_epoch: first epoch of the stream.
        random_erasing: probability of a Random Erasing box per image (after
            the crop and flip; `random_erase`).

    Returns:
        A `tf.data.Dataset` of `(float32 images, int64 labels)`, batched.
    """
    import tensorflow as tf

    n = len(images)
    steps = steps_per_epoch(n, batch_size)
    used = steps * batch_size
    height, width, _ = images.shape[1:]
    images_t = tf.constant(images)
    labels_t = tf.constant(np.asarray(labels, np.int64))
    seed = int(seed)

    def augment_one(index, position):
        image = tf.gather(images_t, index)
        if augment and pad:
            op_seed = tf.stack([tf.constant(seed, tf.int64), position])
            image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
            image = tf.image.stateless_random_crop(image, tf.shape(images_t)[1:], seed=op_seed)
        if augment and flip:
            flip_seed = tf.stack([tf.constant(seed + 1, tf.int64), position])
            image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
        if augment and random_erasing:
            erase_seed = tf.stack([tf.constant(seed + 2, tf.int64), position])
            image = random_erase(image, erase_seed, random_erasing)
        image.set_shape((height, width, images.shape[-1]))
        return image, tf.gather(labels_t, index)

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), e])
        )[:used]
        positions = e * n + tf.range(used, dtype=tf.int64)
        return tf.data.Dataset.from_tensor_slices((order, positions))

    ds = tf.data.Dataset.range(start_epoch, np.iinfo(np.int64).max).flat_map(epoch)
    ds = ds.map(augment_one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.map(_normalizer(mean, std), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_pipeline(images, labels, *, batch_size, mean, std):
    """Normalized evaluation batches in order, the last one partial."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, np.asarray(labels, np.int64)))
    ds = ds.batch(batch_size).map(_normalizer(mean, std), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _normalizer(mean, std):
    import tensorflow as tf

    mean = tf.constant(mean, tf.float32)
    std = tf.constant(std, tf.float32)

    def normalize(images, labels):
        return (tf.cast(images, tf.float32) / 255.0 - mean) / std, labels

    return normalize
