"""Weights registry: resolves a builder's `weights=` argument to a file, loads it.

`weights` is `None`, a path to an existing file, `"imagenet"` for the six
keras.applications models (the very files, URLs and hashes keras.applications uses),
or a zoo tag of the architecture. Zoo tags come from `zoo/manifest.json` once it has
entries; until then `available_weights` lists only "imagenet" where it applies.
"""

import hashlib
import os

import keras

from keras_resnetv2.validation import fail

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
    """The named weights of architecture `arch` (e.g. `"resnet50v2"`)."""
    return ["imagenet"] if arch in IMAGENET_HASHES else []


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
    fail(
        "weights",
        f"`weights` must be None, one of {names} for {label}, or the path to an "
        "existing weights file.",
        weights,
    )


def imagenet_file(arch, *, include_top):
    """Downloads (or finds in `$KERAS_HOME/models`) the keras.applications file.

    The environment variable `KERAS_RESNETV2_MIRROR` replaces the base URL, for
    machines that reach only a mirror. The MD5 is checked on every load; a file that
    does not match is removed (keras.utils.get_file would leave it in the cache).
    """
    suffix = "" if include_top else "_notop"
    file_name = f"{arch}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    base_url = os.environ.get(MIRROR_VARIABLE) or IMAGENET_BASE_URL
    cache_dir = os.environ.get("KERAS_HOME")
    if cache_dir:
        # get_file falls back to /tmp/.keras when the folder does not exist yet.
        os.makedirs(cache_dir, exist_ok=True)
    path = keras.utils.get_file(
        file_name, base_url.rstrip("/") + "/" + file_name, cache_subdir="models", cache_dir=cache_dir
    )
    verify_file(path, IMAGENET_HASHES[arch][0 if include_top else 1], algorithm="md5")
    return path


def verify_file(path, expected, *, algorithm):
    """Raises (and removes `path`) unless the file's `algorithm` digest is `expected`."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        os.remove(path)
        raise ValueError(
            f"The weights file {path} is corrupted or not the expected one: its "
            f"{algorithm} is {digest.hexdigest()}, expected {expected}. The file was "
            "removed; loading again downloads it anew."
        )


def resolve_weights(weights, arch, *, include_top):
    """The local file behind `weights` (already validated), or None."""
    if weights == "imagenet" and weights in available_weights(arch):
        return imagenet_file(arch, include_top=include_top)
    return None if weights is None else os.fspath(weights)


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


def _check_variable_shapes(model, path):
    import h5py

    shapes = []
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, item: shapes.append(tuple(item.shape))
            if isinstance(item, h5py.Dataset) and not name.startswith("optimizer")
            else None
        )
    expected = [tuple(w.shape) for w in model.weights]
    if sorted(shapes) != sorted(expected):
        raise ValueError(
            f"the file holds {len(shapes)} variables, the model has {len(expected)}, "
            "and their shapes differ."
        )
