"""The zoo's command line.

    python -m keras_resnetv2.zoo list                       # the entries, one per line
    python -m keras_resnetv2.zoo show resnet20v2.fashion_mnist
    python -m keras_resnetv2.zoo verify [NAME]              # sha256 and parameter count
    python -m keras_resnetv2.zoo evaluate NAME              # raw-pixel test accuracy vs the manifest
    python -m keras_resnetv2.zoo speed NAME [--record]      # inference img/s here (into the card)
    python -m keras_resnetv2.zoo speed NAME --dtype_policy=mixed_bfloat16   # the same in bfloat16
    python -m keras_resnetv2.zoo export RUN_DIR [RUN_DIR...] --tag=fashion_mnist
    python -m keras_resnetv2.zoo cards                      # regenerate cards + README table

The entries are the bundled zoo's plus those of `$KERAS_RESNETV2_ZOO_DIR` (which win
on a shared name); `export` and `cards` write to `$KERAS_RESNETV2_ZOO_DIR`, or to a
source checkout's zoo/, never into an installed package.

Exit status 0 when every check holds, 1 otherwise (and on bad input, with the reason).
"""

import argparse
import json
import sys

import keras

from keras_resnetv2.models import variants
from keras_resnetv2.training.precision import AUTO, PRECISIONS
from keras_resnetv2.weights import manifest, registry
from keras_resnetv2.zoo import cards
from keras_resnetv2.zoo.evaluation import evaluate
from keras_resnetv2.zoo.export import export_runs
from keras_resnetv2.zoo.speed import measure_inference

# Largest |evaluated - recorded| test accuracy `evaluate` accepts: 0.1 point.
TOLERANCE = 0.001
# Keras dtype policies `evaluate` and `speed` build the entry under (the weights stay float32):
# train.py's precisions, less `auto`, which is a rule for training.
DTYPE_POLICIES = tuple(p for p in PRECISIONS if p != AUTO)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m keras_resnetv2.zoo", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="List the entries.")
    show = commands.add_parser("show", help="Print an entry of the manifest.")
    show.add_argument("name", help="An entry, ARCHITECTURE.TAG (e.g. resnet20v2.fashion_mnist).")
    verify = commands.add_parser("verify", help="Check the files' sha256 and the built models' parameters.")
    verify.add_argument("name", nargs="?", help="An entry, ARCHITECTURE.TAG (default: every entry).")
    evaluate = commands.add_parser(
        "evaluate", help="Recompute an entry's test accuracy: raw test images into the model its tag builds.")
    evaluate.add_argument("name", help="An entry, ARCHITECTURE.TAG.")
    evaluate.add_argument("--data_dir", help="The dataset's folder (default: the usual place).")
    evaluate.add_argument("--tolerance", type=float, default=TOLERANCE, help="Accepted difference (fraction).")
    speed = commands.add_parser(
        "speed", help="Time the entry's predict_on_batch on this machine, as its tag builds it.")
    speed.add_argument("name", help="An entry, ARCHITECTURE.TAG.")
    speed.add_argument("--batch_size", type=int, default=128, help="Images per predict_on_batch call.")
    speed.add_argument("--rounds", type=int, default=5, help="Timed rounds; the median is reported.")
    speed.add_argument("--record", action="store_true",
                       help="Write the figure into the entry's manifest record and card (a writable zoo only; "
                       "float32 only).")
    for command in (evaluate, speed):
        command.add_argument("--dtype_policy", choices=DTYPE_POLICIES, default="float32",
                             help="Keras dtype policy to build the model under (default: float32).")
    export = commands.add_parser("export", help="Make an entry of finished train.py runs (one per seed).")
    export.add_argument("run_dirs", nargs="+", help="--model_dir of each finished run, one per seed.")
    export.add_argument("--tag", required=True, help="The entry's tag, e.g. fashion_mnist (its weights= name).")
    export.add_argument("--url", action="append", help="Where the weights file is really hosted (repeatable).")
    export.add_argument("--data_dir", help="The dataset's folder for the card's evaluation (default: the usual place).")
    export.add_argument("--readme", help="README.md whose zoo table to regenerate (default: the checkout's).")
    commands.add_parser("cards", help="Regenerate the model cards and the README's zoo table.")
    args = parser.parse_args(argv)
    policy = keras.config.dtype_policy()
    try:
        if getattr(args, "dtype_policy", None):  # evaluate and speed
            keras.config.set_dtype_policy(args.dtype_policy)
        return COMMANDS[args.command](args)
    except (ValueError, OSError) as error:
        print(f"python -m keras_resnetv2.zoo {args.command}: error: {error}", file=sys.stderr)
        return 1
    finally:  # main() is also called in-process (tests, notebooks): the caller's policy back
        keras.config.set_dtype_policy(policy)


def _list(args):
    user = manifest.user_dir()
    bundled = manifest.entries(manifest.bundled_dir())
    for name, entry in manifest.entries().items():
        metrics = entry["metrics"]
        origin = ""
        if user and manifest.source_of(name) == user:
            origin = f"  [{manifest.ZOO_DIR_VARIABLE}{', replaces the bundled entry' if name in bundled else ''}]"
        print(f"{name:32} {entry['builder']}(weights={entry['tag']!r})  {entry['dataset']['name']}  "
              f"test accuracy {100 * metrics['test_accuracy']:.2f}%  {metrics['epochs']} epochs  "
              f"{entry['parameters']['total']:,} parameters  {entry['file']['size'] / 2**20:.1f} MiB{origin}")
    return 0


def _show(args):
    print(json.dumps(manifest.get_entry(args.name), indent=2))
    print(f"card: {manifest.entry_folder(manifest.get_entry(args.name)) / 'README.md'}")
    return 0


def _verify(args):
    names = [args.name] if args.name else list(manifest.entries())
    failures = 0
    for name in names:
        entry = manifest.get_entry(name)
        try:
            path = registry.zoo_file(entry)
            model = variants.build(entry["builder"], weights=entry["tag"])
            if model.count_params() != entry["parameters"]["total"]:
                raise ValueError(f"{model.count_params():,} parameters, the manifest says {entry['parameters']['total']:,}")
            print(f"OK    {name}: sha256 {entry['file']['sha256'][:12]}... ({path}), "
                  f"{entry['parameters']['total']:,} parameters")
        except (ValueError, OSError) as error:
            failures += 1
            print(f"FAIL  {name}: {error}")
    return 1 if failures else 0


def _evaluate(args):
    entry = manifest.get_entry(args.name)
    result = evaluate(args.name, data_dir=args.data_dir, progress=True)
    recorded = entry["metrics"]["test_accuracy"]
    ok = abs(result.accuracy - recorded) <= args.tolerance
    policy = "" if args.dtype_policy == "float32" else f" under {args.dtype_policy}"
    print(f"{'OK' if ok else 'FAIL'}  {args.name}: test accuracy {100 * result.accuracy:.2f}% on "
          f"{result.examples:,} raw images{policy}; manifest {100 * recorded:.2f}% (tolerance "
          f"{100 * args.tolerance:.2f} point)")
    return 0 if ok else 1


def _speed(args):
    if args.record and args.dtype_policy != "float32":
        raise ValueError(f"--record writes the card's float32 figure; received --dtype_policy={args.dtype_policy}")
    entry = manifest.get_entry(args.name)
    model = variants.build(entry["builder"], weights=entry["tag"])
    speed = measure_inference(model, batch_size=args.batch_size, rounds=args.rounds)
    print(f"{args.name}: {speed}" + ("" if args.dtype_policy == "float32" else f", {args.dtype_policy}"))
    if args.record:
        folder = manifest.zoo_dir()
        current = manifest.read_manifest(folder)
        if args.name not in current["entries"]:
            raise ValueError(f"{args.name} is not an entry of the writable zoo {folder} (from "
                             f"{manifest.source_of(args.name)}): --record writes only there.")
        current["entries"][args.name]["inference"] = speed.to_dict()
        manifest.write_manifest(current, folder)
        cards.write_card(current["entries"][args.name], folder)
        print(f"recorded in {folder}/manifest.json and the card")
    return 0


def _export(args):
    folder = manifest.zoo_dir()
    entry = export_runs(args.run_dirs, args.tag, zoo_folder=folder, urls=args.url, data_dir=args.data_dir,
                        readme=args.readme or cards.checkout_readme(folder), progress=True)
    print(f"exported {manifest.entry_name(entry)}: test accuracy {100 * entry['metrics']['test_accuracy']:.2f}% "
          f"-> {manifest.entry_folder(entry, folder)}")
    return 0


def _cards(args):
    folder = manifest.zoo_dir()
    entries = manifest.entries(folder)
    for entry in entries.values():
        cards.write_card(entry, folder)
    readme = cards.checkout_readme(folder)
    if readme:
        cards.update_readme(readme, entries)
    print(f"wrote {len(entries)} card(s)" + (f" and the table of {readme}" if readme else ""))
    return 0


COMMANDS = {"list": _list, "show": _show, "verify": _verify, "evaluate": _evaluate, "speed": _speed,
            "export": _export, "cards": _cards}

if __name__ == "__main__":
    sys.exit(main())
