"""YAML report: the same data as the JSON report, block style, multi-line strings as ``|``
literals so evidence excerpts and YAML patches read as they were printed.
"""

from __future__ import annotations

from typing import Any

import yaml

from istio_doctor.report.jsonfmt import report_data
from istio_doctor.report.model import Report


class _ReportDumper(yaml.SafeDumper):
    """SafeDumper that never emits anchors/aliases (repeated excerpts must read in place)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # A literal block cannot hold trailing spaces or control characters; PyYAML checks that
    # and falls back to a quoted scalar itself, so asking for "|" is always safe.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ReportDumper.add_representer(str, _str)


def render_yaml(report: Report) -> str:
    return yaml.dump(
        report_data(report),
        Dumper=_ReportDumper,
        sort_keys=False,  # same order as the JSON report
        default_flow_style=False,
        allow_unicode=True,
        # long commands and log lines stay on one line instead of being folded
        width=2**31 - 1,
    )
