"""Where an inference step's time goes, op by op: ours (TensorFlow) against PyTorch.

    python bench/inference_profile.py [--models ResNet20V2 ResNet164V2] [--batch_size 128] \
        [--steps 4] [--rounds 10] [--json PATH]

`bench/onednn_breakdown.py` times oneDNN's primitives from its verbose log, which
slows every framework unevenly and leaves out what oneDNN does not run. This bench
uses each framework's own profiler instead: TensorFlow's (`tf.profiler`, the ops
of the compiled `predict_on_batch` graph after the graph optimizer's rewrites, read
from its XPlane file) and `torch.profiler` (self CPU time per aten op). Contenders,
per model, all in this process:

* `ours`: a builder's model as a user gets it (with oneDNN, each BatchNorm after an
  addition is a 1x1 depthwise convolution and a bias, fused with its ReLU);
* `ours_keras_formula`: the same net and weights, whose BatchNorm layers compute Keras'
  formula in element-wise ops after additions (the builders' previous choice);
* `ours_fused_everywhere`: the same, with TF's fused kernel at inference after
  additions too (the builders' choice before that);
* `torch`: the reference net of `bench/torch_resnet.py`, eval mode under
  `torch.inference_mode`.

Each trains 3 steps first (SGD, so that the moving statistics are those of a
trained step, as in `bench/throughput.py`) and warms up 2 inference steps. Then
`--rounds` rounds time `--steps` steps of each contender in turn, in reverse order
every other round; img/s is the median over rounds, and a ratio the median of the
per-round ratios (one process, interleaved: on this VM separate processes of the
same net differ by more than 10%). "CPUs busy" is the process's CPU time over the
timed steps' wall time times the CPU count: the share of the step the cores work. Last, one profiled run of `--steps` steps per
contender gives the ms per step of each op type.

Also the layer alone (`--layer_shapes`): BatchNorm + ReLU at inference on one
batch of each shape, as TF's fused kernel (`FusedBatchNormV3`, rewritten to oneDNN),
as Keras' formula (`x * inv + (beta - mean * inv)`, then ReLU) and as that formula in
a 1x1 depthwise convolution and a bias (then ReLU: one fused oneDNN op), each 20
times in one traced function, the three interleaved. Without oneDNN
(`TF_ENABLE_ONEDNN_OPTS=0 python bench/inference_profile.py --models`), the same
table for TensorFlow's own kernels, where the builders keep the element-wise formula.
"""

import argparse
import collections
import glob
import json
import os
import resource
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cpu_load import BUSY_SHARE, OtherLoad  # noqa: E402

CONTENDERS = ("ours", "ours_keras_formula", "ours_fused_everywhere", "torch")
REFERENCES = ("torch", "ours_keras_formula", "ours_fused_everywhere")  # the ratio columns
LAYER_FORMS = ("fused_kernel", "keras_formula", "depthwise")  # the BatchNorm after an addition, in `form_class`
MODELS = ("ResNet20V2", "ResNet164V2")
LAYER_SHAPES = ("128x32x32x16", "128x32x32x64", "128x16x16x128", "128x8x8x256")
TRAIN_STEPS, WARMUP = 3, 2


def _timed(step, steps):
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return seconds


def tf_op_times(xspace_path, steps):
    """ms per step and calls per step of each TF op type, from a profiler XPlane file."""
    from keras_resnetv2._compat.tensorflow import executed_ops

    ms, calls = collections.Counter(), collections.Counter()
    for _, op_type, duration_ps in executed_ops(xspace_path):
        ms[op_type] += duration_ps / 1e9 / steps
        calls[op_type] += 1 / steps
    return dict(ms), dict(calls)


def _profile_tf(step, steps):
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        _timed(step, steps)
        tf.profiler.experimental.stop()
        return tf_op_times(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0], steps)


def _profile_torch(step, steps):
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        _timed(step, steps)
    averages = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    return ({e.key: e.self_cpu_time_total / 1e3 / steps for e in averages},
            {e.key: e.count / steps for e in averages})


def _ours_steps(model_name, batch_size):
    """`predict_on_batch` of ours and of ours with the former inference choices (the same weights)."""
    import numpy as np

    import keras_resnetv2  # before Keras: oneDNN on, as in a user's process
    import keras
    from keras_resnetv2.models import batchnorm

    keras.utils.set_random_seed(0)
    model = keras_resnetv2.build(model_name, input_shape=(32, 32, 3), classes=10, weights=None)
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch_size, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, batch_size)
    for _ in range(TRAIN_STEPS):
        model.train_on_batch(x, y)
    formula = batchnorm._with_batch_norm_class(model, form_class("keras_formula"))  # weights copied
    fused = batchnorm._with_batch_norm_class(model, form_class("fused_kernel"))
    return {"ours": lambda: model.predict_on_batch(x), "ours_keras_formula": lambda: formula.predict_on_batch(x),
            "ours_fused_everywhere": lambda: fused.predict_on_batch(x)}


def form_class(form):
    """Our layer computing one of `LAYER_FORMS` after every op but a convolution, whatever
    the machine: `fused_kernel` (TF's unfolded kernel, the choice before last),
    `keras_formula` (element-wise ops, the previous choice) or `depthwise` (ours on
    oneDNN CPUs, kept where oneDNN is off for the layer table)."""
    from keras_resnetv2.models import batchnorm

    base = batchnorm.BatchNormalization
    method = {"fused_kernel": base._fused_inference, "keras_formula": base._formula_inference,
              "depthwise": base._depthwise_inference}[form]
    return type(f"BatchNormalization_{form}", (base,), {"_formula_inference": method, "_depthwise_inference": method})


def _torch_step(model_name, batch_size):
    import torch

    import torch_resnet

    torch.set_num_threads(os.cpu_count())
    fns, _, _ = torch_resnet.steps(model_name, batch_size=batch_size, input_shape=(32, 32, 3), classes=10)
    for _ in range(TRAIN_STEPS):
        fns["train"]()
    return fns["infer"]


def measure(model_name, contenders, *, batch_size, steps, rounds):
    """Per contender: img/s of each round, and the profiled ms and calls per step of each op type."""
    step_fns = _ours_steps(model_name, batch_size) if set(contenders) - {"torch"} else {}
    if "torch" in contenders:
        step_fns["torch"] = _torch_step(model_name, batch_size)
    step_fns = {name: step_fns[name] for name in contenders}
    for step in step_fns.values():
        _timed(step, WARMUP)
    img_s = {name: [] for name in contenders}
    cpu_s, wall_s = collections.Counter(), collections.Counter()
    for round_index in range(rounds):
        for name in contenders if round_index % 2 == 0 else list(reversed(contenders)):
            cpu_start = _cpu_seconds()
            wall = sum(_timed(step_fns[name], steps))
            cpu_s[name] += _cpu_seconds() - cpu_start
            wall_s[name] += wall
            img_s[name].append(batch_size * steps / wall)
        print(f"{model_name}: round {round_index + 1}/{rounds} done", file=sys.stderr)
    out = {}
    for name, step in step_fns.items():
        ms, calls = (_profile_torch if name == "torch" else _profile_tf)(step, steps)
        out[name] = {"img_s": img_s[name], "cpu_busy": cpu_s[name] / (wall_s[name] * os.cpu_count()),
                     "ms_per_step": ms, "calls_per_step": calls}
    return out


def _cpu_seconds():
    """User + system CPU time of this process, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def layer_shape(text):
    """`--layer_shapes`' type: `text` if it reads NxHxWxC (four positive integers), else an argparse error."""
    parts = text.split("x")
    if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"must be NxHxWxC, four positive integers (e.g. 128x32x32x16); received {text!r}")
    return text


def layer_times(shapes, repeats=20, runs=10):
    """ms per BatchNorm + ReLU at inference after an element-wise op, in each of `LAYER_FORMS`, per shape."""
    import numpy as np

    import keras_resnetv2  # noqa: F401  (oneDNN on unless TF_ENABLE_ONEDNN_OPTS says otherwise)
    import tensorflow as tf

    classes = {form: form_class(form) for form in LAYER_FORMS}
    out = {}
    for text in shapes:
        shape = tuple(int(n) for n in text.split("x"))
        rng = np.random.default_rng(0)
        x = tf.constant(rng.normal(size=shape).astype("float32"))
        weights = [rng.uniform(0.9, 1.1, shape[-1]).astype("float32") for _ in range(4)]
        chains = {}
        for name, cls in classes.items():
            layer = cls(epsilon=1e-3)
            layer.build(shape)
            layer.set_weights(weights)

            @tf.function
            def chain(t, layer=layer):
                for _ in range(repeats):  # the subtraction keeps the values in range, and is in every form
                    t = tf.nn.relu(layer(t, training=False)) - 1.0
                return tf.reduce_sum(t)

            for _ in range(3):
                chain(x).numpy()
            chains[name] = chain
        seconds = {name: [] for name in chains}
        for run in range(runs):  # interleaved, in reverse order every other run
            for name in LAYER_FORMS if run % 2 == 0 else LAYER_FORMS[::-1]:
                seconds[name] += _timed(lambda: chains[name](x).numpy(), 1)
        out[text] = {name: statistics.median(values) * 1e3 / repeats for name, values in seconds.items()}
    return out


def _top(ms, calls, count):
    rows = sorted(ms.items(), key=lambda item: -item[1])[:count]
    return [f"{name} {value:.1f} ({calls.get(name, 0):.0f})" for name, value in rows]


def _ratio(rounds, reference):
    """The median of the per-round ratios rounds[i] / reference[i]."""
    return statistics.median(a / b for a, b in zip(rounds, reference))


def report(results, layers, args, shares=None):
    """The Markdown tables; `shares`: the CPU time other processes and the hypervisor (steal) took."""
    lines = [f"Inference (`predict_on_batch`; torch: eval forward), batch {args.batch_size}, 32x32x3: "
             f"img/s, median (min-max) over {args.rounds} interleaved round(s) of {args.steps} steps; ratios, "
             f"the median of the per-round ratios; ms per step of each op type (calls per step) from one "
             f"profiled run of {args.steps} steps.", ""]
    if shares and None not in shares.values():
        flag = "**" if max(shares.values()) > BUSY_SHARE else ""
        lines += [f"{flag}During the run other processes used {shares['other_processes']:.1%} of the CPUs' time and "
                  f"the hypervisor took {shares['steal']:.1%} (steal){': these numbers measure the sharing' if flag else ''}."
                  f"{flag}", ""]
    for model_name, by_contender in results.items():
        references = [name for name in REFERENCES if name in by_contender]
        lines += [f"## {model_name}", "",
                  f"| contender | img/s | {' | '.join('/ ' + name for name in references)} | CPUs busy | "
                  "top ops: ms per step (calls) |", "|---" * (4 + len(references)) + "|"]
        for contender, result in by_contender.items():
            img_s = result["img_s"]
            cells = [f"{statistics.median(img_s):,.1f} ({min(img_s):,.0f}-{max(img_s):,.0f})"]
            cells += [f"{_ratio(img_s, by_contender[name]['img_s']):.2f}" for name in references]
            cells.append(f"{result['cpu_busy']:.0%}" if "cpu_busy" in result else "-")
            top = "; ".join(_top(result["ms_per_step"], result["calls_per_step"], 6))
            lines.append(f"| {contender} | {' | '.join(cells)} | {top} |")
        lines.append("")
    if layers:
        lines += ["## BatchNorm + ReLU at inference after an element-wise op, one layer (ms per call)", "",
                  "| shape (NHWC) | TF fused kernel | Keras' formula | 1x1 depthwise + bias | "
                  "formula / depthwise | fused kernel / depthwise |", "|---|---|---|---|---|---|"]
        for shape, row in layers.items():
            lines.append(f"| {shape} | {row['fused_kernel']:.2f} | {row['keras_formula']:.2f} | "
                         f"{row['depthwise']:.2f} | {row['keras_formula'] / row['depthwise']:.2f} | "
                         f"{row['fused_kernel'] / row['depthwise']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", choices=MODELS, default=list(MODELS), help="none: the layer alone")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--layer_shapes", nargs="*", type=layer_shape, default=list(LAYER_SHAPES),
                        help="NxHxWxC; none: skip")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    for name in ("batch_size", "steps", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1; received {getattr(args, name)}")
    load = OtherLoad()
    results = {m: measure(m, args.contenders, batch_size=args.batch_size, steps=args.steps, rounds=args.rounds)
               for m in args.models}
    layers = layer_times(args.layer_shapes) if args.layer_shapes else {}
    shares = {"other_processes": load.share(), "steal": load.steal_share()}
    print(report(results, layers, args, shares))
    if args.json:
        from keras_resnetv2.utils import files

        files.atomic_write_text(args.json, json.dumps({"settings": vars(args), "command": sys.argv, "cpu_shares": shares,
                                                       "models": results, "layer": layers}, indent=1))


if __name__ == "__main__":
    main()
