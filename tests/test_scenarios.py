"""One generic test replays every scenario recording and checks its expected verdict (data).

A scenario is ``recordings/<playbook>/<name>.yaml`` (the calls, replayed strictly: a call the
tool makes that the recording lacks fails the test loudly) plus ``<name>.expect.yaml``:

    target: pod/reviews-v1-545db77b95-6kqdm -n default
    symptom: mtls
    verdict: problems_found
    findings_first: MTLS-DR-DISABLE-VS-STRICT    # the most likely root cause, ranked first
    findings: [MTLS-DR-DISABLE-VS-STRICT]        # must all be present
    absent: [P503-NO-ENDPOINTS]                  # must not be reported (look-alikes)
    path: [[dr-disable, fail]]                   # optional: node outcomes that must appear
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from istio_doctor.engine.context import strict_reads
from istio_doctor.evidence.recording import load_recording
from tests.replayed import EXPECTS, ROOT, recording_of, replay
from tests.replayed import scenario_id as _id


def test_scenarios_exist() -> None:
    assert len(EXPECTS) >= 1, "no scenario recordings found under recordings/"


@pytest.mark.parametrize("expect_path", EXPECTS, ids=_id)
def test_scenario(expect_path: Path) -> None:
    # every recording replays under the declared-reads rule (tests/conftest.py): an undeclared read raises
    assert strict_reads()
    expect = yaml.safe_load(expect_path.read_text())
    report = replay(expect_path)
    codes = [f.code for f in report.findings]
    # Informational triage results (GEN-WHICH-PROXY, GEN-FLAG-CLASSIFY) are reported apart from
    # the findings and never ranked: an expect file naming one asks whether that check fired.
    fired = codes + [o.code for o in report.observations]
    ctx = f"\nheadline: {report.headline}\nfindings: {codes}\nunchecked: {[u.reason for u in report.unchecked]}"
    assert report.verdict.value == expect["verdict"], ctx
    if expect.get("findings_first"):
        assert codes and codes[0] == expect["findings_first"], ctx
    for code in expect.get("findings", []):
        assert code in fired, f"expected finding {code} missing" + ctx
    for code in expect.get("absent", []):
        assert code not in fired, f"look-alike finding {code} must not be reported" + ctx
    outcomes = {(n.id, n.outcome.value) for pb in report.playbooks for n in pb.nodes}
    for node_id, outcome in expect.get("path", []):
        assert (node_id, outcome) in outcomes, f"expected node {node_id} -> {outcome}" + ctx


@pytest.mark.parametrize("expect_path", EXPECTS, ids=_id)
def test_every_expectation_says_where_its_behaviour_comes_from(expect_path: Path) -> None:
    """``synthetic`` (the scenario kit rendered every output: our beliefs) or ``captured`` (real
    outputs, with their source); docs/checks.md counts each kind per check. The recording's
    metadata says the same, so a replayed report can tell the user."""
    expect = yaml.safe_load(expect_path.read_text())
    assert expect.get("provenance") in ("synthetic", "captured"), "expectation without provenance"
    assert expect.get("source"), "say where the behaviour comes from (the kit, or the capture's origin)"
    rec = load_recording(recording_of(expect_path))
    assert rec.metadata.provenance == expect["provenance"]


def test_recordings_are_in_sync_with_the_scenario_kit() -> None:
    """A recording edited by hand, or a kit change without a rebuild, fails here."""
    import subprocess
    import sys

    tool = ROOT.parent / "tools" / "build_scenarios.py"
    r = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
