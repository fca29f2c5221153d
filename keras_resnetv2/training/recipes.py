"""Training recipes: hyperparameter defaults, learning-rate schedule and optimizer.

Recipes (`RECIPES`), with departures from arXiv:1603.05027's CIFAR recipe:

* `paper`: SGD, momentum 0.9, weight decay 1e-4, batch 128, learning rate 0.1 with a
  0.01 warm-up for the first 400 iterations, divided by 10 at 50% and 75% of
  training; 164 epochs by default (64k iterations of batch 128 on 50k images). The
  paper's schedule is in iterations (32k, 48k of 64k); here it is the same
  fractions of `epochs * steps_per_epoch`, so it scales to other datasets.
* `budget`: for short runs: SGD with Nesterov momentum 0.9, weight decay 1e-4 (5e-4
  is common on CIFAR but over-regularizes a few epochs), batch 128, learning rate 0.1
  reached by a linear warm-up over 400 iterations, then cosine decay to 0 over a
  fixed number of epochs (`BUDGET_EPOCHS` = 4: ResNet-20V2 reaches 91.8% Fashion-MNIST
  test accuracy in about 11.5 minutes on 2 CPU cores, `make train`).

Both scale the learning rate (and the warm-up rate) linearly with the global batch:
`lr = learning_rate * batch_size / 128` (Goyal et al. 2017).

A recipe's default warm-up shrinks to fit a short run: it lasts at most a quarter of
the run's steps (`fit_default_warmup`, with a printed note), so that it ends before the
paper schedule's first decay at half the run; every full-length run keeps its 400
iterations (the budget recipe's 4 Fashion-MNIST epochs have 1,872 steps). A warm-up
given explicitly is kept, and one that does not fit is an error.

Weight decay is an L2 penalty `weight_decay / 2 * ||w||^2` on every Conv2D and Dense
kernel, added to the loss (`build_model`). Its gradient `weight_decay * w` then goes
through the momentum, exactly Torch's coupled `optim.sgd` weight decay that the paper
used. Keras' `SGD(weight_decay=...)` is decoupled (`w -= lr * wd * w` outside the
momentum), which with momentum 0.9 decays about 10x less. Departure: Torch decays
every parameter; BN's gamma/beta and biases are not decayed here (usual Keras/TF
practice). The reported `loss` includes the penalty; `cross_entropy` does not.
"""

import dataclasses

import keras

from keras_resnetv2.utils.checks import fail

RECIPES = ("paper", "budget")
# The batch size the recipes' learning rates are given for.
REFERENCE_BATCH = 128
PAPER_EPOCHS = 164
BUDGET_EPOCHS = 4
RECIPE_DEFAULTS = {
    "paper": dict(
        epochs=PAPER_EPOCHS, batch_size=128, learning_rate=0.1, weight_decay=1e-4,
        momentum=0.9, nesterov=False, warmup_steps=400,
    ),
    "budget": dict(
        epochs=BUDGET_EPOCHS, batch_size=128, learning_rate=0.1, weight_decay=1e-4,
        momentum=0.9, nesterov=True, warmup_steps=400,
    ),
}


def fit_default_warmup(config, total_steps):
    """`config` (resolved) with the recipe's default warm-up cut to a quarter of
    `total_steps` when it is longer, saying so; call it only for a default warm-up."""
    fitted = min(config.warmup_steps, total_steps // 4)
    if fitted == config.warmup_steps:
        return config
    print(
        f"note: the {config.recipe} recipe's {config.warmup_steps}-step warm-up does not fit this run's "
        f"{total_steps} training steps; warming up for {fitted} (at most a quarter of the run). "
        "--warmup_steps sets it.",
        flush=True,
    )
    return dataclasses.replace(config, warmup_steps=fitted)


def learning_rate_schedule(config, total_steps):
    """The recipe's `LearningRateSchedule` over `total_steps` iterations, and its description."""
    peak = config.learning_rate * config.batch_size / REFERENCE_BATCH
    warmup = config.warmup_steps
    if warmup >= total_steps:
        fail(
            "warmup_steps",
            f"`warmup_steps` must be less than the run's {total_steps} training steps "
            f"({config.epochs} epochs).",
            warmup,
        )
    if config.recipe == "paper":
        points = [(warmup, peak / 10)] if warmup else []
        points += [(round(0.5 * total_steps), peak), (round(0.75 * total_steps), peak / 10)]
        boundaries, values = [], []
        for boundary, value in points:
            if boundary > (boundaries[-1] if boundaries else 0):
                boundaries.append(boundary)
                values.append(value)
        values.append(peak / 100)
        if not boundaries:  # a single step: the whole run at the first rate
            return keras.optimizers.schedules.PiecewiseConstantDecay([total_steps], [peak, peak]), {
                "type": "piecewise_constant", "boundaries": [total_steps], "values": [peak, peak]}
        description = {"type": "piecewise_constant", "boundaries": boundaries, "values": values}
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values), description
    description = {"type": "linear_warmup_cosine", "peak": peak, "warmup_steps": warmup, "total_steps": total_steps}
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else peak,
        decay_steps=total_steps - warmup,
        alpha=0.0,
        warmup_target=peak if warmup else None,
        warmup_steps=warmup,
    )
    return schedule, description


def make_optimizer(config, total_steps):
    """The recipe's SGD optimizer over `total_steps` iterations, and its schedule's description."""
    schedule, description = learning_rate_schedule(config, total_steps)
    optimizer = keras.optimizers.SGD(
        learning_rate=schedule, momentum=config.momentum, nesterov=config.nesterov
    )
    return optimizer, description

