"""Original vs full pre-activation units at one depth, against the paper's Table 3, with seed noise.

The paper's headline comparison (arXiv:1603.05027, Table 3): ResNet-164 on CIFAR-10,
5.93% test error with the original unit, 5.46% with full pre-activation (median of
5 runs). `render_section` sets our pair of runs (same recipe, seed and epochs) beside
it: each net's final-epoch test error, the gap, and whether the gap exceeds the seed
noise measured on repeated runs of both units (at the same or a smaller depth). A
gap "exceeds the noise" when it is more than twice the standard deviation of the
difference of two single runs, `sqrt(std_original^2 + std_preact^2)` (each std over
that unit's seeds): about a 95% two-sided criterion for normal noise.
`plot_curves` draws both nets' training loss and test error per epoch, the paper's
Fig. 6 in spirit, beside the seed-noise runs. `render_drop_path` sets runs with
stochastic depth (Huang et al., ECCV 2016) beside runs of the same net and seeds
without it.
"""

import dataclasses
import math
import statistics
from typing import Optional

from keras_resnetv2.utils.figures import new_figure, save_figure

# arXiv:1603.05027 Table 3, CIFAR-10 test error %, median of 5 runs.
PAPER_CIFAR10_ERROR = {"original": 5.93, "full_preactivation": 5.46}
PAPER_DEPTH = 164


@dataclasses.dataclass(frozen=True)
class Run:
    """One training of the comparison.

    Attributes:
        name: the run's name (its folder).
        unit: "original" or "full_preactivation".
        depth: the net's depth.
        seed: the initialization seed.
        epochs: the epochs the run trains for.
        history: per-epoch records (`accuracy`, `cross_entropy`, `test_accuracy`...).
        test_accuracy: the final epoch's test accuracy once the run is done, else None.
        drop_path_rate: the run's stochastic depth rate (0: none).
    """

    name: str
    unit: str
    depth: int
    seed: int
    epochs: int
    history: tuple
    test_accuracy: Optional[float] = None
    drop_path_rate: float = 0.0

    @property
    def done(self):
        return self.test_accuracy is not None

    @property
    def test_error(self):
        return None if self.test_accuracy is None else 100.0 * (1.0 - self.test_accuracy)


@dataclasses.dataclass(frozen=True)
class Noise:
    """Final test errors of repeated runs of both units; `gap_std` is the std of the
    difference of two single runs."""

    depth: int
    errors: dict  # unit -> list of final test errors %

    def std(self, unit):
        values = self.errors.get(unit, [])
        return statistics.stdev(values) if len(values) >= 2 else None

    @property
    def gap_std(self):
        stds = [self.std(unit) for unit in PAPER_CIFAR10_ERROR]
        return None if None in stds else math.sqrt(sum(s * s for s in stds))


def noise_of(runs):
    """The `Noise` of the finished runs (one depth), or None when none is finished."""
    finished = [r for r in runs if r.done]
    if not finished:
        return None
    errors = {}
    for run in finished:
        errors.setdefault(run.unit, []).append(run.test_error)
    return Noise(depth=finished[0].depth, errors=errors)


def _cell(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def render_section(pair, noise_runs, *, plot=None, commands=(), drop_path_runs=()):
    """The Markdown of the depth comparison.

    Args:
        pair: the two `Run`s compared (original and full pre-activation units).
        noise_runs: repeated `Run`s of both units for the seed noise.
        plot: the curves' path relative to the report, or None.
        commands: the commands that reproduce the runs.
        drop_path_runs: runs with stochastic depth, set beside the noise runs of the same
            unit and depth (`render_drop_path`).
    """
    by_unit = {run.unit: run for run in pair}
    depth = pair[0].depth if pair else PAPER_DEPTH
    lines = [
        f"## Depth {depth}: original vs full pre-activation (Table 3)", "",
        f"ResNet-{depth} with the original unit and with full pre-activation, the same recipe, seed and epochs, on "
        "Fashion-MNIST (28x28x1, 60k training images); final-epoch test error on the 10k test images, never the "
        "best epoch. The paper: CIFAR-10, median of 5 runs.", "",
        "| unit | epochs | ours: test error % | paper: CIFAR-10 test error % (ResNet-164) |",
        "|---|---|---|---|",
    ]
    for unit, paper in PAPER_CIFAR10_ERROR.items():
        run = by_unit.get(unit)
        if run is None or (not run.done and not run.history):
            progress = "not started"
        else:
            progress = f"{run.epochs}" if run.done else f"{len(run.history)}/{run.epochs} (in progress)"
        lines.append(f"| {unit} | {progress} | {_cell(run.test_error if run else None)} | {paper:.2f} |")
    ours_gap = None
    if all(unit in by_unit and by_unit[unit].done for unit in PAPER_CIFAR10_ERROR):
        ours_gap = by_unit["original"].test_error - by_unit["full_preactivation"].test_error
    paper_gap = PAPER_CIFAR10_ERROR["original"] - PAPER_CIFAR10_ERROR["full_preactivation"]
    lines += ["", f"Gap (original - pre-activation): ours {_cell(ours_gap)} points; paper {paper_gap:.2f} points.", ""]
    noise = noise_of(noise_runs)
    if noise is None:
        lines.append("Seed noise: not measured yet (the noise runs have not finished).")
    else:
        stds = ", ".join(
            f"{unit} {statistics.mean(values):.2f} ± {_cell(noise.std(unit))} over {len(values)} seed(s)"
            for unit, values in sorted(noise.errors.items())
        )
        lines.append(f"Seed noise at depth {noise.depth} (final test error %, mean ± std): {stds}.")
        if noise.gap_std is not None:
            lines.append(f"Std of the difference of two single runs: {noise.gap_std:.2f} points.")
            if ours_gap is not None:
                verdict = "exceeds" if abs(ours_gap) > 2 * noise.gap_std else "does not exceed"
                lines.append(f"The depth-{depth} gap of {ours_gap:.2f} points {verdict} twice that ({2 * noise.gap_std:.2f}).")
    lines += ["", training_time([(f"ResNet-{depth} pair", pair), ("seed-noise runs", noise_runs),
                                 ("stochastic-depth runs", drop_path_runs)])]
    if drop_path_runs:
        net = drop_path_runs[0]
        baseline = [r for r in noise_runs if (r.unit, r.depth, r.drop_path_rate) == (net.unit, net.depth, 0.0)
                    and r.seed in {d.seed for d in drop_path_runs}]
        lines += ["", render_drop_path(baseline + list(drop_path_runs)).rstrip("\n")]
    if plot:
        lines += ["", f"![Training loss and test error per epoch]({plot})", "",
                  f"Training cross-entropy and test error per epoch: the ResNet-{depth} pair (solid) and the "
                  "seed-noise runs (dashed), blue for full pre-activation, orange for the original unit."]
    if commands:
        lines += ["", "Reproduce (from the repository root; a rerun resumes):", "", "```bash", *commands, "```"]
    return "\n".join(lines) + "\n"


def training_time(groups):
    """A sentence with each group's training wall time so far (sum of its runs' epoch
    times, test passes included) and the total; `groups` is `[(label, runs)]`."""
    hours = [(label, sum(h.get("epoch_time_s", 0.0) for run in runs for h in run.history) / 3600)
             for label, runs in groups]
    parts = ", ".join(f"{label} {value:.1f} h" for label, value in hours)
    return (f"Training wall time so far (sum of epoch times, test passes included): {parts}; "
            f"{sum(value for _, value in hours):.1f} h in all.")


def render_drop_path(runs):
    """The Markdown table of stochastic depth's effect: final test error % per seed and
    drop-path rate, for the runs of one net (unit and depth) at several rates.

    The difference of the rates' mean errors is judged against twice its standard error,
    `sqrt(s_a^2 / n_a + s_b^2 / n_b)` (each `s` the std over that rate's seeds). The mean
    final training cross-entropy beside it tells a regularizer that curbs overfitting
    (training loss up, test error down) from one that costs fit (both up).
    """
    if not runs:
        return ""
    by_rate = {}
    for r in runs:
        by_rate.setdefault(r.drop_path_rate, {})[r.seed] = r
    seeds = sorted({r.seed for r in runs})
    unit, depth = runs[0].unit, runs[0].depth
    name = f"ResNet-{depth}{'V2' if unit == 'full_preactivation' else ''}"
    lines = [
        f"### Stochastic depth: {name}, drop-path rate {' vs '.join(f'{k:g}' for k in sorted(by_rate))}", "",
        f"{name} on Fashion-MNIST, the same recipe and epochs, with stochastic depth (rate rising linearly to the "
        "last unit) and without; final-epoch test error % on the 10k test images.", "",
        "| drop_path_rate | " + " | ".join(f"seed {s}" for s in seeds)
        + " | mean | training cross-entropy (training pass), mean |",
        "|---" * (len(seeds) + 3) + "|",
    ]
    means, spreads = {}, {}
    for rate in sorted(by_rate):
        cells = []
        for seed in seeds:
            r = by_rate[rate].get(seed)
            if r is None:
                cells.append("-")
            elif r.done:
                cells.append(f"{r.test_error:.2f}")
            else:
                cells.append(f"{len(r.history)}/{r.epochs} epochs" if r.history else "not started")
        finished = [r for r in by_rate[rate].values() if r.done]
        errors = [r.test_error for r in finished]
        fit = [r.history[-1]["cross_entropy"] for r in finished if r.history and "cross_entropy" in r.history[-1]]
        if errors:
            means[rate] = statistics.mean(errors)
            spreads[rate] = (statistics.stdev(errors) if len(errors) >= 2 else None, len(errors))
        lines.append(f"| {rate:g} | " + " | ".join(cells) + f" | {_cell(means.get(rate))} | "
                     f"{_cell(statistics.mean(fit) if fit else None, 3)} |")
    rates = sorted(by_rate)
    if len(rates) == 2 and all(rate in means for rate in rates):
        low, high = rates
        delta = means[low] - means[high]
        effect = "lowers" if delta > 0 else "raises"
        lines += ["", f"Difference of the means (rate {low:g} - rate {high:g}): {delta:.2f} points: "
                      f"rate {high:g} {effect} the test error by {abs(delta):.2f} points."]
        if all(spreads[rate][0] is not None for rate in rates):
            se = math.sqrt(sum(spreads[rate][0] ** 2 / spreads[rate][1] for rate in rates))
            verdict = "exceeds" if abs(delta) > 2 * se else "does not exceed"
            lines.append(f"It {verdict} twice its standard error ({2 * se:.2f}).")
    return "\n".join(lines) + "\n"


UNIT_COLORS = {"full_preactivation": "C0", "original": "C1"}


def plot_curves(pair, path, *, others=()):
    """Training cross-entropy and test error % per epoch of each run of `pair` (solid), and
    of `others` (dashed, thinner: e.g. the seed-noise runs at a smaller depth), one colour
    per unit. Runs without an epoch yet are left out.

    Returns:
        The legend labels drawn, in order; an empty list (and no file) when no run has an epoch.
    """
    from matplotlib.ticker import MaxNLocator  # optional dependency: matplotlib

    solid, dashed = dict(marker=".", linewidth=2.0), dict(linestyle="--", linewidth=1.0, alpha=0.6)
    styles = [(run, solid, f"{run.unit} (ResNet-{run.depth})") for run in pair]
    styles += [(run, dashed, f"{run.unit} (ResNet-{run.depth}, seed {run.seed})") for run in others]
    styles = [(run, style, label) for run, style, label in styles if run.history]
    if not styles:
        return []
    figure = new_figure(figsize=(11, 4.2), layout="constrained")
    loss_axes, error_axes = figure.subplots(1, 2)
    for run, style, label in styles:
        epochs = [h["epoch"] for h in run.history]
        color = UNIT_COLORS.get(run.unit)
        loss_axes.plot(epochs, [h.get("cross_entropy") for h in run.history], color=color, label=label, **style)
        errors = [None if h.get("test_accuracy") is None else 100 * (1 - h["test_accuracy"]) for h in run.history]
        error_axes.plot(epochs, errors, color=color, label=label, **style)
    for axes, title in ((loss_axes, "training cross-entropy"), (error_axes, "test error %")):
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(title)
        axes.grid(alpha=0.3)
    error_axes.legend(fontsize="small")
    save_figure(figure, path)
    return [label for _, _, label in styles]
