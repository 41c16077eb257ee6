"""``MTLS-AUTHZ-CONFUSION``: an AuthorizationPolicy denial (403
``rbac_access_denied_matched_policy``) mistaken for an mTLS failure; its own finding so that, when
the logs show RBAC denials, it outranks every mTLS guess.
"""

from __future__ import annotations

import re
from typing import Any

from istio_doctor.engine.checks.mtls._reading import _RBAC, _obj_excerpt, _pods_in, _raw, _summarize
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh import mesh_config, root_namespace, service_for_host
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.accesslog import AccessLogEntry
from istio_doctor.evidence.bundle import Need

# --------------------------------------------------------------------------------------
# MTLS-AUTHZ-CONFUSION
# --------------------------------------------------------------------------------------

_MATCHED = re.compile(r"rbac_access_denied_matched_policy\[(?P<p>.*)\]")
_POLICY = re.compile(r"ns\[(?P<ns>[^\]]*)\]-policy\[(?P<name>[^\]]*)\]")
#: the DENY-all policy istiod puts in place of a CUSTOM AuthorizationPolicy whose provider it cannot
#: build: not defined in meshConfig.extensionProviders, invalid, or several providers on one workload
#: (istio/istio@1.15.0:pilot/pkg/security/authz/builder/extauthz.go rbacDefaultDenyAll, getExtAuthz;
#: builder.go "failed to parse CUSTOM action, will generate a deny all config")
_BAD_CUSTOM = "default-deny-all-due-to-bad-CUSTOM-action"


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


def _bad_custom(ctx: CheckContext, server: Any) -> list[str]:
    """The CUSTOM policies on ``server``, each with its provider and what MeshConfig says of it."""
    mc = mesh_config(ctx)
    out = []
    for a in _policies_for(ctx, server):
        if a.spec.action != "CUSTOM":
            continue
        provider = str((a.spec.provider or {}).get("name") or "")
        if not provider:
            why = "no provider named"
        elif mc is None:
            why = "MeshConfig not read"
        elif mc.provider(provider) is None:
            why = "not defined in meshConfig.extensionProviders"
        else:
            why = "defined in meshConfig.extensionProviders, but istiod could not build it (invalid, or its service not found)"
        out.append(f"{a.metadata.namespace}/{a.metadata.name} (provider {provider or '-'}: {why})")
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
        bad_custom = _bad_custom(ctx, server) if _BAD_CUSTOM in names else None
        if bad_custom is not None:
            pols += [a for a in _policies_for(ctx, server) if a.spec.action == "CUSTOM" and a not in pols]
        elif not pols or "none" in names:
            pols += [a for a in _policies_for(ctx, server) if a.spec.action == "ALLOW" and a not in pols]
        ev = [ctx.ref(Need.PROXY_LOGS, _raw(entries), "denied by the RBAC filter of the server's sidecar",
                      namespace=server.metadata.namespace, name=server.metadata.name)]
        if pols:
            ev.append(ctx.ref(Need.AUTHORIZATION_POLICIES, [_obj_excerpt(a, "AuthorizationPolicy") for a in pols[:3]], "the policies involved"))
        mc = mesh_config(ctx) if bad_custom is not None else None
        if mc is not None:
            ev.append(ctx.ref(Need.CONTROL_PLANE_CONFIGMAPS, {"extensionProviders": [p.name for p in mc.extension_providers]},
                              "the extension providers MeshConfig defines"))
        needs_mtls = [a for a in pols if any(r.needs_mtls for r in a.spec.rules)]
        return CheckResult.failed(
            message="bad_custom" if bad_custom is not None else "server",
            args={"count": len(entries), "server": f"{server.metadata.namespace}/{server.metadata.name}",
                  # CUSTOM policies whose provider istiod could not build: "ns/name (provider P: why)"
                  **({"custom": bad_custom} if bad_custom is not None else {}),
                  # the policies the RBAC filter names; none (or [none]): no ALLOW policy matched
                  "matched": [] if names == ["none"] or not names else names[:2],
                  "policies": [f"{a.metadata.namespace}/{a.metadata.name} ({a.spec.action})" for a in pols[:3]],
                  # a policy on principals/namespaces, which only mTLS traffic carries
                  "mtls_only_policy": f"{needs_mtls[0].metadata.namespace}/{needs_mtls[0].metadata.name}" if needs_mtls else None},
            corroboration="server_logs",
            evidence=ev,
            observed=_summarize(entries, server.metadata.name),
            resources=[f"AuthorizationPolicy {a.metadata.namespace}/{a.metadata.name}" for a in pols[:3]],
            fix=Fix(steps=[FixStep(description="see which policies apply and why", command=f"istioctl x authz check {server.metadata.name} -n {server.metadata.namespace}")]
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
                message="client",
                args={"count": len(es), "host": host, "policies": [f"{a.metadata.namespace}/{a.metadata.name} ({a.spec.action})" for a in pols[:3]]},
                evidence=[ctx.ref(Need.PROXY_LOGS, _raw(es), "403 answered by the server's proxy"),
                          ctx.ref(Need.AUTHORIZATION_POLICIES, [_obj_excerpt(a, "AuthorizationPolicy") for a in pols[:3]], "policies on the server")],
                observed=_summarize(es, host),
                resources=[f"AuthorizationPolicy {a.metadata.namespace}/{a.metadata.name}" for a in pols[:3]],
                fix=Fix(steps=[FixStep(description="see which policies apply and why", command=f"istioctl x authz check {servers[0].metadata.name} -n {servers[0].metadata.namespace}")]),
            )
    if own_log is None and not any(ctx.ev.has(Need.PROXY_LOGS, r.namespace, r.name) for r in ctx.related):
        return CheckResult.not_applicable("no proxy log to look for RBAC denials in")
    return CheckResult.passed("no request was denied by an AuthorizationPolicy (no rbac_access_denied in the logs)")
