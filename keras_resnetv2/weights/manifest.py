"""The zoo manifest: `zoo/manifest.json`, the single source of truth of the weights.

One entry per weights file, named `"{architecture}.{tag}"` (`"resnet20v2.fashion_mnist"`),
holding everything needed to rebuild, verify, use and reproduce it. `validate_manifest`
is the schema; every read goes through it, so a malformed manifest fails with the
entry and field at fault rather than deep inside a load.

Two zoos are read, and their entries are all visible:

* the bundled zoo: the `zoo/` folder of a source checkout or editable install, or the
  copy installed with the package (`keras_resnetv2/weights/bundled`, see setup.py);
* a zoo of your own, `$KERAS_RESNETV2_ZOO_DIR`, which ADDS to the bundled one. An entry
  named in both is the user's: its manifest entry and its files replace the bundled
  ones (`python -m keras_resnetv2.zoo list` marks it).

New entries (`python -m keras_resnetv2.zoo export`, `train.py --zoo_tag`) are written to
`zoo_dir()`: `$KERAS_RESNETV2_ZOO_DIR`, else the checkout's `zoo/`; never into an
installed package, which is refused with a message naming the variable.
"""

import json
import os
import pathlib
import re

from keras_resnetv2.utils.checks import fail
from keras_resnetv2.utils.files import atomic_write_text

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
ZOO_DIR_VARIABLE = "KERAS_RESNETV2_ZOO_DIR"

_NUMBER = (int, float)
# Field -> type(s) of an entry; nested objects list their own required fields.
ENTRY_SCHEMA = {
    "architecture": str,
    "tag": str,
    "builder": str,
    "spec": dict,
    "dataset": {"name": str, "source": str, "checksums_sha256": dict, "train_examples": int, "test_examples": int},
    "input_shape": list,
    "classes": int,
    "label_names": list,
    "preprocessing": {"mode": str, "dataset": str, "mean": list, "std": list},
    "metrics": {"test_accuracy": _NUMBER, "test_loss": _NUMBER, "epochs": int, "runs": list},
    "parameters": {"total": int, "trainable": int},
    "flops": int,
    "file": {"name": str, "sha256": str, "size": int},
    "urls": list,
    "command": str,
    "training": dict,
    "library_versions": dict,
    "date": str,
    "license": str,
}
RUN_SCHEMA = {"seed": int, "test_accuracy": _NUMBER, "command": str}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def source_checkout():
    """The repository root when the package runs from a source checkout (or an editable
    install of one), else None."""
    checkout = pathlib.Path(__file__).resolve().parents[2]
    return checkout if (checkout / "setup.py").is_file() else None


def bundled_dir():
    """The zoo shipped with the package: a checkout's `zoo/`, or the installed copy."""
    checkout = source_checkout()
    return checkout / "zoo" if checkout else pathlib.Path(__file__).resolve().parent / "bundled"


def user_dir():
    """`$KERAS_RESNETV2_ZOO_DIR`, the user's zoo, or None."""
    override = os.environ.get(ZOO_DIR_VARIABLE)
    return pathlib.Path(override) if override else None


def zoo_dirs():
    """The zoos read, in increasing precedence: the bundled one, then the user's."""
    return [bundled_dir()] + ([user_dir()] if user_dir() else [])


def zoo_dir():
    """The zoo that new entries are written to: `$KERAS_RESNETV2_ZOO_DIR`, else a
    checkout's `zoo/`; a ValueError from an installed package (its files are the
    installation's, replaced by the next upgrade)."""
    if user_dir():
        return user_dir()
    if source_checkout():
        return bundled_dir()
    fail(
        ZOO_DIR_VARIABLE,
        f"Writing a zoo entry needs a zoo folder of your own: keras_resnetv2 is installed "
        f"({pathlib.Path(__file__).resolve().parents[1]}), and its bundled zoo is never "
        f"written to. Set {ZOO_DIR_VARIABLE} to a folder (it adds to the bundled zoo).",
        os.environ.get(ZOO_DIR_VARIABLE),
    )


def read_manifest(folder=None):
    """The validated manifest of `folder`, empty if it has none; without `folder`, the
    zoos of `zoo_dirs()` merged (an entry of the user's zoo replaces a bundled one of
    the same name)."""
    if folder is None:
        merged = {"schema_version": SCHEMA_VERSION, "entries": {}}
        for each in zoo_dirs():
            merged["entries"].update(read_manifest(each)["entries"])
        return merged
    path = pathlib.Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return {"schema_version": SCHEMA_VERSION, "entries": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"The zoo manifest {path} is not valid JSON: {e}") from e
    validate_manifest(manifest, source=str(path))
    return manifest


def entries(folder=None):
    """`{name: entry}` of the manifest (default: every zoo, merged), in file order."""
    return read_manifest(folder)["entries"]


def source_of(name):
    """The zoo folder whose manifest provides entry `name` (the user's wins), or None."""
    for folder in reversed(zoo_dirs()):
        if name in entries(folder):
            return folder
    return None


def tags_of(architecture, folder=None):
    """The zoo tags of `architecture` (e.g. `["fashion_mnist"]` for `"resnet20v2"`)."""
    return [e["tag"] for e in entries(folder).values() if e["architecture"] == architecture]


def get_entry(name, folder=None):
    """The entry `name` (`"resnet20v2.fashion_mnist"`), or a ValueError listing the names."""
    available = entries(folder)
    if name not in available:
        fail("name", f"No zoo entry {name!r}; the zoo has {sorted(available)}.", name)
    return available[name]


def entry_folder(entry, folder=None):
    """The folder of an entry's weights, card and plots in zoo `folder` (default: the
    zoo that provides the entry, else the one new entries are written to)."""
    folder = folder or source_of(entry_name(entry)) or zoo_dir()
    return pathlib.Path(folder) / entry_name(entry)


def entry_name(entry):
    return f"{entry['architecture']}.{entry['tag']}"


def validate_manifest(manifest, *, source="manifest"):
    """Raises a ValueError naming the entry and field unless `manifest` fits the schema."""
    if not isinstance(manifest, dict) or set(manifest) != {"schema_version", "entries"}:
        raise ValueError(f"{source}: the manifest must be an object with exactly 'schema_version' and 'entries'.")
    if manifest["schema_version"] != SCHEMA_VERSION:
        raise ValueError(
            f"{source}: schema_version {manifest['schema_version']!r} is not supported "
            f"(this version of keras_resnetv2 reads {SCHEMA_VERSION})."
        )
    if not isinstance(manifest["entries"], dict):
        raise ValueError(f"{source}: 'entries' must be an object of named entries.")
    for name, entry in manifest["entries"].items():
        validate_entry(entry, where=f"{source}: entry {name!r}")
        if name != entry_name(entry):
            raise ValueError(f"{source}: entry {name!r} must be named {entry_name(entry)!r} (architecture.tag).")


def validate_entry(entry, *, where="entry"):
    """Raises a ValueError naming the field unless `entry` fits `ENTRY_SCHEMA`."""
    _check_fields(entry, ENTRY_SCHEMA, where)
    for i, run in enumerate(entry["metrics"]["runs"]):
        _check_fields(run, RUN_SCHEMA, f"{where}, metrics.runs[{i}]")
    if not entry["metrics"]["runs"]:
        raise ValueError(f"{where}: metrics.runs must list at least one training run.")
    checks = (
        (re.fullmatch(r"[a-z0-9_]+", entry["tag"]), "tag", "lower-case letters, digits and '_'"),
        (_SHA256.match(entry["file"]["sha256"]), "file.sha256", "64 lower-case hex digits"),
        (entry["file"]["name"].endswith(".weights.h5"), "file.name", "a '.weights.h5' file"),
        (os.path.basename(entry["file"]["name"]) == entry["file"]["name"], "file.name", "a bare file name"),
        (_DATE.match(entry["date"]), "date", "YYYY-MM-DD"),
        (len(entry["input_shape"]) == 3 and all(isinstance(d, int) and d > 0 for d in entry["input_shape"]),
         "input_shape", "three positive integers (height, width, channels)"),
        (len(entry["label_names"]) == entry["classes"], "label_names", "one name per class"),
        (0.0 <= entry["metrics"]["test_accuracy"] <= 1.0, "metrics.test_accuracy", "a fraction in [0, 1]"),
        (all(isinstance(u, str) and u.startswith(("https://", "http://")) for u in entry["urls"]),
         "urls", "http(s) URLs"),
        (len(entry["preprocessing"]["mean"]) == len(entry["preprocessing"]["std"]) == entry["input_shape"][-1],
         "preprocessing", "one mean and std per input channel"),
    )
    for ok, field, expected in checks:
        if not ok:
            raise ValueError(f"{where}: field {field!r} must be {expected}.")


def _check_fields(value, schema, where):
    if not isinstance(value, dict):
        raise ValueError(f"{where}: must be an object.")
    missing = [k for k in schema if k not in value]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}.")
    for key, kind in schema.items():
        if isinstance(kind, dict):
            _check_fields(value[key], kind, f"{where}, {key}")
        elif isinstance(value[key], bool) or not isinstance(value[key], kind):
            names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise ValueError(f"{where}: field {key!r} must be of type {names}, not {type(value[key]).__name__}.")


def write_manifest(manifest, folder=None):
    """Validates `manifest` and writes it to `folder`'s manifest.json (atomically);
    default: `zoo_dir()`."""
    validate_manifest(manifest, source="the new manifest")
    path = pathlib.Path(folder or zoo_dir()) / MANIFEST_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")
