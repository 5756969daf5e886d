"""OverageLayer as `sam build` makes it (layers/overage/Makefile, BuildMethod makefile): what deploys, checked here.

The build downloads the Lambda platform's wheels (python3.13, arm64) from PyPI, as `sam build` does.
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


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    artifacts = tmp_path_factory.mktemp("OverageLayer")
    subprocess.run(
        ["make", "--no-print-directory", "-C", str(LAYER), "build-OverageLayer", f"ARTIFACTS_DIR={artifacts}"],
        check=True,
        capture_output=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHON"},  # the python3 on PATH, as for `sam build`
    )
    return artifacts / "python"


def test_the_layer_holds_overage_and_its_pinned_requirements_for_python313_on_arm64(built: Path) -> None:
    installed = dict(
        entry.name.removesuffix(".dist-info").lower().replace("_", "-").rsplit("-", 1)
        for entry in built.glob("*.dist-info")
    )
    assert installed == pins()
    [core] = (built / "pydantic_core").glob("_pydantic_core.*.so")
    assert "cpython-313-aarch64-linux-gnu" in core.name
    assert (built / "overage" / "renewals.py").is_file()


def test_the_layer_leaves_out_the_runtimes_boto3_and_the_developer_tools(built: Path) -> None:
    names = {entry.name for entry in built.iterdir()}
    assert not {n for n in names if n.split("-")[0].removesuffix(".py").lower() in RUNTIME_PROVIDED}
    assert not (built / "overage" / "local").exists()
    assert not list(built.rglob("__pycache__"))
    size = sum(p.stat().st_size for p in built.rglob("*") if p.is_file())
    assert size < 16 * 1024 * 1024, f"{size / 1024 / 1024:.1f} MiB"
