"""Datasets read through tensorflow-datasets: CIFAR in memory, ImageNet streamed."""

import numpy as np

from keras_resnetv2.catalog import DATASETS, IMAGENET_MEAN, IMAGENET_STD
from keras_resnetv2.utils.checks import check_choice


def import_tfds(name):
    try:
        import tensorflow_datasets as tfds  # optional dependency: tensorflow-datasets (the [data] extra)
    except ImportError as e:
        raise ImportError(
            f"Dataset {name!r} is read through tensorflow-datasets, which is not "
            "installed: `pip install tensorflow-datasets` (or `pip install "
            "keras-resnetv2[data]`). Fashion-MNIST needs no extra package. "
            f"Received: dataset={name!r}"
        ) from e
    return tfds


def load_in_memory(name, data_dir):
    tfds = import_tfds(name)
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
    import tensorflow as tf  # optional dependency: TensorFlow (the [tf] extra)

    check_choice("split", split, ("train", "validation"))
    tfds = import_tfds("imagenet2012")
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

