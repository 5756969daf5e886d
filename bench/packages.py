"""Package size: each function's deployment (its code folder + OverageLayer as `sam build` makes it: the
``layers/overage/Makefile`` target, which installs the layer's requirements for python3.13 on arm64 from PyPI).
"""

from __future__ import annotations

import io
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from overage_local.template import LocalTemplate

from bench.layer import ROOT, build_layer, lambda_python
from bench.probe import table

MIB = 1024 * 1024


@dataclass
class Sizes:
    platform: str
    layer_deps: dict[str, int]  # top-level package → bytes
    overage: int  # the overage package as the layer ships it
    overage_local: int  # tools/overage_local, the developer CLI, which is not in the layer
    functions: dict[str, tuple[int, int]]  # logical id → (code bytes, zipped bytes of code + layer)
    layer_zipped: int


def _files(folder: Path, *, built: bool = False) -> list[Path]:
    """Every file of a built layer (its bytecode ships); a source folder without what test runs left behind."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return files if built else [p for p in files if "__pycache__" not in p.parts and p.suffix != ".pyc"]


def _bytes(folder: Path, *, built: bool = False) -> int:
    return sum(p.stat().st_size for p in _files(folder, built=built))


def _zipped(folders: list[tuple[Path, str, bool]]) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder, prefix, built in folders:
            for path in _files(folder, built=built):
                archive.write(path, f"{prefix}/{path.relative_to(folder)}")
    return buffer.tell()


def run() -> Sizes:
    bytecode = lambda_python() is not None
    built = build_layer() if bytecode else build_layer(BYTECODE="no")
    by_package: dict[str, int] = {}
    bytecode_size = sum(p.stat().st_size for p in built.rglob("*.pyc"))
    for entry in built.iterdir():
        if entry.name == "overage":
            continue
        name = entry.name.split("-")[0] if entry.name.endswith(".dist-info") else entry.name.removesuffix(".py")
        size = _bytes(entry, built=True) if entry.is_dir() else entry.stat().st_size
        by_package[name.lower()] = by_package.get(name.lower(), 0) + size
    layer_zipped = _zipped([(built, "python", True)])
    template = LocalTemplate.from_file(ROOT / "template.yaml")
    functions = {}
    for fid in template.function_ids():
        code_dir = template.function_code(fid).code_dir
        functions[fid] = (_bytes(code_dir), _zipped([(code_dir, ".", False)]) + layer_zipped)
    platform = "manylinux2014_aarch64, Python 3.13 (the Lambda runtime), by layers/overage/Makefile, " + (
        f"with its bytecode ({bytecode_size / MIB:.1f} MiB)" if bytecode else "WITHOUT bytecode (no Python 3.13 here)"
    )
    overage_size = _bytes(built / "overage", built=True)
    sizes = Sizes(platform, by_package, overage_size, _bytes(ROOT / "tools" / "overage_local"), functions, layer_zipped)
    shutil.rmtree(built.parent, ignore_errors=True)
    return sizes


def report(sizes: Sizes) -> None:
    layer_total = sum(sizes.layer_deps.values()) + sizes.overage
    rows = [
        [fid, f"{code / 1024:.1f} KiB", f"{(code + layer_total) / MIB:.1f} MiB", f"{zipped / MIB:.1f} MiB"]
        for fid, (code, zipped) in sizes.functions.items()
    ]
    table(
        "Package size: function code + OverageLayer",
        ["function", "code", "unzipped with layer", "zipped with layer"],
        rows,
        f"Layer built for {sizes.platform}; boto3 and botocore are the runtime's. Lambda's limits: 250 MB unzipped, "
        "function and layers.",
    )
    biggest = sorted(sizes.layer_deps.items(), key=lambda kv: -kv[1])[:8]
    layer_rows = [[name, f"{size / MIB:.1f} MiB"] for name, size in biggest]
    layer_rows.append(
        [
            "overage (the developer tools, tools/overage_local, are outside the layer)",
            f"{sizes.overage / MIB:.2f} MiB ({sizes.overage_local / MIB:.2f} MiB not shipped)",
        ]
    )
    layer_rows.append(
        ["**layer total** (unzipped / zipped)", f"{layer_total / MIB:.1f} MiB / {sizes.layer_zipped / MIB:.1f} MiB"]
    )
    table("What the layer is made of (largest first)", ["package", "unzipped"], layer_rows)
