"""Run by test_startup in a fresh interpreter: launch the TUI headless on a replay and print
the seconds from interpreter start to the first painted frame (App Ready), and which heavy
modules were imported by then. Not a test module (no test_ prefix)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

START = time.perf_counter()

from istio_doctor.tui.app import IstioDoctorApp  # noqa: E402
from istio_doctor.tui.state import TuiOptions  # noqa: E402


class Probe(IstioDoctorApp):
    def on_ready(self) -> None:
        heavy = [m for m in ("istio_doctor.run", "istio_doctor.engine.plan", "kubernetes") if m in sys.modules]
        print(json.dumps({"first_paint_s": time.perf_counter() - START, "screen": type(self.screen).__name__, "heavy": heavy}))
        self.exit()


async def main() -> None:
    options = TuiOptions(replay=Path(sys.argv[1]), namespace=sys.argv[2] if len(sys.argv) > 2 else None)
    async with Probe(options).run_test(size=(120, 40)) as pilot:
        await pilot.pause(5)


asyncio.run(main())
