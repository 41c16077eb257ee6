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
import asyncio
import os
import shutil
import signal
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from istio_doctor.evidence import safety
from istio_doctor.evidence.errors import (  # noqa: F401 - re-exported: the runner seam's errors
    BinaryNotFound,
    CommandRefused,
    CommandTimeout,
    NotRecorded,
    RunnerError,
)
from istio_doctor.evidence.recording import (
    FORMAT,
    RecordedCall,
    RecordedError,
    Recording,
    RecordingMetadata,
    normalise_argv,
    save_recording,
)
from istio_doctor.evidence.target import Connection


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


class Runner(abc.ABC):
    """Runs read-only kubectl/istioctl calls. Implementations must be safe to call concurrently."""

    #: True when results come from a recording rather than a cluster (reports say so).
    replaying: bool = False

    @abc.abstractmethod
    async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
        """Run one call. See the module docstring for what raises and what returns."""

    async def aclose(self) -> None:  # pragma: no cover - default no-op
        """Release resources (a RecordingRunner writes its file here)."""

    def can_answer(self, argv: list[str] | tuple[str, ...]) -> bool:
        """Whether ``argv`` gets a real answer. A live runner answers anything; a replay only
        what its recording holds (the preflight skips what an older recording lacks)."""
        return True


# ---------------------------------------------------------------------------------------

INSTALL_HINTS: dict[str, str] = {
    "kubectl": "Install it: https://kubernetes.io/docs/tasks/tools/",
    "istioctl": "Install it: https://istio.io/latest/docs/setup/getting-started/#download",
}


class LiveRunner(Runner):
    """Runs calls as real subprocesses (never through a shell).

    * Every argv passes ``safety.check_read_only`` before anything is spawned.
    * Each call gets its own session (``start_new_session``), so it is its own process group:
      a timeout or a cancellation kills kubectl *and* whatever it spawned (exec credential
      plugins such as ``gke-gcloud-auth-plugin``, ``aws eks get-token``). It also keeps the
      children out of the terminal's foreground group, so Ctrl-C reaches only us and we
      decide how they die.
    * At most ``max_concurrency`` calls run at once (an API server throttles a burst of
      clients, and a laptop does not enjoy 60 kubectl processes either).
    """

    #: seconds between SIGTERM and SIGKILL for a timed-out call's process group
    kill_grace_s: float = 2.0

    def __init__(
        self,
        conn: Connection | None = None,
        *,
        timeout_s: float = 30.0,
        max_concurrency: int = 8,
        env: Mapping[str, str] | None = None,
        binaries: dict[str, str] | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        #: the connection the calls are made for (argv already carries its flags; the
        #: runner keeps it so callers can show where a session points)
        self.conn = conn or Connection()
        self.timeout_s = timeout_s
        self.max_concurrency = max_concurrency
        self.env = dict(env) if env is not None else None
        self.binaries = dict(binaries or {})
        # One semaphore per event loop: asyncio primitives bind to the loop that first uses
        # them, and the TUI may drive this runner from a worker thread's loop.
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._lock = threading.Lock()
        #: processes started and not yet reaped; ``aclose`` kills and reaps whatever is left
        self._live: set[asyncio.subprocess.Process] = set()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        with self._lock:
            sem = self._semaphores.get(loop)
            if sem is None:
                sem = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
            return sem

    def resolve(self, argv: list[str] | tuple[str, ...]) -> str:
        """The executable for ``argv[0]``: the explicit path given, else a PATH lookup now."""
        name = argv[0]
        explicit = self.binaries.get(name)
        if explicit is not None:
            if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
                return explicit
            raise BinaryNotFound(argv, name, hint=f"(configured as {explicit!r}, which is not an executable file) "
                                 + INSTALL_HINTS.get(name, ""))
        # Looked up at call time, not construction time: installing kubectl while the TUI is
        # open and pressing reload should just work.
        path_var = (self.env or os.environ).get("PATH")
        found = shutil.which(name, path=path_var)
        if found is None:
            raise BinaryNotFound(argv, name, hint=INSTALL_HINTS.get(name, ""))
        return found

    async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
        argv = list(argv)
        safety.check_read_only(argv)
        timeout = self.timeout_s if timeout_s is None else timeout_s
        executable = self.resolve(argv)
        async with self._semaphore():
            return await self._spawn(argv, executable, timeout)

    async def _spawn(self, argv: list[str], executable: str, timeout: float) -> CommandResult:
        started_at = datetime.now(timezone.utc)
        t0 = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                executable,
                *argv[1:],
                stdin=asyncio.subprocess.DEVNULL,  # nothing may wait for a keyboard
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env,
                start_new_session=True,
            )
        except (FileNotFoundError, PermissionError) as e:
            # removed or made non-executable between the lookup and the spawn
            raise BinaryNotFound(argv, argv[0], hint=f"({e.strerror}) {INSTALL_HINTS.get(argv[0], '')}") from None
        self._live.add(proc)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except asyncio.TimeoutError:
            await self._terminate_group(proc)
            await _reap(proc)
            raise CommandTimeout(argv, timeout) from None
        except BaseException:
            # Cancelled (Ctrl-C, the TUI dropping a stale request) or anything unexpected:
            # never leave the call running behind us, and close its pipes while the loop is
            # still running. A transport left to the garbage collector tries to close itself
            # on a loop asyncio.run has already closed: "RuntimeError: Event loop is closed"
            # tracebacks after Ctrl-C (issue #12).
            _killpg(proc.pid, signal.SIGKILL)
            await _reap(proc)
            raise
        finally:
            self._live.discard(proc)
        return CommandResult(
            argv=tuple(argv),
            exit_code=proc.returncode if proc.returncode is not None else -1,
            stdout=out.decode("utf-8", errors="replace"),
            stderr=err.decode("utf-8", errors="replace"),
            duration_s=time.monotonic() - t0,
            started_at=started_at,
        )

    async def _terminate_group(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM the call's group, give it ``kill_grace_s`` to go, then SIGKILL what is left."""
        pgid = proc.pid  # start_new_session makes the child its group's leader
        _killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.kill_grace_s
        while time.monotonic() < deadline:
            if not _group_alive(pgid):
                break
            await asyncio.sleep(0.05)
        _killpg(pgid, signal.SIGKILL)
        try:
            await asyncio.wait_for(proc.wait(), self.kill_grace_s)
        except asyncio.TimeoutError:  # pragma: no cover - SIGKILL cannot be ignored
            pass


    async def aclose(self) -> None:
        """Kill and reap every call still running, so no subprocess transport outlives the loop."""
        left = list(self._live)
        self._live.clear()
        for proc in left:
            _killpg(proc.pid, signal.SIGKILL)
        for proc in left:
            await _reap(proc)


async def _reap(proc: asyncio.subprocess.Process, within_s: float = 2.0) -> None:
    """Wait (briefly) for a killed call to exit and close its transport, even while cancelled.

    Runs inside ``except CancelledError`` handlers: a further cancellation (another Ctrl-C,
    asyncio.run cancelling the tasks it finds left) must not cut the clean-up short, so it is
    absorbed here and re-raised once the pipes are closed.
    """
    cancelled = False
    deadline = time.monotonic() + within_s
    while proc.returncode is None and time.monotonic() < deadline:
        try:
            await asyncio.wait_for(proc.wait(), max(0.01, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            break
        except asyncio.CancelledError:
            cancelled = True
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        # Closes the pipes now, on this running loop; a no-op when already closed.
        transport.close()
    if cancelled:
        raise asyncio.CancelledError


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - only if the pgid was reused by another user
        return False
    return True


class RecordingRunner(Runner):
    """Wraps any runner and keeps every call, for a recording (``save`` writes it redacted).

    Non-zero exits are kept like any result. ``BinaryNotFound`` and ``CommandTimeout`` are kept
    as calls with an ``error`` so that replay raises them again; refused calls never reached a
    process and replay refuses them by itself, so they are not kept.
    """

    def __init__(self, inner: Runner, *, metadata: RecordingMetadata, path: str | Path | None = None) -> None:
        self.inner = inner
        #: public so a caller can fill in what it learns during the session (versions)
        self.metadata = metadata
        #: where ``aclose`` saves the recording (None: only an explicit ``save``)
        self.path = Path(path) if path is not None else None
        self.replaying = inner.replaying
        #: the instant the inner runner's evidence describes when it says (a bug-report archive,
        #: a simulated world): certificates are judged at it while recording as on replay
        self.evidence_time: datetime | None = getattr(inner, "evidence_time", None)
        self._calls: list[RecordedCall] = []

    async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
        started_at = datetime.now(timezone.utc)
        t0 = time.monotonic()
        try:
            result = await self.inner.run(argv, timeout_s=timeout_s)
        except BinaryNotFound as e:
            self._keep_error(argv, "binary_not_found", str(e), time.monotonic() - t0, started_at)
            raise
        except CommandTimeout as e:
            self._keep_error(argv, "timeout", str(e), e.timeout_s, started_at)
            raise
        self._calls.append(
            RecordedCall(
                argv=list(result.argv),
                exit_code=result.exit_code,
                stdout=result.stdout,
                stderr=result.stderr,
                duration_s=result.duration_s,
                started_at=result.started_at,
            )
        )
        return result

    def _keep_error(self, argv: list[str], kind: str, message: str, duration_s: float, started_at: datetime) -> None:
        self._calls.append(
            RecordedCall(
                argv=list(argv),
                exit_code=-1,
                duration_s=max(duration_s, 0.0),
                started_at=started_at,
                error=RecordedError(kind=kind, message=message),  # type: ignore[arg-type]
            )
        )

    def can_answer(self, argv: list[str] | tuple[str, ...]) -> bool:
        return self.inner.can_answer(argv)

    def recording(self) -> Recording:
        """Everything recorded so far (not redacted: ``save`` is the path that leaves the process)."""
        return Recording(format=FORMAT, metadata=self.metadata, calls=list(self._calls))

    def save(self, path: str | Path) -> Path:
        return save_recording(self.recording(), path)

    async def aclose(self) -> None:
        try:
            if self.path is not None:
                self.save(self.path)
        finally:
            await self.inner.aclose()


class ReplayRunner(Runner):
    """Answers from a recording; never starts a process.

    Matching: the exact argv first, then the argv without connection flags
    (``recording.normalise_argv``), so a recording made against one context replays with
    another. Identical calls get the recorded results in order, then the last one again.
    """

    replaying = True

    def __init__(
        self,
        recording: Recording,
        *,
        strict: bool = True,
        source_name: str = "",
        simulate_latency: bool = False,
    ) -> None:
        self.recording = recording
        self.strict = strict
        self.source_name = source_name
        self.simulate_latency = simulate_latency
        self._exact: dict[tuple[str, ...], list[RecordedCall]] = {}
        self._normal: dict[tuple[str, ...], list[RecordedCall]] = {}
        for call in recording.calls:
            self._exact.setdefault(tuple(call.argv), []).append(call)
            self._normal.setdefault(normalise_argv(call.argv), []).append(call)
        self._served: dict[tuple[str, tuple[str, ...]], int] = {}
        self._lock = threading.Lock()

    def _next(self, table: str, key: tuple[str, ...], calls: list[RecordedCall]) -> RecordedCall:
        with self._lock:
            n = self._served.get((table, key), 0)
            self._served[(table, key)] = n + 1
        return calls[min(n, len(calls) - 1)]

    def can_answer(self, argv: list[str] | tuple[str, ...]) -> bool:
        """True when the recording answers ``argv`` (by the matching rule), without using it up."""
        return tuple(argv) in self._exact or normalise_argv(tuple(argv)) in self._normal

    def lookup(self, argv: list[str] | tuple[str, ...]) -> RecordedCall | None:
        """The recorded call that answers ``argv`` (advancing the repeat counter), if any."""
        key = tuple(argv)
        if key in self._exact:
            return self._next("exact", key, self._exact[key])
        nkey = normalise_argv(key)
        if nkey in self._normal:
            return self._next("normal", nkey, self._normal[nkey])
        return None

    async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
        # Same refusal as live: a recording must not make a mutating call look acceptable.
        safety.check_read_only(argv)
        call = self.lookup(argv)
        if call is None:
            if self.strict:
                raise NotRecorded(argv, self.source_name)
            return CommandResult(argv=tuple(argv), exit_code=1, stdout="", stderr="not in recording",
                                 duration_s=0.0, replayed=True)
        if self.simulate_latency and call.duration_s > 0:
            await asyncio.sleep(call.duration_s)
        if call.error is not None:
            exc: RunnerError
            if call.error.kind == "binary_not_found":
                exc = BinaryNotFound(argv, argv[0])
            else:
                exc = CommandTimeout(argv, call.duration_s)
            exc.args = (call.error.message,)  # the message the user saw when it was recorded
            raise exc
        return CommandResult(
            argv=tuple(argv),
            exit_code=call.exit_code,
            stdout=call.stdout,
            stderr=call.stderr,
            duration_s=call.duration_s,
            started_at=call.started_at,
            replayed=True,
        )
