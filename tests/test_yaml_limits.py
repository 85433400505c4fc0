"""One YAML reader with the same limits for every source (issue 13, item 11).

Before, only instance.yaml was guarded: an alias bomb in the workbook's ``instance`` sheet, in a
``--set`` value or in a study file hung for minutes, and deep or self-referential YAML crashed with
RecursionError (exit 1).  Each case here must end in exit 2 naming its source, quickly.  The CLI
cases run in a subprocess with a timeout, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from planner.instance import safe_yaml
from planner.errors import InstanceError
from planner.instance.io import load_instance, parse_override, write_instance
from tests.io_fixtures import base, make, problems_of

# Nine levels of nine aliases each: 9**9 (387 million) values once expanded, 300 bytes of text.
BOMB = "[" + ", ".join(["&a0 [x, x, x, x, x, x, x, x, x]"]
                        + [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]) + "]"
SELF = "&r [*r]"
DEEP = "[" * 5000 + "]" * 5000
DEEPISH = "[" * 60 + "]" * 60  # composes fine, still deeper than any real input


@pytest.mark.parametrize("text,needle", [(BOMB, "too large"), (SELF, "inside its own anchor"),
                                         (DEEP, "nested too deeply"), (DEEPISH, "nested 60 levels")])
def test_the_loader_refuses_each_attack_naming_the_source(text, needle):
    with pytest.raises(InstanceError) as err:
        safe_yaml.load(text, "src.yaml", 7, "value")
    (p,) = err.value.problems
    assert (p.file, p.row, p.column) == ("src.yaml", 7, "value")
    assert needle in p.expected


def test_the_loader_reads_ordinary_yaml_with_shared_aliases():
    # Aliases within the limit are fine: 3 references to a 3-list = 1 + 3 * 4 values.
    data, node = safe_yaml.load("a: &x [1, 2, 3]\nb: [*x, *x, *x]\n", "f.yaml")
    assert data == {"a": [1, 2, 3], "b": [[1, 2, 3]] * 3}
    assert node is not None
    assert safe_yaml.load("", "f.yaml") == (None, None)


def test_instance_yaml_attacks_exit_2_with_the_file(tmp_path):
    for n, text in enumerate([f"x: {BOMB}", f"x: {SELF}", f"x: {DEEP}"]):
        folder = make(tmp_path / f"i{n}", instance_yaml=base("instance.yaml") + text + "\n")
        problems = problems_of(folder)
        assert [p.file for p in problems] == ["instance.yaml"], problems


def test_set_value_attacks_are_refused_naming_the_key():
    for text in (BOMB, SELF, DEEP):
        with pytest.raises(InstanceError) as err:
            parse_override(f"policy.tier_caps={text}")
        (p,) = err.value.problems
        assert (p.file, p.column) == ("--set", "policy.tier_caps")


def test_workbook_instance_sheet_attacks_name_sheet_row_and_column(tmp_path):
    folder = make(tmp_path / "tiny")
    book = tmp_path / "book.xlsx"
    write_instance(load_instance(folder), book)
    wb = openpyxl.load_workbook(book)
    ws = wb["instance"]
    rows = {}
    for text in (BOMB, SELF, DEEP):
        ws.append([f"x{len(rows)}", text])
        rows[ws.max_row] = text
    wb.save(book)
    wb.close()
    problems = problems_of(book)
    for row in rows:
        assert any(p.file == "book.xlsx[instance]" and p.row == row and p.column == "value" for p in problems), problems


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("text", [BOMB, SELF, DEEP])
def test_cli_set_attacks_exit_2_without_a_traceback(tmp_path, text):
    folder = make(tmp_path / "tiny")
    r = _cli("validate", str(folder), "--set", f"policy.tier_caps={text}", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "--set" in r.stderr


@pytest.mark.parametrize("where", ["scenarios", "set"])
@pytest.mark.parametrize("text", [BOMB, SELF, DEEP])
def test_study_file_attacks_exit_2_naming_the_file(tmp_path, where, text):
    folder = make(tmp_path / "tiny")
    body = (f"name: s\nbase: {folder}\nscenarios:\n  a: {text}\n" if where == "scenarios"
            else f"name: s\nbase: {folder}\nset: {text}\nscenarios:\n  a: {{}}\n")
    (tmp_path / "s.yaml").write_text(body)
    r = _cli("study", "s.yaml", "--out", "out", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "s.yaml" in r.stderr
    assert not (tmp_path / "out").exists()
