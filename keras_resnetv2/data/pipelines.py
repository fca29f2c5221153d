"""tf.data pipelines: shuffled, augmented, normalized training batches; evaluation batches.

Augmentation is the paper's (Sec. 4.2 of arXiv:1512.03385, used unchanged by
arXiv:1603.05027): zero-pad 4 pixels, random crop back to the input size, random
horizontal flip; optionally Random Erasing (not in the paper). The flip is a
per-dataset choice (`catalog.DatasetInfo.flip`). Normalization uses per-channel
mean/std of the training images (fb.resnet.torch's choice) rather than the paper's
per-pixel mean subtraction.

Determinism: with the same seed, the training stream is a pure function of
(seed, epoch, position): epoch `e` shuffles with a stateless seed `(seed, e)` and each
image draws its crop, flip and erasing from `(seed, e * n + position)`, so a run
resumed at epoch `e` sees exactly the batches the uninterrupted one would have seen.
"""

import numpy as np

from keras_resnetv2.utils.checks import fail


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
    import tensorflow as tf  # optional dependency: TensorFlow (the [tf] extra)

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
    import tensorflow as tf  # optional dependency: TensorFlow (the [tf] extra)

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
    import tensorflow as tf  # optional dependency: TensorFlow (the [tf] extra)

    ds = tf.data.Dataset.from_tensor_slices((images, np.asarray(labels, np.int64)))
    ds = ds.batch(batch_size).map(_normalizer(mean, std), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _normalizer(mean, std):
    import tensorflow as tf  # optional dependency: TensorFlow (the [tf] extra)

    mean = tf.constant(mean, tf.float32)
    std = tf.constant(std, tf.float32)

    def normalize(images, labels):
        return (tf.cast(images, tf.float32) / 255.0 - mean) / std, labels

    return normalize

