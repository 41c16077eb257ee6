"""``istio-doctor proxy-config`` (alias ``pc``): istioctl's proxy-config views from a saved dump.

Reads one Envoy config dump (``--file``; raw admin ``/config_dump``, ``istioctl proxy-config
all -o json`` or a per-type ``-o json`` output — the content is sniffed, not the extension) and
prints the same table istioctl would, so an offline bundle can be inspected exactly like a live
pod. Only the standard library is imported at module level (``--help`` must stay fast); the
parser and views are imported inside :func:`run`.

Exit codes: 0 printed, 2 usage (bad flag value), 3 the evidence could not be read (missing or
unreadable file, not a config dump).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from istio_doctor.cli import sources

TYPES = ("cluster", "listener", "route", "endpoint", "secret", "all")
_ALIASES = {"cluster": ["clusters", "c"], "listener": ["listeners", "l"], "route": ["routes", "r"],
            "endpoint": ["endpoints", "ep"], "secret": ["secrets", "s"], "all": []}

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_EVIDENCE = 3


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``proxy-config``/``pc`` and its per-type subcommands on ``subparsers``."""
    help_text = "show a sidecar's Envoy config (clusters, listeners, routes, endpoints, secrets), as istioctl does"
    p: argparse.ArgumentParser = subparsers.add_parser(
        "proxy-config", aliases=["pc"], help=help_text, description=help_text
    )
    types = p.add_subparsers(dest="pc_type", metavar="TYPE", parser_class=type(p))
    types.required = True
    for t in TYPES:
        tp = types.add_parser(t, aliases=_ALIASES[t], help=f"{t} view of the dump")
        tp.add_argument("pod", nargs="?", metavar="POD[.NS]", help="the pod whose dump to read from --bug-report")
        tp.add_argument("-n", "--namespace", default=None, help="namespace of POD (default: default)")
        tp.add_argument("--file", "-f", dest="file", metavar="DUMP",
                        help="Envoy config dump (JSON) to read instead of a live pod")
        sources.add_bug_report_arg(tp)
        tp.add_argument("-o", "--output", choices=("short", "json", "yaml"), default="short",
                        help="table (short), or the selected objects as protojson JSON/YAML")
        if t in ("cluster", "all"):
            tp.add_argument("--fqdn", default="", help="clusters whose name contains this FQDN")
            tp.add_argument("--subset", default="", help="clusters whose name contains this subset")
            tp.add_argument("--direction", default="", help="inbound or outbound")
        if t in ("listener", "all"):
            tp.add_argument("--address", default="", help="listeners bound to this address")
            tp.add_argument("--type", dest="ltype", default="", help="HTTP, TCP or HTTP+TCP")
        if t in ("cluster", "listener", "endpoint", "all"):
            tp.add_argument("--port", type=int, default=0, help="filter by port")
        if t in ("listener", "route"):
            tp.add_argument("--verbose", action=argparse.BooleanOptionalAction, default=True,
                            help="MATCH/DESTINATION (listener) or one row per route (default); "
                                 "--no-verbose is what -o short prints in istioctl")
        if t in ("route", "all"):
            tp.add_argument("--name", default="", help="route configuration name")
        if t == "endpoint":
            tp.add_argument("--address", default="", help="endpoint address (ip:port)")
            tp.add_argument("--cluster", default="", help="cluster name")
            tp.add_argument("--status", default="", help="HEALTHY, UNHEALTHY, ...")
    return p


_CANONICAL = {alias: t for t, aliases in _ALIASES.items() for alias in [t, *aliases]}


def _fail(message: str, code: int) -> int:
    print(f"istio-doctor: error: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    """Print the requested view of ``args.file`` to stdout; returns the exit code."""
    from istio_doctor.evidence.envoy import views as v
    from istio_doctor.evidence.envoy.configdump import parse_config_dump
    from istio_doctor.evidence.errors import ParseError

    kind = _CANONICAL.get(getattr(args, "pc_type", "") or "", "")
    if not kind:
        return _fail("choose a type: " + ", ".join(TYPES), EXIT_USAGE)
    got = _read_dump(args)
    if isinstance(got, int):
        return got
    data, command = got
    try:
        dump = parse_config_dump(data, command=command)
    except ParseError as e:
        return _fail(f"{e}.", EXIT_EVIDENCE)

    out = args.output
    port = getattr(args, "port", 0) or 0
    if port < 0:
        return _fail("--port must be a positive number.", EXIT_USAGE)
    cf = v.ClusterFilter(getattr(args, "fqdn", ""), port if kind == "cluster" else 0,
                         getattr(args, "subset", ""), getattr(args, "direction", ""))
    lf = v.ListenerFilter(getattr(args, "address", ""), port if kind == "listener" else 0, getattr(args, "ltype", ""))
    ef = v.EndpointFilter(getattr(args, "address", ""), port if kind == "endpoint" else 0,
                          getattr(args, "cluster", ""), getattr(args, "status", ""))
    verbose = bool(getattr(args, "verbose", True))

    if kind == "all" and out in ("json", "yaml"):
        # istioctl prints the dump itself for `all -o json`
        if out == "json":
            text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        else:
            import json

            sys.stdout.write(v.marshal_yaml(json.loads(data)))
        return EXIT_OK

    if out in ("json", "yaml"):
        selected: Any
        if kind == "cluster":
            selected = v.cluster_json(dump, cf)
        elif kind == "listener":
            selected = v.listener_json(dump, lf)
        elif kind == "route":
            selected = v.route_json(dump, getattr(args, "name", ""))
        elif kind == "endpoint":
            selected = v.endpoint_json(dump, ef)
        else:
            selected = v.secret_json(dump)
        sys.stdout.write(v.marshal_json(selected) if out == "json" else v.marshal_yaml(selected))
        return EXIT_OK

    if kind == "cluster":
        text = v.cluster_table(dump, cf)
    elif kind == "listener":
        text = v.listener_table(dump, lf, verbose=verbose)
    elif kind == "route":
        text = v.route_table(dump, getattr(args, "name", ""), verbose=verbose)
    elif kind == "endpoint":
        text = v.endpoint_table(dump, ef)
    elif kind == "secret":
        text = v.secret_table(dump)
    else:
        text = v.all_summary(dump, cluster_filter=cf, listener_filter=lf,
                             route_name=getattr(args, "name", ""), endpoint_filter=ef)
    sys.stdout.write(text)
    return EXIT_OK


def _read_dump(args: argparse.Namespace) -> tuple[bytes | str, str] | int:
    """The dump's text and the command it stands for (``--file``, or the pod's dump in
    ``--bug-report`` read through the same runner seam as ``diagnose``), or an exit code."""
    if getattr(args, "bug_report", None) is None:
        if not args.file:
            return _fail("give --file DUMP, or --bug-report PATH and a POD.", EXIT_USAGE)
        try:
            with open(args.file, "rb") as fh:
                return fh.read(), f"file {args.file}"
        except OSError as e:
            return _fail(f"cannot read config dump {args.file!r}: {e.strerror or e}.", EXIT_EVIDENCE)
    if args.file:
        return _fail("give either --file or --bug-report, not both.", EXIT_USAGE)
    if not args.pod:
        return _fail("--bug-report needs the POD whose config dump to show.", EXIT_USAGE)
    import asyncio

    from istio_doctor.evidence.errors import RunnerError
    from istio_doctor.evidence.kinds import BuildArgs, Need
    from istio_doctor.evidence.target import Connection, InvalidName

    pod, _, ns = args.pod.rpartition(".") if "." in args.pod else (args.pod, "", "")  # istioctl: POD.NS, last dot
    try:
        runner, conn = sources.runner_from_args(args, Connection())
        argv = Need.CONFIG_DUMP.build(conn, BuildArgs(namespace=ns or args.namespace or "default", name=pod)).argv
    except InvalidName as e:
        return _fail(f"{e}.", EXIT_USAGE)
    try:
        res = asyncio.run(runner.run(list(argv)))
    except RunnerError as e:
        return _fail(f"{e}.", EXIT_EVIDENCE)
    if res.exit_code != 0:
        return _fail(f"{res.stderr.strip() or res.command_line + ' failed'}.", EXIT_EVIDENCE)
    return res.stdout, res.command_line
