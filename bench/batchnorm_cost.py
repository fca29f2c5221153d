"""What batch normalization costs a TensorFlow training step, and what a fused kernel saves.

    python bench/batchnorm_cost.py [--models ResNet20V2 ResNet164V2] [--batch_size 128] \
        [--steps 3] [--warmup 2] [--repeats 3] [--matmul_size 4096] [--json PATH]

Keras 3's `BatchNormalization` under TensorFlow trains with `tf.nn.moments` and
`tf.nn.batch_normalization`: a chain of element-wise and reduction ops (and their
gradients), each a pass over the activations, where PyTorch (oneDNN) and Keras 2
(`FusedBatchNormV3`) run one kernel each way. This bench times the same net's
training step (`train_on_batch`, SGD, batch `--batch_size`, jit off, as in
`bench/throughput.py`) four ways, cloned from one built model
(`keras.models.clone_model`, same weights):

* keras: the net as built (Keras' `BatchNormalization`);
* fused: every `BatchNormalization` a `keras_resnetv2.models.batchnorm.BatchNormalization`,
  which trains with `tf.compat.v1.nn.fused_batch_norm` (checked to give the same
  outputs as Keras' layer before timing; train.py's default);
* no_bn: every `BatchNormalization` replaced by an identity: the cost of BN is the
  difference (the net still trains a step; its numbers are not the point);
* no_bn_no_relu: no BN and no ReLU either: convolutions, additions, pooling and the
  classifier, the ceiling of a step that fused nothing into its convolutions.

Each figure is also given as a share of the float32 matmul peak measured in the same
run (training FLOPs = 3x the forward FLOPs, as in `bench/throughput.py`). Rounds
interleave the four; figures are medians of `--repeats` rounds. TensorFlow only.

Beside the fused BatchNorms' time a step (fused minus no BN), the table gives the least
time any BatchNorm kernel could take: the bytes it must move (`BN_PASSES` passes over
every BN input) at the memory bandwidth measured in the same run (a large in-place `assign_add`).
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras_resnetv2  # noqa: E402, F401  (before Keras: it turns on oneDNN, utils/cpu.py)
import keras  # noqa: E402
import numpy as np  # noqa: E402

from throughput import images_per_second, keras_runner, log, machine, matmul_peaks, versions  # noqa: E402
from keras_resnetv2.models.batchnorm import with_fused_batch_norm, with_keras_batch_norm  # noqa: E402
from keras_resnetv2.utils.files import atomic_write_text  # noqa: E402
from keras_resnetv2.models.flops import count_flops  # noqa: E402
from keras_resnetv2.models.variants import get_variant  # noqa: E402

IMPLEMENTATIONS = ("keras", "fused", "no_bn", "no_bn_no_relu")
# Passes over a BatchNorm's input a training step makes at least, with batch statistics
# unknown until the input is read: forward 3 (read for the statistics; read and write to
# normalize), backward 5 (read the gradient and the input for the two reductions; read
# both and write the input's gradient).
BN_PASSES = 8
BANDWIDTH_BYTES = 256 * 2**20  # per operand of the bandwidth's tf.add: far beyond any cache


def memory_bandwidth(nbytes=BANDWIDTH_BYTES, repeats=5):
    """Best GB/s of `v.assign_add(a)` over float32 operands of `nbytes` each (two read, one
    written, in place: a fresh output would time page faults too, 7 GB/s here against 37)."""
    import tensorflow as tf

    a = tf.random.uniform([nbytes // 4])
    v = tf.Variable(tf.zeros_like(a))

    @tf.function
    def add(a):
        v.assign_add(a)
        return tf.constant(0.0)  # a tensor to wait for: the add has run when it is read

    float(add(a))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        float(add(a))
        best = min(best, time.perf_counter() - start)
    return 3 * nbytes / best / 1e9


def batchnorm_input_bytes(model, batch_size, itemsize=4):
    """Bytes of the inputs of `model`'s BatchNormalization layers for one batch."""
    return sum(int(np.prod(layer.input.shape[1:])) * batch_size * itemsize
               for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))


class Skipped(keras.layers.Layer):
    """Stands where a `BatchNormalization` or ReLU layer was and returns its input."""

    def call(self, inputs, training=None, mask=None):
        return inputs


def clone(model, implementation):
    """`model` with its BatchNormalization layers as `implementation`, weights copied."""
    if implementation == "fused":
        return with_fused_batch_norm(model)
    if implementation == "keras":
        return with_keras_batch_norm(model)

    def replace(layer):
        skip_relu = implementation == "no_bn_no_relu" and layer.get_config().get("activation") == "relu"
        if skip_relu and isinstance(layer, keras.layers.Activation):
            return Skipped(name=layer.name)
        if isinstance(layer, keras.layers.BatchNormalization) and implementation != "keras":
            return Skipped(name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=replace)
    for source in model.layers:
        target = copy.get_layer(source.name)
        if target.weights:
            target.set_weights(source.get_weights())
    return copy


def check_same_outputs(reference, fused, x):
    """The fused net's training-mode outputs equal Keras' (same weights, same batch)."""
    expected, got = reference(x, training=True), fused(x, training=True)
    error = float(np.max(np.abs(keras.ops.convert_to_numpy(expected) - keras.ops.convert_to_numpy(got))))
    if error > 1e-4:
        raise RuntimeError(f"fused BN differs from Keras' BN by {error:.2e} in training mode")
    return error


def measure(name, args, bandwidth):
    variant = get_variant(name)
    size = variant.spec().default_input_size
    rng = np.random.default_rng(0)
    shape, classes = (size, size, 3), variant.spec().default_classes
    x = keras.ops.convert_to_tensor(rng.uniform(-1, 1, (args.batch_size, *shape)).astype("float32"))
    y = keras.ops.convert_to_tensor(rng.integers(0, classes, args.batch_size).astype("int32"))
    keras.utils.set_random_seed(0)
    base = keras_resnetv2.build(name, weights=None, input_shape=shape, classes=classes)
    bn_layers = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in base.layers)
    models = {impl: clone(base, impl) for impl in IMPLEMENTATIONS}
    relu_layers = sum(isinstance(layer, Skipped) for layer in models["no_bn_no_relu"].layers) - bn_layers
    error = check_same_outputs(models["keras"], models["fused"], x[:8])
    runners = {}
    for impl, model in models.items():
        runners[impl] = keras_runner(impl, lambda m=model: m, jit="off", x=x, y=y)[1]
        runners[impl].steps["train"]()  # trace
        for _ in range(args.warmup):
            runners[impl].steps["train"]()
    for round_ in range(args.repeats):
        for impl, runner in runners.items():
            runner.timed("train", args.steps)
            log(f"{name} round {round_ + 1}/{args.repeats} {impl}: "
                f"{images_per_second(args.batch_size, args.steps, runner.record['seconds']['train'][-1:])[0]:.1f} img/s")
    speeds = {impl: statistics.median(images_per_second(args.batch_size, args.steps, r.record["seconds"]["train"]))
              for impl, r in runners.items()}
    train_flops = 3 * count_flops(base)
    bn_bytes = batchnorm_input_bytes(base, args.batch_size)
    return {"model": name, "batch_size": args.batch_size, "bn_layers": bn_layers, "relu_layers": relu_layers,
            "max_abs_difference": error,
            "train_img_per_s": speeds, "train_gflops_per_image": train_flops / 1e9,
            "bn_share_of_step": 1.0 - speeds["keras"] / speeds["no_bn"],
            "fused_bn_share_of_step": 1.0 - speeds["fused"] / speeds["no_bn"],
            "relu_share_of_step_without_bn": 1.0 - speeds["no_bn"] / speeds["no_bn_no_relu"],
            "fused_speedup": speeds["fused"] / speeds["keras"],
            "bn_input_bytes": bn_bytes, "bn_floor_s": BN_PASSES * bn_bytes / (bandwidth * 1e9),
            "fused_bn_s": args.batch_size / speeds["fused"] - args.batch_size / speeds["no_bn"]}


def report(rows, peak, bandwidth):
    """The table: img/s of each implementation with its share of the matmul `peak` (GFLOP/s),
    and the fused BatchNorms' time against the floor at `bandwidth` (GB/s)."""
    lines = [f"Training img/s (share of the {peak:.1f} GFLOP/s float32 matmul peak measured in this run). "
             f"BN floor: {BN_PASSES} passes over the BN inputs at the {bandwidth:.1f} GB/s of memory measured "
             "in this run.", "",
             "| model (batch) | BN layers | Keras BN | fused BN | no BN | no BN, no ReLU | BN share of the step: "
             "Keras / fused | fused / Keras | BN inputs, GB | fused BN s/step | BN floor s/step |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r['train_img_per_s'][impl]:.1f} ({100 * r['train_img_per_s'][impl] * r['train_gflops_per_image'] / peak:.0f}%)"
                 for impl in IMPLEMENTATIONS]
        lines.append(f"| {r['model']} ({r['batch_size']}) | {r['bn_layers']} | {' | '.join(cells)} | "
                     f"{100 * r['bn_share_of_step']:.0f}% / {100 * r['fused_bn_share_of_step']:.0f}% | "
                     f"{r['fused_speedup']:.2f}x | {r['bn_input_bytes'] / 1e9:.3f} | {r['fused_bn_s']:.3f} | "
                     f"{r['bn_floor_s']:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["ResNet20V2", "ResNet164V2"])
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--matmul_size", type=int, default=4096, help="n of the n x n matmul that measures the peak.")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    for flag, low in (("batch_size", 1), ("steps", 1), ("warmup", 0), ("repeats", 1), ("matmul_size", 1)):
        if getattr(args, flag) < low:
            parser.error(f"--{flag} must be at least {low}; received {getattr(args, flag)}")
    if keras.backend.backend() != "tensorflow":
        raise SystemExit(f"This bench is about TensorFlow's kernels; Keras' backend is {keras.backend.backend()!r}.")
    start = machine()
    peak = matmul_peaks("cpu", args.matmul_size, 3, with_torch=False)["tensorflow"]
    bandwidth = memory_bandwidth()
    rows = [measure(name, args, bandwidth) for name in args.models]
    table = report(rows, peak["best"], bandwidth)
    print(table)
    if args.json:
        atomic_write_text(args.json, json.dumps(
            {"machine": start, "versions": versions(), "settings": vars(args), "matmul_peak": peak,
             "memory_gb_per_s": bandwidth, "rows": rows}, indent=1))
        atomic_write_text(os.path.splitext(args.json)[0] + ".md", table + "\n")


if __name__ == "__main__":
    sys.exit(main())
