"""Gateway API checks: ``ROUTE-GWAPI-NOT-ACCEPTED`` (a Gateway or HTTPRoute whose status says it was
not accepted or programmed) and ``ROUTE-GWAPI-CRD`` (Gateway API CRDs missing or of an unsupported
version).
"""

from __future__ import annotations

from istio_doctor.engine.checks.routes._resources import _analyze, _analyze_ref, _pod_services
from istio_doctor.engine.catalogue import load_catalogue
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import Need

# --------------------------------------------------------------------------------------
# Gateway API
# --------------------------------------------------------------------------------------


@check("ROUTE-GWAPI-NOT-ACCEPTED", needs=(Need.POD, Need.K8S_GATEWAYS, Need.HTTP_ROUTES), optional=(Need.SERVICES, Need.ANALYZE))
def gwapi_not_accepted(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A Gateway API Gateway or HTTPRoute reports Accepted/ResolvedRefs/Programmed=False."""
    pod = ctx.pod()
    gws = ctx.resources(Need.K8S_GATEWAYS)
    routes = ctx.resources(Need.HTTP_ROUTES)
    if not gws and not routes:
        return CheckResult.not_applicable("no Gateway API Gateway or HTTPRoute exists")
    svc_names = {(s.metadata.namespace, s.metadata.name) for s in _pod_services(ctx, pod)}
    gw_name = pod.labels.get("gateway.networking.k8s.io/gateway-name") or pod.labels.get("istio.io/gateway-name")
    rel_routes = []
    for r in routes:
        rns = r.metadata.namespace
        backends = {(b.namespace or rns, b.name) for rule in r.spec.rules for b in rule.backend_refs}
        parents = {(p.namespace or rns, p.name) for p in r.spec.parent_refs}
        if rns == ctx.namespace or backends & svc_names or (gw_name and (pod.metadata.namespace, gw_name) in parents):
            rel_routes.append(r)
    rel_gws = [g for g in gws if g.metadata.namespace == ctx.namespace or (gw_name and g.metadata.name == gw_name and g.metadata.namespace == pod.metadata.namespace)
               or any((p.namespace or r.metadata.namespace, p.name) == (g.metadata.namespace, g.metadata.name) for r in rel_routes for p in r.spec.parent_refs)]
    if not rel_routes and not rel_gws:
        return CheckResult.not_applicable("no Gateway API resource is involved in the examined pod's traffic")
    for obj, kind in [(r, "HTTPRoute") for r in rel_routes] + [(g, "Gateway") for g in rel_gws]:
        bad = obj.failing_conditions
        if not bad:
            continue
        c = bad[0]
        evidence = [ctx.ref(Need.HTTP_ROUTES if kind == "HTTPRoute" else Need.K8S_GATEWAYS,
                            {"kind": kind, "metadata": {"name": obj.metadata.name, "namespace": obj.metadata.namespace},
                             "status": obj.status.model_dump(mode="json", by_alias=True, exclude_none=True)}, "negative status conditions")]
        evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0171"], name=obj.metadata.name))
        return CheckResult.failed(
            # the condition's reason is the variant: each has its own fix (the catalogue knows the common ones)
            message=c.reason if c.reason in load_catalogue()["ROUTE-GWAPI-NOT-ACCEPTED"].message else None,
            args={"kind": kind, "resource": f"{obj.metadata.namespace}/{obj.metadata.name}", "type": c.type, "status": c.status,
                  "reason": c.reason, "condition_message": c.message or None},
            evidence=evidence, resources=[f"{kind} {obj.metadata.namespace}/{obj.metadata.name}"],
            fix=Fix(steps=[FixStep(description="inspect the full status",
                                                 command=f"kubectl get {kind.lower()} {obj.metadata.name} -n {obj.metadata.namespace} -o yaml")]),
        )
    return CheckResult.passed(f"{len(rel_routes)} HTTPRoute(s) and {len(rel_gws)} Gateway(s) are Accepted and resolved")


@check("ROUTE-GWAPI-CRD", needs=(Need.CRDS, Need.K8S_GATEWAYS, Need.HTTP_ROUTES), optional=(Need.ISTIOCTL_VERSION,))
def gwapi_crd(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The installed Gateway API CRDs do not serve the API version this Istio reads, so its resources are ignored."""
    gws = ctx.resources(Need.K8S_GATEWAYS)
    routes = ctx.resources(Need.HTTP_ROUTES)
    crds = ctx.ev.get(Need.CRDS)
    gw_crds = {c.spec.names.plural or c.metadata.name.split(".")[0]: c for c in crds if (c.spec.group or "").startswith("gateway.networking.k8s.io")}
    if not gws and not routes:
        return CheckResult.not_applicable("no Gateway API Gateway or HTTPRoute exists")
    v = ctx.istio_version
    want = "v1" if v is None or v >= type(v).parse("1.22") else "v1beta1"
    problems = []
    for plural in ("gateways", "httproutes", "gatewayclasses"):
        crd = gw_crds.get(plural)
        if crd is None:
            problems.append((plural, None))
        elif want not in crd.served_versions:
            problems.append((plural, crd))
    if not problems:
        return CheckResult.passed(f"Gateway API CRDs serve {want}")
    if all(c is None for _, c in problems) and not gw_crds:
        return CheckResult.unknown("Gateway API resources exist but no CRD carrying the bundle-version label was listed",
                                   reason="CRDs without the gateway.networking.k8s.io/bundle-version label cannot be checked")
    lines = "\n".join(f"{p}.gateway.networking.k8s.io\t{(c.labels.get('gateway.networking.k8s.io/bundle-version', '-') if c else 'missing')}\t"
                      f"{','.join(c.served_versions) if c else '-'}" for p, c in problems)
    bundle = next((c.labels.get("gateway.networking.k8s.io/bundle-version") for _, c in problems if c is not None), None)
    return CheckResult.failed(
        args={"version": str(v) if v else None, "want": want, "bundle": bundle, "crds": [p for p, _ in problems],
              "gateways": len(gws), "routes": len(routes)},
        evidence=[ctx.ref(Need.CRDS, f"NAME\tBUNDLE-VERSION\tSERVED\n{lines}", "Gateway API CRD versions")],
        resources=[f"CustomResourceDefinition {p}.gateway.networking.k8s.io" for p, _ in problems],
        fix=Fix(steps=[FixStep(description="upgrade the standard channel CRDs",
                               command="kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.2.1/standard-install.yaml")]),
    )
