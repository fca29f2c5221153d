"""The compute precision of a training run, and what `"auto"` picks on this machine.

`"auto"` (train.py's default) is `mixed_bfloat16` on a host whose CPU has AMX-BF16
(Intel Sapphire Rapids and later: oneDNN runs bfloat16 convolutions on its tile
units) and that TensorFlow sees no GPU on; `float32` everywhere else. What decided it,
measured with the fused BatchNorm on 2 cores (README, "Mixed precision"):

* AMX Xeon: `train_on_batch` (32x32, batch 128) 1.66x float32 for ResNet-20V2 (1,202 vs
  725 img/s), 1.76x ResNet-110V2, 1.30x ResNet-164V2 (`bench/results/throughput_amx.md`);
  ResNet-20V2 on Fashion-MNIST (`--recipe=budget --epochs=5`) reached 92.12% test accuracy
  against 92.25% in float32, a gap within the seed noise measured at depth 56 (0.13-0.26
  point standard deviation).
* AMD EPYC with AVX-512 BF16 but no AMX: bfloat16 slower than float32 (596 vs 709 img/s);
  AVX2 EPYC, which emulates it: ten times slower.
* `mixed_float16` is never picked: on the AMX Xeon it trained at 4.1 img/s (TensorFlow's
  float16 convolution gradients on a CPU; Keras' BatchNorm alike), on the AVX2 EPYC 4x
  slower than float32.
* GPUs keep float32, as before: not measured here.

A resumed run keeps the precision its backup was trained in, whatever `"auto"` picks
on the machine it resumes on (`resolve_precision(..., saved=...)`).
"""

from keras_resnetv2.utils.cpu import cpu_flags

AUTO = "auto"
PRECISIONS = (AUTO, "float32", "mixed_float16", "mixed_bfloat16")
# The CPU feature (Linux's name in /proc/cpuinfo) under which "auto" picks bfloat16.
BFLOAT16_CPU_FLAG = "amx_bf16"


def auto_precision(*, flags=None, gpus=None):
    """The precision `"auto"` picks, and why, as `(precision, reason)`.

    Args:
        flags: the CPU's feature flags (default: this machine's, `cpu_flags()`).
        gpus: how many GPUs TensorFlow sees (default: asks TensorFlow).
    """
    flags = cpu_flags() if flags is None else flags
    gpus = _visible_gpus() if gpus is None else gpus
    if gpus:
        return "float32", f"{gpus} GPU(s) visible: float32, as measured nowhere else"
    if BFLOAT16_CPU_FLAG in flags:
        return "mixed_bfloat16", "the CPU has AMX-BF16"
    return "float32", "the CPU has no AMX-BF16"


def resolve_precision(precision, *, saved=None, flags=None, gpus=None):
    """`precision`, with `"auto"` replaced, as `(precision, reason)`.

    Args:
        precision: one of `PRECISIONS`.
        saved: the precision of the backup a run resumes from, if any: `"auto"` keeps it.
        flags, gpus: as in `auto_precision`.
    """
    if precision != AUTO:
        return precision, "as asked"
    if saved is not None:
        return saved, "the backup's precision"
    return auto_precision(flags=flags, gpus=gpus)


def _visible_gpus():
    import tensorflow as tf  # optional dependency: TensorFlow (the [train] extra)

    return len(tf.config.list_physical_devices("GPU"))
