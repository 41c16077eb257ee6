"""The ambient path of a request, as hops: client ztunnel -> (waypoint) -> server ztunnel.

Pure functions of ztunnel's ``/config_dump`` (the ``ZtunnelDump`` every ``ztunnel-config`` view
derives from). What they encode, read in istio/ztunnel at 1.24.0:

* ``src/proxy/outbound.rs`` ``build_request``: the source workload must be known to its node's
  ztunnel; a destination that is a service VIP (``services[].vips``) or a workload IP is looked
  up; when the service (or, for a pod IP, the workload) has a ``waypoint``, ztunnel sends the
  connection to the waypoint over HBONE (port 15008) with the original ``VIP:PORT`` as the CONNECT
  authority; otherwise it picks an endpoint of the service (the service port mapped to the
  endpoint's target port) and uses HBONE to ``POD_IP:15008`` when that workload's protocol is
  HBONE, plain TCP to ``POD_IP:TARGET_PORT`` when it is TCP (not captured); a destination ztunnel
  does not know leaves as passthrough (plain TCP, no mTLS).
* ``src/proxy/inbound.rs``: the destination ztunnel terminates HBONE on 15008 and enforces the
  workload's L4 AuthorizationPolicies (``policies``, listed per workload in
  ``authorizationPolicies``) before it connects to the pod.

Nothing is guessed: what a dump does not hold (the other node's ztunnel, the policy outcome
for an identity this module cannot evaluate) is a hop of status ``unknown`` and a line of
``unknowns``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from istio_doctor.engine.trace.model import Hop, HopStatus, Stage
from istio_doctor.evidence.ambient.ztunnel_dump import ZtunnelDump, ZtunnelService, ZtunnelWorkload

__all__ = ["ClientLeg", "client_leg", "server_leg", "HBONE_PORT"]

HBONE_PORT = 15008
_OUT = "istio/ztunnel@1.24.0 src/proxy/outbound.rs"
_IN = "istio/ztunnel@1.24.0 src/proxy/inbound.rs"


@dataclass
class ClientLeg:
    """Where the client's ztunnel sends the connection."""

    hops: list[Hop] = field(default_factory=list)
    unknowns: list[str] = field(default_factory=list)
    verdict: str | None = None  # "bypassed" / "unknown" / a Stage value when the leg ends here
    response: str | None = None
    waypoint: ZtunnelService | None = None  # the waypoint the connection goes to
    #: the server workload and the address (ip:target port) it is dialled on, when no waypoint
    server: ZtunnelWorkload | None = None
    server_address: str | None = None
    source_identity: str | None = None


def _hop(proxy: str, stage: Stage, element: str, decision: str, why: str, status: HopStatus = "ok") -> Hop:
    return Hop(proxy=proxy, stage=stage, element=element, decision=decision, why=why, status=status)


def client_leg(zt: ZtunnelDump | None, ns: str, pod: str, dest_ip: str, dest_port: int, *, proxy: str, why_missing: str = "") -> ClientLeg:
    leg = ClientLeg()

    def unknown(element: str, what: str, why: str) -> ClientLeg:
        leg.hops.append(_hop(proxy, Stage.CAPTURE, element, what, why, "unknown"))
        leg.unknowns.append(why)
        leg.verdict = "unknown"
        return leg

    if zt is None:
        return unknown("ztunnel", "ztunnel config not read", f"the client node's ztunnel configuration could not be read"
                       f"{': ' + why_missing if why_missing else ''}; where it sends the connection is not known")
    me = zt.workload_by_name(ns, pod)
    if me is None:
        return unknown(f"{ns}/{pod}", "unknown to ztunnel", f"the node's ztunnel has no workload {ns}/{pod}: it does not proxy "
                       f"this pod's traffic ({_OUT} build_request: unknown source)")
    if not me.captured:
        leg.hops.append(_hop(proxy, Stage.CAPTURE, f"{ns}/{pod}", f"not captured (protocol {me.protocol or 'none'})",
                             "ztunnel lists the pod with protocol TCP: its traffic is not redirected to ztunnel and leaves "
                             "as plain TCP, no mTLS, no L4 policy", "warn"))
        leg.verdict = "bypassed"
        return leg
    leg.source_identity = me.identity
    leg.hops.append(_hop(proxy, Stage.CAPTURE, f"{ns}/{pod}", "redirected to ztunnel (HBONE workload)",
                         f"ztunnel lists the pod with protocol HBONE: in-pod redirection sends its outbound TCP to ztunnel; "
                         f"it speaks as {me.identity}", "info"))
    target = f"{dest_ip}:{dest_port}"
    svc = zt.service_by_vip(dest_ip)
    wl = None if svc is not None else zt.workload_by_ip(dest_ip)
    via = svc.waypoint if svc is not None else (wl.waypoint if wl is not None else None)
    if svc is None and wl is None:
        leg.hops.append(_hop(proxy, Stage.TUNNEL, target, "passthrough (plain TCP)",
                             f"{dest_ip} is neither a service VIP nor a workload ztunnel knows: it forwards the connection "
                             f"unchanged, without mTLS ({_OUT})", "warn"))
        leg.verdict = "delivered"
        return leg
    name = f"{svc.namespace}/{svc.hostname}" if svc is not None else f"{wl.namespace}/{wl.name}"  # type: ignore[union-attr]
    if via is not None and via.destination:
        wp = zt.resolve_waypoint(via)
        if wp is None:
            leg.hops.append(_hop(proxy, Stage.TUNNEL, name, f"waypoint {via.destination} unresolved",
                                 f"{name} names waypoint {via.destination!r}, which is not among the services ztunnel knows: "
                                 "ztunnel cannot reach it and the connection fails", "break"))
            leg.verdict, leg.response = Stage.TUNNEL.value, "connection reset (waypoint unknown to ztunnel)"
            return leg
        leg.waypoint = wp
        leg.hops.append(_hop(proxy, Stage.TUNNEL, name, f"HBONE to waypoint {wp.namespace}/{wp.name} "
                             f"({', '.join(wp.vip_ips) or wp.hostname}:{HBONE_PORT}), CONNECT {target}",
                             f"{'service' if svc is not None else 'workload'} {name} has waypoint {via.destination}: ztunnel "
                             f"tunnels the connection to it over HBONE with the original destination as authority ({_OUT})"))
        return leg
    if svc is None:
        assert wl is not None
        return _to_workload(leg, proxy, wl, f"{dest_ip}:{dest_port}", name)
    tport = dest_port
    if svc.ports and str(dest_port) not in svc.ports:
        leg.hops.append(_hop(proxy, Stage.TUNNEL, name, f"port {dest_port} not a service port",
                             f"{name} exposes {sorted(svc.ports)}: ztunnel has no mapping for {dest_port}", "break"))
        leg.verdict, leg.response = Stage.TUNNEL.value, "connection reset"
        return leg
    if svc.ports:
        tport = int(svc.ports[str(dest_port)]) or dest_port
    eps = list((svc.endpoints or {}).values())
    backends = [(zt.workload_by_ip(e.address.partition("/")[2] or e.address) if e.address else None, e) for e in eps]
    backends = [(w, e) for w, e in backends if w is not None] or [(next((w for w in zt.workloads if w.uid == e.workload_uid), None), e)
                                                                   for e in eps]
    live = [(w, e) for w, e in backends if w is not None and (w.status or "Healthy") == "Healthy"]
    if not live:
        leg.hops.append(_hop(proxy, Stage.ENDPOINTS, name, "no healthy endpoint",
                             f"service {name} has {len(eps)} endpoint(s) in ztunnel's config and none is a healthy workload: "
                             "ztunnel cannot pick a destination", "break"))
        leg.verdict, leg.response = Stage.ENDPOINTS.value, "connection reset (no healthy upstream)"
        return leg
    w, e = live[0]
    assert w is not None
    port = (e.port or {}).get(dest_port) or tport
    leg.hops.append(_hop(proxy, Stage.ENDPOINTS, name, f"{len(live)}/{len(eps)} endpoint(s) healthy",
                         f"the service has no waypoint: ztunnel load-balances over its endpoints ({_OUT})", "info"))
    return _to_workload(leg, proxy, w, f"{w.workload_ips[0] if w.workload_ips else '?'}:{port}", name)


def _to_workload(leg: ClientLeg, proxy: str, w: ZtunnelWorkload, addr: str, name: str) -> ClientLeg:
    leg.server, leg.server_address = w, addr
    ip = addr.rpartition(":")[0]
    if w.captured:
        leg.hops.append(_hop(proxy, Stage.TUNNEL, f"{w.namespace}/{w.name}", f"HBONE to {ip}:{HBONE_PORT}, CONNECT {addr}",
                             f"the destination workload's protocol is HBONE: ztunnel opens mTLS to its node's ztunnel on "
                             f"{HBONE_PORT} ({_OUT})"))
    else:
        leg.hops.append(_hop(proxy, Stage.TUNNEL, f"{w.namespace}/{w.name}", f"plain TCP to {addr}",
                             "the destination workload's protocol is TCP (not in the mesh): no HBONE, no mTLS", "warn"))
        leg.verdict = "delivered"
    return leg


def server_leg(zt: ZtunnelDump | None, ip: str, addr: str, *, proxy: str, source: str | None, why_missing: str = "") -> tuple[list[Hop], list[str]]:
    """The server ztunnel's side: HBONE termination and the L4 policies bound to the workload.

    A policy's outcome is evaluated only where ztunnel's rule shape is certain here (no policy:
    allowed; a namespace-, principal- or port-free ALLOW/DENY is not guessed): otherwise the hop
    is ``unknown`` and names the policies."""
    if zt is None:
        why = ("the server node's ztunnel configuration could not be read"
               f"{': ' + why_missing if why_missing else ''}; its HBONE termination and L4 policy are not known")
        return [_hop(proxy, Stage.NETWORK_RBAC, addr, "not seen", why, "unknown")], [why]
    w = zt.workload_by_ip(ip)
    if w is None:
        why = f"the server node's ztunnel has no workload with IP {ip}: it would refuse the tunnel"
        return [_hop(proxy, Stage.TUNNEL, addr, "unknown destination", why, "break")], []
    if not w.captured:
        why = (f"{w.namespace}/{w.name} has protocol {w.protocol or 'none'} in ztunnel's config: no ztunnel terminates "
               "HBONE for it, so a tunnel to its port 15008 finds nothing listening (and no L4 policy applies)")
        return [_hop(proxy, Stage.TUNNEL, addr, "not an HBONE workload", why, "warn")], [why]
    hops = [_hop(proxy, Stage.TUNNEL, f"{w.namespace}/{w.name}", f"terminates HBONE on {HBONE_PORT}",
                 f"the destination ztunnel accepts HBONE for {w.namespace}/{w.name} ({_IN})", "info")]
    names = list(w.authorization_policies)
    scoped = [p for p in zt.policies if p.scope in ("Global", "Namespace") and (p.scope == "Global" or p.namespace == w.namespace)]
    names += [f"{p.namespace}/{p.name}" for p in scoped if f"{p.namespace}/{p.name}" not in names]
    if not names:
        hops.append(_hop(proxy, Stage.NETWORK_RBAC, f"{w.namespace}/{w.name}", "no L4 policy",
                         "no AuthorizationPolicy applies to the workload in ztunnel's config: the connection is allowed", "ok"))
        hops.append(_hop(proxy, Stage.DELIVERY, addr, f"connects to {addr}", "ztunnel connects to the pod in its network namespace", "info"))
        return hops, []
    why = (f"ztunnel enforces {', '.join(sorted(names))} on {w.namespace}/{w.name}; whether "
           f"{source or 'the source'} is allowed is not evaluated here (see the AMB authorization checks)")
    hops.append(_hop(proxy, Stage.NETWORK_RBAC, f"{w.namespace}/{w.name}", "L4 policies apply", why, "unknown"))
    return hops, [why]
