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
from istio_doctor.engine.mesh.resolve import (
    config_host,
    service_entry_visible,
    service_export_default,
    service_host,
    service_visible,
)
from istio_doctor.engine.mesh import all_destination_rules_for, destination_rule_for, root_namespace
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import Need
from istio_doctor.engine.mesh.hosts import host_matches
from istio_doctor.engine.mesh.visibility import SERVICE_EXPORT_ANNOTATION, exported_to

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
            r = config_host(ctx, h, _vs_ns(vs))
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
        args={"count": len(vss), "host": host, "vss": [f"{_vs_ns(v)}/{v.metadata.name}" for v in vss],
              "winner": f"{_vs_ns(winner)}/{winner.metadata.name}", "losers": [f"{_vs_ns(v)}/{v.metadata.name}" for v in losers]},
        corroboration="logs" if nr else None,
        evidence=evidence, observed=[f"{len(nr)}× 404 NR route_not_found"] if nr else [],
        resources=[f"VirtualService {_vs_ns(v)}/{v.metadata.name}" for v in vss],
        fix=Fix(steps=[FixStep(description=f"move the rules of {losers[0].metadata.name} into {winner.metadata.name}",
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
        out.setdefault(service_host(ctx, svc), (svc, []))[1].append(e)
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
        ann = svc.annotations.get(SERVICE_EXPORT_ANNOTATION)
        hidden_obj = None
        if not service_visible(ctx, svc, cns):
            # the annotation, or (none set) MeshConfig defaultServiceExportTo
            default = service_export_default(ctx) if not ann else []
            hidden_obj = ("default" if default else "service",
                          {"kind": "Service", "resource": f"{svc.metadata.namespace}/{svc.metadata.name}", "export_to": ann, "default": default},
                          {"metadata": {"name": svc.metadata.name, "namespace": svc.metadata.namespace,
                                        "annotations": {SERVICE_EXPORT_ANNOTATION: ann} if ann else {}},
                           **({"meshConfig": {"defaultServiceExportTo": default}} if default else {})}, Need.SERVICES,
                          f"kubectl annotate service {svc.metadata.name} -n {svc.metadata.namespace} --overwrite "
                          f"{SERVICE_EXPORT_ANNOTATION}='{(ann.replace(' ', '') if ann else '.')},{cns}'")
        if hidden_obj is None:
            for vs in ctx.resources(Need.VIRTUAL_SERVICES):
                if not vs.applies_to_mesh or not exported_to(vs.spec.export_to, _vs_ns(vs), cns) or not _vs_matches_host(ctx, vs, host, host):
                    continue
                for d in vs.destinations:
                    if not d.subset:
                        continue
                    h = config_host(ctx, d.host, _vs_ns(vs))
                    applied = destination_rule_for(ctx, h, cns, pod.labels)
                    if applied is not None and applied.rule.subset(d.subset) is not None:
                        continue
                    for dr in all_destination_rules_for(ctx, h):
                        if dr.subset(d.subset) is not None and dr.spec.export_to and not exported_to(dr.spec.export_to, dr.metadata.namespace, cns):
                            hidden_obj = ("destination_rule",
                                          {"kind": "DestinationRule", "resource": f"{dr.metadata.namespace}/{dr.metadata.name}",
                                           "export_to": dr.spec.export_to, "subset": d.subset, "vs": f"{_vs_ns(vs)}/{vs.metadata.name}"},
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
                if not service_entry_visible(ctx, se, cns):
                    default = service_export_default(ctx) if not se.spec.export_to else []
                    hidden_obj = ("default" if default else "service_entry",
                                  {"kind": "ServiceEntry", "resource": f"{se.metadata.namespace}/{se.metadata.name}",
                                   "export_to": se.spec.export_to, "default": default},
                                  _obj_excerpt(se, "ServiceEntry"), Need.SERVICE_ENTRIES,
                                  f"kubectl edit serviceentry {se.metadata.name} -n {se.metadata.namespace}")
                    break
        if hidden_obj is None:
            continue
        variant, hidden, excerpt, need, cmd = hidden_obj
        what = f"{hidden['kind']} {hidden['resource']}"
        evidence = [ctx.ref(Need.PROXY_LOGS, _lines(es), f"failing requests to {host}"),
                    ctx.ref(need, excerpt, f"{what} is not exported to {cns}")]
        if dump is not None:
            have = dump.clusters_for(host)
            evidence.append(ctx.ref(Need.CONFIG_DUMP, f"istioctl proxy-config cluster {ctx.pod_name}.{cns} --fqdn {host}: "
                                    + (", ".join(c.name for c in have) if have else "(no clusters)"), "what the client's proxy knows"))
        e0 = es[0]
        return CheckResult.failed(
            message=variant,
            args={**hidden, "client_namespace": cns, "pod": pod.name, "host": host,
                  "failure": f"{e0.response_code} {','.join(e0.response_flags) or '-'} {e0.response_code_details or ''}".rstrip()},
            evidence=evidence, observed=[f"{len(es)}× {e0.response_code} {','.join(e0.response_flags) or '-'} {e0.response_code_details or ''} to {host}".strip()],
            resources=[what],
            fix=Fix(steps=[FixStep(description="widen exportTo", command=cmd)]),
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
        called = sorted({service_host(ctx, s) for e in log.entries if e.authority and e.direction == "outbound"
                         for s in [_service_for_authority(ctx, _authority_host(e.authority), ctx.namespace)] if s is not None})
        if called:
            return CheckResult.passed(f"no routed request of the pod failed; it reaches {called} within Sidecar "
                                      f"{sc.metadata.namespace}/{sc.metadata.name}")
    # the destinations of VirtualServices for those hosts must be imported too (else NC)
    checks: list[tuple[str, str, Any, list[Any]]] = []
    for host, (svc, es) in targets.items():
        checks.append((host, svc.metadata.namespace, svc, es))
        for vs in ctx.ev.get_or([], Need.VIRTUAL_SERVICES):
            if vs.applies_to_mesh and _vs_matches_host(ctx, vs, host, host):
                for d in vs.destinations:
                    r = config_host(ctx, d.host, _vs_ns(vs))
                    dsvc = _service_by_fqdn(ctx, r)
                    if dsvc is not None and r != host:
                        checks.append((r, dsvc.metadata.namespace, dsvc, es))
    if not checks:
        return CheckResult.not_applicable("no failing routed request to a known Service from the examined pod")
    for host, svc_ns, svc, es in checks:
        if _sidecar_imports(egress_hosts, ctx.namespace, svc_ns, host):
            continue
        if not service_visible(ctx, svc, ctx.namespace):
            continue  # not exported to this namespace at all: importing it would not help (ROUTE-EXPORTTO-HIDDEN)
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
            args={"sidecar": f"{sc.metadata.namespace}/{sc.metadata.name}", "pod": pod.name, "egress_hosts": egress_hosts,
                  "namespace": svc_ns, "host": host,
                  "failure": f"{e0.response_code} {','.join(e0.response_flags) or '-'} {e0.response_code_details or ''}",
                  "upstream": e0.upstream_cluster or "-"},
            evidence=evidence, observed=[f"{len(es)}× {e0.response_code} {','.join(e0.response_flags) or '-'} to {host} via {e0.upstream_cluster or '-'}"],
            resources=[f"Sidecar {sc.metadata.namespace}/{sc.metadata.name}"],
            fix=Fix(steps=[FixStep(description="import the host",
                                   command=f"kubectl patch sidecar {sc.metadata.name} -n {sc.metadata.namespace} --type merge -p '{json.dumps(patch)}'",
                                   yaml_patch=json.dumps(patch, indent=2))]),
        )
    return CheckResult.passed(f"Sidecar {sc.metadata.namespace}/{sc.metadata.name} imports every host the failing requests target")
