"""A zoo card lists what the entry's training departs from the paper's CIFAR recipe."""

import copy

from keras_resnetv2 import zoo
from keras_resnetv2.zoo.departures import departures

ENTRY = zoo.entries()["resnet20v2.fashion_mnist"]  # the paper recipe, 50 epochs, Fashion-MNIST


def deep_zoo_entry():
    """The entry as the deep-zoo campaign's recipe records it."""
    entry = copy.deepcopy(ENTRY)
    entry["training"].update(
        recipe="budget", epochs=15, nesterov=True, weight_decay=5e-4, label_smoothing=0.1, drop_path_rate=0.0,
        steps_per_epoch=468, schedule={"type": "linear_warmup_cosine", "peak": 0.1, "warmup_steps": 400,
                                       "total_steps": 7020},
        augmentation={"pad_crop": 4, "flip": True, "random_erasing": 0.5},
    )
    return entry


def test_the_paper_recipe_on_fashion_mnist_departs_in_data_length_and_warm_up_only():
    found = departures(ENTRY)
    assert found[0].startswith("Data: fashion_mnist (28x28x1, 60,000 training images) instead of CIFAR-10")
    # An entry exported before steps_per_epoch was recorded: floor(60,000 / 128) = 468 a epoch.
    assert found[1].startswith("Length: 23,400 iterations (50 epochs of batch 128) instead of 64,000")
    assert found[2].startswith("Warm-up: 0.01 for the first 400 iterations at every depth")
    assert found[3].startswith("Weight decay spares BatchNorm's gamma and beta") and len(found) == 4


def test_the_deep_zoo_recipe_names_each_of_its_choices():
    found = departures(deep_zoo_entry())
    assert [d.split(":")[0].split(" ")[0] for d in found] == [
        "Data", "Length", "Schedule", "Optimizer", "Weight", "Augmentation", "Loss", "Weight"]
    assert "Length: 7,020 iterations (15 epochs of batch 128)" in found[1]
    assert "Weight decay 0.0005 instead of 1e-4" in found[4] and "probability 0.5" in found[5]
    assert "label smoothing 0.1" in found[6] and not any("Stochastic depth" in d for d in found)
    assert found[2].startswith("Schedule: a linear warm-up to 0.1 over 400 iterations, then cosine decay to 0")
    short = deep_zoo_entry()  # a tiny run: one epoch, too short for the warm-up
    short["training"].update(epochs=1, steps_per_epoch=2, schedule=dict(short["training"]["schedule"], warmup_steps=0))
    found = departures(short)
    assert "Length: 2 iterations (1 epoch of batch 128)" in found[1]
    assert found[2].startswith("Schedule: cosine decay from 0.1 to 0, instead of steps")
    with_sd = deep_zoo_entry()
    with_sd["training"]["drop_path_rate"] = 0.1
    assert "Stochastic depth, drop-path rate 0.1 (Huang et al. 2016)." in departures(with_sd)


def test_the_paper_recipe_itself_has_only_the_unavoidable_departure():
    entry = copy.deepcopy(ENTRY)
    entry["dataset"].update(name="cifar10", train_examples=50000)
    entry["input_shape"] = [32, 32, 3]
    entry["training"].update(epochs=164, steps_per_epoch=390, warmup_steps=0)
    found = departures(entry)  # 164 epochs of 390 steps: 63,960 iterations, the paper's 64k within 1%
    assert len(found) == 1 and found[0].startswith("Weight decay spares BatchNorm's")
    entry["training"]["epochs"] = 160
    assert departures(entry)[0].startswith("Length: 62,400 iterations")
