"""JSON report: exactly ``report.model_dump(mode="json")``, so it validates against
``istio-doctor schema report``.

Keys keep the models' declaration order (stable across runs and releases, since fields are only
ever added) rather than being sorted: a reader finds ``verdict`` and ``headline`` near the top.
"""

from __future__ import annotations

import json
from typing import Any

from istio_doctor.report.model import Report


def report_data(report: Report) -> dict[str, Any]:
    """The plain data every machine-readable format serialises."""
    return report.model_dump(mode="json")


def render_json(report: Report) -> str:
    # ensure_ascii=False keeps the marks and non-ASCII names readable; JSON is UTF-8 anyway.
    return json.dumps(report_data(report), indent=2, ensure_ascii=False) + "\n"
