"""The TUI driven by keys, as an SRE would: pick a pod, pick a symptom, read the diagnosis,
reach the root cause's fix, copy it; cancel a gathering; browse proxy config and calls."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from helpers import screen_name, screen_text, wait_for

from istio_doctor.tui.state import TuiOptions
from istio_doctor.tui.widgets.decision_tree import DecisionTree
from istio_doctor.tui.widgets.evidence_pane import EvidencePane
from istio_doctor.tui.widgets.finding_pane import FindingPane

from conftest import NS, POD, FakeSession

SIZE = (120, 40)


async def _to_diagnosis(pilot, session: FakeSession) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen", what="diagnosis screen")
    await wait_for(pilot, lambda: pilot.app.screen.report is not None, what="report")


async def test_pick_pod_symptom_and_reach_the_fix(make_app, session: FakeSession) -> None:
    app = make_app(TuiOptions(namespace=NS))
    async with app.run_test(size=SIZE) as pilot:
        screen = pilot.app.screen
        await wait_for(pilot, lambda: len(getattr(screen, "pods", [])) == 4, what="pods listed")
        assert [p.name for p in screen.pods][1] == POD
        assert screen.pods[3].in_mesh is False and screen.pods[2].ready == "2/2"
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "SymptomPickerScreen")
        await pilot.press("down", "down", "enter")  # auto, 503, mtls
        await _to_diagnosis(pilot, session)

        call = session.calls[0]
        assert call["target"].name == POD and call["target"].namespace == NS
        assert call["symptom"] == "mtls"
        assert call["conn"].context == "kind-bookinfo"

        # f: the cursor lands on the node that produced the top finding, enter shows its fix
        await pilot.press("tab", "f")
        tree = pilot.app.screen.query_one(DecisionTree)
        assert tree.has_focus and tree.cursor_node is not None
        assert tree.cursor_node.data.node == "dr-disable"
        await pilot.press("enter")
        pane = pilot.app.screen.query_one(FindingPane)
        assert pane.has_focus and pane.finding is not None and pane.finding.code == "MTLS-DR-DISABLE-VS-STRICT"
        await pilot.pause()
        assert pane.scroll_y > 0, "enter scrolls the fix into view"

        await pilot.press("c")
        assert "kubectl -n bookinfo patch destinationrule reviews" in pilot.app.clipboard
        assert "mode: ISTIO_MUTUAL" in pilot.app.clipboard
        assert pilot.app.flash_message.text.startswith("fix copied")


async def test_evidence_pane_shows_the_cited_call_with_the_excerpt_highlighted(make_app) -> None:
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="mtls"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen" and pilot.app.screen.report is not None)
        await pilot.press("f")
        pane = pilot.app.screen.query_one(EvidencePane)
        view = pane.current
        assert view is not None and view.verbatim
        assert view.source == "kubectl get destinationrules.networking.istio.io -A -o yaml"
        lines = view.text.splitlines()
        # the reviews DestinationRule is highlighted, not its neighbour 'details'
        assert [lines[i].strip() for i in view.highlight][:4] == [
            "- apiVersion: networking.istio.io/v1beta1", "kind: DestinationRule", "metadata:", "name: reviews",
        ]
        assert lines[view.highlight[-1]].strip() == "mode: DISABLE"
        await pilot.press("e", "right_square_bracket")
        assert pane.index == 1 and pane.current.source.startswith("kubectl get peerauthentications")
        await pilot.press("right_square_bracket")
        assert pane.index == 0


async def test_cancel_gathering_returns_to_the_picker(make_app, session: FakeSession) -> None:
    session.gate = threading.Event()
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen")
        await wait_for(pilot, session.started.is_set, what="gathering started")
        await wait_for(pilot, lambda: "kubectl version -o json" in screen_text(pilot), what="calls panel")
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen_name(pilot) == "SymptomPickerScreen", what="back to the picker")
        assert pilot.app.flash_message.text.startswith("cancelled")
        await wait_for(pilot, session.cancelled.is_set, what="the diagnosis coroutine to be cancelled")
        session.gate.set()


async def test_gather_again_and_faults_only(make_app, session: FakeSession) -> None:
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=SIZE) as pilot:
        await _to_diagnosis(pilot, session)
        tree = pilot.app.screen.query_one(DecisionTree)
        before = len(tree._leaves)
        await pilot.press("ctrl+z")
        shown = {k[1] for k in tree._leaves}
        assert tree.faults_only and len(tree._leaves) < before
        assert shown == {"dr-disable", "stats", "uc-reset"}
        assert "faults only" in pilot.app.flash_message.text
        await pilot.press("ctrl+z")
        assert len(tree._leaves) == before

        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(session.calls) == 2 and pilot.app.screen.report is not None, what="second gathering")


async def test_proxy_config_browser_opens_filtered_on_the_finding_resource(make_app, session: FakeSession) -> None:
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=SIZE) as pilot:
        await _to_diagnosis(pilot, session)
        # the second finding (P503) cites a log line naming the outbound reviews cluster
        report = pilot.app.screen.report
        second = report.findings[1]
        pilot.app.screen._goto_finding(second, focus_tree=True)
        await pilot.press("p")
        await wait_for(pilot, lambda: screen_name(pilot) == "ProxyConfigScreen")
        screen = pilot.app.screen
        assert screen.filter_text == "outbound|9080||reviews.bookinfo.svc.cluster.local"
        from textual.widgets import DataTable

        clusters = screen.query_one("#table-cluster", DataTable)
        assert clusters.row_count == 1
        await pilot.press("escape")  # clears the filter first
        assert screen.filter_text == "" and clusters.row_count == 4
        await pilot.press("slash", *"ratings", "enter")
        assert clusters.row_count == 1
        await pilot.press("3")
        routes = screen.query_one("#table-route", DataTable)
        assert routes.row_count == 0  # the one route config names reviews only
        await pilot.press("escape", "escape")
        assert screen_name(pilot) == "DiagnosisScreen"


async def test_proxy_config_without_a_dump_says_why(make_app, session: FakeSession) -> None:
    session.with_dump = False
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=SIZE) as pilot:
        await _to_diagnosis(pilot, session)
        await pilot.press("p")
        await wait_for(pilot, lambda: screen_name(pilot) == "ProxyConfigScreen")
        assert "No config dump for" in screen_text(pilot)


async def test_calls_log_lists_every_call(make_app, session: FakeSession) -> None:
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=SIZE) as pilot:
        await _to_diagnosis(pilot, session)
        await pilot.press("l")
        await wait_for(pilot, lambda: screen_name(pilot) == "CallsLogScreen")
        from textual.widgets import DataTable

        table = pilot.app.screen.query_one("#calls", DataTable)
        assert table.row_count == len(session.report.calls) == 7
        assert table.get_row_at(6)[1].plain == "1"
        await pilot.press("down", "down", "down")
        assert "DestinationRule" in screen_text(pilot), "the highlighted call's output is shown"
        await pilot.press("escape")
        assert screen_name(pilot) == "DiagnosisScreen"


async def test_help_lists_the_keys_of_the_current_screen(make_app, session: FakeSession) -> None:
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=SIZE) as pilot:
        await _to_diagnosis(pilot, session)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: screen_name(pilot) == "HelpScreen")
        text = screen_text(pilot)
        for line in ("Top finding", "Copy fix", "Proxy config", "Faults only", "Export md", "Quit"):
            assert line in text
        assert "Cursor up" not in text
        await pilot.press("escape")
        assert screen_name(pilot) == "DiagnosisScreen"


async def test_palette_offers_only_what_is_valid_now(make_app, session: FakeSession) -> None:
    session.gate = threading.Event()
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, session.started.is_set)
        while_gathering = {c.title for c in pilot.app.get_system_commands(pilot.app.screen)}
        assert "Copy fix" not in while_gathering and "Back / cancel" in while_gathering
        session.gate.set()
        await wait_for(pilot, lambda: pilot.app.screen.report is not None)
        await pilot.press("f")
        ready = {c.title for c in pilot.app.get_system_commands(pilot.app.screen)}
        assert {"Copy fix", "Top finding", "Finding MTLS-DR-DISABLE-VS-STRICT", "Finding P503-UC-RESET"} <= ready
        assert "Gather again" in ready
        await pilot.press("colon")
        await wait_for(pilot, lambda: screen_name(pilot) == "CommandPalette")
        await pilot.press(*"P503", "enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen")
        await pilot.pause()
        assert pilot.app.screen.query_one(DecisionTree).cursor_node.data.node == "uc-reset"


async def test_export_markdown_writes_the_report(make_app, session: FakeSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=SIZE) as pilot:
        await _to_diagnosis(pilot, session)
        await pilot.press("m")
        written = tmp_path / f"istio-doctor-report-{POD}-20240514-093000.md"
        assert written.is_file()
        assert "MTLS-DR-DISABLE-VS-STRICT" in written.read_text(encoding="utf-8")
        assert str(written) in pilot.app.flash_message.text


async def test_export_without_the_renderer_flashes(make_app, session: FakeSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"), markdown=False)
    async with app.run_test(size=SIZE) as pilot:
        await _to_diagnosis(pilot, session)
        await pilot.press("m")
        assert "unavailable" in pilot.app.flash_message.text and not list(tmp_path.iterdir())


async def test_a_failed_listing_is_a_flash_not_a_crash(make_app) -> None:
    app = make_app(TuiOptions(namespace="default"))  # the fake runner has no pods for 'default'
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: pilot.app.flash_message.level == "error", what="error flash")
        assert "kubectl get pods -n default -o json --context kind-bookinfo` exited 1" in pilot.app.flash_message.text
        assert screen_name(pilot) == "TargetPickerScreen"


async def test_pod_filter(make_app) -> None:
    app = make_app(TuiOptions(namespace=NS))
    async with app.run_test(size=SIZE) as pilot:
        screen = pilot.app.screen
        await wait_for(pilot, lambda: len(screen.pods) == 4)
        from textual.widgets import DataTable

        table = screen.query_one("#pods", DataTable)
        await pilot.press("slash", *"rev", "enter")
        assert table.row_count == 1 and table.has_focus
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "SymptomPickerScreen")
        assert pilot.app.target.name.startswith("reviews-v1")
        await pilot.press("escape")
        assert screen_name(pilot) == "TargetPickerScreen"
        await pilot.press("escape")  # clears the filter
        assert table.row_count == 4


async def test_started_on_a_pod_esc_from_symptoms_opens_the_picker(make_app) -> None:
    app = make_app(TuiOptions(namespace=NS, pod=POD))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: screen_name(pilot) == "SymptomPickerScreen")
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen_name(pilot) == "TargetPickerScreen")
