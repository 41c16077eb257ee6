"""Replay one scenario recording to its report, once per test session.

``test_scenarios.py`` (verdicts, findings) and ``test_findings_golden.py`` (the findings'
wording) read the same replay; caching it keeps the suite's replay cost to one run per recording.
"""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path

import yaml

from istio_doctor.evidence.recording import load_recording
from istio_doctor.evidence.runner import ReplayRunner
from istio_doctor.evidence.target import Connection, Target
from istio_doctor.report.model import Report
from istio_doctor.run import run_diagnosis

ROOT = Path(__file__).resolve().parent.parent / "recordings"
EXPECTS = sorted(ROOT.glob("*/*.expect.yaml"))


def scenario_id(p: Path) -> str:
    return f"{p.parent.name}/{p.name.removesuffix('.expect.yaml')}"


def recording_of(expect_path: Path) -> Path:
    return expect_path.with_name(expect_path.name.removesuffix(".expect.yaml") + ".yaml")


def expectation(expect_path: Path) -> dict:
    return yaml.safe_load(expect_path.read_text())


@cache
def replay(expect_path: Path) -> Report:
    """The report of the expectation's target replayed strictly (a call the recording lacks fails)."""
    expect = expectation(expect_path)
    rec_path = recording_of(expect_path)
    rec = load_recording(rec_path)
    name, _, ns = expect["target"].partition(" -n ")
    target = Target.parse(name.strip(), ns.strip() or None)
    runner = ReplayRunner(rec, strict=True, source_name=str(rec_path))
    result = asyncio.run(run_diagnosis(target, runner, Connection(), symptom=expect.get("symptom", "auto"), recording=rec_path.name))
    return result.report
