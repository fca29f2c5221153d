"""Weights registry: resolves a builder's `weights=` argument to a verified file.

`weights` is `None`, a path to an existing file, `"imagenet"` for the six
keras.applications models (the very files, URLs and MD5s keras.applications uses), or
a zoo tag of the architecture (`ResNet20V2(weights="fashion_mnist")`, from the
manifest). A zoo file is looked for in the zoo folder, then in the Keras cache
(`$KERAS_HOME/models`, default `~/.keras/models`), then downloaded from its URLs (or
from `$KERAS_RESNETV2_MIRROR/<file name>`), and its SHA-256 is checked on every load.
A mismatching cached or downloaded file is removed; a mismatching file in the zoo
folder is reported and left in place (it belongs to the checkout or installation).
An entry whose file is hosted nowhere has no URLs; without its local file, loading it
says so.

Before any file is loaded, its architecture is matched with the model's
(`check_architecture`): Keras assigns the variables of a `.weights.h5` file by a path
made of each layer's class and rank (`layers/batch_normalization_3`), and those of a
legacy `.h5` file by rank alone, so a file of another net with the same shapes
(ResNet-20 into ResNet-20V2) would load silently. The layer names recorded in the file
must be the model's, at the same paths, with the same variable shapes.
"""

import os
import pathlib
import re

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


def zoo_entry(weights, arch):
    """The manifest entry of zoo tag `weights` of architecture `arch`, or None."""
    if isinstance(weights, str) and weights in manifest.tags_of(arch):
        return manifest.get_entry(f"{arch}.{weights}")
    return None


def pretrained_input(weights, arch):
    """`(input_shape, classes)` the named `weights` were trained with (`input_shape`
    channels last; None for ImageNet: the net's default size), or None for random
    initialization or a file."""
    if weights == "imagenet":
        return None, 1000
    entry = zoo_entry(weights, arch)
    return None if entry is None else (tuple(entry["input_shape"]), entry["classes"])


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
    if not entry["urls"] and not os.environ.get(MIRROR_VARIABLE) and not (cache_dir() / file_name).is_file():
        raise OSError(
            f"The zoo entry {manifest.entry_name(entry)!r} has no download URL (its manifest lists "
            f"none: the file is not hosted anywhere), and its file {file_name!r} is neither in the "
            f"zoo folder {local.parent} nor in the cache {cache_dir()}. Copy the file to one of "
            f"them, or set {MIRROR_VARIABLE} to a base URL serving it."
        )
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
    entry = zoo_entry(weights, arch)
    return os.fspath(weights) if entry is None else zoo_file(entry)


def load_weights(model, path, *, argument="weights"):
    """`model.load_weights(path)` once the file's architecture matches the model's.

    A file of another architecture (other layer names, paths or shapes) is an error
    naming both sides and the first differences, never a partial or shuffled load;
    the error names the caller's `argument`.
    """
    path = os.fspath(path)
    check_architecture(model, path, argument=argument)
    try:
        model.load_weights(path)
    except (ValueError, KeyError, OSError) as error:
        fail(
            argument,
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


def check_architecture(model, path, *, argument="weights"):
    """Raises a ValueError unless the weights file at `path` holds `model`'s layers.

    Compares the layers that have variables, reading only names and shapes (h5py):
    for a Keras 3 `.weights.h5` file, each layer's path (what Keras loads by), the
    layer name Keras records beside it, and its variables' shapes; for a legacy
    `.h5` file (keras.applications' format, loaded by rank), the ordered layer
    names and shapes. Other formats are left to Keras.
    """
    if path.endswith(".weights.h5"):
        expected, found = _model_layers(model), _keras3_file_layers(path)
    elif path.endswith(".h5"):
        expected, found = _model_layers(model, legacy=True), _legacy_file_layers(path)
    else:
        return
    if found == expected:
        return
    differences = [
        _difference(key, found.get(key), expected.get(key))
        for key in list(expected) + [k for k in found if k not in expected]
        if found.get(key) != expected.get(key)
    ]
    only_file = sorted({v[0] for v in found.values()} - {v[0] for v in expected.values()})
    only_model = sorted({v[0] for v in expected.values()} - {v[0] for v in found.values()})
    fail(
        argument,
        f"The weights file {path}{_known_as(path)} does not fit the architecture of "
        f"{model.name!r}: {len(differences)} of its layers with weights differ "
        f"({len(found)} in the file, {len(expected)} in the model). First differences: "
        f"{'; '.join(differences[:3])}. Layer names only in the file: {only_file[:5]}"
        f"{' ...' if len(only_file) > 5 else ''}; only in the model: {only_model[:5]}"
        f"{' ...' if len(only_model) > 5 else ''}.",
        path,
    )


def _model_layers(model, *, legacy=False):
    """`{key: (layer name, variable shapes)}` of the model's layers with variables,
    keyed as Keras keys them in a file of that format."""
    layers, counts = {}, {}
    for rank, layer in enumerate(model.layers):
        # Keras 3 (saving_lib) names a layer's group after its class, snake-cased,
        # numbered from the second of a class: conv2d, conv2d_1...
        kind = _snake_case(type(layer).__name__)
        key = kind if kind not in counts else f"{kind}_{counts[kind]}"
        counts[kind] = counts.get(kind, 0) + 1
        variables = layer.trainable_weights + layer.non_trainable_weights if legacy else layer.weights
        if variables:
            layers[f"#{len(layers)}" if legacy else f"layers/{key}"] = (
                layer.name, [tuple(int(d) for d in v.shape) for v in variables])
    return layers


def _keras3_file_layers(path):
    layers = {}
    with h5py.File(path, "r") as file:
        for key, group in file.get("layers", {}).items():
            variables = group.get("vars")
            if variables is not None and len(variables):
                names = sorted(variables, key=int)
                layers[f"layers/{key}"] = (
                    _text(variables.attrs.get("name", key)), [tuple(variables[n].shape) for n in names])
    return layers


def _legacy_file_layers(path):
    layers = {}
    with h5py.File(path, "r") as file:
        root = file["model_weights"] if "model_weights" in file else file
        for name in root.attrs.get("layer_names", []):
            group = root[_text(name)]
            weight_names = [_text(w) for w in group.attrs.get("weight_names", [])]
            if weight_names:
                layers[f"#{len(layers)}"] = (_text(name), [tuple(group[w].shape) for w in weight_names])
    return layers


def _known_as(path):
    """`" (the zoo entry 'x.y')"` when the file is one of the zoo's, else ""."""
    size = os.path.getsize(path)
    candidates = [e for e in manifest.entries().values() if e["file"]["size"] == size]
    digest = file_digest(path, "sha256") if candidates else None
    names = [manifest.entry_name(e) for e in candidates if e["file"]["sha256"] == digest]
    return f" (the zoo entry {names[0]!r})" if names else ""


def _difference(key, in_file, in_model):
    """One mismatch between the file and the model at `key`, in words."""
    if in_file and in_model and in_file[0] == in_model[0]:
        return f"{key} ({in_file[0]}): shapes {in_file[1]} in the file, {in_model[1]} in the model"
    return (f"{key}: {in_file[0] if in_file else 'nothing'} in the file, "
            f"{in_model[0] if in_model else 'nothing'} in the model")


def _snake_case(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
