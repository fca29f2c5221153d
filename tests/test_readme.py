"""The README's Python examples run as written and print what their comments say."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
# `print(...)  # <what it prints>`, optionally followed by " (a remark)" or ": a remark".
PRINT_WITH_OUTPUT = re.compile(r"^\s*print\(.*\)\s+#\s+(.+)$")


def expected_outputs(block):
    """The outputs a block's commented `print` lines promise, in order."""
    return [m.group(1) for line in block.splitlines() if (m := PRINT_WITH_OUTPUT.match(line))]


def check_printed(printed, expected):
    """Each printed line must open its comment, which may go on with ' (...)' or ': ...'."""
    assert len(printed) == len(expected), (printed, expected)
    for out, comment in zip(printed, expected):
        assert comment == out or (comment.startswith(out) and comment[len(out)] in " :"), (out, comment)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs_and_prints_what_it_says(index, capsys):
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    check_printed(printed, expected_outputs(BLOCKS[index]))


def test_the_readme_promises_outputs_and_the_check_catches_a_wrong_one():
    assert sum(len(expected_outputs(b)) for b in BLOCKS) >= 3
    check_printed(["(1, 1000)"], ["(1, 1000)"])
    check_printed(["1727482"], ["1727482 (1,703,258 trainable)"])
    for printed, comment in ((["(1, 999)"], ["(1, 1000)"]), (["17274"], ["1727482"]), ([], ["(1, 1000)"])):
        with pytest.raises(AssertionError):
            check_printed(printed, comment)


def test_readme_opens_with_the_two_commands():
    head = README.read_text().split("\n## ")[0]
    assert "make train" in head and "make test" in head


# A repository path in backticks: folders, then a file with a known extension; or a bare .py/.md name.
PATH_IN_CODE = re.compile(
    r"(?<![\w/.-])((?:[\w.-]+/)+[\w.-]+\.(?:py|md|json|png|csv|sh|h5|txt|toml|cfg)|[\w.-]+\.(?:py|md))(?![\w/])")
# Files the documents name that are not in the repository, and where they are.
ELSEWHERE = {
    "ARCHITECTURE.md": "the team's design notes (../shared/design/)",
    "trials.md": "a search's report, in its folder under runs/",
}


def cited_paths(text):
    """The repository paths a document cites in backticks, but run outputs (`runs/`), absolute
    paths, placeholders (`NAME.json`) and the files `ELSEWHERE` lists."""
    paths = {m for span in re.findall(r"`([^`\n]+)`", text) for m in PATH_IN_CODE.findall(span)}
    return {p for p in paths
            if not p.startswith(("runs/", "/")) and not re.search(r"(^|/)NAME\.", p) and p not in ELSEWHERE}


def exists(root, path):
    """At the repository's root, or inside the package for a path that starts with one of its parts."""
    package = root / "keras_resnetv2"
    return (root / path).exists() or ((package / path.split("/")[0]).exists() and (package / path).exists())


@pytest.mark.parametrize("document", ["README.md", "REPRODUCTION.md"])
def test_every_path_a_document_cites_exists(document):
    root = README.parent
    cited = cited_paths((root / document).read_text())
    assert cited, document  # the check reads something
    missing = sorted(p for p in cited if not exists(root, p))
    assert not missing, f"{document} cites files that do not exist: {missing}"


def test_the_path_check_catches_a_missing_file():
    text = ("see `bench/nowhere.py`, `runs/x/log.csv`, `bench/results/deep_zoo/NAME.json`, `zoo/x/README.md`, "
            "`ARCHITECTURE.md` and `gone.py`")
    assert cited_paths(text) == {"bench/nowhere.py", "zoo/x/README.md", "gone.py"}
    root = README.parent
    assert exists(root, "models/spec.py") and exists(root, "catalog.py") and exists(root, "train.py")
    assert not exists(root, "gone.py") and not exists(root, "bench/spec.py")
