"""Reproduces Tables 1 and 2 of arXiv:1603.05027 on Fashion-MNIST and writes REPRODUCTION.md.

    python bench/reproduce_ablations.py [--tables table1 table2] [--depth 20] [--block basic] \
        [--epochs 4] [--seeds 3] [--validation_split 0.1] [--train_subset N] [--out runs/ablations] \
        [--report REPRODUCTION.md] [--plot bench/results/ablations.png] [--report_only] [TRAIN.PY FLAGS]

For each table, runs (or resumes) the grid search of its rows x `--seeds` seeds,
`train.py --tune=grid --ablation=TABLE`, in `--out/TABLE_resnetDEPTH_BLOCK`, then
regenerates the report and its plot from every ablation search under `--out` (so runs
at several depths, e.g. ResNet-20 on a CPU and ResNet-110/164 on a GPU, share one
report; `keras_resnetv2.paper.reproduction`). `--report_only` only regenerates them. Other
`--flag=value` arguments go to train.py unchanged (e.g. `--recipe=paper`,
`--batch_size=64`). Failed trials do not stop a search: a diverged row is a result.

The exact train.py command of each search is written to `reproduce.json` in its folder,
and the report shows it; a folder holding a search run with other flags is refused
(train.py's own check compares only the table and the seeds).

The paper's depths (GPU): `--depth 110` (both tables) and `--block bottleneck --depth 164`
(Table 2). On a CPU: `--depth 20` (basic) or `--block bottleneck --depth 29`.

A quick check of the script itself (tiny net, numbers meaningless):

    python bench/reproduce_ablations.py --tables table2 --seeds 1 --epochs 1 --train_subset 256 \
        --validation_split 0.01 --spec_options '{"stage_widths": [4, 8, 16], "stem_width": 4}' \
        --batch_size=32 --warmup_steps=2 --out /tmp/abl --report /tmp/abl/REPRODUCTION.md \
        --plot /tmp/abl/ablations.png
"""

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_resnetv2.paper import reproduction  # noqa: E402
from keras_resnetv2.utils.files import atomic_write_text  # noqa: E402
from keras_resnetv2.models.spec import BLOCKS, ResNetSpec  # noqa: E402
from keras_resnetv2.paper.ablations import ABLATIONS  # noqa: E402
from keras_resnetv2.models.variants import VARIANTS  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shown(path):
    """`path` relative to the repository root when inside it (commands run from there)."""
    path = os.path.abspath(path)
    inside = os.path.commonpath([path, REPO_ROOT]) == REPO_ROOT
    return os.path.relpath(path, REPO_ROOT) if inside else path


def model_flags(depth, block, spec_options):
    """train.py flags of a paper-layout CIFAR net of `depth` and `block`.

    A named variant where one exists (ResNet20, ResNet110, ResNet164...), else the
    block's base variant with its units per stage in `--spec_options`. Not `--depth`:
    train.py aborts a search given one (`HyperResNet.trial_config` sets `spec` but
    keeps `depth`, which `TrainConfig` refuses together).
    """
    units = ResNetSpec.from_depth(depth, block=block).stage_units  # validates the depth
    variant = VARIANTS.get(f"resnet{depth}")
    options = dict(spec_options)
    if variant is None or variant.family != "cifar" or variant.block != block:
        variant = VARIANTS["resnet20" if block == "basic" else "resnet164"]
        if "stage_units" in options:
            raise SystemExit("--spec_options sets stage_units; give the depth with --depth instead.")
        options["stage_units"] = list(units)
    flags = [f"--model={variant.name}"]
    return flags + ([f"--spec_options={json.dumps(options, sort_keys=True)}"] if options else [])


def train_argv(table, folder, args, extra):
    argv = [
        shown(sys.executable), "train.py", "--tune=grid", f"--ablation={table}", f"--seeds={args.seeds}",
        *model_flags(args.depth, args.block, args.spec_options), f"--epochs={args.epochs}",
        f"--validation_split={args.validation_split}",
    ]
    if args.train_subset:
        argv.append(f"--train_subset={args.train_subset}")
    # Never stop on failures: a row that diverges for every seed is one of the results.
    argv += [f"--max_consecutive_failed_trials={len(ABLATIONS[table]) * args.seeds + 1}", *extra,
             f"--tune_dir={shown(folder)}"]
    return argv


def claim(folder, record):
    """Writes `record` into `folder`, or exits if the folder holds trials of another command."""
    path = os.path.join(folder, reproduction.RECORD)
    if os.path.exists(path) and os.path.isdir(os.path.join(folder, "search")):
        with open(path, encoding="utf-8") as file:
            existing = json.load(file)
        if existing.get("argv", [None])[1:] != record["argv"][1:]:  # the interpreter may move
            raise SystemExit(
                f"{folder} holds a search run as\n  {existing.get('command')}\nnot as\n  {record['command']}\n"
                "Use another --out, or the same flags to resume it."
            )
    os.makedirs(folder, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=1))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", nargs="+", choices=list(ABLATIONS), default=list(ABLATIONS))
    parser.add_argument("--depth", type=int, default=20, help="CIFAR depth: 6n+2 (basic) or 9n+2 (bottleneck).")
    parser.add_argument("--block", choices=list(BLOCKS), default="basic")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3, help="Initialization seeds per row.")
    parser.add_argument("--validation_split", type=float, default=0.1)
    parser.add_argument("--train_subset", type=int, default=None, help="Train on this many images (default: all).")
    parser.add_argument("--spec_options", type=json.loads, default={}, help="JSON of other ResNetSpec fields.")
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "runs", "ablations"))
    parser.add_argument("--report", default=os.path.join(REPO_ROOT, "REPRODUCTION.md"))
    parser.add_argument("--plot", default=os.path.join(REPO_ROOT, "bench", "results", "ablations.png"))
    parser.add_argument("--report_only", action="store_true", help="Only regenerate the report from --out.")
    args, extra = parser.parse_known_args(argv)
    unknown = [a for a in extra if not a.startswith("--")]
    if unknown:
        parser.error(f"unexpected arguments {unknown} (train.py flags are passed as --flag=value)")

    failed = []
    for table in [] if args.report_only else args.tables:
        folder = os.path.join(os.path.abspath(args.out), f"{table}_resnet{args.depth}_{args.block}")
        train = train_argv(table, folder, args, extra)
        command = shlex.join(train)
        claim(folder, dict(
            command=command, argv=train, driver=shlex.join([shown(sys.executable), shown(__file__), *argv]),
            table=table, depth=args.depth, block=args.block, epochs=args.epochs, seeds=args.seeds,
            validation_split=args.validation_split, train_subset=args.train_subset,
        ))
        print(f"== {table}: {command}", flush=True)
        if subprocess.run(train, cwd=REPO_ROOT).returncode:
            failed.append(table)

    folders = reproduction.ablation_folders(args.out)
    if not folders:
        raise SystemExit(f"No ablation search under {args.out}.")
    results = [dataclasses.replace(reproduction.read_search(f), folder=shown(f)) for f in folders]
    regenerate = shlex.join([shown(sys.executable), shown(__file__), "--report_only", f"--out={shown(args.out)}"])
    reproduction.write_reproduction(results, args.report, plot_path=args.plot, regenerate=regenerate)
    for result in results:
        done = sum(len(r.errors) for r in result.rows)
        print(f"{shown(result.folder)}: {done} completed, {sum(r.failed for r in result.rows)} failed trials "
              f"of {len(result.rows) * result.seeds}; rank correlation with the paper "
              f"{'n/a' if result.spearman() is None else format(result.spearman(), '+.2f')}", flush=True)
    print(f"report: {args.report}, plot: {args.plot}", flush=True)
    if failed:
        raise SystemExit(f"train.py failed for {failed}; see its output above.")


if __name__ == "__main__":
    main()
