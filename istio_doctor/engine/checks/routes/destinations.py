"""Route destinations: ``ROUTE-DEST-HOST-UNKNOWN`` (a destination host that is in no registry),
``ROUTE-SUBSET-UNDEFINED`` (a subset no DestinationRule defines) and ``ROUTE-PORT-AMBIGUOUS`` (no
port for a multi-port destination).
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from istio_doctor.engine.checks.routes._proxy import (
    _authority_host,
    _entries,
    _is_nc,
    _is_nr,
    _is_route_failure,
    _lines,
    _log,
)
from istio_doctor.engine.checks.routes._resources import (
    _analyze,
    _analyze_ref,
    _dump,
    _gateways_selecting,
    _gw_refs,
    _in_registry,
    _obj_excerpt,
    _relevant_vs_for_pod,
    _service_by_fqdn,
    _service_for_authority,
    _vs_bound_to,
    _vs_excerpt,
    _vs_matches_host,
    _vs_ns,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import client_host, config_host, service_host
from istio_doctor.engine.mesh import all_destination_rules_for, destination_rule_for
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import Need
from istio_doctor.engine.mesh.visibility import exported_to

# --------------------------------------------------------------------------------------
# destinations: hosts, subsets, ports
# --------------------------------------------------------------------------------------


def _candidate_vs(ctx: CheckContext, pod: Any, entries: list[Any]) -> list[tuple[Any, str]]:
    """VirtualServices that may explain the examined pod's failures, with the client namespace.

    A gateway pod: the VirtualServices bound to its Gateways. A client: the mesh VirtualServices
    for the authorities of its failing requests. A server: the ones routing to its Services.
    """
    out: dict[tuple[str, str], tuple[Any, str]] = {}
    vss = ctx.resources(Need.VIRTUAL_SERVICES)
    if pod.is_gateway:
        for g in _gateways_selecting(ctx, pod):
            for vs in _vs_bound_to(ctx, g):
                out[(_vs_ns(vs), vs.metadata.name)] = (vs, ctx.namespace)
    else:
        for e in entries:
            host = _authority_host(e.authority)
            if not host:
                continue
            svc = _service_for_authority(ctx, host, ctx.namespace)
            sfq = service_host(ctx, svc) if svc is not None else None
            for vs in vss:
                if vs.applies_to_mesh and exported_to(vs.spec.export_to, _vs_ns(vs), ctx.namespace) and _vs_matches_host(ctx, vs, host, sfq):
                    out[(_vs_ns(vs), vs.metadata.name)] = (vs, ctx.namespace)
    for vs in _relevant_vs_for_pod(ctx, pod):
        out.setdefault((_vs_ns(vs), vs.metadata.name), (vs, _vs_ns(vs)))
    return list(out.values())


def _nc_entries(ctx: CheckContext) -> list[Any]:
    return [e for e in _entries(_log(ctx)) if _is_nc(e)]


#: The checks of where a VirtualService sends the examined pod's traffic read the same optional
#: evidence: the proxy's log (the hosts it called, NC flags), its config dump, the Gateways a
#: VirtualService binds, and analyze's messages.
_VS_DEST_OPTIONAL = (Need.PROXY_LOGS, Need.CONFIG_DUMP, Need.GATEWAYS, Need.ANALYZE)


def _called(ctx: CheckContext) -> list[Any]:
    """Entries of the hosts the examined pod calls (successful or not): their VirtualServices matter."""
    return [e for e in _entries(_log(ctx)) if e.authority and (e.direction == "outbound" or _is_route_failure(e))]


def _routing_virtual_services(ctx: CheckContext) -> tuple[Any, list[Any], list[tuple[Any, str]]] | CheckResult:
    """The examined pod, its 503 NC lines and the VirtualServices that route its traffic (with the
    client namespace each applies for), or not applicable when none does: the opening of the checks
    on a VirtualService's destinations."""
    pod = ctx.pod()
    nc = _nc_entries(ctx)
    cands = _candidate_vs(ctx, pod, _called(ctx))
    if not cands:
        return CheckResult.not_applicable("no VirtualService routes the examined pod's traffic")
    return pod, nc, cands


@check("ROUTE-DEST-HOST-UNKNOWN", needs=(Need.POD, Need.VIRTUAL_SERVICES, Need.SERVICES, Need.SERVICE_ENTRIES),
       optional=_VS_DEST_OPTIONAL)
def dest_host_unknown(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A VirtualService routes to a host that is in no registry (no Service, no ServiceEntry): 503 NC."""
    opening = _routing_virtual_services(ctx)
    if isinstance(opening, CheckResult):
        return opening
    pod, nc, cands = opening
    dump = ctx.ev.get_or(None, Need.CONFIG_DUMP, ctx.namespace, ctx.pod_name)
    for vs, _client_ns in cands:
        vns = _vs_ns(vs)
        for d in vs.destinations:
            r = config_host(ctx, d.host, vns)
            if _in_registry(ctx, r):
                continue
            if dump is not None and dump.clusters_for(r):
                continue  # Envoy knows it (e.g. a registry we cannot list): not unknown
            hits = [e for e in nc if _vs_matches_host(ctx, vs, _authority_host(e.authority), None) or pod.is_gateway] or \
                   [e for e in nc if e.route_name and e.route_name in {h.name for h in vs.spec.http if h.name}]
            intended = client_host(ctx, d.host, vns)
            names = [f"{s.metadata.name}.{s.metadata.namespace}" for s in ctx.services()]
            close = difflib.get_close_matches(f"{d.host.split('.')[0]}.{(d.host.split('.') + [vns])[1]}" if "." in d.host else f"{d.host}.{vns}", names, n=1)
            if _in_registry(ctx, intended) and intended != r:
                suggestion, variant = intended, "literal"  # a dotted short name is not expanded
            elif close:
                suggestion, variant = client_host(ctx, close[0], vns), "close"
            else:
                suggestion, variant = "", None
            evidence = []
            if hits:
                evidence.append(ctx.ref(Need.PROXY_LOGS, _lines(hits), "503 NC cluster_not_found"))
            evidence.append(ctx.ref(Need.VIRTUAL_SERVICES, _vs_excerpt(vs), f"destination host {d.host}"))
            if dump is not None:
                evidence.append(ctx.ref(Need.CONFIG_DUMP, f"istioctl proxy-config cluster {ctx.pod_name}.{ctx.namespace} --fqdn {r}: (no clusters)",
                                        "Envoy has no cluster for the host"))
            evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0101"], kind="VirtualService", name=vs.metadata.name, contains=d.host))
            steps = []
            if suggestion:
                steps.append(FixStep(description=f"point the destination at {suggestion}",
                                     command=f"kubectl edit virtualservice {vs.metadata.name} -n {vns}",
                                     yaml_patch=f"- destination:\n    host: {suggestion}"))
            else:
                steps.append(FixStep(description=f"register {r} with a ServiceEntry if it is an external host",
                                     yaml_patch=("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n"
                                                 f"  name: {r.replace('.', '-')[:50]}\n  namespace: {vns}\nspec:\n  hosts:\n  - {r}\n"
                                                 "  location: MESH_EXTERNAL\n  resolution: DNS\n  ports:\n  - number: 443\n    name: tls\n    protocol: TLS")))
            return CheckResult.failed(
                message=variant,
                args={"vs": f"{vns}/{vs.metadata.name}", "vs_name": vs.metadata.name, "host": d.host, "resolved": r,
                      "intended": intended, "suggestion": suggestion or None},
                corroboration="logs" if hits else None,
                evidence=evidence, observed=[f"{len(hits)}× 503 NC cluster_not_found"] if hits else [],
                resources=[f"VirtualService {vns}/{vs.metadata.name}"],
                fix=Fix(steps=steps),
            )
    return CheckResult.passed(f"every destination of {len(cands)} VirtualService(s) is a known Service or ServiceEntry host")


@check("ROUTE-SUBSET-UNDEFINED", needs=(Need.POD, Need.VIRTUAL_SERVICES, Need.DESTINATION_RULES, Need.SERVICES),
       optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP, Need.GATEWAYS, Need.SERVICE_ENTRIES, Need.ANALYZE, Need.CONTROL_PLANE_CONFIGMAPS,
                 Need.DESCRIBE, Need.PODS))
def subset_undefined(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A VirtualService routes to a subset that no DestinationRule defines: 503 NC (older proxies: NR)."""
    pod = ctx.pod()
    nc = _nc_entries(ctx)
    nr = [e for e in _entries(_log(ctx)) if _is_nr(e)]
    cands = _candidate_vs(ctx, pod, _called(ctx))
    subset_dests = [(vs, cns, d) for vs, cns in cands for d in vs.destinations if d.subset]
    if not subset_dests:
        return CheckResult.not_applicable("no VirtualService of the examined pod's traffic routes to a subset")
    dump = ctx.ev.get_or(None, Need.CONFIG_DUMP, ctx.namespace, ctx.pod_name)
    for vs, cns, d in subset_dests:
        vns = _vs_ns(vs)
        host = config_host(ctx, d.host, vns)
        applied = destination_rule_for(ctx, host, cns, pod.labels if cns == ctx.namespace else None)
        if applied is not None and applied.rule.subset(d.subset) is not None:
            continue
        anywhere = [dr for dr in all_destination_rules_for(ctx, host) if dr.subset(d.subset) is not None]
        if anywhere:
            continue  # defined, but hidden or shadowed: ROUTE-EXPORTTO-HIDDEN decides
        port = d.port.number if d.port else None
        if dump is not None and dump.clusters_for(host, port, d.subset):
            continue
        hits = [e for e in nc + nr if _vs_matches_host(ctx, vs, _authority_host(e.authority), host)] or nc
        evidence = []
        if hits:
            evidence.append(ctx.ref(Need.PROXY_LOGS, _lines(hits), "requests routed to the missing subset fail"))
        evidence.append(ctx.ref(Need.VIRTUAL_SERVICES, _vs_excerpt(vs), f"routes to subset {d.subset} of {d.host}"))
        if applied is not None:
            evidence.append(ctx.ref(Need.DESTINATION_RULES, _obj_excerpt(applied.rule, "DestinationRule"),
                                    f"{applied.why} defines subsets {[s.name for s in applied.rule.spec.subsets]} only"))
        if dump is not None:
            evidence.append(ctx.ref(Need.CONFIG_DUMP, f"istioctl proxy-config cluster {ctx.pod_name}.{ctx.namespace} --fqdn {host} --subset {d.subset}: (no clusters)",
                                    "Envoy has no cluster for the subset"))
        evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0101"], kind="VirtualService", name=vs.metadata.name, contains=d.subset))
        svc = _service_by_fqdn(ctx, host)
        labels = {"version": d.subset}
        if svc is not None:
            pods = [p for p in ctx.ev.get_or([], Need.PODS, svc.metadata.namespace) if svc.selects(p)]
            versions = sorted({p.labels.get("version") for p in pods if p.labels.get("version")})
            if d.subset in versions:
                labels = {"version": d.subset}
        if applied is not None:
            dr = applied.rule
            subsets = [_dump(s) for s in dr.spec.subsets] + [{"name": d.subset, "labels": labels}]
            dr_yaml = json.dumps({"spec": {"subsets": subsets}}, indent=2)
            dr_cmd = f"kubectl patch destinationrule {dr.metadata.name} -n {dr.metadata.namespace} --type merge -p '{json.dumps({'spec': {'subsets': subsets}})}'"
        else:
            dr_yaml = (f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: {host.split('.')[0]}\n  namespace: {vns}\n"
                       f"spec:\n  host: {host}\n  subsets:\n  - name: {d.subset}\n    labels:\n" + "".join(f"      {k}: {v}\n" for k, v in labels.items()))
            dr_cmd = "kubectl apply -f destinationrule.yaml"
        if (dref := ctx.describe_ref(("NO DESTINATION RULE", "UNKNOWN subset"), "istioctl x describe agrees")) is not None:
            evidence.append(dref)
        return CheckResult.failed(
            args={"vs": f"{vns}/{vs.metadata.name}", "subset": d.subset, "host": host, "port": port or "*",
                  "dr": applied.why if applied else None, "dr_subsets": [s.name for s in applied.rule.spec.subsets] if applied else []},
            corroboration="logs" if hits else None,
            evidence=evidence, observed=[f"{len(hits)}× {hits[0].response_code} {','.join(hits[0].response_flags)} {hits[0].response_code_details or ''}".strip()] if hits else [],
            resources=[f"VirtualService {vns}/{vs.metadata.name}"] + ([f"DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name}"] if applied else []),
            fix=Fix(ordered=True,
                    steps=[FixStep(description=f"add subset {d.subset} to the DestinationRule", command=dr_cmd, yaml_patch=dr_yaml),
                           FixStep(description="wait until the proxy has the subset cluster",
                                   command=f"istioctl proxy-config cluster {ctx.pod_name}.{ctx.namespace} --fqdn {host} --subset {d.subset}"),
                           FixStep(description="only then apply the VirtualService that routes to it",
                                   command=f"kubectl get virtualservice {vs.metadata.name} -n {vns} -o yaml | kubectl apply -f -")]),
        )
    return CheckResult.passed("every subset the VirtualServices route to is defined by the DestinationRule that applies")


@check("ROUTE-PORT-AMBIGUOUS", needs=(Need.POD, Need.VIRTUAL_SERVICES, Need.SERVICES),
       optional=_VS_DEST_OPTIONAL)
def port_ambiguous(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A VirtualService destination omits the port of a multi-port Service Envoy cannot infer."""
    opening = _routing_virtual_services(ctx)
    if isinstance(opening, CheckResult):
        return opening
    pod, nc, cands = opening
    for vs, _cns in cands:
        vns = _vs_ns(vs)
        gateway_bound = bool(_gw_refs(vs))
        vs_fqdns = {config_host(ctx, h, vns) for h in vs.spec.hosts}
        for d in vs.destinations:
            if d.port is not None and d.port.number:
                continue
            svc = _service_by_fqdn(ctx, config_host(ctx, d.host, vns))
            if svc is None or len(svc.spec.ports) < 2:
                continue
            host = service_host(ctx, svc)
            # A mesh VS routing a service to itself keeps the listener's port: no ambiguity there.
            if not gateway_bound and host in vs_fqdns:
                continue
            hits = [e for e in nc if _vs_matches_host(ctx, vs, _authority_host(e.authority), None) or pod.is_gateway]
            ports = [p.port for p in svc.spec.ports]
            evidence = []
            if hits:
                evidence.append(ctx.ref(Need.PROXY_LOGS, _lines(hits), "503 NC: no cluster for the guessed port"))
            evidence += [ctx.ref(Need.VIRTUAL_SERVICES, _vs_excerpt(vs), f"destination {d.host} without port"),
                         ctx.ref(Need.SERVICES, {"name": svc.metadata.name, "namespace": svc.metadata.namespace,
                                                 "ports": [_dump(p) for p in svc.spec.ports]}, "the Service has several ports")]
            evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0112"], kind="VirtualService", name=vs.metadata.name))
            return CheckResult.failed(
                args={"vs": f"{vns}/{vs.metadata.name}", "host": d.host, "service": f"{svc.metadata.namespace}/{svc.metadata.name}", "ports": ports},
                corroboration="logs" if hits else None,
                evidence=evidence, observed=[f"{len(hits)}× 503 NC cluster_not_found"] if hits else [],
                resources=[f"VirtualService {vns}/{vs.metadata.name}", f"Service {svc.metadata.namespace}/{svc.metadata.name}"],
                fix=Fix(steps=[FixStep(description="add the port", command=f"kubectl edit virtualservice {vs.metadata.name} -n {vns}",
                                       yaml_patch=f"- destination:\n    host: {d.host}\n    port:\n      number: {ports[0]}")]),
            )
    return CheckResult.passed("every destination of a multi-port Service names its port")
