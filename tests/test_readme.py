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
