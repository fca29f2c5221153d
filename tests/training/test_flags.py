"""Training flags: explicit ones pin a search, default warm-ups fit short runs, logs, chief address."""

import os
import sys

import pytest

from keras_resnetv2.training import TrainConfig
from keras_resnetv2.training.config import fit_verbosity
from keras_resnetv2.training.recipes import fit_default_warmup, learning_rate_schedule
from keras_resnetv2.tuning import search as tuning_search
from keras_resnetv2.tuning.space import pin_given

TINY_SPACE = {"block": "basic", "depth_basic": 8, "width_multiplier": 0.25}


def tiny_config(tmp_path, **overrides):
    fields = dict(model="ResNet20V2", train_subset=192, validation_split=0.05, epochs=1, batch_size=32, verbose=0,
                  model_dir=str(tmp_path / "unused"))
    return TrainConfig(**{**fields, **overrides})


# --- warm-up ----------------------------------------------------------------------------


@pytest.mark.parametrize("recipe,total,expected", [
    ("budget", 4, 1),         # --train_subset=512 --epochs=1: 4 steps
    ("budget", 1872, 400),    # make train: 4 epochs of 468 steps, unchanged
    ("paper", 1000, 250),
    ("paper", 1, 0),
])
def test_a_default_warmup_lasts_at_most_a_quarter_of_the_run(recipe, total, expected, capsys):
    config = TrainConfig(recipe=recipe).resolved()
    fitted = fit_default_warmup(config, total)
    assert fitted.warmup_steps == expected
    note = capsys.readouterr().out
    assert ("does not fit" in note) == (expected != 400)
    learning_rate_schedule(fitted, total)  # fits


def test_an_explicit_warmup_that_does_not_fit_is_an_error():
    config = TrainConfig(warmup_steps=4, epochs=1).resolved()
    with pytest.raises(ValueError, match=r"`warmup_steps` must be less than the run's 4 training steps.*"
                                         r"Received: warmup_steps=4$"):
        learning_rate_schedule(config, 4)


# --- logs -------------------------------------------------------------------------------


@pytest.mark.parametrize("tty,expected", [(True, 1), (False, 2)])
def test_auto_verbosity_is_one_line_per_epoch_unless_on_a_terminal(tty, expected, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    assert fit_verbosity("auto") == expected
    assert fit_verbosity(0) == 0 and fit_verbosity(1) == 1


# --- explicit flags in a search ---------------------------------------------------------


def test_given_values_pin_the_space_and_a_disagreeing_space_is_refused():
    assert pin_given({"order": ["original"]}, {"warmup_steps": 1, "order": "original"}) == {
        "order": "original", "warmup_steps": 1}
    with pytest.raises(ValueError, match=r"`warmup_steps` is given twice, as 1 \(--warmup_steps\) and as \[0, 400\] "
                                         r"in the search space \(--tune_space\).*Received: warmup_steps=1$"):
        pin_given({"warmup_steps": [0, 400]}, {"warmup_steps": 1})


@pytest.mark.parametrize("name,value", [("depth", 8), ("spec_options", {"stem_width": 4})])
def test_a_search_refuses_architecture_options_its_space_decides(name, value, tmp_path):
    tune = tuning_search.TuneConfig(tune_dir=str(tmp_path / "tune"), max_trials=1, space=TINY_SPACE)
    with pytest.raises(ValueError, match=rf"space decides the architecture, so `{name}` \(--{name}\) does not "
                                         rf"apply.*--tune_space.*Received: {name}="):
        tuning_search.search(tiny_config(tmp_path, **{name: value}), tune)
    assert not os.path.exists(tmp_path / "tune")


def test_an_explicit_warmup_is_the_searchs(fashion_mnist_dir, tmp_path):
    """`--warmup_steps=1 --tune=...`: every trial warms up for 1 step (not the space's 0 or 400)."""
    tune = tuning_search.TuneConfig(tune_dir=str(tmp_path / "tune"), max_trials=1, space=TINY_SPACE)
    rows = tuning_search.search(tiny_config(tmp_path, warmup_steps=1, learning_rate=0.05), tune)
    assert rows[0]["status"] == "COMPLETED"
    assert (rows[0]["warmup_steps"], rows[0]["learning_rate"]) == (1, 0.05)


# --- the KerasTuner chief's address ------------------------------------------------------


@pytest.mark.parametrize("host,warns", [
    ("127.0.0.1", False), ("localhost", False), ("10.1.2.3", False), ("192.168.0.7", False), ("::1", False),
    ("8.8.8.8", True), ("0.0.0.0", True), ("[bad host]", True),
])
def test_a_chief_outside_loopback_and_private_networks_warns(host, warns, recwarn):
    assert tuning_search.warn_if_exposed(host) is warns
    messages = [str(w.message) for w in recwarn]
    assert bool(messages) is warns
    if warns:
        assert "no authentication and no encryption" in messages[0] and host in messages[0]
