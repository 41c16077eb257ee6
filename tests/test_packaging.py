"""The wheel: small, and enough for the two-command quick start (``pip install .``, ``istio-doctor demo``).

The scenario recordings are test data (tens of MB); the wheel ships the playbooks and the demo
incident only. The wheel is really built (hatchling, the project's build backend, no network).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_WHEEL_BYTES = 5 * 1024 * 1024


def test_the_wheel_is_small_and_carries_the_demo(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = tmp_path.glob("istio_doctor-*.whl")
    assert wheel.stat().st_size < MAX_WHEEL_BYTES, f"{wheel.name} is {wheel.stat().st_size} bytes"
    names = zipfile.ZipFile(wheel).namelist()
    recordings = sorted(n for n in names if "/_data/recordings/" in n)
    # the demo incidents (`istio-doctor demo --list`) and nothing else of recordings/
    demos = sorted(f"istio_doctor/_data/recordings/demo/{p.name}" for p in (ROOT / "recordings" / "demo").glob("*.yaml"))
    assert recordings == demos
    assert "istio_doctor/_data/recordings/demo/bookinfo-reviews-503.yaml" in recordings
    assert any(n.startswith("istio_doctor/_data/playbooks/") and n.endswith(".yaml") for n in names)
    assert any(n.startswith("istio_doctor/engine/catalogue/") and n.endswith(".yaml") for n in names)


def test_the_readme_quick_start_is_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Quick start", 1)[1].split("```console", 1)[1].split("```", 1)[0]
    assert [line for line in block.strip().splitlines()] == ["pip install .", "istio-doctor demo"]
