"""Keras' private APIs used by keras_resnetv2, fenced here (tested: tests/test_compat.py).

Tested against Keras 3.13 to 3.15 (setup.py's upper bound: < 3.16).

* `Model._symbolic_build(data_batch=...)` and `Model._maybe_symbolic_build`: `fit`
  builds the compiled metrics and loss from its first batch after
  `strategy.reduce`-ing it, which MultiWorkerMirroredStrategy cannot do
  (keras-team/keras#20585, tensorflow/tensorflow#72388). `build_from_batch` builds
  the same state from a symbolic batch and turns Keras' own build into a no-op
  (it would find nothing left to build). The public `Model.build` builds the layers
  but not the compiled metrics, so it cannot replace it.
"""


def build_from_batch(model, batch):
    """Builds `model`'s compiled loss and metrics from `batch` (x, y) now, and skips
    the build `fit` would do from its first batch."""
    model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
