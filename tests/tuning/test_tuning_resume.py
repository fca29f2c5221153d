"""KerasTuner oracles reloaded in a new process go on where they stopped (`_compat.keras_tuner`).

The grid: every combination once, in grid order; any oracle: no ended trial runs again.
"""

import itertools

import keras_tuner
import pytest

from keras_resnetv2._compat import keras_tuner as tuner_compat

ROWS, SEEDS = ["identity", "constant_scaling", "dropout"], [0, 1]
GRID = [{"row": row, "seed": seed} for row, seed in itertools.product(ROWS, SEEDS)]


def fresh_oracle(directory, oracle_class=tuner_compat.ResumableGridSearchOracle):
    """An oracle on `directory`, reloaded from it when it holds a search, as `tuning.search` does in a new process."""
    hps = keras_tuner.HyperParameters()
    hps.Choice("row", ROWS)
    hps.Choice("seed", SEEDS)
    oracle = oracle_class(objective=keras_tuner.Objective("score", "max"), max_trials=len(GRID), hyperparameters=hps)
    oracle._set_project_dir(str(directory), "search")
    if (directory / "search" / "oracle.json").exists():
        oracle.reload()
        tuner_compat.forget_ended_trials(oracle)
    return oracle


def start(oracle):
    """Creates the next trial; None when the oracle says the search is over."""
    trial = oracle.create_trial("tuner0")
    return None if trial.status == keras_tuner.engine.trial.TrialStatus.STOPPED else trial


def finish(oracle, trial):
    oracle.update_trial(trial.trial_id, {"score": float(GRID.index(trial.hyperparameters.values))})
    trial.status = keras_tuner.engine.trial.TrialStatus.COMPLETED
    oracle.end_trial(trial)
    return dict(trial.hyperparameters.values)


def run_to_end(oracle):
    ran = []
    while (trial := start(oracle)) is not None:
        ran.append(finish(oracle, trial))
    return ran


def test_an_uninterrupted_grid_runs_every_combination_in_order(tmp_path):
    assert run_to_end(fresh_oracle(tmp_path)) == GRID


@pytest.mark.parametrize("completed", [1, 3, 5])
def test_a_reloaded_grid_runs_the_remaining_combinations(tmp_path, completed):
    oracle = fresh_oracle(tmp_path)
    first = [finish(oracle, start(oracle)) for _ in range(completed)]
    assert first == GRID[:completed]
    assert run_to_end(fresh_oracle(tmp_path)) == GRID[completed:]  # a new process, same folder
    assert start(fresh_oracle(tmp_path)) is None  # and a third finds the grid done


def test_a_grid_killed_mid_trial_redoes_that_trial_then_goes_on(tmp_path):
    oracle = fresh_oracle(tmp_path)
    finish(oracle, start(oracle))
    finish(oracle, start(oracle))
    interrupted = start(oracle)  # running when the process dies: never ended
    assert interrupted.hyperparameters.values == GRID[2]

    resumed = fresh_oracle(tmp_path)
    ran = run_to_end(resumed)
    assert ran == GRID[2:]
    assert len(resumed.trials) == len(GRID)  # the interrupted trial was redone, not duplicated
    assert all(t.status == "COMPLETED" for t in resumed.trials.values())



def test_a_finished_search_reloaded_runs_nothing_again(tmp_path):
    """KerasTuner's saved state still calls the last trial ongoing: it must not be retried."""
    oracle_class = keras_tuner.oracles.RandomSearchOracle
    oracle = fresh_oracle(tmp_path, oracle_class)
    assert len(run_to_end(oracle)) == len(GRID)
    reloaded = fresh_oracle(tmp_path, oracle_class)
    assert start(reloaded) is None
    assert len(reloaded.end_order) == len(GRID)
