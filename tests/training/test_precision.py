"""training/precision.py: what `precision="auto"` (train.py's default) picks, and resumes with."""

import pytest

from keras_resnetv2.training import TrainConfig
from keras_resnetv2.training.precision import PRECISIONS, auto_precision, resolve_precision


@pytest.mark.parametrize(
    "flags, gpus, expected",
    [
        ({"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}, 0, "mixed_bfloat16"),  # Sapphire Rapids
        ({"avx512f", "avx512_bf16"}, 0, "float32"),  # AVX-512 BF16 without AMX (AMD Zen 4): slower in bfloat16
        ({"avx2", "fma"}, 0, "float32"),
        ({"avx512_bf16", "amx_bf16"}, 1, "float32"),  # a GPU: float32, as before
    ],
)
def test_auto_picks_bfloat16_only_on_amx_cpus_without_a_gpu(flags, gpus, expected):
    precision, reason = auto_precision(flags=frozenset(flags), gpus=gpus)
    assert precision == expected and precision in PRECISIONS and reason


def test_an_explicit_precision_is_kept_and_auto_keeps_a_backups():
    assert resolve_precision("mixed_float16", saved="float32", flags={"amx_bf16"}, gpus=0) == (
        "mixed_float16", "as asked")
    assert resolve_precision("auto", saved="float32", flags={"amx_bf16"}, gpus=0) == (
        "float32", "the backup's precision")
    assert resolve_precision("auto", flags={"amx_bf16"}, gpus=0)[0] == "mixed_bfloat16"


def test_the_default_is_auto_and_resolves_to_this_machines_pick():
    config = TrainConfig()
    assert config.precision == "auto"
    assert config.resolved().precision == auto_precision()[0] != "auto"

