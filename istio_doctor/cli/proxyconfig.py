"""``istio-doctor proxy-config`` (alias ``pc``): istioctl's proxy-config views, from a live pod
or from a saved dump.

* Live: ``istio-doctor pc cluster pod/NAME -n NS`` (also ``NAME``, ``NAME.NS`` as istioctl takes
  it, and ``deploy/NAME``: a running pod of the Deployment with a sidecar). The dump is fetched
  once (``istioctl proxy-config all -o json``, read-only, through the runner seam) and every view
  is derived from it, so ``pc all`` costs one call, not five. istioctl's flags are accepted:
  ``--fqdn``, ``--port``, ``--subset``, ``--direction``, ``--address``, ``--type``, ``--name``,
  ``--cluster``, ``--status``, ``-o``, and ``-n``, ``--context``, ``-c/--kubeconfig``,
  ``-i/--istioNamespace``. The preflight (kubectl, kubeconfig, API server) runs alongside, so a
  cluster that cannot be reached is one sentence, as for ``diagnose``.
* Offline: ``--file DUMP`` reads one Envoy config dump (raw admin ``/config_dump``, ``istioctl
  proxy-config all -o json`` or a per-type ``-o json`` output; the content is sniffed), and
  ``--bug-report PATH POD`` the pod's dump in an ``istioctl bug-report`` archive, through the
  same runner seam as ``diagnose`` (cli/sources.py).

Only the standard library is imported at module level (``--help`` must stay fast); the runner,
parser and views are imported inside :func:`run`.

Exit codes: 0 printed, 2 usage (bad flag value, bad target, kubeconfig or context), 3 the
evidence could not be read (missing or unreadable file, not a config dump, unreachable
cluster, istioctl missing, the call failed).
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
        tp = types.add_parser(t, aliases=_ALIASES[t], help=f"{t} view of a pod's Envoy config (or of a dump)")
        tp.add_argument("target", nargs="?", metavar="POD",
                        help="pod/NAME, NAME, NAME.NAMESPACE or deploy/NAME (one of its pods); the pod whose dump to "
                             "read from --bug-report; or --file")
        tp.add_argument("--file", "-f", dest="file", metavar="DUMP",
                        help="Envoy config dump (JSON) to read instead of a live pod")
        sources.add_bug_report_arg(tp)
        tp.add_argument("-n", "--namespace", default=None, help="namespace of the pod (default: the kubeconfig context's)")
        tp.add_argument("--context", help="kubeconfig context (default: the current context)")
        tp.add_argument("-c", "--kubeconfig", help="kubeconfig file (default: kubectl's)")
        tp.add_argument("-i", "--istioNamespace", "--istio-namespace", dest="istio_namespace", default="istio-system",
                        metavar="NS", help="control plane namespace (default: istio-system)")
        tp.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="timeout of the dump call (default: 30)")
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
    target = getattr(args, "target", None)
    if getattr(args, "bug_report", None) is None:
        if args.file and target:
            return _fail("give a pod or --file DUMP, not both.", EXIT_USAGE)
        if target:
            return _fetch_live(args, target)
        if not args.file:
            return _fail("give a pod (pod/NAME, deploy/NAME, NAME.NAMESPACE), --file DUMP, or --bug-report PATH "
                         "and a pod.", EXIT_USAGE)
        try:
            with open(args.file, "rb") as fh:
                return fh.read(), f"file {args.file}"
        except OSError as e:
            return _fail(f"cannot read config dump {args.file!r}: {e.strerror or e}.", EXIT_EVIDENCE)
    if args.file:
        return _fail("give either --file or --bug-report, not both.", EXIT_USAGE)
    if not target:
        return _fail("--bug-report needs the POD whose config dump to show.", EXIT_USAGE)
    import asyncio

    from istio_doctor.evidence.errors import RunnerError
    from istio_doctor.evidence.kinds import BuildArgs, Need
    from istio_doctor.evidence.target import Connection, InvalidName

    text = target.split("/", 1)[1] if target.startswith("pod/") else target
    pod, _, ns = text.rpartition(".") if "." in text else (text, "", "")  # istioctl: POD.NS, last dot
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


# -- a live pod ----------------------------------------------------------------------------------


def _fetch_live(args: argparse.Namespace, target_text: str) -> tuple[bytes, str] | int:
    """The pod's config dump, fetched once through a live runner; or the exit code after one
    sentence on stderr (bad target, preflight failure, the call failing)."""
    import asyncio

    from pydantic import ValidationError

    from istio_doctor.evidence.target import Connection, InvalidName, Target, TargetKind

    try:
        conn = Connection(context=args.context, kubeconfig=args.kubeconfig, istio_namespace=args.istio_namespace)
        target = Target.parse(target_text if "/" in target_text else f"pod/{target_text}", args.namespace)
    except (InvalidName, ValidationError, ValueError) as exc:
        return _fail(_one_line(exc), EXIT_USAGE)
    if target.kind not in (TargetKind.POD, TargetKind.DEPLOYMENT):
        return _fail(f"proxy-config reads one pod: give pod/NAME or deploy/NAME, not {target_text}", EXIT_USAGE)
    if args.namespace is None and not (target.kind is TargetKind.POD and "." in target_text.split("/")[-1]):
        from istio_doctor.cli.diagnose_cmd import default_namespace

        target = target.model_copy(update={"namespace": default_namespace(conn.kubeconfig, conn.context)})
    try:
        return asyncio.run(_fetch(conn, target, args.timeout))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


async def _fetch(conn, target, timeout: float) -> tuple[bytes, str] | int:  # type: ignore[no-untyped-def]
    import asyncio
    import shlex

    from istio_doctor.evidence.bundle import Need
    from istio_doctor.evidence.commands import build_call
    from istio_doctor.evidence.gather import failure_from_error, failure_from_result
    from istio_doctor.evidence.preflight import run_preflight
    from istio_doctor.evidence.runner import LiveRunner, RunnerError
    from istio_doctor.evidence.target import TargetKind

    runner = LiveRunner(conn, timeout_s=timeout)
    try:
        checking = asyncio.ensure_future(run_preflight(runner, conn))
        pod = target.name
        if target.kind is TargetKind.DEPLOYMENT:
            found, why, usage = await _pod_of_deployment(runner, conn, target)
            if found is None:
                pf = await checking  # a cluster that cannot be reached explains it better
                if pf.failure is not None:
                    return _fail(pf.failure.sentence, EXIT_USAGE if pf.failure.usage else EXIT_EVIDENCE)
                return _fail(why, EXIT_USAGE if usage else EXIT_EVIDENCE)
            pod = found
        argv = build_call(Need.CONFIG_DUMP, conn, namespace=target.namespace, name=pod).argv
        fetching = asyncio.ensure_future(runner.run(list(argv)))
        pf = await checking
        if pf.failure is not None:
            fetching.cancel()
            await asyncio.gather(fetching, return_exceptions=True)
            return _fail(pf.failure.sentence, EXIT_USAGE if pf.failure.usage else EXIT_EVIDENCE)
        try:
            res = await fetching
        except RunnerError as err:
            return _fail(failure_from_error(err).reason, EXIT_EVIDENCE)
        if not res.ok:
            return _fail(failure_from_result(res).reason, EXIT_EVIDENCE)
        return res.stdout.encode("utf-8"), shlex.join(argv)
    finally:
        await runner.aclose()


async def _pod_of_deployment(runner, conn, target) -> tuple[str | None, str, bool]:  # type: ignore[no-untyped-def]
    """(the name of a running pod of the Deployment with a sidecar, "", _) or (None, why not,
    whether that is the user's input)."""
    from istio_doctor.evidence.bundle import Need
    from istio_doctor.evidence.commands import build_call
    from istio_doctor.evidence.errors import ParseError, RunnerError
    from istio_doctor.evidence.gather import failure_from_error, failure_from_result
    from istio_doctor.evidence.kube import Pod, parse_kube_list

    argv = build_call(Need.PODS, conn, namespace=target.namespace).argv
    try:
        res = await runner.run(list(argv))
    except RunnerError as err:
        return None, failure_from_error(err).reason, False
    if not res.ok:
        return None, failure_from_result(res).reason, False
    try:
        pods = parse_kube_list(res.stdout, Pod)
    except ParseError as exc:
        return None, str(exc), False
    mine = [p for p in pods if p.owner_workload is not None and p.owner_workload.kind == "Deployment"
            and p.owner_workload.name == target.name]
    if not mine:
        return None, f"no pod of deployment {target.namespace}/{target.name} (check the name and -n)", True
    with_proxy = [p for p in mine if p.has_sidecar]
    if not with_proxy:
        return None, (f"deployment {target.namespace}/{target.name} has no pod with an istio-proxy sidecar: "
                      "it has no Envoy config"), True
    running = [p for p in with_proxy if getattr(p.status, "phase", "") == "Running"] or with_proxy
    return sorted(running, key=lambda p: p.metadata.name)[0].metadata.name, "", False


def _one_line(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = (errors() or [{}])[0]
        original = (first.get("ctx") or {}).get("error")
        if original is not None:
            return str(original)
    return str(exc).splitlines()[0]
