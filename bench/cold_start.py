"""Cold start: the import time of each handler module against ``import boto3`` + a Powertools ``Logger``.

Each measurement is a fresh ``python -S -B`` process on the Lambda-like path (``bench.layer``: the layer as its
Makefile builds it, with its bytecode) with the environment Lambda gives (``LAMBDA_TASK_ROOT`` set, the function's
template variables such as ``PYDANTIC_DISABLE_PLUGINS``, tracing on: Powertools' Tracer imports the X-Ray SDK and
patches botocore, as with ``Tracing: Active``). Rounds interleave the baseline and every handler, and the ratio is
taken within each round before the median, so a machine that speeds up or slows down during the run moves both sides
alike. Each handler is also imported from a copy of the layer without its bytecode (as it shipped before the Makefile
compiled it): Lambda cannot write bytecode to /opt, so every cold start then compiled every module.

The webhook has a second figure (``first_request``): a cold container's import and its first request, one signed
``contacts.counted`` through the handler against ``overage local up``, in CPU time of the function's process,
against its floor's import and one model's first JSON validation. A validator pydantic builds on first use (the
event types' own, the settings') counts there: the import ratio cannot hide time moved to the first call.

Each function has a second import figure (``job_modules``): its handler's import followed by every module of ours its
code can import later (the services, stores and notices imported in function bodies), against the floor of the
third-party modules that brings, so the modules a job or an event type loads on first use count too.
"""

from __future__ import annotations

import ast
import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from overage_local.template import LocalTemplate

from bench.layer import ROOT, Site
from bench.probe import table

ROUNDS = int(os.environ.get("BENCH_COLD_ROUNDS", "25"))  # with 15, one commit's ratio moved by up to 0.07x between runs
SOURCE_ROUNDS = 3  # the layer without bytecode: a few rounds show a difference this size
GOAL = 1.5  # against `import boto3` + `Logger` (issue 9; retired by issue 20 for the floor below)
FLOOR_GOAL = 1.15  # against the function's own floor (issue 20)
BASELINE = "import boto3\nfrom aws_lambda_powertools import Logger\nLogger(service='overage')"
FIRST_ROUNDS = int(os.environ.get("BENCH_FIRST_ROUNDS", "5"))
FIRST_FUNCTION = "CrmWebhookFunction"
FIRST_WORKER = Path(__file__).with_name("first_request_worker.py")
FIRST_VALIDATION = "M.model_validate_json('{\"x\": 1}', strict=True)\n"  # the floor's one model, first validation
WATCHED = ("pydantic", "aws_xray_sdk", "asyncio", "aws_lambda_powertools.event_handler", "moto", "yaml")

PROBE = """
import json, sys, time
sys.path[:0] = {path!r}
started, cpu_started = time.perf_counter(), time.process_time()
exec({code!r}, {{}})
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
print(json.dumps({{"ms": elapsed * 1000, "cpu_ms": cpu * 1000, "modules": len(sys.modules),
                  "watched": [m for m in {watched!r} if m in sys.modules]}}))
"""


# Which third-party modules a handler loads (a discovery run, once per function): everything in sys.modules after its
# import that is neither the standard library nor ours (the layer's overage package, the function's app module), in
# the order the handler began importing them (sys.modules' own order): the floor imports them in that order, as the
# handler does, rather than alphabetically (a package's modules imported in an order no code of the handler follows).
DISCOVER = """
import json, sys
sys.path[:0] = {path!r}
exec({code!r}, {{}})
ours = ("overage", "app", "__main__", "_sitebuiltins")
names = [m for m in sys.modules if m.split(".")[0] not in sys.stdlib_module_names
         and m.split(".")[0] not in ours and not m.startswith("_")]
print(json.dumps(names))
"""
# A function's floor: the same third-party modules with no code of ours, and what every handler makes of them (the
# Logger, the Tracer patching botocore, Metrics, one pydantic model).
FLOOR = """
import importlib
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except Exception:  # a module only importable as a side effect of its parent's import; the parent brings it
        pass
from aws_lambda_powertools import Logger, Metrics, Tracer
Logger(service="overage")
Tracer(service="overage", patch_modules=("botocore",))
Metrics(namespace="Overage", service="overage")
from pydantic import BaseModel
class M(BaseModel):
    x: int = 0
M(x=1)
"""


# The modules a function's invocations import after its handler's (their services, stores and notices: imported in the
# function bodies that build or dispatch a job, so a function does not load another's). Found in the source, not by
# running it: every import of ours, at module level or in a function body (TYPE_CHECKING blocks left out), from the
# handler's module on; in the factory modules (the composition root, and the stores a job is built from) only the
# functions and classes the code reaches (``wiring.NAME``, ``from ... import Deps``) and the ones they call. The
# second goal figure imports them too: time moved to the first call cannot hide there.
FACTORY_MODULES = ("overage.wiring", "overage.services.deps")
LAYER_SOURCE = ROOT / "layers" / "overage"


def _source(name: str, code_dir: Path) -> Path | None:
    if "." not in name and (code_dir / f"{name}.py").exists():
        return code_dir / f"{name}.py"
    if name.split(".")[0] != "overage":
        return None
    base = LAYER_SOURCE.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(body: list[ast.stmt], code_dir: Path) -> list[str]:
    """The modules of ours the statements import (nested function bodies included, TYPE_CHECKING blocks not)."""
    found: list[str] = []
    pending: list[ast.AST] = list(body)
    while pending:
        node = pending.pop(0)
        if _is_type_checking(node):
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from overage import wiring` imports the module overage.wiring
                child = f"{node.module}.{alias.name}"
                found.append(child if _source(child, code_dir) is not None else node.module)
        pending[:0] = list(ast.iter_child_nodes(node))
    return [name for name in found if _source(name, code_dir) is not None]


def _reached_names(tree: ast.Module) -> set[str]:
    """What a module can use at run time from a factory module: ``from <factory> import NAME``, and ``alias.NAME``
    where the factory module is imported as ``alias`` (``from overage import wiring``, ``... deps as stores``)."""
    names: set[str] = set()
    aliases: set[str] = set()
    attributes: list[tuple[str, str]] = []  # (name, attribute) of every `name.attribute`
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if _is_type_checking(node):
            continue
        if isinstance(node, ast.ImportFrom) and node.module in FACTORY_MODULES:
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            aliases |= {
                alias.asname or alias.name for alias in node.names if f"{node.module}.{alias.name}" in FACTORY_MODULES
            }
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            attributes.append((node.value.id, node.attr))
        pending += list(ast.iter_child_nodes(node))
    return names | {attribute for name, attribute in attributes if name in aliases}


def job_modules(code_dir: Path, module: str) -> list[str]:
    """Our modules the function may import, its handler's module first, in the order they are found."""
    order: list[str] = []
    reached: set[str] = set()
    pending = [module]
    trees: dict[str, ast.Module] = {}
    while pending:
        name = pending.pop(0)
        if name not in order:
            order.append(name)
            path = _source(name, code_dir)
            assert path is not None
            tree = trees[name] = ast.parse(path.read_text(), str(path))
            reached |= _reached_names(tree)
            # a factory module's module level now, its functions and classes once every caller is known (below)
            definitions = (ast.FunctionDef, ast.ClassDef)
            body = [n for n in tree.body if not isinstance(n, definitions)] if name in FACTORY_MODULES else tree.body
            pending += _imports(body, code_dir)
        if not pending:
            later = [
                found for m in FACTORY_MODULES if m in trees for found in _factory_imports(trees[m], reached, code_dir)
            ]
            pending = [found for found in later if found not in order]
    return order


def _factory_imports(tree: ast.Module, reached: set[str], code_dir: Path) -> list[str]:
    """The imports of a factory module's functions and classes the code reaches, and of those they call."""
    definitions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    seen: set[str] = set()
    pending = [name for name in reached if name in definitions]
    found: list[str] = []
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen.add(name)
        found += _imports(definitions[name].body, code_dir)
        pending += [
            node.func.id
            for node in ast.walk(definitions[name])
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in definitions
        ]
    return found


# What the handlers' imports cost on top of the baseline, one increment after the other in one process.
PIECES = (
    ("baseline: `import boto3` + Powertools `Logger`", BASELINE),
    (
        "pydantic (import and a first model)",
        "from pydantic import BaseModel\nclass M(BaseModel):\n    x: int = 0\nM(x=1)",
    ),
    (
        "Powertools `Tracer` (X-Ray SDK, botocore patched)",
        "from aws_lambda_powertools import Tracer\nTracer(service='overage', patch_modules=('botocore',))",
    ),
    (
        "Powertools REST resolver (webhook only; most of it is importing the event_handler package)",
        "from aws_lambda_powertools.event_handler import APIGatewayRestResolver\nAPIGatewayRestResolver()",
    ),
    ("Powertools batch utility (no longer imported)", "import aws_lambda_powertools.utilities.batch"),
)
PIECES_PROBE = """
import json, sys, time
sys.path[:0] = {path!r}
times = []
for code in {codes!r}:
    started = time.perf_counter()
    exec(code, {{}})
    times.append((time.perf_counter() - started) * 1000)
print(json.dumps(times))
"""


@dataclass
class ColdStart:
    name: str
    ms: float
    ratio: float
    modules: int
    watched: list[str]
    ms_without_bytecode: float
    floor_ms: float = 0.0
    floor_ratio: float = 0.0  # CPU time against the floor's CPU time, the median of each round's ratio
    cpu_ms: float = 0.0
    floor_cpu_ms: float = 0.0
    # Over the goal only: the same ratio with the cyclic garbage collector off in both processes, which shows how much
    # of the excess is collections the handler's extra objects bring about (not code that runs).
    floor_ratio_without_gc: float | None = None
    # With the modules its invocations import (``job_modules``), against the floor of that import's third-party modules
    job_modules: int = 0
    job_cpu_ms: float = 0.0
    job_floor_cpu_ms: float = 0.0
    job_ratio: float = 0.0


def _env(task_root: str, variables: dict[str, str]) -> dict[str, str]:
    return {
        **variables,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LAMBDA_TASK_ROOT": task_root,
        "AWS_LAMBDA_FUNCTION_NAME": "overage-bench",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "overage",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    }


def _python(
    site: Site, code_dir: Path | None, script: str, variables: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    task_root = site.function_dir(code_dir) if code_dir is not None else site.scratch
    return subprocess.run(
        site.command("-c", script),
        env=_env(str(task_root), variables),
        capture_output=True,
        text=True,
        check=False,
        cwd=task_root,
    )


def pieces(site: Site) -> list[tuple[str, float]]:
    """Median increments (ms) of ``PIECES``, each after the ones before it."""
    script = PIECES_PROBE.format(path=site.path(), codes=[code for _, code in PIECES])
    variables = _globals_environment()
    runs = []
    for _ in range(ROUNDS):
        result = _python(site, None, script, variables)
        if result.returncode != 0:
            raise RuntimeError(f"timing the import pieces failed:\n{result.stderr[-2000:]}")
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    return [(name, statistics.median(run[n] for run in runs)) for n, (name, _) in enumerate(PIECES)]


def _globals_environment() -> dict[str, str]:
    """The variables every function gets (template Globals), for the baseline and the pieces."""
    template = LocalTemplate.from_file(ROOT / "template.yaml")
    shared: dict[str, str] | None = None
    for fid in template.function_ids():
        variables = template.function_environment(fid)
        shared = variables if shared is None else {k: v for k, v in shared.items() if variables.get(k) == v}
    return shared or {}


def _measure(site: Site, code_dir: Path | None, code: str, variables: dict[str, str]) -> dict[str, object]:
    script = PROBE.format(path=site.path(code_dir), code=code, watched=WATCHED)
    result = _python(site, code_dir, script, variables)
    if result.returncode != 0:
        raise RuntimeError(f"importing in {code_dir} failed:\n{result.stderr[-2000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _ratio_without_gc(site: Site, code_dir: Path, floor: str, module: str, variables: dict[str, str]) -> float:
    off = "import gc\ngc.disable()\n"
    ratios = []
    for _ in range(ROUNDS):
        base = float(_measure(site, code_dir, off + floor, variables)["cpu_ms"])  # type: ignore[arg-type]
        handler = float(_measure(site, code_dir, f"{off}import {module}", variables)["cpu_ms"])  # type: ignore[arg-type]
        ratios.append(handler / base)
    return statistics.median(ratios)


def third_party(
    site: Site, code_dir: Path, module: str, variables: dict[str, str], code: str | None = None
) -> list[str]:
    script = DISCOVER.format(path=site.path(code_dir), code=code or f"import {module}")
    result = _python(site, code_dir, script, variables)
    if result.returncode != 0:
        raise RuntimeError(f"listing the modules of {module} failed:\n{result.stderr[-2000:]}")
    names: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return names


def run(site: Site) -> tuple[float, list[ColdStart]]:
    template = LocalTemplate.from_file(ROOT / "template.yaml")
    functions = {fid: template.function_code(fid) for fid in template.function_ids()}
    variables = {fid: template.function_environment(fid) for fid in functions}
    shared = _globals_environment()
    floors = {
        fid: FLOOR.format(modules=third_party(site, code.code_dir, code.module, variables[fid]))
        for fid, code in functions.items()
    }
    jobs = {fid: job_modules(code.code_dir, code.module) for fid, code in functions.items()}
    job_code = {fid: "".join(f"import {name}\n" for name in jobs[fid]) for fid in functions}
    job_floors = {
        fid: FLOOR.format(modules=third_party(site, code.code_dir, code.module, variables[fid], job_code[fid]))
        for fid, code in functions.items()
    }
    job_cpu: dict[str, list[float]] = {fid: [] for fid in functions}
    job_floor_cpu: dict[str, list[float]] = {fid: [] for fid in functions}
    job_ratios: dict[str, list[float]] = {fid: [] for fid in functions}
    base_times: list[float] = []
    samples: dict[str, list[dict[str, object]]] = {fid: [] for fid in functions}
    ratios: dict[str, list[float]] = {fid: [] for fid in functions}
    floor_times: dict[str, list[float]] = {fid: [] for fid in functions}
    floor_cpu: dict[str, list[float]] = {fid: [] for fid in functions}
    floor_ratios: dict[str, list[float]] = {fid: [] for fid in functions}
    for _ in range(ROUNDS):
        base = float(_measure(site, None, BASELINE, shared)["ms"])  # type: ignore[arg-type]
        base_times.append(base)
        for fid, code in functions.items():
            # the floor in the function's own folder and environment, right before the handler: the same conditions
            floor = _measure(site, code.code_dir, floors[fid], variables[fid])
            sample = _measure(site, code.code_dir, f"import {code.module}", variables[fid])
            samples[fid].append(sample)
            ratios[fid].append(float(sample["ms"]) / base)  # type: ignore[arg-type]
            floor_times[fid].append(float(floor["ms"]))  # type: ignore[arg-type]
            floor_cpu[fid].append(float(floor["cpu_ms"]))  # type: ignore[arg-type]
            # The goal's ratio is of CPU time: an import is CPU work, and the process's own CPU time leaves out
            # what else the machine runs meanwhile, which moves wall-clock ratios by several hundredths.
            floor_ratios[fid].append(float(sample["cpu_ms"]) / float(floor["cpu_ms"]))  # type: ignore[arg-type]
            job_floor = float(_measure(site, code.code_dir, job_floors[fid], variables[fid])["cpu_ms"])  # type: ignore[arg-type]
            job = float(_measure(site, code.code_dir, job_code[fid], variables[fid])["cpu_ms"])  # type: ignore[arg-type]
            job_floor_cpu[fid].append(job_floor)
            job_cpu[fid].append(job)
            job_ratios[fid].append(job / job_floor)
    without_gc = {
        fid: _ratio_without_gc(site, code.code_dir, floors[fid], code.module, variables[fid])
        for fid, code in functions.items()
        if statistics.median(floor_ratios[fid]) > FLOOR_GOAL
    }
    sourced = site.without_bytecode()
    without = {
        fid: statistics.median(
            float(_measure(sourced, code.code_dir, f"import {code.module}", variables[fid])["ms"])  # type: ignore[arg-type]
            for _ in range(SOURCE_ROUNDS)
        )
        for fid, code in functions.items()
    }
    results = [
        ColdStart(
            fid,
            statistics.median(float(s["ms"]) for s in samples[fid]),  # type: ignore[arg-type]
            statistics.median(ratios[fid]),
            int(samples[fid][-1]["modules"]),  # type: ignore[call-overload]
            list(samples[fid][-1]["watched"]),  # type: ignore[call-overload]
            without[fid],
            statistics.median(floor_times[fid]),
            statistics.median(floor_ratios[fid]),
            statistics.median(float(s["cpu_ms"]) for s in samples[fid]),  # type: ignore[arg-type]
            statistics.median(floor_cpu[fid]),
            without_gc.get(fid),
            len(jobs[fid]),
            statistics.median(job_cpu[fid]),
            statistics.median(job_floor_cpu[fid]),
            statistics.median(job_ratios[fid]),
        )
        for fid in functions
    ]
    return statistics.median(base_times), results


@dataclass
class FirstRequest:
    """A cold container's import + first request against its floor's import + one model's first validation."""

    name: str
    cpu_ms: float
    floor_cpu_ms: float
    ratio: float  # the median of each round's ratio


def _cpu_ms(site: Site, template: LocalTemplate, endpoint: str, job: dict[str, object]) -> float:
    from bench.layer import run_in_function

    result = run_in_function(site, template, FIRST_FUNCTION, FIRST_WORKER, job, endpoint=endpoint)
    if result.returncode != 0:
        raise RuntimeError(f"the first request of {FIRST_FUNCTION} failed:\n{result.stderr[-2000:]}")
    return float(json.loads(result.stdout.strip().splitlines()[-1])["cpu_ms"])


def first_request(site: Site) -> FirstRequest:
    """``FIRST_ROUNDS`` interleaved rounds of the floor and of a cold webhook container's first request (a new event
    id each round, each later than the one before, for an account seeded once: each is applied, a 202)."""
    import boto3
    from overage.domain.signature import sign_header

    from bench import memory, seed
    from tests.builders import contacts_body
    from tests.support import SECRET, rest_event

    template = LocalTemplate.from_file(ROOT / "template.yaml", parameter_overrides={"LogLevel": "ERROR"})
    code = template.function_code(FIRST_FUNCTION)
    modules = third_party(site, code.code_dir, code.module, template.function_environment(FIRST_FUNCTION))
    floor = FLOOR.format(modules=modules) + FIRST_VALIDATION
    with memory.local_aws(template) as endpoint:
        ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=template.region)
        seed.put_all(ddb, template.physical_id("AccountsTable"), iter(seed.account_items(0, date(2026, 1, 20))))
        floors: list[float] = []
        handled: list[float] = []
        for k in range(FIRST_ROUNDS):
            occurred = datetime.now(UTC) - timedelta(minutes=FIRST_ROUNDS - k)
            body = contacts_body(seed.account_id(0), occurred.strftime("%Y-%m-%dT%H:%M:%SZ"), 40 + k)
            raw = json.dumps(body).encode()
            event = rest_event(
                "POST", "/webhooks/crm", raw, {"Overage-Signature": sign_header(SECRET, raw, int(time.time()))}
            )
            floors.append(_cpu_ms(site, template, endpoint, {"code": floor}))
            job = {"attribute": code.attribute, "event": event, "status": 202}
            handled.append(_cpu_ms(site, template, endpoint, job))
    return FirstRequest(
        FIRST_FUNCTION,
        statistics.median(handled),
        statistics.median(floors),
        statistics.median(h / f for h, f in zip(handled, floors, strict=True)),
    )


def report_pieces(measured: list[tuple[str, float]]) -> None:
    base = measured[0][1]
    table(
        "Cold start: where the import time goes (increments after the baseline, one process)",
        ["piece", "ms", "× baseline"],
        [[name, f"{ms:.0f}", f"{ms / base:.2f}"] for name, ms in measured],
        "The rest of a handler's time is overage's own modules (their pydantic models: catalog, account, invoice, "
        "events) and Powertools Metrics.",
    )


def report(site: Site, base_ms: float, results: list[ColdStart], first: FirstRequest | None = None) -> None:
    rows = [
        ["baseline: `import boto3` + Powertools `Logger`", f"{base_ms:.0f}", "", "", "", "", "1.00×", "", "", "", ""]
    ]
    for r in results:
        cold_request = (
            f"{first.ratio:.2f}× ({first.cpu_ms:.0f} / {first.floor_cpu_ms:.0f} ms CPU)"
            if first is not None and first.name == r.name
            else ""
        )
        verdict = "met" if r.floor_ratio <= FLOOR_GOAL else f"over by {r.floor_ratio - FLOOR_GOAL:.2f}"
        job_verdict = "met" if r.job_ratio <= FLOOR_GOAL else f"over by {r.job_ratio - FLOOR_GOAL:.2f}"
        if r.floor_ratio_without_gc is not None:
            verdict += f" ({r.floor_ratio_without_gc:.2f}× with the collector off in both)"
        rows.append(
            [
                r.name,
                f"{r.ms:.0f}",
                f"{r.floor_ms:.0f}",
                f"{r.cpu_ms:.0f} / {r.floor_cpu_ms:.0f}",
                f"**{r.floor_ratio:.2f}×** {verdict}",
                f"**{r.job_ratio:.2f}×** {job_verdict}"
                f" ({r.job_cpu_ms:.0f} / {r.job_floor_cpu_ms:.0f} ms CPU, {r.job_modules} modules of ours)",
                f"{r.ratio:.2f}×",
                cold_request,
                f"{r.ms_without_bytecode:.0f}",
                str(r.modules),
                ", ".join(r.watched) or "-",
            ]
        )
    table(
        f"Cold start: handler import time (median of {ROUNDS} interleaved rounds)",
        [
            "module",
            "ms",
            "its floor, ms",
            "CPU ms: handler / its floor",
            f"CPU vs its floor (goal ≤ {FLOOR_GOAL}×)",
            "with the modules its invocations import, CPU vs their floor (same goal)",
            "vs baseline",
            "import + first request vs its floor + a first validation",
            "ms, layer without bytecode",
            "modules loaded",
            "of note",
        ],
        rows,
        "A function's floor: the third-party modules its handler loads, imported with no code of ours, plus the "
        "Logger, the Tracer (botocore patched), Metrics and one pydantic model, imported in the order the handler "
        "imports them; measured in the function's folder and environment right before its handler, the ratio taken "
        "within each round, of the process's CPU time (ms: wall clock). With the modules its invocations import: the "
        "handler's import followed by every module of ours its code can import later (the services, stores and "
        "notices a job or an event type loads in the function body that builds or dispatches it; found in the source, "
        "`job_modules`), against the floor of the third-party modules that brings, in the same rounds: the time a "
        "first call would move out of the import counts there. Path: "
        f"{site.note}. Tracing on as "
        "in AWS (X-Ray SDK, botocore patched). Import + first request (webhook): a cold process's import and one "
        "signed `contacts.counted` applied (202) against `overage local up`, in the process's CPU time (the local "
        "AWS's own time not counted), against its floor and that model's first JSON validation; median of "
        f"{FIRST_ROUNDS} interleaved rounds. The goal is the import ratio; beside a ratio over it, the same ratio with "
        "Python's cyclic garbage collector off in both processes (`gc.disable()` first; a measurement only, the "
        "functions keep it on), median of as many rounds.",
    )
