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
    with quiet():
        overhead = webhook.run()
    webhook.report(overhead)
    step("webhook")
    if site is None:
        print("\n(cold start and memory skipped: the layer's requirements could not be installed)")
    else:
        base_ms, cold = cold_start.run(site)
        cold_start.report(site, base_ms, cold)
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
