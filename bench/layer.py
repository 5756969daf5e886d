"""The Lambda-like import path the cold-start and memory benchmarks use, and the layer builds the size report uses.

In Lambda a handler sees its own folder (/var/task), then the layer (/opt/python: the ``overage`` package and the
layer's requirements), then the runtime's boto3. Here: ``python -S`` (no site-packages, so nothing from the dev venv
leaks in: no moto, no requests for X-Ray to patch) with the function's folder, the layer's requirements installed
for this machine, ``layers/overage`` and boto3 at the version pyproject pins. Installs are cached per content, so a
second ``make bench`` does not install again (uv's own cache makes the first one quick when it was warm).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "overage"
REQUIREMENTS = LAYER / "requirements.txt"
LAMBDA_PLATFORM = ("aarch64-manylinux2014", "3.13")  # template.yaml: python3.13 on arm64


@dataclass(frozen=True)
class Site:
    """Where the Lambda-like path's pieces are, and what they are (``note`` says how they were made)."""

    layer_deps: Path
    runtime: Path
    note: str

    def path(self, code_dir: Path) -> list[str]:
        return [str(code_dir), str(self.layer_deps), str(LAYER), str(self.runtime)]


def _uv() -> str | None:
    local = ROOT / ".tools" / "bin" / "uv"
    return str(local) if local.exists() else shutil.which("uv")


def boto3_pin() -> str:
    match = re.search(r'"boto3==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    return f"boto3=={match.group(1)}" if match else "boto3"


def install(requirements: list[str], *, platform: tuple[str, str] | None = None) -> Path | None:
    """``requirements`` installed into a cached folder (for ``platform``, else this interpreter); None if it failed."""
    key = hashlib.sha256(repr((requirements, platform, sys.version)).encode()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "overage-bench" / key
    if (target / ".complete").exists():
        return target
    uv = _uv()
    if uv is None:
        return None
    shutil.rmtree(target, ignore_errors=True)
    command = [uv, "pip", "install", "--quiet", "--target", str(target), *requirements]
    if platform:
        command += ["--python-platform", platform[0], "--python-version", platform[1]]
    else:
        command += ["--python", sys.executable]
    result = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ})
    if result.returncode != 0:
        print(f"(could not install {requirements}: {result.stderr.strip()[:300]})")
        return None
    (target / ".complete").touch()
    return target


def layer_requirements() -> list[str]:
    return [line.strip() for line in REQUIREMENTS.read_text().splitlines() if line.strip() and not line.startswith("#")]


def lambda_like_site() -> Site | None:
    deps = install(layer_requirements())
    runtime = install([boto3_pin()])
    if deps is None or runtime is None:
        return None
    return Site(
        deps,
        runtime,
        f"layer requirements and {boto3_pin()} installed for this machine "
        f"(Python {sys.version_info.major}.{sys.version_info.minor}, {os.uname().machine}); python -S",
    )
