"""The one runner seam: everything istio-doctor learns about a cluster passes through here.

Contract (stable; the engine, CLI and TUI depend on it):

* ``await runner.run(argv) -> CommandResult``: ``argv`` is a list of strings whose first
  element is ``"kubectl"`` or ``"istioctl"``. A runner never takes a shell string.
* A non-zero exit is *not* an exception: it is a ``CommandResult`` with ``exit_code != 0``
  (callers classify ``Forbidden``/``NotFound``/unreachable from stderr).
* Exceptions are reserved for calls that could not produce a result at all:
  ``BinaryNotFound`` (no such program on PATH), ``CommandTimeout`` (killed at the timeout),
  ``CommandRefused`` (not read-only, or an invalid name: never reached a process),
  ``NotRecorded`` (strict replay of a call the recording lacks).

Three implementations share this interface: ``LiveRunner`` (asyncio subprocesses),
``RecordingRunner`` (wraps any runner, keeps every call for a recording) and ``ReplayRunner``
(answers from a recording).
"""

from __future__ import annotations

import abc
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CommandResult(BaseModel):
    """What one kubectl/istioctl call returned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str = ""
    duration_s: float = Field(ge=0.0, description="wall time of the call in seconds")
    started_at: datetime | None = None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def command_line(self) -> str:
        """A display form of argv (quoted like a shell would, for humans only; never executed)."""
        import shlex

        return shlex.join(self.argv)


class RunnerError(Exception):
    """A call that produced no CommandResult. ``argv`` is always the call that failed."""

    def __init__(self, argv: list[str] | tuple[str, ...], message: str) -> None:
        self.argv = tuple(argv)
        super().__init__(message)


class BinaryNotFound(RunnerError):
    """kubectl or istioctl is not on PATH; the message says how to install it."""

    def __init__(self, argv: list[str] | tuple[str, ...], binary: str, hint: str = "") -> None:
        self.binary = binary
        msg = f"`{binary}` was not found on PATH."
        if hint:
            msg += f" {hint}"
        super().__init__(argv, msg)


class CommandTimeout(RunnerError):
    """The call ran past its timeout; its whole process group was killed."""

    def __init__(self, argv: list[str] | tuple[str, ...], timeout_s: float) -> None:
        self.timeout_s = timeout_s
        import shlex

        super().__init__(argv, f"`{shlex.join(argv)}` did not finish within {timeout_s:g}s and was killed.")


class CommandRefused(RunnerError):
    """Refused before any process started: not a read-only call, or an invalid argument."""


class NotRecorded(RunnerError):
    """Strict replay: the recording has no call matching ``argv``."""

    def __init__(self, argv: list[str] | tuple[str, ...], recording: str = "") -> None:
        import shlex

        where = f" in {recording}" if recording else ""
        super().__init__(argv, f"no recorded call matches `{shlex.join(argv)}`{where}")


class Runner(abc.ABC):
    """Runs read-only kubectl/istioctl calls. Implementations must be safe to call concurrently."""

    #: True when results come from a recording rather than a cluster (reports say so).
    replaying: bool = False

    @abc.abstractmethod
    async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
        """Run one call. See the module docstring for what raises and what returns."""

    async def aclose(self) -> None:  # pragma: no cover - default no-op
        """Release resources (a RecordingRunner writes its file here)."""
