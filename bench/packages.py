"""Package size: each function's deployment (its code folder + the OverageLayer: the ``overage`` package and the
layer's requirements, installed for the Lambda platform, python3.13 on arm64, when the registry serves those wheels).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from overage.local.template import LocalTemplate

from bench.layer import LAMBDA_PLATFORM, LAYER, ROOT, install, layer_requirements
from bench.probe import table

MIB = 1024 * 1024


@dataclass
class Sizes:
    platform: str
    layer_deps: dict[str, int]  # top-level package → bytes
    overage: int
    overage_local: int
    functions: dict[str, tuple[int, int]]  # logical id → (code bytes, zipped bytes of code + layer)
    layer_zipped: int


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in _files(folder))


def _zipped(folders: list[tuple[Path, str]]) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder, prefix in folders:
            for path in _files(folder):
                archive.write(path, f"{prefix}/{path.relative_to(folder)}")
    return buffer.tell()


def run() -> Sizes:
    deps = install(layer_requirements(), platform=LAMBDA_PLATFORM)
    platform = f"manylinux2014_aarch64, Python {LAMBDA_PLATFORM[1]} (the Lambda runtime)"
    if deps is None:
        deps = install(layer_requirements())
        platform = "this machine's platform (the registry did not serve the Lambda wheels)"
    if deps is None:
        raise RuntimeError("could not install the layer's requirements")
    by_package: dict[str, int] = {}
    for entry in deps.iterdir():
        if entry.name.startswith(".") or entry.name == "bin":
            continue
        name = entry.name.split("-")[0] if entry.name.endswith(".dist-info") else entry.name.removesuffix(".py")
        size = _bytes(entry) if entry.is_dir() else entry.stat().st_size
        by_package[name.lower()] = by_package.get(name.lower(), 0) + size
    overage = LAYER / "overage"
    layer_zipped = _zipped([(deps, "python"), (overage, "python/overage")])
    template = LocalTemplate.from_file(ROOT / "template.yaml")
    functions = {}
    for fid in template.function_ids():
        code_dir = template.function_code(fid).code_dir
        functions[fid] = (_bytes(code_dir), _zipped([(code_dir, ".")]) + layer_zipped)
    return Sizes(platform, by_package, _bytes(overage), _bytes(overage / "local"), functions, layer_zipped)


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
        f"Layer requirements installed for {sizes.platform}. Lambda's limits: 250 MB unzipped, function and layers.",
    )
    biggest = sorted(sizes.layer_deps.items(), key=lambda kv: -kv[1])[:8]
    layer_rows = [[name, f"{size / MIB:.1f} MiB"] for name, size in biggest]
    layer_rows.append(
        [
            "overage (of which overage/local, never imported in Lambda)",
            f"{sizes.overage / MIB:.2f} MiB ({sizes.overage_local / MIB:.2f} MiB)",
        ]
    )
    layer_rows.append(
        ["**layer total** (unzipped / zipped)", f"{layer_total / MIB:.1f} MiB / {sizes.layer_zipped / MIB:.1f} MiB"]
    )
    table("What the layer is made of (largest first)", ["package", "unzipped"], layer_rows)
