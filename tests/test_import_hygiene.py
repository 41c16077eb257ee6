"""Only istio_doctor.tui may import Textual.

Each module is imported in a fresh interpreter (an earlier import in the test process would
hide a leak), and the package is walked with pkgutil so a new module is covered the day it
is added. Importing ``istio_doctor.tui`` itself must stay headless too: the CLI imports
``TuiOptions`` from it to build its arguments.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import istio_doctor

ROOT = Path(istio_doctor.__file__).resolve().parent.parent


def _headless_modules() -> list[str]:
    names = ["istio_doctor"]
    for info in pkgutil.walk_packages(istio_doctor.__path__, prefix="istio_doctor."):
        # __main__ runs the CLI on import; the CLI package itself is checked below
        if info.name.startswith("istio_doctor.tui.") or info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return sorted(names)


HEADLESS = _headless_modules()
PROBE = "import importlib, sys; importlib.import_module(sys.argv[1]); print('textual' in sys.modules)"


def _imports_textual(module: str) -> bool:
    out = subprocess.run([sys.executable, "-c", PROBE, module], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, f"importing {module} failed:\n{out.stderr}"
    return out.stdout.strip().splitlines()[-1] == "True"


def test_the_walk_finds_the_layers() -> None:
    # guards the walk itself: an empty or partial list would make every case below vacuous
    assert {"istio_doctor.evidence.runner", "istio_doctor.engine.model", "istio_doctor.report.model", "istio_doctor.tui"} <= set(HEADLESS)


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_module_does_not_import_textual(module: str) -> None:
    assert not _imports_textual(module), f"{module} imports Textual; only istio_doctor.tui.* may"


def test_the_tui_does_import_textual() -> None:
    # the probe can see Textual when it is there, so the cases above can fail
    assert _imports_textual("istio_doctor.tui.app")
