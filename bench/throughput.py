"""Training and inference throughput (img/s) and FLOP/s: ours vs keras.applications vs PyTorch.

    python bench/throughput.py [--models ResNet20V2 ResNet110V2 ResNet164V2 ResNet50V2 ResNet50V2:64] \
        [--batch_size 128 ResNet50V2=16] [--steps 5] [--warmup 2] [--repeats 3] [--jit both] \
        [--frameworks ours ours_stock_bn ours_bf16 ours_fp16 keras torch torch_compile] \
        [--backend tensorflow jax] [--json PATH]
    make bench-throughput      # all of it, into bench/results/throughput.json

A quick check of the script itself (tiny settings, numbers meaningless):

    python bench/throughput.py --quick --models ResNet20V2 --frameworks ours keras torch

The contenders: `ours`, a builder's model as a user gets it (`keras_resnetv2.build(name)`:
BatchNorm through TF's fused kernel, float32); `ours_stock_bn`, the same net with Keras'
own BatchNormalization (`fused_batchnorm=False`); `ours_bf16` and `ours_fp16`, builder
defaults under the `mixed_bfloat16` and `mixed_float16` policies; keras.applications' model of the same name (ResNet50V2);
the same net in PyTorch, eager and `torch.compile`d.

What is timed, per model, on one synthetic batch (uniform random images of the
model's input size, or of `MODEL:SIZE`'s, random labels; no input pipeline), reused
every step:

* train: one optimizer step, SGD (momentum 0.9) on sparse categorical cross-entropy.
  Keras: `model.compile(..., jit_compile=False/True)` then `model.train_on_batch`,
  the compiled `tf.function` (XLA with jit on) under TensorFlow, `jax.jit` under
  JAX. torch: forward, `F.cross_entropy`, backward, `optimizer.step()`.
* infer: what a user gets from a compiled model: `model.predict_on_batch` (the
  compiled predict function, `training=False`, NumPy out); torch: the net in eval
  mode under `torch.inference_mode()`.

`--warmup` steps of each (the first traces and compiles) are not timed; then
`--repeats` rounds each time `--steps` steps of every contender in turn, in reverse
order every other round (the first of a round measures a few percent slower here),
so that machine noise hits all alike. A figure is the median img/s over the rounds, with (min-max);
a ratio is of medians, ours / theirs (above 1: ours faster). The bench checks that
the Keras steps replay their compiled graph (the Python forward never runs during
the timed steps).

The torch reference (`bench/torch_resnet.py`, an optional dependency: `pip install
-e .[bench]`) is the same architecture written in torch.nn: the parameter table
shows equal trainable parameters and forward FLOPs for each model. It runs with
`torch.set_num_threads(os.cpu_count())` and channels-last tensors
(`--torch_memory_format`); torch.compile (inductor) is its own column.

FLOP/s: forward FLOPs per image from `keras_resnetv2.models.flops.count_flops` (2 per
multiply-add of convs and Dense), a training step counted as 3x the forward. The
peak is the best of a few float32 `--matmul_size` square matmuls measured in the
same run, in each framework (TensorFlow for Keras under TF, JAX under JAX, torch for
torch; NumPy's is shown too); share of peak = achieved / peak. The mixed-precision rows
of TensorFlow on a CPU are measured against TensorFlow's matmul peak in their own
half type (bfloat16 matmuls run on AMX tiles where the CPU has them).

Backends: `--backend` names the Keras backends to run. TensorFlow's rows run in this
process (when it is Keras' backend here), JAX's in a subprocess of this script
(`KERAS_BACKEND=jax JAX_PLATFORMS=cpu`) whose results are merged; each measures every
requested framework, torch included, so its ratios come from one run. Under JAX only
jit on is run: `jit_compile=False` there runs the step op by op, not a mode anyone
trains in. A GPU section runs, in a JAX subprocess, when JAX sees a GPU or torch has
CUDA: bfloat16 mixed precision (`mixed_bfloat16`, torch autocast), `--gpu_batch_size`,
MFU against the measured bfloat16 matmul peak; otherwise it reports "no GPU on this
machine".

Measure on an idle machine: the report gives the share of the CPUs that other
processes used during the run (`bench/cpu_load.py`) and flags a run above 10%.
Under contention OpenMP's static work split (torch, NumPy's BLAS) waits for its
slowest thread, and their figures collapse far more than TensorFlow's.
"""

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras_resnetv2  # noqa: E402, F401  (before Keras: it turns on oneDNN, utils/cpu.py)
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_resnetv2.utils.files import atomic_write_text  # noqa: E402
from keras_resnetv2.models.flops import count_flops  # noqa: E402
from keras_resnetv2.utils.checks import fail  # noqa: E402
from keras_resnetv2.utils.cpu import cpu_name  # noqa: E402
from keras_resnetv2.models.variants import get_variant  # noqa: E402
from cpu_load import OtherLoad  # noqa: E402
from throughput_report import HALF_DTYPES, MODES, images_per_second, matmul_flops_per_second, report, run_label  # noqa: E402

MODELS = ("ResNet20V2", "ResNet110V2", "ResNet164V2", "ResNet50V2")
FRAMEWORKS = ("ours", "ours_stock_bn", "ours_bf16", "ours_fp16", "keras", "torch", "torch_compile")
KERAS_FRAMEWORKS = ("ours", "ours_stock_bn", "ours_bf16", "ours_fp16", "keras")
BACKENDS = ("tensorflow", "jax")
JITS = {"both": ("off", "on"), "on": ("on",), "off": ("off",)}
LEARNING_RATE = 0.01
QUICK = dict(steps=2, warmup=1, repeats=2, matmul_size=256)
DEFAULTS = dict(steps=5, warmup=2, repeats=3, matmul_size=4096)
GPU_MATMUL_SIZE = 16384
TORCH_MISSING = "torch not installed (pip install -e .[bench])"


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


# ---- Measuring (one backend, one device, in this process) ----------------------------------


def torch_status():
    """None when torch can be imported, else why not."""
    if importlib.util.find_spec("torch") is None:
        return TORCH_MISSING
    try:
        import torch  # noqa: F401
    except Exception as error:  # a broken install: say so, run the rest
        return f"torch failed to import ({type(error).__name__}: {error})"
    return None


def torch_reference():
    """`bench/torch_resnet.py` (imports torch)."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import torch_resnet

    return torch_resnet


def compile_failure(error):
    """torch.compile's errors (a missing C++ toolchain, mostly) become the row's text; the rest runs."""
    first_line = (str(error).strip().splitlines() or [""])[0][:200]
    return f"torch.compile failed: {type(error).__name__}: {first_line}"


class Runner:
    """Timed steps of one framework: `{"train": fn, "infer": fn}`, and `sync` for a device."""

    def __init__(self, framework, jit, steps, *, sync=None, forward_calls=None):
        self.framework, self.jit, self.steps, self.sync = framework, jit, steps, sync or (lambda: None)
        self.forward_calls = forward_calls  # Python forward calls of a Keras model, None for torch
        self.record = {"framework": framework, "jit": jit, "first_call_s": {}, "warmup_s": {},
                       "seconds": {mode: [] for mode in MODES}}

    def _run(self, mode, count):
        start = time.perf_counter()
        for _ in range(count):
            self.steps[mode]()
        self.sync()
        return time.perf_counter() - start

    def warm_up(self, count):
        """Runs `count` untimed steps of each mode; False (and the reason recorded) on a failure."""
        for mode in MODES:
            try:
                self.record["first_call_s"][mode] = self._run(mode, 1)
            except Exception as error:
                if self.framework != "torch_compile":
                    raise
                self.record = {"framework": self.framework, "jit": self.jit, "skipped": compile_failure(error)}
                return False
            self.record["warmup_s"][mode] = self._run(mode, count - 1)
        return True

    def timed(self, mode, count):
        """Times `count` steps of `mode`; checks that a Keras model replayed its compiled step."""
        calls = list(self.forward_calls or ())
        self.record["seconds"][mode].append(self._run(mode, count))
        if self.forward_calls and self.forward_calls != calls:
            raise RuntimeError(f"{self.framework} (jit {self.jit}) ran its Python forward during a timed {mode} "
                               "step: the Keras step is not the compiled function.")


def keras_runner(framework, builder, *, jit, x, y):
    """A Runner of `model.train_on_batch` / `model.predict_on_batch` on a compiled model."""
    model = builder()
    calls = [0]
    forward = model.call

    def counted(*args, **kwargs):
        calls[0] += 1
        return forward(*args, **kwargs)

    model.call = counted
    model.compile(keras.optimizers.SGD(LEARNING_RATE, momentum=0.9), "sparse_categorical_crossentropy",
                  jit_compile=jit == "on")
    runner = Runner(framework, jit, {"train": lambda: model.train_on_batch(x, y),
                                     "infer": lambda: model.predict_on_batch(x)}, forward_calls=calls)
    return model, runner


def model_entry(entry):
    """`(builder name, input size)` of a `--models` entry: `"ResNet50V2"` (its default
    input size) or `"ResNet50V2:64"` (64x64)."""
    name, _, size = entry.partition(":")
    variant = get_variant(name)
    if size and (not size.isdigit() or int(size) < 1):
        fail("--models", "A `--models` entry is MODEL or MODEL:SIZE, SIZE a positive integer.", entry)
    return variant.name, int(size) if size else variant.spec().default_input_size


def measure_model(entry, *, settings, device, backend):
    """Builds every requested framework's model `entry`, warms each up, times them in turn."""
    name, size = model_entry(entry)
    variant = get_variant(name)
    shape, classes = (size, size, 3), variant.spec().default_classes
    batch = settings["batch_size"][entry]
    frameworks = settings["frameworks"]
    record = {"model": entry, "input_shape": list(shape), "classes": classes, "batch_size": batch,
              "params": {}, "forward_flops": {}, "runs": []}
    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(rng.uniform(-1, 1, (batch, *shape)).astype("float32"))
    y = keras.ops.convert_to_tensor(rng.integers(0, classes, batch).astype("int32"))
    def ours(**kwargs):
        return keras_resnetv2.build(name, weights=None, input_shape=shape, classes=classes, **kwargs)

    builders = {"ours": ours, "ours_stock_bn": lambda: ours(fused_batchnorm=False), "ours_bf16": ours, "ours_fp16": ours}
    if hasattr(keras.applications, name):
        builders["keras"] = lambda: getattr(keras.applications, name)(weights=None, input_shape=shape, classes=classes)
    runners = []
    for jit in settings["jits"]:
        for framework in KERAS_FRAMEWORKS:
            if framework not in frameworks:
                continue
            reason = None if settings["keras_on_device"] else "JAX sees no GPU"
            if framework in HALF_DTYPES and device == "gpu":
                reason = "the GPU section is bfloat16 already"
            if framework not in builders:
                reason = "not in keras.applications"
            if reason:
                record["runs"].append({"framework": framework, "jit": jit, "skipped": reason})
                continue
            keras.utils.set_random_seed(0)
            policy = keras.config.dtype_policy().name
            keras.config.set_dtype_policy(f"mixed_{HALF_DTYPES[framework]}" if framework in HALF_DTYPES else policy)
            try:
                model, runner = keras_runner(framework, builders[framework], jit=jit, x=x, y=y)
            finally:
                keras.config.set_dtype_policy(policy)
            record["params"][framework] = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
            record["forward_flops"][framework] = count_flops(model)
            runners.append(runner)
    for framework in ("torch", "torch_compile"):
        if framework not in frameworks:
            continue
        reason = torch_status()
        if reason is None and not settings["torch_on_device"]:
            reason = "torch has no CUDA"
        if reason is None and name not in torch_reference().REFERENCES:
            reason = "no torch reference for this model"
        if reason:
            record["runs"].append({"framework": framework, "jit": "-", "skipped": reason})
            continue
        reference = torch_reference()
        try:
            steps, sync, params = reference.steps(
                name, batch_size=batch, input_shape=shape, classes=classes, device="cuda" if device == "gpu" else "cpu",
                compiled=framework == "torch_compile", channels_last=settings["torch_memory_format"] == "channels_last",
                bfloat16=device == "gpu")
        except Exception as error:
            if framework != "torch_compile":
                raise
            record["runs"].append({"framework": framework, "jit": "-", "skipped": compile_failure(error)})
            continue
        record["params"]["torch"] = params
        record["forward_flops"]["torch"] = reference.forward_flops(reference.build(name, classes), shape)
        runners.append(Runner(framework, "-", steps, sync=sync))

    failed = []
    for runner in list(runners):
        start = time.time()
        if not runner.warm_up(settings["warmup"]):
            runners.remove(runner)
            failed.append(runner.record)
        outcome = runner.record.get("skipped", f"warmed up in {time.time() - start:.1f} s")
        log(f"[{backend} {device}] {name} batch {batch}, {run_label(runner.record)}: {outcome}")
    for repeat in range(settings["repeats"]):
        for mode in MODES:
            for runner in runners if repeat % 2 == 0 else runners[::-1]:
                runner.timed(mode, settings["steps"])
        log(f"[{backend} {device}] {name}: round {repeat + 1}/{settings['repeats']} done")
    for runner in runners:
        runner.record["img_s"] = {mode: images_per_second(batch, settings["steps"], runner.record["seconds"][mode])
                                  for mode in MODES}
    record["runs"] = [runner.record for runner in runners] + failed + record["runs"]
    keras.backend.clear_session()
    return record


def matmul_peaks(device, n, repeats, *, with_torch, half_dtypes=()):
    """{framework: {"gflops": [...], "best": GFLOP/s}} of n x n matmuls in each framework here;
    under TensorFlow on a CPU also in each of `half_dtypes` ("tensorflow_bfloat16"...)."""
    timers, dtypes = {}, {}
    backend = keras.config.backend()
    dtype = "bfloat16" if device == "gpu" else "float32"
    if backend == "tensorflow":
        import tensorflow as tf

        a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
        # The operands are arguments, not captured constants (Grappler would fold the
        # product at trace time), and the scalar out forces the product to be computed.
        matmul = tf.function(lambda a, b: tf.reduce_sum(tf.cast(tf.linalg.matmul(a, b), "float32")))
        timers["tensorflow"] = lambda: float(matmul(a, b))
        for half in half_dtypes if device == "cpu" else ():  # the peak of the mixed-precision rows
            a_half, b_half = tf.cast(a, half), tf.cast(b, half)
            timers[f"tensorflow_{half}"] = lambda a=a_half, b=b_half: float(matmul(a, b))
            dtypes[f"tensorflow_{half}"] = half
    elif backend == "jax" and (device == "cpu" or any(d.platform == "gpu" for d in _jax_devices())):
        import jax

        jax_dtype = jax.numpy.bfloat16 if dtype == "bfloat16" else jax.numpy.float32
        a, b = (jax.random.normal(jax.random.PRNGKey(i), (n, n), dtype=jax_dtype) for i in range(2))
        matmul = jax.jit(lambda a, b: a @ b)
        timers["jax"] = lambda: matmul(a, b).block_until_ready()
    if device == "cpu":
        a, b = np.random.rand(n, n).astype("float32"), np.random.rand(n, n).astype("float32")
        out = np.empty_like(a)
        timers["numpy"] = lambda: np.matmul(a, b, out=out)
    peaks = {}
    for framework, timer in timers.items():
        timer()
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            timer()
            seconds.append(time.perf_counter() - start)
        peaks[framework] = _peak(n, seconds, dtypes.get(framework, dtype))
    if with_torch:
        seconds = torch_reference().matmul_seconds(n, repeats=repeats, device="cuda" if device == "gpu" else "cpu",
                                                   dtype=dtype)
        peaks["torch"] = _peak(n, seconds, dtype)
    return peaks


def _peak(n, seconds, dtype):
    gflops = [matmul_flops_per_second(n, s) / 1e9 for s in seconds]
    return {"n": n, "dtype": dtype, "seconds": seconds, "gflops": gflops, "best": max(gflops)}


def _jax_devices():
    import jax

    return jax.devices()


def run_section(settings, device):
    """Every model under the current Keras backend on `device` ("cpu" or "gpu")."""
    backend = keras.config.backend()
    section = {"backend": backend, "device": device, "precision": "float32", "notes": []}
    settings = dict(settings, keras_on_device=True, torch_on_device=True)
    wants_torch = any(f in settings["frameworks"] for f in ("torch", "torch_compile")) and torch_status() is None
    if wants_torch:
        import torch
    if device == "cpu":
        if backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):  # a GPU build of TensorFlow: keep these rows on the CPU
                tf.config.set_visible_devices([], "GPU")
        if wants_torch:
            torch.set_num_threads(os.cpu_count())
    else:
        gpus = [d for d in _jax_devices() if d.platform == "gpu"] if backend == "jax" else []
        torch_cuda = wants_torch and torch.cuda.is_available()
        settings.update(keras_on_device=bool(gpus), torch_on_device=torch_cuda)
        if not gpus and not torch_cuda:
            return dict(section, skipped="no GPU on this machine")
        keras.config.set_dtype_policy("mixed_bfloat16")
        section["precision"] = "mixed_bfloat16"
        section["notes"].append("Share of peak is the MFU against the measured bfloat16 matmul peak.")
        section["gpu"] = [str(d) for d in gpus] + ([torch.cuda.get_device_name()] if torch_cuda else [])
        wants_torch = torch_cuda
    if backend == "jax":
        settings["jits"] = ("on",)
        section["notes"].append("JAX: jit on only (jit_compile=False runs the step op by op, not with jax.jit).")
    if {"ours", "keras"} & set(settings["frameworks"]):
        section["notes"].append("Keras: `train_on_batch` and `predict_on_batch` of a compiled model; checked that "
                                "no timed step ran the Python forward (each replayed the compiled function).")
    section["jits"] = list(settings["jits"])
    matmul_size = settings["matmul_size"] if device == "cpu" else GPU_MATMUL_SIZE
    log(f"[{backend} {device}] matmul peaks, n={matmul_size}")
    half_dtypes = [half for framework, half in HALF_DTYPES.items() if framework in settings["frameworks"]]
    section["peaks"] = matmul_peaks(device, matmul_size, settings["matmul_repeats"], with_torch=wants_torch,
                                    half_dtypes=half_dtypes)
    section["models"] = [measure_model(name, settings=settings, device=device, backend=backend)
                         for name in settings["models"]]
    return section


# ---- Orchestration: backends and devices in subprocesses -------------------------------------


def gpu_possible():
    """Whether a GPU section could run: torch has CUDA, or a CUDA/ROCm build of JAX is installed."""
    if torch_status() is None and __import__("torch").cuda.is_available():
        return True
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name.startswith(("jax-cuda", "jax-rocm")) or (name == "jaxlib" and "cuda" in dist.version):
            return True
    return False


def run_worker(settings, backend, device):
    """`run_section` in a subprocess of this script under Keras backend `backend`."""
    env = dict(os.environ, KERAS_BACKEND=backend)
    if device == "cpu":
        env.update(CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu")
    else:
        env.update(XLA_PYTHON_CLIENT_PREALLOCATE="false")  # leave room for torch's CUDA rows
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "section.json")
        command = [sys.executable, os.path.abspath(__file__), "--worker", device, "--json", path,
                   "--worker_settings", json.dumps(settings)]
        log(f"[{backend} {device}] running in a subprocess (KERAS_BACKEND={backend})")
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL)
        if done.returncode != 0:
            return {"backend": backend, "device": device,
                    "skipped": f"the {backend} {device} run failed (exit {done.returncode}); its errors are above"}
        with open(path) as file:
            return json.load(file)


def default_batch(input_size, *, quick, gpu):
    small = input_size <= 32
    if gpu:
        return 256 if small else 128
    if quick:
        return 8 if small else 2
    return 128 if small else 16  # 2 cores saturate at small batches


def resolve_settings(args):
    """The run's settings (JSON-compatible): flags, with --quick's or the defaults where unset.

    Raises:
        ValueError: a bad model name, batch entry or count.
    """
    base = QUICK if args.quick else DEFAULTS
    def canonical(entry):
        name, size = model_entry(entry)
        return name if ":" not in entry else f"{name}:{size}"

    models = list(dict.fromkeys(canonical(m) for m in args.models))

    def batches(flag, entries, gpu):
        chosen = {m: default_batch(model_entry(m)[1], quick=args.quick, gpu=gpu) for m in models}
        for entry in entries or ():
            model, _, value = entry.rpartition("=")
            if not value.isdigit() or int(value) < 1:
                fail(flag, f"Each `{flag}` entry must be N or MODEL=N, N a positive integer.", entry)
            if model and canonical(model) not in chosen:
                fail(flag, f"`{flag}` names a model that is not in --models {models}.", entry)
            chosen.update({m: int(value) for m in ([canonical(model)] if model else models)})
        return chosen

    for flag in ("steps", "warmup", "repeats", "matmul_size"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            fail(f"--{flag}", f"`--{flag}` must be at least 1.", value)
    return dict(
        models=models, frameworks=list(dict.fromkeys(args.frameworks)), backends=list(dict.fromkeys(args.backend)),
        jits=list(JITS[args.jit]), batch_size=batches("--batch_size", args.batch_size, gpu=False),
        gpu_batch_size=batches("--gpu_batch_size", args.gpu_batch_size, gpu=True),
        **{k: getattr(args, k) if getattr(args, k) is not None else base[k] for k in DEFAULTS},
        matmul_repeats=3, torch_memory_format=args.torch_memory_format, quick=args.quick,
    )


def machine():
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
            "platform": platform.platform(), "load_average_start": list(os.getloadavg()),
            "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}


def versions():
    found = {"python": platform.python_version()}
    for dist in ("keras", "keras-resnetv2", "tensorflow", "tensorflow-cpu", "jax", "jaxlib", "torch", "numpy"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="our builders' names")
    parser.add_argument("--batch_size", nargs="+", metavar="[MODEL=]N",
                        help="CPU batch: N for every model and/or MODEL=N (default 128 at 32x32, 16 at 224x224)")
    parser.add_argument("--gpu_batch_size", nargs="+", metavar="[MODEL=]N",
                        help="GPU batch, same form (default 256 at 32x32, 128 at 224x224)")
    parser.add_argument("--steps", type=int, help=f"timed steps per round (default {DEFAULTS['steps']})")
    parser.add_argument("--warmup", type=int, help=f"untimed steps first, per mode (default {DEFAULTS['warmup']})")
    parser.add_argument("--repeats", type=int, help=f"rounds over the frameworks (default {DEFAULTS['repeats']})")
    parser.add_argument("--matmul_size", type=int, help=f"n of the CPU peak matmul (default {DEFAULTS['matmul_size']})")
    parser.add_argument("--jit", choices=tuple(JITS), default="both", help="Keras jit_compile (TensorFlow)")
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS), help="Keras backends")
    parser.add_argument("--torch_memory_format", choices=("channels_last", "contiguous"), default="channels_last")
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke check of the script")
    parser.add_argument("--json", help="write every timing, the machine and the versions here")
    parser.add_argument("--worker", choices=("cpu", "gpu"), help=argparse.SUPPRESS)
    parser.add_argument("--worker_settings", help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.worker:
        atomic_write_text(args.json, json.dumps(run_section(json.loads(args.worker_settings), args.worker)))
        return
    started, other_load = time.time(), OtherLoad()
    try:
        settings = resolve_settings(args)
    except ValueError as error:
        parser.error(str(error))
    result = {"command": [sys.executable, *sys.argv] if argv is None else ["bench/throughput.py", *argv],
              "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": machine(), "versions": versions(),
              "settings": settings, "sections": []}
    for backend in settings["backends"]:
        # JAX may already have picked a GPU in this process: only TensorFlow's CPU rows run here.
        if backend == "tensorflow" == keras.config.backend():
            result["sections"].append(run_section(settings, "cpu"))
        else:
            result["sections"].append(run_worker(settings, backend, "cpu"))
    if gpu_possible():
        result["sections"].append(run_worker(dict(settings, batch_size=settings["gpu_batch_size"]), "jax", "gpu"))
    else:
        result["sections"].append({"backend": "jax", "device": "gpu", "skipped": "no GPU on this machine"})
    result["machine"]["load_average_end"] = list(os.getloadavg())
    result["machine"]["other_processes_cpu_share"] = other_load.share()
    result["machine"]["steal_cpu_share"] = other_load.steal_share()
    result["seconds"] = time.time() - started
    print(report(result))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        atomic_write_text(args.json, json.dumps(result, indent=1))
        print(f"\nWrote {args.json}")


if __name__ == "__main__":
    main()
