"""The deep-zoo training campaign: ResNet-164V2 and ResNet-164 on Fashion-MNIST, with the seed noise.

    python bench/deep_zoo.py run       # starts or resumes the whole campaign (blocking)
    python bench/deep_zoo.py status    # where each run stands: epoch, accuracy so far, ETA
    python bench/deep_zoo.py report    # REPRODUCTION.md's depth section and its plot, from the runs so far
    make campaign / make campaign-status   # the same, run in the background under nice

The campaign is a queue of train.py runs (`PLAN`), each in its own `--model_dir`
under `--out` (default `runs/deep_zoo`). `run` trains them in order; a run whose
`metrics.json` exists is done and skipped, and an unfinished one resumes from its
last per-epoch backup (train.py's own resume), so the same command continues the
campaign after a kill, a reboot or the end of a session.

A finished run's record (its flags and metrics.json: final test metrics and the
per-epoch history) is also copied into `--archive` (default `bench/results/deep_zoo/`,
committed), and a run with an archived record of the same flags counts as done. So
finished runs outlive the machine: `runs/` (backups and TensorBoard logs, up to a
few tens of MB a run) is not committed, and a new machine without it only retrains
the unfinished runs. The pair's runs (`keep_weights`) also archive their final
weights with config.json and metrics.json in `bench/results/deep_zoo/NAME/`, a folder
`python -m keras_resnetv2.zoo export` takes: a run that finishes late in a session
reaches the zoo even if the machine is gone the next day (the export copies the file
byte for byte, so git keeps one blob for both). The other runs' weights are not
archived. One campaign at a time:
`run` refuses to start while `campaign.lock` is held (an OS lock that the campaign
and the training it runs hold, released when both end, kill -9 included) or while
`campaign.pid` names a live campaign (one started before the lock existed). A run that fails
(diverges, crashes) stops the campaign with its exit code in the log; `status`
shows it, and warns of a run that trains but learns nothing (training accuracy
near chance) or whose training loss climbs back up (`health`).

Every run evaluates the test set after each epoch (`--test_every_epoch`) for the
curves and the status line; the accuracy a run reports, and the zoo exports, is
its final epoch's, never the best.

The recipe (`RECIPE_FLAGS`) and why it departs from the paper's CIFAR recipe: see
the model cards and REPRODUCTION.md. In short: the paper's 164 epochs of a 164-layer
net would cost about 50 hours each on a 2-core AVX2 CPU (an epoch of ResNet-164V2
took 1,030-1,300 s there), so the schedule is a cosine decay over `EPOCHS` epochs (train.py's
`budget` recipe: Nesterov SGD, lr 0.1, linear warm-up), with Random Erasing and label
smoothing as regularizers for the short schedule, and weight decay 5e-4, chosen from
the ResNet-20V2 pilots in REPRODUCTION.md. The depth-56 runs (seed noise, stochastic
depth) take the same recipe over `SHORT_EPOCHS` epochs, 25-36 minutes each there. The
zoo's ResNet-164V2 takes it over `LONG_EPOCHS`, then a second, shorter cosine cycle from
that run's archived final weights (`RESTART_*`, train.py's `--init_weights`: a warm restart),
then over `LONGEST_EPOCHS` from scratch.

A quick check of the script itself (tiny nets, numbers meaningless; what the tests run):

    python bench/deep_zoo.py run --out /tmp/dz --plan '[{"name": "a", "flags": ["--model=ResNet20V2",
        "--train_subset=256", "--epochs=2", "--batch_size=64", "--warmup_steps=1",
        "--spec_options={\\"stage_widths\\": [4, 8, 16], \\"stem_width\\": 4}"]}]'
"""

import argparse
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join("runs", "deep_zoo")
DEFAULT_ARCHIVE = os.path.join(REPO_ROOT, "bench", "results", "deep_zoo")
PID_FILE = "campaign.pid"
LOCK_FILE = "campaign.lock"
LOG_FILE = "campaign.log"

EPOCHS = 15
SHORT_EPOCHS = 4
# ResNet-164V2 ended at 94.38% after EPOCHS, under-trained (its training loss still falling):
# the same recipe over LONG_EPOCHS, for the zoo entry's 95.3% target.
LONG_EPOCHS = 40
# ... which ended at 95.22%, 0.08 point short, still fitting better at every epoch: a second
# cosine cycle from its final weights (a warm restart, Loshchilov & Hutter's SGDR), at a
# fifth of the first cycle's peak (its learning rate 28 epochs into 40), over RESTART_EPOCHS.
# The path is the archived weights, relative to the repository root, where the campaign runs.
RESTART_EPOCHS = 10
RESTART_LEARNING_RATE = 0.02
RESTART_FROM = f"bench/results/deep_zoo/resnet164v2_e{LONG_EPOCHS}/model.weights.h5"
# ... which ended at 95.22% too (its test accuracy plateaued with its training loss): the
# restart added nothing that the first cycle's end had not. Next, one cycle of the same recipe
# over LONGEST_EPOCHS from scratch (15 -> 40 epochs gained 0.84 point; a longer cosine cycle,
# not a second short one). Decided before it runs: its final weights replace the zoo entry.
LONGEST_EPOCHS = 80
# float32 pinned (train.py's default, `auto`, picks bfloat16 on AMX CPUs): every run of the
# campaign computes alike on whichever machine a session resumes it. The records archived
# before the pin ran in float32 (their config.json), and their flags say so.
DROP_PATH_RATE = 0.1
RECIPE_FLAGS = [
    "--dataset=fashion_mnist", "--recipe=budget", f"--epochs={EPOCHS}", "--batch_size=128",
    "--weight_decay=5e-4", "--random_erasing=0.5", "--label_smoothing=0.1", "--seed=0",
    "--test_every_epoch", "--verbose=2", "--precision=float32",
]
ROLES = ("drop_path", "noise", "pair", "zoo")
# What a `keep_weights` run archives besides its record: a folder `zoo export` takes.
KEPT_FILES = ("config.json", "metrics.json", "model.weights.h5")


def _with(flags, **changes):
    """`flags` with `--name=value` replaced (or added) for each of `changes`."""
    out = [f for f in flags if f.split("=")[0].lstrip("-") not in changes]
    return out + [f"--{name}={value}" for name, value in changes.items()]


def _depth56(name, model, seed, role, **changes):
    flags = [f"--model={model}", "--depth=56"] + _with(RECIPE_FLAGS, epochs=SHORT_EPOCHS, seed=seed, **changes)
    return {"name": f"{name}_seed{seed}", "role": role, "flags": flags}


# The queue, in order: the seed noise of both units at depth 56, three seeds each,
# alternating the units so that any prefix compares them (`noise`; each run fits in a
# session and is archived when it finishes); then the zoo pair (`pair`: same recipe,
# seed and epochs; several sessions each); then ResNet-164V2 over LONG_EPOCHS for the
# zoo (`zoo`: outside the comparison, whose pair keeps one epoch count; ahead of the
# re-runs below because the zoo's 95.3% target waits on it and they wait on nothing),
# and its warm restart;
# then ResNet-56V2 with stochastic depth, seeds 0 and 1, beside the noise runs of the
# same seeds (`drop_path`: re-runs of records lost with a machine); last, the zoo's
# ResNet-164V2 over LONGEST_EPOCHS, queued after the restart fell short.
PLAN = [
    _depth56(name, model, seed, "noise")
    for seed in (0, 1, 2)
    for name, model in (("resnet56v2", "ResNet20V2"), ("resnet56", "ResNet20"))
] + [
    {"name": "resnet164v2", "role": "pair", "keep_weights": True, "flags": ["--model=ResNet164V2"] + RECIPE_FLAGS},
    {"name": "resnet164", "role": "pair", "keep_weights": True, "flags": ["--model=ResNet164"] + RECIPE_FLAGS},
] + [
    {"name": f"resnet164v2_e{LONG_EPOCHS}", "role": "zoo", "keep_weights": True,
     "flags": ["--model=ResNet164V2"] + _with(RECIPE_FLAGS, epochs=LONG_EPOCHS)},
    {"name": f"resnet164v2_e{LONG_EPOCHS}_restart{RESTART_EPOCHS}", "role": "zoo", "keep_weights": True,
     "flags": ["--model=ResNet164V2"] + _with(RECIPE_FLAGS, epochs=RESTART_EPOCHS,
                                              learning_rate=RESTART_LEARNING_RATE, init_weights=RESTART_FROM)},
] + [
    _depth56("resnet56v2_drop_path", "ResNet20V2", seed, "drop_path", drop_path_rate=DROP_PATH_RATE)
    for seed in (0, 1)
] + [
    {"name": f"resnet164v2_e{LONGEST_EPOCHS}", "role": "zoo", "keep_weights": True,
     "flags": ["--model=ResNet164V2"] + _with(RECIPE_FLAGS, epochs=LONGEST_EPOCHS)},
]


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def _flag(flags, name, default=None):
    for f in flags:
        if f.startswith(f"--{name}="):
            return f.split("=", 1)[1]
    return default


def same_flags(a, b):
    """Whether the flag lists `a` and `b` ask train.py for the same run: absl reads flags in
    any order, so order does not count (a flag given twice does: the last one wins)."""
    def by_name(flags):
        return {f.split("=", 1)[0]: f for f in flags}
    return by_name(a) == by_name(b)


def archived_metrics(archive, entry):
    """The metrics of `entry` archived in `archive`, or None (none, another run's flags, or
    a `keep_weights` run whose weights are not archived)."""
    if archive is None:
        return None
    record = _read_json(os.path.join(archive, f"{entry['name']}.json"))
    if record is None or not same_flags(record.get("flags", []), entry["flags"]):
        return None
    if entry.get("keep_weights") and not all(
        os.path.isfile(os.path.join(archive, entry["name"], f)) for f in KEPT_FILES
    ):
        return None
    return record["metrics"]


def archive_run(out, archive, entry):
    """Copies the finished run `entry`'s flags and metrics.json into `archive/NAME.json`, and
    for a `keep_weights` entry its `KEPT_FILES` into `archive/NAME/` (each written, then
    renamed; the folder before the record)."""
    run_dir = os.path.join(out, entry["name"])
    metrics = _read_json(os.path.join(run_dir, "metrics.json"))
    if metrics is None:
        raise FileNotFoundError(f"{entry['name']} has no metrics.json in {out}: it has not finished")
    config = _read_json(os.path.join(run_dir, "config.json")) or {}
    record = {"name": entry["name"], "role": entry.get("role", "noise"), "flags": list(entry["flags"]),
              "versions": config.get("versions"), "metrics": metrics}
    os.makedirs(archive, exist_ok=True)
    if entry.get("keep_weights"):
        kept = os.path.join(archive, entry["name"])
        os.makedirs(kept, exist_ok=True)
        for name in KEPT_FILES:
            target = os.path.join(kept, name)
            shutil.copyfile(os.path.join(run_dir, name), target + ".tmp")
            os.replace(target + ".tmp", target)
        record["run_dir"] = entry["name"]
    path = os.path.join(archive, f"{entry['name']}.json")
    # Not keras_resnetv2.utils.files.atomic_write_text: importing the package loads TensorFlow into
    # this long-lived process, beside the train.py it waits for.
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(json.dumps(record, indent=1) + "\n")
    os.replace(path + ".tmp", path)
    return path


def run_state(out, entry, archive=None):
    """A dict describing where the run `entry` of the campaign in `out` stands; a run
    archived in `archive` with the same flags is done, whatever `out` holds."""
    model_dir = os.path.join(out, entry["name"])
    epochs = int(_flag(entry["flags"], "epochs", 0))
    metrics = _read_json(os.path.join(model_dir, "metrics.json"))
    if metrics is None:
        metrics = archived_metrics(archive, entry)
    if metrics is not None:
        history = metrics["history"]
        return {
            "name": entry["name"], "state": "done", "epoch": metrics["epochs"], "epochs": epochs,
            "test_accuracy": metrics["test"]["accuracy"], "epoch_time_s": _median_epoch_time(history),
            "history": history, "remaining_s": 0.0,
        }
    backup = _read_json(os.path.join(model_dir, "backup", "state.json"))
    history = backup["history"] if backup else []
    epoch = backup["epoch"] if backup else 0
    last = history[-1] if history else {}
    epoch_time = _median_epoch_time(history)
    return {
        "name": entry["name"], "state": "started" if backup else "pending", "epoch": epoch, "epochs": epochs,
        "test_accuracy": last.get("test_accuracy"), "train_accuracy": last.get("accuracy"),
        "epoch_time_s": epoch_time, "history": history,
        "remaining_s": None if epoch_time is None else (epochs - epoch) * epoch_time,
    }


# `health` flags a run whose training accuracy stays under this multiple of chance after
# its first epoch (learning nothing), or whose training cross-entropy (the epoch's mean)
# rises this fraction above its lowest so far (diverging). Not the test accuracy: near
# the peak learning rate it swings by several points from one epoch to the next in
# healthy runs (resnet56_seed1: 83.9% then 77.6%, while training accuracy rose 66.7 -> 82.5%).
NEAR_CHANCE = 2.0
LOSS_RISE = 0.10


def health(history, classes):
    """What looks wrong with a run from its per-epoch `history` (a message), or None."""
    if not history:
        return None
    last = history[-1]
    chance = 1.0 / classes if classes else None
    if chance and last.get("accuracy") is not None and last["accuracy"] < NEAR_CHANCE * chance:
        return (f"training accuracy {last['accuracy']:.4f} after epoch {last['epoch']}, under {NEAR_CHANCE:g}x "
                f"chance ({chance:.2f}): is it learning?")
    losses = [h["cross_entropy"] for h in history if h.get("cross_entropy") is not None]
    if len(losses) >= 2 and losses[-1] > (1 + LOSS_RISE) * min(losses[:-1]):
        return (f"training cross-entropy {losses[-1]:.4f} after epoch {last['epoch']}, "
                f"{100 * (losses[-1] / min(losses[:-1]) - 1):.0f}% above its lowest ({min(losses[:-1]):.4f}): "
                "diverging?")
    return None


def _median_epoch_time(history):
    """The median epoch time, leaving out the run's first epoch when others exist: it
    includes tracing, and a fresh start's data loading."""
    times = [h["epoch_time_s"] for h in history if "epoch_time_s" in h]
    times = sorted(times[1:] if len(times) > 1 else times)
    return times[len(times) // 2] if times else None


def _eta(seconds):
    if seconds is None:
        return "?"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m"


def campaign_pid(out):
    """The pid of the campaign running on `out`, or None: the pid `campaign.pid` records, if
    that process lives and (where /proc tells) runs this script, not a reused pid."""
    pid = _recorded_pid(out)
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command_line = f.read()
    except OSError:
        command_line = b""  # no /proc: trust the live pid
    if command_line and b"deep_zoo" not in command_line:  # empty while a process starts: trust it
        return None
    return pid


def _recorded_pid(out):
    try:
        with open(os.path.join(out, PID_FILE), encoding="utf-8") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def campaign_running(out):
    """Whether a campaign runs on `out`: a live pid in `campaign.pid`, or its lock held."""
    return campaign_pid(out) is not None or lock_held(out)


def lock_held(out):
    """Whether a campaign (or a training it started) holds `campaign.lock` on `out`."""
    path = os.path.join(out, LOCK_FILE)
    if not os.path.exists(path):
        return False
    with open(path, "a") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(probe, fcntl.LOCK_UN)
        return False


def status(out, plan, archive=None):
    """Prints one line per run of the campaign, and the campaign's total ETA."""
    pid = campaign_pid(out)
    running = f"running (pid {pid})" if pid else "running (its lock is held)" if lock_held(out) else "not running"
    print(f"campaign in {out}: {running}")
    print(f"{'run':<28} {'state':<8} {'epoch':>7} {'test acc':>9} {'train acc':>9} {'s/epoch':>8} {'ETA':>7}")
    total, spent, unknown = 0.0, 0.0, False
    rates, warnings = {}, []
    for entry in plan:
        state = run_state(out, entry, archive)
        spent += sum(h.get("epoch_time_s", 0.0) for h in state["history"])
        config = _read_json(os.path.join(out, entry["name"], "config.json")) or {}
        warning = health(state["history"], config.get("classes"))
        if warning:
            warnings.append((entry["name"], warning))
        # The net's cost: both units of a depth have the same convolutions and FLOPs, so a
        # pending ResNet164 takes its ETA from a timed ResNet164V2.
        model = _flag(entry["flags"], "model", "").removesuffix("V2") + _flag(entry["flags"], "depth", "")
        if state["epoch_time_s"]:  # the latest timed run of the net: the machine's load now
            rates[model] = state["epoch_time_s"]
        remaining = state["remaining_s"]
        if remaining is None and model in rates:  # a pending run of a net timed before
            remaining = state["epochs"] * rates[model]
        if remaining is None:
            unknown = True
        else:
            total += remaining
        acc = state.get("test_accuracy")
        train = state.get("train_accuracy")
        print(
            f"{entry['name']:<28} {state['state']:<8} {state['epoch']:>3}/{state['epochs']:<3} "
            f"{'-' if acc is None else f'{acc:.4f}':>9} {'-' if train is None else f'{train:.4f}':>9} "
            f"{'-' if state['epoch_time_s'] is None else round(state['epoch_time_s']):>8} {_eta(remaining):>7}"
        )
    print(f"campaign ETA: {_eta(total)}{' + runs not timed yet' if unknown else ''} (at the speed measured so far)")
    cores = os.cpu_count() or 1
    print(f"spent so far: {_eta(spent)} of epoch wall time, finished and backed-up epochs of every run "
          f"(at most {spent * cores / 3600:.1f} CPU-hours at this machine's {cores} cores)")
    for name, warning in warnings:
        print(f"WARNING {name}: {warning}")
    log = os.path.join(out, LOG_FILE)
    if os.path.exists(log):
        with open(log, encoding="utf-8", errors="replace") as f:
            failed = [line.strip() for line in f if line.startswith("FAILED")]
        if failed:
            print(failed[-1])


def run(out, plan, python=sys.executable, archive=None):
    """Trains every unfinished run of `plan` in order, resuming each, and archives each
    finished run in `archive` (None: no archive); returns an exit code."""
    os.makedirs(out, exist_ok=True)
    # Held by this process and the training it runs (`pass_fds`), until both end, kill -9 included.
    lock = open(os.path.join(out, LOCK_FILE), "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        lock.close()
        held = isinstance(error, BlockingIOError)
        reason = "a campaign, or a training it started, holds its lock" if held else f"cannot lock it ({error})"
        print(f"deep_zoo.py: error: {out}: {reason}.", file=sys.stderr)
        return 1
    pid = campaign_pid(out)
    if pid is not None and pid != os.getpid():  # a campaign started by a version without the lock
        lock.close()
        print(f"deep_zoo.py: error: a campaign is already running on {out} (pid {pid}).", file=sys.stderr)
        return 1
    pid_path = os.path.join(out, PID_FILE)
    tmp_path = f"{pid_path}.{os.getpid()}.tmp"
    with open(tmp_path, "w", encoding="utf-8") as f:
        f.write(str(os.getpid()))
    os.replace(tmp_path, pid_path)  # never a half-written pid
    child = None

    def forward(signum, frame):  # a kill of the campaign stops its training too
        if child is not None and child.poll() is None:
            child.send_signal(signum)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, forward)
    try:
        for entry in plan:
            if run_state(out, entry, archive)["state"] == "done":
                if archive is not None and archived_metrics(archive, entry) is None:  # finished before
                    _log(out, f"ARCHIVED {entry['name']}: {archive_run(out, archive, entry)}")
                continue
            model_dir = os.path.join(out, entry["name"])
            command = [python, os.path.join(REPO_ROOT, "train.py")] + entry["flags"] + [f"--model_dir={model_dir}"]
            _log(out, f"START {entry['name']}: {' '.join(command)}")
            child = subprocess.Popen(command, pass_fds=(lock.fileno(),))
            rc = child.wait()
            child = None
            if rc != 0:
                _log(out, f"FAILED {entry['name']}: train.py exited with {rc}; see its output above")
                return rc
            _log(out, f"DONE {entry['name']}: test accuracy {run_state(out, entry)['test_accuracy']:.4f}")
            if archive is not None:
                _log(out, f"ARCHIVED {entry['name']}: {archive_run(out, archive, entry)}")
        _log(out, "campaign complete")
        return 0
    finally:
        if _recorded_pid(out) == os.getpid():
            os.remove(pid_path)
        lock.close()


def _log(out, line):
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}"
    print(line, flush=True)
    with open(os.path.join(out, LOG_FILE), "a", encoding="utf-8") as f:
        f.write(line + "\n")


def comparison_runs(out, plan, archive=None):
    """The campaign's runs as `paper.depth_comparison.Run`s, finished or not, by role:
    `{"pair": [...], "noise": [...], "drop_path": [...], "zoo": [...]}` (a run without a
    role is a noise run)."""
    from keras_resnetv2.paper.depth_comparison import Run  # the status and run commands need no Keras

    runs = {role: [] for role in ROLES}
    for entry in plan:
        state = run_state(out, entry, archive)
        model = _flag(entry["flags"], "model")
        depth = int(_flag(entry["flags"], "depth") or re.search(r"\d+", model).group())  # ResNet164V2 -> 164
        runs[entry.get("role", "noise")].append(Run(
            name=entry["name"], unit="full_preactivation" if model.upper().endswith("V2") else "original",
            depth=depth, seed=int(_flag(entry["flags"], "seed", 0)), epochs=state["epochs"],
            history=tuple(state["history"]), test_accuracy=state["test_accuracy"] if state["state"] == "done" else None,
            drop_path_rate=float(_flag(entry["flags"], "drop_path_rate", 0.0)),
        ))
    return runs


def report(out, plan, *, reproduction="REPRODUCTION.md", plot="bench/results/deep_zoo.png", archive=None):
    """Writes the depth section of `reproduction` and its plot from the runs so far."""
    from keras_resnetv2.paper import depth_comparison, reproduction as report_lib

    runs = comparison_runs(out, plan, archive)
    pair, noise = runs["pair"], runs["noise"]
    drawn = depth_comparison.plot_curves(pair, plot, others=noise)
    commands = ["make campaign          # starts or resumes every run below, in the background",
                "make campaign-status   # where each run stands"]
    commands += [f"python train.py {' '.join(entry['flags'])} --model_dir=runs/deep_zoo/{entry['name']}"
                 for entry in plan]
    relative = os.path.relpath(os.path.abspath(plot), os.path.dirname(os.path.abspath(reproduction)))
    section = depth_comparison.render_section(pair, noise, plot=relative if drawn else None, commands=commands,
                                             drop_path_runs=runs["drop_path"])
    report_lib.write_depth_section(reproduction, section)
    print(section)


def _parse_plan(parser, text):
    """`--plan`'s JSON: a non-empty list of {"name": str, "flags": [str, ...]}."""
    try:
        plan = json.loads(text)
    except json.JSONDecodeError as error:
        parser.error(f"--plan must be JSON ({error}); received {text!r}")
    valid = isinstance(plan, list) and plan and all(
        isinstance(e, dict) and isinstance(e.get("name"), str) and re.fullmatch(r"[\w.-]+", e["name"])
        and e["name"] not in (".", "..")
        and isinstance(e.get("flags"), list) and all(isinstance(f, str) for f in e["flags"])
        for e in plan
    )
    if not valid:
        parser.error('--plan must be a non-empty JSON list of {"name": str, "flags": [str, ...]}, each name '
                     f"a folder name (letters, digits, _ . -); received {text!r}")
    names = [e["name"] for e in plan]
    if len(set(names)) < len(names):
        parser.error(f"--plan's names must be unique (each is a run's folder); received {names}")
    return plan


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["run", "status", "report"])
    parser.add_argument("--reproduction", default="REPRODUCTION.md", help="report: the file to write")
    parser.add_argument("--plot", default=os.path.join("bench", "results", "deep_zoo.png"), help="report: the plot")
    parser.add_argument("--out", default=DEFAULT_OUT, help="folder of the campaign's runs")
    parser.add_argument("--archive", help="folder of the finished runs' records (committed); 'none': no "
                        f"archive; default: {os.path.relpath(DEFAULT_ARCHIVE, REPO_ROOT)} for the built-in "
                        "plan, none for --plan")
    parser.add_argument("--plan", help="JSON list of {name, flags} replacing the built-in plan (tests)")
    args = parser.parse_args(argv)
    plan = PLAN if args.plan is None else _parse_plan(parser, args.plan)
    args.out = os.path.abspath(args.out)
    if args.archive is None:
        args.archive = DEFAULT_ARCHIVE if args.plan is None else "none"
    archive = None if args.archive == "none" else os.path.abspath(args.archive)
    if archive is not None and os.path.exists(archive) and not os.path.isdir(archive):
        parser.error(f"--archive must be a folder (or 'none'); received {args.archive!r}, which is a file")
    if args.command == "status":
        status(args.out, plan, archive)
        return 0
    if args.command == "report":
        report(args.out, plan, reproduction=args.reproduction, plot=args.plot, archive=archive)
        return 0
    return run(args.out, plan, archive=archive)


if __name__ == "__main__":
    sys.exit(main())
