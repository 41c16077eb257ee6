"""One entry point for every output format: ``render(report, fmt, color=..., width=..., verbose=...)``.

The CLI and the TUI's export call this; neither knows how a format is built. The formats
themselves are listed once, in ``report.formats``.
"""

from __future__ import annotations

import importlib
from typing import Any

from istio_doctor.report.formats import FORMATS, RENDERERS
from istio_doctor.report.model import Report

__all__ = ["FORMATS", "render"]


def render(report: Report, fmt: str, *, color: bool = False, width: int | None = None, verbose: bool = False) -> str:
    """Render ``report`` as ``fmt``. ``color`` and ``width`` only affect text; ``verbose`` text and
    Markdown (every node and every gap instead of the failing ones and one line per root failure)."""
    target = RENDERERS.get(fmt)
    if target is None:
        raise ValueError(f"unknown output format {fmt!r}: use one of {', '.join(FORMATS)}")
    module, _, name = target.partition(":")
    # formats are imported on use: -o json should not pay for the text renderer and vice versa
    fn = getattr(importlib.import_module(module), name)
    options: dict[str, Any] = {}
    if fmt == "text":
        options = {"color": color, "width": width, "verbose": verbose}
    elif fmt == "markdown":
        options = {"verbose": verbose}
    return str(fn(report, **options))
