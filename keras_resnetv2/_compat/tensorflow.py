"""TensorFlow's private APIs used by keras_resnetv2, fenced here (tested: tests/test_compat.py).

Tested against TensorFlow 2.20 and 2.21 (setup.py's upper bound).

* `tensorflow.python.framework.ops._gradient_registry._registry`: the global
  registry of `tf.custom_gradient` functions. TensorFlow 2.21 leaks one entry per
  trace of a train step under a `tf.distribute` replica context (from
  `ReplicaContext.all_reduce`), each keeping that trace's whole graph alive: about
  9 MiB per KerasTuner trial of a tiny net. No public API removes a registered
  gradient; `release_custom_gradients` drops the entries a search added.
* `tensorflow.tsl.profiler.protobuf.xplane_pb2`: the schema of the files
  `tf.profiler.experimental` writes (`*.xplane.pb`). TensorFlow has no public reader
  for them; `executed_ops` reads the ops a profile's executor threads ran (their
  names and types after the graph optimizer's rewrites, and durations), for
  `bench/inference_profile.py` and the tests.
* `tensorflow.python.util._pywrap_util_port.IsMklEnabled`: whether this process
  runs TensorFlow's CPU ops through oneDNN (`TF_ENABLE_ONEDNN_OPTS`, or the
  default for the CPU, read when TensorFlow was imported). No public API says it;
  `onednn_enabled` reads it for `keras_resnetv2.models.batchnorm`, whose
  inference form depends on what the oneDNN graph rewrites fuse. Gone, it reads
  as False: that choice is about speed, and the other form computes the same.
"""

import functools

import keras


def _gradient_registry():
    from tensorflow.python.framework import ops  # optional dependency: TensorFlow (the [tf] extra)

    return ops._gradient_registry._registry


def custom_gradients():
    """Names in TensorFlow's global registry of `tf.custom_gradient` functions (empty
    under another backend)."""
    if keras.backend.backend() != "tensorflow":
        return set()
    return {name for name in _gradient_registry() if name.startswith("CustomGradient-")}


def release_custom_gradients(*, keep):
    """Drops the custom gradients registered since `keep = custom_gradients()` was read.

    Only for gradients whose functions are traced already (KerasTuner's earlier
    trials, their session cleared): a later trace registers its own.
    """
    if keras.backend.backend() != "tensorflow":
        return
    registry = _gradient_registry()
    for name in custom_gradients() - keep:
        registry.pop(name, None)


def executed_ops(path):
    """`(name, type, duration in ps)` of each op run on TensorFlow's executor threads,
    from the profiler file `path` (`*.xplane.pb`), in the order of each thread's events."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2  # optional dependency: TensorFlow (the [tf] extra)

    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    ops = []
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):  # the executor's threads: one event per op run
                continue
            for event in line.events:
                label = plane.event_metadata[event.metadata_id].name  # "name:Type"; "A::B" marks no op
                if ":" in label and "::" not in label:
                    name, _, op_type = label.rpartition(":")
                    ops.append((name, op_type, event.duration_ps))
    return ops


@functools.cache
def onednn_enabled():
    """Whether TensorFlow runs its CPU ops through oneDNN in this process (False if it cannot say)."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # optional dependency: TensorFlow (the [tf] extra)

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return False
