"""The datasets the package knows, as data: shapes, classes, label names, statistics.

One table, `DATASETS`, read by the models (`preprocess_input`, `decode_predictions`,
the preprocessing of zoo models), the data pipelines and the zoo tools. Pure data,
so that the model core can read it without importing the data loaders.

The statistics are per-channel means and standard deviations of the training images
on the 0..255 scale: CIFAR's from fb.resnet.torch's `datasets/cifar*.lua`,
Fashion-MNIST's computed from its 60,000 training images (`data.channel_stats`,
tested against this table). ImageNet's are fb.resnet.torch's, in [0, 1] units
(`IMAGENET_MEAN`, `IMAGENET_STD`): keras.applications' "torch" mode.
"""

import dataclasses
from typing import Optional, Tuple

from keras_resnetv2.utils.checks import check_choice

# ImageNet statistics (fb.resnet.torch), in [0, 1] units: too large to compute here.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a model and a pipeline need to know about a dataset.

    Attributes:
        name: the dataset's name.
        num_classes: number of classes.
        label_names: class names, indexed by label.
        input_shape: `(height, width, channels)` of an image.
        flip: whether random horizontal flips are a valid augmentation.
        pad: pixels of zero padding before the random crop (0: no crop).
        source: where the data comes from.
        streaming: True when the dataset is too large for memory.
        mean, std: published per-channel statistics of the training images on the
            0..255 scale, or None where a run computes its own.
    """

    name: str
    num_classes: int
    label_names: Tuple[str, ...]
    input_shape: Tuple[int, int, int]
    flip: bool
    pad: int
    source: str
    streaming: bool = False
    mean: Optional[Tuple[float, ...]] = None
    std: Optional[Tuple[float, ...]] = None


CIFAR100_LABELS = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle",
    "bicycle", "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel",
    "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster",
    "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse",
    "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear",
    "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea",
    "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table",
    "tank", "telephone", "television", "tiger", "tractor", "train", "trout",
    "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman",
    "worm",
)

DATASETS = {
    "fashion_mnist": DatasetInfo(
        name="fashion_mnist",
        num_classes=10,
        label_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
        input_shape=(28, 28, 1),
        flip=True,
        pad=4,
        source="IDX files of the Debian package dataset-fashion-mnist or --data_dir",
        mean=(72.940,),
        std=(90.021,),
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        num_classes=10,
        label_names=(
            "airplane", "automobile", "bird", "cat", "deer",
            "dog", "frog", "horse", "ship", "truck",
        ),
        input_shape=(32, 32, 3),
        flip=True,
        pad=4,
        source="tensorflow-datasets 'cifar10'",
        mean=(125.3, 123.0, 113.9),
        std=(63.0, 62.1, 66.7),
    ),
    "cifar100": DatasetInfo(
        name="cifar100",
        num_classes=100,
        label_names=CIFAR100_LABELS,
        input_shape=(32, 32, 3),
        flip=True,
        pad=4,
        source="tensorflow-datasets 'cifar100' (fine labels)",
        mean=(129.3, 124.1, 112.4),
        std=(68.2, 65.4, 70.4),
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


def standardized_datasets():
    """The datasets with published statistics: `preprocess_input(mode="standardize")`'s."""
    return [name for name, info in DATASETS.items() if info.mean is not None]


def dataset_info(name):
    """The `DatasetInfo` of `name`, or a `ValueError` listing the valid names."""
    return DATASETS[check_choice("dataset", name, DATASETS)]
