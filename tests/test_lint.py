"""The house rules that tools check: ruff (style, imports, bugbear) and ``mypy --strict`` over
``viewer/`` (configured in pyproject.toml). Run here so CI holds every change to them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_ruff_is_clean() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", "viewer", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    # A private cache: parallel test workers never share one, and the result never depends on an
    # earlier run's cache.
    result = _run(sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
