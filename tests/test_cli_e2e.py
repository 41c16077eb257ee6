"""End to end: the real CLI in a fresh interpreter, against stand-in kubectl/istioctl on PATH,
in a pipe and in a real pseudo-terminal.

The stand-ins answer every call with JSON naming the call, which is not the evidence a
cluster would give: these tests pin the plumbing (validation before processes, record ->
replay giving the same verdict, stdout hygiene, colour rules, exit codes), never what the engine
concludes from it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pexpect
import pytest
import yaml

from istio_doctor.exitcodes import ExitCode
from istio_doctor.report.model import report_json_schema

ROOT = Path(__file__).resolve().parent.parent
STANDINS = ROOT / "tests" / "standins"
ANSI = re.compile(r"\x1b\[")
SGR_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
TARGET = ["pod/productpage-v1-6b746f74dc-9stvs", "-n", "bookinfo"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "ISTIO_DOCTOR_DEBUG", "KUBECONFIG")}
    env.update(PATH=f"{STANDINS}{os.pathsep}{env.get('PATH', '')}", STANDIN_LOG=str(tmp_path / "calls.log"),
               KUBECONFIG=str(tmp_path / "no-kubeconfig"), **extra)
    return env


def entry_point() -> list[str]:
    """The installed console script when there is one (CI's fresh install), else the module."""
    script = Path(sys.executable).parent / "istio-doctor"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "istio_doctor"]


def cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*entry_point(), *args],
        cwd=ROOT, env=_env(tmp_path, **env), capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )


def started_processes(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "calls.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


#: a diagnosis ends with one of these; 2 (usage) and 130 (interrupted) would be a failure here
DIAGNOSIS_CODES = (ExitCode.OK, ExitCode.PROBLEMS_FOUND, ExitCode.EVIDENCE_INCOMPLETE)


@pytest.fixture
def live(tmp_path: Path) -> tuple[Path, dict]:  # type: ignore[type-arg]
    """A live run against the stand-ins, recorded: (recording, JSON report)."""
    path = tmp_path / "incident.yaml"
    proc = cli(tmp_path, "diagnose", *TARGET, "--record", str(path), "-o", "json")
    report = json.loads(proc.stdout)
    assert proc.returncode == report["exit_code"] and proc.returncode in DIAGNOSIS_CODES, proc.stderr
    assert proc.stderr.strip().endswith(f"call(s) recorded to {path}")
    assert path.is_file()
    return path, report


@pytest.fixture
def recording(live: tuple[Path, dict]) -> Path:  # type: ignore[type-arg]
    return live[0]


@pytest.mark.parametrize("target", ["pod/-rf", "pod/a;b", "ns/Foo", "pod/$(id)", "svc/a b"])
def test_an_invalid_name_never_starts_a_process(tmp_path: Path, target: str) -> None:
    proc = cli(tmp_path, "diagnose", target)
    assert proc.returncode == ExitCode.USAGE
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("istio-doctor: error: ")
    assert "Traceback" not in proc.stderr
    assert started_processes(tmp_path) == []


def test_live_run_records_and_replay_reproduces_it(tmp_path: Path, live: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    recording, live_report = live
    assert live_report["mode"] == "live" and live_report["recording"] is None
    live_calls = started_processes(tmp_path)
    assert live_calls and all(c[0] in ("kubectl", "istioctl") for c in live_calls)
    rec = yaml.safe_load(recording.read_text())
    assert rec["format"] == "istio-doctor/recording/v1"
    assert rec["metadata"]["target"] == "pod/productpage-v1-6b746f74dc-9stvs -n bookinfo"
    assert len(rec["calls"]) == len(live_calls)

    (tmp_path / "calls.log").unlink()
    proc = cli(tmp_path, "diagnose", "--replay", str(recording), "-o", "json")
    assert started_processes(tmp_path) == []  # a replay never runs kubectl
    report = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(report_json_schema()).validate(report)
    assert report["mode"] == "replay" and report["recording"] == "incident.yaml"
    assert report["target"] == "pod/productpage-v1-6b746f74dc-9stvs -n bookinfo"
    assert proc.returncode == report["exit_code"] == live_report["exit_code"], proc.stderr
    assert report["verdict"] == live_report["verdict"]
    assert [f["code"] for f in report["findings"]] == [f["code"] for f in live_report["findings"]]
    assert sorted(u["evidence"] for u in report["unchecked"]) == sorted(u["evidence"] for u in live_report["unchecked"])
    assert report["calls"] and all(c["replayed"] for c in report["calls"])


def test_replay_in_every_format(tmp_path: Path, recording: Path) -> None:
    md = cli(tmp_path, "diagnose", "--replay", str(recording), "-o", "markdown")
    assert md.stdout.startswith("# istio-doctor: pod/productpage-v1-6b746f74dc-9stvs -n bookinfo\n")
    assert "<details>" in md.stdout and md.returncode in DIAGNOSIS_CODES
    as_yaml = yaml.safe_load(cli(tmp_path, "diagnose", "--replay", str(recording), "-o", "yaml").stdout)
    as_json = json.loads(cli(tmp_path, "diagnose", "--replay", str(recording), "-o", "json").stdout)
    for data in (as_yaml, as_json):
        data.pop("generated_at")
    assert as_yaml["verdict"] == as_json["verdict"] and as_yaml["findings"] == as_json["findings"]
    text = cli(tmp_path, "diagnose", "--replay", str(recording))
    assert text.returncode == as_json["exit_code"]
    assert "mode:      replay of recording incident.yaml" in text.stdout
    assert text.stdout.rstrip().splitlines()[-1].strip()  # ends with the verdict line
    assert not ANSI.search(text.stdout) and text.stderr == ""


def test_unreadable_recording_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: something-else\ncalls: 3\n")
    proc = cli(tmp_path, "diagnose", "--replay", str(bad))
    assert proc.returncode == ExitCode.USAGE, proc.stderr
    assert proc.stderr.startswith("istio-doctor: error: ") and len(proc.stderr.splitlines()) == 1


def test_verbose_lists_calls_on_stderr_only(tmp_path: Path) -> None:
    proc = cli(tmp_path, "diagnose", *TARGET, "-v", "-o", "json")
    json.loads(proc.stdout)
    listed = [ln for ln in proc.stderr.splitlines() if ln.strip().startswith("exit")]
    assert len(listed) == len(started_processes(tmp_path))


def _pty(tmp_path: Path, command: str, **env: str) -> tuple[str, int]:
    """Run ``command`` (stdout only: stderr to /dev/null) in a real pseudo-terminal."""
    child = pexpect.spawn(
        "/bin/sh", ["-c", command + " 2>/dev/null"], cwd=str(ROOT), env=_env(tmp_path, **env),
        dimensions=(50, 120), encoding="utf-8", timeout=120,
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None
    return child.before, child.exitstatus


def test_colour_in_a_terminal_and_never_with_no_color(tmp_path: Path, recording: Path) -> None:
    base = " ".join([*entry_point(), "diagnose", "--replay", str(recording)])
    out, code = _pty(tmp_path, base)
    assert code in DIAGNOSIS_CODES
    assert SGR_COLOUR.search(out) and "replay of recording" in out
    out, _ = _pty(tmp_path, base, NO_COLOR="1")
    assert not ANSI.search(out) and "replay of recording incident.yaml" in out
    out, _ = _pty(tmp_path, base + " --no-color")
    assert not ANSI.search(out)


def test_no_arguments_in_a_pipe_prints_help_and_exits_2(tmp_path: Path) -> None:
    proc = cli(tmp_path)
    assert proc.returncode == ExitCode.USAGE and proc.stdout == ""
    assert "exit codes:" in proc.stderr


def _demo_available() -> bool:
    from istio_doctor.run import load_demo_recording_path

    return load_demo_recording_path().is_file()


demo = pytest.mark.skipif(not _demo_available(), reason="the bundled demo recording is not in this checkout yet")


@demo
def test_demo_in_a_terminal_has_colour(tmp_path: Path) -> None:
    out, code = _pty(tmp_path, " ".join([*entry_point(), "demo"]))
    assert code in DIAGNOSIS_CODES
    assert SGR_COLOUR.search(out)
    assert "replay of recording" in out


@demo
def test_demo_piped_and_as_json(tmp_path: Path) -> None:
    text = cli(tmp_path, "demo")
    assert not ANSI.search(text.stdout) and "replay of recording" in text.stdout
    assert started_processes(tmp_path) == []
    as_json = cli(tmp_path, "demo", "-o", "json")
    report = json.loads(as_json.stdout)
    jsonschema.Draft202012Validator(report_json_schema()).validate(report)
    assert report["mode"] == "replay" and report["recording"]
    assert as_json.returncode == report["exit_code"] == text.returncode
    md = cli(tmp_path, "demo", "-o", "markdown")
    assert md.stdout.startswith("# istio-doctor: ") and md.returncode == report["exit_code"]


@demo
def test_demo_tui_opens_in_a_terminal_and_quits(tmp_path: Path) -> None:
    child = pexpect.spawn(
        entry_point()[0], [*entry_point()[1:], "demo", "--tui"], cwd=str(ROOT), env=_env(tmp_path),
        dimensions=(40, 140), encoding="utf-8", timeout=60,
    )
    child.expect("Quit")  # the footer is drawn: the app is up and reading keys
    child.send("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert started_processes(tmp_path) == []  # the demo replays; it never runs kubectl


@demo
def test_replaying_the_demo_recording_is_the_demo(tmp_path: Path) -> None:
    from istio_doctor.run import load_demo_recording_path

    path = load_demo_recording_path()
    demo_report = json.loads(cli(tmp_path, "demo", "-o", "json").stdout)
    proc = cli(tmp_path, "diagnose", "--replay", str(path), "-o", "json")
    report = json.loads(proc.stdout)
    assert proc.returncode == report["exit_code"] == demo_report["exit_code"]
    assert report["target"] == demo_report["target"] and report["context"] == demo_report["context"]
    assert [f["code"] for f in report["findings"]] == [f["code"] for f in demo_report["findings"]]
    expect = yaml.safe_load(path.with_name(path.name.replace(".yaml", ".expect.yaml")).read_text())
    # the recording's own expectation: the CLI reports its verdict and its root cause first
    assert report["verdict"] == expect["verdict"]
    assert report["findings"][0]["code"] == expect["findings_first"]
