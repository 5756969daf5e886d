"""Run every benchmark and print its tables (Markdown, ready for the README): `make bench` (or `python -m bench`).

Nothing here is a pass/fail test: the tables say where each figure stands against its goal (issue 9).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"
os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
os.environ.pop("AWS_ENDPOINT_URL", None)


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """The in-process functions print their metrics (EMF) and warnings; the tables are what this prints."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink):
            yield sink


def goals(measured: Any, scale: Any, overhead: Any, cold: Any, report: Any) -> None:
    """Every goal of issue 20 next to what this run measured or modelled."""
    from bench import calls, cold_start, model, report_scale
    from bench.probe import table

    def verdict(ok: bool, by: str) -> str:
        return "met" if ok else f"**not met** ({by})"

    rows = []
    if cold is not None:
        for label, ratio_of in (
            ("handler import", lambda c: c.floor_ratio),
            ("handler import with the modules its invocations import", lambda c: c.job_ratio),
        ):
            worst = max(cold, key=ratio_of)
            figures = ", ".join(f"{c.name.removesuffix('Function')} {ratio_of(c):.2f}×" for c in cold)
            over = [c for c in cold if ratio_of(c) > cold_start.FLOOR_GOAL]
            rows.append(
                [
                    f"{label} ≤ {cold_start.FLOOR_GOAL}× its function's floor",
                    figures,
                    verdict(
                        not over,
                        f"{len(over)} of {len(cold)}; {worst.name} by {ratio_of(worst) - cold_start.FLOOR_GOAL:.2f}×",
                    ),
                ]
            )
    cost = scale.total(ses=False)
    rows.append(
        [
            f"cost per 1M account-months without SES ≤ ${model.GOAL_DOLLARS:.0f}, itemised",
            f"${cost:.2f}",
            verdict(cost <= model.GOAL_DOLLARS, f"by ${cost - model.GOAL_DOLLARS:.2f}"),
        ]
    )
    for run_ in (measured.renewal, measured.grace, measured.fair_use):
        goal = calls.CALL_GOALS[run_.name]
        rows.append(
            [
                f"{run_.name}: ≤ {goal} DynamoDB calls per unit",
                f"{run_.per_unit():.2f}",
                verdict(run_.per_unit() <= goal, f"by {run_.per_unit() - goal:.2f}"),
            ]
        )
    if report is not None:
        rows.append(
            [
                "monthly report at 1M accounts < 5 min end to end",
                f"{report.end_to_end_seconds / 60:.1f} min (modelled)",
                verdict(report.end_to_end_seconds < report_scale.GOAL_SECONDS, "see the report tables"),
            ]
        )
        rows.append(
            [
                "its peak memory < half of MemorySize",
                f"{report.peak_mib:,.0f} MiB of {report.memory_mb:,} MB (modelled)",
                verdict(report.peak_mib < report.memory_mb / 2, "see the report tables"),
            ]
        )
    rows.append(
        [
            f"renewal of 1M accounts < {model.GOAL_MINUTES} min at concurrency {model.CONCURRENCY}, counters included",
            f"{scale.minutes:.1f} min (modelled)",
            verdict(scale.minutes < model.GOAL_MINUTES, f"by {scale.minutes - model.GOAL_MINUTES:.1f} min"),
        ]
    )
    rows.append(
        [
            "webhook overhead ≤ 1.3×",
            f"{overhead.ratio:.2f}×",
            verdict(overhead.ratio <= 1.3, f"by {overhead.ratio - 1.3:.2f}×"),
        ]
    )
    table("Goals (issue 20): this run", ["goal", "this run", ""], rows)


def main() -> int:
    from bench import calls, cold_start, layer, memory, model, packages, report_scale, webhook

    started = time.perf_counter()
    print("# overage benchmarks (`make bench`)")
    site = layer.lambda_like_site()
    timings: list[tuple[str, float]] = []

    def step(name: str) -> None:
        timings.append((name, time.perf_counter() - started - sum(t for _, t in timings)))

    with quiet():
        measured = calls.run()
    calls.report(measured)
    step("calls")
    scale = model.build(measured)
    model.report(scale)
    model.report_sizes(model.sizes(measured), scale.memory_mb)
    with quiet():
        overhead = webhook.run()
    webhook.report(overhead)
    step("webhook")
    if site is None:
        print("\n(cold start and memory skipped: the layer's requirements could not be installed)")
    else:
        base_ms, cold = cold_start.run(site)
        with quiet():
            first = cold_start.first_request(site)
        cold_start.report(site, base_ms, cold, first)
        cold_start.report_pieces(cold_start.pieces(site))
        step("cold start")
        with quiet():
            checked, at_scale = report_scale.run(site)
        report_memory = report_scale.configured_mb()
        modelled = report_scale.report(checked, at_scale, report_memory)
        step("report at scale")
        with quiet():
            used = memory.run(site)
        memory.report(
            used, sized_elsewhere={"UsageReportFunction": (report_scale.recommended_mb(modelled), "report at scale")}
        )
        step("memory")
    goals(measured, scale, overhead, cold if site is not None else None, modelled if site is not None else None)
    if site is not None:
        shutil.rmtree(site.scratch, ignore_errors=True)
    try:
        packages.report(packages.run())
    except RuntimeError as error:  # no registry: the sizes need the layer's requirements installed
        print(f"\n(package sizes skipped: {error})")
    step("packages")
    print(
        f"\n_{time.perf_counter() - started:.0f} s on {os.cpu_count()} cores ("
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings)
        + ")._"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
