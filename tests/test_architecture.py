"""The package's layout holds: imports point down, no cycles, no root imports, reasons for late imports.

The graph is `bench/import_graph.py`'s (read from the source, never imported).
"""

import os
import sys

from conftest import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "bench"))
import import_graph  # noqa: E402

MODULES, ARROWS = import_graph.graph()


def test_no_arrow_points_up_or_sideways():
    assert import_graph.upward(ARROWS) == []


def test_the_graph_has_no_cycle():
    assert import_graph.cycles(MODULES, ARROWS) == []


def test_nothing_inside_the_package_imports_its_root():
    assert import_graph.root_imports(ARROWS) == []


def test_every_import_inside_a_function_names_its_optional_dependency():
    unmarked = [f for f in import_graph.function_level_imports(MODULES) if import_graph.OPTIONAL_MARK not in f[2]]
    assert unmarked == []


def test_the_model_core_imports_no_data_training_tuning_zoo_or_paper():
    lower = {"models", "weights", "catalog", "utils", "_compat"}
    core = [a for a in ARROWS if import_graph.part_of(a[0]) in lower]
    assert {import_graph.part_of(a[1]) for a in core} <= lower


def test_at_most_three_plain_modules_at_the_top():
    assert len(import_graph.top_plain_modules(MODULES)) <= 3


def test_every_module_belongs_to_a_layer():
    assert {import_graph.part_of(m) for m in MODULES} <= set(import_graph.RANK)


def test_the_checks_see_a_planted_upward_import():
    planted = ARROWS + [("keras_resnetv2.models.builder", "keras_resnetv2.training.runner", 1, False, "")]
    assert import_graph.upward(planted) == [planted[-1]]
    looped = ARROWS + [("keras_resnetv2.utils.files", "keras_resnetv2.utils.checks", 1, False, ""),
                       ("keras_resnetv2.utils.checks", "keras_resnetv2.utils.files", 1, False, "")]
    assert import_graph.cycles(MODULES, looped) == [["keras_resnetv2.utils.checks", "keras_resnetv2.utils.files"]]
