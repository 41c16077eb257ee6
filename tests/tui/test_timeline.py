"""The timeline view: `t` from the diagnosis, the deciding moments highlighted and reached with n/N.

The report is the one the CLI writes for the Job scenario (recordings/lifecycle/
job-sidecar-keeps-pod-running-1-22-3, ``--symptom startup``): a real timeline, not a hand-built one.
Regenerate the SVGs with ``python -m pytest tests/tui/test_timeline.py --snapshot-update``.
"""

from __future__ import annotations

import pytest
from helpers import screen_name, screen_text, wait_for

from conftest import NS, FakeSession, load_report
from istio_doctor.tui.state import TuiOptions

JOB_POD = "pi-c62tb"
SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


@pytest.fixture
def session() -> FakeSession:
    return FakeSession(report=load_report("job-timeline"), with_dump=False)


async def _timeline(pilot) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen" and pilot.app.screen.report is not None)
    await pilot.press("w")
    await wait_for(pilot, lambda: screen_name(pilot) == "TimelineScreen")


async def test_t_opens_the_timeline_on_the_deciding_moment(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(TuiOptions(namespace=NS, pod=JOB_POD, symptom="startup"))
    async with app.run_test(size=(120, 40)) as pilot:
        await _timeline(pilot)
        screen = pilot.app.screen
        deciding = [i for i, m in enumerate(screen.timeline.moments) if m.deciding]
        assert deciding, "the Job report's timeline has a moment LIFE-JOB-SIDECAR decided on"
        table = screen.query_one("#timeline")
        assert table.cursor_row == deciding[0]
        text = screen_text(pilot)
        assert "▶" in text and "LIFE-JOB-SIDECAR" in text and "exited with code 0" in text
        assert "pi: state.terminated exitCode 0" in str(screen.query_one("#moment-text").render())
        await pilot.press("home", "n")  # n from the top jumps to the deciding row again
        assert table.cursor_row == deciding[0]
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen")


async def test_no_timeline_no_key(make_app, session: FakeSession) -> None:  # type: ignore[no-untyped-def]
    """The two-findings report carries no timeline: the key is not offered and does nothing."""
    from conftest import POD

    session.report = load_report("two-findings")
    app = make_app(TuiOptions(namespace=NS, pod=POD, symptom="auto"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: screen_name(pilot) == "DiagnosisScreen" and pilot.app.screen.report is not None)
        assert pilot.app.screen.check_action("timeline", ()) is False
        await pilot.press("w")
        await pilot.pause()
        assert screen_name(pilot) == "DiagnosisScreen"


@pytest.mark.parametrize("size", SIZES)
def test_timeline_snapshot(snap_compare, make_app, session: FakeSession, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(TuiOptions(namespace=NS, pod=JOB_POD, symptom="startup")), terminal_size=size,
                        run_before=_timeline)
