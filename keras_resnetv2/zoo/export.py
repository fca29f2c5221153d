"""Turns finished train.py runs into a zoo entry: weights, manifest entry, model card.

    python -m keras_resnetv2.zoo export runs/resnet20v2_fashion_mnist --tag=fashion_mnist
    python train.py ... --zoo_tag=fashion_mnist        # the same, after training

Several runs of one configuration (seeds) make one entry: the manifest records every
run's final-epoch test accuracy, their median and range, and ships the weights of the
median run (the lower median for an even count).

The entry goes to `manifest.zoo_dir()`: `$KERAS_RESNETV2_ZOO_DIR`, or the checkout's
`zoo/` in a source checkout; an installed package is never written to. An entry far
below the best entry of its dataset (`WARN_BELOW`) is exported with a warning: it is
more likely a short or broken run than a result. The entry records the net's inference
speed on the exporting machine (`speed`) and the training's recipe, which its card
sets against the paper's (`departures`).
"""

import csv
import datetime
import io
import json
import os
import re
import shlex
import warnings

import numpy as np

from keras_resnetv2.models import variants
from keras_resnetv2.models.flops import count_flops
from keras_resnetv2.models.spec import ResNetSpec
from keras_resnetv2.training.artifacts import library_versions, plot_curves
from keras_resnetv2.utils.checks import fail
from keras_resnetv2.utils.files import atomic_write_bytes, atomic_write_text, file_digest
from keras_resnetv2.weights import manifest
from keras_resnetv2.zoo import cards
from keras_resnetv2.zoo.evaluation import evaluate_model
from keras_resnetv2.zoo.speed import measure_inference

# An export this far (a fraction) below the best entry of its dataset warns.
WARN_BELOW = 0.05
LICENSE = "Apache-2.0"
# Fields of a run that must agree between the seeds of one entry.
_SAME_ACROSS_SEEDS = ("model", "spec", "input_shape", "classes")


def export_runs(run_dirs, tag, *, zoo_folder=None, urls=None, data_dir=None, readme=None, progress=False):
    """Exports the finished runs `run_dirs` (one or several seeds) as entry `arch.tag`.

    Args:
        run_dirs: model_dir folders of finished train.py runs (config.json,
            metrics.json and model.weights.h5 in each).
        tag: the entry's tag, e.g. `"fashion_mnist"`.
        zoo_folder: the zoo to write (default: `manifest.zoo_dir()`).
        urls: URLs where the weights file is really hosted (default: none; the file
            then travels with the zoo folder).
        data_dir: the dataset folder, for the confusion matrix's evaluation.
        readme: a README.md whose zoo table is regenerated, if given.
        progress: show a progress bar while the test set is re-evaluated.

    Returns:
        The manifest entry.
    """
    zoo_folder = zoo_folder or manifest.zoo_dir()
    runs = [_read_run(d) for d in (run_dirs if isinstance(run_dirs, (list, tuple)) else [run_dirs])]
    config = runs[0]["config"]
    for run in runs[1:]:
        differing = [k for k in _SAME_ACROSS_SEEDS if run["config"][k] != config[k]]
        if differing:
            fail("run_dirs", f"The runs of one entry must share {differing}; {run['dir']} differs.", run["dir"])
    variant = check_exportable(config["model"], config["spec"], tag, source=runs[0]["dir"],
                               argument="run_dirs", received=runs[0]["dir"])
    accuracies = [r["metrics"]["test"]["accuracy"] for r in runs]
    chosen = runs[int(np.argsort(accuracies)[(len(runs) - 1) // 2])]
    name = f"{variant.arch}.{tag}"
    entry_dir = manifest.entry_folder({"architecture": variant.arch, "tag": tag}, zoo_folder)
    entry_dir.mkdir(parents=True, exist_ok=True)
    file_name = f"{name}.weights.h5"

    model = variants.build(
        variant.name, weights=chosen["weights"], input_shape=tuple(config["input_shape"]), classes=config["classes"]
    )
    dataset = chosen["config"]["dataset"]
    mean = [255.0 * m for m in dataset["mean"]]
    std = [255.0 * s for s in dataset["std"]]
    evaluation = evaluate_model(model, dataset=dataset["name"], mean=mean, std=std, data_dir=data_dir,
                                progress=progress)
    recorded = chosen["metrics"]["test"]["accuracy"]
    if abs(evaluation.accuracy - recorded) > 0.001:
        raise ValueError(
            f"Re-evaluating {chosen['dir']} gives {evaluation.accuracy:.4f} test accuracy, its "
            f"metrics.json says {recorded:.4f}: the weights or the dataset changed."
        )

    # The bare net (its input standardized here, not by a first layer): the entry's
    # preprocessing layer is one multiply-add per pixel, nothing beside the convolutions.
    speed = measure_inference(model)
    atomic_write_bytes(entry_dir / file_name, open(chosen["weights"], "rb").read())
    train_config = chosen["config"]["train_config"]
    start = chosen["config"].get("init_weights") or {}
    history = _whole_history(chosen["metrics"]["history"], start)
    metrics = {
        "test_accuracy": recorded,
        "test_loss": chosen["metrics"]["test"]["loss"],
        "epochs": chosen["metrics"]["epochs"],
        "runs": [
            {"seed": r["config"]["train_config"]["seed"], "test_accuracy": r["metrics"]["test"]["accuracy"],
             "command": _command(r["config"]["command"], r["config"]["train_config"]["precision"])}
            for r in runs
        ],
    }
    if len(runs) > 1:
        metrics.update(
            median_test_accuracy=float(np.median(accuracies)),
            min_test_accuracy=min(accuracies),
            max_test_accuracy=max(accuracies),
            std_test_accuracy=float(np.std(accuracies, ddof=1)),
        )
    entry = {
        "architecture": variant.arch,
        "tag": tag,
        "builder": variant.name,
        "spec": config["spec"],
        "dataset": {
            "name": dataset["name"],
            "source": dataset["source"],
            "checksums_sha256": dataset["checksums_sha256"],
            "train_examples": dataset["train_examples"],
            "test_examples": dataset["test_examples"],
        },
        "input_shape": config["input_shape"],
        "classes": config["classes"],
        "label_names": dataset["label_names"],
        "preprocessing": {"mode": "standardize", "dataset": dataset["name"], "mean": mean, "std": std},
        "metrics": metrics,
        "parameters": {
            "total": int(model.count_params()),
            "trainable": int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
        },
        "flops": count_flops(model),
        "file": {
            "name": file_name,
            "sha256": file_digest(entry_dir / file_name),
            "size": os.path.getsize(entry_dir / file_name),
        },
        "inference": speed.to_dict(),
        "urls": list(urls or []),
        "command": _command(chosen["config"]["command"], train_config["precision"]),
        "training": {
            **{k: train_config[k] for k in ("recipe", "epochs", "batch_size", "learning_rate", "weight_decay",
                                             "momentum", "nesterov", "warmup_steps", "augment", "precision")},
            "label_smoothing": train_config.get("label_smoothing", 0.0),
            "drop_path_rate": config["spec"].get("drop_path_rate", 0.0),
            "steps_per_epoch": chosen["config"]["steps_per_epoch"],
            "schedule": chosen["config"]["schedule"],
            "distribution": chosen["config"]["distribution"],
            # A resumed run's wall time is its last process's; the epochs' own times add up all of them.
            "wall_time_s": chosen["metrics"]["wall_time_s"],
            "resumed_from_epoch": chosen["metrics"].get("resumed_from_epoch", 0),
            "epoch_time_s_total": round(sum(h.get("epoch_time_s", 0.0) for h in history), 1),
            "augmentation": dataset["augmentation"],
            **({"init_weights": _start(start)} if start else {}),
        },
        "library_versions": chosen["config"]["versions"],
        "date": datetime.date.today().isoformat(),
        "license": LICENSE,
    }
    manifest.validate_entry(entry, where=f"the new entry {name!r}")
    _warn_if_far_below(entry)

    atomic_write_text(entry_dir / "history.csv", _history_csv(history))
    plot_curves(history, entry_dir / "curves.png", restarts=[start["epochs"]] if start.get("epochs") else [])
    cards.plot_confusion(evaluation.confusion, entry["label_names"], entry_dir / "confusion.png")
    atomic_write_text(entry_dir / "evaluation.json", json.dumps({
        "accuracy": evaluation.accuracy,
        "examples": evaluation.examples,
        "per_class_accuracy": [float(a) for a in evaluation.per_class_accuracy],
        "confusion": evaluation.confusion.tolist(),
        "library_versions": library_versions(),
    }, indent=1) + "\n")
    current = manifest.read_manifest(zoo_folder)
    current["entries"][name] = entry
    manifest.write_manifest(current, zoo_folder)
    cards.write_card(entry, zoo_folder)
    if readme:
        cards.update_readme(readme, current["entries"])
    return entry


def _warn_if_far_below(entry):
    """Warns when `entry` is more than `WARN_BELOW` under its dataset's best entry."""
    name, dataset = manifest.entry_name(entry), entry["dataset"]["name"]
    others = {n: e["metrics"]["test_accuracy"] for n, e in manifest.entries().items()
              if e["dataset"]["name"] == dataset and n != name}
    if others:
        best = max(others, key=others.get)
        accuracy = entry["metrics"]["test_accuracy"]
        if accuracy < others[best] - WARN_BELOW:
            warnings.warn(
                f"The exported {name} reaches {100 * accuracy:.2f}% test accuracy, "
                f"{100 * (others[best] - accuracy):.1f} points below {best} ({100 * others[best]:.2f}%) "
                f"on {dataset}: a short or failed run? It is exported all the same.",
                stacklevel=3,
            )


def check_exportable(model, spec, tag, *, source, argument, received):
    """The `Variant` of `model`; raises unless a run of `spec` can become entry `tag`.

    `spec` is the run's spec (dict); `source` names the run in the message, which
    ends with `Received: argument=received`. A run trained with stochastic depth
    (`drop_path_rate`) exports: its weights are the named architecture's.
    """
    variant = variants.get_variant(model)
    if not (isinstance(tag, str) and re.fullmatch(r"[a-z0-9_]+", tag)) or tag == "imagenet":
        fail("tag", "A zoo tag is lower-case letters, digits and '_' (and not 'imagenet').", tag)
    trained, named = ResNetSpec.from_dict(spec).for_inference().to_dict(), variant.spec().to_dict()
    changed = {field: value for field, value in trained.items() if named[field] != value}
    if changed:
        fail(
            argument,
            f"{source} trains a modified {variant.name} ({_fields(changed)}; the named net has "
            f"{_fields({field: named[field] for field in changed})}): zoo entries hold the named "
            "architectures, which their builders rebuild from the tag.",
            received,
        )
    return variant


def _fields(values):
    return ", ".join(f"{field}={value!r}" for field, value in values.items())


def _read_run(run_dir):
    paths = {k: os.path.join(run_dir, f) for k, f in
             (("config", "config.json"), ("metrics", "metrics.json"), ("weights", "model.weights.h5"))}
    missing = [os.path.basename(p) for p in paths.values() if not os.path.isfile(p)]
    if missing:
        fail("run_dirs", f"{run_dir} is not a finished train.py run: {missing} missing.", run_dir)
    with open(paths["config"], encoding="utf-8") as f:
        config = json.load(f)
    # A run saved before a spec field existed reads with the field at its default.
    config["spec"] = ResNetSpec.from_dict(config["spec"]).to_dict()
    with open(paths["metrics"], encoding="utf-8") as f:
        metrics = json.load(f)
    return {"dir": run_dir, "config": config, "metrics": metrics, "weights": paths["weights"]}


def _command(argv, precision):
    """The recorded command line, portable: the interpreter as `python`, the training
    script as `train.py` (the checkout's) or `-m keras_resnetv2.train` (the package's),
    an absolute `--model_dir` from its last `runs` folder on (else `runs/` and its last
    folder), and the run's `precision` as a flag where the command left it to `auto`
    (which picks by machine)."""
    script, *flags = argv[1:]
    if not any(flag.partition("=")[0] == "--precision" for flag in flags):
        flags.append(f"--precision={precision}")
    if os.path.basename(script) == "train.py":
        parent = os.path.basename(os.path.dirname(os.path.abspath(script)))
        script = "-m keras_resnetv2.train" if parent == "keras_resnetv2" else "train.py"
    else:
        script = shlex.quote(script)
    portable = []
    for flag in flags:
        name, _, value = flag.partition("=")
        if name == "--model_dir" and os.path.isabs(value):
            _, runs, below = os.path.normpath(value).rpartition(f"{os.sep}runs{os.sep}")
            flag = f"--model_dir=runs/{below if runs else os.path.basename(below)}"
        portable.append(shlex.quote(flag))
    return " ".join(["python", script] + portable)


def _start(init):
    """The manifest's record of the weights a run started from (`train.py --init_weights`)."""
    start = {"weights": init["weights"], "sha256": init["sha256"]}
    if init.get("command"):
        start["command"] = _command(init["command"], init.get("precision") or "auto")
    for key in ("schedule", "epochs"):
        if init.get(key):
            start[key] = init[key]
    return start


def _whole_history(history, start):
    """`history` after the history of the run whose weights it started from, if recorded,
    renumbered to follow it: the curves and history.csv of both runs."""
    before = start.get("history") or []
    return list(before) + [{**h, "epoch": h["epoch"] + len(before)} for h in history]


def _history_csv(history):
    keys = list(dict.fromkeys(k for h in history for k in h))
    out = io.StringIO()
    writer = csv.DictWriter(out, keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return out.getvalue()
