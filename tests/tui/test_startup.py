"""Launch to first paint on a replay, in a fresh interpreter (imports included, nothing warm).

The first screen must paint before the engine, the playbooks or the kubernetes client are
imported: those load in workers. The bound is loose (CI machines vary); the figure is printed
(`-s`) and recorded in docs/tui.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "recordings" / "demo" / "bookinfo-reviews-503.yaml"


def test_first_paint_is_fast_and_does_not_wait_for_the_engine() -> None:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("startup_probe.py")), str(DEMO), "default"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env={"TEXTUAL_ANIMATIONS": "none", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"launch to first paint: {probe['first_paint_s']:.3f}s")
    assert probe["screen"] == "TargetPickerScreen"
    assert probe["heavy"] == [], f"imported before the first paint: {probe['heavy']}"
    assert probe["first_paint_s"] < 2.0
