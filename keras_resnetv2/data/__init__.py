"""Data: the datasets of the catalog as in-memory arrays or streams, and tf.data pipelines.

    datasets.py       `load(name)`: an `ImageDataset` (splits, statistics, checksums)
    idx.py            Fashion-MNIST from IDX files (Debian's package or a folder)
    tfds_source.py    CIFAR and ImageNet through tensorflow-datasets
    image_folder.py   a user's folder of class subfolders of images
    pipelines.py      shuffled, augmented, normalized batches (`train_pipeline`, `eval_pipeline`)

The datasets' metadata (classes, label names, shapes, statistics) is
`keras_resnetv2.catalog`, shared with the models. TensorFlow (tf.data) is imported
inside the functions that build pipelines, so that listing or loading arrays needs
NumPy alone.
"""

from keras_resnetv2.catalog import DATASETS, IMAGENET_MEAN, IMAGENET_STD, DatasetInfo  # noqa: F401
from keras_resnetv2.data.datasets import (  # noqa: F401
    FOLDER, VALIDATION_SPLIT_SEED, ImageDataset, channel_stats, get_info, list_datasets, load,
)
from keras_resnetv2.data.idx import (  # noqa: F401
    FASHION_MNIST_DIR, FASHION_MNIST_PACKAGE, FASHION_MNIST_SHA256, parse_idx, read_idx_bytes,
)
from keras_resnetv2.data.pipelines import (  # noqa: F401
    ERASING_AREA, ERASING_ASPECT, eval_pipeline, random_erase, steps_per_epoch, train_pipeline,
)
from keras_resnetv2.data.tfds_source import stream_imagenet  # noqa: F401
