"""SVG snapshots of every screen at 120x40 and at the smallest supported size, 80x24.

Regenerate with ``python -m pytest tests/tui/test_snapshots.py --snapshot-update`` and review
the SVGs like code. Inputs are frozen (fake session, fixed clock, animations off), so a
changed snapshot is a changed screen.
"""

from __future__ import annotations

import threading

import pytest
from helpers import screen_name, wait_for

from conftest import NS, POD, FakeSession
from istio_doctor.tui.state import TuiOptions

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


async def _diagnosis_ready(pilot) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen" and pilot.app.screen.report is not None)


@pytest.mark.parametrize("size", SIZES)
class TestPickers:
    def test_target_picker(self, snap_compare, make_app, size) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await wait_for(pilot, lambda: len(getattr(pilot.app.screen, "pods", [])) == 4)
            await pilot.press("down")

        assert snap_compare(make_app(TuiOptions(namespace=NS)), terminal_size=size, run_before=run_before)

    def test_target_picker_filtered(self, snap_compare, make_app, size) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await wait_for(pilot, lambda: len(getattr(pilot.app.screen, "pods", [])) == 4)
            await pilot.press("slash", *"v1-")

        assert snap_compare(make_app(TuiOptions(namespace=NS)), terminal_size=size, run_before=run_before)

    def test_symptom_picker(self, snap_compare, make_app, size) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await wait_for(pilot, lambda: screen_name(pilot) == "SymptomPickerScreen")

        assert snap_compare(make_app(TuiOptions(namespace=NS, pod=POD)), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
class TestDiagnosis:
    def test_gathering(self, snap_compare, make_app, session: FakeSession, size) -> None:  # type: ignore[no-untyped-def]
        session.gate = threading.Event()

        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await wait_for(pilot, session.started.is_set)
            await wait_for(pilot, lambda: len(pilot.app.screen.query_one("#progress-calls").rows) == 7)

        try:
            assert snap_compare(make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto")), terminal_size=size, run_before=run_before)
        finally:
            session.gate.set()

    def test_top_finding(self, snap_compare, make_app, size) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await _diagnosis_ready(pilot)
            await pilot.press("f")

        assert snap_compare(make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto")), terminal_size=size, run_before=run_before)

    def test_fix_in_view(self, snap_compare, make_app, size) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await _diagnosis_ready(pilot)
            await pilot.press("f", "enter", "c")
            await pilot.pause()

        assert snap_compare(make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto")), terminal_size=size, run_before=run_before)

    def test_faults_only_unknown_node(self, snap_compare, make_app, size) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await _diagnosis_ready(pilot)
            await pilot.press("f", "ctrl+z", "down", "down")

        assert snap_compare(make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto")), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
class TestSubScreens:
    def test_proxy_config(self, snap_compare, make_app, size) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await _diagnosis_ready(pilot)
            await pilot.press("p")
            await wait_for(pilot, lambda: screen_name(pilot) == "ProxyConfigScreen")

        assert snap_compare(make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto")), terminal_size=size, run_before=run_before)

    def test_calls_log(self, snap_compare, make_app, size) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await _diagnosis_ready(pilot)
            await pilot.press("l")
            await wait_for(pilot, lambda: screen_name(pilot) == "CallsLogScreen")
            await pilot.press("down", "down", "down")

        assert snap_compare(make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto")), terminal_size=size, run_before=run_before)

    def test_help(self, snap_compare, make_app, size) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await _diagnosis_ready(pilot)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: screen_name(pilot) == "HelpScreen")

        assert snap_compare(make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto")), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
class TestFirstFiveMinutes:
    """Issue #12: the screens a new user meets when the cluster is not there, and the new panes."""

    def test_start_error(self, snap_compare, make_app, session: FakeSession, size) -> None:  # type: ignore[no-untyped-def]
        from test_tui_first_five_minutes import _unreachable_runner

        _unreachable_runner(session)

        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await wait_for(pilot, lambda: not pilot.app.screen.query_one("#start-error").has_class("hidden"))

        assert snap_compare(make_app(TuiOptions()), terminal_size=size, run_before=run_before)

    def test_could_not_check(self, snap_compare, make_app, size) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await _diagnosis_ready(pilot)
            await pilot.press("u")
            await wait_for(pilot, lambda: screen_name(pilot) == "UncheckedScreen")

        assert snap_compare(make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto")), terminal_size=size, run_before=run_before)

    def test_tree_filter(self, snap_compare, make_app, size) -> None:  # type: ignore[no-untyped-def]
        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await _diagnosis_ready(pilot)
            await pilot.press("slash", *"reset")
            await wait_for(pilot, lambda: pilot.app.screen.query_one("#tree").border_subtitle == "filter: reset")

        assert snap_compare(make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto")), terminal_size=size, run_before=run_before)

    def test_namespace_scan(self, snap_compare, make_app, session: FakeSession, size) -> None:  # type: ignore[no-untyped-def]
        from conftest import load_report

        session.report = load_report("namespace-scan")

        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await _diagnosis_ready(pilot)

        assert snap_compare(make_app(TuiOptions(namespace=NS, target=f"ns/{NS}", symptom="auto")), terminal_size=size,
                            run_before=run_before)

    def test_diagnosis_cannot_start(self, snap_compare, make_app, session: FakeSession, size) -> None:  # type: ignore[no-untyped-def]
        from conftest import load_report

        from istio_doctor.evidence.preflight import PreflightCheck, PreflightStatus
        from istio_doctor.report.model import Verdict

        sentence = ("cannot reach the Kubernetes API server https://10.0.0.1:6443 (context prod): Unable to connect to "
                    "the server: dial tcp 10.0.0.1:6443: i/o timeout. Check the VPN, proxy or firewall and that the "
                    "cluster is up (`kubectl cluster-info`); to see a diagnosis without a cluster, try `istio-doctor demo`.")
        session.report = load_report().model_copy(update={
            "findings": [], "playbooks": [], "unchecked": [], "verdict": Verdict.INCONCLUSIVE, "exit_code": 3,
            "headline": f"Cannot diagnose: {sentence}",
            "preflight": [PreflightCheck(name="api-server", status=PreflightStatus.FAILED, detail=sentence)]})

        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await _diagnosis_ready(pilot)

        assert snap_compare(make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto")), terminal_size=size, run_before=run_before)
