"""Attachable exports of the HTML report: PDF and PNG, printed by headless Chromium.

Chromium runs with a fresh profile, no network features and the file on
disk, so printing makes no network request either.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from auditor.private_files import FILE_MODE, make_private_folder

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--run-all-compositor-stages-before-draw",
    "--virtual-time-budget=15000",
)


class ExportError(Exception):
    """A PDF or PNG could not be produced; the message says why and what to do."""


def find_chromium() -> str:
    """Path of the Chromium binary (``$CLASSROOM_AUDITOR_CHROMIUM`` first); raises :class:`ExportError`."""
    explicit = os.environ.get("CLASSROOM_AUDITOR_CHROMIUM")
    if explicit:
        if Path(explicit).is_file():
            return explicit
        raise ExportError(f"CLASSROOM_AUDITOR_CHROMIUM={explicit} does not exist")
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise ExportError(
        "Chromium is needed for PDF and PNG export but was not found; install it "
        "(Debian/Ubuntu: apt-get install chromium) or set CLASSROOM_AUDITOR_CHROMIUM"
    )


def _run_chromium(html_file: Path, output_flag: str, out: Path, extra: tuple[str, ...], timeout: float) -> Path:
    chromium = find_chromium()
    out = out.resolve()
    make_private_folder(out.parent)
    temp_out = out.with_name(f".tmp-{out.name}")  # keeps the suffix: Chromium picks the format from it
    with tempfile.TemporaryDirectory(prefix="auditor-chromium-") as profile:
        command = [
            chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra,
            f"{output_flag}={temp_out}", html_file.resolve().as_uri(),
        ]
        try:
            result = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ExportError(f"Chromium did not finish printing {out.name} within {timeout:g} s") from None
        except OSError as exc:
            raise ExportError(f"cannot start Chromium ({chromium}): {exc.strerror or exc}") from None
    if result.returncode != 0 or not temp_out.exists() or temp_out.stat().st_size == 0:
        temp_out.unlink(missing_ok=True)
        last = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise ExportError(f"Chromium failed to write {out} (exit {result.returncode}): {last[0][:200]}")
    os.chmod(temp_out, FILE_MODE)  # Chromium writes with its own umask; the page is the student's
    os.replace(temp_out, out)
    return out


def _with_html_file(report: dict[str, Any], action: Any) -> Path:
    from auditor.report.html import render_html

    with tempfile.TemporaryDirectory(prefix="auditor-report-") as folder:
        page = Path(folder) / "report.html"
        page.write_text(render_html(report), encoding="utf-8")
        result: Path = action(page)
        return result


def html_to_pdf(html_file: Path, out: Path, timeout: float = 120) -> Path:
    """Print an HTML file to PDF (A4/Letter per the page's print CSS, no header or footer)."""
    return _run_chromium(html_file, "--print-to-pdf", out, ("--no-pdf-header-footer",), timeout)


def html_to_png(html_file: Path, out: Path, width: int = 1280, height: int = 2400, timeout: float = 120) -> Path:
    """Screenshot the top ``height`` pixels of an HTML file."""
    return _run_chromium(html_file, "--screenshot", out, (f"--window-size={width},{height}",), timeout)


def report_to_pdf(report: dict[str, Any], out: Path) -> Path:
    """Render the report's HTML and print it to ``out``; raises :class:`ExportError`."""
    return _with_html_file(report, lambda page: html_to_pdf(page, out))


def report_to_png(report: dict[str, Any], out: Path) -> Path:
    """Render the report's HTML and screenshot its first screens to ``out``; raises :class:`ExportError`."""
    return _with_html_file(report, lambda page: html_to_png(page, out))
