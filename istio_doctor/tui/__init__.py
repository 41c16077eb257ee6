"""The interactive TUI: the only part of istio-doctor that imports Textual.

Importing this package does not import Textual (the CLI imports ``TuiOptions`` to build its
arguments and must stay fast and headless); ``run_tui`` imports the app when it is called.
"""

from __future__ import annotations

from istio_doctor.tui.state import TuiOptions

__all__ = ["TuiOptions", "run_tui"]


def run_tui(options: TuiOptions) -> int:
    """Run the TUI in the current terminal until the user quits; returns the exit code."""
    from istio_doctor.tui.app import IstioDoctorApp

    app = IstioDoctorApp(options)
    app.run()
    return app.return_code or 0
