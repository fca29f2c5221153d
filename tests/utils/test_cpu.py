"""utils/cpu.py: oneDNN's kernels turned on by importing keras_resnetv2 before TensorFlow."""

import subprocess
import sys

from keras_resnetv2.utils.cpu import ONEDNN_VARIABLE, prefer_onednn


def test_sets_the_variable_when_unset_and_tensorflow_not_imported():
    environ = {}
    assert prefer_onednn(environ, modules={}) is True
    assert environ == {ONEDNN_VARIABLE: "1"}


def test_a_users_choice_is_kept():
    environ = {ONEDNN_VARIABLE: "0"}
    assert prefer_onednn(environ, modules={}) is False
    assert environ == {ONEDNN_VARIABLE: "0"}


def test_nothing_changes_once_tensorflow_is_imported():
    environ = {}
    assert prefer_onednn(environ, modules={"tensorflow": object()}) is False
    assert environ == {}


def test_importing_the_package_first_turns_onednn_on(subprocess_env):
    env = {k: v for k, v in subprocess_env.items() if k != ONEDNN_VARIABLE}
    code = (
        "import os, sys; import keras_resnetv2; "
        f"print(os.environ.get({ONEDNN_VARIABLE!r}), 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "True"]  # set, and TensorFlow imported after it


def test_cpu_flags_reads_the_flags_line(tmp_path):
    from keras_resnetv2.utils.cpu import cpu_flags

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n\n")
    assert cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "amx_bf16", "amx_tile"}
    assert cpu_flags(str(tmp_path / "absent")) == frozenset()
