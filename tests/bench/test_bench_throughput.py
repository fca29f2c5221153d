"""bench/throughput.py and its PyTorch reference nets (bench/torch_resnet.py).

The reference nets need torch (`pip install -e .[bench]`); their tests skip without it.
The script's own run works either way: without torch its torch columns say so.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

import keras_resnetv2
from keras_resnetv2.models.flops import count_flops

BENCH = os.path.join(REPO_ROOT, "bench")


def load(name):
    if BENCH not in sys.path:  # the bench scripts import each other, as when run from bench/
        sys.path.insert(0, BENCH)
    module_spec = importlib.util.spec_from_file_location(name, os.path.join(BENCH, f"{name}.py"))
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["ResNet20V2", "ResNet164V2"])
def test_torch_reference_is_our_architecture(name):
    pytest.importorskip("torch", reason="torch is the [bench] extra: pip install -e .[bench]")
    torch_resnet = load("torch_resnet")
    ours = keras_resnetv2.build(name, classes=10)
    reference = torch_resnet.build(name, classes=10)
    assert torch_resnet.trainable_parameters(reference) == sum(int(w.numpy().size) for w in ours.trainable_weights)
    # Parameters do not see strides; FLOPs do.
    assert torch_resnet.forward_flops(reference, (32, 32, 3)) == count_flops(ours)


def test_each_compiled_reference_starts_from_an_empty_dynamo_cache(monkeypatch):
    """Past dynamo's recompile limit a fifth net would run eagerly in the torch.compile column."""
    torch = pytest.importorskip("torch", reason="torch is the [bench] extra: pip install -e .[bench]")
    torch_resnet = load("torch_resnet")
    calls = []
    monkeypatch.setattr(torch.compiler, "reset", lambda: calls.append("reset"))
    monkeypatch.setattr(torch, "compile", lambda net: calls.append("compile") or net)
    for compiled in (True, False):
        torch_resnet.steps("ResNet20V2", batch_size=2, input_shape=(8, 8, 3), classes=10, compiled=compiled)
    assert calls == ["reset", "compile"]


def test_flops_arithmetic():
    throughput, throughput_report = load("throughput"), load("throughput_report")
    assert throughput_report.achieved_flops(2e9, 10.0, "train") == 6e10  # a training step is 3 forwards
    assert throughput_report.achieved_flops(2e9, 10.0, "infer") == 2e10
    assert throughput_report.share_of_peak(6e10, 1.2e11) == 0.5
    assert throughput.matmul_flops_per_second(1000, 0.5) == 4e9  # 2 n^3 FLOPs
    assert throughput.images_per_second(128, 5, [2.0, 4.0]) == [320.0, 160.0]


def test_tables_show_missing_torch_and_ratios():
    throughput, throughput_report = load("throughput"), load("throughput_report")
    run = {"framework": "ours", "jit": "off", "img_s": {"train": [90.0, 100.0, 110.0], "infer": [300.0]}}
    torch_run = {"framework": "torch", "jit": "-", "img_s": {"train": [50.0], "infer": [150.0]}}
    section = {"backend": "tensorflow", "device": "cpu", "jits": ["off"], "peaks": {"tensorflow": {"best": 100.0}},
               "models": [{"model": "ResNet20V2", "batch_size": 8, "forward_flops": {"ours": 1e8}, "runs": [
                   run, {"framework": "torch", "jit": "-", "skipped": throughput.TORCH_MISSING}]}]}
    row = ("| ResNet20V2 (8) | train | off | 100.0 (90.0-110.0) | - |  | - |  | "
           "torch not installed (pip install -e .[bench]) |")
    assert row in throughput_report.throughput_table(section)
    section["models"][0]["runs"][1] = torch_run
    assert "| 100.0 (90.0-110.0) | - |  | - |  | 50.0 (50.0-50.0) | 2.00 |" in throughput_report.throughput_table(section)
    # 1e8 FLOPs x 3 x 100 img/s = 30 GFLOP/s, 30% of a 100 GFLOP/s peak.
    assert "| ResNet20V2 | ours, jit off | 0.100 | 30.0 | 30.0% | 30.0 | 30.0% | 100.0 (tensorflow) |" \
        in throughput_report.flops_table(section)
    # Keras' BN and bfloat16 runs of ours get their own columns: ours / Keras' BN, bfloat16 / ours.
    runs = section["models"][0]["runs"]
    runs.append(dict(run, framework="ours_stock_bn", img_s={"train": [50.0], "infer": [300.0]}))
    runs.append(dict(run, framework="ours_bf16", img_s={"train": [150.0], "infer": [300.0]}))
    runs.append(dict(run, framework="ours_fp16", img_s={"train": [80.0], "infer": [300.0]}))
    table = throughput_report.throughput_table(section)
    assert "| 100.0 (90.0-110.0) | 50.0 (50.0-50.0) | 2.00 | - |" in table
    assert table.splitlines()[2].endswith("| 150.0 (150.0-150.0) |  | 1.50 | 80.0 (80.0-80.0) | 0.80 |")
    # A half-precision row's share of peak is against its own type's peak, where one was measured.
    section["peaks"]["tensorflow_bfloat16"] = {"best": 300.0}
    flops = throughput_report.flops_table(section)
    assert "| ResNet20V2 | ours, mixed_bfloat16, jit off | 0.100 | 45.0 | 15.0% |" in flops
    assert "| ResNet20V2 | ours, mixed_float16, jit off | 0.100 | 24.0 | 24.0% |" in flops


def test_a_model_entry_may_name_its_input_size_and_its_own_batch():
    throughput = load("throughput")
    args = throughput.build_parser().parse_args(
        ["--models", "resnet50v2:64", "ResNet50V2", "--batch_size", "ResNet50V2:64=32", "ResNet50V2=16"])
    settings = throughput.resolve_settings(args)
    assert settings["models"] == ["ResNet50V2:64", "ResNet50V2"]
    assert settings["batch_size"] == {"ResNet50V2:64": 32, "ResNet50V2": 16}
    assert throughput.model_entry("ResNet50V2:64") == ("ResNet50V2", 64)
    assert throughput.model_entry("ResNet20V2") == ("ResNet20V2", 32)
    with pytest.raises(ValueError, match=r"MODEL:SIZE.*Received: --models='ResNet50V2:big'"):
        throughput.model_entry("ResNet50V2:big")
    with pytest.raises(ValueError, match="not in --models"):
        throughput.resolve_settings(throughput.build_parser().parse_args(
            ["--models", "ResNet50V2:64", "--batch_size", "ResNet50V2=16"]))


@pytest.mark.slow  # the bench end to end, every contender (its parts are tested above)
def test_quick_run_writes_tables_and_json(tmp_path, capsys):
    """In-process for TensorFlow's rows; JAX's run in the script's own subprocess."""
    path = tmp_path / "throughput.json"
    load("throughput").main(
        ["--quick", "--models", "ResNet20V2", "--frameworks", "ours", "ours_stock_bn", "ours_bf16", "ours_fp16", "keras", "torch",
         "--backend", "tensorflow", "jax", "--jit", "off", "--steps", "1", "--json", str(path)])
    out = capsys.readouterr().out
    for heading in ("## Same architecture", "## tensorflow backend, CPU", "## jax backend, CPU", "## jax backend, GPU",
                    "(1) Throughput, img/s", "(2) FLOP/s"):
        assert heading in out
    assert "| ResNet20V2 (8) | train | off |" in out and "| ResNet20V2 (8) | infer | on (jax.jit) |" in out
    result = json.loads(path.read_text())
    assert result["machine"]["cores"] == os.cpu_count() and result["versions"]["keras"]
    assert 0.0 <= result["machine"]["other_processes_cpu_share"] <= 1.0
    assert 0.0 <= result["machine"]["steal_cpu_share"] <= 1.0
    cpu = [s for s in result["sections"] if s["device"] == "cpu"]
    assert [s["backend"] for s in cpu] == ["tensorflow", "jax"]
    for section in cpu:
        assert section["peaks"]["numpy"]["best"] > 0
        runs = {r["framework"]: r for r in section["models"][0]["runs"]}
        assert runs["keras"]["skipped"] == "not in keras.applications"
        assert len(runs["ours"]["seconds"]["train"]) == 2 and min(runs["ours"]["img_s"]["infer"]) > 0
        assert min(runs["ours_stock_bn"]["img_s"]["train"]) > 0 and min(runs["ours_bf16"]["img_s"]["train"]) > 0
        assert min(runs["ours_fp16"]["img_s"]["train"]) > 0
        if importlib.util.find_spec("torch") is None:
            assert runs["torch"]["skipped"] == "torch not installed (pip install -e .[bench])"
        else:
            assert min(runs["torch"]["img_s"]["train"]) > 0
            assert "yes: equal parameters and FLOPs" in out


def test_matmul_peaks_are_computed_not_folded():
    """A product of captured constants is folded at trace time: a peak far above NumPy's."""
    throughput = load("throughput")
    peaks = throughput.matmul_peaks("cpu", 512, 2, with_torch=False, half_dtypes=["bfloat16"])
    assert set(peaks) >= {"tensorflow", "numpy", "tensorflow_bfloat16"}
    assert 0 < peaks["tensorflow"]["best"] < 20 * peaks["numpy"]["best"]
    assert peaks["tensorflow_bfloat16"]["dtype"] == "bfloat16" and peaks["tensorflow"]["dtype"] == "float32"
    assert 0 < peaks["tensorflow_bfloat16"]["best"] < 100 * peaks["numpy"]["best"]


@pytest.mark.slow  # the bench end to end
def test_batchnorm_cost_bench_runs_and_checks_the_fused_outputs(tmp_path, capsys):
    path = tmp_path / "batchnorm_cost.json"
    load("batchnorm_cost").main(["--models", "ResNet20V2", "--batch_size", "4", "--steps", "1", "--warmup", "0",
                                 "--repeats", "1", "--matmul_size", "256", "--json", str(path)])
    assert "| ResNet20V2 (4) | 19 |" in capsys.readouterr().out
    result = json.loads(path.read_text())
    row = result["rows"][0]
    assert row["max_abs_difference"] < 1e-4 and set(row["train_img_per_s"]) == {"keras", "fused", "no_bn", "no_bn_no_relu"}
    assert row["relu_layers"] == 19 and result["matmul_peak"]["best"] > 0  # every ReLU layer skipped in the last
    assert result["memory_gb_per_s"] > 0 and 0 < row["bn_floor_s"] and row["bn_input_bytes"] > 0
    assert "| model (batch) |" in (tmp_path / "batchnorm_cost.md").read_text()
    assert "BN floor s/step" in (tmp_path / "batchnorm_cost.md").read_text()


def test_batchnorm_floor_counts_every_batchnorm_input():
    """ResNet-20V2 at 32x32: six BNs on 32x32x16 in stage 1; in stage 2 one on its 32x32x16
    input and five on 16x16x32; stage 3 likewise one on 16x16x32 and five on 8x8x64; the
    final BN on 8x8x64."""
    bench = load("batchnorm_cost")
    model = keras_resnetv2.ResNet20V2(weights=None)
    per_image = 7 * 32 * 32 * 16 + 6 * 16 * 16 * 32 + 6 * 8 * 8 * 64
    assert bench.batchnorm_input_bytes(model, 2) == 2 * 4 * per_image
    assert bench.memory_bandwidth(nbytes=2**20, repeats=1) > 0


def test_batchnorm_cost_bench_refuses_a_non_positive_count(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load("batchnorm_cost").main(["--steps", "0"])
    assert exit_info.value.code == 2 and "--steps must be at least 1; received 0" in capsys.readouterr().err


def verbose_line(kind, direction, problem, ms):
    return f"onednn_verbose,v1,primitive,exec,cpu,{kind},jit:avx512_core,{direction},src:f32::blocked:acdb::f0,,,{problem},{ms}"


def test_onednn_breakdown_parses_steps_and_prepadded_convs():
    breakdown = load("onednn_breakdown")
    stem = verbose_line("convolution", "forward_training", "mb8_ic3oc16_ih34oh32kh3sh1dh0ph0_iw34ow32kw3sw1dw0pw0", 1.0)
    padded = verbose_line("convolution", "forward_training", "mb8_ic16oc16_ih10oh8kh3sh1dh0ph0_iw10ow8kw3sw1dw0pw0", 2.0)
    same = verbose_line("convolution", "forward_training", "mb8_ic16oc16_ih8oh8kh3sh1dh0ph1_iw8ow8kw3sw1dw0pw1", 3.0)
    grad = verbose_line("convolution", "backward_weights", "mb8_ic16oc16_ih10oh8kh3sh1dh0ph0_iw10ow8kw3sw1dw0pw0", 4.0)
    warm_up = [stem, padded, grad]
    lines = warm_up + ["onednn_verbose,v1,info,cpu,isa", "unrelated"] + [stem, padded, grad] + [stem, same, grad]
    result = breakdown.parse_verbose(lines, skip_steps=1)
    assert result["steps"] == 2
    assert result["ms_per_step"] == {"convolution forward_training": 3.5, "convolution backward_weights": 4.0}
    assert result["calls_per_step"]["convolution forward_training"] == 2
    assert result["prepadded_convs_per_step"] == 1.5  # the stem twice, the padded conv once, over 2 steps
    with pytest.raises(ValueError, match="found 3 steps in the verbose output; expected more than 3"):
        breakdown.parse_verbose(lines, skip_steps=3)


@pytest.mark.slow  # one process per framework
def test_onednn_breakdown_runs_ours_with_and_without_pad_layers(tmp_path, subprocess_env):
    path = tmp_path / "breakdown.json"
    done = subprocess.run(
        [sys.executable, os.path.join(BENCH, "onednn_breakdown.py"), "--batch_size", "4", "--steps", "1",
         "--warmup", "1", "--frameworks", "strided", "all", "--json", str(path)],
        env=subprocess_env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(path.read_text())["results"]
    # ResNet-20V2: the stem and 2 strided 3x3 convs are padded by a layer; with "all" every 3x3 conv is.
    assert results["strided"]["prepadded_convs_per_step"] == 3
    assert results["all"]["prepadded_convs_per_step"] == 19
    assert results["strided"]["calls_per_step"]["convolution forward_training"] == 19
    assert "| **convs on pre-padded inputs** | 3 | 19 |" in done.stdout


@pytest.mark.slow  # a process per framework
def test_onednn_breakdown_of_inference_runs_forward_only(tmp_path, subprocess_env):
    path = tmp_path / "breakdown.json"
    done = subprocess.run(
        [sys.executable, os.path.join(BENCH, "onednn_breakdown.py"), "--mode", "infer", "--batch_size", "4",
         "--steps", "1", "--warmup", "1", "--frameworks", "strided", "--json", str(path)],
        env=subprocess_env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    calls = json.loads(path.read_text())["results"]["strided"]["calls_per_step"]
    # oneDNN runs TF's inference convolutions as forward_training (no backward follows): ResNet-20V2's 19, and
    # the 9 BatchNorms after an addition as 1x1 depthwise ones (keras_resnetv2.models.batchnorm); BN with the
    # moving statistics is forward_inference.
    assert calls["convolution forward_training"] == 19 + 9 and "batch_normalization forward_inference" in calls
    assert not any("backward" in key or key.startswith("batch_normalization forward_training") for key in calls)
    assert "oneDNN time per inference (predict_on_batch / eval forward) step (ms)" in done.stdout


def test_the_report_flags_a_run_that_other_processes_shared():
    throughput_report = load("throughput_report")
    result = {"settings": {"repeats": 3, "steps": 3, "warmup": 2}, "versions": {"keras": "3"}, "seconds": 10.0,
              "sections": [], "machine": {"cpu": "x", "cores": 2, "load_average_start": [2.1],
                                          "load_average_end": [2.0], "other_processes_cpu_share": 0.004}}
    # A high load average at the start (a campaign just paused) but an idle run: not flagged.
    assert "Other processes used 0.4% of the CPUs during the run." in throughput_report.report(result)
    result["machine"]["other_processes_cpu_share"] = 0.3
    assert "**Other processes used 30% of the CPUs during this run" in throughput_report.report(result)
    result["machine"]["steal_cpu_share"] = 0.02
    assert "The hypervisor took 2.0% of the CPUs' time (steal) during the run.\n" in throughput_report.report(result)
    result["machine"]["steal_cpu_share"] = 0.2
    assert ("**The hypervisor took 20% of the CPUs' time (steal) during this run: these numbers measure a shared "
            "host, not the frameworks.**") in throughput_report.report(result)
    del result["machine"]["other_processes_cpu_share"]  # a run from before the measure: the load average
    assert "**The machine was busy when this run started (load average 2.1" in throughput_report.report(result)
