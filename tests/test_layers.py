"""The house's floors: imports only go down (contracts at the bottom, the app at the top), and no loops.

The contracts are in pyproject.toml (`[tool.importlinter]`); import-linter checks them on the real
import graph, every import statement included (those inside functions too).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                "sys.exit(lint_imports_command())"]


def _lint(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([*LINT_IMPORTS, "--no-cache", *args], cwd=cwd, env=env, text=True, capture_output=True,
                          timeout=300, check=False)


def test_the_projects_imports_keep_the_floors_and_have_no_loops() -> None:
    run = _lint(PROJECT_ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "The floors: imports only go down KEPT" in run.stdout
    assert "No import loops, at any depth KEPT" in run.stdout
    assert "Jobs never import the streaming orchestrator KEPT" in run.stdout


def test_an_upward_import_and_a_loop_are_caught(tmp_path: Path) -> None:
    """The same contracts on a tiny house that breaks both: the check can fail."""
    for name, body in {
        "ground/__init__.py": "",
        "ground/model.py": "from top import cli\n",  # the ground floor reaching up
        "top/__init__.py": "",
        "top/cli.py": "def main():\n    from top import stack\n",
        "top/stack.py": "from top import cli\n",  # a loop, through an import inside a function
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body)
    (tmp_path / "contracts.ini").write_text(
        "[importlinter]\nroot_packages =\n    ground\n    top\n\n"
        "[importlinter:contract:floors]\nname = floors\ntype = layers\nlayers =\n    top\n    ground\n\n"
        "[importlinter:contract:loops]\nname = loops\ntype = acyclic_siblings\nancestors =\n    ground\n    top\n")
    run = _lint(tmp_path, "--config", "contracts.ini")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "floors BROKEN" in run.stdout and "ground.model -> top.cli" in run.stdout
    assert "loops BROKEN" in run.stdout
