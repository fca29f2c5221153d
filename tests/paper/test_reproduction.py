"""REPRODUCTION.md from ablation searches: per-row statistics, failures, ranks, the kept reading."""

import importlib.util
import json
import math
import os

import numpy as np
import pytest
from conftest import REPO_ROOT
from scipy import stats

from keras_resnetv2.paper import reproduction
from keras_resnetv2.tuning import report as tuning_report
from keras_resnetv2.paper.ablations import ABLATIONS

PNG = b"\x89PNG\r\n\x1a\n"


def ablation_folder(path, table, trials, *, seeds=3, record=None):
    """A search folder as train.py leaves it: search.json and trials.csv of `trials`,
    (row, seed, val_accuracy or None for a failed trial) tuples."""
    path.mkdir(parents=True)
    (path / "search.json").write_text(json.dumps({"ablation": table, "seeds": seeds}))
    rows = [dict(trial=str(i), status="COMPLETED" if acc is not None else "FAILED", row=row, seed=seed,
                 val_accuracy=acc, epochs=1 if acc is not None else None)
            for i, (row, seed, acc) in enumerate(trials)]
    (path / "trials.csv").write_text(tuning_report.csv_text(rows))
    if record:
        (path / reproduction.RECORD).write_text(json.dumps(record))
    return str(path)


def trial_json(folder, trial_id, row, seed, *, status="COMPLETED", accuracy=None, message=None):
    """One trial's KerasTuner state, as `Trial.get_state()` saves it."""
    metrics = {} if accuracy is None else {
        "val_accuracy": {"direction": "max", "observations": [{"value": [accuracy], "step": 0}]}}
    state = {"trial_id": trial_id, "hyperparameters": {"space": [], "values": {"row": row, "seed": seed}},
             "metrics": {"metrics": metrics}, "score": accuracy, "best_step": 0, "status": status, "message": message}
    path = os.path.join(folder, "search", f"trial_{trial_id}")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "trial.json"), "w") as file:
        json.dump(state, file)


TABLE1_TRIALS = [
    ("identity", 0, 0.93), ("identity", 1, 0.95), ("identity", 2, 0.94),
    ("constant_scaling", 0, None), ("constant_scaling", 1, None), ("constant_scaling", 2, None),
    ("constant_scaling_both", 0, 0.88), ("constant_scaling_both", 1, 0.90), ("constant_scaling_both", 2, 0.86),
    ("exclusive_gating", 0, 0.91), ("exclusive_gating", 1, 0.92), ("exclusive_gating", 2, 0.91),
    ("shortcut_only_gating_b0", 0, 0.89), ("shortcut_only_gating_b0", 1, 0.89), ("shortcut_only_gating_b0", 2, 0.89),
    ("shortcut_only_gating", 0, 0.935), ("shortcut_only_gating", 1, 0.93), ("shortcut_only_gating", 2, 0.94),
    # conv1x1 not run; dropout: one seed diverged
    ("dropout", 0, 0.80), ("dropout", 1, None), ("dropout", 2, 0.70),
]


def test_rows_give_median_spread_failures_and_not_run(tmp_path):
    result = reproduction.read_search(ablation_folder(tmp_path / "t1", "table1", TABLE1_TRIALS))
    assert [r.row for r in result.rows] == list(ABLATIONS["table1"])  # the paper's order
    rows = {r.row: r for r in result.rows}
    identity = rows["identity"]
    assert identity.errors == pytest.approx((7.0, 5.0, 6.0))
    assert (identity.median, identity.low, identity.high) == pytest.approx((6.0, 5.0, 7.0))
    assert identity.std == pytest.approx(1.0)  # sample std
    assert identity.paper == "6.61" and identity.failed == 0
    assert rows["constant_scaling"].median == math.inf and rows["constant_scaling"].failed == 3
    assert rows["constant_scaling"].paper == "fail" and rows["constant_scaling"].low is None
    dropout = rows["dropout"]
    assert dropout.errors == pytest.approx((20.0, 30.0)) and dropout.failed == 1 and dropout.median == pytest.approx(25)
    assert not rows["conv1x1"].ran and rows["conv1x1"].median is None

    text = reproduction.table_markdown(result)
    lines = {line.split("|")[1].strip(" `"): line for line in text.splitlines() if line.startswith("| `")}
    assert "| 6.61 | 6.00 | 5.00–7.00 | 1.00 | 3/3 | 0 |" in lines["identity"]
    assert "| fail | fail | – | – | 0/3 | 3 |" in lines["constant_scaling"]
    assert "| 12.22 | not run | – | – | 0/3 | 0 | – / – |" in lines["conv1x1"]
    assert "| 25.00 | 20.00–30.00 | 7.07 | 2/3 | 1 |" in lines["dropout"]
    assert "over 7 of 8 rows" in text and "_command not recorded_" in text


def test_ranks_follow_the_tables_with_fails_tied_last(tmp_path):
    result = reproduction.read_search(ablation_folder(tmp_path / "t1", "table1", TABLE1_TRIALS))
    ranks = result.ranks()
    assert "conv1x1" not in ranks  # not run: out of the comparison
    # ours: identity 6, shortcut_only_gating 6.5, exclusive_gating 9, shortcut_only_gating_b0 11,
    # constant_scaling_both 12, dropout 25, constant_scaling fail; the paper swaps the 11 and 12
    assert ranks["identity"] == (1.0, 1.0)
    assert ranks["shortcut_only_gating"] == (2.0, 2.0)
    # the paper's two "fail" rows (constant_scaling, dropout) share ranks 6 and 7; ours, only
    # constant_scaling failed on every seed
    assert ranks["constant_scaling"] == (7.0, 6.5) and ranks["dropout"][1] == 6.5
    medians = [r.median for r in result.compared()]
    papers = [r.paper_error for r in result.compared()]
    expected = stats.spearmanr(np.nan_to_num(medians, posinf=1e9), np.nan_to_num(papers, posinf=1e9)).statistic
    assert result.spearman() == pytest.approx(expected)


def test_average_ranks_and_spearman_handle_ties():
    assert reproduction.average_ranks([3.0, 1.0, 3.0, math.inf, math.inf]).tolist() == [2.5, 1.0, 2.5, 4.5, 4.5]
    assert reproduction.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert reproduction.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # a tie: ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4) -> 4.5 / sqrt(4.5 * 5)
    assert reproduction.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert reproduction.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(
        stats.spearmanr([1, 2, 2, 3], [1, 2, 3, 4]).statistic)
    assert reproduction.spearman([5, 5, 5], [1, 2, 3]) is None  # all tied: undefined
    assert reproduction.spearman([1], [1]) is None


def test_trial_state_is_read_before_a_stale_csv(tmp_path):
    # A search killed during its fourth trial: trials.csv (written when a search returns)
    # holds nothing yet; KerasTuner's per-trial files hold three finished trials.
    folder = ablation_folder(tmp_path / "t2", "table2", [], seeds=2)
    trial_json(folder, "0", "original", 0, accuracy=0.9)
    trial_json(folder, "1", "original", 1, status="FAILED",
               message="Traceback ...\nFailedTrialError: The loss became nan at batch 3; the trial diverged.\n")
    trial_json(folder, "2", "bn_after_addition", 0, accuracy=0.8)
    trial_json(folder, "3", "bn_after_addition", 1, status="RUNNING")
    with open(os.path.join(folder, "search", "trial_4.json"), "w"):
        pass  # not a trial folder: ignored
    rows = {r.row: r for r in reproduction.read_search(folder).rows}
    assert rows["original"].errors == pytest.approx((10.0,)) and rows["original"].failed == 1
    assert rows["original"].failures == (
        "seed 1: FailedTrialError: The loss became nan at batch 3; the trial diverged.",)
    assert rows["bn_after_addition"].pending == 1 and rows["bn_after_addition"].errors == pytest.approx((20.0,))
    text = reproduction.table_markdown(reproduction.read_search(folder))
    assert "the trial diverged" in text and "| 10.00 |" in text


def test_table2_paper_column_follows_the_block(tmp_path):
    trials = [(row, 0, 0.9) for row in ABLATIONS["table2"]]
    basic = reproduction.read_search(ablation_folder(tmp_path / "a", "table2", trials, seeds=1,
                                                     record={"depth": 20, "block": "basic", "command": "cmd a"}))
    bottleneck = reproduction.read_search(ablation_folder(tmp_path / "b", "table2", trials, seeds=1,
                                                          record={"depth": 164, "block": "bottleneck"}))
    assert [r.paper for r in basic.rows] == ["6.61", "8.17", "7.84", "6.71", "6.37"]
    assert [r.paper for r in bottleneck.rows] == ["5.93", "6.50", "6.14", "5.91", "5.46"]
    assert basic.command == "cmd a" and "ResNet-164" in reproduction.table_markdown(bottleneck)
    assert reproduction.read_search(str(tmp_path / "b"), command="cmd b").command == "cmd b"
    assert basic.spearman() is None  # every row tied in ours


def test_report_keeps_its_reading_and_writes_the_plot(tmp_path):
    folders = [ablation_folder(tmp_path / "runs" / "t1", "table1", TABLE1_TRIALS,
                               record={"depth": 20, "block": "basic"}),
               ablation_folder(tmp_path / "runs" / "t2", "table2", [("original", 0, 0.9)], seeds=1)]
    (tmp_path / "runs" / "free").mkdir()
    (tmp_path / "runs" / "free" / "search.json").write_text(json.dumps({"space": {}}))
    assert reproduction.ablation_folders(str(tmp_path / "runs")) == folders
    results = [reproduction.read_search(f) for f in folders]
    report, plot = tmp_path / "REPRODUCTION.md", tmp_path / "plots" / "ablations.png"
    first = reproduction.write_reproduction(results, str(report), plot_path=str(plot), regenerate="regen")
    assert reproduction.READING_PLACEHOLDER in first and "](plots/ablations.png)" in first
    assert first.index("## Table 1") < first.index("## Table 2") < first.index("## Reading")
    assert plot.read_bytes()[:8] == PNG
    assert "| `bn_after_addition` | 8.17 | not run |" in first

    reading = "Identity shortcuts win on both datasets.\n\nGating does not."
    report.write_text(first.replace(reproduction.READING_PLACEHOLDER, reading).replace("| 6.61 |", "| edited |"))
    second = reproduction.write_reproduction(results, str(report), plot_path=str(plot))
    assert reading in second and reproduction.READING_PLACEHOLDER not in second
    assert "| edited |" not in second  # everything else is regenerated
    assert second.count(reproduction.READING_START) == 1


def load_bench():
    path = os.path.join(REPO_ROOT, "bench", "reproduce_ablations.py")
    module_spec = importlib.util.spec_from_file_location("reproduce_ablations", path)
    bench = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(bench)
    return bench


def test_depths_become_named_models_or_units_per_stage():
    bench = load_bench()
    assert bench.model_flags(110, "basic", {}) == ["--model=ResNet110"]
    assert bench.model_flags(164, "bottleneck", {}) == ["--model=ResNet164"]
    assert bench.model_flags(29, "bottleneck", {}) == ["--model=ResNet164", '--spec_options={"stage_units": [3, 3, 3]}']
    assert bench.model_flags(8, "basic", {"stem_width": 4}) == [
        "--model=ResNet20", '--spec_options={"stage_units": [1, 1, 1], "stem_width": 4}']
    with pytest.raises(ValueError, match="6n\\+2"):
        bench.model_flags(21, "basic", {})


@pytest.mark.slow  # the ablation bench end to end (its parts are tested above)
def test_tiny_table2_run_end_to_end(fashion_mnist_dir, tmp_path):
    """The driver on Table 2: 5 rows x 1 seed of a depth-8 net of width 4/8/16, 1 epoch
    on 256 images: about 20 s of CPU time, mostly graph tracing (28-70 s here, by load)."""
    bench = load_bench()
    report, out = tmp_path / "REPRODUCTION.md", tmp_path / "runs"
    argv = ["--tables", "table2", "--seeds", "1", "--depth", "8", "--epochs", "1", "--train_subset", "256",
            "--validation_split", "0.01", "--spec_options", '{"stage_widths": [4, 8, 16], "stem_width": 4}',
            "--out", str(out), "--report", str(report), "--plot", str(tmp_path / "ablations.png"),
            "--batch_size=64", "--warmup_steps=1", "--verbose=0"]
    bench.main(argv)
    text = report.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(ABLATIONS["table2"])
    assert all("| 1/1 | 0 |" in row for row in rows)
    assert "over 5 of 5 rows" in text and (tmp_path / "ablations.png").read_bytes()[:8] == PNG
    record = json.loads((out / "table2_resnet8_basic" / reproduction.RECORD).read_text())
    assert f"```bash\n{record['command']}\n```" in text
    assert "--ablation=table2" in record["command"] and '"stage_units": [1, 1, 1]' in record["command"]

    # The folder holds this search: other flags are refused, the same ones resume it.
    other = list(argv)
    other[other.index("--epochs") + 1] = "2"
    with pytest.raises(SystemExit, match="holds a search run as"):
        bench.main(other)
    bench.main(["--report_only", "--out", str(out), "--report", str(report), "--plot", str(tmp_path / "ablations.png")])
    assert report.read_text() == text
