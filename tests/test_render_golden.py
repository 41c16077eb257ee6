"""Golden snapshots of every output format for each hand-built report fixture.

A renderer change that alters output fails here with a diff; when the change is intended,
regenerate with ``UPDATE_GOLDENS=1 python -m pytest tests/test_render_golden.py`` and review the
golden diff like code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from istio_doctor.report.model import Report
from istio_doctor.report.render import render

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures" / "reports"
GOLDEN = HERE / "golden" / "render"
EXTENSIONS = {"text": "txt", "json": "json", "yaml": "yaml", "markdown": "md"}
FIXTURE_NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def load_fixture(name: str) -> Report:
    return Report.model_validate_json((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def test_the_three_required_fixtures_exist() -> None:
    assert {"two-findings", "healthy", "inconclusive"} <= set(FIXTURE_NAMES)


@pytest.mark.parametrize("fmt", sorted(EXTENSIONS))
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_golden(name: str, fmt: str) -> None:
    # width is fixed so the text golden does not depend on the terminal running the tests
    rendered = render(load_fixture(name), fmt, color=False, width=100)
    golden = GOLDEN / f"{name}.{EXTENSIONS[fmt]}"
    if os.environ.get("UPDATE_GOLDENS") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered, encoding="utf-8")
    assert golden.exists(), f"{golden} missing: run with UPDATE_GOLDENS=1 to create it"
    assert rendered == golden.read_text(encoding="utf-8")
