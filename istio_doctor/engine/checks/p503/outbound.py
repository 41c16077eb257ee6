"""Where the client's sidecar sends a call: ``P503-REGISTRY-ONLY`` (hosts without a ServiceEntry go
to the BlackHoleCluster) and ``P503-HEADLESS-PODIP`` (a headless Service's pod called by IP on an
HTTP port matches no route).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import yaml

from istio_doctor.engine.checks.p503._reading import (
    describe_group,
    dump,
    is_ip,
    log_ref,
    pod_logs,
    pod_ref,
    pods_in,
    port_protocol,
    svc_ref,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh import container_port_for
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.accesslog import AccessLogEntry, is_failure
from istio_doctor.evidence.bundle import Need
from istio_doctor.engine.mesh.hosts import host_matches


def _blackholed(e: AccessLogEntry) -> bool:
    return e.upstream_cluster == "BlackHoleCluster" or e.route_name == "block_all"


def _blackholed_dest(e: AccessLogEntry) -> tuple[str, str]:
    """(host, port) a blackholed request was meant for: the authority (or SNI) for the host, the
    original destination (downstream local address) for the port when the authority has none."""
    raw = (e.authority or e.requested_server_name or e.downstream_local_address or "?").strip()
    if raw.startswith("["):  # [v6]:port
        h, _, rest = raw.partition("]")
        host, port = h + "]", rest.lstrip(":")
    elif raw.count(":") == 1:
        host, _, port = raw.partition(":")
    else:
        host, port = raw, ""
    if not port and e.downstream_local_address and ":" in e.downstream_local_address:
        port = e.downstream_local_address.rsplit(":", 1)[1]
    if not port:
        port = "443" if e.is_tcp else "80"
    return host, port


def _registry_service(ctx: CheckContext, e: AccessLogEntry, client_ns: str) -> Any | None:
    """The Kubernetes Service a blackholed request was meant for: its Host (short name resolved in
    the client's namespace, or name.ns[.svc...]) or the ClusterIP it connected to."""
    host, _ = _blackholed_dest(e)
    svcs = [s for s in ctx.ev.get_or([], Need.SERVICES) if not s.is_headless]
    dst_ip = (e.downstream_local_address or "").rsplit(":", 1)[0]
    for s in svcs:
        if s.spec.cluster_ip and s.spec.cluster_ip in (host, dst_ip):
            return s
    if not host or is_ip(host):
        return None
    parts = host.split(".")
    if len(parts) == 1:
        name, ns = host, client_ns
    elif len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
        name, ns = parts[0], parts[1]
    else:
        return None
    return next((s for s in svcs if s.metadata.name == name and s.metadata.namespace == ns), None)


def _unknown_host_nr(ctx: CheckContext, e: AccessLogEntry, client_ns: str) -> bool:
    """An HTTP request to an external host that nothing in the registry declares, answered 404 NR
    without an upstream: how proxies before the ``block_all`` route (Istio <= 1.2, and the 0.x/1.0
    default) rejected it under a registry-only policy."""
    if e.response_code != 404 or "NR" not in (e.response_flags or []) or not e.authority or (e.upstream_cluster or "-") != "-":
        return False
    host, _ = _blackholed_dest(e)
    if is_ip(host) or "." not in host or _registry_service(ctx, e, client_ns) is not None:
        return False
    return not any(host_matches(x, host) for se in ctx.ev.get_or([], Need.SERVICE_ENTRIES) for x in se.spec.hosts)


@check("P503-REGISTRY-ONLY", needs=(Need.POD, Need.PROXY_LOGS, Need.CONTROL_PLANE_CONFIGMAPS),
       optional=(Need.SIDECARS, Need.SERVICE_ENTRIES, Need.SERVICES, Need.PODS))
def registry_only(ctx: CheckContext, _: NoParams) -> CheckResult:
    """outboundTrafficPolicy REGISTRY_ONLY sends calls to hosts without a ServiceEntry to the BlackHoleCluster (502)."""
    pod = ctx.pod()
    mode, source, sc_obj = ctx.mesh_config(pod.revision).outbound_traffic_policy.mode, "meshConfig.outboundTrafficPolicy", None
    for sc in ctx.ev.get_or([], Need.SIDECARS):
        if sc.metadata.namespace != pod.metadata.namespace or sc.spec.outbound_traffic_policy is None or not sc.spec.outbound_traffic_policy.mode:
            continue
        ws = sc.spec.workload_selector
        if ws is None or not ws.labels or ws.matches(pod.labels):
            mode, source, sc_obj = sc.spec.outbound_traffic_policy.mode, f"Sidecar {sc.metadata.namespace}/{sc.metadata.name}", sc
            if ws is not None and ws.labels:
                break
    log = ctx.proxy_log()
    bh = [e for e in log.entries if _blackholed(e)]
    if mode != "REGISTRY_ONLY":
        if bh:
            return CheckResult.passed(f"{len(bh)} request(s) to BlackHoleCluster but the policy is {mode} ({source})")
        return CheckResult.not_applicable(f"outboundTrafficPolicy is {mode} ({source})")
    bh += [e for e in log.entries if not _blackholed(e) and _unknown_host_nr(ctx, e, pod.metadata.namespace)]
    if not bh:
        return CheckResult.passed(f"outboundTrafficPolicy is REGISTRY_ONLY ({source}) and no request was blackholed")
    headless_ips = {p.ip for s in ctx.ev.get_or([], Need.SERVICES) if s.is_headless and s.spec.selector
                    for p in (pods_in(ctx, s.metadata.namespace) or []) if p.ip and s.selects(p)}
    hosts = Counter((e.authority or e.requested_server_name or e.downstream_local_address or "?") for e in bh)
    # a headless Service's pod called by IP is blackholed too, but a ServiceEntry is not its fix
    hosts = Counter({h: n for h, n in hosts.items() if h.rsplit(":", 1)[0] not in headless_ips})
    if not hosts:
        return CheckResult.passed("the blackholed requests address pods of a headless Service by IP (see P503-HEADLESS-PODIP)")
    # A Kubernetes Service is in the registry already: when a call to it is blackholed, the proxy
    # does not see it (Sidecar egress hosts, exportTo), and a ServiceEntry is not the fix.
    by_host = {(e.authority or e.requested_server_name or e.downstream_local_address or "?"): e for e in bh}
    k8s = {h: s for h in hosts if (s := _registry_service(ctx, by_host[h], pod.metadata.namespace)) is not None}
    hosts = Counter({h: n for h, n in hosts.items() if h not in k8s})
    if not hosts:
        names = sorted({f"{s.metadata.namespace}/{s.metadata.name}" for s in k8s.values()})
        return CheckResult.passed(f"the blackholed requests go to Kubernetes Service(s) {names}, which are in the registry but not "
                                  "visible to this proxy (see ROUTE-SIDECAR-SCOPE / ROUTE-EXPORTTO-HIDDEN)")
    entries = ctx.ev.get_or([], Need.SERVICE_ENTRIES)
    missing = [h for h in hosts if not any(host_matches(x, h.rsplit(":", 1)[0]) for se in entries for x in se.spec.hosts)]
    # A ServiceEntry for the host on another port does not help: Istio builds the listener/route
    # only for the declared ports, so a call to an undeclared port is blackholed all the same.
    wrong_port: list[tuple[str, str, list[str]]] = []
    for e in bh:
        key = e.authority or e.requested_server_name or e.downstream_local_address or "?"
        if key not in hosts or key in missing:
            continue
        host, port_s = _blackholed_dest(e)
        ses = [se for se in entries if any(host_matches(x, host) for x in se.spec.hosts)]
        declared = sorted({p.number for se in ses for p in se.spec.ports})
        if port_s.isdigit() and declared and int(port_s) not in declared and not any(w[0] == host and w[1] == port_s for w in wrong_port):
            wrong_port.append((host, port_s, [f"{se.metadata.namespace}/{se.metadata.name}" for se in ses]))
    if not missing and not wrong_port:
        return CheckResult.passed(f"blackholed hosts {sorted(hosts)} have ServiceEntries for their ports (check their exportTo and Sidecar egress)")
    if not missing:
        host, port_s, names = wrong_port[0]
        ses = [se for se in entries if f"{se.metadata.namespace}/{se.metadata.name}" in names]
        declared = sorted({p.number for se in ses for p in se.spec.ports})
        evidence = [ctx.ref(Need.SERVICE_ENTRIES, "\n".join(f"{n}: hosts {se.spec.hosts}, ports {[p.number for p in se.spec.ports]}"
                                                             for n, se in zip(names, ses)), "ServiceEntries for the host"),
                    ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in bh[:4]), "requests sent to the BlackHoleCluster / block_all route")]
        if sc_obj is not None:
            evidence.insert(0, ctx.ref(Need.SIDECARS, dump(sc_obj.spec), source))
        return CheckResult.failed(
            message="wrong_port",
            args={"source": source, "service_entries": names, "host": host, "declared": declared, "port": port_s,
                  "requests": describe_group(bh)},
            corroboration="wrong_port",
            evidence=evidence, observed=[describe_group(bh)],
            resources=[f"ServiceEntry {n}" for n in names],
            fix=Fix(steps=[
                FixStep(description=f"Declare port {port_s} on ServiceEntry {names[0]}",
                        command=f"kubectl edit serviceentry {names[0].split('/', 1)[1]} -n {names[0].split('/', 1)[0]}")]),
        )
    h0 = missing[0].rsplit(":", 1)[0]
    port = missing[0].rsplit(":", 1)[1] if ":" in missing[0] else ("443" if any(e.is_tcp for e in bh) else "80")
    evidence = [ctx.ref(Need.PROXY_LOGS, "\n".join(e.raw for e in bh[:4]), "requests sent to the BlackHoleCluster / block_all route")]
    if sc_obj is not None:
        evidence.insert(0, ctx.ref(Need.SIDECARS, dump(sc_obj.spec), source))
    else:
        evidence.insert(0, ctx.ref(Need.CONTROL_PLANE_CONFIGMAPS, "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY", "ConfigMap istio data.mesh"))
    return CheckResult.failed(
        args={"source": source, "missing": missing[:3], "host": h0, "requests": describe_group(bh)},
        evidence=evidence, observed=[describe_group(bh)], resources=[source] if sc_obj is not None else [],
        fix=Fix(steps=[
            FixStep(description=f"Add a ServiceEntry for {h0}", yaml_patch=yaml.safe_dump({
                "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
                "metadata": {"name": h0.replace(".", "-")[:60], "namespace": pod.metadata.namespace},
                "spec": {"hosts": [h0], "location": "MESH_EXTERNAL", "resolution": "DNS",
                         "ports": [{"number": int(port) if port.isdigit() else 443, "name": "https" if port == "443" else f"http-{port}",
                                    "protocol": "TLS" if port == "443" else "HTTP"}]}}, sort_keys=False)),
        ]),
    )


@check("P503-HEADLESS-PODIP", needs=(Need.POD, Need.SERVICES, Need.PROXY_LOGS), optional=(Need.PODS,), peer_needs=(Need.PROXY_LOGS,))
def headless_podip(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A headless Service's pod called by IP on an HTTP port: the Host header matches no route, so the sidecars fail the request."""
    headless = [s for s in ctx.ev.get(Need.SERVICES) if s.is_headless and s.spec.selector]
    if not headless:
        return CheckResult.not_applicable("no headless Service in the cluster")
    for pl in pod_logs(ctx):
        for e in pl.log.entries:
            if e.is_tcp or e.response_code < 500 or not is_ip(e.authority) or e.app_responded:
                continue
            ip = e.authority.rsplit(":", 1)[0] if e.authority and e.authority.count(":") == 1 else (e.authority or "")
            port = int(e.authority.rsplit(":", 1)[1]) if e.authority and e.authority.count(":") == 1 else 80
            for s in headless:
                pods = pods_in(ctx, s.metadata.namespace) or []
                pod = next((p for p in pods if p.ip == ip and s.selects(p)), None)
                if pod is None:
                    continue
                sp = next((x for x in s.spec.ports if x.port == port or container_port_for(s, x, pod) == port), None)
                if sp is None or not port_protocol(ctx, sp).is_http_or_sniffed:
                    continue
                es = [x for x in pl.log.entries if x.authority == e.authority and is_failure(x)]
                return CheckResult.failed(
                    args={"service": svc_ref(s), "authority": e.authority, "port": sp.port, "port_name": sp.name or "unnamed",
                          "requests": describe_group(es)},
                    evidence=[log_ref(ctx, pl, es, "Host header is a pod IP"),
                              ctx.ref(Need.SERVICES, {"name": s.metadata.name, "namespace": s.metadata.namespace, "clusterIP": "None",
                                                      "ports": [dump(sp)]}, "headless Service, HTTP port")],
                    observed=[describe_group(es)], resources=[svc_ref(s), pod_ref(pod)],
                    fix=Fix(steps=[
                        FixStep(description="Use the per-pod DNS name", command=f"curl http://{pod.metadata.name}.{s.metadata.name}.{s.metadata.namespace}:{sp.port}/"),
                        FixStep(description="Or set the Host header", command=f"curl -H 'Host: {s.metadata.name}.{s.metadata.namespace}' http://{e.authority}/"),
                    ]),
                )
    return CheckResult.passed("no failing request addressed a headless Service's pod by IP")
