"""OverageLayer as `sam build` makes it (layers/overage/Makefile, BuildMethod makefile): what deploys, checked here.

The build downloads the Lambda platform's wheels (python3.13, arm64) from PyPI, as `sam build` does, and compiles the
layer's bytecode with the Python 3.13 the Makefile finds (find-python.sh); without one it is built with BYTECODE=no
and the bytecode test is skipped, saying so.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.support import ROOT

LAYER = ROOT / "layers" / "overage"
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")


def pins() -> dict[str, str]:
    lines = [line.strip() for line in (LAYER / "requirements.txt").read_text().splitlines()]
    pairs = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {name.split("[")[0].lower(): version for name, version in pairs}


def test_every_layer_requirement_is_pinned_to_the_version_the_tests_run() -> None:
    locked = {p["name"]: p["version"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    assert pins() == {name: locked[name] for name in pins()}
    assert not set(pins()) & {"boto3", "botocore"}  # the runtime's


def make(*arguments: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "LAMBDA_PYTHON")}  # as for `sam build`
    command = ["make", "--no-print-directory", "-C", str(LAYER), *arguments]
    return subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout.strip()


@pytest.fixture(scope="module")
def lambda_python() -> str:
    return make("-s", "lambda-python")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, lambda_python: str) -> Path:
    artifacts = tmp_path_factory.mktemp("OverageLayer")
    make("build-OverageLayer", f"ARTIFACTS_DIR={artifacts}", *([] if lambda_python else ["BYTECODE=no"]))
    return artifacts / "python"


def test_the_layer_holds_overage_and_its_pinned_requirements_for_python313_on_arm64(built: Path) -> None:
    installed = dict(
        entry.name.removesuffix(".dist-info").lower().replace("_", "-").rsplit("-", 1)
        for entry in built.glob("*.dist-info")
    )
    assert installed == pins()
    [core] = (built / "pydantic_core").glob("_pydantic_core.*.so")
    assert "cpython-313-aarch64-linux-gnu" in core.name
    assert (built / "overage" / "services" / "renewal.py").is_file()


def sources(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_the_layer_leaves_out_the_runtimes_boto3_and_the_developer_tools(built: Path) -> None:
    names = {entry.name for entry in built.iterdir()}
    assert not {n for n in names if n.split("-")[0].removesuffix(".py").lower() in RUNTIME_PROVIDED}
    # The package folder is exactly what deploys (nothing removed at build), and the CLI is not in it.
    assert sources(built / "overage") == sources(LAYER / "overage")
    assert not (built / "overage_local").exists()
    assert not (built / "tools").exists()
    assert not (built / "overage" / "local").exists()
    assert not [pyc for pyc in built.rglob("*.pyc") if ".cpython-313." not in pyc.name]  # no developer's bytecode
    size = sum(p.stat().st_size for p in built.rglob("*") if p.is_file())
    assert size < 20 * 1024 * 1024, f"{size / 1024 / 1024:.1f} MiB"  # 16 MiB, of which bytecode 5 MiB


def test_every_module_of_the_layer_has_bytecode_for_python313_that_lambda_uses_as_it_is(
    built: Path, lambda_python: str
) -> None:
    if not lambda_python:
        pytest.skip("no Python 3.13 on this machine: the layer was built with BYTECODE=no")
    sources = [p for p in built.rglob("*.py") if p.parent.name != "__pycache__"]
    missing = [
        str(p.relative_to(built))
        for p in sources
        if not (p.parent / "__pycache__" / f"{p.stem}.cpython-313.pyc").exists()
    ]
    assert not missing
    assert {"overage/services/renewal.py", "pydantic/main.py", "aws_lambda_powertools/tracing/tracer.py"} <= {
        str(p.relative_to(built)) for p in sources
    }
    # PEP 552 header: flags 0b01 = hash-based and unchecked, so zip timestamps never make a pyc stale in /opt
    flags = {int.from_bytes(pyc.read_bytes()[4:8], "little") for pyc in built.rglob("*.cpython-313.pyc")}
    assert flags == {0b01}
    magic = subprocess.run(
        [lambda_python, "-c", "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert {pyc.read_bytes()[:4].hex() for pyc in built.rglob("*.cpython-313.pyc")} == {magic}
