"""The trace view: from a failing request in the evidence pane, one key (``t``) opens the request
followed through Envoy, the breaking hop selected and red. Behaviour with the pilot, plus SVG
snapshots at both supported sizes.

The report is a real diagnosis (``tests/fixtures/reports/trace-localhost-bind.json``: the replay of
``recordings/p503/localhost-bind-client.yaml``, reviews-v2 -> ratings whose app binds 127.0.0.1).
"""

from __future__ import annotations

import pytest
from helpers import screen_name, screen_text, wait_for

from conftest import NS, POD, FakeSession, load_report
from istio_doctor.tui.state import TuiOptions
from istio_doctor.tui.widgets.evidence_pane import EvidencePane

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


@pytest.fixture
def session() -> FakeSession:
    return FakeSession(report=load_report("trace-localhost-bind"))


async def _to_traced_evidence(pilot) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen" and pilot.app.screen.report is not None)
    pane = pilot.app.screen.query_one(EvidencePane)
    # the evidence of the top finding: cycle back to the access-log lines of the traced request
    await pilot.press("e", "left_square_bracket")
    await wait_for(pilot, lambda: pane.check_action("trace", ()) is True, what="a traced request in the evidence pane")


async def test_t_opens_the_trace_with_the_breaking_hop_selected(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="503"))
    async with app.run_test(size=(120, 40)) as pilot:
        await _to_traced_evidence(pilot)
        pane = pilot.app.screen.query_one(EvidencePane)
        assert pane.index == len(pane._refs) - 1
        await pilot.press("t")
        await wait_for(pilot, lambda: screen_name(pilot) == "TraceScreen", what="trace screen")
        screen = pilot.app.screen
        hops = screen.rt.trace.hops
        table = screen.query_one("#trace-hops")
        assert hops[table.cursor_row].status == "break" and hops[table.cursor_row].stage.value == "delivery"
        text = screen_text(pilot)
        assert "breaks at delivery" in text and "127.0.0.1:9080 only" in text
        # both proxies are in the trace: the client's, then the server's
        assert {h.proxy for h in hops} == {"reviews-v2-xfvhbgf8r4-vw88b.default", "ratings-v1-tg8lt8qrmc-rmh9x.default"}
        await pilot.press("up")
        assert "why" in screen_text(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen")


async def test_t_is_not_offered_for_evidence_that_is_no_traced_request(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="503"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen" and pilot.app.screen.report is not None)
        pane = pilot.app.screen.query_one(EvidencePane)
        assert pane.index == 0  # the socket table: no request to trace
        assert pane.check_action("trace", ()) is False
        await pilot.press("e", "t")
        assert screen_name(pilot) == "DiagnosisScreen"


@pytest.mark.parametrize("size", SIZES)
def test_trace_view_snapshot(snap_compare, make_app, size) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _to_traced_evidence(pilot)
        await pilot.press("t")
        await wait_for(pilot, lambda: screen_name(pilot) == "TraceScreen")

    assert snap_compare(make_app(TuiOptions(namespace=NS, pod=POD, symptom="503")), terminal_size=size, run_before=run_before)


def _probe_trace():  # type: ignore[no-untyped-def]
    """A probe (access logging off: nothing logged), from the replay of a recording."""
    from pathlib import Path

    from tests.test_trace_scenarios import _report

    expect = Path(__file__).resolve().parents[2] / "recordings/redteam-composites/access-logging-off-localhost-server.expect.yaml"
    report = _report(expect)
    return report, next(rt for rt in report.traces if rt.origin == "probe")


def test_trace_for_finds_a_probe_by_its_hop_list() -> None:
    """A probe has no log line: the evidence pane offers its trace from the hop list a finding carries."""
    from istio_doctor.tui.screens.trace_view import trace_for

    report, rt = _probe_trace()
    # the folded TRACE finding's hop list (the root cause's own evidence may quote another trace)
    refs = [e for e in report.findings[0].evidence if e.note.startswith("request trace through ratings")]
    assert refs and all(trace_for(e, report.traces) is rt for e in refs)


async def test_a_probe_trace_says_it_was_synthesised(make_app) -> None:  # type: ignore[no-untyped-def]
    from istio_doctor.tui.screens.trace_view import TraceScreen

    _report_, rt = _probe_trace()
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="503"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen" and pilot.app.screen.report is not None)
        await pilot.app.push_screen(TraceScreen(rt))
        await wait_for(pilot, lambda: screen_name(pilot) == "TraceScreen", what="trace screen")
        text = " ".join(screen_text(pilot).split())
        assert "probe: GET http://ratings.default.svc.cluster.local:9080/" in text
        assert "in the log of" not in text  # never presented as a logged request
