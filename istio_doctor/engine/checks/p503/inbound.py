"""The server's sidecar cannot reach its app: ``P503-LOCALHOST-BIND`` (the app listens only on
127.0.0.1, which the sidecar no longer forwards to since Istio 1.10) and ``P503-TARGETPORT`` (a
Service targetPort on which nothing in the pod listens).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import yaml

from istio_doctor.engine.checks.p503._reading import (
    ISTIO_PORTS,
    PodLog,
    describe_group,
    dump,
    has_flag,
    log_ref,
    pod_logs,
    pod_ref,
    port_protocol,
    server_pods,
    svc_ref,
    target_ports,
    workload_name,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.resolve import service_host
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.accesslog import AccessLogEntry
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.sockets import binds_only_localhost

# --------------------------------------------------------------------------------------
# P503-LOCALHOST-BIND / P503-TARGETPORT: the server's sidecar cannot reach its app
# --------------------------------------------------------------------------------------


def _inbound_uf(pl: PodLog | None, port: int) -> list[AccessLogEntry]:
    if pl is None:
        return []
    return [
        e for e in pl.log.entries
        if e.direction == "inbound" and (e.upstream_service is None or e.upstream_service.port == port)
        and (has_flag(e, "UF") or "connection_failure" in (e.response_code_details or ""))
    ]


def _client_uf(ctx: CheckContext, pls: list[PodLog], svc: Any) -> tuple[PodLog | None, list[AccessLogEntry]]:
    for pl in pls:
        hits = [e for e in pl.log.entries if e.direction == "outbound" and e.upstream_service is not None
                and e.upstream_service.fqdn == service_host(ctx, svc) and (has_flag(e, "UF") or "connection_failure" in (e.response_code_details or ""))]
        if hits:
            return pl, hits
    return None, []


def _sockets_of(ctx: CheckContext, pod: Any, role: str) -> Any | None:
    ns, nm = pod.metadata.namespace, pod.metadata.name
    if role == "target":
        return ctx.ev.get(Need.SOCKETS, ns, nm)
    return ctx.ev.get_or(None, Need.SOCKETS, ns, nm)


def _socket_rows(socks: list[Any], ports: Iterable[int] | None = None) -> str:
    want = set(ports) if ports is not None else None
    rows = [f"{s.proto:<5} {s.local_address}:{s.port} LISTEN" + (f" {s.process}" if s.process else "")
            for s in socks if want is None or s.port in want]
    return "\n".join(rows)


def _default_endpoint_for(ctx: CheckContext, pod: Any, port: int) -> str | None:
    """A Sidecar ``ingress.defaultEndpoint`` that sends this port to localhost (the documented workaround)."""
    for sc in ctx.ev.get_or([], Need.SIDECARS):
        if sc.metadata.namespace != pod.metadata.namespace:
            continue
        ws = sc.spec.workload_selector
        if ws is not None and ws.labels and not ws.matches(pod.labels):
            continue
        for ing in sc.spec.ingress:
            if ing.port is not None and ing.port.number is not None and ing.default_endpoint and (
                ing.port.number == port or ing.default_endpoint.endswith(f":{port}")
            ):
                return f"Sidecar {sc.metadata.namespace}/{sc.metadata.name} ingress port {ing.port.number} -> {ing.default_endpoint}"
    return None


@check("P503-LOCALHOST-BIND", needs=(Need.POD, Need.SERVICES, Need.SOCKETS), optional=(Need.PROXY_LOGS, Need.SIDECARS),
       peer_needs=(Need.SOCKETS, Need.PROXY_LOGS), min_istio="1.10")
def localhost_bind(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The app listens only on 127.0.0.1, which the sidecar no longer forwards to since Istio 1.10."""
    pls = pod_logs(ctx, required=False)
    checked = []
    missing: tuple[str, str] | None = None
    for pod, role in server_pods(ctx):
        if not pod.has_sidecar or pod.is_gateway:
            continue
        socks = ctx.ev.get_or(None, Need.SOCKETS, pod.metadata.namespace, pod.metadata.name)
        if socks is None:
            # exec may be forbidden or unsupported; the server's own proxy log can still tell.
            inferred = _bind_inferred_from_logs(ctx, pod, pls)
            if inferred is not None:
                return inferred
            if role == "target":
                missing = (pod.metadata.namespace, pod.metadata.name)
            continue
        for svc, sp, cp in target_ports(ctx, pod):
            checked.append(f"{pod.metadata.name}:{cp}")
            if binds_only_localhost(socks, cp) is not True:
                continue
            if _default_endpoint_for(ctx, pod, cp) is not None:
                continue
            ns, nm = pod.metadata.namespace, pod.metadata.name
            server_pl = next((p for p in pls if p.namespace == ns and p.pod == nm), None)
            inbound = _inbound_uf(server_pl, cp)
            cpl, client = _client_uf(ctx, pls, svc)
            evidence = [ctx.ref(Need.SOCKETS, _socket_rows(socks, [cp]), f"port {cp} listens on loopback only", namespace=ns, name=nm)]
            observed = []
            if inbound and server_pl is not None:
                evidence.append(log_ref(ctx, server_pl, inbound, "the server's sidecar cannot connect to the app on the pod IP"))
                observed.append(describe_group(inbound))
            if client and cpl is not None:
                evidence.append(log_ref(ctx, cpl, client, "what the caller sees"))
                observed.append(describe_group(client))
            evidence.append(ctx.ref(Need.SERVICES, {"name": svc.metadata.name, "namespace": svc.metadata.namespace,
                                                    "ports": [dump(sp)]}, f"{svc_ref(svc)} targets pod port {cp}"))
            return CheckResult.failed(
                args={"pod": pod_ref(pod), "port": cp, "service": svc_ref(svc), "service_port": sp.port, "ip": pod.ip,
                      "workload": workload_name(pod)},
                corroboration="logs" if observed else None,
                evidence=evidence, observed=observed,
                resources=[pod_ref(pod), svc_ref(svc)],
                fix=Fix(steps=[
                    FixStep(description="Change the app's bind address from 127.0.0.1 to 0.0.0.0 (e.g. its --host/--bind flag or "
                                        "listen setting) and redeploy", command=f"kubectl rollout restart {workload_name(pod)} -n {ns}"),
                    FixStep(description="Or, if the app must stay on localhost, send the port to it with a Sidecar ingress listener",
                            yaml_patch=yaml.safe_dump({
                                "apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
                                "metadata": {"name": f"{svc.metadata.name}-localhost", "namespace": ns},
                                "spec": {"workloadSelector": {"labels": dict(svc.spec.selector)},
                                         "ingress": [{"port": {"number": cp, "protocol": "TCP" if port_protocol(ctx, sp).is_sniffed else port_protocol(ctx, sp).upper(),
                                                               "name": sp.name or f"port-{cp}"},
                                                      "defaultEndpoint": f"127.0.0.1:{cp}"}]}}, sort_keys=False)),
                ]),
            )
    if missing is not None:
        ctx.ev.get(Need.SOCKETS, *missing)  # raises: unknown, with the reason the sockets are missing
    if not checked:
        return CheckResult.not_applicable("no in-mesh server pod with a Service port and a socket table to compare")
    return CheckResult.passed(f"every Service target port is bound beyond loopback ({', '.join(checked[:6])})")


def _bind_inferred_from_logs(ctx: CheckContext, pod: Any, pls: list[PodLog]) -> CheckResult | None:
    """Without the socket table: the server's sidecar logs 503 UF connection_failure on a port
    the running app container declares. Since 1.10 that is what an app bound to 127.0.0.1
    produces (an app listening elsewhere would not declare the port; a crashed app is not
    Running). Reported with moderate confidence and the command that confirms it."""
    ns, nm = pod.metadata.namespace, pod.metadata.name
    server_pl = next((p for p in pls if p.namespace == ns and p.pod == nm), None)
    if server_pl is None:
        return None
    for svc, sp, cp in target_ports(ctx, pod):
        owner = next((c for c in pod.app_containers if any(p.container_port == cp for p in c.ports)), None)
        if owner is None or _default_endpoint_for(ctx, pod, cp) is not None:
            continue
        st = pod.container_status(owner.name)
        if st is None or st.state.running is None or st.restart_count > 3:
            continue  # not running (or crash looping): the app is down, not mis-bound
        inbound = _inbound_uf(server_pl, cp)
        if not inbound:
            continue
        cpl, client = _client_uf(ctx, pls, svc)
        sockets_item = ctx.ev.item(Need.SOCKETS, ns, nm)
        why = sockets_item.failure.reason if sockets_item is not None and sockets_item.failure is not None else "they were not gathered"
        evidence = [log_ref(ctx, server_pl, inbound, "the server's sidecar cannot connect to the app on the pod IP"),
                    ctx.ref(Need.POD, {"container": owner.name, "ports": [dump(p) for p in owner.ports], "state": "running"},
                            f"container {owner.name} declares port {cp} and is running", namespace=ns, name=nm)]
        observed = [describe_group(inbound)]
        if client and cpl is not None:
            evidence.append(log_ref(ctx, cpl, client, "what the caller sees"))
            observed.append(describe_group(client))
        return CheckResult.failed(
            message="inferred",
            args={"pod": pod_ref(pod), "ip": pod.ip, "port": cp, "count": len(inbound), "container": owner.name, "why": why,
                  "workload": workload_name(pod)},
            # without the socket table: the server's log, and the client's too when it has it
            corroboration="server_and_client_logs" if client else "server_logs_only",
            evidence=evidence, observed=observed,
            resources=[pod_ref(pod), svc_ref(svc)],
            fix=Fix(steps=[
                FixStep(description="Confirm: a 127.0.0.1:PORT LISTEN line (and no 0.0.0.0 or pod-IP line) proves it",
                        command=f"kubectl exec {nm} -n {ns} -c istio-proxy -- netstat -tln"),
                FixStep(description="Change the app's bind address from 127.0.0.1 to 0.0.0.0 and redeploy",
                        command=f"kubectl rollout restart {workload_name(pod)} -n {ns}"),
            ]),
        )
    return None


@check("P503-TARGETPORT", needs=(Need.POD, Need.SERVICES, Need.SOCKETS), optional=(Need.PROXY_LOGS,),
       peer_needs=(Need.SOCKETS, Need.PROXY_LOGS))
def target_port(ctx: CheckContext, _: NoParams) -> CheckResult:
    """A Service targetPort on which nothing in the pod listens, while the app listens on another port."""
    pls = pod_logs(ctx, required=False)
    checked = []
    for pod, role in server_pods(ctx):
        # a gateway's listeners are Envoy's own, opened per Gateway server: a Service port with no
        # Gateway behind it (443 on a default install) is not a targetPort mistake
        socks = _sockets_of(ctx, pod, role) if pod.has_sidecar and not pod.is_gateway else None
        if socks is None:
            continue
        app_listeners = sorted({s.port for s in socks if s.port not in ISTIO_PORTS})
        for svc, sp, cp in target_ports(ctx, pod):
            checked.append(f"{svc.metadata.name}:{sp.port}->{cp}")
            if binds_only_localhost(socks, cp) is not None or not app_listeners:
                # something listens there (maybe only on loopback: P503-LOCALHOST-BIND), or the
                # app listens nowhere yet (not started / crashed): not a targetPort mistake.
                continue
            if not pod.ready and not any(s.port for s in socks if s.port not in ISTIO_PORTS):
                continue
            declared = sorted({p.container_port for c in pod.app_containers for p in c.ports})
            ns, nm = pod.metadata.namespace, pod.metadata.name
            server_pl = next((p for p in pls if p.namespace == ns and p.pod == nm), None)
            inbound = _inbound_uf(server_pl, cp)
            cpl, client = _client_uf(ctx, pls, svc)
            evidence = [
                ctx.ref(Need.SERVICES, {"name": svc.metadata.name, "namespace": svc.metadata.namespace, "ports": [dump(sp)]},
                        f"targetPort resolves to pod port {cp}"),
                ctx.ref(Need.SOCKETS, _socket_rows(socks, app_listeners), f"the app listens on {app_listeners}, not on {cp}",
                        namespace=ns, name=nm),
            ]
            observed = []
            if inbound and server_pl is not None:
                evidence.append(log_ref(ctx, server_pl, inbound, "the server's sidecar gets connection refused from the app port"))
                observed.append(describe_group(inbound))
            if client and cpl is not None:
                evidence.append(log_ref(ctx, cpl, client, "what the caller sees"))
                observed.append(describe_group(client))
            guess = next((p for p in app_listeners if p in declared), app_listeners[0])
            patch = json.dumps([{"op": "replace", "path": f"/spec/ports/{svc.spec.ports.index(sp)}/targetPort", "value": guess}])
            return CheckResult.failed(
                args={"service": svc_ref(svc), "service_port": sp.port, "port": cp, "target_port": sp.effective_target_port,
                      "pod": pod_ref(pod), "listeners": app_listeners, "declared": declared, "guess": guess},
                corroboration="logs" if observed else None,
                evidence=evidence, observed=observed,
                resources=[svc_ref(svc), pod_ref(pod)],
                fix=Fix(steps=[
                    FixStep(description=f"Set targetPort to {guess}",
                            command=f"kubectl patch service {svc.metadata.name} -n {svc.metadata.namespace} --type=json -p '{patch}'"),
                ]),
            )
    if not checked:
        return CheckResult.not_applicable("no in-mesh server pod with a Service port and a socket table to compare")
    return CheckResult.passed(f"every Service target port has a listener ({', '.join(checked[:6])})")
