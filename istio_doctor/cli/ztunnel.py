"""``istio-doctor ztunnel-config`` (alias ``zc``): istioctl's ztunnel-config views, offline or live.

``--file DUMP`` reads a saved ztunnel ``/config_dump`` (or ``istioctl ztunnel-config all -o
json``, or a bug report's ``proxies/<ns>/ztunnel-*/config_dump``) and prints exactly what
``istioctl ztunnel-config <view> --file DUMP`` prints, with istioctl's filters. Without
``--file`` it asks a live ztunnel, read-only and through the runner seam: one
``istioctl ztunnel-config all … -o json`` call (``istioctl x ztunnel-config`` on 1.22), every
view derived locally. ``--bug-report ARCHIVE`` answers the same calls from an ``istioctl
bug-report`` archive (cli/sources.py): the ztunnel's ``config_dump`` there, a node's ztunnel
found among the archive's ``app=ztunnel`` pods.

Which ztunnel (as istioctl does):

* ``POD`` names a ztunnel pod, or a workload pod: then the ztunnel on that pod's node is asked
  and ``workloads``/``connections`` show only that pod (istioctl ``TargetWorkload``);
* ``--node NODE``: the ztunnel on that node;
* neither: any ztunnel for the cluster-wide views (workloads, services, policies, all); the
  per-node ones (certificates, connections) need a pod or ``--node``, as istioctl says.

Module level imports only the standard library (``--help`` budget). Exit codes: 0 printed,
2 usage, 3 the dump could not be read or fetched.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from istio_doctor.cli.sources import add_bug_report_arg, runner_from_args

VIEWS = ("workloads", "services", "policies", "certificates", "connections", "all")
#: istioctl's names and aliases for each view (ztunnelconfig.go ``Use`` and ``Aliases``)
ALIASES: dict[str, list[str]] = {
    "workloads": ["workload", "w"],
    "services": ["service", "s", "svc"],
    "policies": ["policy", "p", "pol"],
    "certificates": ["certificate", "certs", "cert"],
    "connections": ["cons"],
    "all": [],
}
_CANONICAL = {a: v for v, aliases in ALIASES.items() for a in (v, *aliases)}
#: views whose content differs per ztunnel (istioctl runConfigDump's enforceSinglePod)
PER_NODE = frozenset({"certificates", "connections"})

EXIT_OK, EXIT_USAGE, EXIT_EVIDENCE = 0, 2, 3


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    help_text = "show a ztunnel's config (workloads, services, policies, certificates, connections), as istioctl does"
    p: argparse.ArgumentParser = subparsers.add_parser("ztunnel-config", aliases=["zc"], help=help_text,
                                                       description=help_text + ". " + _EPILOG)
    views = p.add_subparsers(dest="zc_view", metavar="VIEW", parser_class=type(p))
    views.required = True
    for view in VIEWS:
        vp = views.add_parser(view, aliases=ALIASES[view], help=f"{view} known to the ztunnel")
        vp.add_argument("pod", nargs="?", metavar="POD[.NS]", help="a ztunnel pod, or a workload pod (its node's ztunnel)")
        src = vp.add_mutually_exclusive_group()
        src.add_argument("--file", "-f", metavar="DUMP", help="ztunnel config dump (JSON) to read instead of a live ztunnel")
        src.add_argument("--node", metavar="NODE", help="ask the ztunnel on this node")
        vp.add_argument("-o", "--output", choices=("short", "json", "yaml"), default="short",
                        help="table (short), or istioctl's JSON/YAML")
        if view == "workloads":
            vp.add_argument("--workload-namespace", default="", metavar="NS", help="workloads in this namespace")
            vp.add_argument("--workload-node", default="", metavar="NODE", help="workloads on this node")
            vp.add_argument("--address", default="", help="the workload with this address")
        if view == "services":
            vp.add_argument("--service-namespace", default="", metavar="NS", help="services in this namespace")
        if view == "policies":
            vp.add_argument("--policy-namespace", default="", metavar="NS", help="policies in this namespace")
        if view == "connections":
            vp.add_argument("--workload-namespace", default="", metavar="NS", help="connections of workloads in this namespace")
            vp.add_argument("--direction", default="", choices=("", "inbound", "outbound"), help="inbound or outbound")
            vp.add_argument("--raw", action="store_true", help="show IP addresses instead of names")
        if view == "all":
            vp.add_argument("--with-headers", action="store_true", help="print a header above each section")
        live = vp.add_argument_group("live ztunnel")
        live.add_argument("-n", "--namespace", help="namespace of POD (default: the Istio namespace)")
        live.add_argument("--context", help="kubeconfig context to use")
        live.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG") or None, help="kubeconfig file")
        live.add_argument("--istio-namespace", default="istio-system", metavar="NS", help="namespace of ztunnel")
        live.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="per-call timeout (default: 30)")
        live.add_argument("--replay", type=Path, metavar="FILE", help="answer the calls from a recording")
        add_bug_report_arg(live)
        vp.set_defaults(handler=run)
    return p


_EPILOG = "Offline with --file; live through kubectl/istioctl (read-only) otherwise"


def _fail(message: str, code: int) -> int:
    print(f"istio-doctor: error: {message}", file=sys.stderr)
    return code


class _Stop(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def run(args: argparse.Namespace) -> int:
    from istio_doctor.evidence.ambient import ztunnel_views as zv

    view = _CANONICAL[args.zc_view]
    try:
        if args.file:
            if getattr(args, "bug_report", None) is not None:
                from istio_doctor.cli import UsageError

                raise UsageError("--file reads one dump: it cannot be combined with --bug-report")
            dump = _read_file(args.file)
            target = None
        else:
            dump, target = _live_dump(args, view)
    except _Stop as stop:
        return _fail(str(stop), stop.code)
    wf = zv.WorkloadFilter(address=getattr(args, "address", ""), node=getattr(args, "workload_node", ""),
                           namespace=getattr(args, "workload_namespace", ""))
    cf = zv.ConnectionsFilter(namespace=getattr(args, "workload_namespace", ""), direction=getattr(args, "direction", ""),
                              raw=bool(getattr(args, "raw", False)))
    if target is not None:  # a workload pod was named: only its rows (istioctl TargetWorkload)
        wf = wf._replace(name=target[0], namespace=target[1])
        cf = cf._replace(workload=target[0], namespace=target[1])
    opts = zv.ViewOptions(output=args.output, workload=wf, service_namespace=getattr(args, "service_namespace", ""),
                          policy_namespace=getattr(args, "policy_namespace", ""), connections=cf,
                          with_headers=bool(getattr(args, "with_headers", False)))
    sys.stdout.write(zv.render(dump, view, opts))
    return EXIT_OK


def _read_file(path: str) -> Any:
    from istio_doctor.evidence.ambient.ztunnel_dump import parse_ztunnel_dump
    from istio_doctor.evidence.errors import ParseError

    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as e:
        raise _Stop(f"cannot read ztunnel config dump {path!r}: {e.strerror or e}.", EXIT_EVIDENCE) from None
    try:
        return parse_ztunnel_dump(data, command=f"file {path}")
    except ParseError as e:
        raise _Stop(f"{e}.", EXIT_EVIDENCE) from None


def _live_dump(args: argparse.Namespace, view: str) -> tuple[Any, tuple[str, str] | None]:
    from istio_doctor.cli import UsageError
    from istio_doctor.evidence.target import Connection, InvalidName, validate_name, validate_namespace

    try:
        conn = Connection(context=args.context, kubeconfig=args.kubeconfig, istio_namespace=args.istio_namespace)
        pod, ns = _pod_arg(args)
        if pod:
            validate_name(pod)
            validate_namespace(ns)
        if args.node:
            validate_name(args.node)
    except (InvalidName, ValueError) as e:
        raise UsageError(str(e).splitlines()[0]) from None
    if args.replay is not None and not args.replay.is_file():
        raise UsageError(f"cannot read recording {args.replay}: no such file")
    runner, conn = runner_from_args(args, conn, timeout_s=args.timeout)
    import asyncio

    return asyncio.run(_fetch(args, runner, conn, view, pod, ns))


def _pod_arg(args: argparse.Namespace) -> tuple[str, str]:
    if not args.pod:
        return "", ""
    name, dot, ns = args.pod.partition(".")
    return name, ns if dot else (args.namespace or args.istio_namespace)


async def _fetch(args: argparse.Namespace, runner: Any, conn: Any, view: str, pod: str,
                 ns: str) -> tuple[Any, tuple[str, str] | None]:
    from istio_doctor.evidence import kube
    from istio_doctor.evidence.ambient import calls
    from istio_doctor.evidence.ambient.ztunnel_dump import parse_ztunnel_dump
    from istio_doctor.evidence.commands import kubectl_get, with_connection
    from istio_doctor.evidence.errors import ParseError, RunnerError
    from istio_doctor.evidence.gather import failure_from_error, failure_from_result

    async def call(argv: tuple[str, ...]) -> str:
        try:
            res = await runner.run(list(argv), timeout_s=args.timeout)
        except RunnerError as e:
            raise _Stop(failure_from_error(e).reason, EXIT_EVIDENCE) from None
        if not res.ok:
            raise _Stop(failure_from_result(res).reason, EXIT_EVIDENCE)
        return res.stdout

    target: tuple[str, str] | None = None
    node = args.node or ""
    ztunnel = ""
    if pod:
        text = await call(tuple(with_connection(kubectl_get("pod", namespace=ns, name=pod), conn)))
        try:
            obj = kube.parse_kube_object(text, kube.Pod, command=f"kubectl get pod {pod}")
        except ParseError as e:
            raise _Stop(f"{e}.", EXIT_EVIDENCE) from None
        if obj.labels.get("app") == "ztunnel":
            ztunnel = pod
        else:
            # a workload pod: its node's ztunnel, filtered to it (istioctl runConfigDump)
            node = obj.spec.node_name or ""
            if not node:
                raise _Stop(f"pod {pod}.{ns} is not scheduled to a node.", EXIT_EVIDENCE)
            target = (pod, ns)
    elif not node:
        if view in PER_NODE:
            from istio_doctor.cli import UsageError

            raise UsageError("ztunnel pod name or --node must be set (certificates and connections differ per node)")
        text = await call(calls.ztunnel_pods(conn, conn.istio_namespace))
        pods = [p for p in kube.parse_kube_list(text, kube.Pod, command="kubectl get pods -l app=ztunnel") if p.ready]
        if not pods:
            raise _Stop(f"no ready ztunnel pod (label {calls.ZTUNNEL_SELECTOR}) in namespace {conn.istio_namespace}: "
                        "ambient mode may not be installed there (try --istio-namespace).", EXIT_EVIDENCE)
        ztunnel, ns = pods[0].name, conn.istio_namespace
    if node and not any(runner.can_answer(a) for a in calls.ztunnel_config_all(conn, node=node)):
        # an archive (or a recording) keeps each ztunnel's dump by pod: find the node's ztunnel
        text = await call(calls.ztunnel_pods(conn))
        on_node = [p for p in kube.parse_kube_list(text, kube.Pod, command="kubectl get pods -l app=ztunnel")
                   if p.spec.node_name == node]
        if not on_node:
            raise _Stop(f"no ztunnel pod (label {calls.ZTUNNEL_SELECTOR}) on node {node}.", EXIT_EVIDENCE)
        ztunnel, ns, node = on_node[0].name, on_node[0].namespace, ""
    argvs = calls.ztunnel_config_all(conn, node=node) if node else calls.ztunnel_config_all(conn, pod=ztunnel, namespace=ns)
    last: _Stop | None = None
    for argv in argvs:
        try:
            text = await call(argv)
        except _Stop as stop:
            last = last or stop
            continue
        try:
            return parse_ztunnel_dump(text, command=" ".join(argv)), target
        except ParseError as e:
            raise _Stop(f"{e}.", EXIT_EVIDENCE) from None
    assert last is not None
    raise last
