"""Running the async evidence seam from Textual thread workers.

Every cluster call runs in a worker thread with its own event loop, so parsing a large config
dump or walking the playbooks never stalls the UI loop. Each run gets a fresh runner, created
inside that loop: runners may hold loop-bound asyncio primitives and must not cross loops.
Cancelling a Textual thread worker only flags it, so ``CancelHandle`` also cancels the task
inside the worker's loop; the cancellation then reaches the subprocesses the runner awaits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from istio_doctor.evidence.runner import Runner
from istio_doctor.evidence.target import Connection
from istio_doctor.tui.services import RunnerFactory

T = TypeVar("T")


class CancelHandle:
    """Cancels the coroutine a worker thread is running, from any thread, at any time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[object] | None = None
        self.cancelled = False

    def _attach(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[object]) -> None:
        with self._lock:
            self._loop, self._task = loop, task
            if self.cancelled:
                task.cancel()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            if self._loop is not None and self._task is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._task.cancel)


def run_with_runner(
    make_runner: RunnerFactory,
    conn: Connection,
    replay: Path | None,
    work: Callable[[Runner], Awaitable[T]],
    handle: CancelHandle | None = None,
) -> T:
    """Blocking: create a runner, run ``work(runner)`` in a new loop, close the runner.

    Raises ``asyncio.CancelledError`` when ``handle`` was cancelled.
    """

    async def main() -> T:
        runner = make_runner(conn, replay)
        try:
            return await work(runner)
        finally:
            await runner.aclose()

    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(main())
        if handle is not None:
            handle._attach(loop, task)  # type: ignore[arg-type]
        return loop.run_until_complete(task)
    finally:
        loop.close()
