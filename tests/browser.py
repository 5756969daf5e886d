"""Headless Chromium for the tests that look at a page (the invoice document, the report's index.html): found on
PATH or as Debian's /usr/bin/chromium (`.ci/run` installs the package), else those tests are skipped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def needs_chromium(what: str) -> pytest.MarkDecorator:
    """Skip ``what`` (said in the reason) when Chromium is not installed."""
    return pytest.mark.skipif(
        CHROMIUM is None,
        reason=f"chromium is not installed (Debian package `chromium`: apt-get install -y chromium); {what} skipped",
    )


def chromium(page: Path, profile: Path, *output: str, width: int = 1280) -> str:
    """Run headless Chromium on ``page`` (flags of a locked-down, offline browser; printing without the header and
    footer Chromium adds) in a ``width`` × 2000 window, with ``output`` (``--screenshot=...``, ``--print-to-pdf=...``,
    ``--dump-dom``); its stdout."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--no-pdf-header-footer",
            f"--user-data-dir={profile}",
            f"--window-size={width},2000",
            *output,
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=90,
    )
    return done.stdout
