"""Issue #12's CLI rough edges, through the installed console script on the bundled demo
recording (no cluster): --no-color before the command, symptoms from the loaded playbooks (and
404 as the routes playbook's alias), replaying a target the recording does not hold, -v for the
whole tree, --fix-script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from istio_doctor.exitcodes import ExitCode
from istio_doctor.run import load_demo_recording_path

DEMO = load_demo_recording_path()
DEMO_POD = "pod/reviews-v2-xfvhbgf8r4-vw88b"
SGR_COLOUR = re.compile(r"\x1b\[[0-9;]*[1-9][0-9;]*m")


def _entry() -> list[str]:
    script = Path(sys.executable).parent / "istio-doctor"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "istio_doctor"]


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "KUBECONFIG", "ISTIO_DOCTOR_DEBUG")}
    env["HOME"] = str(tmp_path)
    return subprocess.run([*_entry(), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_no_color_is_accepted_before_the_command(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"

    def run(*args: str) -> str:
        child = pexpect.spawn(_entry()[0], [*_entry()[1:], *args], env=env, cwd=str(tmp_path), encoding="utf-8",
                              dimensions=(50, 120), timeout=60)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == ExitCode.PROBLEMS_FOUND
        return child.before or ""

    assert SGR_COLOUR.search(run("demo")), "a terminal gets colour"
    assert not SGR_COLOUR.search(run("--no-color", "demo"))
    assert not SGR_COLOUR.search(run("demo", "--no-color"))


def test_404_is_the_routes_symptom(tmp_path: Path) -> None:
    proc = cli(tmp_path, "diagnose", "--replay", str(DEMO), "--symptom", "404", "-o", "json")
    assert proc.returncode in (ExitCode.OK, ExitCode.PROBLEMS_FOUND, ExitCode.EVIDENCE_INCOMPLETE), proc.stderr
    report = json.loads(proc.stdout)
    assert report["playbooks_run"] == ["triage", "routes"] and report["symptom"] == "404"


def test_a_playbook_folders_symptom_is_accepted(tmp_path: Path) -> None:
    books = tmp_path / "team"
    books.mkdir()
    (books / "egress.yaml").write_text(
        "id: egress\ntitle: Egress to external hosts\nsymptoms: [egress]\nnodes:\n"
        "  - id: registry-only\n    check: P503-REGISTRY-ONLY\n    title: Does REGISTRY_ONLY block the host?\n")
    proc = cli(tmp_path, "diagnose", "--replay", str(DEMO), "--playbooks", str(books), "--symptom", "egress", "-o", "json")
    assert proc.returncode != ExitCode.USAGE, proc.stderr
    assert json.loads(proc.stdout)["playbooks_run"] == ["triage", "egress"]
    bad = cli(tmp_path, "diagnose", "--replay", str(DEMO), "--symptom", "egress")  # not without the folder
    assert bad.returncode == ExitCode.USAGE
    assert bad.stderr == "istio-doctor: error: unknown symptom 'egress': use one of auto, injection, mtls, 503, routes, 404\n"


def test_replaying_a_target_the_recording_does_not_hold_is_a_usage_error(tmp_path: Path) -> None:
    proc = cli(tmp_path, "diagnose", "pod/checkout-5d9c7b-abcde", "-n", "shop", "--replay", str(DEMO))
    assert proc.returncode == ExitCode.USAGE and proc.stdout == ""
    assert proc.stderr.startswith(f"istio-doctor: error: recording {DEMO} holds no evidence for pod/checkout-5d9c7b-abcde "
                                  f"-n shop; it holds: {DEMO_POD} -n default, ")
    assert "ns/default" in proc.stderr
    ok = cli(tmp_path, "diagnose", DEMO_POD, "-n", "default", "--replay", str(DEMO), "-o", "json")
    assert ok.returncode == ExitCode.PROBLEMS_FOUND, ok.stderr


def test_verbose_shows_every_node(tmp_path: Path) -> None:
    short = cli(tmp_path, "demo", "--no-color")
    full = cli(tmp_path, "demo", "--no-color", "-v")
    assert "✔ Is istiod ready (replicas, containers, endpoints)? [GEN-ISTIOD-HEALTH]" in full.stdout
    assert "✔ Is istiod ready" not in short.stdout and "(-v lists them)" in short.stdout
    assert len(short.stdout.splitlines()) < 160 < len(full.stdout.splitlines())
    assert full.stderr.count("  exit ") >= 30  # and every call on stderr, as before


def test_fix_script_writes_the_fixes_as_a_script(tmp_path: Path) -> None:
    out = tmp_path / "fix.sh"
    proc = cli(tmp_path, "demo", "--fix-script", str(out), "-o", "json")
    assert proc.returncode == ExitCode.PROBLEMS_FOUND
    json.loads(proc.stdout)  # stdout is still only the report
    assert f"fix script written to {out}: 1 finding(s), 2 step(s), commands commented out" in proc.stderr
    script = out.read_text()
    assert script.startswith("#!/bin/sh\n") and "# ==== [MTLS-DR-DISABLE-VS-STRICT]" in script
    assert "# kubectl --context kind-scenarios patch destinationrule ratings -n default" in script
