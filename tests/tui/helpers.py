"""Waiting helpers: loading runs in worker threads, so tests wait for a state, not a time."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot


async def wait_for(pilot: Pilot[object], cond: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await pilot.pause(0.02)
    # let the messages that made cond true finish repainting
    await pilot.pause()


def screen_name(pilot: Pilot[object]) -> str:
    return type(pilot.app.screen).__name__


def screen_text(pilot: Pilot[object]) -> str:
    """The painted screen as plain text (what a user would read)."""
    strips = pilot.app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)
