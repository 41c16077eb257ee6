"""`istio-doctor demo --list` lists the bundled incidents and `demo NAME` runs one; the sidecar
incident stays the default. Through the installed console script, like a user (no cluster: the
stand-ins on PATH record any process started)."""

from __future__ import annotations

import json
from pathlib import Path

from istio_doctor.evidence.recording import load_recording
from istio_doctor.run import DEFAULT_DEMO, demo_names, load_demo_recording_path
from tests.test_cli_e2e import cli, started_processes

AMBIENT_DEMO = "ambient-l7-policy-on-ztunnel"


def test_demo_registry_is_every_bundled_recording_default_first() -> None:
    names = demo_names()
    assert names[0] == DEFAULT_DEMO == "bookinfo-reviews-503"
    assert AMBIENT_DEMO in names
    for n in names:
        assert load_demo_recording_path(n).is_file()
    # the ambient incident is simulated by the scenario kit, and says so
    assert load_recording(load_demo_recording_path(AMBIENT_DEMO)).metadata.description.startswith("Simulated by the scenario kit")


def test_demo_list(tmp_path: Path) -> None:
    p = cli(tmp_path, "demo", "--list")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith(DEFAULT_DEMO) and lines[0].endswith("(default)")
    assert any(ln.startswith(AMBIENT_DEMO) and "Simulated by the scenario kit" in ln for ln in lines)
    assert started_processes(tmp_path) == []


def test_demo_by_name_runs_the_ambient_incident(tmp_path: Path) -> None:
    p = cli(tmp_path, "demo", AMBIENT_DEMO, "-o", "json")
    report = json.loads(p.stdout)
    assert report["mode"] == "replay" and report["recording"] == f"{AMBIENT_DEMO}.yaml"
    assert report["findings"][0]["code"] == "AMB-AUTHZ-L7-ON-ZTUNNEL"
    assert p.returncode == report["exit_code"] != 0
    assert started_processes(tmp_path) == []  # a replay never runs kubectl or istioctl


def test_demo_default_is_unchanged_and_unknown_names_are_usage_errors(tmp_path: Path) -> None:
    report = json.loads(cli(tmp_path, "demo", "-o", "json").stdout)
    assert report["recording"] == f"{DEFAULT_DEMO}.yaml"
    assert report["findings"][0]["code"] == "MTLS-DR-DISABLE-VS-STRICT"
    bad = cli(tmp_path, "demo", "no-such-incident")
    assert bad.returncode == 2
    assert "no demo incident named 'no-such-incident'" in bad.stderr and AMBIENT_DEMO in bad.stderr
