"""Weights registry: resolves a builder's `weights=` argument to a verified file.

`weights` is `None`, a path to an existing file, `"imagenet"` for the six
keras.applications models (the very files, URLs and MD5s keras.applications uses), or
a zoo tag of the architecture (`ResNet20V2(weights="fashion_mnist")`, from the
manifest). A zoo file is looked for in the zoo folder, then in the Keras cache
(`$KERAS_HOME/models`, default `~/.keras/models`), then downloaded from its URLs (or
from `$KERAS_RESNETV2_MIRROR/<file name>`), and its SHA-256 is checked on every load.
A mismatching cached or downloaded file is removed; a mismatching file in the zoo
folder is reported and left in place (it belongs to the checkout or installation).
"""

import os
import pathlib

import h5py
import keras

from keras_resnetv2.utils.checks import fail
from keras_resnetv2.utils.files import file_digest
from keras_resnetv2.weights import manifest

MIRROR_VARIABLE = "KERAS_RESNETV2_MIRROR"
IMAGENET_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
# MD5 of the hosted files, as keras.applications checks them: (with top, without top).
IMAGENET_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}


def available_weights(arch):
    """The named weights of architecture `arch` (e.g. `"resnet50v2"`): "imagenet" for
    the six keras.applications models, then the architecture's zoo tags."""
    if not arch:
        return []
    return (["imagenet"] if arch in IMAGENET_HASHES else []) + manifest.tags_of(arch)


def check_weights_argument(weights, arch):
    """Validates `weights` before anything is built (as keras.applications does)."""
    if weights is None:
        return
    if isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
        return
    names = available_weights(arch)
    if weights in names:
        return
    label = repr(arch) if arch else "a modified architecture"
    if weights == "imagenet":
        fail(
            "weights",
            f"No ImageNet weights exist for {label}; `weights='imagenet'` works for "
            f"{sorted(IMAGENET_HASHES)}. Use weights=None or a weights file.",
            weights,
        )
    others = sorted(
        name for name, entry in manifest.entries().items()
        if entry["tag"] == weights and entry["architecture"] != arch
    )
    elsewhere = f" The zoo has {weights!r} weights for {others}, not for {label}." if others else ""
    fail(
        "weights",
        f"`weights` must be None, one of {names} for {label}, or the path to an "
        f"existing weights file.{elsewhere}",
        weights,
    )


def pretrained_input(weights, arch):
    """`(input_shape, classes)` the named `weights` were trained with (`input_shape`
    channels last; None for ImageNet: the net's default size), or None for random
    initialization or a file."""
    if weights == "imagenet":
        return None, 1000
    if isinstance(weights, str) and weights in manifest.tags_of(arch):
        entry = manifest.get_entry(f"{arch}.{weights}")
        return tuple(entry["input_shape"]), entry["classes"]
    return None


def imagenet_file(arch, *, include_top):
    """Downloads (or finds in the Keras cache) the keras.applications file.

    The MD5 is checked on every load; a file that does not match is removed
    (keras.utils.get_file would leave it in the cache).
    """
    suffix = "" if include_top else "_notop"
    file_name = f"{arch}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    path = _download(file_name, [IMAGENET_BASE_URL.rstrip("/") + "/" + file_name])
    verify_file(path, IMAGENET_HASHES[arch][0 if include_top else 1], algorithm="md5")
    return path


def zoo_file(entry, *, folder=None):
    """The verified local file of zoo `entry`: zoo folder, cache, then download."""
    file_name, sha256 = entry["file"]["name"], entry["file"]["sha256"]
    local = manifest.entry_folder(entry, folder) / file_name
    if local.is_file():
        verify_file(local, sha256, algorithm="sha256", remove=False)
        return str(local)
    path = _download(file_name, entry["urls"])
    verify_file(path, sha256, algorithm="sha256")
    return path


def cache_dir():
    """The folder of downloaded weights: `$KERAS_HOME/models` (default ~/.keras/models)."""
    return pathlib.Path(os.environ.get("KERAS_HOME") or pathlib.Path.home() / ".keras") / "models"


def _download(file_name, urls):
    """`file_name` from the Keras cache, else from the first of `urls` that answers.

    `$KERAS_RESNETV2_MIRROR`, when set, replaces the URLs by `<mirror>/<file_name>`,
    for machines that reach only a mirror.
    """
    cached = cache_dir() / file_name
    if cached.is_file():
        return str(cached)
    mirror = os.environ.get(MIRROR_VARIABLE)
    if mirror:
        urls = [mirror.rstrip("/") + "/" + file_name]
    cached.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        try:
            return keras.utils.get_file(file_name, url, cache_dir=str(cached.parent.parent), cache_subdir="models")
        except Exception as error:  # get_file raises a bare Exception on network errors.
            failures.append(f"{url}: {error}")
    raise OSError(
        f"Could not download the weights file {file_name!r} (not in the zoo folder nor "
        f"in the cache {cached.parent}). Tried:\n  " + "\n  ".join(failures) + "\n"
        f"Behind a firewall, set {MIRROR_VARIABLE} to a base URL serving {file_name}, "
        f"or copy the file to {cached.parent}."
    )


def verify_file(path, expected, *, algorithm, remove=True):
    """Raises unless the file's `algorithm` digest is `expected`; removes a mismatching
    file when `remove` (the next load downloads it anew)."""
    actual = file_digest(path, algorithm)
    if actual != expected:
        if remove:
            os.remove(path)
        raise ValueError(
            f"The weights file {path} is corrupted or not the expected one: its "
            f"{algorithm} is {actual}, expected {expected}. "
            + ("The file was removed; loading again downloads it anew." if remove
               else "Restore it (git checkout, or reinstall keras-resnetv2).")
        )


def resolve_weights(weights, arch, *, include_top):
    """The local file behind `weights` (already validated), or None."""
    if weights is None:
        return None
    if weights == "imagenet" and weights in available_weights(arch):
        return imagenet_file(arch, include_top=include_top)
    if isinstance(weights, str) and weights in manifest.tags_of(arch):
        return zoo_file(manifest.get_entry(f"{arch}.{weights}"))
    return os.fspath(weights)


def load_weights(model, path):
    """`model.load_weights(path)`, with an error naming both sides on a mismatch.

    Keras 3 only warns when a `.weights.h5` file lacks some of the model's layers, so
    the file's variable shapes are compared with the model's first: a file of another
    architecture is an error, never a partial load.
    """
    path = os.fspath(path)
    try:
        if path.endswith(".weights.h5"):
            _check_variable_shapes(model, path)
        model.load_weights(path)
    except (ValueError, KeyError, OSError) as error:
        fail(
            "weights",
            f"The weights file {path} does not fit the architecture of {model.name!r} "
            f"({len(model.weights)} variables): {error}",
            path,
        )


def top_classes(model, path):
    """The classes of the top that the `.weights.h5` file `path` holds beyond `model`.

    For a model without its top (`include_top=False`, `features_only=True`): the
    number of classes when the file holds exactly `model`'s variables plus a Dense
    classifier on its output channels (a zoo entry, or a trained full model's file),
    else None (the file fits the model as it is, or does not fit at all).
    """
    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        return None
    extra = list(_file_shapes(path))
    for shape in (tuple(w.shape) for w in model.weights):
        if shape not in extra:
            return None
        extra.remove(shape)
    kernel = [s for s in extra if len(s) == 2]
    if len(extra) != 2 or len(kernel) != 1 or sorted(extra) != sorted([kernel[0], kernel[0][1:]]):
        return None
    return kernel[0][1]


def _file_shapes(path):
    shapes = []
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, item: shapes.append(tuple(item.shape))
            if isinstance(item, h5py.Dataset) and not name.startswith("optimizer")
            else None
        )
    return shapes


def _check_variable_shapes(model, path):
    shapes = _file_shapes(path)
    expected = [tuple(w.shape) for w in model.weights]
    if sorted(shapes) != sorted(expected):
        raise ValueError(
            f"the file holds {len(shapes)} variables, the model has {len(expected)}, "
            "and their shapes differ."
        )
