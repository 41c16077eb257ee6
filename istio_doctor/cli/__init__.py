"""The non-interactive CLI: an API for scripts, CI and incident tickets.

* stdout carries only the report (text, JSON, YAML or Markdown); progress and errors go to
  stderr, so ``istio-doctor diagnose ... -o json | jq`` always sees clean data.
* The exit code is the report's (``ExitCode``): 0 ok, 1 problems, 2 usage, 3 evidence
  incomplete, 130 interrupted. It never ends in a traceback: an unexpected exception becomes
  one sentence on stderr and exit 3 (``ISTIO_DOCTOR_DEBUG=1`` re-raises it).
* ``istio-doctor --help`` must stay under 0.25 s: this module and the subcommand modules import
  only the standard library at module level. pydantic, PyYAML, rich, kubernetes and Textual are
  imported inside the command handlers that need them.

The same ``main`` is the ``kubectl-istio_doctor`` console script, so ``kubectl istio-doctor
diagnose ...`` works as a kubectl plugin; only the program name shown in help differs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from istio_doctor import __version__
from istio_doctor.exitcodes import ExitCode

NAME = "istio-doctor"
#: shown in help and usage; "kubectl istio-doctor" when run as a kubectl plugin. Errors always
#: start "istio-doctor: error:" so scripts can match them however the tool was invoked.
PROG = NAME

PROXY_CONFIG_NAMES = ("proxy-config", "pc")


class UsageError(Exception):
    """Bad input the user can fix (name, target, flag value, file): one sentence, exit 2."""


def prog_name(argv0: str | None = None) -> str:
    name = os.path.basename(argv0 if argv0 is not None else (sys.argv[0] if sys.argv else NAME))
    # kubectl runs plugins as kubectl-<name> with '_' standing for '-' in the plugin's name
    if name.startswith("kubectl-"):
        return "kubectl " + name[len("kubectl-") :].replace("_", "-")
    return NAME


def error(message: str) -> None:
    """One line on stderr, the shape every usage error and failure takes."""
    print(f"{NAME}: error: {message}", file=sys.stderr)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (argparse's default prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        print(f"{NAME}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(int(ExitCode.USAGE))


EPILOG = f"""\
exit codes:
{ExitCode.describe()}

examples:
  istio-doctor diagnose pod/productpage-v1-6b746f74dc-9stvs -n bookinfo
  istio-doctor diagnose deploy/reviews-v2 -n bookinfo --symptom 503 -o markdown
  istio-doctor diagnose ns/bookinfo -o json | jq .findings
  istio-doctor demo                      # a recorded incident, no cluster needed
  istio-doctor demo --list               # every bundled incident (sidecar and ambient)
  istio-doctor                           # the interactive TUI
  kubectl istio-doctor diagnose productpage-v1-6b746f74dc-9stvs.bookinfo

Set NO_COLOR=1 or pass --no-color to disable colour; ISTIO_DOCTOR_DEBUG=1 shows tracebacks.
"""


def _first_command(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def build_parser(argv: Sequence[str] = (), *, with_proxy_config: bool | None = None) -> Parser:
    """The whole command line. ``proxy-config`` is loaded only when it is the command asked
    for (or ``with_proxy_config``), so other commands and ``--help`` never pay for its imports."""
    from istio_doctor.cli import completion, diagnose_cmd, playbooks, schema, trace, ztunnel

    global PROG
    PROG = prog_name()
    parser = Parser(
        prog=PROG,
        description=(
            "Diagnose failing services in an Istio mesh from kubectl/istioctl output: "
            "walk decision trees over the evidence and report findings with proof and fixes. "
            "Read-only: it never changes the cluster. Without arguments it opens the TUI."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # Accepted before the command too (`istio-doctor --no-color diagnose ...`), as NO_COLOR is.
    # Its own dest: a subcommand's --no-color default would otherwise overwrite it.
    parser.add_argument("--no-color", dest="global_no_color", action="store_true",
                        help="no colour anywhere (same as NO_COLOR=1); also accepted after the command")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    diagnose_cmd.add_diagnose_parser(sub)
    diagnose_cmd.add_demo_parser(sub)
    diagnose_cmd.add_tui_parser(sub)
    if with_proxy_config is None:
        with_proxy_config = _first_command(argv) in PROXY_CONFIG_NAMES
    _add_proxy_config(sub, load=with_proxy_config)
    ztunnel.add_parser(sub)
    playbooks.add_parser(sub)
    trace.add_parser(sub)
    schema.add_parser(sub)
    completion.add_parser(sub)
    return parser


def _add_proxy_config(sub: argparse._SubParsersAction, *, load: bool) -> None:  # type: ignore[type-arg]
    help_text = "show a sidecar's Envoy config (clusters, listeners, routes, endpoints, secrets), as istioctl does"
    if load:
        try:
            from istio_doctor.cli import proxyconfig
        except ImportError:
            pass
        else:
            proxyconfig.add_parser(sub)
            return
    # A stand-in that lists the command in --help; the real parser replaces it when asked for.
    p = sub.add_parser("proxy-config", aliases=["pc"], help=help_text, description=help_text, add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def _run_command(args: argparse.Namespace) -> int:
    command = args.command
    if command in PROXY_CONFIG_NAMES:
        try:
            from istio_doctor.cli import proxyconfig
        except ImportError:
            raise UsageError("proxy-config is not available in this installation") from None
        return int(proxyconfig.run(args))
    handler = getattr(args, "handler", None)
    if handler is None:  # pragma: no cover - every subparser sets one
        raise UsageError(f"unknown command {command!r}")
    return int(handler(args))


def _is_usage_error(exc: BaseException) -> str | None:
    """The one sentence for errors that are the user's input, else None."""
    # imported by name, not class: importing pydantic/yaml here would slow --help down
    name = type(exc).__name__
    if isinstance(exc, UsageError):
        return str(exc)
    if name in {"InvalidName", "PlaybookError", "RecordingError", "CatalogueError"}:
        return str(exc)
    if name == "ValidationError" and type(exc).__module__.startswith("pydantic"):
        from istio_doctor.cli.diagnose_cmd import describe_validation_error

        return describe_validation_error(exc)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``istio-doctor`` and ``kubectl-istio_doctor``. Returns the exit code."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # Ctrl-C before a session could turn it into a partial report (while starting up, or
        # in a command without one). Further Ctrl-Cs must not kill the exit with a traceback.
        _ignore_sigint()
        print("interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)


def _ignore_sigint() -> None:
    import signal

    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):  # pragma: no cover - not the main thread
        pass


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    if not args_list:
        # No arguments: the TUI, but only in a terminal; a script or pipe gets help, not a hang.
        if not sys.stdout.isatty() or not sys.stdin.isatty():
            parser.print_help(sys.stderr)
            return int(ExitCode.USAGE)
        args_list = ["tui"]
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else int(ExitCode.USAGE)
    if args.command is None:
        parser.print_help(sys.stderr)
        return int(ExitCode.USAGE)
    if getattr(args, "global_no_color", False):
        if hasattr(args, "no_color"):
            args.no_color = True
        os.environ["NO_COLOR"] = "1"  # the TUI and the progress display read it (https://no-color.org)
    try:
        return _run_command(args)
    except BrokenPipeError:
        # the reader went away (``| head``): not an error worth a message
        _silence_stdout()
        return int(ExitCode.OK)
    except Exception as exc:  # noqa: BLE001 - the one place that turns failures into a sentence
        if os.environ.get("ISTIO_DOCTOR_DEBUG") == "1":
            raise
        usage = _is_usage_error(exc)
        if usage is not None:
            error(usage)
            return int(ExitCode.USAGE)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        error(f"{message} ({type(exc).__name__}; set ISTIO_DOCTOR_DEBUG=1 for a traceback)")
        return int(ExitCode.EVIDENCE_INCOMPLETE)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
