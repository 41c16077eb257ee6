"""``istio-doctor trace``: follow one request through Envoy, hop by hop.

* offline: ``trace --file DUMP --to IP:PORT [--host AUTHORITY] [--path P] ...`` on any sidecar,
  gateway or ambient waypoint dump (raw ``/config_dump``, ``istioctl proxy-config all -o json``; a
  waypoint is entered through its HBONE listener, ``--to`` is the service VIP:PORT);
* live or replayed: ``trace pod/CLIENT -n NS --to svc/NAME[.NS][:PORT] | HOST[:PORT] | IP:PORT``
  gathers the client's dump (``--replay FILE`` answers from a recording, ``--record FILE`` saves
  the calls) and, when the request reaches a pod with a sidecar, the server's dump and sockets,
  and continues the trace there.

Exit codes: 0 the request is delivered (or answered by design, or not captured), 1 the trace
breaks (the hop that breaks is marked), 2 usage, 3 the trace could not be completed (evidence
missing: what it could not see is listed). Only the standard library at module level.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from istio_doctor.exitcodes import ExitCode
from istio_doctor.report.formats import FORMATS
from istio_doctor.cli.sources import add_bug_report_arg


def add_parser(sub: Any) -> None:
    from istio_doctor.cli.diagnose_cmd import add_connection_args, timeout_value

    help_text = "follow one request through Envoy: listener, filter chain, route, cluster, endpoints (and the server's side)"
    p = sub.add_parser("trace", help=help_text, description=help_text + ". " + (__doc__ or "").split("\n\n", 1)[1].split("Exit codes")[0].strip(),
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n"
                              "  istio-doctor trace --file dump.json --to 10.96.12.7:9080 --host reviews:9080 --path /reviews/0\n"
                              "  istio-doctor trace pod/productpage-v1-6b746f74dc-9stvs -n bookinfo --to svc/reviews:9080\n"
                              "  istio-doctor trace pod/sleep-5c7d9 -n foo --to 10.1.2.3:5432 --tcp -o json\n\n"
                              "exit codes: 0 delivered (or answered, or not captured), 1 breaks, 2 usage, 3 incomplete evidence")
    p.add_argument("target", nargs="?", metavar="pod/CLIENT", help="the client pod (live or --replay); omit with --file")
    p.add_argument("--file", "-f", type=Path, metavar="DUMP", help="trace offline through this Envoy config dump")
    p.add_argument("--to", required=True, metavar="DEST", help="IP:PORT, or (live) svc/NAME[.NS][:PORT] or HOST[:PORT]")
    p.add_argument("--host", metavar="AUTHORITY", help="Host / :authority header (default: as a client would send it)")
    p.add_argument("--path", default="/", help="request path, with query string (default: /)")
    p.add_argument("--method", default="GET", help="HTTP method (default: GET)")
    p.add_argument("--header", action="append", default=[], metavar="K=V", help="request header (repeatable)")
    p.add_argument("--tcp", action="store_true", help="a TCP connection, not an HTTP request")
    p.add_argument("--http2", action="store_true", help="HTTP/2 (h2c) instead of HTTP/1.1")
    p.add_argument("--tls", choices=("none", "tls", "istio_mutual"), default="none",
                   help="what the connection carries (offline: istio_mutual to trace a server's inbound side)")
    p.add_argument("--sni", help="TLS server name (with --tls)")
    p.add_argument("--alpn", action="append", default=[], help="TLS ALPN protocol (repeatable, in order)")
    p.add_argument("--source-principal", metavar="SPIFFE", help="the client's identity for RBAC (with --tls istio_mutual)")
    p.add_argument("--direction", choices=("auto", "outbound", "inbound", "gateway", "waypoint"), default="auto",
                   help="where Envoy meets the request (default: from the dump and the address)")
    p.add_argument("--route", metavar="NAME", help="offline: start at this route configuration (a routes-only dump)")
    p.add_argument("-o", "--output", choices=FORMATS, default="text", help="output format (default: text)")
    add_connection_args(p)
    rec = p.add_mutually_exclusive_group()
    rec.add_argument("--record", type=Path, metavar="FILE", help="save every call made to FILE (redacted)")
    rec.add_argument("--replay", type=Path, metavar="FILE", help="answer every call from a recording instead of a cluster")
    p.add_argument("--timeout", type=timeout_value, default=30.0, metavar="SECONDS", help="per-call timeout (default: 30)")
    add_bug_report_arg(p)
    p.set_defaults(handler=run)


def _fail(message: str, code: ExitCode) -> int:
    print(f"istio-doctor: error: {message}", file=sys.stderr)
    return int(code)


def _headers(values: list[str]) -> dict[str, str]:
    from istio_doctor.cli import UsageError

    out: dict[str, str] = {}
    for v in values:
        k, sep, val = v.partition("=")
        if not sep or not k.strip():
            raise UsageError(f"--header {v!r}: expected NAME=VALUE")
        out[k.strip().lower()] = val
    return out


def exit_code_for(trace: Any) -> ExitCode:
    from istio_doctor.engine.trace import ANSWERED, BYPASSED, DELIVERED, UNKNOWN

    if trace.verdict in (DELIVERED, ANSWERED, BYPASSED):
        return ExitCode.OK
    if trace.verdict == UNKNOWN:
        return ExitCode.EVIDENCE_INCOMPLETE
    return ExitCode.PROBLEMS_FOUND


def _emit(trace: Any, args: argparse.Namespace, notes: list[str]) -> int:
    from istio_doctor.cli.diagnose_cmd import output_width
    from istio_doctor.report.trace_render import render_trace

    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    sys.stdout.write(render_trace(trace, args.output, width=output_width() or 100))
    return int(exit_code_for(trace))


def run(args: argparse.Namespace) -> int:
    from istio_doctor.cli import UsageError

    headers = _headers(args.header)
    protocol = "tcp" if args.tcp else ("http2" if args.http2 else "http1")
    if args.file is not None:
        if args.target is not None or args.replay is not None or args.bug_report is not None:
            raise UsageError("--file traces one dump offline: give no pod, --replay or --bug-report with it")
        return _run_offline(args, headers, protocol)
    if args.target is None:
        raise UsageError("give the client pod (pod/NAME -n NS), or --file DUMP to trace offline")
    return _run_live(args, headers, protocol)


def _run_offline(args: argparse.Namespace, headers: dict[str, str], protocol: str) -> int:
    from pydantic import ValidationError

    from istio_doctor.cli import UsageError
    from istio_doctor.engine.trace import TraceRequest, trace_request
    from istio_doctor.engine.mesh.hosts import is_ip
    from istio_doctor.engine.trace.resolve import DestinationError, _split_port
    from istio_doctor.evidence.envoy.configdump import parse_config_dump
    from istio_doctor.evidence.errors import ParseError

    try:
        host, port = _split_port(args.to)
    except DestinationError as e:
        raise UsageError(str(e)) from None
    if port is None or not is_ip(host):
        raise UsageError(f"--to {args.to!r}: offline traces need IP:PORT (the dump cannot resolve names); put the name in --host")
    try:
        data = args.file.read_bytes()
    except OSError as e:
        return _fail(f"cannot read config dump {str(args.file)!r}: {e.strerror or e}.", ExitCode.EVIDENCE_INCOMPLETE)
    try:
        dump = parse_config_dump(data, command=f"file {args.file}")
    except ParseError as e:
        return _fail(f"{e}.", ExitCode.EVIDENCE_INCOMPLETE)
    try:
        req = TraceRequest(dest_ip=host, dest_port=port, authority=None if protocol == "tcp" else args.host, path=args.path,
                           method=args.method, headers=headers, protocol=protocol, tls=args.tls, sni=args.sni,  # type: ignore[arg-type]
                           alpn=args.alpn, source_principal=args.source_principal, direction=args.direction)
    except ValidationError as e:
        raise UsageError(f"invalid request: {e.errors()[0].get('msg', e)}") from None
    if args.route and args.route not in {r.name for r in dump.routes}:
        raise UsageError(f"--route {args.route!r}: the dump has no route configuration of that name")
    return _emit(trace_request(dump, req, route_config=args.route), args, [])


def _run_live(args: argparse.Namespace, headers: dict[str, str], protocol: str) -> int:
    import asyncio

    from istio_doctor.cli import UsageError
    from istio_doctor.cli.diagnose_cmd import _readable_file, _save_recording, connection_from_args, parse_target
    from istio_doctor.evidence.target import TargetKind
    from istio_doctor.cli.sources import runner_from_args
    from istio_doctor.trace_session import RequestShape, trace_live

    if args.replay is not None:
        _readable_file(args.replay, "recording")
    conn = connection_from_args(args)
    target = parse_target(args.target, args.namespace, kubeconfig=args.kubeconfig, context=args.context)
    if target.kind is not TargetKind.POD:
        raise UsageError(f"trace starts at one client pod: pod/NAME (got {args.target!r})")
    # the cluster, a recording, or the client's (and server's) dump in a bug-report archive
    runner, conn = runner_from_args(args, conn, timeout_s=args.timeout)
    shape = RequestShape(to=args.to, host=args.host, path=args.path, method=args.method, headers=headers, protocol=protocol)

    async def go() -> Any:
        try:
            return await trace_live(target, runner, conn, shape)
        finally:
            await runner.aclose()

    try:
        outcome = asyncio.run(go())
    finally:
        if args.record is not None:
            _save_recording(runner, args.record, target)
    if outcome.trace is None:
        return _fail(outcome.failure or "no trace", ExitCode.USAGE if outcome.usage else ExitCode.EVIDENCE_INCOMPLETE)
    notes = list(outcome.notes)
    if outcome.server:
        notes.append(f"continued on the server's proxy {outcome.server}")
    return _emit(outcome.trace, args, notes)
