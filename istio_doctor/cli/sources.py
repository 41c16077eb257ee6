"""Where a command's evidence comes from: the cluster, a recording, or a bug-report archive.

Every command that reads evidence wires the offline archive the same way, in one line each:
``add_bug_report_arg(parser)`` registers ``--bug-report PATH``, and
``runner, conn = runner_from_args(args, conn)`` returns the runner the command reads through
(a ``BugReportRunner`` for ``--bug-report``; otherwise ``run.make_runner`` for ``--replay`` /
``--record`` / live) and the connection adjusted to the source. Only the standard library is
imported at module level (``--help`` budget).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from istio_doctor.evidence.runner import Runner
    from istio_doctor.evidence.target import Connection

__all__ = ["add_bug_report_arg", "runner_from_args", "source_label"]

BUG_REPORT_HELP = ("read every piece of evidence from an `istioctl bug-report` archive (bug-report.tar.gz, or the "
                   "folder it was extracted to) instead of a cluster")


def add_bug_report_arg(p: argparse.ArgumentParser | Any) -> None:
    """``--bug-report PATH`` on ``p`` (a parser or an argument group)."""
    p.add_argument("--bug-report", type=Path, metavar="PATH", help=BUG_REPORT_HELP)


def _usage(message: str) -> Exception:
    from istio_doctor.cli import UsageError

    return UsageError(message)


def runner_from_args(args: argparse.Namespace, conn: Connection, *, timeout_s: float | None = None) -> tuple[Runner, Connection]:
    """The runner ``args`` ask for, and ``conn`` as that source sees it.

    ``--bug-report`` cannot be combined with ``--replay`` / ``--record`` (one source at a time);
    an unreadable archive is a usage error (one sentence, exit 2). With an archive, the control
    plane namespace is the archive's unless ``--istio-namespace`` named another.
    """
    path: Path | None = getattr(args, "bug_report", None)
    replay = getattr(args, "replay", None)
    record = getattr(args, "record", None)
    if path is not None:
        if replay is not None or record is not None:
            raise _usage("--bug-report reads evidence from an archive: it cannot be combined with --replay or --record")
        from istio_doctor.evidence.bugreport.archive import ArchiveError
        from istio_doctor.evidence.bugreport.runner import open_bug_report

        try:
            runner = open_bug_report(path)
        except ArchiveError as exc:
            raise _usage(str(exc)) from None
        return runner, runner.connection(conn)
    from istio_doctor.run import make_runner

    timeout = timeout_s if timeout_s is not None else getattr(args, "timeout", 30.0)
    return make_runner(conn=conn, replay=replay, record=record, timeout_s=timeout), conn


def source_label(args: argparse.Namespace) -> str | None:
    """The file the evidence was read from, for the report's mode line (None when live)."""
    path = getattr(args, "bug_report", None) or getattr(args, "replay", None)
    return Path(path).name if path is not None else None
