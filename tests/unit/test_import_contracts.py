"""The layers of the package, checked (ARCHITECTURE.md): every import counts, wherever it is (module level, inside a
function, under ``if TYPE_CHECKING:``, or a literal handed to ``importlib``).

- the domain imports nothing outside the domain, ``overage.errors``, pydantic and the standard library;
- boto3 and botocore only in ``store/``, ``runtime/aws.py`` and the outbox (``notices/outbox.py``);
- no cycle among the modules of the package (the feature services included);
- ``services/__init__.py`` and ``api/__init__.py`` stay empty, so importing one feature imports no other.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.imports import imported_modules

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "overage" / "overage"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, list[str]]:
    """Each module of the package, with every module it imports."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" not in path.parts:
            found[module_name(path)] = [name for _, name in imported_modules(path.read_text(), str(path))]
    return found


def internal(imports: list[str], known: set[str]) -> set[str]:
    """The package's own modules among ``imports`` (``from overage.x import name`` names a module or a member)."""
    return {
        name if name in known else name.rpartition(".")[0] for name in imports if name.startswith("overage")
    } & known


def test_the_domain_imports_only_the_domain_errors_pydantic_and_the_standard_library() -> None:
    allowed_roots = set(sys.stdlib_module_names) | {"pydantic", "pydantic_core", "__future__"}
    problems = []
    for module, imports in modules().items():
        if not module.startswith("overage.domain"):
            continue
        for name in imports:
            root = name.split(".")[0]
            ours = (
                name.startswith("overage.domain") or name in ("overage.errors",) or name.startswith("overage.errors.")
            )
            if (root == "overage" and not ours) or (root != "overage" and root not in allowed_roots):
                problems.append(f"{module} imports {name}")
    assert problems == []


def test_boto3_and_botocore_only_in_the_adapters() -> None:
    def adapter(module: str) -> bool:
        return module.startswith("overage.store.") or module in ("overage.runtime.aws", "overage.notices.outbox")

    problems = [
        f"{module} imports {name}"
        for module, imports in modules().items()
        for name in imports
        if name.split(".")[0] in ("boto3", "botocore") and not adapter(module)
    ]
    assert problems == []


def test_no_module_of_the_package_is_in_an_import_cycle() -> None:
    graph = modules()
    known = set(graph)
    edges = {module: internal(imports, known) - {module} for module, imports in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_feature_folders_import_nothing_when_imported() -> None:
    for folder in ("services", "api"):
        assert (PACKAGE / folder / "__init__.py").read_text().strip() == "", folder


def test_the_cycle_check_sees_a_function_level_import() -> None:
    imports = imported_modules("def f():\n    from overage.services.payments import payment_received\n")
    assert internal([name for _, name in imports], {"overage.services.payments"}) == {"overage.services.payments"}
