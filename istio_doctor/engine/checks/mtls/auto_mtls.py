"""Which TLS settings a client really applies: ``MTLS-AUTO-OFF`` (``enableAutoMtls: false`` and no
DestinationRule asks for ISTIO_MUTUAL towards a STRICT workload) and ``MTLS-DR-SHADOWING`` (a
DestinationRule without TLS settings wins over another one for the same host that sets
ISTIO_MUTUAL).
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.checks.mtls._reading import (
    STRICT_PATH_NEEDS,
    Problem,
    ServerPort,
    _applied,
    _client_dests,
    _client_reset_entries,
    _cluster_tls,
    _describe_cluster_tls,
    _dr_excerpt,
    _dr_tls,
    _dr_tls_fix,
    _own_served_ports,
    _pa_excerpt,
    _raw,
    _result,
    _server_nr_entries,
    _server_ports,
    _summarize,
    examined_pod,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import client_host, service_host
from istio_doctor.engine.mesh import destination_rule_for
from istio_doctor.engine.model import CheckResult, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.accesslog import AccessLogEntry
from istio_doctor.evidence.bundle import Need
from istio_doctor.engine.mesh.hosts import host_matches
from istio_doctor.engine.mesh.visibility import exported_to

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
        if not dr.spec.host or not host_matches(client_host(ctx, dr.spec.host, ns), host):
            continue
        if not exported_to(dr.spec.export_to, ns, client_ns):
            continue
        tls, where = _dr_tls(dr, port, None)
        if tls is not None and tls.mode:
            out.append((dr, tls, where))
    return out


#: The auto-mTLS checks read meshConfig (``enableAutoMtls``) on top of the STRICT path; the client
#: proxy's logs and config dump corroborate what the resources say.
_AUTO_MTLS_NEEDS = (*STRICT_PATH_NEEDS, Need.CONTROL_PLANE_CONFIGMAPS)
_AUTO_MTLS_OPTIONAL = (Need.PROXY_LOGS, Need.CONFIG_DUMP)


@check("MTLS-AUTO-OFF", needs=_AUTO_MTLS_NEEDS, optional=_AUTO_MTLS_OPTIONAL, peer_needs=(Need.PROXY_LOGS,))
def auto_mtls_off(ctx: CheckContext, _: NoParams) -> CheckResult:
    """meshConfig.enableAutoMtls is false and no DestinationRule asks for ISTIO_MUTUAL towards a STRICT workload."""
    pod = examined_pod(ctx)
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
            level = None
            observed: list[str] = []
            if cl is not None:
                ev.append(ctx.ref(Need.CONFIG_DUMP, _describe_cluster_tls(cl), "the client's Envoy sends plaintext"))
                level = "config_dump"
            resets = _client_reset_entries(d.entries)
            if resets:
                ev.append(ctx.ref(Need.PROXY_LOGS, _raw(resets), "the client's failing requests"))
                observed = _summarize(resets, d.host)
                level = "client_logs"
            problems.append(Problem(
                args={"dr": f"{applied.rule.metadata.namespace}/{applied.rule.metadata.name}" if applied else None,
                      "host": d.host, "port": d.port, "peer_authentication": s0.mtls.source, "target_port": s0.target},
                short=f"plaintext to STRICT {d.host}:{d.port}",
                level=level,
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
        host = service_host(ctx, sp.svc)
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
            message="server",
            args={"host": host, "peer_authentication": sp.mtls.source, "target_port": sp.target},
            short=f"no ISTIO_MUTUAL rule for STRICT {host}",
            level="server_rejects" if nr else "server_config",
            evidence=ev, observed=_summarize(nr, f"{pod.metadata.name}:{sp.target}") if nr else [],
            resources=[f"Service {sp.svc.metadata.namespace}/{sp.svc.metadata.name}"],
            steps=_auto_off_steps(ctx, host, sp),
        ))
        break
    return _result(problems, ctx, check="MTLS-AUTO-OFF", decided=decided,
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


@check("MTLS-DR-SHADOWING", needs=_AUTO_MTLS_NEEDS, optional=_AUTO_MTLS_OPTIONAL, peer_needs=(Need.PROXY_LOGS,))
def dr_shadowing(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A DestinationRule without TLS wins over another one for the same host that sets ISTIO_MUTUAL, and the
    resulting plaintext meets a STRICT workload (auto mTLS off)."""
    pod = examined_pod(ctx)
    if not pod.has_sidecar:
        return CheckResult.not_applicable("the pod has no sidecar: DestinationRules do not apply to its traffic")
    auto, _mc = _auto_mtls(ctx, pod)
    problems: list[Problem] = []
    decided = False
    cands: list[tuple[str, int, str | None, str, list[AccessLogEntry]]] = [
        (d.host, d.port, d.subset, pod.metadata.namespace, d.entries) for d in _client_dests(ctx, pod)
    ]
    cands += [(service_host(ctx, sp.svc), sp.port.port, None, sp.svc.metadata.namespace, []) for sp in _own_served_ports(ctx, pod)]
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
            args={"winner": f"{applied.rule.metadata.namespace}/{applied.rule.metadata.name}", "winner_host": applied.rule.spec.host,
                  "shadowed": f"{dr0.metadata.namespace}/{dr0.metadata.name}", "shadowed_host": dr0.spec.host, "where": where,
                  "host": host, "client_namespace": client_ns, "target_port": s0.target, "peer_authentication": s0.mtls.source},
            short=f"{applied.rule.metadata.name} shadows {dr0.metadata.name}",
            level="logs" if observed else None,
            evidence=ev, observed=observed,
            resources=[f"DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name}", f"DestinationRule {dr0.metadata.namespace}/{dr0.metadata.name}"],
            steps=[_dr_tls_fix(applied.rule, "trafficPolicy.tls")],
        ))
    return _result(problems, ctx, check="MTLS-DR-SHADOWING", decided=decided,
                   ok_summary="several DestinationRules match a host examined, but the winning one still leads to mTLS",
                   na_summary="no host examined has more than one DestinationRule with TLS settings")
