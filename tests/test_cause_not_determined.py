"""When requests fail and no check explains them: the verdict ``cause_not_determined`` (exit 4),
in every output format, with the traces of the failing requests and what they could not see.

The recording: ratings' app binds 127.0.0.1, RBAC forbids ``kubectl exec`` so its sockets cannot
be read; the server's log alone cannot tell that from its look-alikes (tests/scenarios/p503.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from istio_doctor.cli import main
from istio_doctor.report.render import render

ROOT = Path(__file__).resolve().parent.parent
REC = str(ROOT / "recordings/p503/localhost-bind-exec-forbidden.yaml")
ARGS = ["diagnose", "pod/ratings-v1-tg8lt8qrmc-rmh9x", "-n", "default", "--symptom", "503", "--replay", REC]


@pytest.fixture(scope="module")
def report():  # noqa: ANN201
    import asyncio

    from istio_doctor.evidence.recording import load_recording
    from istio_doctor.evidence.runner import ReplayRunner
    from istio_doctor.evidence.target import Connection, Target
    from istio_doctor.run import run_diagnosis

    runner = ReplayRunner(load_recording(Path(REC)), strict=True)
    return asyncio.run(run_diagnosis(Target.parse("pod/ratings-v1-tg8lt8qrmc-rmh9x", "default"), runner, Connection(),
                                     symptom="503")).report


def test_verdict_exit_code_and_no_ranked_cause(report) -> None:  # noqa: ANN001
    assert report.verdict.value == "cause_not_determined" and report.exit_code == 4
    assert report.headline.startswith("Cause not determined")
    # the informational triage results are context, reported apart, never ranked
    assert report.findings == [] and report.top is None
    assert report.observations and all(o.rank == 0 and o.severity.value == "info" for o in report.observations)
    assert report.traces and any("socket table" in u for rt in report.traces for u in rt.trace.unknowns)


@pytest.mark.parametrize("fmt", ["text", "markdown", "json", "yaml"])
def test_every_format_says_so_and_shows_the_trace(report, fmt: str) -> None:  # noqa: ANN001
    out = render(report, fmt)
    if fmt == "json":
        data = json.loads(out)
        assert data["verdict"] == "cause_not_determined" and data["exit_code"] == 4 and data["traces"]
    elif fmt == "yaml":
        data = yaml.safe_load(out)
        assert data["verdict"] == "cause_not_determined" and data["traces"][0]["trace"]["hops"]
    elif fmt == "markdown":
        assert "**Cause not determined.**" in out and "## Request traces" in out and "Could not see:" in out
        assert "## Triage" in out and "**No cause determined:**" in out
    else:
        assert "Cause not determined" in out and "Request traces" in out and "could not see:" in out
        # the context findings say they are not causes; the closing block says where to look next
        assert "Triage: what the proxy logs show, context for the findings (not findings themselves)" in " ".join(out.split())
        assert "no cause:   not determined: the request traces above" in out and "root cause:" not in out


def test_the_cli_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*ARGS, "-o", "json"])
    out, _ = capsys.readouterr()
    assert code == 4 and json.loads(out)["verdict"] == "cause_not_determined"
