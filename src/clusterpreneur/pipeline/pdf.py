"""Print the HTML report to PDF with headless Chromium (the print style sheet lays it out on A4)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from clusterpreneur.errors import ClusterpreneurError
from clusterpreneur.io import write_atomic

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
BROWSER_ENV = "CLUSTERPRENEUR_CHROMIUM"
INSTALL_HINT = (
    "install Chromium (Debian/Ubuntu: apt-get install chromium; macOS: brew install --cask chromium) "
    f"or point {BROWSER_ENV} at a Chrome or Chromium executable"
)


class BrowserNotFoundError(ClusterpreneurError):
    """No headless browser to print the PDF with."""


def find_browser() -> str | None:
    """Path of a Chromium or Chrome executable (``$CLUSTERPRENEUR_CHROMIUM`` first), or None."""
    given = os.environ.get(BROWSER_ENV)
    if given:
        return given if Path(given).is_file() else shutil.which(given)
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_browser() -> str:
    """A browser path, or a clear error saying how to get one (checked before any sampling)."""
    browser = find_browser()
    if browser is None:
        raise BrowserNotFoundError(f"--pdf needs a headless browser and none was found: {INSTALL_HINT}.")
    return browser


def print_pdf(html: Path, pdf: Path, *, timeout: float = 180.0) -> Path:
    """Print ``html`` to ``pdf`` (written atomically) with headless Chromium."""
    browser = require_browser()
    with tempfile.TemporaryDirectory(prefix="clusterpreneur-pdf-") as tmp:
        out = Path(tmp) / "report.pdf"
        cmd = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-extensions", "--no-pdf-header-footer",
            f"--user-data-dir={tmp}/profile", f"--print-to-pdf={out}", html.resolve().as_uri(),
        ]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ClusterpreneurError(f"{browser} did not print {html} within {timeout:.0f} s") from None
        if not out.is_file() or out.stat().st_size == 0:
            raise ClusterpreneurError(
                f"{browser} could not print {html} to PDF (exit {proc.returncode}): {proc.stderr[-800:]}"
            )
        return write_atomic(pdf, out.read_bytes())
