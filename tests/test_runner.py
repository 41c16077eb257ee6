"""The runner seam: live subprocesses (through stand-in scripts), recording and replay."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from istio_doctor.evidence.recording import RecordedCall, RecordedError, Recording, RecordingMetadata, load_recording
from istio_doctor.evidence.runner import (
    BinaryNotFound,
    CommandRefused,
    CommandResult,
    CommandTimeout,
    LiveRunner,
    NotRecorded,
    RecordingRunner,
    ReplayRunner,
)

META = RecordingMetadata(created=datetime(2024, 5, 1, tzinfo=timezone.utc), target="pod/p -n default")


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a container's PID 1 may never reap orphans)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


async def _wait_gone(pids: list[int], within: float = 3.0) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return []
        await asyncio.sleep(0.05)
    return [p for p in pids if _alive(p)]


async def _wait_pidfile(path: Path, within: float = 5.0) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists():
            return [int(x) for x in path.read_text().split()]
        await asyncio.sleep(0.02)
    raise AssertionError(f"the stand-in never wrote {path}")


# -- LiveRunner ---------------------------------------------------------------------------


async def test_live_runs_argv_without_a_shell_and_captures_everything(standin_binaries) -> None:
    runner = LiveRunner(binaries=standin_binaries)
    # a word a shell would expand or split: must arrive as one argument, untouched
    result = await runner.run(["kubectl", "get", "pods", "-l", "app=a b;$(touch /tmp/x)", "-o", "json"])
    assert result.ok and result.exit_code == 0
    assert json.loads(result.stdout) == {"binary": "kubectl", "argv": ["get", "pods", "-l", "app=a b;$(touch /tmp/x)", "-o", "json"]}
    assert result.argv[0] == "kubectl"
    assert result.duration_s > 0 and result.started_at is not None and not result.replayed


async def test_live_nonzero_exit_is_a_result_not_an_exception(standin_binaries) -> None:
    runner = LiveRunner(binaries=standin_binaries)
    result = await runner.run(["istioctl", "proxy-config", "all", "p", "exit=3", "stderr=Error: forbidden"])
    assert result.exit_code == 3 and not result.ok
    assert result.stderr == "Error: forbidden\n"
    assert json.loads(result.stdout)["binary"] == "istioctl"


async def test_live_decodes_invalid_utf8_with_replacement(standin_binaries) -> None:
    result = await LiveRunner(binaries=standin_binaries).run(["kubectl", "get", "badutf8"])
    assert result.stdout == "ok \ufffd\ufffd done\n"


async def test_refused_before_any_process_starts(standin_binaries, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    runner = LiveRunner(binaries=standin_binaries, env={**os.environ, "STANDIN_LOG": str(log)})
    with pytest.raises(CommandRefused):
        await runner.run(["kubectl", "delete", "pod", "p"])
    assert not log.exists()
    await runner.run(["kubectl", "get", "pods"])
    assert log.read_text().count("\n") == 1  # the log works: the refused call really never ran


@pytest.mark.parametrize("binary,url", [
    ("kubectl", "https://kubernetes.io/docs/tasks/tools/"),
    ("istioctl", "https://istio.io/latest/docs/setup/getting-started/#download"),
])
async def test_missing_binary_on_path_names_the_install_page(binary: str, url: str, tmp_path: Path) -> None:
    runner = LiveRunner(env={"PATH": str(tmp_path)})
    with pytest.raises(BinaryNotFound) as exc:
        await runner.run([binary, "version"])
    assert exc.value.binary == binary
    assert exc.value.argv == (binary, "version")
    assert url in str(exc.value)


async def test_binary_is_looked_up_on_path_at_call_time(tmp_path: Path, standin_binaries) -> None:
    # the stand-in's `#!/usr/bin/env python3` needs the interpreter's directory on PATH too
    runner = LiveRunner(env={"PATH": f"{tmp_path}{os.pathsep}{Path(sys.executable).parent}"})
    with pytest.raises(BinaryNotFound):
        await runner.run(["kubectl", "version"])
    (tmp_path / "kubectl").symlink_to(standin_binaries["kubectl"])
    result = await runner.run(["kubectl", "version"])
    assert result.ok and json.loads(result.stdout)["argv"] == ["version"]


async def test_explicit_binary_that_does_not_exist(tmp_path: Path) -> None:
    runner = LiveRunner(binaries={"kubectl": str(tmp_path / "nope")})
    with pytest.raises(BinaryNotFound, match="not an executable file"):
        await runner.run(["kubectl", "get", "pods"])


async def test_timeout_kills_the_whole_process_group(standin_binaries, tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    runner = LiveRunner(binaries=standin_binaries, timeout_s=30)
    runner.kill_grace_s = 0.5
    t0 = time.monotonic()
    with pytest.raises(CommandTimeout) as exc:
        await runner.run(["kubectl", "get", "hang", f"pidfile={pidfile}"], timeout_s=1.0)
    assert time.monotonic() - t0 < 5
    assert exc.value.timeout_s == 1.0 and "did not finish within 1s" in str(exc.value)
    pids = await _wait_pidfile(pidfile)
    assert len(pids) == 2  # the stand-in and its grandchild
    assert await _wait_gone(pids) == []


async def test_timeout_escalates_to_sigkill_when_sigterm_is_ignored(standin_binaries, tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    runner = LiveRunner(binaries=standin_binaries, timeout_s=1.0)
    runner.kill_grace_s = 0.3
    with pytest.raises(CommandTimeout):
        await runner.run(["kubectl", "get", "hang", "ignore-term", f"pidfile={pidfile}"])
    pids = await _wait_pidfile(pidfile)
    assert await _wait_gone(pids) == []


async def test_cancellation_kills_the_child_group(standin_binaries, tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    runner = LiveRunner(binaries=standin_binaries, timeout_s=60)
    task = asyncio.create_task(runner.run(["kubectl", "get", "hang", f"pidfile={pidfile}"]))
    pids = await _wait_pidfile(pidfile)
    assert all(_alive(p) for p in pids)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _wait_gone(pids) == []


def test_cancelled_calls_leave_no_transport_for_the_closed_loop(standin_binaries, tmp_path: Path) -> None:
    """Issue #12: Ctrl-C printed 'RuntimeError: Event loop is closed' from subprocess
    transports collected after asyncio.run closed its loop. A cancelled call now kills its
    group and closes its pipes while the loop runs; aclose reaps anything left."""
    import gc
    import warnings

    pidfiles = [tmp_path / f"pids{i}" for i in range(4)]
    runner = LiveRunner(binaries=standin_binaries, timeout_s=60)
    transports: list[object] = []

    async def main() -> None:
        tasks = [asyncio.create_task(runner.run(["kubectl", "get", "hang", f"pidfile={p}"])) for p in pidfiles]
        for p in pidfiles:
            await _wait_pidfile(p)
        transports.extend(getattr(proc, "_transport", None) for proc in list(runner._live))
        for t in tasks:
            t.cancel()
            t.cancel()  # a second Ctrl-C while the first one is being handled
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.aclose()

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        asyncio.run(main())
        assert transports and all(t is not None and t.is_closing() for t in transports)
        transports.clear()
        gc.collect()  # a transport left open would complain here, on a closed loop


async def test_aclose_kills_and_reaps_calls_still_running(standin_binaries, tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    runner = LiveRunner(binaries=standin_binaries, timeout_s=60)
    task = asyncio.create_task(runner.run(["kubectl", "get", "hang", f"pidfile={pidfile}"]))
    pids = await _wait_pidfile(pidfile)
    await runner.aclose()
    assert await _wait_gone(pids) == []
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_concurrency_is_bounded(standin_binaries) -> None:
    runner = LiveRunner(binaries=standin_binaries, max_concurrency=2)
    t0 = time.monotonic()
    results = await asyncio.gather(*(runner.run(["kubectl", "get", f"call-{i}", "sleep=0.4"]) for i in range(6)))
    elapsed = time.monotonic() - t0
    spans = [(r.started_at.timestamp(), r.started_at.timestamp() + r.duration_s) for r in results]
    peak = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert peak == 2, f"{peak} calls ran at once with max_concurrency=2"
    assert elapsed >= 3 * 0.4  # 6 calls, 2 at a time


# -- RecordingRunner + ReplayRunner --------------------------------------------------------


async def _record_session(standin_binaries: dict[str, str], tmp_path: Path) -> tuple[RecordingRunner, dict]:
    live = LiveRunner(binaries={**standin_binaries, "istioctl": str(tmp_path / "missing-istioctl")}, timeout_s=5)
    live.kill_grace_s = 0.2
    rec = RecordingRunner(live, metadata=META)
    outcomes: dict = {}
    for argv in (
        ["kubectl", "get", "pods", "-n", "default", "-o", "json", "--context", "ctx"],
        ["kubectl", "get", "secrets", "exit=1", "stderr=Error from server (Forbidden): secrets is forbidden"],
    ):
        outcomes[tuple(argv)] = await rec.run(argv)
    with pytest.raises(BinaryNotFound) as missing:
        await rec.run(["istioctl", "version", "-o", "json"])
    outcomes[("istioctl", "version", "-o", "json")] = missing.value
    with pytest.raises(CommandTimeout) as timeout:
        await rec.run(["kubectl", "get", "hang"], timeout_s=0.5)
    outcomes[("kubectl", "get", "hang")] = timeout.value
    with pytest.raises(CommandRefused):
        await rec.run(["kubectl", "delete", "pod", "p"])
    return rec, outcomes


@pytest.mark.parametrize("name", ["session.yaml", "session.yaml.gz"])
async def test_record_then_replay_gives_identical_results(standin_binaries, tmp_path: Path, name: str) -> None:
    rec, outcomes = await _record_session(standin_binaries, tmp_path)
    assert len(rec.recording().calls) == 4  # the refused call never ran, so it is not a call
    path = rec.save(tmp_path / name)
    replay = ReplayRunner(load_recording(path), source_name=str(path))
    assert replay.replaying
    for argv, outcome in outcomes.items():
        if isinstance(outcome, CommandResult):
            again = await replay.run(list(argv))
            assert again.replayed
            assert (again.argv, again.exit_code, again.stdout, again.stderr) == (
                outcome.argv, outcome.exit_code, outcome.stdout, outcome.stderr)
            assert again.duration_s == pytest.approx(outcome.duration_s)
        else:
            with pytest.raises(type(outcome)) as exc:
                await replay.run(list(argv))
            assert str(exc.value) == str(outcome)
            assert exc.value.argv == argv


async def test_recording_runner_keeps_results_unredacted_in_memory_but_saves_redacted(tmp_path: Path) -> None:
    secret_out = '{"kind": "Secret", "data": {"token": "c2VjcmV0"}}'
    inner = ReplayRunner(Recording(metadata=META, calls=[RecordedCall(argv=["kubectl", "get", "secret", "s"], stdout=secret_out)]))
    rec = RecordingRunner(inner, metadata=META)
    assert (await rec.run(["kubectl", "get", "secret", "s"])).stdout == secret_out
    assert rec.recording().calls[0].stdout == secret_out
    saved = load_recording(rec.save(tmp_path / "r.yaml"))
    assert "c2VjcmV0" not in saved.calls[0].stdout and saved.metadata.redacted


async def test_recording_runner_saves_on_aclose_when_given_a_path(tmp_path: Path) -> None:
    inner = ReplayRunner(Recording(metadata=META, calls=[RecordedCall(argv=["kubectl", "version"], stdout="v1\n")]))
    rec = RecordingRunner(inner, metadata=META, path=tmp_path / "out.yaml.gz")
    await rec.run(["kubectl", "version"])
    assert not (tmp_path / "out.yaml.gz").exists()
    await rec.aclose()
    assert load_recording(tmp_path / "out.yaml.gz").calls[0].stdout == "v1\n"


def _recording(*calls: RecordedCall) -> Recording:
    return Recording(metadata=META, calls=list(calls))


async def test_strict_replay_names_the_missing_argv() -> None:
    replay = ReplayRunner(_recording(), source_name="recordings/x.yaml")
    with pytest.raises(NotRecorded) as exc:
        await replay.run(["kubectl", "get", "pods", "-n", "my ns"])
    assert "kubectl get pods -n 'my ns'" in str(exc.value)
    assert "recordings/x.yaml" in str(exc.value)


async def test_lenient_replay_answers_not_in_recording() -> None:
    result = await ReplayRunner(_recording(), strict=False).run(["kubectl", "get", "pods"])
    assert result.exit_code == 1 and result.stderr == "not in recording" and result.replayed


async def test_normalised_match_ignores_connection_flags() -> None:
    replay = ReplayRunner(
        _recording(
            RecordedCall(argv=["kubectl", "get", "pods", "-n", "default", "--context", "rec-ctx", "--kubeconfig", "/a"], stdout="pods"),
            RecordedCall(argv=["istioctl", "proxy-status", "--context", "rec-ctx", "--istioNamespace", "cp"], stdout="ps"),
            RecordedCall(argv=["kubectl", "exec", "p", "-c", "istio-proxy", "--context", "rec-ctx", "--", "netstat", "-tln"], stdout="sockets"),
        )
    )
    assert (await replay.run(["kubectl", "get", "pods", "-n", "default", "--context=other", "--kubeconfig", "/b"])).stdout == "pods"
    assert (await replay.run(["kubectl", "get", "pods", "-n", "default"])).stdout == "pods"
    assert (await replay.run(["istioctl", "proxy-status", "-i", "other-cp", "--context", "x"])).stdout == "ps"
    assert (await replay.run(["kubectl", "exec", "p", "-c", "istio-proxy", "--", "netstat", "-tln"])).stdout == "sockets"
    with pytest.raises(NotRecorded):  # a different namespace is a different question
        await replay.run(["kubectl", "get", "pods", "-n", "other", "--context", "rec-ctx", "--kubeconfig", "/a"])


async def test_can_answer_says_what_a_recording_holds_without_using_it_up() -> None:
    rec = Recording(metadata=META, calls=[RecordedCall(argv=["kubectl", "get", "pods", "-n", "a", "--context", "x"], exit_code=0, stdout="1")])
    replay = ReplayRunner(rec)
    assert replay.can_answer(["kubectl", "get", "pods", "-n", "a"])  # by the connection-free rule
    assert not replay.can_answer(["kubectl", "config", "view", "--minify"])
    assert (await replay.run(["kubectl", "get", "pods", "-n", "a", "--context", "x"])).stdout == "1"
    assert LiveRunner().can_answer(["kubectl", "anything"])  # a live runner answers anything
    assert RecordingRunner(replay, metadata=META).can_answer(["kubectl", "get", "pods", "-n", "a"])


async def test_exact_match_wins_over_normalised_match() -> None:
    replay = ReplayRunner(
        _recording(
            RecordedCall(argv=["kubectl", "get", "pods", "--context", "a"], stdout="from a"),
            RecordedCall(argv=["kubectl", "get", "pods", "--context", "b"], stdout="from b"),
        )
    )
    assert (await replay.run(["kubectl", "get", "pods", "--context", "b"])).stdout == "from b"
    assert (await replay.run(["kubectl", "get", "pods", "--context", "a"])).stdout == "from a"


async def test_repeated_calls_replay_in_order_then_repeat_the_last() -> None:
    argv = ["kubectl", "get", "pods"]
    replay = ReplayRunner(_recording(*(RecordedCall(argv=argv, stdout=f"#{i}") for i in (1, 2, 3))))
    assert [(await replay.run(argv)).stdout for _ in range(5)] == ["#1", "#2", "#3", "#3", "#3"]


async def test_replay_refuses_mutating_calls_even_when_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_processes(*args: object, **kwargs: object) -> None:
        raise AssertionError("replay started a process")

    monkeypatch.setattr(asyncio, "create_subprocess_exec", no_processes)
    replay = ReplayRunner(_recording(
        RecordedCall(argv=["kubectl", "delete", "pod", "p"], stdout="pod deleted"),
        RecordedCall(argv=["kubectl", "get", "pods"], stdout="ok"),
    ))
    with pytest.raises(CommandRefused):
        await replay.run(["kubectl", "delete", "pod", "p"])
    assert (await replay.run(["kubectl", "get", "pods"])).stdout == "ok"


async def test_replayed_errors_are_raised_again() -> None:
    replay = ReplayRunner(_recording(
        RecordedCall(argv=["istioctl", "version"], exit_code=-1, error=RecordedError(kind="binary_not_found", message="`istioctl` was not found on PATH.")),
        RecordedCall(argv=["kubectl", "get", "pods"], exit_code=-1, duration_s=30, error=RecordedError(kind="timeout", message="took too long")),
    ))
    with pytest.raises(BinaryNotFound, match="was not found on PATH") as missing:
        await replay.run(["istioctl", "version"])
    assert missing.value.binary == "istioctl"
    with pytest.raises(CommandTimeout, match="took too long") as slow:
        await replay.run(["kubectl", "get", "pods"])
    assert slow.value.timeout_s == 30


async def test_simulated_latency_overlaps_for_concurrent_calls() -> None:
    calls = [RecordedCall(argv=["kubectl", "get", f"k{i}"], stdout=str(i), duration_s=0.3) for i in range(5)]
    replay = ReplayRunner(_recording(*calls), simulate_latency=True)
    t0 = time.monotonic()
    results = await asyncio.gather(*(replay.run(list(c.argv)) for c in calls))
    elapsed = time.monotonic() - t0
    assert [r.stdout for r in results] == ["0", "1", "2", "3", "4"]
    assert 0.3 <= elapsed < 1.0  # sequential would be 1.5 s

    t0 = time.monotonic()
    await ReplayRunner(_recording(*calls)).run(["kubectl", "get", "k0"])
    assert time.monotonic() - t0 < 0.1  # without the flag replay is instant
