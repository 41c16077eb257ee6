"""Readings shared by the ``MTLS-*`` checks, from both sides of the failing connection: the
access-log signals (reset flags, TLS error details, RBAC denials), the destinations a client failed
to reach (``Dest``) and the ports a server serves (``ServerPort``), the TLS mode the client's
DestinationRule and config dump say it uses, the PeerAuthentication and DestinationRule citations
and the fix steps several checks share.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from istio_doctor.engine.catalogue import load_catalogue
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import client_host
from istio_doctor.engine.mesh import (
    container_port_for,
    destination_rule_for,
    effective_mtls,
    service_for_host,
    split_service_fqdn,
)
from istio_doctor.engine.model import CheckResult, EvidenceRef, Fix, FixStep
from istio_doctor.evidence.accesslog import AccessLogEntry, is_failure
from istio_doctor.evidence.bundle import Need
from istio_doctor.engine.mesh.hosts import host_matches

# --------------------------------------------------------------------------------------
# shared reading helpers
# --------------------------------------------------------------------------------------

#: What deciding "does this client's TLS meet the server's mode" reads: the examined pod, the
#: DestinationRules that set the client's TLS, the PeerAuthentications that set the server's
#: mode, and the Services and pods that say which workload serves the port.
STRICT_PATH_NEEDS = (Need.POD, Need.DESTINATION_RULES, Need.PEER_AUTHENTICATIONS, Need.SERVICES, Need.PODS)


def examined_pod(ctx: CheckContext, *required: Need) -> Any:
    """The examined pod, once the evidence a check of the mTLS path cannot decide without is
    there: the namespace's pods (they decide who serves what) and the ``required`` resource
    lists. Reading them first makes a missing one turn the check unknown before it concludes."""
    pod = ctx.pod()
    ctx.pods()
    for need in required:
        ctx.resources(need)
    return pod


#: the reset/connection flags a client proxy logs when the server side refuses the handshake
#: or closes a plaintext connection (Envoy response flags).
_CONN_FLAGS = frozenset({"UC", "UF", "URX", "UR", "LR"})
_TLS_PLAINTEXT_DETAILS = ("connection_termination", "connection_failure", "remote_reset", "remote_connection_failure")
_CVF = "CERTIFICATE_VERIFY_FAILED"
_WVN = "WRONG_VERSION_NUMBER"
_NO_CERT = "PEER_DID_NOT_RETURN_A_CERTIFICATE"
_RBAC = "rbac_access_denied"
_TLS_OFF = ("DISABLE", "SIMPLE")


def _fmt_entry(e: AccessLogEntry) -> str:
    parts = [str(e.response_code)]
    if e.response_flags:
        parts.append(",".join(e.response_flags))
    if e.response_code_details:
        parts.append(e.response_code_details)
    if e.connection_termination_details:
        parts.append(e.connection_termination_details)
    return " ".join(parts)


def _summarize(entries: list[AccessLogEntry], where: str) -> list[str]:
    """``"12× 503 UC upstream_reset_before_response_started{connection_termination} to <cluster>"``."""
    c: Counter[tuple[str, str]] = Counter()
    for e in entries:
        c[(_fmt_entry(e), e.upstream_cluster or where)] += 1
    return [f"{n}× {sig} {'to' if '|' in tgt and tgt.startswith('outbound') else 'at'} {tgt}" for (sig, tgt), n in c.most_common()]


def _raw(entries: Iterable[AccessLogEntry], limit: int = 3) -> str:
    return "\n".join(e.raw for e in list(entries)[:limit])


def _tls_text(e: AccessLogEntry) -> str:
    return " ".join(x for x in (e.upstream_transport_failure_reason, e.response_code_details, e.connection_termination_details) if x)


def _port_of(addr: str | None) -> int | None:
    if not addr or ":" not in addr:
        return None
    tail = addr.rsplit(":", 1)[1]
    return int(tail) if tail.isdigit() else None


def _ip_of(addr: str | None) -> str | None:
    if not addr or addr == "-":
        return None
    return addr.rsplit(":", 1)[0].strip("[]") if ":" in addr else addr


def _pods_in(ctx: CheckContext, namespace: str) -> list[Any] | None:
    """Pods of a namespace when they were gathered (related namespaces are gathered on demand)."""
    pods = ctx.ev.get_or(None, Need.PODS, namespace)
    return list(pods) if pods is not None else None


def _all_gathered_pods(ctx: CheckContext) -> list[Any]:
    out: list[Any] = []
    for it in ctx.ev.items():
        if it.key.need is Need.PODS and it.ok and it.value is not None:
            out.extend(it.value)
    return out


def _pod_by_ip(ctx: CheckContext, ip: str) -> Any | None:
    for p in _all_gathered_pods(ctx):
        if p.ip == ip:
            return p
    return None


def _pod_log(ctx: CheckContext, pod: Any) -> Any | None:
    return ctx.ev.get_or(None, Need.PROXY_LOGS, pod.metadata.namespace, pod.metadata.name)


def _pod_dump(ctx: CheckContext, pod: Any) -> Any | None:
    return ctx.ev.get_or(None, Need.CONFIG_DUMP, pod.metadata.namespace, pod.metadata.name)


def _is_meshed(pod: Any) -> bool:
    """A pod whose traffic the mesh proxies: an istio-proxy sidecar (gateways included)."""
    return bool(pod.has_sidecar)


def _ready_pods(pods: list[Any]) -> list[Any]:
    ready = [p for p in pods if p.ready]
    return ready or pods


def _dr_tls(dr: Any, port: int | None, subset: str | None) -> tuple[Any | None, str]:
    """TLS settings a DR gives a port (subset policy over the top-level one) and where they sit."""
    tls, where = None, ""
    tp = dr.spec.traffic_policy
    if tp is not None:
        t = tp.tls_for_port(port)
        if t is not None and t.mode:
            tls = t
            is_port = port is not None and any(p.port is not None and p.port.number == port and p.tls is not None for p in tp.port_level_settings)
            where = f"trafficPolicy.portLevelSettings[port {port}].tls" if is_port else "trafficPolicy.tls"
    if subset:
        sub = dr.subset(subset)
        if sub is not None and sub.traffic_policy is not None:
            t = sub.traffic_policy.tls_for_port(port)
            if t is not None and t.mode:
                tls, where = t, f"subsets[{subset}].trafficPolicy.tls"
    return tls, where


def _dr_excerpt(dr: Any) -> dict[str, Any]:
    d = dr.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    md = {"name": dr.metadata.name, "namespace": dr.metadata.namespace}
    return {"apiVersion": d.get("apiVersion", "networking.istio.io/v1"), "kind": "DestinationRule", "metadata": md, "spec": d.get("spec", {})}


def _obj_excerpt(obj: Any, kind: str) -> dict[str, Any]:
    d = obj.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    md = {"name": obj.metadata.name, "namespace": obj.metadata.namespace}
    if obj.metadata.labels and kind == "Pod":
        md["labels"] = dict(obj.metadata.labels)
    return {"kind": kind, "metadata": md, "spec": d.get("spec", {})}


def _ref_name(obj: Any, kind: str) -> str:
    return f"{kind} {obj.metadata.namespace}/{obj.metadata.name}"


@dataclass
class Dest:
    """One destination the examined pod (as a client) talks to."""

    host: str  # service FQDN
    port: int  # service port
    subset: str | None
    entries: list[AccessLogEntry] = field(default_factory=list)  # failing client-side lines
    origin: str = "log"  # "log" | "dr" (a DestinationRule in the client's own namespace)


def _client_dests(ctx: CheckContext, pod: Any, *, dr_namespace_hosts: bool = True) -> list[Dest]:
    """Destinations worth checking for a client pod.

    From its proxy log: every cluster its failing outbound requests went to (the runtime
    evidence). From config: the hosts of DestinationRules in its own namespace (config the
    client owns, so a broken one there is about this client even when the logs are silent).
    """
    out: dict[tuple[str, int, str | None], Dest] = {}
    log = _pod_log(ctx, pod)
    if log is not None:
        for e in log.entries:
            us = e.upstream_service
            if e.direction != "outbound" or us is None or not us.fqdn or not is_failure(e):
                continue
            if split_service_fqdn(us.fqdn) is None:
                continue
            k = (us.fqdn, us.port, us.subset)
            out.setdefault(k, Dest(us.fqdn, us.port, us.subset)).entries.append(e)
    if dr_namespace_hosts:
        ns = pod.metadata.namespace
        for dr in ctx.ev.get_or([], Need.DESTINATION_RULES):
            if dr.metadata.namespace != ns or not dr.spec.host or dr.spec.host.startswith("*"):
                continue
            host = client_host(ctx, dr.spec.host, ns)
            svc = service_for_host(ctx, host)
            if svc is None or svc.selects(pod):
                continue  # its own Service: the server view of each check judges that rule
            for sp in svc.spec.ports:
                out.setdefault((host, sp.port, None), Dest(host, sp.port, None, origin="dr"))
    return list(out.values())


@dataclass
class ServerPort:
    svc: Any
    port: Any  # ServicePort
    pod: Any
    target: int | None
    mtls: Any  # EffectiveMtls


def _server_ports(ctx: CheckContext, host: str, port: int) -> tuple[Any | None, list[ServerPort] | None]:
    """The Service behind ``host`` and, per server pod, the target port and effective mTLS mode.

    ``None`` pods when the Service's namespace pods were not gathered.
    """
    svc = service_for_host(ctx, host)
    if svc is None:
        return None, []
    sp = svc.port(port)
    pods = _pods_in(ctx, svc.metadata.namespace)
    if pods is None:
        return svc, None
    out: list[ServerPort] = []
    for p in _ready_pods([p for p in pods if svc.selects(p)]):
        tgt = container_port_for(svc, sp, p) if sp is not None else None
        out.append(ServerPort(svc, sp, p, tgt, effective_mtls(ctx, p, tgt) if p.has_sidecar else None))
    return svc, out


def _own_served_ports(ctx: CheckContext, pod: Any) -> list[ServerPort]:
    out: list[ServerPort] = []
    for svc in ctx.services_selecting(pod):
        for sp in svc.spec.ports:
            tgt = container_port_for(svc, sp, pod)
            out.append(ServerPort(svc, sp, pod, tgt, effective_mtls(ctx, pod, tgt) if pod.has_sidecar else None))
    return out


def _cluster_tls(ctx: CheckContext, pod: Any, host: str, port: int, subset: str | None) -> tuple[Any | None, Any | None]:
    """(cluster, its TLS) in the client's own config dump, when the dump was gathered."""
    dump = _pod_dump(ctx, pod)
    if dump is None or "clusters" not in dump.sections and not dump.clusters:
        return None, None
    cl = dump.clusters_for(host, port, subset or "")
    if not cl:
        return None, None
    return cl[0], cl[0].tls


def _describe_cluster_tls(c: Any) -> str:
    t = c.tls
    if t.mode == "none":
        return f"cluster {c.name}: no TLS transport socket (plaintext to every endpoint)"
    auto = " via transport_socket_matches tlsMode-istio (auto mTLS)" if t.auto else ""
    return f"cluster {c.name}: tls mode {t.mode}{auto}" + (f", SNI {t.sni}" if t.sni else "")


def _server_nr_entries(ctx: CheckContext, server: Any, target_port: int | None) -> list[AccessLogEntry]:
    """``NR filter_chain_not_found`` lines in a server's log on the given port (any port if None)."""
    log = _pod_log(ctx, server)
    if log is None:
        return []
    out = []
    for e in log.entries:
        if (e.response_code_details or "").startswith("filter_chain_not_found") or (
            "NR" in e.response_flags and e.is_tcp and e.upstream_cluster is None
        ):
            if target_port is None or _port_of(e.downstream_local_address) == target_port:
                out.append(e)
    return out


def _client_reset_entries(entries: list[AccessLogEntry]) -> list[AccessLogEntry]:
    """Client-side failures that a TLS/plaintext mismatch produces (not app answers)."""
    out = []
    for e in entries:
        if e.app_responded:
            continue
        if set(e.response_flags) & _CONN_FLAGS or any(d in (e.response_code_details or "") for d in _TLS_PLAINTEXT_DETAILS):
            out.append(e)
    return out


def _result(problems: list[Problem], ctx: CheckContext, *, check: str, ok_summary: str, na_summary: str, decided: bool,
            unknown_reason: str = "") -> CheckResult:
    """One result from the problems a check found: the best-corroborated one words the finding
    (its message variant, arguments and level), the others are listed by their short label
    (argument ``more``) and their evidence, fix steps and resources are merged."""
    if problems:
        problems.sort(key=lambda p: -p.strength(check))
        first = problems[0]
        evidence: list[EvidenceRef] = []
        observed: list[str] = []
        resources: list[str] = []
        steps: list[FixStep] = []
        for p in problems:
            evidence.extend(p.evidence)
            observed.extend(o for o in p.observed if o not in observed)
            resources.extend(r for r in p.resources if r not in resources)
            steps.extend(s for s in p.steps if s not in steps)
        return CheckResult.failed(
            message=first.message,
            args={**first.args, "more_count": len(problems) - 1, "more": [p.short for p in problems[1:4]]},
            corroboration=first.level,
            fix=Fix(steps=steps[:8], ordered=first.ordered),
            evidence=evidence[:12], observed=observed[:10], resources=resources,
        )
    if unknown_reason and not decided:
        return CheckResult.unknown(unknown_reason, reason=unknown_reason)
    if decided:
        return CheckResult.passed(ok_summary)
    return CheckResult.not_applicable(na_summary)


@dataclass
class Problem:
    """One way a check failed on one path (a destination, a port, a peer).

    ``args``, ``message`` and ``level`` are the catalogue entry's arguments, message variant and
    corroboration level; ``short`` labels the problem when another one words the finding (the
    templates list them as ``{more}``)."""

    short: str
    args: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    level: str | None = None
    evidence: list[EvidenceRef] = field(default_factory=list)
    observed: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    steps: list[FixStep] = field(default_factory=list)
    ordered: bool = False

    def strength(self, check: str) -> float:
        """How well corroborated: the catalogue's number for the level reached."""
        return load_catalogue()[check].confidence_for(self.level)


def _pa_port_fix(sp: ServerPort, mode: str) -> FixStep:
    pod = sp.pod
    app = pod.labels.get("app")
    sel = f"      app: {app}\n" if app else "".join(f"      {k}: {v}\n" for k, v in list(pod.labels.items())[:2])
    return FixStep(
        description=f"only if plaintext clients must keep working: set {mode} on the workload port {sp.target} "
        "(portLevelMtls is keyed by the container port, not the Service port)",
        yaml_patch=(
            "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n"
            f"  name: {sp.svc.metadata.name}-{sp.target}-{mode.lower()}\n  namespace: {pod.metadata.namespace}\n"
            f"spec:\n  selector:\n    matchLabels:\n{sel}  mtls:\n    mode: STRICT\n  portLevelMtls:\n    {sp.target}:\n      mode: {mode}\n"
        ),
    )


def _dr_tls_fix(dr: Any, where: str, mode: str = "ISTIO_MUTUAL") -> FixStep:
    ns, name = dr.metadata.namespace, dr.metadata.name
    if where == "trafficPolicy.tls":
        return FixStep(
            description=f"let auto mTLS decide (remove the tls block) or set {mode} in DestinationRule {ns}/{name}",
            command=f"kubectl patch destinationrule {name} -n {ns} --type=merge -p '{{\"spec\":{{\"trafficPolicy\":{{\"tls\":{{\"mode\":\"{mode}\"}}}}}}}}'",
        )
    return FixStep(
        description=f"in DestinationRule {ns}/{name}, change {where}.mode to {mode} (or delete that tls block to use auto mTLS)",
        command=f"kubectl edit destinationrule {name} -n {ns}",
    )


def _applied(ctx: CheckContext, host: str, client_ns: str, labels: dict[str, str] | None) -> Any | None:
    return destination_rule_for(ctx, host, client_ns, labels)


def _dests_under_dr(ctx: CheckContext, pod: Any) -> Iterator[tuple[Dest, Any, Any | None, str]]:
    """The client pod's destinations (:func:`_client_dests`) that a DestinationRule applies to:
    each with the applied rule, the TLS settings it gives the destination's port and subset
    (None when it sets none) and where they sit in the rule."""
    for d in _client_dests(ctx, pod):
        applied = _applied(ctx, d.host, pod.metadata.namespace, pod.labels)
        if applied is not None:
            tls, where = _dr_tls(applied.rule, d.port, d.subset)
            yield d, applied, tls, where


def _drs_targeting(ctx: CheckContext, host: str) -> list[tuple[Any, str]]:
    """DRs anywhere whose host covers ``host`` and that win for clients of their own namespace
    (or, in the host's or root namespace, for every client without a closer rule)."""
    out = []
    for dr in ctx.ev.get_or([], Need.DESTINATION_RULES):
        ns = dr.metadata.namespace or "default"
        if not dr.spec.host or not host_matches(client_host(ctx, dr.spec.host, ns), host):
            continue
        ws = dr.spec.workload_selector
        applied = destination_rule_for(ctx, host, ns, ws.labels if ws is not None else None)
        if applied is not None and applied.rule is dr:
            out.append((dr, applied.why))
    return out


def _mesh_clients_in(ctx: CheckContext, ns: str) -> bool | None:
    pods = _pods_in(ctx, ns)
    if pods is None:
        return None
    return any(p.has_sidecar for p in pods)


def _pa_excerpt(m: Any) -> Any:
    if m.policy is None:
        return f"# {m.source}: mode {m.mode}"
    return _obj_excerpt(m.policy, "PeerAuthentication")
