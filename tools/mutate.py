"""Mutation testing of the domain rules: does the fast suite notice when a rule changes?

Each mutant is one small change to one module of ``layers/overage/overage/domain`` (an operator swapped, a constant
moved by one, a ``not`` dropped, a value no longer returned). The tests that exercise the module (found by their
imports) run against it; a failing test *kills* the mutant. A mutant that survives is a rule no test pins down,
unless it cannot change behaviour: those *equivalent* mutants are listed, each with its reason, in
``tests/mutation/equivalent.toml``, keyed by module, function, mutation and source snippet (never a line number,
so the list survives edits elsewhere in the file); when the same snippet occurs twice in one function, ``occurrence``
(1, 2, ... in source order) tells them apart.

Usage::

    .venv/bin/python -m tools.mutate                      # the money-critical modules (what `make mutate` runs)
    .venv/bin/python -m tools.mutate --module calendar --module money --list-survivors
    .venv/bin/python -m tools.mutate --module fair_use --list   # the mutants, without running anything

Exit status: 0 when every mutant is killed or listed as equivalent; 1 when a mutant survives unlisted, a listed one
is killed (the list is stale) or a listed one no longer exists.

How a mutant runs (the working tree is never written):

- each worker (``--workers``, at most 2 by default) copies the ``overage`` package to a temporary directory once and
  serves mutants over a pipe: it writes the mutated module into its copy, forks, and the child runs pytest with
  ``pythonpath`` pointing at the copy (and the editable install's path removed from ``sys.path``); after the run the
  child checks that the module it imported is the copy's. Before a module's mutants, a canary (the module raising on
  import) must be killed and the unmutated module must pass.
- the worker has the third-party libraries the tests import already loaded, so a mutant costs its tests, not
  pytest's start-up; bytecode is never written (``PYTHONDONTWRITEBYTECODE``), the cache provider is off.
- pytest runs with ``-x -q -p no:randomly -p no:cacheprovider -m "not slow"`` on the test files of ``tests/unit`` and
  ``tests/property`` that import the module (directly first, then through another module), with a per-mutant
  timeout (a mutant that loops forever is killed by the timeout).
- Hypothesis runs with a fixed profile: derandomized, no example database (nothing is written), no deadline, no
  health checks (they depend on the machine's speed), no shrinking (a kill needs one failing example, not the
  smallest), so a run is deterministic.
- decorators, annotations and pydantic ``model_config`` are declarations, not rules, and are not mutated.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parent.parent
LAYER = REPO / "layers" / "overage"
PACKAGE = LAYER / "overage"
DOMAIN = PACKAGE / "domain"
EQUIVALENT_FILE = REPO / "tests" / "mutation" / "equivalent.toml"
FAST_SUITES = ("tests/unit", "tests/property")
MONEY_CRITICAL = (
    "calendar",
    "money",
    "proration",
    "renewal",
    "invoice",
    "account",
    "plan_changes",
    "fair_use",
    "excess_profiles",
)
# Test files of the fast suites a mutant never runs, with the reason.
SKIPPED_TEST_FILES = {
    "tests/property/test_arrival_order_properties.py": "drives every service through moto: 20 s a run; the domain's "
    "own tests must pin the rules",
    "tests/unit/test_mutate_tool.py": "tests this tool, not the domain",
}
SNIPPET_MAX = 100

# ------------------------------------------------------------------------------------------------ the mutants

_CMP_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BIN_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
}
_BOOL_SWAPS: dict[type[ast.boolop], type[ast.boolop]] = {ast.And: ast.Or, ast.Or: ast.And}
_SYMBOLS: dict[type[ast.AST], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.And: "and",
    ast.Or: "or",
}
_SKIPPED_FIELDS = frozenset({"annotation", "returns", "decorator_list", "type_params", "type_comment"})


@dataclass(frozen=True)
class Mutant:
    """One change to one module. ``key`` (module, function, mutation, snippet) is what the equivalent list names."""

    module: str  # "calendar"
    function: str  # qualified name of the enclosing function or class, "<module>" at module level
    mutation: str  # "< → <=", "and → or", "1 → 2", "True → False", "drop not", "drop -", "return → return None"
    snippet: str  # the expression (or statement) the mutation is in, as ``ast.unparse`` writes it
    line: int
    site: int  # index of the node in the module's walk
    variant: int  # which operator of a chained comparison
    occurrence: int = 0  # 1, 2, ... when the function has this key more than once, else 0

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.module, self.function, self.mutation, self.snippet)

    @property
    def label(self) -> str:
        nth = f" (occurrence {self.occurrence})" if self.occurrence else ""
        return f"{self.module}.{self.function} (line {self.line}): {self.mutation} in `{self.snippet}`{nth}"


@dataclass
class _Site:
    node: ast.AST
    parent: ast.AST | None
    function: str


def _is_declaration(node: ast.AST) -> bool:
    """``model_config = ConfigDict(...)``: how pydantic treats a model, not a rule of the domain."""
    return (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id == "model_config"
    )


def _walk(tree: ast.AST) -> list[_Site]:
    """Every node in a fixed order with its parent and enclosing function; declarations left out."""
    sites: list[_Site] = []

    def visit(node: ast.AST, parent: ast.AST | None, function: str) -> None:
        sites.append(_Site(node, parent, function))
        if _is_declaration(node):
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            function = node.name if function == "<module>" else f"{function}.{node.name}"
        for name, value in ast.iter_fields(node):
            if name in _SKIPPED_FIELDS:
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    visit(child, node, function)

    visit(tree, None, "<module>")
    return sites


def _snippet(node: ast.AST) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= SNIPPET_MAX else text[: SNIPPET_MAX - 1] + "…"


# A mutation of one node: (description, snippet node, variant, apply(node, parent) -> replacement or None).
_Apply = Callable[[ast.AST, ast.AST | None], ast.AST | None]


def _mutations(node: ast.AST, parent: ast.AST | None) -> Iterator[tuple[str, ast.AST, int, _Apply]]:
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            swap = _CMP_SWAPS.get(type(op))
            if swap is not None:
                yield f"{_SYMBOLS[type(op)]} → {_SYMBOLS[swap]}", node, i, _set_cmp(i, swap)
    elif isinstance(node, ast.BoolOp):
        swap_bool = _BOOL_SWAPS[type(node.op)]
        yield f"{_SYMBOLS[type(node.op)]} → {_SYMBOLS[swap_bool]}", node, 0, _set_op(swap_bool)
    elif isinstance(node, ast.BinOp | ast.AugAssign):
        swap_bin = _BIN_SWAPS.get(type(node.op))
        if swap_bin is not None:
            shown = "=" if isinstance(node, ast.AugAssign) else ""
            description = f"{_SYMBOLS[type(node.op)]}{shown} → {_SYMBOLS[swap_bin]}{shown}"
            yield description, node, 0, _set_op(swap_bin)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
        yield ("drop not" if isinstance(node.op, ast.Not) else "drop -"), node, 0, _drop_unary
    elif isinstance(node, ast.Constant) and isinstance(node.value, int):  # bool is an int too
        value = node.value
        new: int | bool = (not value) if isinstance(value, bool) else value + 1
        yield f"{node.value!r} → {new!r}", parent if parent is not None else node, 0, _set_constant(new)
    elif isinstance(node, ast.Return) and node.value is not None and not _is_none(node.value):
        yield "return → return None", node, 0, _return_none


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _set_cmp(i: int, op: type[ast.cmpop]) -> _Apply:
    def apply(node: ast.AST, parent: ast.AST | None) -> None:
        assert isinstance(node, ast.Compare)
        node.ops[i] = op()

    return apply


def _set_op(op: type[ast.AST]) -> _Apply:
    def apply(node: ast.AST, parent: ast.AST | None) -> None:
        node.op = op()  # type: ignore[attr-defined]

    return apply


def _set_constant(value: int | bool) -> _Apply:
    def apply(node: ast.AST, parent: ast.AST | None) -> None:
        assert isinstance(node, ast.Constant)
        node.value = value

    return apply


def _drop_unary(node: ast.AST, parent: ast.AST | None) -> ast.AST:
    assert isinstance(node, ast.UnaryOp)
    return node.operand


def _return_none(node: ast.AST, parent: ast.AST | None) -> None:
    assert isinstance(node, ast.Return)
    node.value = None


def _replace_child(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for name, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, name, new)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    value[i] = new
                    return
    raise LookupError("node not found in its parent")  # pragma: no cover - _walk recorded the parent


def generate(source: str, module: str) -> list[Mutant]:
    """Every mutant of ``source`` (the text of ``domain/<module>.py``), in source order."""
    mutants: list[Mutant] = []
    for index, site in enumerate(_walk(ast.parse(source))):
        for description, shown, variant, _ in _mutations(site.node, site.parent):
            line = getattr(site.node, "lineno", 0)
            mutants.append(Mutant(module, site.function, description, _snippet(shown), line, index, variant))
    counts: dict[tuple[str, str, str, str], int] = {}
    for mutant in mutants:
        counts[mutant.key] = counts.get(mutant.key, 0) + 1
    seen: dict[tuple[str, str, str, str], int] = {}
    numbered = []
    for mutant in mutants:
        seen[mutant.key] = seen.get(mutant.key, 0) + 1
        numbered.append(replace(mutant, occurrence=seen[mutant.key]) if counts[mutant.key] > 1 else mutant)
    return numbered


def mutated_source(source: str, mutant: Mutant) -> str:
    """The module's source with ``mutant`` applied (written by ``ast.unparse``: comments and layout are gone)."""
    tree = ast.parse(source)
    site = _walk(tree)[mutant.site]
    for description, _, variant, apply in _mutations(site.node, site.parent):
        if description == mutant.mutation and variant == mutant.variant:
            replacement = apply(site.node, site.parent)
            if replacement is not None:
                assert site.parent is not None
                _replace_child(site.parent, site.node, replacement)
            return ast.unparse(ast.fix_missing_locations(tree)) + "\n"
    raise LookupError(f"{mutant.label} does not apply to this source")


# ------------------------------------------------------------------------------------------------ equivalents


@dataclass(frozen=True)
class Equivalent:
    module: str
    function: str
    mutation: str
    snippet: str
    reason: str
    occurrence: int = 0  # 0: every mutant with this key

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.module, self.function, self.mutation, self.snippet)

    def matches(self, mutant: Mutant) -> bool:
        return mutant.key == self.key and self.occurrence in (0, mutant.occurrence)


def load_equivalents(path: Path = EQUIVALENT_FILE) -> list[Equivalent]:
    """The ``[[equivalent]]`` entries of the list; each names module, function, mutation, snippet and a reason."""
    if not path.exists():
        return []
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    entries: list[Equivalent] = []
    for i, entry in enumerate(data.get("equivalent", [])):
        fields = {name: entry.get(name) for name in ("module", "function", "mutation", "snippet", "reason")}
        missing = [name for name, value in fields.items() if not isinstance(value, str) or not value.strip()]
        if missing:
            raise ValueError(f"{path}: entry {i + 1} lacks {', '.join(missing)}")
        extra = set(entry) - set(fields) - {"occurrence"}
        if extra:
            raise ValueError(f"{path}: entry {i + 1} has unknown keys {sorted(extra)}")
        occurrence = entry.get("occurrence", 0)
        if not isinstance(occurrence, int) or isinstance(occurrence, bool) or occurrence < 0:
            raise ValueError(f"{path}: entry {i + 1}: occurrence must be a positive integer")
        entries.append(Equivalent(**fields, occurrence=occurrence))
    keys = [(*entry.key, entry.occurrence) for entry in entries]
    duplicates = {key for key in keys if keys.count(key) > 1}
    if duplicates:
        raise ValueError(f"{path}: listed twice: {sorted(duplicates)}")
    return entries


def toml_entry(mutant: Mutant, reason: str = "TODO") -> str:
    def q(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    nth = f"occurrence = {mutant.occurrence}\n" if mutant.occurrence else ""
    return (
        f"[[equivalent]]\nmodule = {q(mutant.module)}\nfunction = {q(mutant.function)}\n"
        f"mutation = {q(mutant.mutation)}\nsnippet = {q(mutant.snippet)}\n{nth}reason = {q(reason)}\n"
    )


# ------------------------------------------------------------------------------------------------ which tests


def pythonpath(root: Path) -> list[Path]:
    """The ``pythonpath`` of pytest's configuration in ``root``'s pyproject.toml, resolved against ``root``."""
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    entries = config.get("tool", {}).get("pytest", {}).get("ini_options", {}).get("pythonpath", [])
    return [(root / entry).resolve() for entry in entries]


def _module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """The ``overage.*`` and ``tests.*`` modules ``path`` imports (at the top or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in known:
                found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in known
            )
    return found


def _import_graph(root: Path) -> dict[str, set[str]]:
    """Who imports whom among the project's modules: the packages on pytest's pythonpath, and tests/*.py."""
    names = {_module_name(path, root): path for path in (root / "tests").glob("*.py")}
    for base in pythonpath(root):
        if base == root.resolve():
            continue  # "." holds the tests (above) and the functions, which no test imports as modules
        for package in sorted(p for p in base.iterdir() if (p / "__init__.py").is_file()):
            names |= {_module_name(path, base): path for path in package.rglob("*.py")}
    known = set(names)
    return {name: _imports(path, known) for name, path in names.items()}


def _closure(start: set[str], graph: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen


def test_files_for(module: str, root: Path = REPO) -> list[str]:
    """The fast-suite test files that import ``overage.domain.<module>``: direct importers first, unit first."""
    graph = _import_graph(root)
    known = set(graph)
    target = f"overage.domain.{module}"
    ranked: list[tuple[int, int, str]] = []
    for suite_rank, suite in enumerate(FAST_SUITES):
        for path in sorted((root / suite).rglob("test_*.py")):
            relative = path.relative_to(root).as_posix()
            if relative in SKIPPED_TEST_FILES:
                continue
            direct = _imports(path, known)
            if target in direct:
                ranked.append((0, suite_rank, relative))
            elif target in _closure(direct, graph):
                ranked.append((1, suite_rank, relative))
    return [relative for _, _, relative in sorted(ranked)]


# ------------------------------------------------------------------------------------------------ the worker

KILLED, SURVIVED, TIMEOUT = "killed", "survived", "timeout"
_WRONG_IMPORT = 99


class _HypothesisProfile:
    """A pytest plugin: the deterministic, fast Hypothesis profile of a mutation run."""

    def pytest_configure(self, config: Any) -> None:
        from hypothesis import HealthCheck, Phase, settings

        settings.register_profile(
            "mutate",
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target),
            print_blob=False,
        )
        settings.load_profile("mutate")


def _preload(modules: Sequence[str]) -> None:
    """Import the third-party modules the tests import, once, so each forked run starts warm."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: S112 - a module that does not import on its own is imported by the test instead
            continue


def _third_party_modules(test_files: Sequence[str]) -> list[str]:
    """What importing the conftest and the test files loads, less the project's own modules (anything from the
    working tree outside the virtualenv: those must come from the copy)."""
    probe = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "for name, module in sorted(sys.modules.items()):\n"
        "    print(name, getattr(module, '__file__', None) or '-')\n"
    )
    names = ["tests.conftest", *(path.removesuffix(".py").replace("/", ".") for path in test_files)]
    path = os.pathsep.join(str(entry) for entry in pythonpath(REPO))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=path)
    result = subprocess.run(  # noqa: S603 - our own interpreter on our own probe
        [sys.executable, "-c", probe, *names], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"importing the tests failed:\n{result.stderr}")
    third_party = []
    for line in result.stdout.splitlines():
        name, _, origin = line.partition(" ")
        if name != "__main__" and (origin == "-" or not _is_project_file(Path(origin))):
            third_party.append(name)
    return third_party


def _is_project_file(path: Path) -> bool:
    """Inside the working tree and not in the virtualenv (or any other ignored tool folder)."""
    path = path.resolve()
    return path.is_relative_to(REPO) and not any(path.is_relative_to(REPO / name) for name in (".venv", ".tools"))


_SNAPSHOT_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".tools",
    ".aws-sam",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "reports-local",
    "__pycache__",
    "*.pyc",
)


def snapshot(dest: Path) -> Path:
    """A copy of the working tree's code and tests (what one module's run uses, whatever others edit meanwhile)."""
    shutil.copytree(REPO, dest, ignore=_SNAPSHOT_IGNORE)
    return dest


def _run_child(tree: Path, target: str, tests: Sequence[str], log: Path) -> None:
    """In the forked child: run the copy's tests against the copy's package and exit with pytest's status."""
    code = 98
    try:
        os.setpgid(0, 0)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.chdir(tree)
        # pytest puts the copy's pythonpath first (its pyproject, resolved in the copy); the working tree's own
        # entries (the editable install's) go, so nothing of the project can come from there.
        sys.path[:] = [str(tree)] + [e for e in sys.path if e and not _is_project_file(Path(e))]
        import pytest

        args = [
            "-x",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "-p",
            "_hypothesis_pytestplugin",
            "-m",
            "not slow",
            "--rootdir",
            str(tree),
            *tests,
        ]
        code = int(pytest.main(args, plugins=[_HypothesisProfile()]))
        imported = sys.modules.get(target)
        suite = sys.modules.get("tests")
        for name, module in ((target, imported), ("tests", suite)):
            origin = getattr(module, "__file__", None)
            if origin is not None and not Path(origin).resolve().is_relative_to(tree.resolve()):
                print(f"MUTATE: {name} was imported from {origin}, not from the copy {tree}", flush=True)
                code = _WRONG_IMPORT
    except BaseException:
        traceback.print_exc()
        raise
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(preload_file: str) -> None:
    """A worker: a private copy of the tree, jobs in on stdin, results out on stdout (JSON lines)."""
    sys.dont_write_bytecode = True
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    workdir = Path(tempfile.mkdtemp(prefix="overage-mutate-"))
    try:
        tree = workdir / "tree"
        _preload(Path(preload_file).read_text(encoding="utf-8").split())
        out = sys.stdout
        out.write(json.dumps({"ready": True}) + "\n")
        out.flush()
        for raw in sys.stdin:
            job = json.loads(raw)
            if job.get("refresh"):  # a module's run starts: copy its snapshot of the tree
                shutil.rmtree(tree, ignore_errors=True)
                shutil.copytree(job["refresh"], tree, ignore=_SNAPSHOT_IGNORE)
                reply: dict[str, Any] = {"refreshed": True}
            else:
                reply = _run_job(tree, workdir, job)
            out.write(json.dumps(reply) + "\n")
            out.flush()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run_job(tree: Path, workdir: Path, job: dict[str, Any]) -> dict[str, Any]:
    module_file = tree / DOMAIN.relative_to(REPO) / f"{job['module']}.py"
    original = module_file.read_text(encoding="utf-8")
    module_file.write_text(job["source"], encoding="utf-8")
    log = workdir / "last-run.log"
    started = time.monotonic()
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            _run_child(tree, f"overage.domain.{job['module']}", job["tests"], log)
        status: int | None = None
        while status is None:
            done, raw_status = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw_status)
            elif time.monotonic() - started > job["timeout"]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return {"outcome": TIMEOUT, "seconds": time.monotonic() - started, "code": None}
            else:
                time.sleep(0.01)
    finally:
        module_file.write_text(original, encoding="utf-8")
    outcome = SURVIVED if status == 0 else KILLED
    result: dict[str, Any] = {"outcome": outcome, "seconds": time.monotonic() - started, "code": status}
    if job.get("log") or status not in (0, 1, 2):  # asked for, or not "passed" / "tests failed" / "collection failed"
        result["log"] = log.read_text(encoding="utf-8", errors="replace")[-3000:]
    return result


# ------------------------------------------------------------------------------------------------ the run


@dataclass
class _Worker:
    process: subprocess.Popen[str]

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("a mutation worker died")
        return dict(json.loads(line))


@dataclass
class ModuleResult:
    module: str
    killed: list[Mutant] = field(default_factory=list)
    equivalent: list[Mutant] = field(default_factory=list)
    survived: list[Mutant] = field(default_factory=list)
    stale: list[Mutant] = field(default_factory=list)  # listed as equivalent, yet killed
    unmatched: list[Equivalent] = field(default_factory=list)  # listed, but no such mutant any more
    timeouts: int = 0
    seconds: float = 0.0
    source: str = ""

    @property
    def total(self) -> int:
        return len(self.killed) + len(self.equivalent) + len(self.survived) + len(self.stale)

    @property
    def failed(self) -> bool:
        return bool(self.survived or self.stale or self.unmatched)

    def summary(self) -> str:
        killed = len(self.killed) + len(self.stale)
        percent = 100.0 * killed / self.total if self.total else 100.0
        return (
            f"{self.module:<16} killed {killed:>3}/{self.total:<3} ({percent:5.1f} %, {self.timeouts} by timeout)  "
            f"equivalent {len(self.equivalent):>2}  survived {len(self.survived):>2}  {self.seconds:5.0f} s"
        )


class Runner:
    def __init__(self, workers: int, test_files: Sequence[str]) -> None:
        fd, self._preload = tempfile.mkstemp(prefix="overage-mutate-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as preload:
            preload.write("\n".join(_third_party_modules(test_files)))
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        env["PYTHONPATH"] = str(REPO)
        self._pool: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        for _ in range(workers):
            process = subprocess.Popen(  # noqa: S603 - our own interpreter running this module
                [sys.executable, "-m", "tools.mutate", "--serve", self._preload],
                cwd=REPO,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            worker = _Worker(process)
            assert process.stdout is not None
            if not process.stdout.readline():
                raise SystemExit("a mutation worker failed to start")
            self._all.append(worker)
            self._pool.put(worker)
        self._executor = ThreadPoolExecutor(max_workers=workers)

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        worker = self._pool.get()
        try:
            return worker.run(job)
        finally:
            self._pool.put(worker)

    def refresh(self, tree: Path) -> None:
        """Every worker copies ``tree`` (a snapshot of the working tree) for the next module's mutants."""
        for _ in self._all:
            worker = self._pool.get()
            worker.run({"refresh": str(tree)})
        for worker in self._all:
            self._pool.put(worker)

    def run_all(self, jobs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(self._executor.map(self.run, jobs))

    def close(self) -> None:
        self._executor.shutdown()
        for worker in self._all:
            assert worker.process.stdin is not None
            worker.process.stdin.close()
            worker.process.wait(timeout=30)
        Path(self._preload).unlink(missing_ok=True)


def run_module(
    runner: Runner, module: str, equivalents: Sequence[Equivalent], progress: TextIO, verbose: bool
) -> ModuleResult:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="overage-mutate-snapshot-") as scratch:
        tree = snapshot(Path(scratch) / "tree")
        source = (tree / DOMAIN.relative_to(REPO) / f"{module}.py").read_text(encoding="utf-8")
        tests = test_files_for(module, tree)
        if not tests:
            raise SystemExit(f"no fast test imports overage.domain.{module}")
        runner.refresh(tree)
    return _run_mutants(runner, module, source, tests, equivalents, progress, verbose, started)


def _run_mutants(
    runner: Runner,
    module: str,
    source: str,
    tests: list[str],
    equivalents: Sequence[Equivalent],
    progress: TextIO,
    verbose: bool,
    started: float,
) -> ModuleResult:
    job = {"module": module, "tests": tests, "timeout": 600}
    baseline = runner.run(job | {"source": source, "log": True})
    if baseline["outcome"] != SURVIVED:
        raise SystemExit(f"{module}: the tests fail without any mutation:\n{baseline.get('log')}")
    canary = runner.run(job | {"source": source + "\nraise RuntimeError('mutation canary')\n"})
    if canary["outcome"] != KILLED or canary["code"] == _WRONG_IMPORT:
        raise SystemExit(f"{module}: a module that raises on import was not killed ({canary}): the copy is not used")
    timeout = 30 + 5 * baseline["seconds"]  # generous: the machine is shared, a slow survivor must not pass as killed
    mutants = generate(source, module)
    listed = [entry for entry in equivalents if entry.module == module]
    jobs = [job | {"source": mutated_source(source, mutant), "timeout": timeout} for mutant in mutants]
    result = ModuleResult(module, source=source)
    for mutant, job_of_mutant, first in zip(mutants, jobs, runner.run_all(jobs), strict=True):
        outcome = first
        if "log" in outcome and outcome.get("code") != _WRONG_IMPORT:
            outcome = runner.run(job_of_mutant)  # a run that ended abnormally (not pass / fail) gets one retry
        if outcome.get("code") == _WRONG_IMPORT or "log" in outcome:
            raise SystemExit(f"{mutant.label}: the run went wrong (exit {outcome['code']}):\n{outcome.get('log')}")
        killed = outcome["outcome"] in (KILLED, TIMEOUT)
        result.timeouts += outcome["outcome"] == TIMEOUT
        is_listed = any(entry.matches(mutant) for entry in listed)
        if killed:
            (result.stale if is_listed else result.killed).append(mutant)
        else:
            (result.equivalent if is_listed else result.survived).append(mutant)
        if verbose:
            print(f"  {outcome['outcome']:<8} {outcome['seconds']:5.1f} s  {mutant.label}", file=progress, flush=True)
    result.unmatched = [entry for entry in listed if not any(entry.matches(mutant) for mutant in mutants)]
    result.seconds = time.monotonic() - started
    return result


def _report(result: ModuleResult, list_survivors: bool, out: TextIO) -> None:
    print(result.summary(), file=out, flush=True)
    for mutant in result.stale:
        print(f"  listed as equivalent but killed (remove it from the list): {mutant.label}", file=out)
    for entry in result.unmatched:
        print(f"  listed as equivalent but no such mutant: {entry.key}", file=out)
    if list_survivors and result.survived:
        lines = result.source.splitlines()
        for mutant in result.survived:
            print(f"  survived: {mutant.label}\n    | {lines[mutant.line - 1].strip()}", file=out)
        print("\n# entries for the equivalent list, if they really cannot change behaviour:", file=out)
        for mutant in result.survived:
            print(toml_entry(mutant), file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", help="a module of overage.domain (repeatable)")
    parser.add_argument("--list-survivors", action="store_true", help="show each survivor, with a list entry")
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests; run nothing")
    parser.add_argument("--verbose", action="store_true", help="one line per mutant")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--serve", metavar="PRELOAD", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    modules = args.module or list(MONEY_CRITICAL)
    for module in modules:
        if not (DOMAIN / f"{module}.py").is_file():
            parser.error(f"no module overage.domain.{module}")
    equivalents = load_equivalents()
    if args.list:
        for module in modules:
            print(f"{module}: tests {', '.join(test_files_for(module))}")
            for mutant in generate((DOMAIN / f"{module}.py").read_text(encoding="utf-8"), module):
                print(f"  {mutant.label}")
        return 0
    started = time.monotonic()
    test_files = sorted({path for module in modules for path in test_files_for(module)})
    runner = Runner(max(1, args.workers), test_files)
    results = []
    try:
        for module in modules:
            result = run_module(runner, module, equivalents, sys.stdout, args.verbose)
            _report(result, args.list_survivors, sys.stdout)
            results.append(result)
    finally:
        runner.close()
    killed = sum(len(r.killed) + len(r.stale) for r in results)
    total = sum(r.total for r in results)
    survived = sum(len(r.survived) for r in results)
    print(
        f"{'all':<16} killed {killed:>3}/{total:<3} ({100.0 * killed / max(total, 1):5.1f} %)  equivalent "
        f"{sum(len(r.equivalent) for r in results):>2}  survived {survived:>2}  {time.monotonic() - started:5.0f} s"
    )
    if any(r.failed for r in results):
        print("FAILED: a mutant survives that is not listed as equivalent, or the list is out of date", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
