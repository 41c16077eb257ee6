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
from istio_doctor.engine.model import CheckResult, EvidenceRef, Fix, FixStep
from istio_doctor.engine.trace import inbound_delivery
from istio_doctor.engine.trace.model import hops_text
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


def _log_of(pls: list[PodLog], pod: Any) -> PodLog | None:
    return next((p for p in pls if p.namespace == pod.metadata.namespace and p.pod == pod.metadata.name), None)


def _failures_logged(
    ctx: CheckContext, pls: list[PodLog], pod: Any, svc: Any, port: int, server_note: str
) -> tuple[list[EvidenceRef], list[str]]:
    """The connection failures to the app's ``port`` that the proxy logs show, as evidence and
    observations: the server sidecar's inbound ones (``server_note`` says what they prove) and
    what a caller of ``svc`` sees."""
    evidence: list[EvidenceRef] = []
    observed: list[str] = []
    server_pl = _log_of(pls, pod)
    inbound = _inbound_uf(server_pl, port)
    if inbound and server_pl is not None:
        evidence.append(log_ref(ctx, server_pl, inbound, server_note))
        observed.append(describe_group(inbound))
    cpl, client = _client_uf(ctx, pls, svc)
    if client and cpl is not None:
        evidence.append(log_ref(ctx, cpl, client, "what the caller sees"))
        observed.append(describe_group(client))
    return evidence, observed


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


@check("P503-LOCALHOST-BIND", needs=(Need.POD, Need.SERVICES, Need.SOCKETS), optional=(Need.PROXY_LOGS, Need.SIDECARS, Need.CONFIG_DUMP),
       peer_needs=(Need.SOCKETS, Need.PROXY_LOGS, Need.CONFIG_DUMP), min_istio="1.10")
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
        sdump = ctx.ev.get_or(None, Need.CONFIG_DUMP, pod.metadata.namespace, pod.metadata.name)
        for svc, sp, cp in target_ports(ctx, pod):
            checked.append(f"{pod.metadata.name}:{cp}")
            if binds_only_localhost(socks, cp) is not True:
                continue
            delivery = None
            if sdump is not None and pod.ip:
                # The server's own dump says where its inbound cluster connects (the request
                # tracer): 127.0.0.1 before 1.10 or with a Sidecar defaultEndpoint, else the pod IP.
                delivery = inbound_delivery(sdump, pod.ip, cp, sockets=socks)
                if delivery.verdict != "delivery":
                    continue
            elif _default_endpoint_for(ctx, pod, cp) is not None:
                continue
            ns, nm = pod.metadata.namespace, pod.metadata.name
            logged, observed = _failures_logged(ctx, pls, pod, svc, cp, "the server's sidecar cannot connect to the app on the pod IP")
            evidence = [ctx.ref(Need.SOCKETS, _socket_rows(socks, [cp]), f"port {cp} listens on loopback only", namespace=ns, name=nm),
                        *logged]
            evidence.append(ctx.ref(Need.SERVICES, {"name": svc.metadata.name, "namespace": svc.metadata.namespace,
                                                    "ports": [dump(sp)]}, f"{svc_ref(svc)} targets pod port {cp}"))
            if delivery is not None:
                evidence.append(ctx.ref(Need.CONFIG_DUMP, hops_text(delivery.hops),
                                        "request trace through the server's Envoy: where its inbound cluster connects",
                                        namespace=ns, name=nm))
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
    """Without the socket table the cause cannot be told apart from its look-alikes.

    The server's sidecar logs 503 UF connection_failure on a port the running container declares.
    An app bound to 127.0.0.1 produces exactly that since 1.10, but so does an app that declares
    the port and listens on another one, an app bound to an IPv6 address only, or one that is
    (re)starting (istio/istio#41090: "delayed connect error: 111" while the app starts;
    tests/scenarios/p503.py look-alikes). So this is reported as unknown, with the command that
    decides, never as the cause.
    """
    ns, nm = pod.metadata.namespace, pod.metadata.name
    server_pl = _log_of(pls, pod)
    if server_pl is None:
        return None
    for _svc, _sp, cp in target_ports(ctx, pod):
        owner = next((c for c in pod.app_containers if any(p.container_port == cp for p in c.ports)), None)
        if owner is None or _default_endpoint_for(ctx, pod, cp) is not None:
            continue
        inbound = _inbound_uf(server_pl, cp)
        if not inbound:
            continue
        sockets_item = ctx.ev.item(Need.SOCKETS, ns, nm)
        why = sockets_item.failure.reason if sockets_item is not None and sockets_item.failure is not None else "they were not gathered"
        return CheckResult.unknown(
            f"{pod_ref(pod)}: its sidecar gets connection refused on {pod.ip or 'the pod IP'}:{cp} ({len(inbound)}× 503 UF "
            f"connection_failure on inbound|{cp}||); an app bound to 127.0.0.1, one listening on another port than it "
            f"declares, an IPv6-only bind and a restarting app all look like this, and the listening sockets could not be "
            f"read ({why}): run kubectl exec {nm} -n {ns} -c istio-proxy -- netstat -tln",
            reason=f"the socket table of {ns}/{nm} is needed to tell a localhost bind from its look-alikes: {why}",
            evidence=[log_ref(ctx, server_pl, inbound, "the server's sidecar cannot connect to the app on the pod IP")],
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
            logged, observed = _failures_logged(ctx, pls, pod, svc, cp, "the server's sidecar gets connection refused from the app port")
            evidence = [
                ctx.ref(Need.SERVICES, {"name": svc.metadata.name, "namespace": svc.metadata.namespace, "ports": [dump(sp)]},
                        f"targetPort resolves to pod port {cp}"),
                ctx.ref(Need.SOCKETS, _socket_rows(socks, app_listeners), f"the app listens on {app_listeners}, not on {cp}",
                        namespace=ns, name=nm),
                *logged,
            ]
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
