"""What a search leaves for people to read: a ranked trial table, a plot, the best spec.

`write_report(trials, folder)` writes, each file atomically:

    trials.md    ranked Markdown table (hyperparameters, validation accuracy, epochs, time)
    trials.csv   the same rows
    trials.png   validation accuracy per ablation row, or per order and per shortcut
    best.json    the best trial's `ResNetSpec` and recipe, for `train.py --spec=best.json`

Rows come from `trial_rows(oracle_trials)`, which reads KerasTuner `Trial` objects:
completed trials ranked by validation accuracy, then failed ones.
"""

import csv
import io
import json
import os

from keras_resnetv2.models.spec import ResNetSpec
from keras_resnetv2.utils.checks import fail
from keras_resnetv2.utils.figures import new_figure, save_figure
from keras_resnetv2.utils.files import atomic_write_text

SCORE = "val_accuracy"
COLUMNS = (
    "rank", "trial", "status", "row", "seed", "order", "shortcut", "gate_bias", "shortcut_scale",
    "block", "depth", "width_multiplier", "learning_rate", "weight_decay", "warmup_steps",
    SCORE, "epochs", "seconds",
)


def trial_rows(trials):
    """One dict per trial (KerasTuner `Trial`s), best first; failed trials last.

    Reads the metrics `HyperResNet.fit` reports: the final epoch's `val_accuracy`,
    the epochs trained and the trial's seconds.
    """
    rows = []
    for trial in trials:
        values = trial.hyperparameters.values
        metrics = trial.metrics
        last = {name: metrics.get_last_value(name) if metrics.exists(name) else None
                for name in (SCORE, "epochs", "seconds")}
        row = {"trial": trial.trial_id, "status": trial.status,
               "depth": values.get(f"depth_{values.get('block')}"), **last}
        if row["epochs"] is not None:
            row["epochs"] = int(row["epochs"])
        for name in COLUMNS:
            if name not in row and name in values:
                row[name] = values[name]
        rows.append(row)
    ranked = sorted(rows, key=lambda r: (r[SCORE] is None, -(r[SCORE] or 0.0), r["trial"]))
    for rank, row in enumerate(ranked, 1):
        row["rank"] = rank if row[SCORE] is not None else ""
    return ranked


def markdown_table(rows):
    columns = [c for c in COLUMNS if any(row.get(c) not in (None, "") for row in rows)]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_format(row.get(c)) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def csv_text(rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def plot_scores(rows, path):
    """Validation accuracy of each completed trial, by ablation row, or by order and by shortcut."""
    done = [r for r in rows if r[SCORE] is not None]
    # An ablation's trials are table rows; a free search's vary order and shortcut.
    keys = [k for k in ("row", "order", "shortcut") if any(r.get(k) is not None for r in done)] or ["trial"]
    figure = new_figure(figsize=(5.5 * len(keys), 4), layout="constrained")
    axes = figure.subplots(1, len(keys), squeeze=False)
    for axis, key in zip(axes[0], keys):
        groups = sorted({r.get(key) for r in done if r.get(key) is not None})
        for i, group in enumerate(groups):
            scores = [r[SCORE] for r in done if r.get(key) == group]
            axis.scatter([i] * len(scores), scores, alpha=0.7)
        axis.set_xticks(range(len(groups)), groups, rotation=30, ha="right")
        axis.set_title(f"validation accuracy by {key}")
        axis.set_ylabel(SCORE)
        axis.grid(alpha=0.3)
    save_figure(figure, path, dpi=110)


def write_report(rows, folder, *, best_spec=None, best_recipe=None):
    """Writes trials.md/.csv/.png and (given the best trial's spec) best.json."""
    os.makedirs(folder, exist_ok=True)
    atomic_write_text(os.path.join(folder, "trials.md"), markdown_table(rows))
    atomic_write_text(os.path.join(folder, "trials.csv"), csv_text(rows))
    plot_scores(rows, os.path.join(folder, "trials.png"))
    if best_spec is not None:
        best = {"spec": best_spec.to_dict(), "recipe": best_recipe or {}, "trial": rows[0]}
        atomic_write_text(os.path.join(folder, "best.json"), json.dumps(best, indent=2, default=str))


def _format(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def read_spec_file(path):
    """The `(spec dict, recipe dict)` of a `best.json`, or of a bare spec JSON file.

    Raises a `ValueError` naming the file when it is missing or holds no valid spec.
    """
    try:
        with open(path, encoding="utf-8") as file:
            content = json.load(file)
    except (OSError, json.JSONDecodeError) as error:
        fail("spec", f"`spec` must be a readable JSON file ({error}).", path)
    if not isinstance(content, dict):
        fail("spec", f"{path} must hold a JSON object (a ResNetSpec, or a search's best.json).", path)
    spec = content.get("spec", content)
    recipe = content.get("recipe", {}) if "spec" in content else {}
    try:
        ResNetSpec.from_dict(spec)
    except (TypeError, ValueError) as error:
        # The spec's own message ends with its "Received: field=value": kept as the
        # file's content, so that the message says "Received:" once, for `spec`.
        requirement, _, received = str(error).partition(" Received: ")
        in_file = f" (the file has {received})" if received else ""
        fail("spec", f"{path} does not hold a valid ResNetSpec: {requirement}{in_file}.", path)
    return spec, recipe
