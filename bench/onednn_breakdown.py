"""Where a training or inference step's time goes, kernel by kernel: ours (TensorFlow) against PyTorch.

    python bench/onednn_breakdown.py [--model ResNet20V2] [--mode train|infer] [--batch_size 128] \
        [--steps 4] [--warmup 2] [--frameworks strided all torch] [--json PATH]

TensorFlow (oneDNN is its default on x86) and PyTorch both run their convolutions
through oneDNN. With `ONEDNN_VERBOSE=1` oneDNN prints every primitive it executes:
kind, implementation, direction, shapes and milliseconds. This bench runs the same
net's training step (SGD, batch `--batch_size`, train.py's fused BatchNorm for ours),
or with `--mode infer` its inference step (`predict_on_batch`; torch: eval mode under
`inference_mode`), in one subprocess per framework with that switch on, and tabulates the time per
step of each primitive kind and direction (convolution forward, backward data,
backward weights, batch normalization, reorders, ...) beside the step's wall time.
What oneDNN does not run (TensorFlow's element-wise ops, PyTorch's own BatchNorm and
ReLU) is the wall time left over.

Frameworks: `strided` is ours as built (the paper layout: a `ZeroPadding2D` layer
only before strided convs); `all` is ours with keras v2's pad layer before every 3x3
conv (`explicit_padding="all"`), the same function; `torch` is the reference net of
`bench/torch_resnet.py`. The "convs on pre-padded inputs" row counts the forward
convolutions with a kernel above 1x1 that oneDNN ran unpadded on an input a pad
layer had already enlarged (8x8 feature maps become 10x10).

TensorFlow runs with one inter-op thread here, so that its primitives do not overlap
and their times add up to at most the step. The timed steps are told apart by the
stem convolution, the only one with 3 input channels. Printing every primitive
slows the step a little; the wall times are those of the verbose run.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FRAMEWORKS = ("strided", "all", "torch")
WALL_MARKER = "BREAKDOWN_WALL_SECONDS"
MODELS = ("ResNet20V2", "ResNet110V2", "ResNet164V2")  # 32x32 nets with a torch reference


def parse_verbose(lines, *, skip_steps):
    """oneDNN verbose lines -> per-step milliseconds and counts per (kind, direction).

    Steps start at the forward convolution of a 3-channel input (the stem); the first
    `skip_steps` of them (warm-up) are dropped.

    Returns:
        dict with `steps` (timed steps seen), `ms_per_step` and `calls_per_step`
        (keyed "kind direction"), and `prepadded_convs_per_step` (forward convolutions
        with a kernel above 1x1 and no padding of their own).
    """
    records = []
    for line in lines:
        fields = line.rstrip("\n").split(",")
        if not fields[0].startswith("onednn_verbose") or "exec" not in fields:
            continue
        at = fields.index("exec")
        kind, direction, problem = fields[at + 2], fields[at + 4], fields[-2]
        records.append((kind, direction, problem, float(fields[-1])))
    starts = [i for i, (kind, direction, problem, _) in enumerate(records)
              if kind == "convolution" and direction.startswith("forward") and "ic3oc" in problem]
    if len(starts) <= skip_steps:
        raise ValueError(f"found {len(starts)} steps in the verbose output; expected more than {skip_steps}")
    timed = records[starts[skip_steps]:]
    steps = len(starts) - skip_steps
    milliseconds, calls, prepadded = collections.Counter(), collections.Counter(), 0
    for kind, direction, problem, ms in timed:
        key = f"{kind} {direction}"
        milliseconds[key] += ms / steps
        calls[key] += 1 / steps
        if kind == "convolution" and direction.startswith("forward") and _prepadded(problem):
            prepadded += 1
    return {"steps": steps, "ms_per_step": dict(milliseconds), "calls_per_step": dict(calls),
            "prepadded_convs_per_step": prepadded / steps}


def _prepadded(problem):
    """Whether a convolution problem (`mb128_ic16oc16_ih10oh8kh3sh1dh0ph0_...`) has a
    kernel above 1 and no padding of its own."""
    height = next((part for part in problem.split("_") if part.startswith("ih")), "")
    kernel, _, rest = height.partition("kh")[2].partition("sh")
    padding = rest.partition("ph")[2]
    return kernel.isdigit() and int(kernel) > 1 and padding.isdigit() and int(padding) == 0


# ---- Workers (one framework per process, ONEDNN_VERBOSE set before import) ----------------


def worker(framework, model, batch_size, steps, mode="train"):
    if framework == "torch":  # not through throughput.py, which would load TensorFlow's oneDNN here too
        import torch
        import torch_resnet  # bench/ is this script's directory

        torch.set_num_threads(os.cpu_count())

        step = torch_resnet.steps(model, batch_size=batch_size, input_shape=(32, 32, 3), classes=10)[0][mode]
    else:
        import tensorflow as tf

        tf.config.threading.set_inter_op_parallelism_threads(1)
        import numpy as np

        import keras_resnetv2
        from throughput import keras_runner  # bench/ is this script's directory

        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (batch_size, 32, 32, 3)).astype("float32")
        y = rng.integers(0, 10, batch_size).astype("int32")
        step = keras_runner(framework, lambda: keras_resnetv2.build(
            model, input_shape=(32, 32, 3), classes=10, explicit_padding=framework), jit="off", x=x, y=y)[1].steps[mode]

    for _ in range(steps["warmup"]):
        step()
    start = time.perf_counter()
    for _ in range(steps["timed"]):
        step()
    seconds = (time.perf_counter() - start) / steps["timed"]
    sys.stdout.flush()
    print(f"{WALL_MARKER} {seconds}", flush=True)


def run_framework(framework, args):
    """Runs the worker of `framework` with verbose oneDNN; its parsed breakdown."""
    env = dict(os.environ, ONEDNN_VERBOSE="1", TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, os.path.abspath(__file__), "--worker", framework, "--model", args.model, "--mode", args.mode,
               "--batch_size", str(args.batch_size), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    print(f"[{framework}] {args.model}, {args.mode}, batch {args.batch_size}: {args.warmup} warm-up + {args.steps} "
          "timed steps",
          file=sys.stderr, flush=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the {framework} worker failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.splitlines()
    wall = [float(line.split()[1]) for line in lines if line.startswith(WALL_MARKER)]
    if not wall:
        raise RuntimeError(f"the {framework} worker printed no {WALL_MARKER} line")
    result = parse_verbose(lines, skip_steps=args.warmup)
    result["wall_ms_per_step"] = 1000 * wall[0]
    return result


def report(results, args):
    """The Markdown table: ms per step of each primitive in each framework."""
    names = list(results)
    keys = sorted({k for r in results.values() for k in r["ms_per_step"]},
                  key=lambda k: -max(r["ms_per_step"].get(k, 0.0) for r in results.values()))
    step = "training" if args.mode == "train" else "inference (predict_on_batch / eval forward)"
    lines = [f"oneDNN time per {step} step (ms), {args.model}, batch {args.batch_size}, "
             f"{args.steps} steps after {args.warmup} warm-up; calls per step in brackets.", "",
             "| primitive | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for key in keys:
        cells = [f"{r['ms_per_step'][key]:.1f} ({r['calls_per_step'][key]:.0f})" if key in r["ms_per_step"] else "-"
                 for r in results.values()]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    rows = {
        "all oneDNN": lambda r: f"{sum(r['ms_per_step'].values()):.1f}",
        "not oneDNN (wall - oneDNN)": lambda r: f"{r['wall_ms_per_step'] - sum(r['ms_per_step'].values()):.1f}",
        "wall time of a step": lambda r: f"{r['wall_ms_per_step']:.1f}",
        "img/s": lambda r: f"{1000 * args.batch_size / r['wall_ms_per_step']:.1f}",
        "convs on pre-padded inputs": lambda r: f"{r['prepadded_convs_per_step']:.0f}",
    }
    for label, cell in rows.items():
        lines.append(f"| **{label}** | " + " | ".join(cell(r) for r in results.values()) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="ResNet20V2", choices=MODELS)
    parser.add_argument("--mode", choices=("train", "infer"), default="train")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for flag, low in (("batch_size", 1), ("steps", 1), ("warmup", 1)):
        if getattr(args, flag) < low:
            parser.error(f"--{flag} must be at least {low}; received {getattr(args, flag)}")
    if args.worker:
        worker(args.worker, args.model, args.batch_size, {"warmup": args.warmup, "timed": args.steps}, args.mode)
        return
    results = {framework: run_framework(framework, args) for framework in args.frameworks}
    table = report(results, args)
    print(table)
    if args.json:
        from keras_resnetv2.utils.files import atomic_write_text  # here: a torch worker must not load TensorFlow

        atomic_write_text(args.json, json.dumps({"settings": vars(args), "results": results}, indent=1))
        atomic_write_text(os.path.splitext(args.json)[0] + ".md", table + "\n")


if __name__ == "__main__":
    main()
