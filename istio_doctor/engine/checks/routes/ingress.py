"""Rules that apply differently to traffic entering through a gateway:
``ROUTE-INGRESS-SUBSET-IGNORED`` (mesh subset rules do not apply behind a gateway VirtualService)
and ``ROUTE-JWT-CLAIM`` (claim-based routing with no RequestAuthentication on the gateway).
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.checks.routes._proxy import _authority_host, _entries, _is_nr, _lines, _log
from istio_doctor.engine.checks.routes._resources import (
    _analyze,
    _analyze_ref,
    _gateways_selecting,
    _gw_key,
    _gw_refs,
    _pod_pool,
    _pod_services,
    _relevant_gateways,
    _relevant_vs_for_pod,
    _selected_pods,
    _service_by_fqdn,
    _vs_bound_to,
    _vs_excerpt,
    _vs_matches_host,
    _vs_ns,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import config_host, service_host
from istio_doctor.engine.mesh import destination_rule_for, root_namespace
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import Need

# --------------------------------------------------------------------------------------
# ingress subset rules, JWT claim routing
# --------------------------------------------------------------------------------------


@check("ROUTE-INGRESS-SUBSET-IGNORED", needs=(Need.POD, Need.VIRTUAL_SERVICES, Need.DESTINATION_RULES, Need.SERVICES),
       optional=(Need.GATEWAYS, Need.PODS, Need.CONFIG_DUMP, Need.ANALYZE, Need.CONTROL_PLANE_CONFIGMAPS))
def ingress_subset_ignored(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Subset rules of a mesh-only VirtualService do not apply to traffic entering through a gateway VirtualService."""
    pod = ctx.pod()
    vss = ctx.resources(Need.VIRTUAL_SERVICES)
    if pod.is_gateway:
        refs = {_gw_key(g) for g in _gateways_selecting(ctx, pod)}
        gw_vss = [v for v in vss if set(_gw_refs(v)) & refs]
    else:
        gw_vss = [v for v in _relevant_vs_for_pod(ctx, pod) if _gw_refs(v)]
    if not gw_vss:
        return CheckResult.not_applicable("no gateway-bound VirtualService carries the examined pod's traffic")
    mine = {service_host(ctx, s) for s in _pod_services(ctx, pod)}
    dump = ctx.ev.get_or(None, Need.CONFIG_DUMP, ctx.namespace, ctx.pod_name) if pod.is_gateway else None
    for gvs in gw_vss:
        if "mesh" in gvs.spec.gateways:
            continue
        for d in gvs.destinations:
            if d.subset:
                continue
            host = config_host(ctx, d.host, _vs_ns(gvs))
            if mine and not pod.is_gateway and host not in mine:
                continue
            svc = _service_by_fqdn(ctx, host)
            if svc is None:
                continue
            for mvs in vss:
                if _gw_refs(mvs) or not _vs_matches_host(ctx, mvs, host, host):
                    continue
                subsets = sorted({x.subset for x in mvs.destinations if x.subset and config_host(ctx, x.host, _vs_ns(mvs)) == host})
                if not subsets:
                    continue
                applied = destination_rule_for(ctx, host, _vs_ns(gvs))
                if applied is None:
                    continue
                pods = [p for p in ctx.ev.get_or([], Need.PODS, svc.metadata.namespace) if svc.selects(p)]
                if pods:
                    chosen = [p for p in pods if any((s := applied.rule.subset(n)) is not None and s.selects(p.labels) for n in subsets)]
                    others = [p.metadata.name for p in pods if p not in chosen]
                    table = ctx.ref(Need.PODS, "\n".join(f"{p.metadata.name}\t{p.labels.get('version', '-')}" for p in pods),
                                    "pods behind the Service (not all in the chosen subsets)", namespace=svc.metadata.namespace)
                elif dump is not None:
                    # The gateway's own EDS: endpoints of the whole service vs of the chosen subsets.
                    every = {f"{e.address}:{e.port}" for c in dump.clusters_for(host, subset="") for e in dump.endpoints_for(c.name)}
                    picked = {f"{e.address}:{e.port}" for n in subsets for c in dump.clusters_for(host, subset=n) for e in dump.endpoints_for(c.name)}
                    if not every or not picked:
                        continue
                    others = sorted(every - picked)
                    table = ctx.ref(Need.CONFIG_DUMP, f"outbound||{host}: {sorted(every)}\n" + "\n".join(
                        f"outbound|{n}|{host}: {sorted({f'{e.address}:{e.port}' for c in dump.clusters_for(host, subset=n) for e in dump.endpoints_for(c.name)})}"
                        for n in subsets), "endpoints of the service vs of the chosen subsets (gateway EDS)")
                else:
                    continue
                if not others:
                    continue  # every pod is in the chosen subsets: ingress traffic lands on the same pods
                evidence = [ctx.ref(Need.VIRTUAL_SERVICES, [_vs_excerpt(gvs), _vs_excerpt(mvs)], "gateway VS without subset vs mesh VS with subsets"), table]
                evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0140"]))
                return CheckResult.failed(
                    args={"gateway_vs": f"{_vs_ns(gvs)}/{gvs.metadata.name}", "gateways": gvs.spec.gateways, "host": host,
                          "mesh_vs": f"{_vs_ns(mvs)}/{mvs.metadata.name}", "mesh_vs_name": mvs.metadata.name, "subsets": subsets, "others": others},
                    evidence=evidence, resources=[f"VirtualService {_vs_ns(gvs)}/{gvs.metadata.name}", f"VirtualService {_vs_ns(mvs)}/{mvs.metadata.name}"],
                    fix=Fix(steps=[FixStep(description="set the subset on the gateway route", command=f"kubectl edit virtualservice {gvs.metadata.name} -n {_vs_ns(gvs)}",
                                           yaml_patch=f"- destination:\n    host: {d.host}\n    subset: {subsets[0]}")]),
                )
    return CheckResult.passed("gateway VirtualServices and mesh subset rules send traffic to the same pods")


def _claim_headers(vs: Any) -> list[str]:
    out = []
    for h in vs.spec.http:
        for m in h.match:
            out.extend(k for k in list(m.headers) + list(m.without_headers) if k.startswith("@request.auth.claims"))
    return sorted(set(out))


@check("ROUTE-JWT-CLAIM", needs=(Need.POD, Need.VIRTUAL_SERVICES, Need.GATEWAYS, Need.REQUEST_AUTHENTICATIONS),
       optional=(Need.PROXY_LOGS, Need.CONTROL_PLANE_PODS, Need.PODS, Need.SERVICES, Need.ANALYZE, Need.CONTROL_PLANE_CONFIGMAPS))
def jwt_claim(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A gateway VirtualService routes on JWT claims but no RequestAuthentication applies to the gateway."""
    pod = ctx.pod()
    gws = _relevant_gateways(ctx, pod)
    vss = [(g, v) for g in gws for v in _vs_bound_to(ctx, g) if _claim_headers(v)]
    if not vss:
        return CheckResult.not_applicable("no gateway VirtualService routes on @request.auth.claims")
    ras = ctx.resources(Need.REQUEST_AUTHENTICATIONS)
    root = root_namespace(ctx)
    pool, _ = _pod_pool(ctx, [g.metadata.namespace for g in gws])
    if pod.is_gateway:
        pool.append(pod)
    for g, vs in vss:
        gpods = _selected_pods(pool, g.spec.selector) or []
        labelsets = [p.labels for p in gpods] or [g.spec.selector]
        nss = {p.metadata.namespace for p in gpods} or {g.metadata.namespace}

        def applies(ra: Any) -> bool:
            sel = ra.spec.selector
            if ra.metadata.namespace == root and (sel is None or sel.is_empty):
                return True
            if ra.metadata.namespace not in nss:
                return False
            return sel is None or sel.is_empty or any(sel.matches(lbl) for lbl in labelsets)

        if any(applies(ra) for ra in ras):
            continue
        claims = _claim_headers(vs)
        log = _log(ctx) if pod.is_gateway else None
        hit = [e for e in _entries(log) if _is_nr(e) and _vs_matches_host(ctx, vs, _authority_host(e.authority), None)]
        evidence = []
        if hit:
            evidence.append(ctx.ref(Need.PROXY_LOGS, _lines(hit), "claim-based routes never match: 404 NR"))
        evidence.append(ctx.ref(Need.VIRTUAL_SERVICES, _vs_excerpt(vs), f"routes on {claims}"))
        evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0149"], kind="VirtualService", name=vs.metadata.name))
        gns = sorted(nss)[0]
        sel = {k: v for k, v in (gpods[0].labels if gpods else g.spec.selector).items() if k in ("istio", "app")} or g.spec.selector
        ra_yaml = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata:\n  name: ingress-jwt\n"
                   f"  namespace: {gns}\nspec:\n  selector:\n    matchLabels:\n" + "".join(f"      {k}: {v}\n" for k, v in sel.items())
                   + "  jwtRules:\n  - issuer: <issuer>\n    jwksUri: <jwks-uri>\n")
        return CheckResult.failed(
            args={"vs": f"{_vs_ns(vs)}/{vs.metadata.name}", "gateway": _gw_key(g), "claims": claims, "namespace": gns},
            corroboration="logs" if hit else None,
            evidence=evidence, observed=[f"{len(hit)}× 404 NR route_not_found at the gateway"] if hit else [],
            resources=[f"VirtualService {_vs_ns(vs)}/{vs.metadata.name}", f"Gateway {_gw_key(g)}"],
            fix=Fix(steps=[FixStep(description="create it", command="kubectl apply -f requestauthentication.yaml", yaml_patch=ra_yaml)]),
        )
    return CheckResult.passed("a RequestAuthentication applies to every gateway whose VirtualServices route on JWT claims")
