"""The type checker runs in `make test`: strict on the ground floor and the storage layer, clean everywhere.

The configuration is pyproject.toml's `[tool.mypy]` (the pydantic plugin; `files` names every package).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _mypy(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", *args], cwd=cwd, text=True, capture_output=True,
                          timeout=600, check=False)


def test_the_project_type_checks() -> None:
    run = _mypy(PROJECT_ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("Success: no issues found")


def test_the_check_fails_on_a_wrong_type(tmp_path: Path) -> None:
    """The same checker, strict, on a module that passes a str where an int goes: the check can fail."""
    (tmp_path / "bad.py").write_text("def double(value: int) -> int:\n    return value * 2\n\n\ndouble('2')\n")
    run = _mypy(tmp_path, "--strict", "--no-incremental", "bad.py")
    assert run.returncode == 1 and 'incompatible type "str"; expected "int"' in run.stdout, run.stdout
