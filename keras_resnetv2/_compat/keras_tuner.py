"""KerasTuner's private APIs used by keras_resnetv2, fenced here: searches that resume.

Tested against KerasTuner 1.4.7 and 1.4.8 (setup.py's upper bound: < 1.5). Each
symbol is pinned down by tests/test_compat.py (present, with the expected shape) and
its behaviour by tests/tuning/test_tuning_resume.py.

KerasTuner 1.4 reloads a search from its folder (`overwrite=False`), with three gaps
that this module closes:

* its oracle and trial JSON files are written in place, so a process killed
  mid-write leaves an empty file and the search can no longer be reloaded:
  `atomic_state_writes` sends local writes through write-then-rename;
* `Oracle.end_trial` saves the oracle before it drops the ended trial from its
  ongoing trials, and nothing saves it again when the search ends, so a reloaded
  search runs its last completed trial again (a rerun of a finished search trains
  once more and overwrites that trial's score): `forget_ended_trials` drops ended
  trials from the retry queue after a reload;
* `GridSearchOracle` keeps its place in the grid in two fields that its state
  leaves out (keras-team/keras-tuner#1055), so a reloaded grid either stops at once
  with rows left, or redoes its interrupted trial and fails with
  `KeyError: '<trial id>'`: `ResumableGridSearchOracle` rebuilds them from the
  reloaded trials, and `GridSearch` is `keras_tuner.GridSearch` on it.

The private symbols, none with a public replacement:

* `keras_tuner.src.utils.save_json`: the one writer of the oracle's and trials'
  JSON state; no public hook makes it atomic (`atomic_state_writes`).
* `Oracle._retry_queue`: the ids a reloaded oracle will run again; no public API
  removes an ended trial from it (`forget_ended_trials`).
* `GridSearchOracle._ordered_ids`, `._populate_next`, `._compare` and
  `keras_tuner.src.tuners.gridsearch.LinkedList`: the grid's position, left out of
  the saved state (keras-team/keras-tuner#1055; `ResumableGridSearchOracle`).

Nothing is added to the saved state, so folders written by stock KerasTuner resume too.
"""

import contextlib
import functools
import json

import keras_tuner
from keras_tuner.src import utils as tuner_utils
from keras_tuner.src.tuners import gridsearch

from keras_resnetv2.utils.files import atomic_write_text


@contextlib.contextmanager
def atomic_state_writes():
    """Makes KerasTuner's state writes atomic for the duration of the block.

    Local files go through write-then-rename (private `keras_tuner.src.utils.save_json`);
    remote paths keep KerasTuner's own writer.
    """
    original = tuner_utils.save_json

    def save_json(path, obj):
        if "://" in str(path):
            return original(path, obj)
        text = json.dumps(obj)
        atomic_write_text(path, text)
        return text

    tuner_utils.save_json = save_json
    try:
        yield
    finally:
        tuner_utils.save_json = original


def forget_ended_trials(oracle):
    """Keeps `oracle` (just reloaded) from running again a trial that ended.

    A reload queues every trial the saved state calls ongoing for a retry; those
    already in `end_order` (completed, or failed for good) are dropped. A worker's
    `OracleClient` is left alone: the chief's oracle is the one that reloads.
    """
    if isinstance(oracle, keras_tuner.Oracle):
        ended = set(oracle.end_order)
        oracle._retry_queue = [trial_id for trial_id in oracle._retry_queue if trial_id not in ended]


class ResumableGridSearchOracle(keras_tuner.oracles.GridSearchOracle):
    """`keras_tuner.oracles.GridSearchOracle` that finds its place in the grid on reload."""

    def set_state(self, state):
        super().set_state(state)
        # Oracle.reload loads the trials before the state, so `self.trials` is complete.
        in_grid_order = sorted(
            (self.trials[trial_id] for trial_id in self.start_order),
            key=functools.cmp_to_key(lambda a, b: self._compare(a.hyperparameters.values, b.hyperparameters.values)),
        )
        self._ordered_ids = gridsearch.LinkedList()
        for trial in in_grid_order:
            self._ordered_ids.insert(trial.trial_id)
        # Each ended trial proposes its successor; one already tried is skipped.
        ended = set(self.end_order)
        self._populate_next = [trial.trial_id for trial in in_grid_order if trial.trial_id in ended]


class GridSearch(keras_tuner.Tuner):
    """`keras_tuner.GridSearch` (same arguments) on a `ResumableGridSearchOracle`."""

    def __init__(self, hypermodel=None, *, objective=None, max_trials=None, seed=None, hyperparameters=None,
                 tune_new_entries=True, allow_new_entries=True, max_retries_per_trial=0,
                 max_consecutive_failed_trials=3, **kwargs):
        self.seed = seed
        oracle = ResumableGridSearchOracle(
            objective=objective, max_trials=max_trials, seed=seed, hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries, allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial, max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        super().__init__(oracle, hypermodel, **kwargs)
