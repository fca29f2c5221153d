"""The zoo's inference speed: the timing arithmetic, its record and the card's line."""

import copy

import pytest

from keras_resnetv2 import zoo
from keras_resnetv2.zoo import cards, speed


class Clock:
    """A `time.perf_counter` that only a fake model's batches advance."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeModel:
    """`predict_on_batch` that takes `seconds_per_batch` of the fake clock."""

    input_shape = (None, 28, 28, 1)

    def __init__(self, clock, seconds_per_batch):
        self.clock, self.seconds_per_batch, self.batches = clock, seconds_per_batch, []

    def predict_on_batch(self, images):
        self.batches.append(images.shape)
        self.clock.now += self.seconds_per_batch


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(speed.time, "perf_counter", fake)
    return fake


def test_images_per_second_is_the_batches_over_the_time_they_took(clock):
    model = FakeModel(clock, 0.02)
    result = speed.measure_inference(model, batch_size=64, rounds=3, warmup=2, min_round_s=0.5)
    # 0.5 s / 0.02 s = 25 batches a round; 64 images / 0.02 s = 3,200 img/s.
    assert len(model.batches) == 2 + 3 * 25 and set(model.batches) == {(64, 28, 28, 1)}
    assert result.images_per_second == pytest.approx(3200) and result.slowest == pytest.approx(3200)
    assert (result.batch_size, result.rounds, result.backend) == (64, 3, "tensorflow")
    assert result.to_dict()["mode"] == "predict_on_batch" and result.to_dict()["images_per_second"] == 3200.0
    assert str(result).startswith("3,200 img/s (rounds 3,200-3,200), predict_on_batch, batch 64,")


def test_a_slow_batch_is_a_round_of_its_own(clock):
    model = FakeModel(clock, 2.0)
    result = speed.measure_inference(model, batch_size=8, rounds=2, warmup=1, min_round_s=0.5)
    assert len(model.batches) == 1 + 2 and result.images_per_second == pytest.approx(4.0)


@pytest.mark.parametrize("argument,value", [("batch_size", 0), ("rounds", 1.5), ("warmup", True)])
def test_bad_settings_are_refused_naming_the_argument(argument, value):
    with pytest.raises(ValueError, match=rf"`{argument}` must be an integer >= 1\. Received: {argument}={value!r}"):
        speed.measure_inference(None, **{argument: value})


def test_the_card_gives_the_recorded_speed_and_the_command_that_measures_yours():
    entry = copy.deepcopy(zoo.entries()["resnet20v2.fashion_mnist"])
    entry["inference"] = {"mode": "predict_on_batch", "images_per_second": 1234.5, "batch_size": 128, "rounds": 5,
                          "cpu": "Some CPU", "cores": 2, "backend": "tensorflow"}
    card = cards.model_card(entry, {"per_class_accuracy": [0.9] * 10})
    assert ("| inference | **1,234 img/s** (`predict_on_batch`, batch 128, median of 5 rounds) on Some CPU, 2 cores, "
            "tensorflow backend; `python -m keras_resnetv2.zoo speed resnet20v2.fashion_mnist` measures yours |") in card
    del entry["inference"]
    assert "| inference | not recorded; `python -m keras_resnetv2.zoo speed" in cards.model_card(
        entry, {"per_class_accuracy": [0.9] * 10})
