"""Every private API of another library that keras_resnetv2 uses, one module per library.

    keras.py         `Model._symbolic_build` (multi-worker training); the class-to-name
                     table `api_export.REGISTERED_OBJS_TO_NAMES` (`serialize_as`: the fused
                     BatchNorm saves as Keras' layer)
    keras_tuner.py   KerasTuner's state writer, retry queue and grid position (resumable searches)
    tensorflow.py    the custom-gradient registry (a per-trial leak); `IsMklEnabled` (whether
                     oneDNN is on); the profiler's XPlane protos (`executed_ops`)

Each symbol is documented where it is used (why, which upstream issue, which
versions), bounded above in setup.py by the versions it is tested against, and
checked by tests/test_compat.py, which fails with a clear message when an upgrade
removes it.
"""
