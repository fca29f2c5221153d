"""Keras' private APIs used by keras_resnetv2, fenced here (tested: tests/test_compat.py).

Tested against Keras 3.13 to 3.15 (setup.py's upper bound: < 3.16).

* `Model._symbolic_build(data_batch=...)` and `Model._maybe_symbolic_build`: `fit`
  builds the compiled metrics and loss from its first batch after
  `strategy.reduce`-ing it, which MultiWorkerMirroredStrategy cannot do
  (keras-team/keras#20585, tensorflow/tensorflow#72388). `build_from_batch` builds
  the same state from a symbolic batch and turns Keras' own build into a no-op
  (it would find nothing left to build). The public `Model.build` builds the layers
  but not the compiled metrics, so it cannot replace it.
* `keras.src.api_export.REGISTERED_OBJS_TO_NAMES`: the class -> public name table
  that `serialize_keras_object` consults first. `serialize_as` adds a subclass under
  its Keras parent's public name, so that a saved model records the parent
  (`keras.layers.BatchNormalization`) and loads with plain Keras, without the
  subclass, `custom_objects` or `safe_mode=False`. Only that direction is added:
  Keras still deserializes the name to its own class. No public API makes a
  subclass serialize as its parent (`register_keras_serializable` records the
  subclass's own name, which plain Keras cannot load).
"""

from keras.src import api_export


def build_from_batch(model, batch):
    """Builds `model`'s compiled loss and metrics from `batch` (x, y) now, and skips
    the build `fit` would do from its first batch."""
    model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def serialize_as(public_name):
    """A class decorator: Keras serializes the decorated subclass's instances as the
    public class `public_name` (e.g. `"keras.layers.BatchNormalization"`)."""

    def decorate(cls):
        parent = api_export.get_symbol_from_name(public_name)
        if parent is None or not issubclass(cls, parent):
            raise TypeError(f"{cls.__name__} must subclass {public_name} to be saved as it; got {parent}.")
        api_export.REGISTERED_OBJS_TO_NAMES[cls] = public_name
        return cls

    return decorate
