"""The Lambda-like import path the cold-start and memory benchmarks use, and the layer builds the size report uses.

In Lambda a handler sees its own folder (/var/task), then the layer (/opt/python: the ``overage`` package and the
layer's requirements, with their bytecode), then the runtime's boto3. Here: ``python -S -B`` (no site-packages, so
nothing from the dev venv leaks in: no moto, no requests for X-Ray to patch; no bytecode written, as /opt is
read-only) with a copy of the function's folder, OverageLayer built by its own Makefile for this machine's platform,
and boto3 at the version pyproject pins. The interpreter is Python 3.13 (the runtime's) when this machine has one.
The boto3 install is cached per content; the layer is built afresh each run (pip's cache makes that a few seconds).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "overage"
LAMBDA_PLATFORM = ("aarch64-manylinux2014", "3.13")  # template.yaml: python3.13 on arm64


@dataclass(frozen=True)
class Site:
    """Where the Lambda-like path's pieces are, and what they are (``note`` says how they were made)."""

    layer: Path  # OverageLayer's python/ folder (/opt/python in Lambda)
    runtime: Path  # boto3 and botocore (the runtime's)
    note: str
    python: str  # the interpreter (the runtime's version when this machine has it)
    scratch: Path  # where the build and the functions' copies live

    def path(self, code_dir: Path | None = None) -> list[str]:
        """sys.path in Lambda: the function's folder (none for the baseline), the layer, the runtime's boto3."""
        own = [str(self.function_dir(code_dir))] if code_dir is not None else []
        return [*own, str(self.layer), str(self.runtime)]

    def function_dir(self, code_dir: Path) -> Path:
        return _function_copy(code_dir, self.scratch)

    def without_bytecode(self) -> Site:
        """The same site with a copy of the layer that has no bytecode (every import compiles its module)."""
        sourced = self.scratch / "layer-without-bytecode"
        if not sourced.exists():
            shutil.copytree(self.layer, sourced, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return replace(self, layer=sourced, note=f"{self.note}; layer without bytecode")

    def command(self, *arguments: str) -> list[str]:
        return [self.python, "-S", "-B", *arguments]


def _uv() -> str | None:
    local = ROOT / ".tools" / "bin" / "uv"
    return str(local) if local.exists() else shutil.which("uv")


def boto3_pin() -> str:
    match = re.search(r'"boto3==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    return f"boto3=={match.group(1)}" if match else "boto3"


def install(requirements: list[str], *, python: str) -> Path | None:
    """``requirements`` installed with their bytecode into a cached folder for ``python``; None if it failed."""
    key = hashlib.sha256(repr((requirements, python, sys.version)).encode()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "overage-bench" / key
    if (target / ".complete").exists():
        return target
    uv = _uv()
    if uv is None:
        return None
    shutil.rmtree(target, ignore_errors=True)
    command = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--target", str(target), *requirements]
    command += ["--python", python]
    result = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ})
    if result.returncode != 0:
        print(f"(could not install {requirements}: {result.stderr.strip()[:300]})")
        return None
    (target / ".complete").touch()
    return target


def lambda_python() -> str | None:
    """The Python of the Lambda runtime's version found here (PATH or pyenv, as the layer's Makefile looks), or None."""
    result = subprocess.run(
        [str(LAYER / "find-python.sh"), LAMBDA_PLATFORM[1]], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or None


def build_layer(**make_variables: str) -> Path:
    """OverageLayer built by its Makefile target, as `sam build` runs it (needs pip and PyPI); returns its python/."""
    artifacts = Path(tempfile.mkdtemp(prefix="overage-layer-"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "LAMBDA_PYTHON")}
    variables = [f"{name}={value}" for name, value in make_variables.items()]
    command = ["make", "--no-print-directory", "-C", str(LAYER), "build-OverageLayer", f"ARTIFACTS_DIR={artifacts}"]
    result = subprocess.run([*command, *variables], capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"building the layer failed: {(result.stdout + result.stderr).strip()[-400:]}")
    return artifacts / "python"


def _function_copy(code_dir: Path, into: Path) -> Path:
    """A function's folder as `sam build` ships it: its files, no bytecode (so none a test run left behind is used)."""
    target = into / code_dir.name
    if not target.exists():
        shutil.copytree(code_dir, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def lambda_like_site() -> Site | None:
    """The layer built by its Makefile for this machine's platform (the same steps and bytecode as the deployed one)
    with the runtime's Python version when this machine has it, and boto3 installed with its bytecode as the runtime
    has it. Processes run ``python -S -B``: nothing from a venv, and no bytecode written (``/opt`` is read-only)."""
    python = lambda_python()
    version = LAMBDA_PLATFORM[1]
    if python is None:  # not the runtime's version: the current one, so the figures still compare like with like
        python, version = sys.executable, f"{sys.version_info.major}.{sys.version_info.minor}"
    try:
        # pip needs an interpreter that has it: the found python3.13, or the python3 on PATH for this one's version
        pip_python = python if python != sys.executable else shutil.which(f"python{version}") or "python3"
        layer = build_layer(PLATFORM="", PYTHON=pip_python, LAMBDA_PYTHON=python, RUNTIME_VERSION=version)
    except RuntimeError as error:
        print(f"({error})")
        return None
    runtime = install([boto3_pin()], python=python)
    if runtime is None:
        return None
    return Site(
        layer,
        runtime,
        f"OverageLayer built by its Makefile for this machine ({os.uname().machine}) with its bytecode, "
        f"{boto3_pin()} with its bytecode; Python {version} ({python}) -S -B",
        python,
        layer.parent,
    )


def run_in_function(
    site: Site,
    template: Any,
    logical_id: str,
    worker: Path,
    job: dict[str, Any],
    *,
    endpoint: str | None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``worker`` (a bench script reading ``job`` as JSON on stdin) in a Lambda-like process of one function: the
    site's Python and layer, the function's code directory as its working directory, and the function's environment
    from the template (``endpoint``: the local AWS it talks to, None for none) with fake credentials and ``env``.
    ``job`` gets the function's code path and handler module."""
    from overage_local.runtime import function_env

    code = template.function_code(logical_id)
    environment = function_env(template, logical_id, endpoint) | {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        **(env or {}),
    }
    return subprocess.run(
        site.command(str(worker)),
        input=json.dumps({"path": site.path(code.code_dir), "module": code.module, **job}),
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        cwd=site.function_dir(code.code_dir),
    )
