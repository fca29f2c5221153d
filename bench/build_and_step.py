"""Build time and step time of our models against keras.applications, as a table.

    python bench/build_and_step.py [--repeats 5] [--batch 8] [--json out.json]

Ours and keras' are timed alternately in one process, so that both see the same
machine state; each figure is the median of `--repeats` runs, with the spread as
(min-max). Ratios are ours / keras (1.0 = same cost; below 1 = ours faster).
"""

import argparse
import json
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras_resnetv2  # noqa: E402, F401  (before Keras: it turns on oneDNN, utils/cpu.py)
import keras  # noqa: E402
import numpy as np  # noqa: E402



def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def build_seconds(builder):
    keras.backend.clear_session()
    return timed(lambda: builder(weights=None))


def alternate(fn_ours, fn_keras, repeats):
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(fn_ours())
        theirs.append(fn_keras())
    return ours, theirs


def step_timers(builder, batch):
    """(forward, train step) timers of a compiled model, after a warm-up call."""
    keras.backend.clear_session()
    model = builder(weights=None)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy", jit_compile=False)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, 224, 224, 3)).astype("float32")
    y = rng.integers(0, 1000, batch)
    model.predict_on_batch(x)
    model.train_on_batch(x, y)
    return (lambda: timed(lambda: model.predict_on_batch(x))), (lambda: timed(lambda: model.train_on_batch(x, y)))


def summary(values):
    return statistics.median(values), min(values), max(values)


def row(label, ours, theirs=None, unit="s"):
    m, lo, hi = summary(ours)
    cells = [label, f"{m:.3f} ({lo:.3f}-{hi:.3f})"]
    if theirs is None:
        return cells + ["", ""], {"case": label, "ours_s": ours}
    tm, tlo, thi = summary(theirs)
    cells += [f"{tm:.3f} ({tlo:.3f}-{thi:.3f})", f"{m / tm:.3f}"]
    return cells, {"case": label, "ours_s": ours, "keras_s": theirs, "ratio": m / tm}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--json", help="also write the raw timings here")
    args = parser.parse_args()

    rows, records = [], []
    for name in ("ResNet50V2", "ResNet152V2"):
        ours, theirs = alternate(
            lambda: build_seconds(getattr(keras_resnetv2, name)),
            lambda: build_seconds(getattr(keras.applications, name)),
            args.repeats,
        )
        cells, record = row(f"build {name}", ours, theirs)
        rows.append(cells), records.append(record)

    deep = [build_seconds(keras_resnetv2.ResNet1001V2) for _ in range(max(1, args.repeats // 2))]
    cells, record = row("build ResNet1001V2 (3,673 layers)", deep)
    rows.append(cells), records.append(record)

    forward_ours, step_ours = step_timers(keras_resnetv2.ResNet50V2, args.batch)
    forward_keras, step_keras = step_timers(keras.applications.ResNet50V2, args.batch)
    for label, fn_ours, fn_keras in (
        (f"forward ResNet50V2, batch {args.batch}, 224x224", forward_ours, forward_keras),
        (f"train step ResNet50V2, batch {args.batch}, 224x224", step_ours, step_keras),
    ):
        cells, record = row(label, *alternate(fn_ours, fn_keras, args.repeats))
        rows.append(cells), records.append(record)

    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; median (min-max) of {args.repeats} runs, seconds\n")
    print("| case | ours | keras.applications | ours / keras |")
    print("|---|---|---|---|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json + ".tmp", "w") as file:
            json.dump({"keras": keras.__version__, "backend": keras.backend.backend(), "rows": records}, file, indent=1)
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
