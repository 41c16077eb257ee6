"""One entry point for every output format: ``render(report, fmt, color=..., width=...)``.

The CLI and the TUI's export call this; neither knows how a format is built.
"""

from __future__ import annotations

from istio_doctor.report.formats import FORMATS
from istio_doctor.report.model import Report

__all__ = ["FORMATS", "render"]


def render(report: Report, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    """Render ``report`` as ``fmt``. ``color`` and ``width`` only affect the text format."""
    # formats are imported on use: -o json should not pay for the text renderer and vice versa
    if fmt == "text":
        from istio_doctor.report.text import render_text

        return render_text(report, color=color, width=width)
    if fmt == "json":
        from istio_doctor.report.jsonfmt import render_json

        return render_json(report)
    if fmt == "yaml":
        from istio_doctor.report.yamlfmt import render_yaml

        return render_yaml(report)
    if fmt == "markdown":
        from istio_doctor.report.markdown import render_markdown

        return render_markdown(report)
    raise ValueError(f"unknown output format {fmt!r}: use one of {', '.join(FORMATS)}")
