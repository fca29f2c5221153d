"""KerasTuner search space: hp -> ResNetSpec, conditional hyperparameters, pins."""

import keras_tuner
import pytest

from keras_resnetv2.paper.ablations import ABLATIONS
from keras_resnetv2.tuning import search as tuning_search
from keras_resnetv2.tuning import space as tuning_space
from keras_resnetv2.tuning import hypermodel as tuning_hypermodel
from keras_resnetv2.models.spec import GATING_SHORTCUTS


def declared(space=None, **fixed):
    hp = keras_tuner.HyperParameters()
    for name, value in fixed.items():
        hp.Fixed(name, value)
    spec, recipe = tuning_space.declare(hp, space or tuning_space.resolve_space())
    return hp, spec, recipe


def test_default_space_starts_at_the_papers_choices():
    hp, spec, recipe = declared()
    assert (spec.order, spec.shortcut, spec.block, spec.depth) == ("full_preactivation", "identity", "basic", 20)
    assert recipe == {"learning_rate": 0.1, "weight_decay": 1e-4, "warmup_steps": 400}
    assert {h.name for h in hp.space} >= {"order", "shortcut", "gate_bias", "block", "depth_basic", "depth_bottleneck",
                                          "width_multiplier", "learning_rate", "weight_decay", "warmup_steps"}


@pytest.mark.parametrize("shortcut", ["identity", "exclusive_gating", "shortcut_only_gating", "constant_scaling", "dropout"])
def test_shortcut_options_are_conditional(shortcut):
    hp, spec, _ = declared(shortcut=shortcut)
    assert hp.is_active("gate_bias") == (shortcut in GATING_SHORTCUTS)
    assert hp.is_active("shortcut_scale") == (shortcut == "constant_scaling")
    assert (spec.gate_bias is not None) == (shortcut in GATING_SHORTCUTS)
    assert (spec.shortcut_scale is not None) == (shortcut == "constant_scaling")


@pytest.mark.parametrize("block,depth", [("basic", 14), ("bottleneck", 29)])
def test_depth_is_conditional_on_the_block(block, depth):
    hp, spec, _ = declared(block=block, **{f"depth_{block}": depth})
    other = "bottleneck" if block == "basic" else "basic"
    assert hp.is_active(f"depth_{block}") and not hp.is_active(f"depth_{other}")
    assert spec.block == block and spec.depth == depth


def test_width_multiplier_scales_stem_and_stages():
    _, spec, _ = declared(tuning_space.resolve_space(width_multiplier=0.5))
    assert spec.stem_width == 8 and spec.stage_widths == (8, 16, 32)


def test_pins_and_restrictions():
    space = tuning_space.resolve_space(order="original", shortcut=["identity", "conv1x1"], learning_rate={"low": 0.05, "high": 0.2})
    hp, spec, recipe = declared(space)
    assert hp.space[0].__class__.__name__ == "Fixed" and spec.order == "original"
    assert next(h for h in hp.space if h.name == "shortcut").values == ["identity", "conv1x1"]
    assert 0.05 <= recipe["learning_rate"] <= 0.2


@pytest.mark.parametrize("requested,match", [
    (dict(order="full_preact"), r"`order` values must be within \['original'.*Received: order='full_preact'"),
    (dict(depth_basic=[20, 21]), r"`depth_basic` values must be within .*Received: depth_basic=\[20, 21\]"),
    (dict(learning_rate={"low": 0.3, "high": 0.2}), r"range must satisfy .*low < high.*Received: learning_rate="),
    (dict(order={"low": 1, "high": 2}), r"`order` takes a value or a list of values\..*Received: order="),
    (dict(shortcut=[]), r"at least one value.*Received: shortcut=\[\]"),
    (dict(depth=20), r"`hyperparameter` must be one of .*Received: hyperparameter='depth'"),
])
def test_bad_space_requests(requested, match):
    with pytest.raises(ValueError, match=match):
        tuning_space.resolve_space(**requested)


@pytest.mark.parametrize("ablation", list(ABLATIONS))
def test_an_ablation_at_another_depth_gives_each_row_that_depth(ablation):
    """`--depth` with `--ablation`: every trial's spec has the depth (and the config no
    longer names it beside the spec, which TrainConfig refuses)."""
    from keras_resnetv2.training import TrainConfig

    config = TrainConfig(model="ResNet20V2", depth=8, validation_split=0.1)
    hypermodel = tuning_hypermodel.HyperResNet(config, info=None, steps_per_epoch=10, ablation=ablation)
    for row in ABLATIONS[ablation]:
        hp = keras_tuner.HyperParameters()
        hp.Fixed("row", row)
        trial = hypermodel.trial_config(hp).resolved()
        assert trial.depth is None and trial.architecture().depth == 8


def test_an_ablation_never_stops_on_failed_rows_unless_asked():
    table1 = tuning_search.TuneConfig(tuner="grid", ablation="table1", seeds=3)
    assert table1.max_consecutive_failed_trials == table1.max_trials + 1 == 8 * 3 + 1
    assert tuning_search.TuneConfig(tuner="random").max_consecutive_failed_trials == 3
    assert tuning_search.TuneConfig(tuner="grid", ablation="table2", max_consecutive_failed_trials=2).max_consecutive_failed_trials == 2
    with pytest.raises(ValueError, match=r"max_consecutive_failed_trials.*Received: max_consecutive_failed_trials=0"):
        tuning_search.TuneConfig(max_consecutive_failed_trials=0)
