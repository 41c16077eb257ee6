"""Which config a proxy sees: ``ROUTE-VS-HOST-CONFLICT`` (VirtualServices competing for one host),
``ROUTE-EXPORTTO-HIDDEN`` (``exportTo`` hides a resource from the client's namespace) and
``ROUTE-SIDECAR-SCOPE`` (a Sidecar's egress hosts do not import the destination).
"""

from __future__ import annotations

import json
from typing import Any

from istio_doctor.engine.checks.routes._proxy import _authority_host, _entries, _is_nr, _is_route_failure, _lines, _log
from istio_doctor.engine.checks.routes._resources import (
    _analyze,
    _analyze_ref,
    _dump,
    _obj_excerpt,
    _relevant_hosts,
    _service_by_fqdn,
    _service_entries_for,
    _service_for_authority,
    _vs_excerpt,
    _vs_matches_host,
    _vs_ns,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh import all_destination_rules_for, destination_rule_for, root_namespace
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import Need
from istio_doctor.engine.mesh.hosts import host_matches, resolve_short_name
from istio_doctor.engine.mesh.visibility import exported_to

# --------------------------------------------------------------------------------------
# VirtualService conflicts, visibility (exportTo, Sidecar)
# --------------------------------------------------------------------------------------


@check("ROUTE-VS-HOST-CONFLICT", needs=(Need.POD, Need.VIRTUAL_SERVICES, Need.SERVICES),
       optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP, Need.ANALYZE))
def vs_host_conflict(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Several mesh VirtualServices define the same host: sidecars use only one of them."""
    pod = ctx.pod()
    hosts = _relevant_hosts(ctx, pod)
    by_host: dict[str, list[Any]] = {}
    for vs in ctx.resources(Need.VIRTUAL_SERVICES):
        if not vs.applies_to_mesh:
            continue
        for h in vs.spec.hosts:
            r = resolve_short_name(h, _vs_ns(vs))
            if r in hosts or (_vs_ns(vs) == ctx.namespace and "*" not in r):
                by_host.setdefault(r, []).append(vs)
    conflicts = {h: v for h, v in by_host.items() if len({(_vs_ns(x), x.metadata.name) for x in v}) > 1}
    if not conflicts:
        return CheckResult.passed(f"no host of {sorted(hosts) or 'the examined pod'} is defined by more than one mesh VirtualService")
    host, vss = sorted(conflicts.items())[0]
    vss = sorted({(_vs_ns(x), x.metadata.name): x for x in vss}.values(), key=lambda x: (str(x.metadata.creation_timestamp or ""), _vs_ns(x), x.metadata.name))
    winner = vss[0]
    dump = ctx.ev.get_or(None, Need.CONFIG_DUMP, ctx.namespace, ctx.pod_name)
    evidence = [ctx.ref(Need.VIRTUAL_SERVICES, [_vs_excerpt(v) for v in vss], f"VirtualServices defining {host}")]
    if dump is not None:
        for rc in dump.routes:
            for vh in rc.virtual_hosts:
                if host in vh.domains and vh.routes:
                    used = sorted({r.virtual_service for r in vh.routes if r.virtual_service})
                    if used:
                        evidence.append(ctx.ref(Need.CONFIG_DUMP, {"route": rc.name, "virtual_host": vh.name, "virtual_service": used},
                                                "the VirtualService the sidecar actually uses"))
                        name, _, ns = used[0].partition(".")
                        winner = next((v for v in vss if v.metadata.name == name and _vs_ns(v) == ns), winner)
                    break
    losers = [v for v in vss if v is not winner]
    nr = [e for e in _entries(_log(ctx)) if _is_nr(e)]
    evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0109"]))
    return CheckResult.failed(
        f"{len(vss)} VirtualServices define host {host} for the mesh ({', '.join(f'{_vs_ns(v)}/{v.metadata.name}' for v in vss)}); "
        f"sidecars apply only {_vs_ns(winner)}/{winner.metadata.name}, so the rules of "
        f"{', '.join(f'{_vs_ns(v)}/{v.metadata.name}' for v in losers)} are ignored",
        evidence=evidence, observed=[f"{len(nr)}× 404 NR route_not_found"] if nr else [],
        confidence=0.85 if nr else 0.75, resources=[f"VirtualService {_vs_ns(v)}/{v.metadata.name}" for v in vss],
        fix=Fix(summary=f"merge the http rules into one VirtualService for {host} (or use delegate VirtualServices)",
                steps=[FixStep(description=f"move the rules of {losers[0].metadata.name} into {winner.metadata.name}",
                               command=f"kubectl edit virtualservice {winner.metadata.name} -n {_vs_ns(winner)}"),
                       FixStep(description="delete the duplicate", command=f"kubectl delete virtualservice {losers[0].metadata.name} -n {_vs_ns(losers[0])}")],
                ordered=True),
    )


def _failing_targets(ctx: CheckContext) -> dict[str, tuple[Any, list[Any]]]:
    """Services the examined (client) pod failed to reach through routing: fqdn -> (Service, entries)."""
    out: dict[str, tuple[Any, list[Any]]] = {}
    for e in _entries(_log(ctx)):
        if not _is_route_failure(e) or not e.authority:
            continue
        svc = _service_for_authority(ctx, _authority_host(e.authority), ctx.namespace)
        if svc is None:
            continue
        out.setdefault(svc.fqdn(), (svc, []))[1].append(e)
    return out


@check("ROUTE-EXPORTTO-HIDDEN", needs=(Need.POD, Need.PROXY_LOGS, Need.SERVICES, Need.VIRTUAL_SERVICES, Need.DESTINATION_RULES),
       optional=(Need.CONFIG_DUMP, Need.SERVICE_ENTRIES, Need.CONTROL_PLANE_CONFIGMAPS))
def exportto_hidden(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The exportTo of the Service / ServiceEntry / DestinationRule hides it from the client's namespace."""
    pod = ctx.pod()
    if pod.is_gateway:
        return CheckResult.not_applicable("gateway routes are not limited by exportTo of the client namespace here")
    ctx.proxy_log(), ctx.services(), ctx.resources(Need.VIRTUAL_SERVICES), ctx.resources(Need.DESTINATION_RULES)  # required
    targets = _failing_targets(ctx)
    if not targets:
        return CheckResult.not_applicable("no failing routed request from the examined pod")
    dump = ctx.ev.get_or(None, Need.CONFIG_DUMP, ctx.namespace, ctx.pod_name)
    cns = ctx.namespace
    for host, (svc, es) in targets.items():
        ann = svc.annotations.get("networking.istio.io/exportTo")
        exp = [x.strip() for x in ann.split(",")] if ann else []
        hidden_obj = None
        if exp and not exported_to(exp, svc.metadata.namespace, cns):
            hidden_obj = (f"Service {svc.metadata.namespace}/{svc.metadata.name}", f"annotation networking.istio.io/exportTo: {ann}",
                          {"metadata": {"name": svc.metadata.name, "namespace": svc.metadata.namespace,
                                        "annotations": {"networking.istio.io/exportTo": ann}}}, Need.SERVICES,
                          f"kubectl annotate service {svc.metadata.name} -n {svc.metadata.namespace} --overwrite networking.istio.io/exportTo='{ann},{cns}'")
        if hidden_obj is None:
            for vs in ctx.resources(Need.VIRTUAL_SERVICES):
                if not vs.applies_to_mesh or not exported_to(vs.spec.export_to, _vs_ns(vs), cns) or not _vs_matches_host(vs, host, host):
                    continue
                for d in vs.destinations:
                    if not d.subset:
                        continue
                    h = resolve_short_name(d.host, _vs_ns(vs))
                    applied = destination_rule_for(ctx, h, cns, pod.labels)
                    if applied is not None and applied.rule.subset(d.subset) is not None:
                        continue
                    for dr in all_destination_rules_for(ctx, h):
                        if dr.subset(d.subset) is not None and dr.spec.export_to and not exported_to(dr.spec.export_to, dr.metadata.namespace, cns):
                            hidden_obj = (f"DestinationRule {dr.metadata.namespace}/{dr.metadata.name}",
                                          f"exportTo {dr.spec.export_to} (defines subset {d.subset} routed to by VirtualService {_vs_ns(vs)}/{vs.metadata.name})",
                                          _obj_excerpt(dr, "DestinationRule"), Need.DESTINATION_RULES,
                                          f"kubectl patch destinationrule {dr.metadata.name} -n {dr.metadata.namespace} --type merge -p "
                                          f"'{json.dumps({'spec': {'exportTo': list(dict.fromkeys(dr.spec.export_to + [cns]))}})}'")
                            break
                    if hidden_obj:
                        break
                if hidden_obj:
                    break
        if hidden_obj is None:
            for se in _service_entries_for(ctx, host):
                if se.spec.export_to and not exported_to(se.spec.export_to, se.metadata.namespace or "", cns):
                    hidden_obj = (f"ServiceEntry {se.metadata.namespace}/{se.metadata.name}", f"exportTo {se.spec.export_to}",
                                  _obj_excerpt(se, "ServiceEntry"), Need.SERVICE_ENTRIES,
                                  f"kubectl edit serviceentry {se.metadata.name} -n {se.metadata.namespace}")
                    break
        if hidden_obj is None:
            continue
        what, how, excerpt, need, cmd = hidden_obj
        evidence = [ctx.ref(Need.PROXY_LOGS, _lines(es), f"failing requests to {host}"),
                    ctx.ref(need, excerpt, f"{what} is not exported to {cns}")]
        if dump is not None:
            have = dump.clusters_for(host)
            evidence.append(ctx.ref(Need.CONFIG_DUMP, f"istioctl proxy-config cluster {ctx.pod_name}.{cns} --fqdn {host}: "
                                    + (", ".join(c.name for c in have) if have else "(no clusters)"), "what the client's proxy knows"))
        e0 = es[0]
        return CheckResult.failed(
            f"{what} has {how}, which excludes the client namespace {cns}; pod {pod.name} cannot use it and its requests to {host} fail "
            f"({e0.response_code} {','.join(e0.response_flags) or '-'} {e0.response_code_details or ''})".rstrip(),
            evidence=evidence, observed=[f"{len(es)}× {e0.response_code} {','.join(e0.response_flags) or '-'} {e0.response_code_details or ''} to {host}".strip()],
            confidence=0.9, resources=[what],
            fix=Fix(summary=f"export {what} to namespace {cns} (or to '*')", steps=[FixStep(description="widen exportTo", command=cmd)]),
        )
    return CheckResult.passed(f"Services, ServiceEntries and DestinationRules for {sorted(targets)} are exported to {cns}")


def _sidecar_for(ctx: CheckContext, pod: Any) -> Any | None:
    scs = ctx.resources(Need.SIDECARS)
    ns = pod.metadata.namespace
    for s in scs:
        if s.metadata.namespace == ns and s.spec.workload_selector and s.spec.workload_selector.labels and s.spec.workload_selector.matches(pod.labels):
            return s
    for s in scs:
        if s.metadata.namespace == ns and not (s.spec.workload_selector and s.spec.workload_selector.labels):
            return s
    root = root_namespace(ctx)
    for s in scs:
        if s.metadata.namespace == root and not (s.spec.workload_selector and s.spec.workload_selector.labels):
            return s
    return None


def _sidecar_imports(hosts: list[str], client_ns: str, svc_ns: str, host: str) -> bool:
    for h in hosts:
        ns, sep, name = h.partition("/")
        if not sep:
            ns, name = "*", h
        if not (ns == "*" or ns == svc_ns or (ns == "." and svc_ns == client_ns)):
            continue
        if name == "*" or host_matches(name, host):
            return True
    return False


@check("ROUTE-SIDECAR-SCOPE", needs=(Need.POD, Need.SIDECARS, Need.PROXY_LOGS, Need.SERVICES),
       optional=(Need.CONFIG_DUMP, Need.VIRTUAL_SERVICES, Need.CONTROL_PLANE_CONFIGMAPS, Need.SERVICE_ENTRIES))
def sidecar_scope(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A Sidecar resource's egress hosts do not import the service the pod calls."""
    pod = ctx.pod()
    if pod.is_gateway:
        return CheckResult.not_applicable("Sidecar resources do not apply to gateways")
    sc = _sidecar_for(ctx, pod)
    if sc is None or not sc.spec.egress:
        return CheckResult.not_applicable("no Sidecar resource with egress hosts applies to the pod")
    egress_hosts = [h for eg in sc.spec.egress for h in eg.hosts]
    log = ctx.proxy_log()
    ctx.services()  # required: hosts are resolved through it
    targets = _failing_targets(ctx)
    if not targets:
        called = sorted({s.fqdn() for e in log.entries if e.authority and e.direction == "outbound"
                         for s in [_service_for_authority(ctx, _authority_host(e.authority), ctx.namespace)] if s is not None})
        if called:
            return CheckResult.passed(f"no routed request of the pod failed; it reaches {called} within Sidecar "
                                      f"{sc.metadata.namespace}/{sc.metadata.name}")
    # the destinations of VirtualServices for those hosts must be imported too (else NC)
    checks: list[tuple[str, str, Any, list[Any]]] = []
    for host, (svc, es) in targets.items():
        checks.append((host, svc.metadata.namespace, svc, es))
        for vs in ctx.ev.get_or([], Need.VIRTUAL_SERVICES):
            if vs.applies_to_mesh and _vs_matches_host(vs, host, host):
                for d in vs.destinations:
                    r = resolve_short_name(d.host, _vs_ns(vs))
                    dsvc = _service_by_fqdn(ctx, r)
                    if dsvc is not None and r != host:
                        checks.append((r, dsvc.metadata.namespace, dsvc, es))
    if not checks:
        return CheckResult.not_applicable("no failing routed request to a known Service from the examined pod")
    for host, svc_ns, svc, es in checks:
        if _sidecar_imports(egress_hosts, ctx.namespace, svc_ns, host):
            continue
        dump = ctx.ev.get_or(None, Need.CONFIG_DUMP, ctx.namespace, ctx.pod_name)
        if dump is not None and dump.clusters_for(host):
            continue  # Envoy does have it: the Sidecar is not what hides it
        e0 = es[0]
        evidence = [ctx.ref(Need.PROXY_LOGS, _lines(es), f"failing requests to {host}"),
                    ctx.ref(Need.SIDECARS, _obj_excerpt(sc, "Sidecar"), f"egress hosts do not include {svc_ns}/{host}")]
        if dump is not None:
            evidence.append(ctx.ref(Need.CONFIG_DUMP, f"istioctl proxy-config cluster {ctx.pod_name}.{ctx.namespace} --fqdn {host}: (no clusters)",
                                    "the proxy has no cluster for it"))
        new_hosts = list(dict.fromkeys([*(sc.spec.egress[0].hosts), f"{svc_ns}/{host}"]))
        patch = {"spec": {"egress": [{**_dump(sc.spec.egress[0]), "hosts": new_hosts}] + [_dump(x) for x in sc.spec.egress[1:]]}}
        return CheckResult.failed(
            f"Sidecar {sc.metadata.namespace}/{sc.metadata.name} limits pod {pod.name}'s egress to {egress_hosts}, which does not include "
            f"{svc_ns}/{host}; the proxy has no route or cluster for it and requests fail "
            f"({e0.response_code} {','.join(e0.response_flags) or '-'} {e0.response_code_details or ''}, upstream {e0.upstream_cluster or '-'})",
            evidence=evidence, observed=[f"{len(es)}× {e0.response_code} {','.join(e0.response_flags) or '-'} to {host} via {e0.upstream_cluster or '-'}"],
            confidence=0.92, resources=[f"Sidecar {sc.metadata.namespace}/{sc.metadata.name}"],
            fix=Fix(summary=f"add {svc_ns}/{host} (or {svc_ns}/*) to the Sidecar's egress hosts",
                    steps=[FixStep(description="import the host",
                                   command=f"kubectl patch sidecar {sc.metadata.name} -n {sc.metadata.namespace} --type merge -p '{json.dumps(patch)}'",
                                   yaml_patch=json.dumps(patch, indent=2))]),
        )
    return CheckResult.passed(f"Sidecar {sc.metadata.namespace}/{sc.metadata.name} imports every host the failing requests target")
