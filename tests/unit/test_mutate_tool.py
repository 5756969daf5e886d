"""The mutation tester itself (tools/mutate.py): which mutants it makes, how it applies them, the equivalent list."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tools import mutate

SNIPPET = """
from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    model_config = {"frozen": True}
    size: int = 3

    def fits(self, n: int) -> bool:
        return n <= self.size and not self.full


def total(a, b):
    x = -a
    x += b * 2
    return a < b < 10
"""


def _labels(source: str) -> list[str]:
    labels = []
    for m in mutate.generate(source, "box"):
        nth = f" (occurrence {m.occurrence})" if m.occurrence else ""
        labels.append(f"{m.function}: {m.mutation} in `{m.snippet}`{nth}")
    return labels


def test_the_operators_of_a_small_module() -> None:
    assert _labels(SNIPPET) == [
        "Box: 3 → 4 in `size: int = 3`",
        "Box.fits: return → return None in `return n <= self.size and (not self.full)`",
        "Box.fits: and → or in `n <= self.size and (not self.full)`",
        "Box.fits: <= → < in `n <= self.size`",
        "Box.fits: drop not in `not self.full`",
        "total: drop - in `-a`",
        "total: += → -= in `x += b * 2`",
        "total: * → / in `b * 2`",
        "total: 2 → 3 in `b * 2`",
        "total: return → return None in `return a < b < 10`",
        "total: < → <= in `a < b < 10` (occurrence 1)",
        "total: < → <= in `a < b < 10` (occurrence 2)",
        "total: 10 → 11 in `a < b < 10`",
    ]


def test_declarations_are_not_mutated() -> None:
    """The decorator's ``frozen=True``, the annotations and ``model_config`` are never touched."""
    labels = _labels(SNIPPET)
    assert not [label for label in labels if "frozen" in label or "model_config" in label or "-> bool" in label]


def _function_source(source: str, name: str) -> str:
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.unparse(node)


def test_each_mutant_changes_exactly_its_own_operator() -> None:
    mutants = [m for m in mutate.generate(SNIPPET, "box") if m.function == "total"]
    bodies = [_function_source(mutate.mutated_source(SNIPPET, m), "total").splitlines()[1:] for m in mutants]
    assert bodies == [
        ["    x = a", "    x += b * 2", "    return a < b < 10"],
        ["    x = -a", "    x -= b * 2", "    return a < b < 10"],
        ["    x = -a", "    x += b / 2", "    return a < b < 10"],
        ["    x = -a", "    x += b * 3", "    return a < b < 10"],
        ["    x = -a", "    x += b * 2", "    return"],
        ["    x = -a", "    x += b * 2", "    return a <= b < 10"],
        ["    x = -a", "    x += b * 2", "    return a < b <= 10"],
        ["    x = -a", "    x += b * 2", "    return a < b < 11"],
    ]


def test_a_mutated_module_still_compiles_and_the_original_is_untouched() -> None:
    for mutant in mutate.generate(SNIPPET, "box"):
        compile(mutate.mutated_source(SNIPPET, mutant), "box.py", "exec")
    assert "n <= self.size" in SNIPPET


def test_the_equivalent_list_parses_and_names_real_mutants_each_with_a_reason() -> None:
    entries = mutate.load_equivalents()
    assert entries, "the list is empty: either every mutant is killed or the file moved"
    mutants: list[mutate.Mutant] = []
    for module in {entry.module for entry in entries}:
        source = (mutate.DOMAIN / f"{module}.py").read_text(encoding="utf-8")
        mutants += mutate.generate(source, module)
    stale = [entry.key for entry in entries if not any(entry.matches(m) for m in mutants)]
    assert stale == [], "listed as equivalent, but the code no longer has these mutants"
    assert all(len(entry.reason) >= 20 for entry in entries), "each entry says why it cannot change behaviour"


def test_an_entry_without_a_reason_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "equivalent.toml"
    path.write_text(
        '[[equivalent]]\nmodule = "calendar"\nfunction = "anniversary"\nmutation = "< → <="\nsnippet = "months < 0"\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="lacks reason"):
        mutate.load_equivalents(path)


def test_a_module_runs_the_tests_that_import_it_directly_first() -> None:
    files = mutate.test_files_for("proration")
    assert files[0] == "tests/unit/domain/test_proration.py"
    assert "tests/property/test_money_properties.py" in files
    assert "tests/unit/domain/test_plan_change_rules.py" in files  # through plan_changes
    assert not set(files) & set(mutate.SKIPPED_TEST_FILES)
    assert all(f.startswith(mutate.FAST_SUITES) for f in files)
