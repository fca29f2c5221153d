"""The library behind `train.py`: config, recipe, strategy, fit, evaluate, artifacts.

`run(TrainConfig(...))` trains a named architecture on a named dataset with
`model.fit` under a `tf.distribute` strategy and writes into `model_dir`:

    model.weights.h5   final weights (weights only, no optimizer state)
    config.json        architecture spec, training config, schedule, dataset
                       checksums and statistics, library versions, command
    metrics.json       final-epoch test accuracy/loss and the per-epoch history
    curves.png         loss and accuracy per epoch
    log.csv            the per-epoch CSV log
    tensorboard/       TensorBoard logs
    backup/            the last epoch's training state while training runs

One module per concern:

    config.py          `TrainConfig`, validated on construction
    recipes.py         the `paper` and `budget` recipes: defaults, schedule, optimizer,
                       and how weight decay departs from Keras' (coupled, as in Torch)
    distribution.py    strategies by name, the global batch across replicas
    backup.py          per-epoch backups, resumption after a kill, stop on NaN
    artifacts.py       config.json, metrics.json, the CSV log, the curves plot (written atomically)
    runner.py          `build_model`, `compile_model` and `run`

Every epoch uses `steps_per_epoch = floor(train images / batch_size)` full batches.
TensorFlow (tf.distribute, tf.data) is imported inside the functions that need it
(`distribution`, `runner`), as in `keras_resnetv2.data`; the model core imports it
only inside the fused BatchNorm's call, under the TensorFlow backend
(`tests/models/test_backends.py`). The command line over this package is
`keras_resnetv2.train` (`python -m keras_resnetv2.train`, or train.py in a checkout).
"""

from keras_resnetv2.training.backup import TrainingDiverged
from keras_resnetv2.training.config import PRECISIONS, TrainConfig
from keras_resnetv2.training.distribution import DISTRIBUTIONS
from keras_resnetv2.training.recipes import BUDGET_EPOCHS, PAPER_EPOCHS, RECIPE_DEFAULTS, RECIPES
from keras_resnetv2.training.runner import RunResult, build_model, compile_model, export_model, run

__all__ = [
    "BUDGET_EPOCHS",
    "DISTRIBUTIONS",
    "PAPER_EPOCHS",
    "PRECISIONS",
    "RECIPES",
    "RECIPE_DEFAULTS",
    "RunResult",
    "TrainConfig",
    "TrainingDiverged",
    "build_model",
    "compile_model",
    "export_model",
    "run",
]
