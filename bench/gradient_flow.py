"""Gradient flow through the residual units (Sec. 3 of arXiv:1603.05027), as a table and a plot.

    python bench/gradient_flow.py [--depths 20 56 110] [--steps 200] [--out bench/results]

For each depth of the basic-block CIFAR family (paper layout), activation order
(`--orders`: full pre-activation, original) and shortcut (`--shortcuts`: identity,
constant scaling by 0.5, exclusive and shortcut-only gating with b_g = -6), on 28x28x1
Fashion-MNIST: ||dE/dx_l|| at the input x_l of every residual unit
(`keras_resnetv2.paper.gradient_flow.gradient_norms`, E the cross-entropy of `--probe_batch`
test images, BN on batch statistics) in three phases:

* `zero_init`: every residual branch zero-initialized (`zero_init_last=True`), so F = 0
  and only the shortcut term of Eq. 4 and 7 is left: dE/dx_l = dE/dx_L for identity
  shortcuts, lambda^(L-l) dE/dx_L for constant scaling;
* `init`: the paper's He initialization, where the branches add their own term;
* `trained`: the same net after `--steps` SGD steps of the `budget` recipe (warm-up over
  a quarter of the steps, batch `--batch_size`) on `--train_subset` training images.

The table gives ||dE/dx_1|| / ||dE/dx_L|| in each phase, x_L the last unit's input,
and the loss E before and after training. The first unit of a stage subsamples and
zero-pads its shortcut (after the shared BN-ReLU in pre-activation nets), which
changes the norm even with identity shortcuts: Eq. 4 holds within a stage. Writes
`gradient_flow.json` (every norm) and `gradient_flow.png` (||dE/dx_l|| / ||dE/dx_L||
per unit, log scale; a row per phase, a column per depth) into `--out`.

A quick check of the script itself:

    python bench/gradient_flow.py --depths 20 --steps 2 --train_subset 256 --out /tmp/gf
"""

import argparse
import io
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras_resnetv2  # noqa: E402, F401  (before Keras: it turns on oneDNN, utils/cpu.py)
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_resnetv2 import ResNet, data  # noqa: E402
from keras_resnetv2.paper.gradient_flow import gradient_norms  # noqa: E402
from keras_resnetv2.training import TrainConfig, build_model, compile_model  # noqa: E402
from keras_resnetv2.utils.files import atomic_write_bytes, atomic_write_text  # noqa: E402

SHORTCUTS = ("identity", "constant_scaling", "exclusive_gating", "shortcut_only_gating")
ORDERS = ("full_preactivation", "original")
COLORS = dict(zip(SHORTCUTS, ("tab:blue", "tab:red", "tab:green", "tab:orange")))
PHASES = ("zero_init", "init", "trained")


def measure(dataset, probe, *, depth, order, shortcut, args):
    """One configuration: its spec, training loss and `GradientNorms` of every phase."""
    config = TrainConfig(
        model="ResNet20V2", depth=depth, order=order, shortcut=shortcut, batch_size=args.batch_size,
        warmup_steps=args.steps // 4, seed=args.seed,
    ).resolved()
    spec, info = config.architecture(), dataset.info
    record = dict(depth=depth, order=order, shortcut=shortcut, spec=spec.to_dict())
    keras.utils.set_random_seed(args.seed)
    zero_init = ResNet(spec.replace(zero_init_last=True), input_shape=info.input_shape,
                       classes=info.num_classes, classifier_activation=None)
    record["zero_init"] = gradient_norms(zero_init, *probe)
    keras.utils.set_random_seed(args.seed)
    model = build_model(config, info)
    record["init"] = gradient_norms(model, *probe)
    compile_model(model, config, args.steps)
    stream = data.train_pipeline(
        *dataset.train, batch_size=args.batch_size, mean=dataset.mean, std=dataset.std, seed=args.seed,
        pad=info.pad, flip=info.flip,
    )
    start = time.time()
    history = model.fit(stream, epochs=1, steps_per_epoch=args.steps, shuffle=False, verbose=0).history
    record["train_seconds"] = time.time() - start
    record["train_cross_entropy"] = history["cross_entropy"][-1]
    record["trained"] = gradient_norms(model, *probe)
    return record


def plot(records, path, steps):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    depths = sorted({r["depth"] for r in records})
    titles = ("zero-initialized branches (F = 0)", "at initialization", f"after {steps} steps")
    figure = Figure(figsize=(5 * len(depths), 11.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(PHASES), len(depths), squeeze=False)
    for row, (phase, title) in enumerate(zip(PHASES, titles)):
        for column, depth in enumerate(depths):
            ax = axes[row][column]
            for r in (r for r in records if r["depth"] == depth):
                relative = r[phase].relative_norms
                ax.semilogy(
                    np.arange(1, len(relative) + 1), relative, color=COLORS[r["shortcut"]],
                    linestyle="-" if r["order"] == "full_preactivation" else "--",
                    label=f"{r['shortcut']}, {r['order']}",
                )
            ax.set_title(f"ResNet-{depth}, {title}", fontsize="medium")
            ax.set_xlabel("residual unit l")
            ax.grid(True, which="major", alpha=0.3)
        axes[row][0].set_ylabel("||dE/dx_l|| / ||dE/dx_L||")
    figure.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize="small")
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    out = io.BytesIO()
    figure.savefig(out, format="png")
    atomic_write_bytes(path, out.getvalue())


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depths", type=int, nargs="+", default=[20, 56, 110])
    parser.add_argument("--orders", nargs="+", choices=ORDERS, default=list(ORDERS))
    parser.add_argument("--shortcuts", nargs="+", choices=SHORTCUTS, default=list(SHORTCUTS))
    parser.add_argument("--steps", type=int, default=200, help="training steps before the last measurement")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--train_subset", type=int, default=10000)
    parser.add_argument("--probe_batch", type=int, default=64, help="test images the norms are measured on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data_dir", help="Fashion-MNIST's folder (default: the Debian package's)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")

    dataset = data.load("fashion_mnist", data_dir=args.data_dir, train_subset=args.train_subset)
    test_images, test_labels = (a[: args.probe_batch] for a in dataset.test)
    images, labels = next(iter(data.eval_pipeline(
        test_images, test_labels, batch_size=args.probe_batch, mean=dataset.mean, std=dataset.std)))
    probe = (images.numpy(), labels.numpy())

    records = []
    for depth in args.depths:
        for order in args.orders:
            for shortcut in args.shortcuts:
                r = measure(dataset, probe, depth=depth, order=order, shortcut=shortcut, args=args)
                records.append(r)
                print(f"ResNet-{depth} {order} {shortcut}: trained in {r['train_seconds']:.0f} s", flush=True)

    print(f"\n||dE/dx_1|| / ||dE/dx_L|| (x_L: last unit's input), {args.probe_batch} Fashion-MNIST test "
          f"images; after {args.steps} steps of batch {args.batch_size}\n")
    print(f"| depth | order | shortcut | F = 0 | init | after {args.steps} steps | E init | E after |")
    print("|---|---|---|---|---|---|---|---|")
    for r in records:
        ratios = " | ".join(f"{r[phase].relative_norms[0]:.3g}" for phase in PHASES)
        print(f"| {r['depth']} | {r['order']} | {r['shortcut']} | {ratios} | "
              f"{r['init'].loss:.3f} | {r['trained'].loss:.3f} |")

    os.makedirs(args.out, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    serialized = [{**r, **{phase: r[phase].to_dict() for phase in PHASES}} for r in records]
    results = {"keras": keras.__version__, "settings": settings, "records": serialized}
    atomic_write_text(os.path.join(args.out, "gradient_flow.json"), json.dumps(results, indent=1))
    plot(records, os.path.join(args.out, "gradient_flow.png"), args.steps)
    print(f"\nwrote gradient_flow.json and gradient_flow.png to {args.out}")


if __name__ == "__main__":
    main()
