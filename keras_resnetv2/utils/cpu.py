"""TensorFlow's oneDNN CPU kernels, turned on where TensorFlow leaves them off.

TensorFlow (2.9 and later) runs its x86 CPU ops through oneDNN by default only on
CPUs with AVX-512 VNNI, AVX-512 BF16, AVX-VNNI or AMX; on others (AVX2 machines
such as AMD EPYC before Zen 4) it keeps Eigen's kernels unless the environment
variable `TF_ENABLE_ONEDNN_OPTS=1` is set before TensorFlow is imported. On such a
machine (AVX2 EPYC, 2 cores; 28x28x1, batch 128, fused BatchNorm) oneDNN trains
ResNet-20V2 at 330 img/s instead of 178, and ResNet-164V2 at 36 instead of 21
(`bench/throughput.py`).

`keras_resnetv2` calls `prefer_onednn()` first thing on import, so importing it
before TensorFlow (or Keras) gives every TensorFlow model of the process oneDNN's
kernels, as TensorFlow itself does on newer CPUs. oneDNN computes the same functions
in another order: results differ in float32 round-off. `TF_ENABLE_ONEDNN_OPTS=0`
keeps Eigen's kernels; nothing happens when TensorFlow is imported already.
`cpu_name()` names the processor, for the records of measured speeds; `cpu_flags()`
lists its features (`keras_resnetv2.training.precision` looks for AMX).
"""

import os
import platform
import sys

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn(environ=None, modules=None):
    """Sets `TF_ENABLE_ONEDNN_OPTS=1` unless it is set or TensorFlow is imported.

    Args:
        environ: the environment to change (default `os.environ`).
        modules: the imported modules (default `sys.modules`).

    Returns:
        Whether the variable was set here.
    """
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if ONEDNN_VARIABLE in environ or "tensorflow" in modules:
        return False
    environ[ONEDNN_VARIABLE] = "1"
    return True


def cpu_name(cpuinfo="/proc/cpuinfo"):
    """The processor's model name (Linux's `cpuinfo`), else what `platform` knows."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The processor's feature flags (Linux's `cpuinfo`), a frozenset; empty where unknown."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as file:
            for line in file:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()
