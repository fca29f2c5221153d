"""The paper's ablations on our data, next to its CIFAR-10 numbers: `REPRODUCTION.md`.

Reads finished (or interrupted) ablation searches, `train.py --tune=grid
--ablation=table1|table2 --seeds=N` (`keras_resnetv2.tuning`), and writes the comparison
with Tables 1 and 2 of arXiv:1603.05027:

    results = [read_search(folder) for folder in ablation_folders("runs/ablations")]
    write_reproduction(results, "REPRODUCTION.md", plot_path="bench/results/ablations.png")

`bench/reproduce_ablations.py` runs the searches and calls these. Per table row:
seeds completed, the median, min, max and sample std of the final-epoch validation error
(100 - val_accuracy, in %), the trials that failed (diverged or raised), the paper's
CIFAR-10 error for that row and the row's rank within its table in ours and in the
paper, with Spearman's rank correlation over the rows both have.

Conventions:

* Statistics are over completed seeds; failed trials are counted apart. A row whose
  every trial failed is "fail", like the paper's rows above 20% error: such rows rank
  last, tied. Rank 1 is the lowest error; tied rows share their average rank.
* Table 2's paper column is ResNet-110 for basic-block nets and ResNet-164 for
  bottleneck ones; Table 1 has ResNet-110 only.
* Trials are read from KerasTuner's per-trial state (`search/trial_*/trial.json`):
  each is written atomically when its trial ends (`_compat.keras_tuner.atomic_state_writes`), so
  they are complete while a search runs or after it was killed, and they keep a failed
  trial's error message. `trials.csv` is written only when a search returns (or stops on
  failures), so it lags a killed search; it is read only when there is no trial state
  (e.g. a folder copied without `search/`).
* The command of a search is read from `reproduce.json` in its folder, written by
  `bench/reproduce_ablations.py` (`{"command": ..., "depth": ..., "block": ...}`; write one
  by hand for a search run another way), or given to `read_search`.
* The text between `READING_START` and `READING_END` of an existing report (the
  human reading of the numbers) is kept when the report is regenerated.

This module imports neither TensorFlow nor KerasTuner (the paper's numbers come from
`paper.ablations.ABLATIONS` only when `read_search` is not given them).
"""

import csv
import dataclasses
import glob
import json
import math
import os

import numpy as np

from keras_resnetv2.paper.ablations import ABLATIONS
from keras_resnetv2.utils.figures import new_figure, save_figure
from keras_resnetv2.utils.files import atomic_write_text

RECORD = "reproduce.json"
READING_START = "<!-- reading:start -->"
READING_END = "<!-- reading:end -->"
# A generated section of its own (`paper.depth_comparison`, written by bench/deep_zoo.py
# report), kept as it is when the ablation tables are regenerated.
DEPTH_START = "<!-- depth:start -->"
DEPTH_END = "<!-- depth:end -->"
READING_PLACEHOLDER = (
    "_To be written after the full run: where the ranking of each table agrees with the paper's and "
    "where it does not, and why that may be (dataset, depth, epochs, seeds, spread)._"
)
TITLES = {
    "table1": "Table 1: shortcuts (Fig. 2), original unit",
    "table2": "Table 2: activation orders (Fig. 4), identity shortcut",
}
FAILED_STATUSES = ("FAILED", "INVALID")


@dataclasses.dataclass(frozen=True)
class RowResult:
    """One table row: the paper's entry and our trials.

    Attributes:
        row: the row's name (a key of `paper.ablations.ABLATIONS[table]`).
        paper: the paper's CIFAR-10 error as printed ("6.61", "fail"), None if unknown.
        errors: validation error (%) of each completed seed, by seed.
        failed: trials that failed (a non-finite loss, or an error).
        pending: trials started but not finished (a running or killed search).
        failures: the failed trials' last error lines.
    """

    row: str
    paper: str = None
    errors: tuple = ()
    failed: int = 0
    pending: int = 0
    failures: tuple = ()

    @property
    def ran(self):
        return bool(self.errors) or self.failed > 0

    @property
    def median(self):
        """Median error (%) of the completed seeds; inf if every trial failed; None if not run."""
        if self.errors:
            return float(np.median(self.errors))
        return math.inf if self.failed else None

    @property
    def low(self):
        return min(self.errors) if self.errors else None

    @property
    def high(self):
        return max(self.errors) if self.errors else None

    @property
    def std(self):
        """Sample standard deviation (ddof=1) of the completed seeds' errors."""
        return float(np.std(self.errors, ddof=1)) if len(self.errors) > 1 else None

    @property
    def paper_error(self):
        if self.paper is None:
            return None
        return math.inf if self.paper == "fail" else float(self.paper)


@dataclasses.dataclass(frozen=True)
class TableResult:
    """One ablation search: its table's rows and how it was run."""

    table: str
    folder: str
    rows: tuple
    seeds: int
    command: str = None
    depth: int = None
    block: str = None
    settings: dict = dataclasses.field(default_factory=dict)

    @property
    def paper_depth(self):
        return 164 if self.table == "table2" and self.block == "bottleneck" else 110

    def compared(self):
        """The rows both we and the paper have a number (or a fail) for."""
        return [r for r in self.rows if r.ran and r.paper is not None]

    def ranks(self):
        """row -> (our rank, the paper's rank) over `compared()` rows."""
        rows = self.compared()
        ours = average_ranks([r.median for r in rows])
        paper = average_ranks([r.paper_error for r in rows])
        return {r.row: (float(a), float(b)) for r, a, b in zip(rows, ours, paper)}

    def spearman(self):
        rows = self.compared()
        return spearman([r.median for r in rows], [r.paper_error for r in rows])


def average_ranks(values):
    """1-based ranks of `values` (lowest first); tied values share their average rank."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and values[order[end + 1]] == values[order[start]]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(a, b):
    """Spearman's rank correlation of two sequences (ties averaged; inf is the worst
    value); None when it is undefined (fewer than 2 values, or one side all tied)."""
    if len(a) != len(b):
        raise ValueError(f"spearman needs sequences of one length; received {len(a)} and {len(b)}.")
    if len(a) < 2:
        return None
    ra, rb = average_ranks(a) - (len(a) + 1) / 2, average_ranks(b) - (len(b) + 1) / 2
    norm = math.sqrt(float(np.sum(ra * ra) * np.sum(rb * rb)))
    return float(np.sum(ra * rb) / norm) if norm else None


def read_trials(folder):
    """The trials of the search in `folder`, as dicts of trial, status, row, seed,
    val_accuracy (None unless completed) and message (see the module doc)."""
    paths = sorted(glob.glob(os.path.join(folder, "search", "trial_*", "trial.json")))
    if paths:
        return [t for t in map(_trial_from_json, paths) if t is not None]
    path = os.path.join(folder, "trials.csv")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", newline="") as file:
        return [
            dict(trial=r["trial"], status=r["status"], row=r["row"], seed=int(r["seed"]),
                 val_accuracy=float(r["val_accuracy"]) if r.get("val_accuracy") else None, message=None)
            for r in csv.DictReader(file)
        ]


def _trial_from_json(path):
    try:
        with open(path, encoding="utf-8") as file:
            state = json.load(file)
    except (OSError, json.JSONDecodeError):
        return None  # a trial file of an older, non-atomic KerasTuner writer cut short
    values = state["hyperparameters"]["values"]
    observations = state["metrics"]["metrics"].get("val_accuracy", {}).get("observations", [])
    accuracy = float(np.mean(observations[-1]["value"])) if observations else None
    lines = [line.strip() for line in (state.get("message") or "").splitlines() if line.strip()]
    return dict(trial=state["trial_id"], status=state["status"], row=values.get("row"), seed=values.get("seed"),
                val_accuracy=accuracy if state["status"] == "COMPLETED" else None,
                message=lines[-1] if lines else None)


def summarize(trials, paper):
    """`RowResult`s of `trials` (`read_trials` dicts): the rows of `paper` (row ->
    the paper's entry) in its order, then any other row the trials have.

    A (row, seed) run twice (a redone trial) counts once: completed over failed over pending.
    """
    preference = {"COMPLETED": 0, **{s: 1 for s in FAILED_STATUSES}}
    chosen = {}
    for trial in sorted(trials, key=lambda t: int(t["trial"]) if str(t["trial"]).isdigit() else 0):
        key = (trial["row"], trial["seed"])
        if key not in chosen or preference.get(trial["status"], 2) <= preference.get(chosen[key]["status"], 2):
            chosen[key] = trial
    names = list(paper) + sorted({row for row, _ in chosen} - set(paper))
    rows = []
    for name in names:
        mine = sorted((t for (row, _), t in chosen.items() if row == name), key=lambda t: t["seed"])
        done = [t for t in mine if t["status"] == "COMPLETED" and t["val_accuracy"] is not None]
        failed = [t for t in mine if t["status"] in FAILED_STATUSES]
        rows.append(RowResult(
            row=name, paper=paper.get(name),
            errors=tuple(100.0 * (1.0 - t["val_accuracy"]) for t in done),
            failed=len(failed), pending=len(mine) - len(done) - len(failed),
            failures=tuple(f"seed {t['seed']}: {t['message'] or 'failed'}" for t in failed),
        ))
    return tuple(rows)


def paper_entry(text, *, block):
    """The paper's error of one row for nets of `block`: Table 2's "110 / 164" pairs
    give ResNet-164's (the second) for bottleneck nets."""
    parts = [part.strip() for part in str(text).split("/")]
    return parts[1] if block == "bottleneck" and len(parts) > 1 else parts[0]


def read_search(folder, *, command=None, paper=None):
    """The `TableResult` of the ablation search in `folder`.

    Args:
        folder: a `--tune_dir` of `train.py --tune=grid --ablation=...`.
        command: the command that ran it, when `folder` has no `reproduce.json`.
        paper: row -> the paper's entry (default: `paper.ablations.ABLATIONS`).
    """
    with open(os.path.join(folder, "search.json"), encoding="utf-8") as file:
        definition = json.load(file)
    if not definition.get("ablation"):
        raise ValueError(f"{folder} holds a free search, not an ablation (its search.json: {definition}).")
    record = {}
    if os.path.exists(os.path.join(folder, RECORD)):
        with open(os.path.join(folder, RECORD), encoding="utf-8") as file:
            record = json.load(file)
    table = definition["ablation"]
    if paper is None:
        paper = {row: error for row, (_, error) in ABLATIONS[table].items()}
    block = record.get("block")
    rows = summarize(read_trials(folder), {row: paper_entry(text, block=block) for row, text in paper.items()})
    settings = {k: v for k, v in record.items() if k not in ("command", "depth", "block", "driver")}
    return TableResult(table=table, folder=folder, rows=rows, seeds=definition.get("seeds", 1),
                       command=command or record.get("command"), depth=record.get("depth"), block=block,
                       settings=settings)


def ablation_folders(root):
    """The ablation search folders at or under `root` (each holds a search.json)."""
    found = []
    for path in sorted(glob.glob(os.path.join(root, "**", "search.json"), recursive=True)):
        with open(path, encoding="utf-8") as file:
            if json.load(file).get("ablation"):
                found.append(os.path.dirname(path))
    return found


def _number(value, digits=2):
    if value is None:
        return "–"
    return "fail" if math.isinf(value) else f"{value:.{digits}f}"


def _rank(value):
    return "–" if value is None else (f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}")


def _setup(result):
    parts = [f"ResNet-{result.depth} ({result.block})" if result.depth else "depth not recorded"]
    settings = result.settings
    if settings.get("epochs"):
        parts.append(f"{settings['epochs']} epoch{'s' if settings['epochs'] != 1 else ''}")
    if settings.get("train_subset"):
        parts.append(f"{settings['train_subset']:,} training images")
    if settings.get("validation_split"):
        parts.append(f"validation split {settings['validation_split']}")
    parts.append(f"{result.seeds} seed{'s' if result.seeds != 1 else ''} per row")
    return ", ".join(parts)


def _lowest(rows, error):
    best = min(map(error, rows))
    return ", ".join(f"`{r.row}`" for r in rows if error(r) == best)


def table_markdown(result):
    """One search's section: the rows, the rank correlation, failures and the command."""
    ranks = result.ranks()
    lines = [
        f"## {TITLES.get(result.table, result.table)}: {_setup(result)}", "",
        f"| row | paper CIFAR-10 error % (ResNet-{result.paper_depth}) | ours: median error % | min–max | sample std "
        "| seeds | failed | rank ours / paper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result.rows:
        median = _number(row.median) if row.ran else ("pending" if row.pending else "not run")
        spread = f"{_number(row.low)}–{_number(row.high)}" if row.errors else "–"
        ours, paper = ranks.get(row.row, (None, None))
        lines.append(
            f"| `{row.row}` | {row.paper or '–'} | {median} | {spread} | {_number(row.std)} "
            f"| {len(row.errors)}/{result.seeds} | {row.failed} | {_rank(ours)} / {_rank(paper)} |"
        )
    compared = result.compared()
    rho = result.spearman()
    lines += ["", f"Spearman rank correlation, ours vs the paper, over {len(compared)} of {len(result.rows)} rows: "
              + ("n/a" if rho is None else f"**{rho:+.2f}**") + "."]
    if compared:
        ours = _lowest(compared, lambda r: r.median)
        lines.append(f"Lowest error: ours {ours}; paper {_lowest(compared, lambda r: r.paper_error)}.")
    failures = [f"- `{row.row}` {text}" for row in result.rows for text in row.failures]
    if failures:
        lines += ["", "Failed trials (counted apart from the statistics):", "", *failures]
    lines += ["", "Every row of this table (from the repository root; a rerun resumes it):", ""]
    lines += ["```bash", result.command, "```"] if result.command else ["_command not recorded_"]
    lines += ["", f"Search folder: `{result.folder}` (trials.md, trials.csv, trials.png, KerasTuner state).", ""]
    return "\n".join(lines)


def render(results, *, plot=None, reading=None, regenerate=None, depth=None):
    """The Markdown of REPRODUCTION.md.

    Args:
        results: `TableResult`s, in report order.
        plot: the plot's path relative to the report, or None.
        reading: the human reading to keep (default: a placeholder).
        regenerate: the command that regenerates the report, shown in its header.
        depth: the depth-comparison section to keep (Markdown), or None.
    """
    lines = [
        "# Reproduction: the ablations of arXiv:1603.05027 on Fashion-MNIST", "",
        "He et al., *Identity Mappings in Deep Residual Networks* (ECCV 2016): Table 1 (shortcut variants) and "
        "Table 2 (activation orders), run as KerasTuner grid searches (`keras_resnetv2.tuning`, `--ablation`).",
        "",
        "- **ours**: error % = 100 - `val_accuracy` of the final epoch, on a validation split held out of the "
        "Fashion-MNIST training images (never the test set); median, min–max and sample std over the completed seeds "
        "(seeds vary the initialization). A trial whose loss became non-finite, or that raised, is *failed*: "
        "counted apart; a row whose every trial failed reads *fail*.",
        "- **paper**: CIFAR-10 test error %, median of 5 runs, ResNet-110 (Table 1, Table 2) or ResNet-164 "
        "(Table 2, bottleneck); *fail* = above 20%.",
        "- The two datasets differ, so the errors are not comparable; the **ranks** are (1 = lowest error; ties "
        "share their average rank; *fail* rows rank last), summed up by Spearman's rank correlation.",
        "",
    ]
    if regenerate:
        lines += [f"Generated by `{regenerate}`; only the Reading section is written by hand (kept when the "
                  "report is regenerated).", ""]
    if plot:
        lines += [f"![Our median error per row (min–max bars) next to the paper's CIFAR-10 error]({plot})", ""]
    lines += [table_markdown(result) for result in results]
    if depth:
        lines += [DEPTH_START, depth.strip("\n"), DEPTH_END, ""]
    lines += ["## Reading", "", READING_START, (reading or READING_PLACEHOLDER).strip("\n"), READING_END, ""]
    return "\n".join(lines)


def existing_reading(path):
    """The text between the reading markers of the report at `path`, or None."""
    return kept_block(path, READING_START, READING_END)


def kept_block(path, start_marker, end_marker):
    """The text between two markers of the report at `path`, or None."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as file:
        text = file.read()
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < start:
        return None
    return text[start + len(start_marker):end].strip("\n")


def write_depth_section(path, section):
    """Writes `section` between the depth markers of the report at `path` (before its
    Reading, when the markers are not there yet), atomically."""
    with open(path, encoding="utf-8") as file:
        text = file.read()
    block = f"{DEPTH_START}\n{section.strip(chr(10))}\n{DEPTH_END}\n"
    start, end = text.find(DEPTH_START), text.find(DEPTH_END)
    if 0 <= start < end:
        text = text[:start] + block + text[end + len(DEPTH_END):].lstrip("\n")
    else:
        at = text.find("## Reading")
        at = len(text) if at < 0 else at
        text = text[:at] + block + "\n" + text[at:]
    atomic_write_text(path, text)


def plot_results(results, path):
    """Per search, our median error per row (min–max bars, left axis) next to the
    paper's CIFAR-10 error (right axis); a row of panels per table, a panel per search.

    Each axis spans its own data (the datasets' errors differ in scale; the order of
    the rows is what compares); a failed row is an x at the top of its axis.
    """
    groups = {}
    for result in results:
        groups.setdefault(result.table, []).append(result)
    groups = list(groups.values()) or [[TableResult(table="", folder="", rows=(), seeds=0)]]
    columns = max(map(len, groups))
    most_rows = max(max(1, len(r.rows)) for group in groups for r in group)
    figure = new_figure(figsize=(columns * (0.8 * most_rows + 2.6), 4.6 * len(groups) + 0.4), layout="constrained")
    axes = figure.subplots(len(groups), columns, squeeze=False)
    for row_axes, group in zip(axes, groups):
        for axis in row_axes[len(group):]:
            axis.axis("off")
    panels = [(axis, result) for row_axes, group in zip(axes, groups) for axis, result in zip(row_axes, group)]
    legend_axes = None
    for axis, result in panels:
        ours = [(i, r) for i, r in enumerate(result.rows) if r.errors]
        _draw_failures(axis, [i for i, r in enumerate(result.rows) if r.ran and not r.errors], -0.12,
                       [v for _, r in ours for v in (r.low, r.high)], "tab:blue", align="right")
        axis.errorbar(
            [i - 0.12 for i, _ in ours], [r.median for _, r in ours],
            yerr=[[r.median - r.low for _, r in ours], [r.high - r.median for _, r in ours]],
            fmt="o", color="tab:blue", capsize=4, label="ours: Fashion-MNIST validation error, median and min–max",
        )
        for i, row in enumerate(result.rows):
            if not row.ran:
                axis.text(i - 0.12, axis.get_ylim()[0], " not run", rotation=90, ha="center", va="bottom",
                          color="gray", fontsize=8)
        axis.set_ylabel("ours: validation error % (Fashion-MNIST)", color="tab:blue")
        twin = axis.twinx()
        legend_axes = legend_axes or (axis, twin)
        paper = [(i, r.paper_error) for i, r in enumerate(result.rows) if r.paper_error is not None]
        finite = [(i, e) for i, e in paper if math.isfinite(e)]
        _draw_failures(twin, [i for i, e in paper if math.isinf(e)], 0.12, [e for _, e in finite], "tab:orange",
                       align="left")
        twin.plot([i + 0.12 for i, _ in finite], [e for _, e in finite], "s", color="tab:orange",
                  label="paper: CIFAR-10 test error (median of 5), right axis")
        twin.set_ylabel("paper: CIFAR-10 test error %", color="tab:orange")
        axis.set_xticks(range(len(result.rows)), [r.row for r in result.rows], rotation=35, ha="right", fontsize=8)
        axis.set_xlim(-0.6, len(result.rows) - 0.4)
        rho = result.spearman()
        axis.set_title(
            f"{TITLES.get(result.table, result.table).split(':')[0]}: ours ResNet-{result.depth or '?'}, "
            f"paper ResNet-{result.paper_depth}\nrank correlation {'n/a' if rho is None else format(rho, '+.2f')}",
            fontsize=10,
        )
        axis.grid(alpha=0.3, axis="y")
    handles = [h for a in legend_axes for h in a.get_legend_handles_labels()[0]]
    figure.legend(handles, [h.get_label() for h in handles], loc="outside lower center", ncols=2, fontsize=8)
    save_figure(figure, path, dpi=110)


def _draw_failures(axis, positions, offset, values, color, *, align):
    """Sets `axis`' limits around `values`; draws an x labelled "fail" near its top for
    each of `positions`."""
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = max(0.15 * (high - low), 0.05 * high, 0.1)
    top = high + (3 if positions else 1) * pad
    axis.set_ylim(max(0.0, low - pad), top)
    for i in positions:
        axis.plot(i + offset, high + 2 * pad, "x", color=color, markersize=10)
        label = "fail " if align == "right" else " fail"
        axis.text(i + offset, high + 2 * pad, label, color=color, ha=align, va="center", fontsize=8)


def write_reproduction(results, path, *, plot_path=None, regenerate=None):
    """Writes the report at `path` (keeping its reading) and, given `plot_path`, the plot.

    Results are ordered by table, block and depth. Returns the report's text.
    """
    results = sorted(results, key=lambda r: (r.table, r.block or "", r.depth or 0, r.folder))
    plot = None
    if plot_path:
        os.makedirs(os.path.dirname(os.path.abspath(plot_path)), exist_ok=True)
        plot_results(results, plot_path)
        plot = os.path.relpath(os.path.abspath(plot_path), os.path.dirname(os.path.abspath(path)))
    text = render(results, plot=plot, reading=existing_reading(path), regenerate=regenerate,
                  depth=kept_block(path, DEPTH_START, DEPTH_END))
    atomic_write_text(path, text)
    return text
