"""Nothing deployed imports the developer CLI.

Every module of the layer (layers/overage/overage) and of every function (functions/) is parsed with ``ast``; every
import counts, wherever it is: at module level, inside a function, under ``if TYPE_CHECKING:``, or as a string handed
to ``importlib.import_module`` / ``__import__``. None may name ``overage_local`` (tools/overage_local, the `overage`
console script) or ``tools``: Lambda has neither, so such an import would fail only in AWS.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.imports import imported_modules

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = (ROOT / "layers" / "overage" / "overage", ROOT / "functions")
FORBIDDEN = ("overage_local", "tools")


def is_forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


def deployed_modules() -> list[Path]:
    return sorted(path for folder in DEPLOYED for path in folder.rglob("*.py") if "__pycache__" not in path.parts)


def test_the_walk_sees_every_kind_of_import() -> None:
    source = (
        "from __future__ import annotations\n"
        "import typing\n"
        "if typing.TYPE_CHECKING:\n"
        "    from overage_local.template import LocalTemplate\n"
        "def later():\n"
        "    import tools.mutate\n"
        "    from overage_local import runtime\n"
        "def hidden():\n"
        "    import importlib\n"
        "    return importlib.import_module('overage_local.cli'), __import__('tools')\n"
        "import overage.domain\n"
    )
    forbidden = [(line, module) for line, module in imported_modules(source) if is_forbidden(module)]
    assert forbidden == [
        (4, "overage_local.template"),
        (4, "overage_local.template.LocalTemplate"),
        (6, "tools.mutate"),
        (7, "overage_local"),
        (7, "overage_local.runtime"),
        (10, "overage_local.cli"),
        (10, "tools"),
    ]
    assert not is_forbidden("overage.local_time") and not is_forbidden("toolsmith")


def test_there_are_deployed_modules_to_check() -> None:
    modules = deployed_modules()
    assert any(path.name == "app.py" for path in modules)  # the functions' handlers
    assert len([p for p in modules if DEPLOYED[0] in p.parents]) > 20  # the layer's package


@pytest.mark.parametrize("path", deployed_modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_deployed_module_imports_the_developer_cli(path: Path) -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for line, module in imported_modules(path.read_text(encoding="utf-8"), str(path))
        if is_forbidden(module)
    ]
    assert not offending, "\n".join(offending)
