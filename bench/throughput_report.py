"""The Markdown tables of `bench/throughput.py`'s results, and the arithmetic behind them."""

import statistics

from cpu_load import BUSY_SHARE

MODES = ("train", "infer")
TRAIN_FLOPS_PER_FORWARD = 3  # forward, plus gradients w.r.t. activations and weights
# The contenders that are builder defaults under a mixed-precision policy, and their half type.
HALF_DTYPES = {"ours_bf16": "bfloat16", "ours_fp16": "float16"}
LABELS = {"ours": "ours", "ours_stock_bn": "ours, Keras' BN", "ours_bf16": "ours, mixed_bfloat16",
          "ours_fp16": "ours, mixed_float16",
          "keras": "keras.applications", "torch": "torch", "torch_compile": "torch.compile"}


def achieved_flops(forward_flops, images_per_second, mode):
    """FLOP/s achieved by `mode` ("train": a step costs ~3 forwards; "infer": one)."""
    return forward_flops * images_per_second * (TRAIN_FLOPS_PER_FORWARD if mode == "train" else 1)


def matmul_flops_per_second(n, seconds):
    """FLOP/s of one n x n by n x n matmul (n^3 multiply-adds) done in `seconds`."""
    return 2 * n**3 / seconds


def share_of_peak(achieved, peak):
    return achieved / peak


def images_per_second(batch_size, steps, seconds):
    return [batch_size * steps / s for s in seconds]


def spread(values):
    return statistics.median(values), min(values), max(values)


def run_label(run):
    return LABELS[run["framework"]] + ("" if run["jit"] == "-" else f", jit {run['jit']}")


def _run(model, framework, jit="-"):
    """The run of `framework` (at `jit`; torch's are jit "-") in a model record, or None."""
    return next((r for r in model["runs"] if r["framework"] == framework and r["jit"] in (jit, "-")), None)


def throughput_cell(run, mode):
    if run is None:
        return "-"
    if "skipped" in run:
        return run["skipped"]
    return "{:,.1f} ({:,.1f}-{:,.1f})".format(*spread(run["img_s"][mode]))


def ratio_cell(ours, theirs, mode):
    if not ours or not theirs or "skipped" in ours or "skipped" in theirs:
        return ""
    return f"{statistics.median(ours['img_s'][mode]) / statistics.median(theirs['img_s'][mode]):.2f}"


def throughput_table(section, reference=None):
    """Table 1 of `section`; with `reference` (a TensorFlow section), ours / ours-TF (jit off) too."""
    jit_label = {"off": "off", "on": "on (jax.jit)" if section["backend"] == "jax" else "on (XLA)"}
    header = ["model (batch)", "mode", "jit", "ours img/s", "ours, Keras' BN img/s", "ours / Keras' BN",
              "keras.applications img/s", "ours / keras", "torch img/s", "ours / torch", "torch.compile img/s",
              "ours / torch.compile", "ours, mixed_bfloat16 img/s", "bfloat16 / keras", "bfloat16 / ours",
              "ours, mixed_float16 img/s", "float16 / ours"]
    if reference:
        header.append("ours / ours TF (jit off)")
    rows = [header, ["---"] * len(header)]
    for model in section["models"]:
        tf_model = next((m for m in (reference or {}).get("models", ()) if m["model"] == model["model"]), None)
        for mode in MODES:
            for jit in section["jits"]:
                ours, stock, bf16, fp16, keras_run = (
                    _run(model, f, jit) for f in ("ours", "ours_stock_bn", "ours_bf16", "ours_fp16", "keras"))
                torch_run, compiled = _run(model, "torch"), _run(model, "torch_compile")
                row = [f"{model['model']} ({model['batch_size']})", mode, jit_label[jit],
                       throughput_cell(ours, mode), throughput_cell(stock, mode), ratio_cell(ours, stock, mode),
                       throughput_cell(keras_run, mode), ratio_cell(ours, keras_run, mode),
                       throughput_cell(torch_run, mode), ratio_cell(ours, torch_run, mode),
                       throughput_cell(compiled, mode), ratio_cell(ours, compiled, mode),
                       throughput_cell(bf16, mode), ratio_cell(bf16, keras_run, mode), ratio_cell(bf16, ours, mode),
                       throughput_cell(fp16, mode), ratio_cell(fp16, ours, mode)]
                if reference:
                    row.append(ratio_cell(ours, tf_model and _run(tf_model, "ours", "off"), mode))
                rows.append(row)
    return _markdown(rows)


def flops_table(section):
    """Table 2 of `section`: achieved FLOP/s and their share of the framework's matmul peak."""
    backend, peaks = section["backend"], section["peaks"]
    peak_of = {"ours": backend, "ours_stock_bn": backend, "keras": backend, "torch": "torch", "torch_compile": "torch"}
    for framework, half in HALF_DTYPES.items():  # their own type's peak, if measured
        peak_of[framework] = f"{backend}_{half}" if f"{backend}_{half}" in peaks else backend
    rows = [["model", "run", "forward GFLOPs/img", "training GFLOP/s", "training share of peak",
             "inference GFLOP/s", "inference share of peak", "matmul peak GFLOP/s"], ["---"] * 8]
    for model in section["models"]:
        flops = model["forward_flops"].get("ours") or next(iter(model["forward_flops"].values()), None)
        for run in model["runs"]:
            if "skipped" in run or flops is None:
                continue
            label = run_label(run)
            peak = section["peaks"].get(peak_of[run["framework"]])
            cells = [model["model"], label, f"{flops / 1e9:.3f}"]
            for mode in MODES:
                achieved = achieved_flops(flops, statistics.median(run["img_s"][mode]), mode)
                cells += [f"{achieved / 1e9:,.1f}",
                          f"{100 * share_of_peak(achieved, peak['best'] * 1e9):.1f}%" if peak else "no peak"]
            cells.append(f"{peak['best']:,.1f} ({peak_of[run['framework']]})" if peak else "-")
            rows.append(cells)
    return _markdown(rows)


def params_table(section):
    rows = [["model", "input", "trainable params: ours", "keras.applications", "torch reference",
             "forward GFLOPs/img: ours", "torch reference", "same architecture"], ["---"] * 8]
    for model in section["models"]:
        params, flops = model["params"], model["forward_flops"]
        check = "-"
        if "torch" in params and "ours" in params:
            dp, df = params["torch"] - params["ours"], flops["torch"] - flops["ours"]
            check = ("yes: equal parameters and FLOPs" if dp == df == 0 else
                     f"NO: torch differs by {dp:+,} parameters and {df:+,} FLOPs, so its ratios compare different nets")
        rows.append([model["model"], "x".join(map(str, model["input_shape"])),
                     *(f"{params[k]:,}" if k in params else "-" for k in ("ours", "keras", "torch")),
                     *(f"{flops[k] / 1e9:.3f}" if k in flops else "-" for k in ("ours", "torch")), check])
    return _markdown(rows)


def _markdown(rows):
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def report(result):
    """The Markdown tables of a merged `result`."""
    settings, info = result["settings"], result["machine"]
    lines = [f"# Throughput: {info['cpu']}, {info['cores']} CPUs (load average {info['load_average_start'][0]:.1f} "
             f"at start, {info['load_average_end'][0]:.1f} at end)\n",
             f"{', '.join(f'{k} {v}' for k, v in result['versions'].items())}; "
             f"TF_ENABLE_ONEDNN_OPTS={info.get('tf_enable_onednn_opts')}; median (min-max) img/s over "
             f"{settings['repeats']} rounds of {settings['steps']} steps after {settings['warmup']} warm-up steps; "
             f"{result['seconds']:.0f} s in all.\n"]
    others = info.get("other_processes_cpu_share")
    if others is not None:  # measured over the run (bench/cpu_load.py)
        if others > BUSY_SHARE:
            lines.append(f"**Other processes used {others:.0%} of the CPUs during this run: these numbers measure "
                         "the contention, not the frameworks.**\n")
        else:
            lines.append(f"Other processes used {others:.1%} of the CPUs during the run.\n")
    steal = info.get("steal_cpu_share")
    if steal is not None and steal > BUSY_SHARE:  # a shared VM's host ran other guests (bench/cpu_load.py)
        lines.append(f"**The hypervisor took {steal:.0%} of the CPUs' time (steal) during this run: these numbers "
                     "measure a shared host, not the frameworks.**\n")
    elif steal is not None:
        lines.append(f"The hypervisor took {steal:.1%} of the CPUs' time (steal) during the run.\n")
    if others is None and info["load_average_start"][0] > info["cores"] / 2:  # a run from before that measure
        lines.append(f"**The machine was busy when this run started (load average {info['load_average_start'][0]:.1f} "
                     f"on {info['cores']} CPUs): these numbers measure the contention, not the frameworks.**\n")
    tensorflow = next((s for s in result["sections"] if s.get("backend") == "tensorflow" and "models" in s), None)
    with_models = [s for s in result["sections"] if "models" in s]
    if with_models:
        lines += ["## Same architecture: trainable parameters and forward FLOPs\n", params_table(with_models[0]), ""]
    for section in result["sections"]:
        title = f"## {section['backend']} backend, {section['device'].upper()}"
        if "skipped" in section:
            lines += [f"{title}\n", f"{section['skipped']}.\n"]
            continue
        peaks = ", ".join(f"{k} {v['best']:,.1f}" for k, v in section["peaks"].items())
        dtype = "bfloat16" if section["device"] == "gpu" else "float32"
        cross_backend = section["backend"] != "tensorflow" and section["device"] == "cpu"
        notes = section["notes"] + (["ours / ours TF compares with the TensorFlow section's run (an earlier "
                                     "process on the same machine)."] if cross_backend and tensorflow else [])
        lines += [f"{title} ({section['precision']})\n", *(f"{note}\n" for note in notes),
                  "(1) Throughput, img/s\n", throughput_table(section, tensorflow if cross_backend else None), "",
                  f"(2) FLOP/s (training step = {TRAIN_FLOPS_PER_FORWARD}x forward); {dtype} matmul peak, best of "
                  f"{settings['matmul_repeats']}, GFLOP/s: {peaks}\n",
                  flops_table(section), ""]
    return "\n".join(lines)
