"""Playbook ``routes`` (checks ``ROUTE-*``): missing routes (Envoy ``404 NR route_not_found``, ``503 NC cluster_not_found``,
``502`` BlackHoleCluster, "no healthy upstream" caused by routing).

The examined pod is either an application pod (a client whose outbound requests fail) or an
ingress gateway (``pod.is_gateway``; router listeners such as 8080/8443 and RDS ``http.8080``).
The config dump is the ground truth of what Envoy does: an NR is decided by which virtual
host and route Envoy would pick for the logged ``:authority`` and path, an NC by which clusters
exist. Istio resources explain *why* Envoy has that config. ``istioctl analyze`` messages are
cited when they agree, never used as the deciding evidence.

An Envoy 404 carries the flag ``NR`` and details ``route_not_found``; an application's own 404
carries ``via_upstream`` and no flag. Only the former is a routing problem, so every check here
reads flagged entries only.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh import (
    all_destination_rules_for,
    destination_rule_for,
    root_namespace,
    split_service_fqdn,
)
from istio_doctor.engine.model import CheckResult, EvidenceRef, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.envoy.configdump import match_virtual_host
from istio_doctor.evidence.istio import exported_to, fqdn, host_matches, hosts_intersect, istio_resolve_host

# --------------------------------------------------------------------------------------
# access-log helpers
# --------------------------------------------------------------------------------------


def _log(ctx: CheckContext) -> Any | None:
    return ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name)


def _entries(log: Any | None) -> list[Any]:
    return list(log.entries) if log is not None else []


def _is_nr(e: Any) -> bool:
    """An Envoy route miss. ``NR filter_chain_not_found`` is a listener miss (mTLS/SNI), not a route."""
    if e.response_code_details == "filter_chain_not_found":
        return False
    return ("NR" in e.response_flags and not e.is_tcp) or e.response_code_details == "route_not_found"


def _is_nc(e: Any) -> bool:
    return "NC" in e.response_flags or e.response_code_details == "cluster_not_found"


def _is_blackhole(e: Any) -> bool:
    return e.upstream_cluster == "BlackHoleCluster" or (e.response_code == 502 and e.route_name == "block_all")


def _is_route_failure(e: Any) -> bool:
    """Failures a missing route/cluster/visibility can produce on the client side."""
    if e.app_responded:
        return False
    if _is_nr(e) or _is_nc(e) or _is_blackhole(e):
        return True
    # Passthrough to a mesh service that then fails (plaintext to STRICT, no routing rules).
    return e.upstream_cluster == "PassthroughCluster" and (bool(e.response_flags) or e.response_code >= 500)


def _authority_host(authority: str | None) -> str:
    a = (authority or "").strip().lower()
    if a.startswith("["):
        return a.split("]")[0] + "]"
    if a.count(":") == 1:
        return a.rsplit(":", 1)[0]
    return a


def _port_of(addr: str | None) -> int | None:
    if not addr or ":" not in addr:
        return None
    try:
        return int(addr.rsplit(":", 1)[1])
    except ValueError:
        return None


def _is_ip(host: str) -> bool:
    return bool(re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", host)) or host.startswith("[")


def _lines(entries: Iterable[Any], n: int = 3) -> str:
    return "\n".join(e.raw for e in list(entries)[:n])


def _path_only(path: str | None) -> str:
    return (path or "/").split("?", 1)[0]


# --------------------------------------------------------------------------------------
# config-dump helpers
# --------------------------------------------------------------------------------------


def _route_config_name(dump: Any, entry: Any, is_gateway: bool) -> str:
    """The RDS name the entry's listener used (found through the downstream local port)."""
    port = _port_of(entry.downstream_local_address)
    ip = (entry.downstream_local_address or "").rsplit(":", 1)[0]
    if port is not None:
        listeners = sorted(dump.listeners_on_port(port), key=lambda lst: (lst.address != ip, lst.address != "0.0.0.0"))
        for lst in listeners:
            chains = [fc for fc in lst.filter_chains if fc.http and fc.route_config_name]
            sni = (entry.requested_server_name or "").lower()
            for fc in chains:
                if sni and any(host_matches(s, sni) for s in fc.server_names):
                    return fc.route_config_name
            if chains:
                return chains[0].route_config_name
    if port is None:
        return ""
    return f"http.{port}" if is_gateway else str(port)


def _find_vhost(dump: Any, route_name: str, authority: str) -> Any | None:
    """Envoy's virtual-host choice: every specific domain (with and without the port) before ``*``.

    ``ConfigDump.find_virtual_host`` tries ``host:port`` including the ``*`` fallback before the
    bare host, so a sidecar request for ``reviews:9080`` would land on ``allow_any``; Istio sets
    ``ignore_port_in_host_matching``, so the bare host must win over ``*``.
    """
    rc = dump.route_config(route_name)
    if rc is None:
        return None
    specific = [vh for vh in rc.virtual_hosts if vh.domains != ["*"]]
    vh = match_virtual_host(specific, authority)
    if vh is not None:
        return vh
    return match_virtual_host(rc.virtual_hosts, authority)


def _vhost_table(rc: Any) -> list[dict[str, Any]]:
    return [{"name": vh.name, "domains": vh.domains, "routes": len(vh.routes)} for vh in rc.virtual_hosts]


def _route_ref(ctx: CheckContext, rc: Any, note: str) -> EvidenceRef:
    return ctx.ref(Need.CONFIG_DUMP, {"name": rc.name, "virtual_hosts": _vhost_table(rc)}, note)


def _path_matches(route: Any, path: str) -> bool:
    """Envoy path matching of one route (header conditions are ignored: the log cannot show them)."""
    m = route.match
    ci = route.raw.get("match", {}).get("case_sensitive") is False
    p = path.lower() if ci else path

    def c(x: str) -> str:
        return x.lower() if ci else x

    if m.path is not None:
        return p == c(m.path)
    if m.prefix is not None:
        return p.startswith(c(m.prefix))
    if m.path_separated_prefix is not None:
        pre = c(m.path_separated_prefix)
        return p == pre or p.startswith(pre + "/")
    if m.safe_regex is not None:
        try:
            return re.fullmatch(m.safe_regex, path) is not None
        except re.error:
            return False
    return False


def _route_match_text(route: Any) -> dict[str, Any]:
    m = route.match
    out: dict[str, Any] = {k: v for k, v in (("path", m.path), ("prefix", m.prefix), ("safe_regex", m.safe_regex),
                                             ("path_separated_prefix", m.path_separated_prefix)) if v is not None}
    if m.headers:
        out["headers"] = m.headers
    return out


# --------------------------------------------------------------------------------------
# Istio resource helpers
# --------------------------------------------------------------------------------------


def _vs_ns(vs: Any) -> str:
    return vs.metadata.namespace or "default"


def _gw_refs(vs: Any) -> list[str]:
    """``ns/name`` of every gateway a VS binds to (``mesh`` excluded): short names resolve in the VS namespace."""
    return [g if "/" in g else f"{_vs_ns(vs)}/{g}" for g in vs.spec.gateways if g != "mesh"]


def _gw_key(gw: Any) -> str:
    return f"{gw.metadata.namespace}/{gw.metadata.name}"


def _dump(obj: Any) -> Any:
    return obj.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)


def _vs_excerpt(vs: Any) -> dict[str, Any]:
    return {"apiVersion": vs.api_version, "kind": "VirtualService",
            "metadata": {"name": vs.metadata.name, "namespace": _vs_ns(vs)}, "spec": _dump(vs.spec)}


def _obj_excerpt(obj: Any, kind: str) -> dict[str, Any]:
    return {"apiVersion": obj.api_version, "kind": kind,
            "metadata": {"name": obj.metadata.name, "namespace": obj.metadata.namespace}, "spec": _dump(obj.spec)}


def _server_hosts_for(gw: Any, server: Any, vs_ns: str) -> list[str]:
    out = []
    for h in server.hosts:
        ns, sep, host = h.partition("/")
        if not sep:
            out.append(h)
            continue
        if ns == "*" or ns == vs_ns or (ns == "." and gw.metadata.namespace == vs_ns):
            out.append(host)
    return out


def _gateways_selecting(ctx: CheckContext, pod: Any) -> list[Any]:
    return [g for g in ctx.resources(Need.GATEWAYS) if g.spec.selector and all(pod.labels.get(k) == v for k, v in g.spec.selector.items())]


def _pod_services(ctx: CheckContext, pod: Any) -> list[Any]:
    try:
        return ctx.services_selecting(pod)
    except Exception:  # noqa: BLE001 - services missing: no server-side relevance
        return []


def _service_by_fqdn(ctx: CheckContext, host: str) -> Any | None:
    sn = split_service_fqdn(host)
    if sn is None:
        return None
    for s in ctx.ev.get_or([], Need.SERVICES):
        if s.metadata.name == sn[0] and s.metadata.namespace == sn[1]:
            return s
    return None


def _service_for_authority(ctx: CheckContext, host: str, client_ns: str) -> Any | None:
    """The Service a client means by a Host header (DNS search path, or the ClusterIP)."""
    parts = host.split(".")
    svcs = ctx.ev.get_or([], Need.SERVICES)
    for s in svcs:
        ip = s.spec.cluster_ip
        if ip and ip == host:
            return s
    if len(parts) == 1:
        return next((s for s in svcs if s.metadata.name == host and s.metadata.namespace == client_ns), None)
    return _service_by_fqdn(ctx, fqdn(host, client_ns))


def _service_entries_for(ctx: CheckContext, host: str) -> list[Any]:
    return [se for se in ctx.ev.get_or([], Need.SERVICE_ENTRIES) if any(host_matches(h, host) for h in se.spec.hosts)]


def _in_registry(ctx: CheckContext, host: str) -> bool:
    """Istio's service registry: Kubernetes Services plus ServiceEntry hosts."""
    if _service_by_fqdn(ctx, host) is not None:
        return True
    return bool(_service_entries_for(ctx, host))


def _vs_matches_host(vs: Any, host: str, svc_fqdn: str | None) -> bool:
    for h in vs.spec.hosts:
        r = istio_resolve_host(h, _vs_ns(vs))
        if host_matches(r, host) or (svc_fqdn and host_matches(r, svc_fqdn)):
            return True
    return False


def _analyze(ctx: CheckContext, codes: Iterable[str], *, kind: str | None = None, name: str | None = None,
             namespace: str | None = None, contains: str | None = None) -> list[Any]:
    msgs: list[Any] = []
    seen_ns = {ctx.namespace} | ({namespace} if namespace else set())
    for ns in seen_ns:
        msgs.extend(ctx.ev.get_or([], Need.ANALYZE, ns))
    out = []
    for m in msgs:
        if not any(m.is_(c) for c in codes):
            continue
        if kind and m.origin_kind and m.origin_kind != kind:
            continue
        if name and m.origin_name and m.origin_name != name:
            continue
        if namespace and m.origin_namespace and m.origin_namespace != namespace:
            continue
        if contains and contains not in m.message:
            continue
        out.append(m)
    return list({(m.code, m.origin, m.message): m for m in out}.values())


def _analyze_ref(ctx: CheckContext, msgs: list[Any]) -> list[EvidenceRef]:
    if not msgs:
        return []
    text = "\n".join(f"{m.level} [{m.code}] ({m.origin_ref}) {m.message}" for m in msgs[:4])
    return [ctx.ref(Need.ANALYZE, text, "istioctl analyze agrees")]


def _pod_pool(ctx: CheckContext, namespaces: Iterable[str]) -> tuple[list[Any], set[str]]:
    """Pods we can see, and the namespaces whose pods we know (for selector questions)."""
    pods: list[Any] = []
    known: set[str] = set()
    cp = ctx.ev.get_or(None, Need.CONTROL_PLANE_PODS)
    if cp is not None:
        pods.extend(cp)
        known.add(ctx.conn.istio_namespace)
    for ns in set(namespaces) | {ctx.namespace}:
        got = ctx.ev.get_or(None, Need.PODS, ns)
        if got is not None:
            pods.extend(got)
            known.add(ns)
    uniq = {(p.metadata.namespace, p.metadata.name): p for p in pods}
    return list(uniq.values()), known


def _selected_pods(pool: list[Any], selector: dict[str, str]) -> list[Any]:
    return [p for p in pool if selector and all(p.labels.get(k) == v for k, v in selector.items())]


def _relevant_vs_for_pod(ctx: CheckContext, pod: Any) -> list[Any]:
    """VirtualServices that route to the examined pod's Services (it is their server)."""
    fqdns = {s.fqdn() for s in _pod_services(ctx, pod)}
    out = []
    for vs in ctx.ev.get_or([], Need.VIRTUAL_SERVICES):
        if any(istio_resolve_host(d.host, _vs_ns(vs)) in fqdns or fqdn(d.host, _vs_ns(vs)) in fqdns for d in vs.destinations):
            out.append(vs)
    return out


def _relevant_gateways(ctx: CheckContext, pod: Any) -> list[Any]:
    """Gateways the examined pod's traffic goes through: the ones selecting it (a gateway pod),
    or the ones bound by VirtualServices that route to its Services (ingress to an app)."""
    gws = ctx.resources(Need.GATEWAYS)
    if pod.is_gateway:
        return _gateways_selecting(ctx, pod)
    refs = {r for vs in _relevant_vs_for_pod(ctx, pod) for r in _gw_refs(vs)}
    return [g for g in gws if _gw_key(g) in refs]


def _vs_bound_to(ctx: CheckContext, gw: Any) -> list[Any]:
    key = _gw_key(gw)
    return [vs for vs in ctx.resources(Need.VIRTUAL_SERVICES) if key in _gw_refs(vs)]


def _nr_without_vhost(ctx: CheckContext, dump: Any, log: Any, pod: Any) -> dict[str, list[Any]]:
    """NR entries whose authority matches no virtual host with routes, by authority host."""
    out: dict[str, list[Any]] = {}
    for e in _entries(log):
        if not _is_nr(e) or not e.authority:
            continue
        rc_name = _route_config_name(dump, e, pod.is_gateway)
        vh = _find_vhost(dump, rc_name, e.authority)
        if vh is None or not vh.routes:
            out.setdefault(_authority_host(e.authority), []).append(e)
    return out


def _gw_lists_host(gw: Any, host: str) -> bool:
    """The Gateway names the host itself (not only through ``*``)."""
    return any(h != "*" and host_matches(h, host) for s in gw.spec.servers for h in (x.partition("/")[2] or x for x in s.hosts))


def _gw_serves_host(gw: Any, host: str, vs_ns: str | None = None) -> bool:
    for s in gw.spec.servers:
        hosts = _server_hosts_for(gw, s, vs_ns) if vs_ns else [h.partition("/")[2] or h for h in s.hosts]
        if any(host_matches(h, host) for h in hosts):
            return True
    return False


# --------------------------------------------------------------------------------------
# ROUTE-VS-NO-GATEWAY
# --------------------------------------------------------------------------------------


@check("ROUTE-VS-NO-GATEWAY", needs=(Need.POD, Need.VIRTUAL_SERVICES, Need.GATEWAYS),
       optional=(Need.CONFIG_DUMP, Need.PROXY_LOGS, Need.SERVICES, Need.SERVICE_ENTRIES, Need.ANALYZE))
def vs_no_gateway(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A VirtualService meant for ingress is not bound to the Gateway serving the examined gateway pod."""
    pod = ctx.pod()
    if not pod.is_gateway:
        return CheckResult.not_applicable("the examined pod is not a gateway; a VirtualService without gateways serves mesh traffic")
    gws = _gateways_selecting(ctx, pod)
    if not gws:
        return CheckResult.not_applicable(f"no Gateway selects gateway pod {pod.name}")
    gw_keys = {_gw_key(g) for g in gws}
    all_gw_keys = {_gw_key(g) for g in ctx.resources(Need.GATEWAYS)}
    dump = ctx.ev.get_or(None, Need.CONFIG_DUMP, ctx.namespace, ctx.pod_name)
    log = _log(ctx)
    misses = _nr_without_vhost(ctx, dump, log, pod) if dump is not None and log is not None else {}

    problems: list[tuple[Any, str, list[Any]]] = []  # (vs, why, nr entries)
    for vs in ctx.resources(Need.VIRTUAL_SERVICES):
        refs = _gw_refs(vs)
        if set(refs) & gw_keys:
            continue
        vns = _vs_ns(vs)
        hosts = [istio_resolve_host(h, vns) for h in vs.spec.hosts]
        hit_hosts = [a for a in misses if any(host_matches(h, a) for h in hosts)]
        hit = [e for a in hit_hosts for e in misses[a]]
        if not hit and log is not None:
            # Another VirtualService's '*' host may catch the request (a virtual host with routes
            # that miss its path): a 404 NR for a host this VirtualService names is still its
            # missing binding, not that other VirtualService's missing catch-all.
            named = [h for h in hosts if h != "*"]
            hit = [e for e in _entries(log) if _is_nr(e) and e.authority
                   and any(host_matches(h, _authority_host(e.authority)) for h in named)]
        dangling = [r for r in refs if r not in all_gw_keys]
        same_name = [g for g in gws for r in dangling if r.split("/")[1] == g.metadata.name]
        # A non-service host that a Gateway of this pod lists by name is meant for ingress.
        explicit = [h for h in vs.spec.hosts if h != "*" and not _in_registry(ctx, istio_resolve_host(h, vns))
                    and any(_gw_lists_host(g, h) for g in gws)]
        served = [a for a in hit_hosts if any(_gw_serves_host(g, a) for g in gws)]
        if same_name:
            why = (f"lists gateway {dangling[0]!r}, which does not exist (short names resolve in the VirtualService's namespace "
                   f"{vns}); the Gateway is {_gw_key(same_name[0])}")
        elif not vs.spec.gateways and (served or explicit):
            why = "has no spec.gateways, so it binds only to the mesh (sidecars), never to the ingress gateway"
        elif refs and served:
            why = f"is bound to {', '.join(refs)}, none of which selects gateway pod {pod.name}"
        else:
            continue
        problems.append((vs, why, hit))
    if not problems:
        if misses:
            return CheckResult.passed(f"no VirtualService for {', '.join(sorted(misses))} exists unbound from {', '.join(sorted(gw_keys))}")
        return CheckResult.passed(f"every VirtualService meant for {', '.join(sorted(gw_keys))} is bound to it")
    vs, why, hit = problems[0]
    gw = gws[0]
    for g in gws:
        if any(_gw_serves_host(g, istio_resolve_host(h, _vs_ns(vs)), _vs_ns(vs)) for h in vs.spec.hosts):
            gw = g
            break
    gw_ref = _gw_key(gw)
    evidence = []
    observed = []
    if hit:
        evidence.append(ctx.ref(Need.PROXY_LOGS, _lines(hit), "the gateway answers 404 NR route_not_found for this host"))
        observed.append(f"{len(hit)}× 404 NR route_not_found at gateway {pod.name} for {hit[0].authority}")
    evidence.append(ctx.ref(Need.VIRTUAL_SERVICES, _vs_excerpt(vs), "the VirtualService is not bound to the gateway"))
    evidence.append(ctx.ref(Need.GATEWAYS, _obj_excerpt(gw, "Gateway"), "the Gateway that selects the examined gateway pod"))
    if dump is not None and hit:
        rc = dump.route_config(_route_config_name(dump, hit[0], True))
        if rc is not None:
            evidence.append(_route_ref(ctx, rc, "the gateway's routes have no virtual host for the host"))
    msgs = _analyze(ctx, ["IST0101"], kind="VirtualService", name=vs.metadata.name, contains="gateway")
    evidence += _analyze_ref(ctx, msgs)
    gws_list = [g for g in vs.spec.gateways if g != "mesh"]
    new = [r if r.split("/")[0] != _vs_ns(vs) else r.split("/")[1] for r in [gw_ref]]
    keep_mesh = ["mesh"] if not vs.spec.gateways or "mesh" in vs.spec.gateways else []
    patch = "spec:\n  gateways:\n" + "".join(f"  - {g}\n" for g in new + keep_mesh)
    cmd = (f"kubectl patch virtualservice {vs.metadata.name} -n {_vs_ns(vs)} --type merge "
           f"-p '{json.dumps({'spec': {'gateways': new + keep_mesh}})}'")
    return CheckResult.failed(
        f"VirtualService {_vs_ns(vs)}/{vs.metadata.name} (hosts {vs.spec.hosts}) {why}; gateway {gw_ref} therefore has no route for it"
        + (f" (was: {gws_list})" if gws_list else ""),
        evidence=evidence,
        observed=observed,
        confidence=0.93 if hit else 0.7,
        resources=[f"VirtualService {_vs_ns(vs)}/{vs.metadata.name}", f"Gateway {gw_ref}"],
        fix=Fix(summary=f"bind VirtualService {vs.metadata.name} to gateway {gw_ref} (namespace-qualified when it lives elsewhere)",
                steps=[FixStep(description="set spec.gateways (keep 'mesh' if sidecars also use this VirtualService)",
                               command=cmd, yaml_patch=patch)]),
    )


# --------------------------------------------------------------------------------------
# ROUTE-HOST-NOT-IN-GATEWAY
# --------------------------------------------------------------------------------------


@check("ROUTE-HOST-NOT-IN-GATEWAY", needs=(Need.POD, Need.VIRTUAL_SERVICES, Need.GATEWAYS),
       optional=(Need.SERVICES, Need.CONFIG_DUMP, Need.PROXY_LOGS, Need.ANALYZE))
def host_not_in_gateway(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A VirtualService host does not intersect the hosts of the Gateway it is bound to (Istio drops it)."""
    pod = ctx.pod()
    gws = _relevant_gateways(ctx, pod)
    if not gws:
        return CheckResult.not_applicable("no Gateway serves the examined pod's traffic")
    problems: list[tuple[Any, Any, list[str]]] = []
    for gw in gws:
        for vs in _vs_bound_to(ctx, gw):
            vns = _vs_ns(vs)
            ghosts = [h for s in gw.spec.servers for h in _server_hosts_for(gw, s, vns)]
            bad = [h for h in vs.spec.hosts if not any(hosts_intersect(g, istio_resolve_host(h, vns)) or hosts_intersect(g, h) for g in ghosts)]
            if bad:
                problems.append((gw, vs, bad))
    if not problems:
        return CheckResult.passed(f"every VirtualService host intersects the hosts of its Gateway ({', '.join(_gw_key(g) for g in gws)})")
    gw, vs, bad = problems[0]
    log = _log(ctx) if pod.is_gateway else None
    hit = [e for e in _entries(log) if _is_nr(e) and any(host_matches(h, _authority_host(e.authority)) for h in bad)]
    evidence = []
    observed = []
    if hit:
        evidence.append(ctx.ref(Need.PROXY_LOGS, _lines(hit), "the gateway answers 404 NR for the dropped host"))
        observed.append(f"{len(hit)}× 404 NR route_not_found at gateway {pod.name} for {hit[0].authority}")
    evidence.append(ctx.ref(Need.VIRTUAL_SERVICES, _vs_excerpt(vs), "VirtualService hosts"))
    evidence.append(ctx.ref(Need.GATEWAYS, _obj_excerpt(gw, "Gateway"), "Gateway server hosts"))
    evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0132"], kind="VirtualService", name=vs.metadata.name))
    ghosts = sorted({h for s in gw.spec.servers for h in s.hosts})
    new_servers = [_dump(s) for s in gw.spec.servers]
    for s in new_servers:
        s["hosts"] = list(dict.fromkeys(list(s.get("hosts", [])) + bad))
    return CheckResult.failed(
        f"VirtualService {_vs_ns(vs)}/{vs.metadata.name} host(s) {bad} are not among the hosts {ghosts} of Gateway {_gw_key(gw)} "
        f"it is bound to, so Istio leaves them out of the gateway's routes",
        evidence=evidence, observed=observed, confidence=0.93 if hit else 0.75,
        resources=[f"VirtualService {_vs_ns(vs)}/{vs.metadata.name}", f"Gateway {_gw_key(gw)}"],
        fix=Fix(summary=f"make the hosts agree: add {bad} to Gateway {_gw_key(gw)} servers, or change the VirtualService hosts to one of {ghosts}",
                steps=[FixStep(description=f"add the host(s) to Gateway {_gw_key(gw)}",
                               command=f"kubectl edit gateway {gw.metadata.name} -n {gw.metadata.namespace}",
                               yaml_patch=json.dumps({"spec": {"servers": new_servers}}, indent=2))]),
    )


# --------------------------------------------------------------------------------------
# ROUTE-AUTHORITY-MISMATCH / ROUTE-MATCH-MISS (what Envoy does with the logged request)
# --------------------------------------------------------------------------------------


def _known_host(ctx: CheckContext, host: str, client_ns: str) -> bool:
    """Whether any configuration names this host (a VirtualService host or a registry entry)."""
    svc = _service_for_authority(ctx, host, client_ns)
    if svc is not None or (not _is_ip(host) and _service_entries_for(ctx, host)):
        return True
    sfq = svc.fqdn() if svc is not None else None
    for vs in ctx.ev.get_or([], Need.VIRTUAL_SERVICES):
        for h in vs.spec.hosts:
            r = istio_resolve_host(h, _vs_ns(vs))
            if h == "*":
                # '*' names no host in particular, but a '*' VirtualService meant for a gateway
                # does serve this request: then the binding, not the Host header, is wrong.
                if _gw_refs(vs):
                    return True
                continue
            if host_matches(r, host) or (sfq and host_matches(r, sfq)):
                return True
    return False


@check("ROUTE-AUTHORITY-MISMATCH", needs=(Need.POD, Need.CONFIG_DUMP, Need.PROXY_LOGS, Need.VIRTUAL_SERVICES, Need.SERVICES),
       optional=(Need.SERVICE_ENTRIES,))
def authority_mismatch(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The request's Host/:authority matches no virtual host domain and no configured host."""
    pod = ctx.pod()
    dump = ctx.config_dump()
    log = ctx.proxy_log()
    nr = [e for e in log.entries if _is_nr(e) and e.authority]
    if not nr:
        return CheckResult.not_applicable("no 404 NR route_not_found in the istio-proxy log")
    misses = _nr_without_vhost(ctx, dump, log, pod)
    unknown = {a: es for a, es in misses.items() if not _known_host(ctx, a, ctx.namespace)}
    if not unknown:
        return CheckResult.passed("every authority of the 404 NR requests is a configured host: the miss is elsewhere")
    host, es = max(unknown.items(), key=lambda kv: len(kv[1]))
    rc_name = _route_config_name(dump, es[0], pod.is_gateway)
    rc = dump.route_config(rc_name)
    domains = sorted({d for vh in (rc.virtual_hosts if rc else []) if vh.routes for d in vh.domains})
    hint = ""
    if _is_ip(host):
        hint = " (the client addresses an IP instead of a host name)"
    evidence = [ctx.ref(Need.PROXY_LOGS, _lines(es), f"404 NR for authority {es[0].authority}")]
    if rc is not None:
        evidence.append(_route_ref(ctx, rc, f"route {rc_name}: no virtual host domain matches {es[0].authority}"))
    return CheckResult.failed(
        f"{len(es)} request(s) with :authority {es[0].authority!r}{hint} got 404 NR: route {rc_name or '?'} has no virtual host for it "
        f"(domains served: {domains or 'none'}) and no VirtualService or Service names that host",
        evidence=evidence, observed=[f"{len(es)}× 404 NR route_not_found for authority {es[0].authority}"], confidence=0.85,
        resources=[f"Pod {ctx.namespace}/{pod.name}"],
        fix=Fix(summary=f"send a Host header the routes serve ({', '.join(domains[:3]) or 'a configured host'}), or add {host!r} to the VirtualService hosts (and Gateway hosts)",
                steps=[FixStep(description="test with the served host name",
                               command=f"curl -sv -H 'Host: {domains[0] if domains else '<host>'}' http://<address>{_path_only(es[0].path)}"),
                       FixStep(description=f"or serve {host} too: add it to spec.hosts of the VirtualService (and the Gateway servers for ingress)")]),
    )


@check("ROUTE-MATCH-MISS", needs=(Need.POD, Need.CONFIG_DUMP, Need.PROXY_LOGS), optional=(Need.VIRTUAL_SERVICES,))
def match_miss(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A virtual host matches the request but none of its routes matches the path (no catch-all)."""
    pod = ctx.pod()
    dump = ctx.config_dump()
    log = ctx.proxy_log()
    nr = [e for e in log.entries if _is_nr(e) and e.authority]
    if not nr:
        return CheckResult.not_applicable("no 404 NR route_not_found in the istio-proxy log (an application's own 404 is via_upstream)")
    misses: list[tuple[Any, Any, Any]] = []
    for e in nr:
        rc_name = _route_config_name(dump, e, pod.is_gateway)
        vh = _find_vhost(dump, rc_name, e.authority)
        if vh is None or not vh.routes:
            continue
        path = _path_only(e.path)
        if any(_path_matches(r, path) and not r.match.headers for r in vh.routes):
            continue
        misses.append((e, vh, rc_name))
    if not misses:
        return CheckResult.passed("no 404 NR request reached a virtual host whose routes miss its path")
    e0, vh, rc_name = misses[0]
    same = [e for e, v, _ in misses if v.name == vh.name]
    paths = sorted({_path_only(e.path) for e in same})
    vs_ref = next((r.virtual_service for r in vh.routes if r.virtual_service), None)
    matches = [_route_match_text(r) for r in vh.routes]
    evidence = [ctx.ref(Need.PROXY_LOGS, _lines(same), "404 NR for paths no route matches"),
                ctx.ref(Need.CONFIG_DUMP, {"route_config": rc_name, "virtual_host": vh.name, "domains": vh.domains,
                                           "routes": [{"match": m} for m in matches]}, "the routes of the matched virtual host")]
    vs_obj = None
    if vs_ref:
        name, _, ns = vs_ref.partition(".")
        vs_obj = next((v for v in ctx.ev.get_or([], Need.VIRTUAL_SERVICES) if v.metadata.name == name and _vs_ns(v) == ns), None)
        if vs_obj is not None:
            evidence.append(ctx.ref(Need.VIRTUAL_SERVICES, _vs_excerpt(vs_obj), "the VirtualService behind these routes"))
    header_only = [m for m in matches if m.get("headers")]
    why = " (some routes also require headers the request did not carry)" if header_only else ""
    default_dest = None
    if vs_obj is not None:
        for h in vs_obj.spec.http:
            if h.route:
                default_dest = h.route[0].destination
                break
    patch = None
    if default_dest is not None:
        d = {"host": default_dest.host}
        if default_dest.port and default_dest.port.number:
            d["port"] = {"number": default_dest.port.number}  # type: ignore[assignment]
        patch = "spec:\n  http:\n  # ...existing rules, then a last rule without match:\n  - route:\n    - destination:\n" + "".join(
            f"        {k}: {json.dumps(v) if isinstance(v, dict) else v}\n" for k, v in d.items())
    target = f"VirtualService {vs_ref.split('.')[1]}/{vs_ref.split('.')[0]}" if vs_ref else f"virtual host {vh.name}"
    return CheckResult.failed(
        f"{len(same)} request(s) to {e0.authority} for {paths} got 404 NR: virtual host {vh.name} (route {rc_name}) matches the host "
        f"but none of its {len(vh.routes)} route(s) matches the path{why}; {target} has no catch-all rule",
        evidence=evidence, observed=[f"{len(same)}× 404 NR route_not_found for {e0.authority}{paths[0]}"], confidence=0.9,
        resources=[target],
        fix=Fix(summary=f"add a match for {paths[0]} or a default (match-less) last rule to {target}",
                steps=[FixStep(description="append a catch-all route as the last http rule", yaml_patch=patch,
                               command=(f"kubectl edit virtualservice {vs_ref.split('.')[0]} -n {vs_ref.split('.')[1]}" if vs_ref else None))]),
    )


# --------------------------------------------------------------------------------------
# Gateway workload / Service / listener checks
# --------------------------------------------------------------------------------------


def _gateway_candidates(ctx: CheckContext, pod: Any) -> list[Any]:
    """Gateways relevant to the examined pod, including ones that (wrongly) select nothing."""
    gws = ctx.resources(Need.GATEWAYS)
    out = {_gw_key(g): g for g in _relevant_gateways(ctx, pod)}
    refs = {r for vs in _relevant_vs_for_pod(ctx, pod) for r in _gw_refs(vs)}
    for g in gws:
        if g.metadata.namespace == ctx.namespace or _gw_key(g) in refs:
            out.setdefault(_gw_key(g), g)
    if pod.is_gateway:
        log = _log(ctx)
        hosts = {_authority_host(e.authority) for e in _entries(log) if _is_nr(e) and e.authority}
        for g in gws:
            if any(_gw_serves_host(g, h) for h in hosts if h) and not any(h == "*" for s in g.spec.servers for h in s.hosts):
                out.setdefault(_gw_key(g), g)
    return list(out.values())


@check("ROUTE-GW-SELECTOR", needs=(Need.POD, Need.GATEWAYS, Need.VIRTUAL_SERVICES),
       optional=(Need.SERVICES, Need.CONTROL_PLANE_PODS, Need.PODS, Need.PROXY_STATUS, Need.PROXY_LOGS, Need.ANALYZE))
def gw_selector(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A Gateway's selector matches no gateway pod, so no proxy opens its listeners."""
    pod = ctx.pod()
    gws = [g for g in _gateway_candidates(ctx, pod) if g.spec.selector]
    if not gws:
        return CheckResult.not_applicable("no Gateway is involved in the examined pod's traffic")
    pool, known = _pod_pool(ctx, [g.metadata.namespace for g in gws])
    ps = ctx.ev.get_or(None, Need.PROXY_STATUS)
    gw_like_ns = {r.namespace for r in (ps or []) if r.namespace and (r.proxy_type == "router" or "gateway" in r.pod)}
    undecided = []
    for g in gws:
        if _selected_pods(pool, g.spec.selector):
            continue
        msgs = _analyze(ctx, ["IST0101"], kind="Gateway", name=g.metadata.name, namespace=g.metadata.namespace, contains="selector")
        if ps is None and not msgs:
            undecided.append(g)
            continue
        unseen = gw_like_ns - known
        if unseen and not msgs:
            undecided.append(g)
            continue
        sel = ",".join(f"{k}={v}" for k, v in g.spec.selector.items())
        gateway_pods = [p for p in pool if p.is_gateway]
        labels = {f"{p.metadata.namespace}/{p.metadata.name}": {k: p.labels.get(k) for k in ("app", "istio") if p.labels.get(k)} for p in gateway_pods[:4]}
        evidence = [ctx.ref(Need.GATEWAYS, _obj_excerpt(g, "Gateway"), "the Gateway's selector")]
        if labels:
            evidence.append(EvidenceRef(source=ctx.ev.source(Need.CONTROL_PLANE_PODS) or ctx.pod_source(), key="pods",
                                        excerpt="\n".join(f"{k}: {v}" for k, v in labels.items()), note="labels of the gateway pods that exist"))
        evidence += _analyze_ref(ctx, msgs)
        good = next((lbl for lbl in labels.values() if lbl), None)
        patch = json.dumps({"spec": {"selector": good}}) if good else None
        return CheckResult.failed(
            f"Gateway {_gw_key(g)} selects {sel}, which matches no pod in {sorted(known)}; no gateway proxy serves its servers "
            f"(ports {[s.port.number for s in g.spec.servers]})",
            evidence=evidence, confidence=0.85 if msgs else 0.75, resources=[f"Gateway {_gw_key(g)}"],
            fix=Fix(summary=f"set Gateway {_gw_key(g)} spec.selector to the labels of the ingress gateway pods",
                    steps=[FixStep(description="find the gateway pods' labels", command="kubectl get pods -A -l istio=ingressgateway --show-labels"),
                           FixStep(description="point the selector at them",
                                   command=(f"kubectl patch gateway {g.metadata.name} -n {g.metadata.namespace} --type merge -p '{patch}'" if patch else None),
                                   yaml_patch=patch)]),
        )
    if undecided:
        return CheckResult.unknown(
            f"no pod among {sorted(known)} matches the selector of Gateway(s) {[_gw_key(g) for g in undecided]}, but gateway pods may run elsewhere",
            reason="pods of other namespaces (and proxy-status) were not available to confirm the selector matches nothing")
    return CheckResult.passed(f"every involved Gateway selects running gateway pods ({', '.join(_gw_key(g) for g in gws)})")


@check("ROUTE-GW-PORT-NOT-ON-SVC", needs=(Need.POD, Need.GATEWAYS, Need.SERVICES, Need.VIRTUAL_SERVICES),
       optional=(Need.CONTROL_PLANE_PODS, Need.PODS, Need.ANALYZE))
def gw_port_not_on_svc(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A Gateway server port is not exposed by the Service in front of the gateway pods."""
    pod = ctx.pod()
    gws = [g for g in _gateway_candidates(ctx, pod) if g.spec.selector]
    if not gws:
        return CheckResult.not_applicable("no Gateway is involved in the examined pod's traffic")
    pool, _known = _pod_pool(ctx, [g.metadata.namespace for g in gws])
    if pod.is_gateway:
        pool = pool + [pod]
    checked = 0
    for g in gws:
        gpods = _selected_pods(pool, g.spec.selector)
        if not gpods:
            continue
        svcs = [s for s in ctx.services() if any(s.selects(p) for p in gpods)]
        if not svcs:
            continue
        checked += 1
        ports: set[int] = set()
        for s in svcs:
            for p in s.spec.ports:
                ports.add(p.port)
                tp = p.effective_target_port
                if isinstance(tp, int):
                    ports.add(tp)
                else:
                    for gp in gpods[:1]:
                        for c in gp.spec.containers:
                            ports.update(cp.container_port for cp in c.ports if cp.name == tp)
        missing = [s.port.number for s in g.spec.servers if s.port.number not in ports]
        if missing:
            svc = svcs[0]
            table = "\n".join(f"{p.name or '-'}\t{p.port}\t{p.effective_target_port}/{p.protocol}" for p in svc.spec.ports)
            evidence = [ctx.ref(Need.GATEWAYS, _obj_excerpt(g, "Gateway"), "server ports"),
                        ctx.ref(Need.SERVICES, f"NAME\tPORT\tTARGETPORT\n{table}", f"ports of Service {svc.metadata.namespace}/{svc.metadata.name}")]
            evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0162"], kind="Gateway", name=g.metadata.name))
            new_ports = [{"name": f"port-{m}", "port": m, "targetPort": m, "protocol": "TCP"} for m in missing]
            return CheckResult.failed(
                f"Gateway {_gw_key(g)} listens on port(s) {missing}, which Service {svc.metadata.namespace}/{svc.metadata.name} "
                f"does not expose (ports/targetPorts {sorted(ports)}); clients cannot reach that listener",
                evidence=evidence, confidence=0.8,
                resources=[f"Gateway {_gw_key(g)}", f"Service {svc.metadata.namespace}/{svc.metadata.name}"],
                fix=Fix(summary=f"expose port(s) {missing} on Service {svc.metadata.name}, or use a port the Service already exposes in the Gateway",
                        steps=[FixStep(description="add the port to the gateway Service",
                                       command=f"kubectl patch svc {svc.metadata.name} -n {svc.metadata.namespace} --type json -p "
                                               f"'{json.dumps([{'op': 'add', 'path': '/spec/ports/-', 'value': p} for p in new_ports])}'")]),
            )
    if not checked:
        return CheckResult.not_applicable("no involved Gateway has gateway pods behind a Service that could be checked")
    return CheckResult.passed("every involved Gateway port is exposed by the gateway Service")


_TERMINATING = {"SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL", "ISTIO_MUTUAL"}
_PASSTHROUGH = {"PASSTHROUGH", "AUTO_PASSTHROUGH"}


def _server_tls_mode(server: Any) -> str | None:
    proto = server.port.protocol.upper()
    mode = (server.tls.mode or "").upper() if server.tls else ""
    if proto in ("HTTPS", "TLS") or mode:
        if mode in _PASSTHROUGH:
            return "PASSTHROUGH"
        if proto == "HTTPS" or mode in _TERMINATING:
            return mode or "SIMPLE"
    return None


@check("ROUTE-GW-TLS-MODE", needs=(Need.POD, Need.GATEWAYS, Need.VIRTUAL_SERVICES),
       optional=(Need.SERVICES, Need.PROXY_LOGS))
def gw_tls_mode(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The VirtualService route type does not match the Gateway server's TLS mode (http vs tls routes)."""
    pod = ctx.pod()
    gws = _relevant_gateways(ctx, pod)
    if not gws:
        return CheckResult.not_applicable("no Gateway serves the examined pod's traffic")
    tls_servers = [(g, s) for g in gws for s in g.spec.servers if _server_tls_mode(s)]
    if not tls_servers:
        return CheckResult.not_applicable("no TLS server on the involved Gateways")
    for g, s in tls_servers:
        mode = _server_tls_mode(s)
        for vs in _vs_bound_to(ctx, g):
            vns = _vs_ns(vs)
            sh = _server_hosts_for(g, s, vns)
            if not any(hosts_intersect(a, istio_resolve_host(h, vns)) or hosts_intersect(a, h) for a in sh for h in vs.spec.hosts):
                continue
            problem = ""
            if mode != "PASSTHROUGH" and vs.spec.tls and not vs.spec.http:
                problem = (f"terminates TLS ({mode}) on port {s.port.number}, but VirtualService {vns}/{vs.metadata.name} has only tls: routes, "
                           "which apply to PASSTHROUGH servers only; the decrypted HTTP requests find no route (404)")
                fix = "use http: routes in the VirtualService (the gateway terminates TLS), or set the server's tls.mode: PASSTHROUGH"
            elif mode == "PASSTHROUGH" and vs.spec.http and not vs.spec.tls and not vs.spec.tcp:
                problem = (f"passes TLS through on port {s.port.number}, but VirtualService {vns}/{vs.metadata.name} has only http: routes, "
                           "which cannot see encrypted traffic; no tls: route matches the SNI so the connection is dropped")
                fix = "add a tls: route with match.sniHosts for the host, or terminate TLS at the gateway (tls.mode: SIMPLE with credentialName)"
            if problem:
                return CheckResult.failed(
                    f"Gateway {_gw_key(g)} {problem}",
                    evidence=[ctx.ref(Need.GATEWAYS, {"metadata": {"name": g.metadata.name, "namespace": g.metadata.namespace},
                                                      "server": _dump(s)}, "the TLS server"),
                              ctx.ref(Need.VIRTUAL_SERVICES, _vs_excerpt(vs), "the bound VirtualService's route type")],
                    confidence=0.8, resources=[f"Gateway {_gw_key(g)}", f"VirtualService {vns}/{vs.metadata.name}"],
                    fix=Fix(summary=fix, steps=[FixStep(description=fix, command=f"kubectl edit virtualservice {vs.metadata.name} -n {vns}")]),
                )
    return CheckResult.passed("VirtualService route types match the TLS mode of their Gateway servers")


@check("ROUTE-SNI-MISSING", needs=(Need.POD, Need.CONFIG_DUMP, Need.PROXY_LOGS), optional=(Need.ENVOY_STATS, Need.GATEWAYS))
def sni_missing(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Clients reach an HTTPS gateway port whose filter chains all require an SNI, without sending one."""
    pod = ctx.pod()
    if not pod.is_gateway:
        return CheckResult.not_applicable("the examined pod is not a gateway")
    dump = ctx.config_dump()
    sni_ports = {}
    for lst in dump.listeners:
        tls_chains = [fc for fc in lst.filter_chains if fc.has_tls]
        if tls_chains and all(fc.server_names for fc in lst.filter_chains if not fc.is_default):
            sni_ports[lst.port] = sorted({n for fc in tls_chains for n in fc.server_names})
    if not sni_ports:
        return CheckResult.not_applicable("no gateway listener requires an SNI (no HTTPS server with specific hosts)")
    log = ctx.proxy_log()
    hits = [e for e in log.entries if e.response_code_details == "filter_chain_not_found" and not e.requested_server_name
            and _port_of(e.downstream_local_address) in sni_ports]
    stats = ctx.ev.get_or({}, Need.ENVOY_STATS, ctx.namespace, ctx.pod_name)
    counters = {k: v for k, v in stats.items() if k.endswith("no_filter_chain_match") and v > 0 and any(f"_{p}." in k for p in sni_ports)}
    if not hits and not counters:
        return CheckResult.passed(f"no connection without SNI was refused on the SNI-only ports {sorted(sni_ports)}")
    port = _port_of(hits[0].downstream_local_address) if hits else next(iter(sni_ports))
    evidence = []
    observed = []
    if hits:
        evidence.append(ctx.ref(Need.PROXY_LOGS, _lines(hits), "connections without SNI (REQUESTED_SERVER_NAME '-') refused"))
        observed.append(f"{len(hits)}× NR filter_chain_not_found without SNI on gateway port {port}")
    if counters:
        evidence.append(ctx.ref(Need.ENVOY_STATS, "\n".join(f"{k}: {v}" for k, v in counters.items()), "listener no_filter_chain_match"))
    lst = dump.listeners_on_port(port)
    if lst:
        evidence.append(ctx.ref(Need.CONFIG_DUMP, {"listener": lst[0].name, "filter_chains": [
            {"server_names": fc.server_names, "tls": fc.has_tls} for fc in lst[0].filter_chains]}, "every filter chain requires one of these SNIs"))
    names = sni_ports.get(port, [])
    return CheckResult.failed(
        f"gateway port {port} only accepts TLS with SNI {names}; clients connect without SNI (e.g. by IP, or a load balancer health check) "
        "and Envoy finds no filter chain",
        evidence=evidence, observed=observed, confidence=0.9 if hits else 0.7, resources=[f"Pod {pod.namespace}/{pod.name}"],
        fix=Fix(summary=f"make clients send SNI (use the DNS name {names[0] if names else ''} or curl --resolve), pass TLS through at the load balancer, or add hosts: ['*'] to the Gateway server",
                steps=[FixStep(description="test with SNI set",
                               command=f"curl -v --resolve {names[0] if names else '<host>'}:443:<gateway-ip> https://{names[0] if names else '<host>'}/")]),
    )


@check("ROUTE-DUP-CERT-404", needs=(Need.POD, Need.GATEWAYS, Need.VIRTUAL_SERVICES), optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP, Need.ANALYZE, Need.SERVICES))
def dup_cert_404(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Several Gateways terminate TLS with the same certificate: browsers reuse HTTP/2 connections across hosts and get 404."""
    pod = ctx.pod()
    gws = _relevant_gateways(ctx, pod)
    if pod.is_gateway is False and not gws:
        return CheckResult.not_applicable("no Gateway serves the examined pod's traffic")
    selectors = {tuple(sorted(g.spec.selector.items())) for g in gws}
    peers = [g for g in ctx.resources(Need.GATEWAYS) if tuple(sorted(g.spec.selector.items())) in selectors]
    by_cert: dict[str, list[tuple[Any, Any]]] = {}
    for g in peers:
        for s in g.spec.servers:
            mode = _server_tls_mode(s)
            if mode and mode != "PASSTHROUGH" and s.tls is not None:
                cert = s.tls.credential_name or s.tls.server_certificate
                if cert:
                    by_cert.setdefault(f"{g.metadata.namespace if s.tls.credential_name else ''}/{cert}", []).append((g, s))
    shared = {c: pairs for c, pairs in by_cert.items() if len({_gw_key(g) for g, _ in pairs}) > 1}
    if not shared:
        return CheckResult.not_applicable("no TLS certificate is shared by several Gateways")
    cert, pairs = next(iter(shared.items()))
    hosts = sorted({h.partition("/")[2] or h for _, s in pairs for h in s.hosts})
    log = _log(ctx) if pod.is_gateway else None
    hit = [e for e in _entries(log) if _is_nr(e) and any(host_matches(h, _authority_host(e.authority)) for h in hosts)
           and (e.protocol or "").upper().startswith("HTTP/2")]
    msgs = _analyze(ctx, ["IST0138"])
    if not hit and not msgs:
        return CheckResult.passed(f"certificate {cert.split('/')[-1]} is shared by {sorted({_gw_key(g) for g, _ in pairs})}, but no HTTP/2 404 NR for their hosts is seen")
    evidence = [ctx.ref(Need.GATEWAYS, [{"gateway": _gw_key(g), "server": _dump(s)} for g, s in pairs], "the same certificate on several Gateways")]
    if hit:
        evidence.insert(0, ctx.ref(Need.PROXY_LOGS, _lines(hit), "HTTP/2 requests answered 404 NR on a reused connection"))
    evidence += _analyze_ref(ctx, msgs)
    return CheckResult.failed(
        f"Gateways {sorted({_gw_key(g) for g, _ in pairs})} terminate TLS with the same certificate {cert.split('/')[-1]} for hosts {hosts}; "
        "browsers reuse one HTTP/2 connection for all of them and requests for the other host hit the wrong server's routes (404 NR)",
        evidence=evidence, observed=[f"{len(hit)}× HTTP/2 404 NR for {hit[0].authority}"] if hit else [],
        confidence=0.85 if hit else 0.6, resources=[f"Gateway {_gw_key(g)}" for g, _ in pairs],
        fix=Fix(summary="serve these hosts from one Gateway server (one wildcard or multi-host certificate), or give each Gateway its own certificate",
                steps=[FixStep(description="merge the servers into one Gateway whose hosts list every host", yaml_patch=json.dumps(
                    {"spec": {"servers": [{"port": _dump(pairs[0][1].port), "hosts": hosts, "tls": _dump(pairs[0][1].tls)}]}}, indent=2))]),
    )


@check("ROUTE-GW-CONFLICT", needs=(Need.POD, Need.GATEWAYS, Need.VIRTUAL_SERVICES),
       optional=(Need.PROXY_LOGS, Need.ANALYZE, Need.SERVICES, Need.CONTROL_PLANE_PODS, Need.PODS))
def gw_conflict(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Several Gateways with the same selector declare the same port and overlapping hosts."""
    pod = ctx.pod()
    gws = _relevant_gateways(ctx, pod)
    if not gws:
        return CheckResult.not_applicable("no Gateway serves the examined pod's traffic")
    all_gws = ctx.resources(Need.GATEWAYS)
    found = None
    for g in gws:
        for o in all_gws:
            if _gw_key(o) == _gw_key(g) or o.spec.selector != g.spec.selector:
                continue
            for s in g.spec.servers:
                for t in o.spec.servers:
                    if s.port.number != t.port.number:
                        continue
                    common = [a for a in s.hosts for b in t.hosts if hosts_intersect(a.partition("/")[2] or a, b.partition("/")[2] or b)]
                    if common:
                        found = (g, s, o, t, common)
                        break
                if found:
                    break
            if found:
                break
        if found:
            break
    if not found:
        return CheckResult.passed("no other Gateway with the same selector declares an overlapping port and host")
    g, s, o, t, common = found
    tls = bool(_server_tls_mode(s) or _server_tls_mode(t))
    log = _log(ctx) if pod.is_gateway else None
    hit = [e for e in _entries(log) if (_is_nr(e) or e.response_code_details == "filter_chain_not_found")
           and _port_of(e.downstream_local_address) in (s.port.number, s.port.target_port)]
    msgs = _analyze(ctx, ["IST0145"])
    if not tls and not hit and not msgs:
        return CheckResult.passed(f"Gateways {_gw_key(g)} and {_gw_key(o)} share port {s.port.number} and hosts {common}; "
                                  "for plain HTTP Istio merges them and no failing request shows a conflict")
    evidence = [ctx.ref(Need.GATEWAYS, [{"gateway": _gw_key(g), "selector": g.spec.selector, "server": _dump(s)},
                                        {"gateway": _gw_key(o), "selector": o.spec.selector, "server": _dump(t)}], "overlapping servers")]
    if hit:
        evidence.insert(0, ctx.ref(Need.PROXY_LOGS, _lines(hit), "failing requests on the contested port"))
    evidence += _analyze_ref(ctx, msgs)
    return CheckResult.failed(
        f"Gateways {_gw_key(g)} and {_gw_key(o)} select the same pods ({g.spec.selector}) and both declare port {s.port.number} "
        f"for host(s) {sorted(set(common))}" + ("; for TLS only one filter chain per SNI can exist, so one server is dropped" if tls else
                                                 "; the routes of one of them shadow the other's"),
        evidence=evidence, observed=[f"{len(hit)}× failing requests on gateway port {s.port.number}"] if hit else [],
        confidence=0.85 if (hit or tls) else 0.65, resources=[f"Gateway {_gw_key(g)}", f"Gateway {_gw_key(o)}"],
        fix=Fix(summary="merge the overlapping servers into one Gateway, or give them distinct hosts (and unique port names)",
                steps=[FixStep(description="remove the duplicate server from one Gateway", command=f"kubectl edit gateway {o.metadata.name} -n {o.metadata.namespace}")]),
    )


@check("ROUTE-GW-CREDENTIAL", needs=(Need.POD, Need.CONFIG_DUMP, Need.GATEWAYS), optional=(Need.ANALYZE, Need.PROXY_LOGS))
def gw_credential(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A Gateway's credentialName secret is missing or invalid: the gateway's SDS secret stays WARMING."""
    pod = ctx.pod()
    if not pod.is_gateway:
        return CheckResult.not_applicable("the examined pod is not a gateway (its config dump has no gateway certificates)")
    creds = [(g, s, s.tls.credential_name) for g in _gateways_selecting(ctx, pod) for s in g.spec.servers
             if s.tls is not None and s.tls.credential_name and _server_tls_mode(s) not in (None, "PASSTHROUGH")]
    if not creds:
        return CheckResult.not_applicable("no Gateway server of this gateway uses credentialName")
    dump = ctx.config_dump()
    if "secrets" not in dump.sections:
        return CheckResult.unknown("the config dump has no secrets section", reason="secrets were not part of the config dump")
    for g, s, cred in creds:
        names = {f"kubernetes://{cred}", f"kubernetes://{g.metadata.namespace}/{cred}", cred}
        ours = [x for x in dump.secrets if x.name in names or x.name.endswith(f"/{cred}")]
        active = [x for x in ours if x.status == "ACTIVE"]
        if active:
            continue
        state = ", ".join(f"{x.name} {x.status}" for x in ours) or f"no secret named kubernetes://{cred}"
        msgs = _analyze(ctx, ["IST0101", "IST0161"], kind="Gateway", name=g.metadata.name)
        evidence = [ctx.ref(Need.CONFIG_DUMP, "NAME\tSTATUS\n" + "\n".join(f"{x.name}\t{x.status}" for x in dump.secrets), "gateway SDS secrets"),
                    ctx.ref(Need.GATEWAYS, {"gateway": _gw_key(g), "server": _dump(s)}, "the server's credentialName")]
        evidence += _analyze_ref(ctx, msgs)
        return CheckResult.failed(
            f"Gateway {_gw_key(g)} port {s.port.number} uses credentialName {cred}, but the gateway has no usable certificate for it ({state}); "
            f"TLS handshakes on that port fail",
            evidence=evidence, confidence=0.9, resources=[f"Gateway {_gw_key(g)}", f"Secret {pod.namespace}/{cred}"],
            fix=Fix(summary=f"create a valid TLS secret {cred} (keys tls.crt/tls.key, or cert/key) in the gateway pod's namespace {pod.namespace}",
                    steps=[FixStep(description="check the secret exists where the gateway runs", command=f"kubectl get secret {cred} -n {pod.namespace}"),
                           FixStep(description="create it", command=f"kubectl create -n {pod.namespace} secret tls {cred} --cert=<cert.pem> --key=<key.pem>")],
                    ordered=True),
        )
    return CheckResult.passed(f"every credentialName of the gateway's servers is loaded ACTIVE ({', '.join(sorted({c for _, _, c in creds}))})")


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
            sfq = svc.fqdn() if svc is not None else None
            for vs in vss:
                if vs.applies_to_mesh and exported_to(vs.spec.export_to, _vs_ns(vs), ctx.namespace) and _vs_matches_host(vs, host, sfq):
                    out[(_vs_ns(vs), vs.metadata.name)] = (vs, ctx.namespace)
    for vs in _relevant_vs_for_pod(ctx, pod):
        out.setdefault((_vs_ns(vs), vs.metadata.name), (vs, _vs_ns(vs)))
    return list(out.values())


def _nc_entries(ctx: CheckContext) -> list[Any]:
    return [e for e in _entries(_log(ctx)) if _is_nc(e)]


def _called(ctx: CheckContext) -> list[Any]:
    """Entries of the hosts the examined pod calls (successful or not): their VirtualServices matter."""
    return [e for e in _entries(_log(ctx)) if e.authority and (e.direction == "outbound" or _is_route_failure(e))]


@check("ROUTE-DEST-HOST-UNKNOWN", needs=(Need.POD, Need.VIRTUAL_SERVICES, Need.SERVICES, Need.SERVICE_ENTRIES),
       optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP, Need.GATEWAYS, Need.ANALYZE))
def dest_host_unknown(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A VirtualService routes to a host that is in no registry (no Service, no ServiceEntry): 503 NC."""
    pod = ctx.pod()
    nc = _nc_entries(ctx)
    cands = _candidate_vs(ctx, pod, _called(ctx))
    if not cands:
        return CheckResult.not_applicable("no VirtualService routes the examined pod's traffic")
    dump = ctx.ev.get_or(None, Need.CONFIG_DUMP, ctx.namespace, ctx.pod_name)
    for vs, _client_ns in cands:
        vns = _vs_ns(vs)
        for d in vs.destinations:
            r = istio_resolve_host(d.host, vns)
            if _in_registry(ctx, r):
                continue
            if dump is not None and dump.clusters_for(r):
                continue  # Envoy knows it (e.g. a registry we cannot list): not unknown
            hits = [e for e in nc if _vs_matches_host(vs, _authority_host(e.authority), None) or pod.is_gateway] or \
                   [e for e in nc if e.route_name and e.route_name in {h.name for h in vs.spec.http if h.name}]
            intended = fqdn(d.host, vns)
            names = [f"{s.metadata.name}.{s.metadata.namespace}" for s in ctx.services()]
            close = difflib.get_close_matches(f"{d.host.split('.')[0]}.{(d.host.split('.') + [vns])[1]}" if "." in d.host else f"{d.host}.{vns}", names, n=1)
            if _in_registry(ctx, intended) and intended != r:
                suggestion = intended
                why = f"Istio reads {d.host!r} literally (only dotless short names are expanded), so it is not {intended}"
            elif close:
                suggestion = fqdn(close[0], vns)
                why = f"no Service or ServiceEntry is named {r} (did you mean {suggestion}?)"
            else:
                suggestion = ""
                why = f"no Service or ServiceEntry is named {r}"
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
                f"VirtualService {vns}/{vs.metadata.name} routes to {d.host!r}, which is not in the service registry: {why}; "
                "Envoy has no cluster for it and answers 503 NC cluster_not_found",
                evidence=evidence, observed=[f"{len(hits)}× 503 NC cluster_not_found"] if hits else [],
                confidence=0.95 if hits else 0.75, resources=[f"VirtualService {vns}/{vs.metadata.name}"],
                fix=Fix(summary=f"fix the destination host of VirtualService {vs.metadata.name}" + (f" to {suggestion}" if suggestion else " or add a ServiceEntry"),
                        steps=steps),
            )
    return CheckResult.passed(f"every destination of {len(cands)} VirtualService(s) is a known Service or ServiceEntry host")


@check("ROUTE-SUBSET-UNDEFINED", needs=(Need.POD, Need.VIRTUAL_SERVICES, Need.DESTINATION_RULES, Need.SERVICES),
       optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP, Need.GATEWAYS, Need.SERVICE_ENTRIES, Need.ANALYZE, Need.CONTROL_PLANE_CONFIGMAPS,
                 Need.DESCRIBE))
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
        host = istio_resolve_host(d.host, vns)
        applied = destination_rule_for(ctx, host, cns, pod.labels if cns == ctx.namespace else None)
        if applied is not None and applied.rule.subset(d.subset) is not None:
            continue
        anywhere = [dr for dr in all_destination_rules_for(ctx, host) if dr.subset(d.subset) is not None]
        if anywhere:
            continue  # defined, but hidden or shadowed: ROUTE-EXPORTTO-HIDDEN decides
        port = d.port.number if d.port else None
        if dump is not None and dump.clusters_for(host, port, d.subset):
            continue
        hits = [e for e in nc + nr if _vs_matches_host(vs, _authority_host(e.authority), host)] or nc
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
            f"VirtualService {vns}/{vs.metadata.name} routes to subset {d.subset!r} of {host}, but "
            + (f"{applied.why} defines only {[s.name for s in applied.rule.spec.subsets]}" if applied else "no DestinationRule for that host exists")
            + f"; Envoy has no cluster outbound|{port or '*'}|{d.subset}|{host} and answers 503 NC",
            evidence=evidence, observed=[f"{len(hits)}× {hits[0].response_code} {','.join(hits[0].response_flags)} {hits[0].response_code_details or ''}".strip()] if hits else [],
            confidence=0.95 if hits else 0.75, resources=[f"VirtualService {vns}/{vs.metadata.name}"] + ([f"DestinationRule {applied.rule.metadata.namespace}/{applied.rule.metadata.name}"] if applied else []),
            fix=Fix(summary=f"define subset {d.subset} in the DestinationRule for {host} first, then (re)apply the VirtualService",
                    ordered=True,
                    steps=[FixStep(description=f"add subset {d.subset} to the DestinationRule", command=dr_cmd, yaml_patch=dr_yaml),
                           FixStep(description="wait until the proxy has the subset cluster",
                                   command=f"istioctl proxy-config cluster {ctx.pod_name}.{ctx.namespace} --fqdn {host} --subset {d.subset}"),
                           FixStep(description="only then apply the VirtualService that routes to it",
                                   command=f"kubectl get virtualservice {vs.metadata.name} -n {vns} -o yaml | kubectl apply -f -")]),
        )
    return CheckResult.passed("every subset the VirtualServices route to is defined by the DestinationRule that applies")


@check("ROUTE-PORT-AMBIGUOUS", needs=(Need.POD, Need.VIRTUAL_SERVICES, Need.SERVICES),
       optional=(Need.PROXY_LOGS, Need.CONFIG_DUMP, Need.GATEWAYS, Need.ANALYZE))
def port_ambiguous(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A VirtualService destination omits the port of a multi-port Service Envoy cannot infer."""
    pod = ctx.pod()
    nc = _nc_entries(ctx)
    cands = _candidate_vs(ctx, pod, _called(ctx))
    if not cands:
        return CheckResult.not_applicable("no VirtualService routes the examined pod's traffic")
    for vs, _cns in cands:
        vns = _vs_ns(vs)
        gateway_bound = bool(_gw_refs(vs))
        vs_fqdns = {istio_resolve_host(h, vns) for h in vs.spec.hosts}
        for d in vs.destinations:
            if d.port is not None and d.port.number:
                continue
            svc = _service_by_fqdn(ctx, istio_resolve_host(d.host, vns))
            if svc is None or len(svc.spec.ports) < 2:
                continue
            host = svc.fqdn()
            # A mesh VS routing a service to itself keeps the listener's port: no ambiguity there.
            if not gateway_bound and host in vs_fqdns:
                continue
            hits = [e for e in nc if _vs_matches_host(vs, _authority_host(e.authority), None) or pod.is_gateway]
            ports = [p.port for p in svc.spec.ports]
            evidence = []
            if hits:
                evidence.append(ctx.ref(Need.PROXY_LOGS, _lines(hits), "503 NC: no cluster for the guessed port"))
            evidence += [ctx.ref(Need.VIRTUAL_SERVICES, _vs_excerpt(vs), f"destination {d.host} without port"),
                         ctx.ref(Need.SERVICES, {"name": svc.metadata.name, "namespace": svc.metadata.namespace,
                                                 "ports": [_dump(p) for p in svc.spec.ports]}, "the Service has several ports")]
            evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0112"], kind="VirtualService", name=vs.metadata.name))
            return CheckResult.failed(
                f"VirtualService {vns}/{vs.metadata.name} routes to {d.host} without destination.port, but Service "
                f"{svc.metadata.namespace}/{svc.metadata.name} has ports {ports}; Istio cannot pick one and the route points at no cluster",
                evidence=evidence, observed=[f"{len(hits)}× 503 NC cluster_not_found"] if hits else [],
                confidence=0.9 if hits else 0.65, resources=[f"VirtualService {vns}/{vs.metadata.name}", f"Service {svc.metadata.namespace}/{svc.metadata.name}"],
                fix=Fix(summary=f"set destination.port.number (one of {ports}) on every route to {d.host}",
                        steps=[FixStep(description="add the port", command=f"kubectl edit virtualservice {vs.metadata.name} -n {vns}",
                                       yaml_patch=f"- destination:\n    host: {d.host}\n    port:\n      number: {ports[0]}")]),
            )
    return CheckResult.passed("every destination of a multi-port Service names its port")


# --------------------------------------------------------------------------------------
# VirtualService conflicts, visibility (exportTo, Sidecar)
# --------------------------------------------------------------------------------------


def _relevant_hosts(ctx: CheckContext, pod: Any) -> set[str]:
    hosts = {s.fqdn() for s in _pod_services(ctx, pod)}
    for e in _entries(_log(ctx)):
        if e.is_envoy_generated and e.authority:
            svc = _service_for_authority(ctx, _authority_host(e.authority), ctx.namespace)
            if svc is not None:
                hosts.add(svc.fqdn())
    return hosts


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
            r = istio_resolve_host(h, _vs_ns(vs))
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
                    h = istio_resolve_host(d.host, _vs_ns(vs))
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
                    r = istio_resolve_host(d.host, _vs_ns(vs))
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
    mine = {s.fqdn() for s in _pod_services(ctx, pod)}
    dump = ctx.ev.get_or(None, Need.CONFIG_DUMP, ctx.namespace, ctx.pod_name) if pod.is_gateway else None
    for gvs in gw_vss:
        if "mesh" in gvs.spec.gateways:
            continue
        for d in gvs.destinations:
            if d.subset:
                continue
            host = istio_resolve_host(d.host, _vs_ns(gvs))
            if mine and not pod.is_gateway and host not in mine:
                continue
            svc = _service_by_fqdn(ctx, host)
            if svc is None:
                continue
            for mvs in vss:
                if _gw_refs(mvs) or not _vs_matches_host(mvs, host, host):
                    continue
                subsets = sorted({x.subset for x in mvs.destinations if x.subset and istio_resolve_host(x.host, _vs_ns(mvs)) == host})
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
                    f"VirtualService {_vs_ns(gvs)}/{gvs.metadata.name} (gateways {gvs.spec.gateways}) sends ingress traffic to {host} without a subset, "
                    f"while mesh-only VirtualService {_vs_ns(mvs)}/{mvs.metadata.name} pins {host} to subset(s) {subsets}; gateway traffic ignores "
                    f"the mesh rules and also reaches {others}",
                    evidence=evidence, confidence=0.7, resources=[f"VirtualService {_vs_ns(gvs)}/{gvs.metadata.name}", f"VirtualService {_vs_ns(mvs)}/{mvs.metadata.name}"],
                    fix=Fix(summary=f"route to subset(s) {subsets} in the gateway VirtualService too, or bind {mvs.metadata.name} to the gateway as well (gateways: [<gateway>, mesh])",
                            steps=[FixStep(description="set the subset on the gateway route", command=f"kubectl edit virtualservice {gvs.metadata.name} -n {_vs_ns(gvs)}",
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
        hit = [e for e in _entries(log) if _is_nr(e) and _vs_matches_host(vs, _authority_host(e.authority), None)]
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
            f"VirtualService {_vs_ns(vs)}/{vs.metadata.name} on Gateway {_gw_key(g)} matches on {claims}, but no RequestAuthentication applies "
            f"to the gateway pods in {gns}; claims are never extracted, so those routes never match (404 NR)",
            evidence=evidence, observed=[f"{len(hit)}× 404 NR route_not_found at the gateway"] if hit else [],
            confidence=0.9 if hit else 0.8, resources=[f"VirtualService {_vs_ns(vs)}/{vs.metadata.name}", f"Gateway {_gw_key(g)}"],
            fix=Fix(summary="add a RequestAuthentication selecting the gateway pods (in the gateway's namespace)",
                    steps=[FixStep(description="create it", command="kubectl apply -f requestauthentication.yaml", yaml_patch=ra_yaml)]),
        )
    return CheckResult.passed("a RequestAuthentication applies to every gateway whose VirtualServices route on JWT claims")


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
        hint = {"NoMatchingParent": "fix parentRefs (name, namespace, sectionName, port) or the Gateway listener's allowedRoutes",
                "NotAllowedByListeners": "allow the route's namespace in the Gateway listener's allowedRoutes",
                "RefNotPermitted": "add a ReferenceGrant in the backend's namespace",
                "BackendNotFound": "fix the backendRef name/namespace/port to an existing Service",
                "InvalidKind": "reference a supported backend kind (Service)",
                "NoMatchingListenerHostname": "make the route hostnames intersect the listener hostname"}.get(c.reason or "", "fix the reference the condition names")
        return CheckResult.failed(
            f"{kind} {obj.metadata.namespace}/{obj.metadata.name} has {c.type}={c.status} ({c.reason}): {c.message or ''}".rstrip(": ")
            + "; the controller does not program its routes",
            evidence=evidence, confidence=0.9, resources=[f"{kind} {obj.metadata.namespace}/{obj.metadata.name}"],
            fix=Fix(summary=hint, steps=[FixStep(description="inspect the full status",
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
        f"Istio {v or '(version unknown)'} reads Gateway API {want}, but the installed CRDs ({bundle or 'unknown bundle'}) do not serve it for "
        f"{[p for p, _ in problems]}; {len(gws)} Gateway(s) and {len(routes)} HTTPRoute(s) are ignored",
        evidence=[ctx.ref(Need.CRDS, f"NAME\tBUNDLE-VERSION\tSERVED\n{lines}", "Gateway API CRD versions")],
        confidence=0.85, resources=[f"CustomResourceDefinition {p}.gateway.networking.k8s.io" for p, _ in problems],
        fix=Fix(summary="install the Gateway API CRDs this Istio release supports",
                steps=[FixStep(description="upgrade the standard channel CRDs",
                               command="kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.2.1/standard-install.yaml")]),
    )


# --------------------------------------------------------------------------------------
# xDS state, EnvoyFilters, ServiceEntries, DestinationRule hosts
# --------------------------------------------------------------------------------------


def _nacks(ctx: CheckContext) -> list[Any]:
    log = _log(ctx)
    return [ev for ev in (log.events if log is not None else []) if ev.kind == "xds_rejected"]


@check("ROUTE-XDS-STALE", needs=(Need.POD, Need.PROXY_STATUS), optional=(Need.PROXY_LOGS,))
def xds_stale(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The proxy's configuration is not in sync with istiod (STALE, NACKed, or not connected)."""
    pod = ctx.pod()
    if not pod.has_sidecar and not pod.is_gateway:
        return CheckResult.not_applicable("the pod has no Istio proxy")
    rows = ctx.ev.get(Need.PROXY_STATUS)
    mine = [r for r in rows if r.pod == pod.name and (r.namespace in (None, pod.metadata.namespace))]
    nacks = _nacks(ctx)
    evidence = []
    problems = []
    if mine:
        bad = mine[0].not_synced
        if bad:
            problems.append(f"proxy-status reports {', '.join(f'{k.upper()} {v}' for k, v in bad.items())}")
            hdr = "NAME\tCDS\tLDS\tEDS\tRDS\tISTIOD"
            r = mine[0]
            evidence.append(ctx.ref(Need.PROXY_STATUS, f"{hdr}\n{r.name}\t{r.cds or '-'}\t{r.lds or '-'}\t{r.eds or '-'}\t{r.rds or '-'}\t{r.istiod or '-'}",
                                    "xDS sync state"))
    elif rows:
        problems.append(f"{pod.name}.{pod.metadata.namespace} is absent from proxy-status (not connected to istiod)")
        evidence.append(ctx.ref(Need.PROXY_STATUS, "\n".join(r.name for r in rows[:8]), "proxies connected to istiod (the pod is not among them)"))
    if nacks:
        problems.append(f"the proxy rejected (NACKed) {len(nacks)} config update(s)")
        evidence.append(ctx.ref(Need.PROXY_LOGS, "\n".join(n.raw for n in nacks[:3]), "xDS NACK"))
    if not problems:
        return CheckResult.passed(f"{pod.name} is connected and every xDS type is SYNCED")
    return CheckResult.failed(
        f"pod {pod.name}'s proxy config is not what istiod computed: {'; '.join(problems)}; new routes and clusters do not reach it",
        evidence=evidence, observed=[f"{len(nacks)}× xDS NACK"] if nacks else [], confidence=0.9 if nacks or (mine and mine[0].not_synced) else 0.7,
        resources=[f"Pod {pod.metadata.namespace}/{pod.name}"],
        fix=Fix(summary="fix the rejected configuration (often an EnvoyFilter) or istiod connectivity, then check proxy-status again",
                steps=[FixStep(description="see what differs between istiod and the proxy", command=f"istioctl proxy-status {pod.name}.{pod.metadata.namespace}"),
                       FixStep(description="read the rejection", command=f"kubectl logs {pod.name} -n {pod.metadata.namespace} -c istio-proxy | grep -i rejected"),
                       FixStep(description="if not connected, restart the proxy", command=f"kubectl delete pod {pod.name} -n {pod.metadata.namespace}")]),
    )


def _ef_applies(ctx: CheckContext, ef: Any, pod: Any) -> bool:
    ns = ef.metadata.namespace
    ws = ef.spec.workload_selector
    has_sel = ws is not None and bool(ws.labels)
    if ns == root_namespace(ctx):
        return not has_sel or ws.matches(pod.labels)  # type: ignore[union-attr]
    if ns != pod.metadata.namespace:
        return False
    if ef.spec.target_refs:
        return pod.is_gateway
    return not has_sel or ws.matches(pod.labels)  # type: ignore[union-attr]


@check("ROUTE-ENVOYFILTER", needs=(Need.POD, Need.ENVOY_FILTERS, Need.PROXY_LOGS), optional=(Need.ANALYZE, Need.PROXY_STATUS, Need.CONTROL_PLANE_CONFIGMAPS))
def envoyfilter(ctx: CheckContext, _: NoParams) -> CheckResult:
    """An EnvoyFilter applying to the workload produces config the proxy rejects (NACK), or is misused."""
    pod = ctx.pod()
    efs = [ef for ef in ctx.resources(Need.ENVOY_FILTERS) if _ef_applies(ctx, ef, pod)]
    if not efs:
        return CheckResult.not_applicable("no EnvoyFilter applies to the pod")
    nacks = [n for n in _nacks(ctx) if re.search(r"listener|route|Listener|RouteConfiguration|filter", n.raw)]
    if nacks:
        text = " ".join(n.raw for n in nacks)
        def named(ef: Any) -> bool:
            blob = json.dumps(_dump(ef.spec))
            return any(tok in text for tok in re.findall(r'"(envoy\.[\w.\-]+|[\w\-]+\.[\w.\-]+)"', blob))
        culprit = next((ef for ef in efs if named(ef)), None)
        ef = culprit or efs[0]
        evidence = [ctx.ref(Need.PROXY_LOGS, "\n".join(n.raw for n in nacks[:3]), "the proxy rejects the listener/route config"),
                    ctx.ref(Need.ENVOY_FILTERS, _obj_excerpt(ef, "EnvoyFilter"), "EnvoyFilter applying to this workload")]
        return CheckResult.failed(
            f"EnvoyFilter {ef.metadata.namespace}/{ef.metadata.name} patches pod {pod.name}'s proxy and the proxy rejects the result "
            f"({len(nacks)} NACK(s)" + (", naming a filter the EnvoyFilter adds" if culprit else "") + "); the proxy keeps stale listeners/routes",
            evidence=evidence, observed=[f"{len(nacks)}× xDS NACK naming listener/route config"], confidence=0.92 if culprit else 0.8,
            resources=[f"EnvoyFilter {ef.metadata.namespace}/{ef.metadata.name}"],
            fix=Fix(summary=f"fix or remove EnvoyFilter {ef.metadata.name} (typo'd filter name, wrong typed_config, or a patch valid only for another Envoy version)",
                    steps=[FixStep(description="remove it to confirm", command=f"kubectl delete envoyfilter {ef.metadata.name} -n {ef.metadata.namespace}"),
                           FixStep(description="check the proxy ACKs again", command=f"istioctl proxy-status {pod.name}.{pod.metadata.namespace}")],
                    ordered=True),
        )
    msgs = [m for m in _analyze(ctx, ["IST0151", "IST0152", "IST0153", "IST0154", "IST0155"])
            if any(m.origin_name == ef.metadata.name for ef in efs)]
    errs = [m for m in msgs if m.level == "Error"]
    if errs:
        ef = next(e for e in efs if e.metadata.name == errs[0].origin_name)
        return CheckResult.failed(
            f"EnvoyFilter {ef.metadata.namespace}/{ef.metadata.name} applies to pod {pod.name} but uses an operation Istio ignores "
            f"({errs[0].code}: {errs[0].message}); the intended patch is silently not applied",
            evidence=_analyze_ref(ctx, errs) + [ctx.ref(Need.ENVOY_FILTERS, _obj_excerpt(ef, "EnvoyFilter"), "the EnvoyFilter")],
            confidence=0.6, resources=[f"EnvoyFilter {ef.metadata.namespace}/{ef.metadata.name}"],
            fix=Fix(summary="use an operation valid for the applyTo (MERGE for ROUTE_CONFIGURATION/HTTP_ROUTE; INSERT_* with priority for filters)",
                    steps=[FixStep(description="edit the patch", command=f"kubectl edit envoyfilter {ef.metadata.name} -n {ef.metadata.namespace}")]),
        )
    return CheckResult.passed(f"{len(efs)} EnvoyFilter(s) apply to the pod and the proxy accepted its configuration")


def _auto_allocate(ctx: CheckContext, pod: Any) -> bool:
    """DNS proxy auto-allocation gives address-less ServiceEntries a VIP (so no listener conflict)."""
    ann = pod.annotations.get("proxy.istio.io/config", "")
    if "ISTIO_META_DNS_AUTO_ALLOCATE" in ann and "true" in ann.split("ISTIO_META_DNS_AUTO_ALLOCATE", 1)[1][:12].lower():
        return True
    try:
        md = ctx.mesh_config(pod.revision).default_config.proxy_metadata
    except Exception:  # noqa: BLE001 - no mesh config: Istio's default (off)
        return False
    return str(md.get("ISTIO_META_DNS_AUTO_ALLOCATE", "")).lower() == "true"


@check("ROUTE-SE-TCP-NO-ADDRESS", needs=(Need.POD, Need.SERVICE_ENTRIES),
       optional=(Need.PROXY_LOGS, Need.CONTROL_PLANE_CONFIGMAPS, Need.ANALYZE))
def se_tcp_no_address(ctx: CheckContext, _: NoParams) -> CheckResult:
    """TCP ServiceEntries without addresses share one 0.0.0.0:<port> listener: traffic goes to the wrong host."""
    pod = ctx.pod()
    ses = [se for se in ctx.resources(Need.SERVICE_ENTRIES)
           if exported_to(se.spec.export_to, se.metadata.namespace or "", ctx.namespace) and not se.spec.addresses
           and not se.status.get("addresses")]
    tcp = [(se, p) for se in ses for p in se.spec.ports if (p.protocol or "TCP").upper() in ("TCP", "TLS", "MONGO", "MYSQL", "REDIS", "")]
    tcp = [(se, p) for se, p in tcp if (p.protocol or "").upper() not in ("TLS",) or se.spec.resolution == "NONE"]
    if not tcp:
        return CheckResult.not_applicable("no address-less TCP ServiceEntry is visible to the pod")
    if _auto_allocate(ctx, pod):
        return CheckResult.passed("DNS auto-allocation gives address-less ServiceEntries their own VIPs")
    by_port: dict[int, list[Any]] = {}
    for se, p in tcp:
        by_port.setdefault(p.number, []).append(se)
    log = _log(ctx)
    failing_ports = Counter(_port_of(e.downstream_local_address) for e in _entries(log)
                            if e.is_tcp and (e.response_flags or e.upstream_cluster in ("BlackHoleCluster", None)))
    for port, group in sorted(by_port.items(), key=lambda kv: -len(kv[1])):
        shared = len({(s.metadata.namespace, s.metadata.name) for s in group}) > 1
        hits = [e for e in _entries(log) if e.is_tcp and _port_of(e.downstream_local_address) == port
                and (e.response_flags or (e.upstream_cluster or "").endswith(tuple(h for s in group for h in s.spec.hosts)))]
        if not shared and not failing_ports.get(port):
            continue
        se = group[0]
        evidence = [ctx.ref(Need.SERVICE_ENTRIES, [_obj_excerpt(s, "ServiceEntry") for s in group], f"TCP port {port} without spec.addresses")]
        if hits:
            evidence.insert(0, ctx.ref(Need.PROXY_LOGS, _lines(hits), f"TCP connections on port {port}"))
        evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0134"]))
        return CheckResult.failed(
            f"ServiceEntr{'ies' if shared else 'y'} {', '.join(f'{s.metadata.namespace}/{s.metadata.name}' for s in group)} declare TCP port {port} "
            f"without addresses; the sidecar can only build one 0.0.0.0:{port} listener, so TCP traffic on that port goes to "
            f"{se.spec.hosts[0]} whatever host the client meant",
            evidence=evidence, observed=[f"{len(hits)}× failing TCP connection on port {port}"] if hits else [],
            confidence=0.85 if hits else 0.65, resources=[f"ServiceEntry {s.metadata.namespace}/{s.metadata.name}" for s in group],
            fix=Fix(summary="give each TCP ServiceEntry its addresses (IP/CIDR), or enable DNS auto-allocation (ISTIO_META_DNS_CAPTURE + ISTIO_META_DNS_AUTO_ALLOCATE)",
                    steps=[FixStep(description="add spec.addresses", command=f"kubectl edit serviceentry {se.metadata.name} -n {se.metadata.namespace}",
                                   yaml_patch="spec:\n  addresses:\n  - <ip-or-cidr>"),
                           FixStep(description="or enable auto-allocation mesh-wide", yaml_patch=
                                   "meshConfig:\n  defaultConfig:\n    proxyMetadata:\n      ISTIO_META_DNS_CAPTURE: \"true\"\n      ISTIO_META_DNS_AUTO_ALLOCATE: \"true\"")]),
        )
    return CheckResult.passed("address-less TCP ServiceEntries do not share a port and no TCP traffic on their ports fails")


@check("ROUTE-DR-HOST-UNKNOWN", needs=(Need.POD, Need.DESTINATION_RULES, Need.SERVICES, Need.SERVICE_ENTRIES),
       optional=(Need.VIRTUAL_SERVICES, Need.PROXY_LOGS, Need.ANALYZE))
def dr_host_unknown(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A DestinationRule's host matches no Service or ServiceEntry, so the rule is silently unused."""
    pod = ctx.pod()
    hosts = _relevant_hosts(ctx, pod)
    subset_hosts = {istio_resolve_host(d.host, _vs_ns(vs)) for vs in ctx.ev.get_or([], Need.VIRTUAL_SERVICES) for d in vs.destinations if d.subset}
    cands = []
    for dr in ctx.resources(Need.DESTINATION_RULES):
        if not dr.spec.host or "*" in dr.spec.host:
            continue
        ns = dr.metadata.namespace or "default"
        meant = fqdn(dr.spec.host, ns)
        if ns == ctx.namespace or meant in hosts or meant in subset_hosts:
            cands.append(dr)
    if not cands:
        return CheckResult.not_applicable("no DestinationRule concerns the examined pod's traffic")
    for dr in cands:
        ns = dr.metadata.namespace or "default"
        actual = istio_resolve_host(dr.spec.host, ns)
        if _in_registry(ctx, actual):
            continue
        meant = fqdn(dr.spec.host, ns)
        names = [s.metadata.name for s in ctx.services(ns)]
        close = difflib.get_close_matches(dr.spec.host.split(".")[0], names, n=1)
        if meant != actual and _in_registry(ctx, meant):
            suggestion, why = meant, f"Istio reads {dr.spec.host!r} literally (only dotless names are expanded), so it is not {meant}"
        elif close:
            suggestion, why = fqdn(close[0], ns), f"no Service or ServiceEntry is named {actual} (did you mean {close[0]}?)"
        else:
            suggestion, why = "", f"no Service or ServiceEntry is named {actual}"
        evidence = [ctx.ref(Need.DESTINATION_RULES, _obj_excerpt(dr, "DestinationRule"), "the DestinationRule host")]
        evidence += _analyze_ref(ctx, _analyze(ctx, ["IST0174"], kind="DestinationRule", name=dr.metadata.name))
        return CheckResult.failed(
            f"DestinationRule {ns}/{dr.metadata.name} has host {dr.spec.host!r}: {why}; its subsets and traffic policy apply to nothing",
            evidence=evidence, confidence=0.8, resources=[f"DestinationRule {ns}/{dr.metadata.name}"],
            fix=Fix(summary=f"set spec.host to {suggestion or 'an existing service host'}",
                    steps=[FixStep(description="correct the host",
                                   command=(f"kubectl patch destinationrule {dr.metadata.name} -n {ns} --type merge -p "
                                            f"'{json.dumps({'spec': {'host': suggestion}})}'" if suggestion else f"kubectl edit destinationrule {dr.metadata.name} -n {ns}"))]),
        )
    return CheckResult.passed(f"every DestinationRule concerning the pod's traffic names a known host ({len(cands)} checked)")
