"""The depth comparison: the gap, the seed-noise verdict, the curves, a section the ablation report keeps."""

import dataclasses

import pytest

from keras_resnetv2.paper import depth_comparison, reproduction
from keras_resnetv2.paper.depth_comparison import Run


def run(unit, accuracy, *, depth=164, seed=0, epochs=3, done=True, trained=None):
    trained = epochs if trained is None else trained
    history = tuple({"epoch": e, "cross_entropy": 1.0 / e, "test_accuracy": accuracy - 0.01 * (epochs - e)}
                    for e in range(1, trained + 1))
    return Run(name=f"{unit}{depth}_{seed}", unit=unit, depth=depth, seed=seed, epochs=epochs, history=history,
               test_accuracy=accuracy if done else None)


def noise_runs(original, preact):
    return [run("original", a, depth=56, seed=s) for s, a in enumerate(original)] + \
           [run("full_preactivation", a, depth=56, seed=s) for s, a in enumerate(preact)]


def test_the_gap_and_its_verdict_against_twice_the_noise_of_a_difference():
    pair = [run("full_preactivation", 0.955), run("original", 0.950)]
    quiet = depth_comparison.render_section(pair, noise_runs([0.940, 0.941, 0.942], [0.945, 0.946, 0.947]))
    assert "| full_preactivation | 3 | 4.50 | 5.46 |" in quiet and "| original | 3 | 5.00 | 5.93 |" in quiet
    assert "ours 0.50 points; paper 0.47 points" in quiet
    # std 0.1 per unit: the difference of two runs has std 0.14; 0.50 > 0.28.
    assert "Std of the difference of two single runs: 0.14 points." in quiet and "0.50 points exceeds twice" in quiet
    loud = depth_comparison.render_section(pair, noise_runs([0.930, 0.940, 0.950], [0.945, 0.946, 0.947]))
    assert "does not exceed twice that (2.01)" in loud


def test_the_training_time_sums_every_epoch_of_each_group():
    timed = [dataclasses.replace(r, history=tuple(dict(h, epoch_time_s=1800.0) for h in r.history))
             for r in (run("original", 0.9, epochs=3), run("original", 0.9, epochs=4, done=False, trained=1))]
    line = depth_comparison.training_time([("pair", timed[:1]), ("noise", timed[1:]), ("none", [])])
    assert line == ("Training wall time so far (sum of epoch times, test passes included): pair 1.5 h, "
                    "noise 0.5 h, none 0.0 h; 2.0 h in all.")


def test_unfinished_runs_read_as_running_and_no_noise_yet():
    pair = [run("full_preactivation", 0.9, epochs=30, done=False, trained=3),
            run("original", 0.9, epochs=30, done=False, trained=3)]
    text = depth_comparison.render_section(pair, [])
    assert "| full_preactivation | 3/30 (in progress) | - | 5.46 |" in text
    assert "ours - points" in text and "not measured yet" in text
    assert "| original | not started | - | 5.93 |" in depth_comparison.render_section(pair[:1], [])


def test_the_curves_plot_both_nets_beside_the_noise_runs(tmp_path):
    path = tmp_path / "curves.png"
    pair = [run("full_preactivation", 0.95), run("original", 0.94, done=False, trained=0)]  # not started
    drawn = depth_comparison.plot_curves(pair, str(path), others=noise_runs([0.93], [0.94]))
    assert drawn == ["full_preactivation (ResNet-164)", "original (ResNet-56, seed 0)",
                     "full_preactivation (ResNet-56, seed 0)"]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    nothing = tmp_path / "none.png"  # no run has an epoch: no empty plot
    assert depth_comparison.plot_curves(pair[1:], str(nothing)) == [] and not nothing.exists()


def test_the_section_is_inserted_replaced_and_kept_by_the_ablation_report(tmp_path):
    report = tmp_path / "REPRODUCTION.md"
    first = reproduction.write_reproduction([], str(report))
    assert reproduction.DEPTH_START not in first
    reproduction.write_depth_section(str(report), "## Depth 164\n\nfirst")
    text = report.read_text()
    assert text.index("## Depth 164") < text.index("## Reading")
    reproduction.write_depth_section(str(report), "## Depth 164\n\nsecond")
    assert "second" in report.read_text() and "first" not in report.read_text()
    regenerated = reproduction.write_reproduction([], str(report))
    assert regenerated.count(reproduction.DEPTH_START) == 1 and "second" in regenerated


@pytest.mark.parametrize("errors,expected", [([5.0], None), ([5.0, 5.2, 5.4], 0.2)])
def test_noise_needs_two_seeds(errors, expected):
    noise = depth_comparison.Noise(depth=56, errors={"original": errors})
    assert noise.std("original") == (None if expected is None else pytest.approx(expected))


def test_stochastic_depth_table_sets_each_rate_beside_the_same_seeds_without_it():
    without = [run("full_preactivation", a, depth=56, seed=s) for s, a in enumerate([0.930, 0.932, 0.940])]
    with_sd = [dataclasses.replace(run("full_preactivation", a, depth=56, seed=s), drop_path_rate=0.1, name=f"sd{s}",
                                   history=({"epoch": 3, "cross_entropy": fit, "test_accuracy": a},))
               for s, (a, fit) in enumerate([(0.936, 0.4), (0.938, 0.5)])]
    text = depth_comparison.render_section([], without, drop_path_runs=with_sd)
    # Seed 2 has no stochastic-depth run: only seeds 0 and 1 of the baseline are compared.
    assert "| 0 | 7.00 | 6.80 | 6.90 | 0.333 |" in text and "| 0.1 | 6.40 | 6.20 | 6.30 | 0.450 |" in text
    assert "seed 2" not in text.split("### Stochastic depth")[1]
    # std 0.1414 each over 2 seeds: standard error sqrt(2 * 0.02 / 2) = 0.14; 0.60 > 0.28.
    assert "rate 0 - rate 0.1): 0.60 points: rate 0.1 lowers the test error by 0.60 points." in text and "It exceeds twice its standard error (0.28)." in text


def test_stochastic_depth_table_shows_unfinished_runs_and_no_verdict():
    without = [run("full_preactivation", 0.93, depth=56, seed=0)]
    with_sd = [dataclasses.replace(run("full_preactivation", 0.9, depth=56, epochs=4, done=False, trained=1),
                                   drop_path_rate=0.1)]
    text = depth_comparison.render_drop_path(without + with_sd)
    assert "| 0.1 | 1/4 epochs | - | - |" in text and "Difference" not in text
