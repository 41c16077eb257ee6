"""The renderer registry: every output format, defined once.

Standard library only, so the CLI can offer ``-o`` choices without importing pydantic or any
renderer (``istio-doctor --help`` has a time budget); ``report.render`` imports the renderer of
the format asked for, and nothing else.
"""

from __future__ import annotations

#: format -> "module:function"; the function takes the Report (and, for text and markdown,
#: the presentation options it understands)
RENDERERS: dict[str, str] = {
    "text": "istio_doctor.report.text:render_text",
    "json": "istio_doctor.report.jsonfmt:render_json",
    "yaml": "istio_doctor.report.yamlfmt:render_yaml",
    "markdown": "istio_doctor.report.markdown:render_markdown",
}
FORMATS: tuple[str, ...] = tuple(RENDERERS)
#: formats a program reads: no progress display, no colour
MACHINE_FORMATS: tuple[str, ...] = ("json", "yaml")
