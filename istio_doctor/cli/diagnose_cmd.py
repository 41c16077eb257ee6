"""``diagnose``, ``demo`` and ``tui``: the commands that run (or open) a diagnosis.

Every name the user types is validated here, before any runner exists: a name that is not
RFC 1123 never reaches a kubectl argv, and the error is one sentence with exit code 2.

Module level imports only the standard library (``--help`` budget); the session, pydantic,
rich and the renderers are imported by the handlers.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from istio_doctor.cli import sources
from istio_doctor.exitcodes import ExitCode
from istio_doctor.report.formats import FORMATS as OUTPUTS  # the renderer registry's formats, defined once
#: formats a program reads: a progress display there would only be noise on the terminal
from istio_doctor.report.formats import MACHINE_FORMATS as MACHINE_OUTPUTS

if TYPE_CHECKING:
    from istio_doctor.evidence.runner import Runner
    from istio_doctor.evidence.target import Connection, Target
    from istio_doctor.report.model import Report
    from istio_doctor.run import DiagnosisResult, ProgressEvent


SYMPTOM_HELP = (
    "what is failing: auto (default: every playbook, ranked by what the access logs show) or a symptom a "
    "loaded playbook declares (built in: 503, 404, mtls, injection, routes; `playbooks list` shows them)"
)

# kubectl logs --since takes a Go duration; we accept the h/m/s subset people type.
_SINCE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def _usage(message: str) -> Exception:
    from istio_doctor.cli import UsageError

    return UsageError(message)


# -- argument types (argparse reports their ValueError/ArgumentTypeError as a usage error) --


def since_value(text: str) -> str:
    m = _SINCE.match(text)
    if not text or not m or not any(m.groups()) or all(int(g or 0) == 0 for g in m.groups()):
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use e.g. 90s, 30m, 2h or 1h30m")
    return text


def timeout_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid timeout {text!r}: a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"invalid timeout {text!r}: between 0 and 3600 seconds")
    return value


# -- parsers ----------------------------------------------------------------------------


def add_connection_args(p: argparse.ArgumentParser) -> None:
    """The flags passed consistently to kubectl and istioctl."""
    p.add_argument("-n", "--namespace", help="namespace of the target (default: the kubeconfig context's, else 'default')")
    p.add_argument("--context", help="kubeconfig context to use (default: the current context)")
    # No default from $KUBECONFIG: kubectl and istioctl read it themselves (it may be a list of
    # files, which --kubeconfig cannot take), and commands shown in the report and in fixes
    # stay free of a path the user never typed.
    p.add_argument("--kubeconfig", help="kubeconfig file (default: kubectl's: $KUBECONFIG, else ~/.kube/config)")
    p.add_argument("--istio-namespace", default="istio-system", metavar="NS", help="control plane namespace (default: istio-system)")


def _add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", choices=OUTPUTS, default="text", help="report format on stdout (default: text)")
    p.add_argument("--no-color", action="store_true", help="no colour in text output (also: NO_COLOR=1)")
    p.add_argument(
        "-v", "--verbose", action="store_true",
        help="every node of every decision tree and every piece of evidence that could not be gathered in the "
             "report, and every command run (exit code, duration) on stderr",
    )
    p.add_argument("--fix-script", type=Path, metavar="FILE",
                   help="also write the fixes as a shell script (commands commented out until you choose them)")


def add_preflight_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preflight-timeout", type=timeout_value, default=5.0, metavar="SECONDS",
        help="how long the API server may take to answer the first check before the run stops (default: 5)",
    )


def add_diagnose_parser(sub: Any) -> None:
    p = sub.add_parser(
        "diagnose",
        help="diagnose a pod, deployment, service or namespace and print the report",
        description=(
            "Gather evidence with read-only kubectl/istioctl calls, walk the playbooks for the symptom and "
            "print the findings, most likely root cause first, with the evidence and the fix."
        ),
        epilog=(
            "TARGET: pod/NAME, deploy/NAME, svc/NAME, ns/NAME, a bare NAME (a pod) or NAME.NAMESPACE.\n"
            "With --replay, TARGET defaults to the one the recording was made for."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", nargs="?", metavar="TARGET", help="pod/NAME, deploy/NAME, svc/NAME, ns/NAME, NAME or NAME.NS")
    add_connection_args(p)
    p.add_argument("--symptom", default="auto", metavar="SYMPTOM", help=SYMPTOM_HELP)
    p.add_argument("--since", type=since_value, default="1h", help="how far back to read proxy logs (default: 1h)")
    p.add_argument("--timeout", type=timeout_value, default=30.0, metavar="SECONDS", help="per-call timeout (default: 30)")
    add_preflight_arg(p)
    _add_output_args(p)
    rec = p.add_mutually_exclusive_group()
    rec.add_argument("--record", type=Path, metavar="FILE", help="save every call made to FILE (redacted), to replay later")
    rec.add_argument("--replay", type=Path, metavar="FILE", help="answer every call from a recording instead of a cluster")
    sources.add_bug_report_arg(rec)
    p.add_argument(
        "--playbooks", type=Path, action="append", default=[], metavar="DIR", help="extra playbook folder (repeatable)"
    )
    p.set_defaults(handler=run_diagnose)


def add_demo_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="diagnose the bundled recorded incident (no cluster needed)",
        description="Replay a bundled demo recording through the whole diagnosis; the report says it is a replay. "
        "Without NAME: the default incident; --list shows them all.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="which incident (see --list); default: the first listed")
    p.add_argument("--list", action="store_true", help="list the bundled incidents and exit")
    p.add_argument("--tui", action="store_true", help="open the demo in the interactive TUI")
    _add_output_args(p)
    p.set_defaults(handler=run_demo)


def add_tui_parser(sub: Any) -> None:
    p = sub.add_parser(
        "tui",
        help="open the interactive TUI (the default without arguments)",
        description="Pick a target and a symptom, watch the evidence arrive, walk the decision tree.",
    )
    p.add_argument("target", nargs="?", metavar="TARGET",
                   help="open directly on this target: pod/NAME, deploy/NAME, svc/NAME or ns/NAME (then pick the symptom)")
    add_connection_args(p)
    p.add_argument("--pod", metavar="NAME", help="open directly on this pod's diagnosis (e.g. from a k9s plugin)")
    p.add_argument("--symptom", default=None, metavar="SYMPTOM", help="symptom to diagnose --pod for (default: ask); " + SYMPTOM_HELP)
    p.add_argument("--since", type=since_value, default="1h", help="how far back to read proxy logs (default: 1h)")
    add_preflight_arg(p)
    p.add_argument("--replay", type=Path, metavar="FILE", help="answer every call from a recording instead of a cluster")
    sources.add_bug_report_arg(p)
    p.add_argument("--playbooks", type=Path, action="append", default=[], metavar="DIR", help="extra playbook folder (repeatable)")
    p.set_defaults(handler=run_tui_command)


# -- validation -------------------------------------------------------------------------


def describe_validation_error(exc: Any) -> str:
    """One sentence from a pydantic ValidationError, preferring the validator's own message."""
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    original = (first.get("ctx") or {}).get("error")
    if original is not None:
        return str(original)
    field = ".".join(str(p) for p in first.get("loc", ()))
    return f"{field}: {first.get('msg', 'invalid value')}" if field else str(first.get("msg", exc))


def default_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace of the kubeconfig context in use, as kubectl would pick it, else 'default'."""
    try:
        from kubernetes import config as kube_config  # slow import: only when -n is not given
    except ImportError:
        return "default"
    try:
        contexts, current = kube_config.list_kube_config_contexts(config_file=kubeconfig)
    except Exception:  # noqa: BLE001 - no or unreadable kubeconfig: kubectl will say so itself
        return "default"
    chosen = next((c for c in contexts or [] if c.get("name") == context), None) if context else current
    ns = ((chosen or {}).get("context") or {}).get("namespace")
    return ns if isinstance(ns, str) and ns else "default"


def _names_its_namespace(text: str) -> bool:
    """True when the target itself says the namespace (``ns/NAME`` or a pod's ``NAME.NS``)."""
    kind, slash, name = text.partition("/")
    if not slash:
        return "." in text
    kind = kind.lower()
    if kind in ("ns", "namespace", "namespaces"):
        return True
    return kind in ("pod", "pods", "po") and "." in name


def connection_from_args(args: argparse.Namespace) -> Connection:
    from pydantic import ValidationError

    from istio_doctor.evidence.target import Connection

    try:
        return Connection(context=args.context, kubeconfig=args.kubeconfig, istio_namespace=args.istio_namespace)
    except ValidationError as exc:
        raise _usage(describe_validation_error(exc)) from None


def parse_target(text: str, namespace: str | None, *, kubeconfig: str | None = None, context: str | None = None) -> Target:
    """``Target.parse`` with the kubeconfig's namespace as default and one-sentence errors."""
    from pydantic import ValidationError

    from istio_doctor.evidence.target import InvalidName, Target, validate_namespace

    try:
        if namespace is not None:
            validate_namespace(namespace)
        ns = namespace
        if ns is None and not _names_its_namespace(text):
            ns = default_namespace(kubeconfig, context)
        return Target.parse(text, ns)
    except ValidationError as exc:
        raise _usage(describe_validation_error(exc)) from None
    except InvalidName as exc:
        raise _usage(str(exc)) from None


def target_from_recording_text(text: str) -> Target:
    """Recordings store ``str(Target)``: ``pod/NAME -n NS`` or ``ns/NAME``."""
    kind_name, sep, ns = text.partition(" -n ")
    return parse_target(kind_name.strip(), ns.strip() if sep else None)


def _with_context(conn: Connection, context: str) -> Connection:
    from pydantic import ValidationError

    try:
        return conn.model_validate({**conn.model_dump(), "context": context})
    except ValidationError:
        return conn  # a recording's odd context name only loses its display


def _readable_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise _usage(f"cannot read {what} {path}: no such file")
    if not os.access(path, os.R_OK):
        raise _usage(f"cannot read {what} {path}: permission denied")
    return path


def _playbook_dirs(dirs: list[Path]) -> list[Path]:
    for d in dirs:
        if not d.is_dir():
            raise _usage(f"playbook folder {d} does not exist")
    return dirs


def _check_symptom(symptom: str | None, playbook_dirs: list[Path]) -> None:
    """``--symptom`` must be one the loaded playbooks declare (team playbooks may add some)."""
    if symptom is None:
        return
    from istio_doctor.engine.playbook import PlaybookError, load_playbooks, symptoms_of

    try:
        known = symptoms_of(load_playbooks(playbook_dirs))
    except PlaybookError:
        return  # the diagnosis reports the broken playbook folder itself
    if symptom not in known:
        raise _usage(f"unknown symptom {symptom!r}: use one of {', '.join(known)}")


# -- output -----------------------------------------------------------------------------


def want_color(no_color_flag: bool, stream: Any = None, environ: dict[str, str] | None = None) -> bool:
    """Colour only on a terminal, and never with --no-color or NO_COLOR (https://no-color.org)."""
    env = os.environ if environ is None else environ
    stream = sys.stdout if stream is None else stream
    if no_color_flag or env.get("NO_COLOR"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def output_width(stream: Any = None) -> int | None:
    """The terminal's width on a TTY; None (the renderer's 100) when piped, so files are stable."""
    stream = sys.stdout if stream is None else stream
    try:
        if stream.isatty():
            return shutil.get_terminal_size((100, 24)).columns
    except (AttributeError, ValueError):
        pass
    return None


def emit_report(report: Report, args: argparse.Namespace) -> None:
    from istio_doctor.report.render import render

    fmt = args.output
    text = render(report, fmt, color=fmt == "text" and want_color(args.no_color), width=output_width(),
                  verbose=bool(getattr(args, "verbose", False)))
    sys.stdout.write(text)
    sys.stdout.flush()


def write_fix_script(report: Report, path: Path) -> None:
    """``--fix-script FILE``: every finding's fix, as report/fixes.py writes it."""
    from istio_doctor.report.fixes import fix_script, report_connection

    if not report.findings:
        print(f"no fix script written to {path}: there is no finding to fix", file=sys.stderr)
        return
    text = fix_script(report.findings, conn=report_connection(report.context, report.kubeconfig),
                      target=report.target, tool_version=report.tool_version)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _usage(f"cannot write the fix script to {path}: {exc.strerror or exc}") from None
    steps = sum(1 for line in text.splitlines() if line.startswith("# -- "))
    print(f"fix script written to {path}: {len(report.findings)} finding(s), {steps} step(s), commands commented out",
          file=sys.stderr)


def _call_line(command: str, exit_code: int | None, duration_s: float | None, error: str = "") -> str:
    code = "  -" if exit_code is None else f"{exit_code:>3}"
    dur = "      " if duration_s is None else f"{duration_s:5.2f}s"
    line = f"  exit {code}  {dur}  {command}"
    if error:
        line += f"  ({error.strip().splitlines()[0]})"
    return line


class ProgressDisplay:
    """A live progress bar on stderr (only on a terminal), and the --verbose call list.

    The bar is transient: when the report is printed, only the report remains on screen.
    """

    def __init__(self, *, enabled: bool, verbose: bool, no_color: bool = False) -> None:
        self.enabled = enabled
        self.verbose = verbose
        self.no_color = no_color
        self.finished: list[ProgressEvent] = []
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressDisplay:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True, no_color=self.no_color or bool(os.environ.get("NO_COLOR"))),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("starting", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _print(self, line: str) -> None:
        if self._progress is not None:
            # printed above the live bar, so the two never interleave
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def __call__(self, event: ProgressEvent) -> None:
        if event.phase == "call_finished":
            self.finished.append(event)
            if self.verbose:
                self._print(_call_line(event.command, event.exit_code, event.duration_s, event.message))
        if self._progress is None:
            return
        update: dict[str, Any] = {}
        if event.total:
            update.update(total=event.total, completed=event.done)
        if event.phase == "phase" and event.message:
            update["description"] = event.message
        elif event.phase == "call_started" and event.command:
            update["description"] = event.command
        if update:
            self._progress.update(self._task, **update)


def _run_session(
    target: Target,
    runner: Runner,
    conn: Connection,
    *,
    args: argparse.Namespace,
    symptom: str,
    playbook_dirs: list[Path],
    since: str,
    recording: str | None,
) -> DiagnosisResult:
    import asyncio

    from istio_doctor.run import run_diagnosis

    display = ProgressDisplay(
        enabled=sys.stderr.isatty() and args.output not in MACHINE_OUTPUTS,
        verbose=args.verbose,
        no_color=bool(getattr(args, "no_color", False)),
    )

    async def go() -> DiagnosisResult:
        # Ctrl-C: the first one stops the gathering (the session turns that into a partial
        # report); later ones are absorbed while the calls are killed and reaped, so a user
        # pressing it repeatedly still gets the partial report and no traceback. asyncio.run's
        # own handler would raise KeyboardInterrupt at the second one, anywhere.
        loop = asyncio.get_running_loop()
        main_task = asyncio.current_task()
        state = {"hits": 0, "reporting": False}

        def on_sigint() -> None:
            state["hits"] += 1
            if state["hits"] == 1 and not state["reporting"] and main_task is not None:
                main_task.cancel()

        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - not the main thread / Windows
            pass
        try:
            result = await run_diagnosis(
                target,
                runner,
                conn,
                symptom=symptom,
                playbook_dirs=playbook_dirs,
                since=since,
                on_progress=display,
                recording=recording,
                preflight=True,
                preflight_timeout_s=getattr(args, "preflight_timeout", 5.0),
            )
            state["reporting"] = True
            return result
        finally:
            state["reporting"] = True
            await runner.aclose()

    with display:
        try:
            result = asyncio.run(go())
            if result.report.exit_code == ExitCode.INTERRUPTED:
                # the user wants out: a late Ctrl-C must not cut the partial report short
                from istio_doctor.cli import _ignore_sigint

                _ignore_sigint()
            return result
        except KeyboardInterrupt:
            # The session turns Ctrl-C into a partial report; reaching here means it could not
            # (e.g. a second Ctrl-C). Say what had finished, on stderr: stdout stays clean.
            done = len(display.finished)
            print(f"interrupted after {done} finished call(s); no report could be built", file=sys.stderr)
            raise


def _finish(result: DiagnosisResult, args: argparse.Namespace) -> int:
    report = result.report
    if report.exit_code == ExitCode.INTERRUPTED:
        print("interrupted: the report below is partial", file=sys.stderr)
    emit_report(report, args)
    if getattr(args, "fix_script", None) is not None:
        write_fix_script(report, args.fix_script)
    return report.exit_code


def _save_recording(runner: Runner, path: Path, target: Target) -> None:
    from istio_doctor.evidence.runner import RecordingRunner

    if not isinstance(runner, RecordingRunner) or not runner.recording().calls:
        return  # nothing ran (e.g. a playbook error): an empty recording would only mislead
    if not runner.metadata.target:
        runner.metadata = runner.metadata.model_copy(update={"target": str(target)})
    saved = runner.save(path)
    print(f"{len(runner.recording().calls)} call(s) recorded to {saved}", file=sys.stderr)


# -- handlers ---------------------------------------------------------------------------


def run_diagnose(args: argparse.Namespace) -> int:
    conn = connection_from_args(args)
    playbook_dirs = _playbook_dirs(args.playbooks)
    _check_symptom(args.symptom, playbook_dirs)
    if args.replay is not None:
        _readable_file(args.replay, "recording")
    if args.record is not None and not args.record.parent.is_dir():
        raise _usage(f"cannot record to {args.record}: folder {args.record.parent} does not exist")

    if args.target is None and args.replay is None:
        raise _usage("TARGET is required (pod/NAME, deploy/NAME, svc/NAME, ns/NAME)")
    target = None
    if args.target is not None:
        # validated before any runner exists: an invalid name never reaches an argv
        target = parse_target(args.target, args.namespace, kubeconfig=args.kubeconfig, context=args.context)

    runner, conn = sources.runner_from_args(args, conn)
    recording = getattr(runner, "recording", None) if args.replay is not None else None
    metadata = getattr(recording, "metadata", None)
    if target is None:
        recorded = getattr(metadata, "target", "")
        if not recorded:
            raise _usage(f"recording {args.replay} does not say what it diagnosed: give TARGET")
        target = target_from_recording_text(recorded)
    if metadata is not None and args.context is None and getattr(metadata, "context", None):
        # the report should name the cluster the evidence came from, not the local kubeconfig's
        conn = _with_context(conn, metadata.context)
    if args.replay is not None:
        _require_recorded(target, runner, conn, args.replay)

    try:
        result = _run_session(
            target,
            runner,
            conn,
            args=args,
            symptom=args.symptom,
            playbook_dirs=playbook_dirs,
            since=args.since,
            recording=sources.source_label(args),
        )
    finally:
        # a partial recording is still worth keeping: it shows how far the calls got
        if args.record is not None:
            _save_recording(runner, args.record, target)
    return _finish(result, args)


def recorded_targets(recording: Any) -> list[str]:
    """What a recording can be replayed for: its own target first, then every pod it holds the
    object of (``kubectl get pod NAME -n NS``) and every namespace whose pods it listed."""
    from istio_doctor.evidence.recording import normalise_argv

    out: list[str] = []
    if recording is None:
        return out
    if getattr(recording.metadata, "target", ""):
        out.append(recording.metadata.target)
    for call in recording.calls:
        a = normalise_argv(call.argv)
        if call.exit_code != 0 or a[:2] != ("kubectl", "get") or "-n" not in a:
            continue
        ns = a[a.index("-n") + 1] if a.index("-n") + 1 < len(a) else ""
        if len(a) > 3 and a[2] == "pod" and not a[3].startswith("-"):
            out.append(f"pod/{a[3]} -n {ns}")
        elif a[2] == "pods":
            out.append(f"ns/{ns}")
    return list(dict.fromkeys(out))


def _require_recorded(target: Target, runner: Runner, conn: Connection, path: Path) -> None:
    """Replaying a recording for a target it holds no evidence of is a usage error (exit 2)."""
    from istio_doctor.evidence.bundle import Need
    from istio_doctor.evidence.commands import build_call
    from istio_doctor.evidence.target import TargetKind

    if target.kind is TargetKind.POD:
        argv = build_call(Need.POD, conn, namespace=target.namespace, name=target.name).argv
    else:
        argv = build_call(Need.PODS, conn, namespace=target.namespace).argv
    if runner.can_answer(argv):
        return
    held = recorded_targets(getattr(runner, "recording", None))
    raise _usage(f"recording {path} holds no evidence for {target}; it holds: {', '.join(held) or 'nothing'}")


def run_demo(args: argparse.Namespace) -> int:
    from istio_doctor.cli import error
    from istio_doctor.evidence.recording import load_recording
    from istio_doctor.run import demo_names, load_demo_recording_path

    names = demo_names()
    if args.list:
        return _list_demos(names)
    if args.name is not None and args.name not in names:
        raise _usage(f"no demo incident named {args.name!r}; choose one of: {', '.join(names)} (istio-doctor demo --list)")
    path = load_demo_recording_path(args.name)
    if not path.is_file():
        # a broken installation, not a usage error: the user typed nothing wrong
        error(f"the demo recording {path} is missing from this installation")
        return int(ExitCode.EVIDENCE_INCOMPLETE)
    rec = load_recording(path)
    target = target_from_recording_text(rec.metadata.target)
    if args.tui:
        return _open_tui(replay=path, namespace=target.namespace, pod=target.name if target.kind.value == "pod" else None)

    from istio_doctor.evidence.target import Connection
    from istio_doctor.run import make_runner

    conn = Connection(context=rec.metadata.context)
    runner = make_runner(conn=conn, replay=path)
    result = _run_session(
        target, runner, conn, args=args, symptom="auto", playbook_dirs=[], since="1h", recording=path.name
    )
    return _finish(result, args)


def _list_demos(names: list[str]) -> int:
    """NAME and description of each bundled incident, the default marked."""
    from istio_doctor.evidence.recording import load_recording
    from istio_doctor.run import load_demo_recording_path

    width = max((len(n) for n in names), default=0)
    for i, name in enumerate(names):
        desc = load_recording(load_demo_recording_path(name)).metadata.description or ""
        mark = " (default)" if i == 0 else ""
        print(f"{name:<{width}}  {desc}{mark}")
    return 0


def _open_tui(**options: Any) -> int:
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise _usage("the TUI needs a terminal; in scripts use 'istio-doctor diagnose' or 'istio-doctor demo'")
    from istio_doctor.tui import TuiOptions, run_tui

    return int(run_tui(TuiOptions(**options)))


def run_tui_command(args: argparse.Namespace) -> int:
    from istio_doctor.evidence.target import InvalidName, validate_name, validate_namespace

    conn = connection_from_args(args)
    try:
        if args.namespace is not None:
            validate_namespace(args.namespace)
        if args.pod is not None:
            validate_name(args.pod)
    except InvalidName as exc:
        raise _usage(str(exc)) from None
    _check_symptom(args.symptom, _playbook_dirs(args.playbooks))
    if args.replay is not None:
        _readable_file(args.replay, "recording")
    namespace = args.namespace
    target = None
    if args.target is not None:
        if args.pod is not None:
            raise _usage("give either TARGET or --pod, not both")
        target = parse_target(args.target, args.namespace, kubeconfig=conn.kubeconfig, context=conn.context)
        namespace = target.namespace
    if namespace is None and args.pod is not None:
        # opening on a pod needs its namespace now; the TUI's pickers can ask otherwise
        namespace = default_namespace(conn.kubeconfig, conn.context)
    return _open_tui(
        context=conn.context,
        kubeconfig=conn.kubeconfig,
        namespace=namespace,
        pod=args.pod,
        target=str(target).split(" -n ")[0] if target is not None else None,
        replay=args.bug_report or args.replay,  # run.make_runner opens an archive like a recording
        istio_namespace=conn.istio_namespace,
        symptom=args.symptom,
        since=args.since,
        playbook_dirs=_playbook_dirs(args.playbooks),
        preflight_timeout_s=args.preflight_timeout,
    )
