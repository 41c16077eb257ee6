"""Playbook ``mtls`` (checks ``MTLS-*``): "upstream connect error or disconnect/reset before headers".

The examined pod can sit on either side of the failing connection, and every check looks from
both sides because users point the tool at whichever pod they were paged about:

* as a **client**, its proxy log names the clusters it failed to reach
  (``503 UC ... outbound|9080||reviews.default.svc.cluster.local``); for each, the Service,
  the server pods behind it, the DestinationRule the client applies (its TLS settings override
  auto-mTLS) and the servers' effective PeerAuthentication on the *target* port decide the
  cause. The client's own config dump says what Envoy really does (``tls.mode`` of the
  cluster), which beats stale or shadowed config: a DR that says DISABLE while the dump shows
  ISTIO_MUTUAL is not what breaks the traffic.
* as a **server**, its proxy log shows what arrived: ``"- - -" 0 NR filter_chain_not_found``
  is plaintext (or TLS without an Istio client certificate) hitting a STRICT port; the
  downstream address names the client pod. DestinationRules anywhere in the mesh that target
  its Service tell which clients were told to send what.

Each check decides only its own cause and only from evidence; "possible" is not a failure.
The AuthorizationPolicy look-alike (403 ``rbac_access_denied_matched_policy``) is its own
finding so that, when the logs show RBAC denials, it outranks every mTLS guess.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh import (
    container_port_for,
    destination_rule_for,
    effective_mtls,
    root_namespace,
    service_for_host,
    split_service_fqdn,
)
from istio_doctor.engine.model import CheckResult, EvidenceRef, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.accesslog import AccessLogEntry, is_failure
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.istio import exported_to, fqdn, host_matches

# --------------------------------------------------------------------------------------
# shared reading helpers
# --------------------------------------------------------------------------------------

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
            host = fqdn(dr.spec.host, ns)
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


def _result(problems: list[Problem], ctx: CheckContext, *, ok_summary: str, na_summary: str, decided: bool,
            unknown_reason: str = "") -> CheckResult:
    if problems:
        problems.sort(key=lambda p: -p.confidence)
        first = problems[0]
        summary = first.summary
        if len(problems) > 1:
            summary += f" (and {len(problems) - 1} more: " + "; ".join(p.short for p in problems[1:4]) + ")"
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
            summary,
            evidence=evidence[:12],
            fix=Fix(summary=first.fix_summary, steps=steps[:8], ordered=first.ordered),
            confidence=first.confidence,
            observed=observed[:10],
            resources=resources,
        )
    if unknown_reason and not decided:
        return CheckResult.unknown(unknown_reason, reason=unknown_reason)
    if decided:
        return CheckResult.passed(ok_summary)
    return CheckResult.not_applicable(na_summary)


@dataclass
class Problem:
    summary: str
    short: str
    confidence: float
    fix_summary: str
    evidence: list[EvidenceRef] = field(default_factory=list)
    observed: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    steps: list[FixStep] = field(default_factory=list)
    ordered: bool = False


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


def _drs_targeting(ctx: CheckContext, host: str) -> list[tuple[Any, str]]:
    """DRs anywhere whose host covers ``host`` and that win for clients of their own namespace
    (or, in the host's or root namespace, for every client without a closer rule)."""
    out = []
    for dr in ctx.ev.get_or([], Need.DESTINATION_RULES):
        ns = dr.metadata.namespace or "default"
        if not dr.spec.host or not host_matches(fqdn(dr.spec.host, ns), host):
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


# --------------------------------------------------------------------------------------
# MTLS-DR-DISABLE-VS-STRICT
# --------------------------------------------------------------------------------------


@check(
    "MTLS-DR-DISABLE-VS-STRICT",
    needs=(Need.POD, Need.DESTINATION_RULES, Need.PEER_AUTHENTICATIONS, Need.SERVICES, Need.PODS),
    optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP, Need.CONTROL_PLANE_CONFIGMAPS, Need.ENVOY_STATS),
    peer_needs=(Need.PROXY_LOGS, Need.CONFIG_DUMP),
)
def dr_disable_vs_strict(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A DestinationRule turns TLS off (DISABLE/SIMPLE) towards a workload whose port is STRICT."""
    pod = ctx.pod()
    ctx.pods()  # required: the namespace's pods decide who serves what
    ctx.resources(Need.DESTINATION_RULES)
    ctx.resources(Need.PEER_AUTHENTICATIONS)
    problems: list[Problem] = []
    decided = False
    overridden: list[str] = []
    if pod.has_sidecar:
        for d in _client_dests(ctx, pod):
            applied = _applied(ctx, d.host, pod.metadata.namespace, pod.labels)
            if applied is None:
                continue
            tls, where = _dr_tls(applied.rule, d.port, d.subset)
            if tls is None or tls.mode not in _TLS_OFF:
                decided = True
                continue
            svc, sps = _server_ports(ctx, d.host, d.port)
            if not sps:
                continue
            strict = [s for s in sps if s.mtls is not None and s.mtls.mode == "STRICT"]
            decided = True
            if not strict:
                continue
            cl, ctls = _cluster_tls(ctx, pod, d.host, d.port, d.subset)
            if ctls is not None and ctls.mode == "istio_mutual":
                overridden.append(f"{applied.rule.metadata.namespace}/{applied.rule.metadata.name} ({_describe_cluster_tls(cl)})")
                continue
            problems.append(_dr_off_problem(ctx, pod, d, applied, tls.mode, where, strict, cl))
    # server view: rules anywhere that disable TLS towards this pod's STRICT ports
    if pod.has_sidecar:
        for sp in _own_served_ports(ctx, pod):
            if sp.mtls is None or sp.mtls.mode != "STRICT":
                if sp.mtls is not None:
                    decided = True
                continue
            host = sp.svc.fqdn()
            for dr, why in _drs_targeting(ctx, host):
                decided = True
                tls, where = _dr_tls(dr, sp.port.port, None)
                if tls is None or tls.mode not in _TLS_OFF:
                    continue
                if dr.metadata.namespace != sp.svc.metadata.namespace and dr.metadata.namespace != root_namespace(ctx):
                    if _mesh_clients_in(ctx, dr.metadata.namespace) is False:
                        continue  # no sidecar client there applies the rule
                if any(p.resources and f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}" in p.resources for p in problems):
                    continue
                nr = _server_nr_entries(ctx, pod, sp.target)
                ev = [ctx.ref(Need.DESTINATION_RULES, _dr_excerpt(dr), f"{where}.mode: {tls.mode} ({why})"),
                      ctx.ref(Need.PEER_AUTHENTICATIONS, _pa_excerpt(sp.mtls), f"{sp.mtls.source}: {sp.mtls.mode}")]
                observed = []
                if nr:
                    ev.append(ctx.ref(Need.PROXY_LOGS, _raw(nr), "plaintext connections rejected by this STRICT port"))
                    observed = _summarize(nr, f"{pod.metadata.name}:{sp.target}")
                stats = ctx.ev.get_or(None, Need.ENVOY_STATS, ctx.namespace, ctx.pod_name) or {}
                counter = "ssl.fail_verify_no_cert" if tls.mode == "SIMPLE" else "no_filter_chain_match"
                hits = {k: v for k, v in stats.items() if k.startswith("listener.") and k.endswith(counter) and v > 0}
                if hits:
                    ev.append(ctx.ref(Need.ENVOY_STATS, "\n".join(f"{k}: {v}" for k, v in hits.items()), "inbound listener counters"))
                    observed.append(f"{counter} = {sum(hits.values())} on the inbound listener")
                scope = (f"clients in namespace {dr.metadata.namespace}" if dr.metadata.namespace not in (sp.svc.metadata.namespace, root_namespace(ctx))
                         else "every mesh client without a closer DestinationRule")
                problems.append(Problem(
                    summary=(f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name} sets {where}.mode: {tls.mode} for "
                             f"{host}:{sp.port.port} while {sp.mtls.source} makes port {sp.target} of this pod STRICT: "
                             f"{scope} send {'plaintext' if tls.mode == 'DISABLE' else 'TLS without an Istio client certificate'}, which the server proxy rejects"),
                    short=f"DR {dr.metadata.namespace}/{dr.metadata.name} {tls.mode} vs STRICT port {sp.target}",
                    confidence=0.95 if observed else 0.7,
                    fix_summary=f"make DestinationRule {dr.metadata.namespace}/{dr.metadata.name} use ISTIO_MUTUAL (or drop its tls block so auto mTLS applies)",
                    evidence=ev, observed=observed,
                    resources=[f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}", f"Service {sp.svc.metadata.namespace}/{sp.svc.metadata.name}"],
                    steps=[_dr_tls_fix(dr, where), _pa_port_fix(sp, "PERMISSIVE")],
                ))
    res = _result(problems, ctx, decided=decided or bool(overridden),
                  ok_summary="no DestinationRule disables TLS towards a STRICT workload on the paths examined"
                  + (f"; DR(s) {', '.join(overridden)} say DISABLE but the client's Envoy still uses mTLS" if overridden else ""),
                  na_summary="no DestinationRule applies to the traffic examined")
    return res


def _pa_excerpt(m: Any) -> Any:
    if m.policy is None:
        return f"# {m.source}: mode {m.mode}"
    return _obj_excerpt(m.policy, "PeerAuthentication")


def _dr_off_problem(ctx: CheckContext, pod: Any, d: Dest, applied: Any, mode: str, where: str,
                    strict: list[ServerPort], cl: Any | None) -> Problem:
    dr = applied.rule
    s0 = strict[0]
    ev = [ctx.ref(Need.DESTINATION_RULES, _dr_excerpt(dr), f"{where}.mode: {mode} — {applied.why} is the rule this client applies"),
          ctx.ref(Need.PEER_AUTHENTICATIONS, _pa_excerpt(s0.mtls), f"{s0.mtls.source}: {s0.mtls.mode} on port {s0.target} of {s0.pod.metadata.name}")]
    observed: list[str] = []
    conf = 0.72
    if cl is not None and cl.tls.mode in ("none", "simple"):
        ev.append(ctx.ref(Need.CONFIG_DUMP, _describe_cluster_tls(cl), "what the client's Envoy does"))
        conf = 0.82
    resets = _client_reset_entries(d.entries)
    if resets:
        ev.append(ctx.ref(Need.PROXY_LOGS, _raw(resets), "the client's failing requests"))
        observed += _summarize(resets, d.host)
        conf = 0.93
    for s in strict:
        nr = _server_nr_entries(ctx, s.pod, s.target)
        if nr:
            ev.append(ctx.ref(Need.PROXY_LOGS, _raw(nr), f"server {s.pod.metadata.name} rejects plaintext (no filter chain)",
                              namespace=s.pod.metadata.namespace, name=s.pod.metadata.name))
            observed += _summarize(nr, f"{s.pod.metadata.name}:{s.target}")
            conf = 0.96
            break
    sent = "plaintext" if mode == "DISABLE" else "TLS without an Istio client certificate"
    return Problem(
        summary=(f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name} sets {where}.mode: {mode} for {d.host}:{d.port} "
                 f"while {s0.mtls.source} makes port {s0.target} of {s0.pod.metadata.namespace}/{s0.pod.metadata.name} STRICT: "
                 f"this client sends {sent} and the server proxy resets the connection"),
        short=f"DR {dr.metadata.namespace}/{dr.metadata.name} {mode} vs STRICT {d.host}:{d.port}",
        confidence=conf,
        fix_summary=f"make DestinationRule {dr.metadata.namespace}/{dr.metadata.name} use ISTIO_MUTUAL (or drop its tls block so auto mTLS applies)",
        evidence=ev, observed=observed,
        resources=[f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}", f"Service {s0.svc.metadata.namespace}/{s0.svc.metadata.name}"]
        + ([f"PeerAuthentication {s0.mtls.policy.metadata.namespace}/{s0.mtls.policy.metadata.name}"] if s0.mtls.policy is not None else []),
        steps=[_dr_tls_fix(dr, where), _pa_port_fix(s0, "PERMISSIVE")],
    )


# --------------------------------------------------------------------------------------
# MTLS-NONMESH-CLIENT
# --------------------------------------------------------------------------------------


@check(
    "MTLS-NONMESH-CLIENT",
    needs=(Need.POD, Need.PEER_AUTHENTICATIONS, Need.SERVICES, Need.PODS),
    optional=(Need.PROXY_LOGS, Need.DESTINATION_RULES, Need.CONTROL_PLANE_CONFIGMAPS, Need.NAMESPACES),
    peer_needs=(Need.PROXY_LOGS,),
)
def nonmesh_client(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A client without a sidecar (other namespace, Job, controller) sends plaintext to a STRICT port."""
    pod = ctx.pod()
    pas = ctx.resources(Need.PEER_AUTHENTICATIONS)
    ctx.pods()
    problems: list[Problem] = []
    decided = False
    if pod.has_sidecar:
        strict = [s for s in _own_served_ports(ctx, pod) if s.mtls is not None and s.mtls.mode == "STRICT"]
        if not strict:
            return CheckResult.not_applicable("no port of this pod is STRICT: plaintext clients are accepted")
        decided = True
        by_port = {s.target: s for s in strict}
        nr = [e for e in _server_nr_entries(ctx, pod, None) if _port_of(e.downstream_local_address) in by_port]
        groups: dict[str, list[AccessLogEntry]] = {}
        for e in nr:
            ip = _ip_of(e.downstream_remote_address) or "?"
            groups.setdefault(ip, []).append(e)
        related_clients = {(r.namespace, r.name) for r in ctx.related if r.role == "client"}
        for ip, entries in groups.items():
            client = _pod_by_ip(ctx, ip)
            if client is None:
                for r in ctx.related:
                    if (r.namespace, r.name) in related_clients:
                        cand = ctx.ev.get_or(None, Need.POD, r.namespace, r.name)
                        if cand is not None and cand.ip == ip:
                            client = cand
            sp = by_port[_port_of(entries[0].downstream_local_address)]
            host = sp.svc.fqdn()
            if client is not None and client.has_sidecar:
                continue  # a mesh client sending plaintext: a DestinationRule or a bypass, not this cause
            if client is None:
                # An IP no gathered pod has: a pod of another namespace, a node, a VM. When a
                # DestinationRule disables TLS towards this host, a mesh client may be the
                # sender, so the identity is left undecided rather than guessed.
                if any(_dr_tls(dr, sp.port.port, None)[0] is not None and _dr_tls(dr, sp.port.port, None)[0].mode in _TLS_OFF
                       for dr, _w in _drs_targeting(ctx, host)):
                    continue
            who = (f"pod {client.metadata.namespace}/{client.metadata.name} (no istio-proxy container)" if client is not None
                   else f"{ip} (no pod with a sidecar in the namespaces examined has this IP)")
            ev = [ctx.ref(Need.PROXY_LOGS, _raw(entries), f"plaintext from {ip} rejected: no filter chain for non-mTLS traffic"),
                  ctx.ref(Need.PEER_AUTHENTICATIONS, _pa_excerpt(sp.mtls), f"{sp.mtls.source}: STRICT on port {sp.target}")]
            if client is not None:
                ev.append(ctx.ref(Need.POD, f"containers: {[c.name for c in client.spec.containers]}\npodIP: {client.ip}",
                                  "the client runs no istio-proxy", namespace=client.metadata.namespace, name=client.metadata.name))
            steps = []
            if client is not None:
                steps.append(FixStep(
                    description="inject the client: label its namespace and restart its workload",
                    command=f"kubectl label namespace {client.metadata.namespace} istio-injection=enabled --overwrite && "
                    + (f"kubectl rollout restart {client.owner_workload.kind.lower()}/{client.owner_workload.name} -n {client.metadata.namespace}"
                       if client.owner_workload is not None and client.owner_workload.kind in ("Deployment", "StatefulSet", "DaemonSet")
                       else f"kubectl delete pod {client.metadata.name} -n {client.metadata.namespace}  # recreate it injected"),
                ))
            steps.append(_pa_port_fix(sp, "PERMISSIVE"))
            problems.append(Problem(
                summary=(f"{who} calls {host}:{sp.port.port} in plaintext, but {sp.mtls.source} makes port {sp.target} of this pod STRICT: "
                         f"{len(entries)} connection(s) rejected with NR filter_chain_not_found"),
                short=f"plaintext from {ip}",
                confidence=0.94 if client is not None else 0.7,
                fix_summary="put the client in the mesh (inject its sidecar) or allow plaintext on that port with a PERMISSIVE port-level PeerAuthentication",
                evidence=ev, observed=_summarize(entries, f"{pod.metadata.name}:{sp.target}"),
                resources=[f"Service {sp.svc.metadata.namespace}/{sp.svc.metadata.name}"]
                + ([f"Pod {client.metadata.namespace}/{client.metadata.name}"] if client is not None else []),
                steps=steps,
            ))
        return _result(problems, ctx, decided=decided,
                       ok_summary="no plaintext connection from a client without sidecar was rejected by this pod's STRICT ports",
                       na_summary="")
    # The examined pod is itself outside the mesh: which STRICT workloads would reset its calls?
    if pod.spec.host_network or pod.is_gateway:
        return CheckResult.not_applicable("host-network or gateway pod: not an ordinary mesh client")
    root = root_namespace(ctx)
    strict_scopes = [p for p in pas if not p.is_workload_level and p.mode == "STRICT"]
    if not strict_scopes:
        return CheckResult.passed(f"pod {pod.metadata.name} has no sidecar, but no mesh-wide or namespace-wide PeerAuthentication is STRICT")
    mesh_wide = [p for p in strict_scopes if p.metadata.namespace == root]
    names = ", ".join(f"{p.metadata.namespace}/{p.metadata.name}" for p in strict_scopes[:4])
    scope = "every sidecar workload of the mesh" if mesh_wide else "the workloads of namespace(s) " + ", ".join(sorted({p.metadata.namespace for p in strict_scopes}))
    ev = [ctx.ref(Need.POD, f"containers: {[c.name for c in pod.spec.containers]}", "no istio-proxy: this pod sends plaintext"),
          ctx.ref(Need.PEER_AUTHENTICATIONS, [_obj_excerpt(p, "PeerAuthentication") for p in strict_scopes[:3]], "STRICT scopes")]
    return CheckResult.failed(
        f"pod {pod.metadata.namespace}/{pod.metadata.name} runs without istio-proxy, so its calls are plaintext, while PeerAuthentication {names} "
        f"is STRICT: {scope} resets its connections (unless a port-level PERMISSIVE exception applies)",
        evidence=ev,
        fix=Fix(summary="inject this pod's namespace/workload, or make the called ports PERMISSIVE", steps=[
            FixStep(description="inject the sidecar and recreate the pod",
                    command=f"kubectl label namespace {pod.metadata.namespace} istio-injection=enabled --overwrite && "
                    + (f"kubectl rollout restart {pod.owner_workload.kind.lower()}/{pod.owner_workload.name} -n {pod.metadata.namespace}"
                       if pod.owner_workload is not None and pod.owner_workload.kind in ("Deployment", "StatefulSet", "DaemonSet")
                       else f"kubectl delete pod {pod.metadata.name} -n {pod.metadata.namespace}  # recreate it injected")),
        ]),
        confidence=0.55,
        resources=[f"Pod {pod.metadata.namespace}/{pod.metadata.name}"] + [f"PeerAuthentication {p.metadata.namespace}/{p.metadata.name}" for p in strict_scopes[:3]],
    )


# --------------------------------------------------------------------------------------
# MTLS-TO-NONMESH-SERVER
# --------------------------------------------------------------------------------------


@check(
    "MTLS-TO-NONMESH-SERVER",
    needs=(Need.POD, Need.DESTINATION_RULES, Need.SERVICES, Need.PODS),
    optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP, Need.CONTROL_PLANE_CONFIGMAPS),
    peer_needs=(Need.PROXY_LOGS,),
)
def to_nonmesh_server(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A DestinationRule forces ISTIO_MUTUAL towards pods that run no sidecar (auto mTLS would send plaintext)."""
    pod = ctx.pod()
    ctx.pods()  # required: the namespace's pods decide who serves what
    ctx.resources(Need.DESTINATION_RULES)
    problems: list[Problem] = []
    decided = False
    if pod.has_sidecar:
        for d in _client_dests(ctx, pod):
            applied = _applied(ctx, d.host, pod.metadata.namespace, pod.labels)
            if applied is None:
                continue
            tls, where = _dr_tls(applied.rule, d.port, d.subset)
            svc, sps = _server_ports(ctx, d.host, d.port)
            if not sps:
                continue
            decided = True
            if tls is None or tls.mode != "ISTIO_MUTUAL":
                continue
            plain = [s for s in sps if not s.pod.has_sidecar]
            if not plain:
                continue
            cl, ctls = _cluster_tls(ctx, pod, d.host, d.port, d.subset)
            if ctls is not None and (ctls.mode == "none" or ctls.auto):
                continue  # the client's Envoy does not force mTLS: the rule is not in effect
            problems.append(_to_plain_problem(ctx, applied.rule, where, d.host, d.port, plain, d.entries, cl, client=pod))
    else:
        for svc in ctx.services_selecting(pod):
            host = svc.fqdn()
            for sp in svc.spec.ports:
                for dr, why in _drs_targeting(ctx, host):
                    decided = True
                    tls, where = _dr_tls(dr, sp.port, None)
                    if tls is None or tls.mode != "ISTIO_MUTUAL":
                        continue
                    if any(f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}" in p.resources for p in problems):
                        continue
                    tgt = container_port_for(svc, sp, pod)
                    problems.append(_to_plain_problem(ctx, dr, where, host, sp.port, [ServerPort(svc, sp, pod, tgt, None)], [], None, client=None))
    return _result(problems, ctx, decided=decided,
                   ok_summary="no DestinationRule forces ISTIO_MUTUAL towards pods without a sidecar on the paths examined",
                   na_summary="no DestinationRule applies to the traffic examined")


def _to_plain_problem(ctx: CheckContext, dr: Any, where: str, host: str, port: int, plain: list[ServerPort],
                      entries: list[AccessLogEntry], cl: Any | None, *, client: Any | None) -> Problem:
    s0 = plain[0]
    ev = [ctx.ref(Need.DESTINATION_RULES, _dr_excerpt(dr), f"{where}.mode: ISTIO_MUTUAL"),
          ctx.ref(Need.POD, f"containers: {[c.name for c in s0.pod.spec.containers]}\nlabels: {dict(s0.pod.labels)}",
                  "server pod without istio-proxy (no security.istio.io/tlsMode=istio label)",
                  namespace=s0.pod.metadata.namespace, name=s0.pod.metadata.name)]
    conf = 0.75
    observed: list[str] = []
    if cl is not None:
        ev.append(ctx.ref(Need.CONFIG_DUMP, _describe_cluster_tls(cl), "the client's Envoy originates Istio mTLS to every endpoint"))
        conf = 0.82
    tls_fail = [e for e in entries if _WVN in _tls_text(e) or ("TLS" in _tls_text(e) and set(e.response_flags) & _CONN_FLAGS)]
    resets = tls_fail or _client_reset_entries(entries)
    if resets:
        ev.append(ctx.ref(Need.PROXY_LOGS, _raw(resets), "TLS handshake towards a plaintext server fails"))
        observed = _summarize(resets, host)
        conf = 0.95 if tls_fail else 0.9
    who = "this client" if client is not None else "mesh clients"
    return Problem(
        summary=(f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name} forces {where}.mode: ISTIO_MUTUAL for {host}:{port}, "
                 f"but server pod(s) {', '.join(s.pod.metadata.name for s in plain[:3])} run without istio-proxy: {who} "
                 "start an mTLS handshake the plaintext application cannot answer (auto mTLS would have sent plaintext)"),
        short=f"DR {dr.metadata.namespace}/{dr.metadata.name} ISTIO_MUTUAL to non-mesh {host}",
        confidence=conf,
        fix_summary=f"drop the tls block of DestinationRule {dr.metadata.namespace}/{dr.metadata.name} (auto mTLS sends plaintext to pods without sidecar) or inject the server",
        evidence=ev, observed=observed,
        resources=[f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}", f"Pod {s0.pod.metadata.namespace}/{s0.pod.metadata.name}"],
        steps=[
            FixStep(description=f"remove the tls setting ({where}) from DestinationRule {dr.metadata.namespace}/{dr.metadata.name} so auto mTLS picks plaintext for pods without sidecar",
                    command=(f"kubectl patch destinationrule {dr.metadata.name} -n {dr.metadata.namespace} --type=json -p='[{{\"op\":\"remove\",\"path\":\"/spec/trafficPolicy/tls\"}}]'"
                             if where == "trafficPolicy.tls" else f"kubectl edit destinationrule {dr.metadata.name} -n {dr.metadata.namespace}")),
            FixStep(description="or put the server in the mesh",
                    command=f"kubectl label namespace {s0.pod.metadata.namespace} istio-injection=enabled --overwrite && "
                    + (f"kubectl rollout restart deployment/{s0.pod.owner_workload.name} -n {s0.pod.metadata.namespace}"
                       if s0.pod.owner_workload is not None and s0.pod.owner_workload.kind == "Deployment"
                       else f"kubectl delete pod {s0.pod.metadata.name} -n {s0.pod.metadata.namespace}")),
        ],
    )


# --------------------------------------------------------------------------------------
# MTLS-AUTO-OFF and MTLS-DR-SHADOWING
# --------------------------------------------------------------------------------------


def _auto_mtls(ctx: CheckContext, pod: Any) -> tuple[bool, Any]:
    mc = ctx.mesh_config(pod.revision)
    return bool(mc.enable_auto_mtls), mc


def _shadowed_with_tls(ctx: CheckContext, host: str, port: int, client_ns: str, applied: Any | None) -> list[tuple[Any, Any, str]]:
    """DRs for ``host`` visible to ``client_ns`` that set TLS but lose to the applied rule."""
    out = []
    for dr in ctx.ev.get_or([], Need.DESTINATION_RULES):
        ns = dr.metadata.namespace or "default"
        if applied is not None and dr is applied.rule:
            continue
        if not dr.spec.host or not host_matches(fqdn(dr.spec.host, ns), host):
            continue
        if not exported_to(dr.spec.export_to, ns, client_ns):
            continue
        tls, where = _dr_tls(dr, port, None)
        if tls is not None and tls.mode:
            out.append((dr, tls, where))
    return out


@check(
    "MTLS-AUTO-OFF",
    needs=(Need.POD, Need.CONTROL_PLANE_CONFIGMAPS, Need.DESTINATION_RULES, Need.PEER_AUTHENTICATIONS, Need.SERVICES, Need.PODS),
    optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP),
    peer_needs=(Need.PROXY_LOGS,),
)
def auto_mtls_off(ctx: CheckContext, _: NoParams) -> CheckResult:
    """meshConfig.enableAutoMtls is false and no DestinationRule asks for ISTIO_MUTUAL towards a STRICT workload."""
    pod = ctx.pod()
    ctx.pods()  # required: the namespace's pods decide who serves what
    auto, mc = _auto_mtls(ctx, pod)
    ctx.resources(Need.DESTINATION_RULES)
    if auto:
        return CheckResult.not_applicable("auto mTLS is enabled (meshConfig.enableAutoMtls is true or unset)")
    mesh_ev = ctx.ref(Need.CONTROL_PLANE_CONFIGMAPS, "enableAutoMtls: false", f"MeshConfig (configmap istio in {ctx.conn.istio_namespace})")
    problems: list[Problem] = []
    decided = False
    if pod.has_sidecar:
        for d in _client_dests(ctx, pod):
            applied = _applied(ctx, d.host, pod.metadata.namespace, pod.labels)
            tls = _dr_tls(applied.rule, d.port, d.subset)[0] if applied is not None else None
            svc, sps = _server_ports(ctx, d.host, d.port)
            if not sps:
                continue
            decided = True
            if tls is not None:
                continue  # explicit TLS: ISTIO_MUTUAL works, DISABLE/SIMPLE is MTLS-DR-DISABLE-VS-STRICT
            strict = [s for s in sps if s.mtls is not None and s.mtls.mode == "STRICT"]
            if not strict:
                continue
            if any(t.mode == "ISTIO_MUTUAL" for _dr, t, _w in _shadowed_with_tls(ctx, d.host, d.port, pod.metadata.namespace, applied)):
                continue  # a rule asking for mTLS exists but is shadowed: MTLS-DR-SHADOWING
            cl, ctls = _cluster_tls(ctx, pod, d.host, d.port, d.subset)
            if ctls is not None and ctls.mode != "none":
                continue  # Envoy does originate TLS: something else is going on
            s0 = strict[0]
            ev = [mesh_ev, ctx.ref(Need.PEER_AUTHENTICATIONS, _pa_excerpt(s0.mtls), f"{s0.mtls.source}: STRICT on port {s0.target}")]
            if applied is not None:
                ev.append(ctx.ref(Need.DESTINATION_RULES, _dr_excerpt(applied.rule), "applied rule: no tls settings"))
            conf = 0.75
            observed: list[str] = []
            if cl is not None:
                ev.append(ctx.ref(Need.CONFIG_DUMP, _describe_cluster_tls(cl), "the client's Envoy sends plaintext"))
                conf = 0.85
            resets = _client_reset_entries(d.entries)
            if resets:
                ev.append(ctx.ref(Need.PROXY_LOGS, _raw(resets), "the client's failing requests"))
                observed = _summarize(resets, d.host)
                conf = 0.93
            problems.append(Problem(
                summary=(f"auto mTLS is off (meshConfig.enableAutoMtls: false) and {'DestinationRule ' + applied.rule.metadata.namespace + '/' + applied.rule.metadata.name + ' sets no tls' if applied else 'no DestinationRule applies to ' + d.host}, "
                         f"so this client sends plaintext to {d.host}:{d.port} while {s0.mtls.source} makes port {s0.target} STRICT"),
                short=f"plaintext to STRICT {d.host}:{d.port}",
                confidence=conf,
                fix_summary="re-enable auto mTLS, or add a DestinationRule with tls.mode ISTIO_MUTUAL for the host",
                evidence=ev, observed=observed,
                resources=[f"Service {s0.svc.metadata.namespace}/{s0.svc.metadata.name}"],
                steps=_auto_off_steps(ctx, d.host, s0),
            ))
    else:
        return CheckResult.not_applicable("the pod has no sidecar: auto mTLS only changes what sidecar clients send")
    for sp in _own_served_ports(ctx, pod):
        if sp.mtls is None or sp.mtls.mode != "STRICT":
            continue
        decided = True
        host = sp.svc.fqdn()
        applied = destination_rule_for(ctx, host, sp.svc.metadata.namespace)
        tls = _dr_tls(applied.rule, sp.port.port, None)[0] if applied is not None else None
        if tls is not None:
            continue
        if any(t.mode == "ISTIO_MUTUAL" for _dr, t, _w in _shadowed_with_tls(ctx, host, sp.port.port, sp.svc.metadata.namespace, applied)):
            continue
        nr = _server_nr_entries(ctx, pod, sp.target)
        ev = [mesh_ev, ctx.ref(Need.PEER_AUTHENTICATIONS, _pa_excerpt(sp.mtls), f"{sp.mtls.source}: STRICT on port {sp.target}")]
        if nr:
            ev.append(ctx.ref(Need.PROXY_LOGS, _raw(nr), "plaintext rejected by this STRICT port"))
        problems.append(Problem(
            summary=(f"auto mTLS is off (meshConfig.enableAutoMtls: false) and no DestinationRule sets ISTIO_MUTUAL for {host}: "
                     f"mesh clients send plaintext to port {sp.target} of this pod, which {sp.mtls.source} makes STRICT"),
            short=f"no ISTIO_MUTUAL rule for STRICT {host}",
            confidence=0.92 if nr else 0.72,
            fix_summary="re-enable auto mTLS, or add a DestinationRule with tls.mode ISTIO_MUTUAL for the host",
            evidence=ev, observed=_summarize(nr, f"{pod.metadata.name}:{sp.target}") if nr else [],
            resources=[f"Service {sp.svc.metadata.namespace}/{sp.svc.metadata.name}"],
            steps=_auto_off_steps(ctx, host, sp),
        ))
        break
    return _result(problems, ctx, decided=decided,
                   ok_summary="auto mTLS is off, but every STRICT destination examined has a DestinationRule with tls settings",
                   na_summary="auto mTLS is off, but no STRICT workload is involved in the traffic examined")


def _auto_off_steps(ctx: CheckContext, host: str, sp: ServerPort) -> list[FixStep]:
    name = host.split(".")[0]
    ns = sp.svc.metadata.namespace
    return [
        FixStep(description="add a DestinationRule that asks for Istio mTLS towards the host",
                yaml_patch=(f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: {name}-mtls\n  namespace: {ns}\n"
                            f"spec:\n  host: {host}\n  trafficPolicy:\n    tls:\n      mode: ISTIO_MUTUAL\n")),
        FixStep(description="or re-enable auto mTLS mesh-wide (meshConfig.enableAutoMtls: true) and restart istiod",
                command=f"kubectl -n {ctx.conn.istio_namespace} edit configmap istio"),
    ]


@check(
    "MTLS-DR-SHADOWING",
    needs=(Need.POD, Need.DESTINATION_RULES, Need.PEER_AUTHENTICATIONS, Need.SERVICES, Need.PODS, Need.CONTROL_PLANE_CONFIGMAPS),
    optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP),
    peer_needs=(Need.PROXY_LOGS,),
)
def dr_shadowing(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A DestinationRule without TLS wins over another one for the same host that sets ISTIO_MUTUAL, and the
    resulting plaintext meets a STRICT workload (auto mTLS off)."""
    pod = ctx.pod()
    ctx.pods()  # required: the namespace's pods decide who serves what
    if not pod.has_sidecar:
        return CheckResult.not_applicable("the pod has no sidecar: DestinationRules do not apply to its traffic")
    auto, _mc = _auto_mtls(ctx, pod)
    problems: list[Problem] = []
    decided = False
    cands: list[tuple[str, int, str | None, str, list[AccessLogEntry]]] = [
        (d.host, d.port, d.subset, pod.metadata.namespace, d.entries) for d in _client_dests(ctx, pod)
    ]
    cands += [(sp.svc.fqdn(), sp.port.port, None, sp.svc.metadata.namespace, []) for sp in _own_served_ports(ctx, pod)]
    seen: set[str] = set()
    for host, port, subset, client_ns, entries in cands:
        applied = _applied(ctx, host, client_ns, pod.labels if client_ns == pod.metadata.namespace else None)
        if applied is None:
            continue
        others = _shadowed_with_tls(ctx, host, port, client_ns, applied)
        if not others:
            continue
        decided = True
        if _dr_tls(applied.rule, port, subset)[0] is not None:
            continue  # the winning rule sets TLS itself: whatever it says is judged by the other checks
        mutual = [(dr, t, w) for dr, t, w in others if t.mode == "ISTIO_MUTUAL"]
        if not mutual or auto:
            continue  # with auto mTLS on, the winning rule's missing tls still yields mTLS
        svc, sps = _server_ports(ctx, host, port)
        strict = [s for s in (sps or []) if s.mtls is not None and s.mtls.mode == "STRICT"]
        if not strict:
            continue
        dr0, _t, where = mutual[0]
        key = f"{applied.rule.metadata.namespace}/{applied.rule.metadata.name}>{dr0.metadata.namespace}/{dr0.metadata.name}"
        if key in seen:
            continue
        seen.add(key)
        s0 = strict[0]
        ev = [ctx.ref(Need.DESTINATION_RULES, [_dr_excerpt(applied.rule), _dr_excerpt(dr0)],
                      f"{applied.why} wins; DestinationRule {dr0.metadata.namespace}/{dr0.metadata.name} ({where}.mode: ISTIO_MUTUAL) is ignored"),
              ctx.ref(Need.CONTROL_PLANE_CONFIGMAPS, "enableAutoMtls: false", "MeshConfig: a rule without tls means plaintext"),
              ctx.ref(Need.PEER_AUTHENTICATIONS, _pa_excerpt(s0.mtls), f"{s0.mtls.source}: STRICT on port {s0.target}")]
        resets = _client_reset_entries(entries)
        nr = _server_nr_entries(ctx, s0.pod, s0.target)
        observed = _summarize(resets, host) + _summarize(nr, f"{s0.pod.metadata.name}:{s0.target}")
        if resets:
            ev.append(ctx.ref(Need.PROXY_LOGS, _raw(resets), "the client's failing requests"))
        problems.append(Problem(
            summary=(f"DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name} (host {applied.rule.spec.host}) shadows "
                     f"DestinationRule {dr0.metadata.namespace}/{dr0.metadata.name} (host {dr0.spec.host}, {where}.mode: ISTIO_MUTUAL) for {host}: "
                     f"clients in {client_ns} apply only the first, which sets no tls, so with auto mTLS off they send plaintext to port {s0.target}, STRICT by {s0.mtls.source}"),
            short=f"{applied.rule.metadata.name} shadows {dr0.metadata.name}",
            confidence=0.93 if observed else 0.75,
            fix_summary=f"merge the TLS settings into DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name} (one rule per host)",
            evidence=ev, observed=observed,
            resources=[f"DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name}", f"DestinationRule {dr0.metadata.namespace}/{dr0.metadata.name}"],
            steps=[_dr_tls_fix(applied.rule, "trafficPolicy.tls")],
        ))
    return _result(problems, ctx, decided=decided,
                   ok_summary="several DestinationRules match a host examined, but the winning one still leads to mTLS",
                   na_summary="no host examined has more than one DestinationRule with TLS settings")


# --------------------------------------------------------------------------------------
# certificates: MTLS-ROOTCA-MISMATCH, MTLS-CERT-NOT-READY, MTLS-SAN-MISMATCH
# --------------------------------------------------------------------------------------

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


def _roots(dump: Any) -> tuple[set[str], Any | None]:
    """Root certificates a proxy trusts (the ``ROOTCA`` secret), as normalised PEM blocks."""
    for s in dump.secrets:
        if s.name == "ROOTCA":
            pems = {re.sub(r"\s+", "", b) for b in _PEM.findall(s.cert_chain_pem or "")}
            return pems, s
    return set(), None


def _verify_failures(ctx: CheckContext, pods: Iterable[tuple[str, str]]) -> list[tuple[str, str, list[AccessLogEntry], list[Any]]]:
    out = []
    for ns, name in pods:
        log = ctx.ev.get_or(None, Need.PROXY_LOGS, ns, name)
        if log is None:
            continue
        es = [e for e in log.entries if _CVF in _tls_text(e)]
        evs = [ev for ev in log.events if _CVF in ev.raw]
        if es or evs:
            out.append((ns, name, es, evs))
    return out


@check(
    "MTLS-ROOTCA-MISMATCH",
    needs=(Need.POD, Need.CONFIG_DUMP),
    optional=(Need.PROXY_LOGS,),
    peer_needs=(Need.CONFIG_DUMP, Need.PROXY_LOGS),
)
def rootca_mismatch(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The pod and its peers trust different root CAs (CA rotation, plugged-in cacerts, multi-cluster)."""
    pod = ctx.pod()
    dump = ctx.config_dump()
    mine, my_secret = _roots(dump)
    fails = _verify_failures(ctx, [(pod.metadata.namespace, pod.metadata.name)] + [(r.namespace, r.name) for r in ctx.related])
    if not mine:
        if fails:
            return CheckResult.unknown("the proxy shows CERTIFICATE_VERIFY_FAILED but its config dump holds no ROOTCA secret to compare",
                                       reason="no ROOTCA secret in the config dump")
        return CheckResult.not_applicable("the config dump holds no ROOTCA secret (no Istio mTLS certificates on this proxy)")
    problems: list[Problem] = []
    compared = 0
    for r in ctx.related:
        peer = ctx.ev.get_or(None, Need.CONFIG_DUMP, r.namespace, r.name)
        if peer is None:
            continue
        theirs, their_secret = _roots(peer)
        if not theirs:
            continue
        compared += 1
        if mine & theirs:
            continue
        ev = [ctx.ref(Need.CONFIG_DUMP, f"ROOTCA serial {my_secret.serial} trust domain {my_secret.trust_domain or '?'} "
                      f"valid until {my_secret.not_after}", f"root CA of {pod.metadata.name}"),
              ctx.ref(Need.CONFIG_DUMP, f"ROOTCA serial {their_secret.serial} trust domain {their_secret.trust_domain or '?'} "
                      f"valid until {their_secret.not_after}", f"root CA of {r.name}", namespace=r.namespace, name=r.name)]
        observed = []
        for ns, name, es, evs in fails:
            if es:
                ev.append(ctx.ref(Need.PROXY_LOGS, _raw(es), "certificate verification fails", namespace=ns, name=name))
                observed += _summarize(es, name)
            elif evs:
                ev.append(ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in evs[:3]), "certificate verification fails", namespace=ns, name=name))
                observed.append(f"{len(evs)}× CERTIFICATE_VERIFY_FAILED in the istio-proxy log of {name}")
        problems.append(Problem(
            summary=(f"{pod.metadata.name} trusts root CA serial {my_secret.serial} but its peer {r.namespace}/{r.name} trusts root CA serial "
                     f"{their_secret.serial}, and the two root bundles share no certificate: each side rejects the other's certificate"),
            short=f"root CA differs from {r.name}",
            confidence=0.95 if observed else 0.85,
            fix_summary="give every workload the same root CA (restore the common root / cacerts secret, or distribute both roots during rotation), then restart the workloads",
            evidence=ev, observed=observed,
            resources=[f"Pod {pod.metadata.namespace}/{pod.metadata.name}", f"Pod {r.namespace}/{r.name}"],
            steps=[
                FixStep(description="compare the roots yourself", command=f"istioctl proxy-config rootca-compare pod/{pod.metadata.name}.{pod.metadata.namespace} pod/{r.name}.{r.namespace}"),
                FixStep(description="check which CA istiod uses (plugged-in cacerts)", command=f"kubectl get secret cacerts -n {ctx.conn.istio_namespace} -o jsonpath='{{.data.root-cert\\.pem}}' | base64 -d | openssl x509 -noout -serial -subject"),
                FixStep(description="after restoring a common root, restart the workloads so they get certificates from it",
                        command=f"kubectl rollout restart deployment -n {pod.metadata.namespace}"),
            ],
            ordered=True,
        ))
    if problems:
        return _result(problems, ctx, decided=True, ok_summary="", na_summary="")
    if compared:
        return CheckResult.passed(f"{pod.metadata.name} and {compared} peer(s) share root CA serial {my_secret.serial}")
    if fails:
        return CheckResult.unknown("CERTIFICATE_VERIFY_FAILED is logged but no peer config dump was available to compare root CAs",
                                   reason="the peer's config dump (ROOTCA) is needed to compare roots")
    return CheckResult.not_applicable("no peer pod to compare root CAs with")


def _parse_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value.strip().replace(" ", "T"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _reference_time(logs: Iterable[Any], dumps: Iterable[Any]) -> datetime | None:
    """The latest instant the evidence itself shows (log lines, secret pushes).

    Certificate expiry is judged against it rather than against the clock of the machine that
    parses the dump: a replayed recording is read long after it was taken, and a live proxy log
    covers the last hour anyway. None when the evidence carries no time at all.
    """
    latest: datetime | None = None
    for log in logs:
        if log is None:
            continue
        for t in [e.start_time for e in log.entries] + [ev.timestamp for ev in log.events]:
            ts = _parse_ts(t)
            if ts is not None and (latest is None or ts > latest):
                latest = ts
    for d in dumps:
        raw = getattr(d, "secrets_raw", None) or {}
        for key in ("dynamic_active_secrets", "dynamic_warming_secrets"):
            for e in raw.get(key) or ():
                ts = _parse_ts(e.get("last_updated") or e.get("lastUpdated"))
                if ts is not None and (latest is None or ts > latest):
                    latest = ts
    return latest


def _cert_problems(dump: Any, ref: datetime | None = None) -> tuple[list[str], list[Any]]:
    bad: list[str] = []
    secrets = []
    names = {s.name for s in dump.secrets}
    for s in dump.secrets:
        if s.name not in ("default", "ROOTCA"):
            continue
        if s.status in ("WARMING", "UNINITIALIZED") or s.status.upper().startswith("WARM"):
            bad.append(f"secret {s.name} is {s.status} (never received from the CA)")
            secrets.append(s)
        elif (s.not_after is not None and s.not_after < ref) if ref is not None and s.not_after is not None else s.valid is False:
            when = f" (NOT AFTER {s.not_after:%Y-%m-%dT%H:%M:%SZ})" if s.not_after else ""
            bad.append(f"secret {s.name} holds no valid certificate{when}")
            secrets.append(s)
    if "default" not in names and "secrets" in dump.sections:
        bad.append("no workload certificate (secret default) at all")
    return bad, secrets


def _secret_row(s: Any) -> str:
    na = f"{s.not_after:%Y-%m-%dT%H:%M:%SZ}" if s.not_after else ""
    nb = f"{s.not_before:%Y-%m-%dT%H:%M:%SZ}" if s.not_before else ""
    return f"RESOURCE NAME: {s.name}  TYPE: {s.type}  STATUS: {s.status}  VALID CERT: {str(bool(s.valid)).lower()}  SERIAL NUMBER: {s.serial}  NOT AFTER: {na}  NOT BEFORE: {nb}"


@check(
    "MTLS-CERT-NOT-READY",
    needs=(Need.POD, Need.CONFIG_DUMP),
    optional=(Need.PROXY_LOGS,),
    peer_needs=(Need.CONFIG_DUMP, Need.PROXY_LOGS),
)
def cert_not_ready(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The workload certificate (or root) is missing, still warming, or expired on this proxy or a peer."""
    pod = ctx.pod()
    dump = ctx.config_dump()
    if "secrets" not in dump.sections and not dump.secrets:
        return CheckResult.unknown("the config dump has no secrets section", reason="secrets were not part of the config dump")
    problems: list[Problem] = []
    targets = [(pod.metadata.namespace, pod.metadata.name, dump)] + [
        (r.namespace, r.name, ctx.ev.get_or(None, Need.CONFIG_DUMP, r.namespace, r.name)) for r in ctx.related
    ]
    for ns, name, d in targets:
        if d is None or pod.is_gateway and name == pod.metadata.name and not d.secrets:
            continue
        log = ctx.ev.get_or(None, Need.PROXY_LOGS, ns, name)
        bad, secrets = _cert_problems(d, _reference_time([log], [d]))
        if not bad:
            continue
        sds = [e for e in (log.events if log is not None else []) if e.kind in ("sds_error", "warming")]
        cvf = [e for e in (log.entries if log is not None else []) if "TLS" in _tls_text(e)]
        ev = [ctx.ref(Need.CONFIG_DUMP, "\n".join(_secret_row(s) for s in secrets) or "\n".join(bad), "istioctl proxy-config secret", namespace=ns, name=name)]
        observed = []
        if sds:
            ev.append(ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in sds[:3]), "SDS errors in the istio-proxy log", namespace=ns, name=name))
            observed.append(f"{len(sds)}× certificate/SDS error in the istio-proxy log of {name}")
        if cvf:
            observed += _summarize(cvf, name)
        self_or_peer = "this pod" if name == pod.metadata.name else f"peer {ns}/{name}"
        problems.append(Problem(
            summary=f"{self_or_peer}: " + "; ".join(bad) + ": its proxy cannot complete mTLS handshakes",
            short=f"{name}: {bad[0]}",
            confidence=0.93 if observed or name == pod.metadata.name else 0.85,
            fix_summary="get the proxy a valid workload certificate: check istiod (CA) health and the proxy's SDS errors, then restart the pod",
            evidence=ev, observed=observed,
            resources=[f"Pod {ns}/{name}"],
            steps=[
                FixStep(description="see the certificate state", command=f"istioctl proxy-config secret {name} -n {ns}"),
                FixStep(description="check the CA (istiod) for signing errors", command=f"kubectl logs -n {ctx.conn.istio_namespace} -l app=istiod --tail=200"),
                FixStep(description="restart the pod so pilot-agent requests a new certificate", command=f"kubectl delete pod {name} -n {ns}"),
            ],
            ordered=True,
        ))
    return _result(problems, ctx, decided=True,
                   ok_summary=f"workload certificate and root CA are ACTIVE and valid on {pod.metadata.name}"
                   + (f" and {len(targets) - 1} peer(s) examined" if len(targets) > 1 else ""), na_summary="")


def _identity(td: str, pod: Any) -> str:
    return f"spiffe://{td}/ns/{pod.metadata.namespace}/sa/{pod.spec.service_account_name or 'default'}"


def _san_matches(san: str, identity: str) -> bool:
    if san == identity:
        return True
    # prefix matchers (trust-domain aliases) are printed as their prefix
    return san.endswith("/") and identity.startswith(san)


@check(
    "MTLS-SAN-MISMATCH",
    needs=(Need.POD, Need.DESTINATION_RULES, Need.SERVICES, Need.PODS),
    optional=(Need.CONFIG_DUMP, Need.ENVOY_STATS, Need.PROXY_LOGS, Need.CONTROL_PLANE_CONFIGMAPS),
    peer_needs=(Need.CONFIG_DUMP,),
)
def san_mismatch(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The subject alternative names a client verifies (DestinationRule subjectAltNames, or the ones in its
    Envoy cluster) match none of the server pods' SPIFFE identities."""
    pod = ctx.pod()
    ctx.pods()  # required: the namespace's pods decide who serves what
    ctx.resources(Need.DESTINATION_RULES)
    try:
        mesh_td = ctx.mesh_config(pod.revision).trust_domain or "cluster.local"
    except Exception:  # noqa: BLE001 - mesh config is corroboration only: Istio's default trust domain
        mesh_td = "cluster.local"
    problems: list[Problem] = []
    decided = False

    def server_td(server: Any) -> str:
        peer = _pod_dump(ctx, server)
        if peer is not None:
            for s in peer.secrets:
                if s.name == "default" and s.trust_domain:
                    return s.trust_domain
        return mesh_td

    def judge(dr: Any | None, sans: list[str], source: str, host: str, port: int, servers: list[Any], client: Any | None,
              extra_ev: list[EvidenceRef], entries: list[AccessLogEntry]) -> None:
        idents = sorted({_identity(server_td(s), s) for s in servers})
        if not idents or any(_san_matches(x, i) for x in sans for i in idents):
            return
        ev = list(extra_ev) + [ctx.ref(Need.PODS, "\n".join(idents), "identities the server pods present (service accounts)",
                                       namespace=servers[0].metadata.namespace)]
        observed: list[str] = []
        stats = ctx.ev.get_or(None, Need.ENVOY_STATS, client.metadata.namespace, client.metadata.name) if client is not None else None
        if stats:
            n = sum(v for k, v in stats.items() if k.endswith("ssl.fail_verify_san") and host in k)
            if n:
                observed.append(f"ssl.fail_verify_san = {n} on the clusters of {host}")
                ev.append(ctx.ref(Need.ENVOY_STATS, "\n".join(f"{k}: {v}" for k, v in stats.items() if k.endswith("ssl.fail_verify_san") and host in k and v),
                                  "SAN verification failures", namespace=client.metadata.namespace, name=client.metadata.name))
        cvf = [e for e in entries if _CVF in _tls_text(e)]
        if cvf:
            ev.append(ctx.ref(Need.PROXY_LOGS, _raw(cvf), "certificate verification fails"))
            observed += _summarize(cvf, host)
        problems.append(Problem(
            summary=(f"{source} verifies subjectAltNames {sans} for {host}:{port}, but its server pods present {idents}: "
                     "the handshake fails certificate verification"),
            short=f"SANs {sans[:2]} vs {idents[:2]}",
            confidence=0.93 if observed else 0.75,
            fix_summary="make subjectAltNames match the server's service account identity (or remove them and let Istio derive them); "
            "after a trust-domain change, configure trustDomainAliases",
            evidence=ev, observed=observed,
            resources=[f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}"] if dr is not None else [],
            steps=[FixStep(description=f"set subjectAltNames of DestinationRule {dr.metadata.namespace}/{dr.metadata.name} to {idents[0]} (or remove the field)",
                           command=f"kubectl edit destinationrule {dr.metadata.name} -n {dr.metadata.namespace}")] if dr is not None
            else [FixStep(description="check the trust domain and aliases of the mesh (meshConfig.trustDomain / trustDomainAliases)",
                          command=f"kubectl -n {ctx.conn.istio_namespace} get configmap istio -o jsonpath='{{.data.mesh}}'")],
        ))

    if pod.has_sidecar:
        for d in _client_dests(ctx, pod):
            svc, sps = _server_ports(ctx, d.host, d.port)
            servers = [s.pod for s in (sps or []) if s.pod.has_sidecar]
            if not servers:
                continue
            applied = _applied(ctx, d.host, pod.metadata.namespace, pod.labels)
            tls = _dr_tls(applied.rule, d.port, d.subset) if applied is not None else (None, "")
            cl, ctls = _cluster_tls(ctx, pod, d.host, d.port, d.subset)
            if ctls is not None and ctls.mode == "istio_mutual" and ctls.sans:
                decided = True
                judge(applied.rule if applied and tls[0] is not None and tls[0].subject_alt_names else None, list(ctls.sans),
                      f"the client's Envoy cluster {cl.name}", d.host, d.port, servers, pod,
                      [ctx.ref(Need.CONFIG_DUMP, f"{_describe_cluster_tls(cl)}\nsubjectAltNames verified: {list(ctls.sans)}", "what the client's Envoy verifies")],
                      d.entries)
            elif tls[0] is not None and tls[0].mode == "ISTIO_MUTUAL" and tls[0].subject_alt_names:
                decided = True
                if ctls is not None and ctls.mode != "istio_mutual":
                    continue
                judge(applied.rule, list(tls[0].subject_alt_names), f"DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name}",
                      d.host, d.port, servers, pod, [ctx.ref(Need.DESTINATION_RULES, _dr_excerpt(applied.rule), f"{tls[1]}.subjectAltNames")], d.entries)
    if pod.has_sidecar:
        for sp in _own_served_ports(ctx, pod):
            for dr, _why in _drs_targeting(ctx, sp.svc.fqdn()):
                tls, where = _dr_tls(dr, sp.port.port, None)
                if tls is None or tls.mode != "ISTIO_MUTUAL" or not tls.subject_alt_names:
                    continue
                decided = True
                if any(f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}" in p.resources for p in problems):
                    continue
                judge(dr, list(tls.subject_alt_names), f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}", sp.svc.fqdn(), sp.port.port,
                      [pod], None, [ctx.ref(Need.DESTINATION_RULES, _dr_excerpt(dr), f"{where}.subjectAltNames")], [])
    return _result(problems, ctx, decided=decided,
                   ok_summary="the subjectAltNames verified match the server identities",
                   na_summary="no subjectAltNames are verified on the paths examined")


# --------------------------------------------------------------------------------------
# MTLS-PEER-NO-CERT
# --------------------------------------------------------------------------------------


@check(
    "MTLS-PEER-NO-CERT",
    needs=(Need.POD, Need.ENVOY_STATS),
    optional=(Need.PROXY_LOGS, Need.PEER_AUTHENTICATIONS, Need.SERVICES, Need.PODS, Need.CONTROL_PLANE_CONFIGMAPS),
)
def peer_no_cert(ctx: CheckContext, _: NoParams) -> CheckResult:
    """TLS without a client certificate reaches a STRICT port (silent in the default access log)."""
    pod = ctx.pod()
    stats = ctx.ev.get(Need.ENVOY_STATS, ctx.namespace, ctx.pod_name)
    names = {k: v for k, v in stats.items() if k.startswith("listener.") and k.endswith("ssl.fail_verify_no_cert") and v > 0}
    log = ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name)
    debug = [e for e in (log.events if log is not None else []) if _NO_CERT in e.raw]
    if log is not None:
        debug += [e for e in log.entries if _NO_CERT in _tls_text(e)]  # type: ignore[misc]
    if not names and not debug:
        has_listener_ssl = any(k.startswith("listener.") and ".ssl." in k for k in stats)
        if has_listener_ssl:
            return CheckResult.passed("ssl.fail_verify_no_cert is 0 on every inbound listener")
        return CheckResult.not_applicable("no TLS listener statistics on this proxy (no inbound mTLS)")
    strict = []
    if ctx.ev.has(Need.PEER_AUTHENTICATIONS) and ctx.ev.has(Need.SERVICES):
        strict = [s for s in _own_served_ports(ctx, pod) if s.mtls is not None and s.mtls.mode == "STRICT"]
    total = sum(names.values())
    ev = []
    if names:
        ev.append(ctx.ref(Need.ENVOY_STATS, "\n".join(f"{k}: {v}" for k, v in names.items()), "TLS handshakes without a client certificate"))
    if debug:
        ev.append(ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in debug[:3]), "Envoy connection log"))
    where = (f"port(s) {', '.join(str(s.target) for s in strict)} are STRICT ({strict[0].mtls.source})" if strict
             else "the inbound listener requires an Istio client certificate")
    return CheckResult.failed(
        f"{total or len(debug)} TLS connection(s) to this pod presented no client certificate (PEER_DID_NOT_RETURN_A_CERTIFICATE) and were "
        f"rejected: {where}. A client speaks plain TLS (its own HTTPS, or a DestinationRule SIMPLE) instead of Istio mTLS",
        evidence=ev,
        observed=[f"ssl.fail_verify_no_cert = {total}"] if total else [f"{len(debug)}× {_NO_CERT} in the Envoy connection log"],
        confidence=0.85 if strict else 0.75,
        fix=Fix(summary="send the traffic through a mesh client (its sidecar adds the Istio certificate), or accept plaintext/TLS on that port with PERMISSIVE",
                steps=[FixStep(description="find the client: raise the connection log level and look for the peer address",
                               command=f"istioctl proxy-config log {pod.metadata.name} -n {pod.metadata.namespace} --level connection:debug"),
                       FixStep(description="watch the counter while reproducing",
                               command=f"kubectl exec {pod.metadata.name} -n {pod.metadata.namespace} -c istio-proxy -- pilot-agent request GET stats | grep fail_verify_no_cert")]
                + ([_pa_port_fix(strict[0], "PERMISSIVE")] if strict else [])),
        resources=[f"Pod {pod.metadata.namespace}/{pod.metadata.name}"],
    )


# --------------------------------------------------------------------------------------
# MTLS-PORT-LEVEL-PA
# --------------------------------------------------------------------------------------


@check(
    "MTLS-PORT-LEVEL-PA",
    needs=(Need.POD, Need.PEER_AUTHENTICATIONS, Need.SERVICES, Need.PODS),
    optional=(Need.PROXY_LOGS, Need.CONTROL_PLANE_CONFIGMAPS),
    peer_needs=(Need.PROXY_LOGS,),
)
def port_level_pa(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A PeerAuthentication's portLevelMtls is keyed by the Service port, but Istio matches the workload (target) port."""
    pod = ctx.pod()
    ctx.pods()  # required: the namespace's pods decide who serves what
    pas = ctx.resources(Need.PEER_AUTHENTICATIONS)
    servers: list[Any] = [pod] if pod.has_sidecar else []
    if pod.has_sidecar:
        for d in _client_dests(ctx, pod, dr_namespace_hosts=False):
            _svc, sps = _server_ports(ctx, d.host, d.port)
            servers += [s.pod for s in (sps or []) if s.pod.has_sidecar]
    problems: list[Problem] = []
    decided = False
    seen: set[tuple[str, str, int]] = set()
    for server in servers:
        ns = server.metadata.namespace
        for pa in pas:
            if pa.metadata.namespace != ns or not pa.spec.port_level_mtls or not pa.is_workload_level or not pa.spec.selector.matches(server.labels):
                continue
            decided = True
            workload_ports = {cp.container_port for c in server.app_containers for cp in c.ports}
            svc_ports = [(svc, sp, container_port_for(svc, sp, server)) for svc in ctx.services_selecting(server) for sp in svc.spec.ports]
            workload_ports |= {t for _s, _p, t in svc_ports if t is not None}
            for key, m in pa.spec.port_level_mtls.items():
                if key in workload_ports or not m.mode or m.mode == "UNSET":
                    continue
                hit = next(((svc, sp, t) for svc, sp, t in svc_ports if sp.port == key and t is not None and t != key), None)
                if hit is None:
                    continue  # an undeclared app port is possible: no evidence of a wrong key
                svc, sp, tgt = hit
                eff = effective_mtls(ctx, server, tgt)
                k = (pa.metadata.namespace, pa.metadata.name, key)
                if eff.mode == m.mode or k in seen:
                    continue
                seen.add(k)
                nr = _server_nr_entries(ctx, server, tgt) if eff.mode == "STRICT" else []
                ev = [ctx.ref(Need.PEER_AUTHENTICATIONS, _obj_excerpt(pa, "PeerAuthentication"), f"portLevelMtls keyed by {key}"),
                      ctx.ref(Need.SERVICES, {"name": svc.metadata.name, "namespace": svc.metadata.namespace,
                                              "ports": [p.model_dump(mode="json", by_alias=True, exclude_none=True) for p in svc.spec.ports]},
                              f"Service port {key} targets workload port {tgt}")]
                if nr:
                    ev.append(ctx.ref(Need.PROXY_LOGS, _raw(nr), "plaintext still rejected on the target port",
                                      namespace=server.metadata.namespace, name=server.metadata.name))
                problems.append(Problem(
                    summary=(f"PeerAuthentication {pa.metadata.namespace}/{pa.metadata.name} sets portLevelMtls {key}: {m.mode}, but {key} is the "
                             f"port of Service {svc.metadata.name}; pod {server.metadata.name} listens on {tgt}, so the exception never applies "
                             f"and port {tgt} stays {eff.mode} ({eff.source})"),
                    short=f"portLevelMtls {key} should be {tgt}",
                    confidence=0.9 if nr else 0.8,
                    fix_summary=f"key portLevelMtls by the container port {tgt}, not the Service port {key}",
                    evidence=ev, observed=_summarize(nr, f"{server.metadata.name}:{tgt}") if nr else [],
                    resources=[f"PeerAuthentication {pa.metadata.namespace}/{pa.metadata.name}", f"Service {svc.metadata.namespace}/{svc.metadata.name}"],
                    steps=[FixStep(description=f"replace the key {key} with {tgt}",
                                   command=(f"kubectl patch peerauthentication {pa.metadata.name} -n {pa.metadata.namespace} --type=json "
                                            f"-p='[{{\"op\":\"remove\",\"path\":\"/spec/portLevelMtls/{key}\"}},{{\"op\":\"add\",\"path\":\"/spec/portLevelMtls/{tgt}\",\"value\":{{\"mode\":\"{m.mode}\"}}}}]'"))],
                ))
    return _result(problems, ctx, decided=decided,
                   ok_summary="every portLevelMtls key is a workload port",
                   na_summary="no workload-level PeerAuthentication with portLevelMtls applies to the pods examined")


# --------------------------------------------------------------------------------------
# MTLS-DOUBLE-TLS and MTLS-HTTPS-ON-HTTP-PORT
# --------------------------------------------------------------------------------------


def _se_ports(ctx: CheckContext, client_ns: str) -> list[tuple[Any, Any]]:
    out = []
    for se in ctx.resources(Need.SERVICE_ENTRIES):
        if not exported_to(se.spec.export_to, se.metadata.namespace or "default", client_ns):
            continue
        for p in se.spec.ports:
            out.append((se, p))
    return out


@check(
    "MTLS-DOUBLE-TLS",
    needs=(Need.POD, Need.SERVICE_ENTRIES, Need.DESTINATION_RULES),
    optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP, Need.CONTROL_PLANE_CONFIGMAPS),
)
def double_tls(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The app sends HTTPS to a ServiceEntry port declared HTTPS/TLS and a DestinationRule also originates TLS."""
    pod = ctx.pod()
    if not pod.has_sidecar:
        return CheckResult.not_applicable("the pod has no sidecar: nothing originates TLS on its behalf")
    ctx.resources(Need.DESTINATION_RULES)
    problems: list[Problem] = []
    decided = False
    log = ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name)
    for se, p in _se_ports(ctx, pod.metadata.namespace):
        proto = (p.protocol or "").upper()
        for h in se.spec.hosts:
            applied = destination_rule_for(ctx, h, pod.metadata.namespace, pod.labels)
            if applied is None:
                continue
            tls, where = _dr_tls(applied.rule, p.number, None)
            if tls is None:
                continue
            decided = True
            if proto not in ("HTTPS", "TLS") or tls.mode not in ("SIMPLE", "MUTUAL"):
                continue
            entries = [e for e in (log.entries if log is not None else [])
                       if e.upstream_service is not None and e.upstream_service.fqdn == h and e.upstream_service.port == p.number and is_failure(e)]
            wvn = [e for e in (log.entries if log is not None else []) if _WVN in _tls_text(e)]
            ev = [ctx.ref(Need.SERVICE_ENTRIES, _obj_excerpt(se, "ServiceEntry"), f"port {p.number} protocol {p.protocol}: the application itself sends TLS"),
                  ctx.ref(Need.DESTINATION_RULES, _dr_excerpt(applied.rule), f"{where}.mode: {tls.mode}: the sidecar originates TLS again")]
            observed = _summarize(entries + wvn, h)
            if entries or wvn:
                ev.append(ctx.ref(Need.PROXY_LOGS, _raw(entries + wvn), "requests to that host"))
            problems.append(Problem(
                summary=(f"ServiceEntry {se.metadata.namespace}/{se.metadata.name} declares {h}:{p.number} as {p.protocol} (the application sends TLS) "
                         f"and DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name} sets {where}.mode: {tls.mode} (the sidecar "
                         "wraps it in TLS again): the server receives TLS inside TLS and the client sees WRONG_VERSION_NUMBER"),
                short=f"double TLS to {h}:{p.number}",
                confidence=0.9 if observed else 0.82,
                fix_summary="either let the application send plain HTTP (port protocol HTTP + DR SIMPLE = TLS origination), or drop the DR tls so the app's own TLS passes through",
                evidence=ev, observed=observed,
                resources=[f"ServiceEntry {se.metadata.namespace}/{se.metadata.name}", f"DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name}"],
                steps=[FixStep(description=f"remove the TLS origination from DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name} for port {p.number}",
                               command=f"kubectl edit destinationrule {applied.rule.metadata.name} -n {applied.rule.metadata.namespace}"),
                       FixStep(description="or call the host with http:// on an HTTP port and keep the DR SIMPLE (TLS origination, see istio.io egress TLS origination)")],
            ))
    return _result(problems, ctx, decided=decided,
                   ok_summary="no ServiceEntry port declared HTTPS/TLS also gets TLS origination from a DestinationRule",
                   na_summary="no DestinationRule with TLS applies to a ServiceEntry host visible to this pod")


_HTTP_PROTOS = ("HTTP", "HTTP2", "GRPC", "GRPC-WEB")


def _svc_port_protocol(sp: Any) -> str | None:
    """Istio's protocol for a Service port: appProtocol, else the name prefix; None = undeclared."""
    if sp.app_protocol:
        ap = sp.app_protocol.lower()
        return {"http": "HTTP", "https": "HTTPS", "http2": "HTTP2", "grpc": "GRPC", "tls": "TLS", "tcp": "TCP",
                "kubernetes.io/h2c": "HTTP2", "kubernetes.io/ws": "HTTP", "kubernetes.io/wss": "HTTPS"}.get(ap, ap.upper())
    name = (sp.name or "").lower()
    prefix = name.split("-", 1)[0]
    known = {"http": "HTTP", "http2": "HTTP2", "grpc": "GRPC", "grpc-web": "GRPC-WEB", "https": "HTTPS", "tls": "TLS", "tcp": "TCP",
             "mongo": "MONGO", "mysql": "MYSQL", "redis": "REDIS", "udp": "UDP"}
    if name.startswith("grpc-web"):
        return "GRPC-WEB"
    return known.get(prefix)


@check(
    "MTLS-HTTPS-ON-HTTP-PORT",
    needs=(Need.POD, Need.SERVICE_ENTRIES, Need.SERVICES),
    optional=(Need.PROXY_LOGS,),
)
def https_on_http_port(ctx: CheckContext, _: NoParams) -> CheckResult:
    """HTTPS is sent to a port the mesh was told is plain HTTP (ServiceEntry/Service port protocol): 400 DPE."""
    pod = ctx.pod()
    if not pod.has_sidecar:
        return CheckResult.not_applicable("the pod has no sidecar: no proxy parses its traffic as HTTP")
    ses = _se_ports(ctx, pod.metadata.namespace)
    svcs = ctx.services()
    log = ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name)
    problems: list[Problem] = []
    dpe = [e for e in (log.entries if log is not None else []) if "DPE" in e.response_flags]
    by_port: dict[int, list[AccessLogEntry]] = {}
    for e in dpe:
        port = _port_of(e.downstream_local_address)
        if port is not None:
            by_port.setdefault(port, []).append(e)
    for port, entries in by_port.items():
        ip = _ip_of(entries[0].downstream_local_address)
        decl: tuple[str, Any, Any] | None = None
        for svc in svcs:
            if svc.spec.cluster_ip == ip or (pod.ip == ip and svc.selects(pod)):
                sp = svc.port(port) or next((x for x in svc.spec.ports if container_port_for(svc, x, pod) == port), None)
                if sp is not None and _svc_port_protocol(sp) in _HTTP_PROTOS:
                    decl = ("Service", svc, sp)
                    break
        if decl is None:
            for se, p in ses:
                if p.number == port and (p.protocol or "").upper() in _HTTP_PROTOS and (not se.spec.addresses or ip in se.spec.addresses or True):
                    decl = ("ServiceEntry", se, p)
                    break
        if decl is None:
            continue
        kind, obj, p = decl
        proto = _svc_port_protocol(p) if kind == "Service" else p.protocol
        pnum = p.port if kind == "Service" else p.number
        ev = [ctx.ref(Need.PROXY_LOGS, _raw(entries), "400 DPE: the proxy could not parse the bytes as HTTP"),
              ctx.ref(Need.SERVICES if kind == "Service" else Need.SERVICE_ENTRIES, _obj_excerpt(obj, kind), f"port {pnum} declared {proto}")]
        tlsish = port in (443, 8443) or "https" in (getattr(p, "name", "") or "").lower()
        problems.append(Problem(
            summary=(f"{len(entries)} request(s) on port {port} ended in 400 DPE (downstream protocol error): {kind} {obj.metadata.namespace}/{obj.metadata.name} "
                     f"declares port {pnum} as {proto}, so the sidecar parses the client's TLS bytes as HTTP"),
            short=f"DPE on {port}",
            confidence=0.9 if tlsish else 0.72,
            fix_summary="declare the port as HTTPS (or TLS) so the sidecar passes the TLS stream through, or send plain HTTP",
            evidence=ev, observed=_summarize(entries, f"port {port}"),
            resources=[f"{kind} {obj.metadata.namespace}/{obj.metadata.name}"],
            steps=[FixStep(description=f"declare port {pnum} of {kind} {obj.metadata.namespace}/{obj.metadata.name} as HTTPS "
                           + ("(name it https-… or set appProtocol: https)" if kind == "Service" else "(protocol: HTTPS)"),
                           command=f"kubectl edit {kind.lower()} {obj.metadata.name} -n {obj.metadata.namespace}")],
        ))
    # Config alone: port 443 declared HTTP on a ServiceEntry is the documented mistake.
    for se, p in ses:
        if p.number == 443 and (p.protocol or "").upper() in _HTTP_PROTOS and (p.target_port in (None, 443)):
            if any(f"ServiceEntry {se.metadata.namespace}/{se.metadata.name}" in x.resources for x in problems):
                continue
            problems.append(Problem(
                summary=(f"ServiceEntry {se.metadata.namespace}/{se.metadata.name} declares port 443 of {', '.join(se.spec.hosts[:2])} as {p.protocol}: "
                         "HTTPS clients there get 400 DPE or reset, because the sidecar expects plain HTTP"),
                short=f"443 declared {p.protocol}",
                confidence=0.65,
                fix_summary="declare port 443 as HTTPS (or TLS)",
                evidence=[ctx.ref(Need.SERVICE_ENTRIES, _obj_excerpt(se, "ServiceEntry"), f"port 443 protocol {p.protocol}")],
                resources=[f"ServiceEntry {se.metadata.namespace}/{se.metadata.name}"],
                steps=[FixStep(description="set protocol: HTTPS on port 443", command=f"kubectl edit serviceentry {se.metadata.name} -n {se.metadata.namespace}")],
            ))
    return _result(problems, ctx, decided=log is not None or bool(ses),
                   ok_summary="no downstream protocol error (DPE) and no HTTPS port declared as HTTP",
                   na_summary="no proxy log and no ServiceEntry to judge")


# --------------------------------------------------------------------------------------
# MTLS-SERVER-FIRST-PERMISSIVE
# --------------------------------------------------------------------------------------

#: well-known server-first protocols: the server speaks before the client sends anything.
_SERVER_FIRST = {3306: "MySQL", 25: "SMTP", 587: "SMTP", 21: "FTP", 22: "SSH", 110: "POP3", 143: "IMAP", 4222: "NATS"}
_SERVER_FIRST_NAMES = {"mysql": "MySQL", "mariadb": "MySQL", "smtp": "SMTP", "ftp": "FTP", "ssh": "SSH", "pop3": "POP3", "imap": "IMAP", "nats": "NATS"}


def _server_first(sp: Any, target: int | None) -> str | None:
    name = (sp.name or "").lower()
    for k, v in _SERVER_FIRST_NAMES.items():
        if name == k or name.startswith(k + "-") or name.endswith("-" + k):
            return v
    return _SERVER_FIRST.get(sp.port) or (_SERVER_FIRST.get(target) if target is not None else None)


@check(
    "MTLS-SERVER-FIRST-PERMISSIVE",
    needs=(Need.POD, Need.SERVICES, Need.PEER_AUTHENTICATIONS, Need.PODS),
    optional=(Need.PROXY_LOGS, Need.CONTROL_PLANE_CONFIGMAPS),
)
def server_first_permissive(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A server-first protocol (MySQL, SMTP, ...) sits on a port the mesh sniffs: undeclared protocol, or PERMISSIVE mTLS."""
    pod = ctx.pod()
    ctx.pods()  # required: the namespace's pods decide who serves what
    ctx.resources(Need.PEER_AUTHENTICATIONS)
    sps: list[ServerPort] = list(_own_served_ports(ctx, pod)) if pod.has_sidecar else []
    if pod.has_sidecar:
        for d in _client_dests(ctx, pod, dr_namespace_hosts=False):
            _svc, s = _server_ports(ctx, d.host, d.port)
            sps += [x for x in (s or []) if x.port is not None]
    problems: list[Problem] = []
    decided = False
    seen: set[str] = set()
    for s in sps:
        if s.port is None:
            continue
        proto_name = _server_first(s.port, s.target)
        if proto_name is None:
            continue
        decided = True
        key = f"{s.svc.metadata.namespace}/{s.svc.metadata.name}:{s.port.port}"
        if key in seen:
            continue
        declared = _svc_port_protocol(s.port)
        undeclared = declared is None
        permissive = s.mtls is not None and s.mtls.mode == "PERMISSIVE"
        if not undeclared and not permissive:
            continue
        seen.add(key)
        why = []
        if undeclared:
            why.append(f"port {s.port.port} ('{s.port.name or ''}') declares no protocol, so client sidecars wait for the first client bytes to sniff it")
        if permissive:
            why.append(f"{s.mtls.source} leaves port {s.target} PERMISSIVE, so the server sidecar waits for the first bytes to tell mTLS from plaintext")
        ev = [ctx.ref(Need.SERVICES, {"name": s.svc.metadata.name, "namespace": s.svc.metadata.namespace,
                                      "ports": [p.model_dump(mode="json", by_alias=True, exclude_none=True) for p in s.svc.spec.ports]}, f"{proto_name} port")]
        if permissive:
            ev.append(ctx.ref(Need.PEER_AUTHENTICATIONS, _pa_excerpt(s.mtls), f"{s.mtls.source}: PERMISSIVE"))
        steps = []
        if undeclared:
            steps.append(FixStep(description=f"declare the port as TCP (name it tcp-{proto_name.lower()} or set appProtocol: tcp)",
                                 command=f"kubectl patch service {s.svc.metadata.name} -n {s.svc.metadata.namespace} --type=json "
                                 f"-p='[{{\"op\":\"add\",\"path\":\"/spec/ports/{s.svc.spec.ports.index(s.port)}/appProtocol\",\"value\":\"tcp\"}}]'"))
        if permissive or undeclared:
            steps.append(_pa_port_fix(s, "STRICT") if s.pod.has_sidecar else FixStep(description="use STRICT or DISABLE for that port"))
        problems.append(Problem(
            summary=(f"{proto_name} is a server-first protocol (the server speaks first) on {key}: " + "; and ".join(why)
                     + ": plaintext connections hang until a timeout"),
            short=f"{proto_name} on {key}",
            confidence=0.72 if undeclared and permissive else (0.68 if undeclared else 0.6),
            fix_summary="declare server-first ports as TCP and use STRICT (or DISABLE) mTLS on them, never PERMISSIVE",
            evidence=ev,
            resources=[f"Service {s.svc.metadata.namespace}/{s.svc.metadata.name}"],
            steps=steps,
        ))
    return _result(problems, ctx, decided=decided,
                   ok_summary="server-first ports examined are declared TCP and not PERMISSIVE",
                   na_summary="no server-first protocol port among the services examined")


# --------------------------------------------------------------------------------------
# MTLS-AUTHZ-CONFUSION
# --------------------------------------------------------------------------------------

_MATCHED = re.compile(r"rbac_access_denied_matched_policy\[(?P<p>.*)\]")
_POLICY = re.compile(r"ns\[(?P<ns>[^\]]*)\]-policy\[(?P<name>[^\]]*)\]")


def _rbac_entries(log: Any) -> list[AccessLogEntry]:
    if log is None:
        return []
    return [e for e in log.entries if _RBAC in (e.response_code_details or "") or _RBAC in (e.connection_termination_details or "")]


def _policies_for(ctx: CheckContext, pod: Any) -> list[Any]:
    root = root_namespace(ctx)
    out = []
    for ap in ctx.ev.get_or([], Need.AUTHORIZATION_POLICIES):
        if ap.metadata.namespace not in (pod.metadata.namespace, root):
            continue
        sel = ap.spec.selector
        if sel is not None and not sel.is_empty and not sel.matches(pod.labels):
            continue
        if ap.spec.target_ref is not None or ap.spec.target_refs:
            continue  # waypoint / gateway policies: not enforced by this sidecar
        out.append(ap)
    return out


@check(
    "MTLS-AUTHZ-CONFUSION",
    needs=(Need.POD, Need.AUTHORIZATION_POLICIES),
    optional=(Need.PROXY_LOGS, Need.SERVICES, Need.PODS, Need.PEER_AUTHENTICATIONS, Need.CONTROL_PLANE_CONFIGMAPS),
    peer_needs=(Need.PROXY_LOGS,),
)
def authz_confusion(ctx: CheckContext, _: NoParams) -> CheckResult:
    """An AuthorizationPolicy denies the requests (403 RBAC / TCP reset): not an mTLS problem."""
    pod = ctx.pod()
    aps = ctx.resources(Need.AUTHORIZATION_POLICIES)
    own_log = ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name)
    denied: list[tuple[Any, list[AccessLogEntry]]] = []
    mine = _rbac_entries(own_log)
    if mine:
        denied.append((pod, mine))
    for r in ctx.related:
        rp = ctx.ev.get_or(None, Need.POD, r.namespace, r.name)
        es = _rbac_entries(ctx.ev.get_or(None, Need.PROXY_LOGS, r.namespace, r.name))
        if rp is not None and es:
            denied.append((rp, es))
    if denied:
        server, entries = denied[0]
        names: list[str] = []
        for e in entries:
            m = _MATCHED.search((e.response_code_details or "") + " " + (e.connection_termination_details or ""))
            if m and m.group("p") not in names:
                names.append(m.group("p"))
        pols = []
        for n in names:
            pm = _POLICY.search(n)
            if pm:
                pols += [a for a in aps if a.metadata.namespace == pm.group("ns") and a.metadata.name == pm.group("name")]
        if not pols or "none" in names:
            pols += [a for a in _policies_for(ctx, server) if a.spec.action == "ALLOW" and a not in pols]
        ev = [ctx.ref(Need.PROXY_LOGS, _raw(entries), "denied by the RBAC filter of the server's sidecar",
                      namespace=server.metadata.namespace, name=server.metadata.name)]
        if pols:
            ev.append(ctx.ref(Need.AUTHORIZATION_POLICIES, [_obj_excerpt(a, "AuthorizationPolicy") for a in pols[:3]], "the policies involved"))
        pol_txt = (", ".join(f"{a.metadata.namespace}/{a.metadata.name} ({a.spec.action})" for a in pols[:3]) if pols
                   else "an AuthorizationPolicy")
        how = ("no ALLOW policy matched (matched_policy[none])" if names == ["none"] or not names
               else "matched " + ", ".join(names[:2]))
        needs_mtls = [a for a in pols if any(r.needs_mtls for r in a.spec.rules)]
        extra = ""
        if needs_mtls:
            extra = (f"; policy {needs_mtls[0].metadata.namespace}/{needs_mtls[0].metadata.name} matches on principals/namespaces, "
                     "which exist only for mTLS traffic: plaintext callers never match it")
        return CheckResult.failed(
            f"{len(entries)} request(s) to {server.metadata.namespace}/{server.metadata.name} were denied by AuthorizationPolicy ({how}): "
            f"{pol_txt}. This is an authorization decision, not an mTLS failure{extra}",
            evidence=ev,
            observed=_summarize(entries, server.metadata.name),
            confidence=0.96,
            resources=[f"AuthorizationPolicy {a.metadata.namespace}/{a.metadata.name}" for a in pols[:3]],
            fix=Fix(summary="change the AuthorizationPolicy to allow this caller (or fix the caller's identity); leave mTLS settings alone",
                    steps=[FixStep(description="see which policies apply and why", command=f"istioctl x authz check {server.metadata.name} -n {server.metadata.namespace}")]
                    + [FixStep(description=f"review the rules of AuthorizationPolicy {a.metadata.namespace}/{a.metadata.name}",
                               command=f"kubectl get authorizationpolicy {a.metadata.name} -n {a.metadata.namespace} -o yaml") for a in pols[:2]]),
        )
    # Client view without the server's log: 403 answers from a host whose pods carry policies.
    if own_log is not None and pod.has_sidecar:
        by_host: dict[str, list[AccessLogEntry]] = {}
        for e in own_log.entries:
            us = e.upstream_service
            if e.direction == "outbound" and e.response_code == 403 and us is not None and us.fqdn and e.app_responded:
                by_host.setdefault(us.fqdn, []).append(e)
        for host, es in by_host.items():
            svc = service_for_host(ctx, host)
            pods = _pods_in(ctx, svc.metadata.namespace) if svc is not None else None
            servers = [p for p in (pods or []) if svc is not None and svc.selects(p)]
            pols = [a for s in servers[:1] for a in _policies_for(ctx, s)]
            if not pols:
                continue
            return CheckResult.failed(
                f"{len(es)} request(s) to {host} got 403 from the server side, where AuthorizationPolicy "
                + ", ".join(f"{a.metadata.namespace}/{a.metadata.name} ({a.spec.action})" for a in pols[:3])
                + " applies: an authorization denial (\"RBAC: access denied\"), not an mTLS failure",
                evidence=[ctx.ref(Need.PROXY_LOGS, _raw(es), "403 answered by the server's proxy"),
                          ctx.ref(Need.AUTHORIZATION_POLICIES, [_obj_excerpt(a, "AuthorizationPolicy") for a in pols[:3]], "policies on the server")],
                observed=_summarize(es, host), confidence=0.8,
                resources=[f"AuthorizationPolicy {a.metadata.namespace}/{a.metadata.name}" for a in pols[:3]],
                fix=Fix(summary="change the AuthorizationPolicy to allow this caller; leave mTLS settings alone",
                        steps=[FixStep(description="see which policies apply and why", command=f"istioctl x authz check {servers[0].metadata.name} -n {servers[0].metadata.namespace}")]),
            )
    if own_log is None and not any(ctx.ev.has(Need.PROXY_LOGS, r.namespace, r.name) for r in ctx.related):
        return CheckResult.not_applicable("no proxy log to look for RBAC denials in")
    return CheckResult.passed("no request was denied by an AuthorizationPolicy (no rbac_access_denied in the logs)")
