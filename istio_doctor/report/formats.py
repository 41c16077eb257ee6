"""The report formats, defined once: the renderer registry (``render.render``), the CLI's
``-o`` choices and the TUI's export read this tuple. No imports: the CLI builds its parser
from it without loading any renderer."""

FORMATS = ("text", "json", "yaml", "markdown")
