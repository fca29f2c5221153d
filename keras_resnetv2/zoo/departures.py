"""What a zoo entry's training departs from the paper's CIFAR recipe, and why.

The paper's recipe (arXiv:1603.05027 appendix, He et al. 2015 Sec. 4.2): CIFAR-10
(32x32x3, 50k training images), SGD with momentum 0.9, batch 128, weight decay 1e-4,
learning rate 0.1 (0.01 for the first 400 iterations) divided by 10 at 32k and 48k
iterations, stopped at 64k; 4-pixel pad, random crop and horizontal flip. `departures`
reads an entry's recorded training (the manifest's `training`, `dataset` and
`input_shape`) and lists, for its card, every difference with its reason. Fields that
entries exported before they were recorded lack read as the paper's (no label
smoothing, no stochastic depth).
"""

from keras_resnetv2.catalog import DATASETS
from keras_resnetv2.training.recipes import RECIPE_DEFAULTS

_PAPER = RECIPE_DEFAULTS["paper"]  # train.py's --recipe=paper: the paper's hyperparameters
_CIFAR10 = DATASETS["cifar10"]
PAPER_TRAIN_EXAMPLES = 50000  # CIFAR-10's training set
PAPER_ITERATIONS = 64000  # the paper stops at 64k iterations (about 164 epochs of batch 128)
_CHOSEN = "chosen from pilot runs (README, \"The deep-zoo campaign\")"


def departures(entry):
    """Markdown bullet texts (without the bullet), one per departure from the paper's recipe."""
    training, data = entry["training"], entry["dataset"]
    found = []
    if data["name"] != _CIFAR10.name:
        found.append(f"Data: {data['name']} ({_shape(entry['input_shape'])}, {data['train_examples']:,} training "
                     f"images) instead of CIFAR-10 ({_shape(_CIFAR10.input_shape)}, {PAPER_TRAIN_EXAMPLES:,}): the "
                     "largest real image dataset available offline here.")
    start = training.get("init_weights")
    epochs = training["epochs"] + (start or {}).get("epochs", 0)
    iterations = epochs * training.get("steps_per_epoch", data["train_examples"] // training["batch_size"])
    if abs(iterations / PAPER_ITERATIONS - 1) > 0.01:  # 64k is 164.1 CIFAR epochs: whole epochs are near it
        found.append(f"Length: {iterations:,} iterations ({_count(epochs, 'epoch')} of batch "
                     f"{training['batch_size']}) instead of {PAPER_ITERATIONS:,}: the CPU time this training had.")
    if start:
        first = f"a {start['epochs']}-epoch run" if start.get("epochs") else "another run"
        peaks = [run.get("peak") for run in (start.get("schedule") or {}, training["schedule"])]
        peak = f" (peak {peaks[1]:g}; the first run's {peaks[0]:g})" if None not in peaks else ""
        found.append(f"Two runs: the final weights of {first} (its command under Reproduce), then "
                     f"{_count(training['epochs'], 'epoch')} of a second schedule from them{peak} (a warm restart, "
                     "Loshchilov & Hutter 2017), instead of one schedule: the second run continues the first "
                     "where a longer single run would start over (README, \"The deep-zoo campaign\").")
    schedule = training["schedule"]
    if schedule["type"] == "linear_warmup_cosine":
        warmup = (f"a linear warm-up to {schedule['peak']:g} over {_count(schedule['warmup_steps'], 'iteration')}, "
                  "then cosine decay" if schedule["warmup_steps"] else f"cosine decay from {schedule['peak']:g}")
        found.append(f"Schedule: {warmup} to 0, instead of steps (/10 at 50% and 75% of the run): a short run "
                     "then ends at a small learning rate, where a step schedule cut short would not.")
    elif training.get("warmup_steps"):
        found.append(f"Warm-up: 0.01 for the first {training['warmup_steps']} iterations at every depth (the paper "
                     "warms up the nets that need it: ResNet-110 with original units, ResNet-1001).")
    if training.get("nesterov"):
        found.append("Optimizer: Nesterov momentum (the paper's Torch code uses it; the paper's text says SGD).")
    if training["weight_decay"] != _PAPER["weight_decay"]:
        found.append(f"Weight decay {training['weight_decay']:g} instead of {_PAPER['weight_decay']:.0e}: {_CHOSEN}."
                     .replace("e-0", "e-"))  # 1e-04 -> 1e-4
    if not training.get("augment", True):
        found.append("Augmentation: none (the paper pads, crops and flips).")
    erasing = training["augmentation"].get("random_erasing", 0.0)
    if erasing:
        found.append(f"Augmentation: Random Erasing (Zhong et al. 2020, probability {erasing:g}) after the "
                     f"paper's pad-and-crop and flip: {_CHOSEN}.")
    if training.get("label_smoothing"):
        found.append(f"Loss: label smoothing {training['label_smoothing']:g} (Szegedy et al. 2016): {_CHOSEN}.")
    if training.get("drop_path_rate"):
        found.append(f"Stochastic depth, drop-path rate {training['drop_path_rate']:g} (Huang et al. 2016).")
    found.append("Weight decay spares BatchNorm's gamma and beta (Torch decays every parameter): usual Keras "
                 "practice (`keras_resnetv2/training/recipes.py`).")
    return found


def _count(n, noun):
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _shape(shape):
    return "x".join(str(n) for n in shape)
