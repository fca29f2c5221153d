"""`HyperResNet`: a KerasTuner `HyperModel` over the paper's design space.

It turns a KerasTuner `HyperParameters` object into a `ResNetSpec` (and the
recipe's learning rate, weight decay and warm-up) through `space.declare`, and
builds and compiles it with `training.runner`'s code: it has no layer code of its
own. In ablation mode it searches the rows of `paper.ablations` instead.
"""

import dataclasses
import math
import time

import keras
import keras_tuner

from keras_resnetv2._compat import tensorflow as tensorflow_compat
from keras_resnetv2.paper.ablations import ABLATIONS
from keras_resnetv2.training import runner
from keras_resnetv2.tuning.space import declare, resolve_space
from keras_resnetv2.utils.checks import check_choice


class HyperResNet(keras_tuner.HyperModel):
    """A KerasTuner `HyperModel` over the paper's design space (see the module doc).

    Args:
        config: the `training.TrainConfig` every trial starts from (dataset, recipe,
            epochs, batch size, precision...); `config.model` gives the base
            architecture of an ablation.
        info: the dataset's `DatasetInfo` (input shape, classes).
        steps_per_epoch: training steps per epoch (the schedule's length).
        space: `resolve_space(...)` output; ignored with `ablation`.
        ablation: None, "table1" or "table2".
        seeds: initialization seeds per ablation row.
    """

    def __init__(self, config, info, *, steps_per_epoch, space=None, ablation=None, seeds=1):
        super().__init__(name="hyper_resnet")
        self.config = config.resolved()
        self.info = info
        self.steps_per_epoch = steps_per_epoch
        self.space = space or resolve_space()
        self.ablation = None if ablation is None else check_choice("ablation", ablation, ABLATIONS)
        self.seeds = seeds
        self._gradients_before = tensorflow_compat.custom_gradients()

    def trial_config(self, hp):
        """The `TrainConfig` of the trial `hp` describes (declaring what it uses)."""
        if self.ablation:
            row = hp.Choice("row", list(ABLATIONS[self.ablation]))
            seed = hp.Choice("seed", list(range(self.seeds)))
            base = self.config.architecture().replace(shortcut="identity")
            spec = base.replace(**ABLATIONS[self.ablation][row][0])
            recipe = {}
        else:
            base = self.config.architecture()
            spec, recipe = declare(hp, self.space, family=base.stem, drop_path_rate=base.drop_path_rate)
            seed = self.config.seed
        return dataclasses.replace(
            self.config, spec=spec.to_dict(), depth=None, order=None, shortcut=None, drop_path_rate=None,
            spec_options={}, seed=seed, **recipe
        )

    def build(self, hp):
        # A TF 2.21 leak of ~9 MiB per trial (`_compat.tensorflow`).
        tensorflow_compat.release_custom_gradients(keep=self._gradients_before)
        config = self.trial_config(hp)
        keras.utils.set_random_seed(config.seed)
        model = runner.build_model(config, self.info)
        runner.compile_model(model, config, config.epochs * self.steps_per_epoch)
        return model

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        """`model.fit`; returns the final epoch's metrics, the epochs and seconds.

        Trials are scored on their last epoch, never their best. A NaN loss fails
        the trial (KerasTuner records it as failed and goes on).
        """
        start = time.time()
        history = model.fit(*args, callbacks=[*(callbacks or []), FailOnNaN()], **kwargs)
        final = {name: float(values[-1]) for name, values in history.history.items()}
        final.update(epochs=len(history.epoch), seconds=time.time() - start)
        return final


class FailOnNaN(keras.callbacks.Callback):
    """Fails the KerasTuner trial as soon as the loss is not finite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise keras_tuner.errors.FailedTrialError(
                f"The loss became {float(loss)} at batch {batch}; the trial diverged."
            )
