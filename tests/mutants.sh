#!/usr/bin/env bash
# Each test that replaced an assertion that could not fail, run against a deliberately broken
# implementation: every line must say "fails when broken". Each patch is undone after its test.
#   bash tests/mutants.sh            (about 4 minutes; the JAX DataParallel one is a slow-tier test)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
status=0

mutant() {  # file, exact text, replacement, test id, what the break is
  local file="$1" old="$2" new="$3" test="$4" what="$5" backup
  backup=$(mktemp)
  cp "$file" "$backup"
  trap 'cp "$backup" "$file"' EXIT
  "$PY" - "$file" "$old" "$new" <<'PYEOF' || { echo "cannot patch $file"; exit 2; }
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
assert text.count(old) == 1, f"{path}: {old!r} found {text.count(old)} times"
open(path, "w").write(text.replace(old, new))
PYEOF
  "$PY" -m pytest -q -p no:xdist -m "slow or not slow" "$test" >/tmp/mutant.log 2>&1
  local rc=$?
  cp "$backup" "$file"
  trap - EXIT
  if [ $rc -eq 1 ]; then echo "fails when broken: $what ($test)"; else echo "PASSES WHEN BROKEN (rc $rc): $what ($test)"; status=1; fi
}

mutant keras_resnetv2/models/batchnorm.py \
  "variance = corrected_variance * tf.maximum(count - 1.0, 0.0) / tf.maximum(count, 1.0)" "variance = corrected_variance" \
  tests/models/test_batchnorm.py::test_training_outputs_gradients_and_moving_statistics_match_keras \
  "the fused layer keeps the Bessel-corrected variance"
mutant keras_resnetv2/models/builder.py \
  "                layer.set_weights(full.get_layer(layer.name).get_weights())" "                pass" \
  tests/zoo/test_zoo.py::test_a_zoo_tag_without_the_top_takes_the_entry_channels_and_its_weights \
  "a headless model never copies the zoo entry's weights"
mutant keras_resnetv2/models/units.py "        use_bias=use_bias," "        use_bias=True," \
  tests/models/test_paper_nets.py::test_parameter_count_is_the_closed_form_and_the_papers \
  "every convolution gets a bias"
mutant README.md \
  'print(type(model.get_layer("post_bn")).__module__)     # keras_resnetv2.models.batchnorm' \
  'print(type(model.get_layer("post_bn")).__module__)     # keras_resnetv2.batchnorm' \
  tests/test_readme.py "a README comment promises another output"
mutant keras_resnetv2/models/preprocessing.py \
  'variance=[float(s) ** 2 for s in record["std"]],' 'variance=[float(s) for s in record["std"]],' \
  tests/zoo/test_raw_pixels.py::test_every_entry_classifies_raw_pixels_at_its_manifest_accuracy \
  "the raw-pixel preprocessing divides by the variance, not the std"
mutant keras_resnetv2/training/runner.py \
  "schedule = compile_model(model, config, total_steps)" \
  "schedule = compile_model(model, config, total_steps * distribution.num_replicas)" \
  tests/training/test_training.py::test_jax_data_parallel_runs_and_matches_one_device \
  "JAX DataParallel's schedule length scaled by the replica count"
exit $status
