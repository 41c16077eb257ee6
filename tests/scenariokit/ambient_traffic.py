"""ztunnel and istio-cni logs of an ambient World, and the Kubernetes events ambient causes.

Every ``Request`` of ``world.traffic`` that involves a captured pod becomes ztunnel access
lines: ``direction="outbound"`` on the client node's ztunnel (``dst.addr=<peer>:15008``,
``dst.hbone_addr=<pod>:<port>``), ``direction="inbound"`` on the server node's ztunnel
(``dst.addr=<pod>:<app port>``), as istio.io's troubleshoot-ztunnel page shows them. The
outcome follows the mesh state (ambient.py); error texts are ztunnel's (src/proxy.rs
``#[error(...)]``, metrics.rs), e.g. an inbound policy rejection answers the client's HBONE
CONNECT with 401, which the client's ztunnel records as ``http status: 401 Unauthorized``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.scenariokit import ambient as am
from tests.scenariokit.render_ambient import access_line, cni_dirs, component_line
from tests.scenariokit.world import LOG_WINDOW_S, REQUEST_SPACING_S, Event, Pod, Service, Ver, World, stable_hex, uid


@dataclass
class Line:
    node: str
    at_s: float
    text: str


def _svc(world: World, client_ns: str, authority: str) -> tuple[Service | None, str, int]:
    host, _, port = authority.partition(":")
    parts = host.split(".")
    ns = parts[1] if len(parts) > 1 and parts[1] != "svc" else client_ns
    svc = world.service(parts[0], ns)
    return svc, host, int(port or 80)


def _eph(seed: str) -> int:
    return 32768 + int(stable_hex("port", seed, n=6), 16) % 28000


def _netpol_error(world: World) -> str:
    # the hint exists since ztunnel 1.23 (istio/ztunnel#1229); before, only the io error
    if world.version >= Ver(1, 23):
        return "connection timed out, maybe a NetworkPolicy is blocking HBONE port 15008: deadline has elapsed"
    return "io error: deadline has elapsed"


def simulate(world: World) -> list[Line]:
    a = am.amb(world)
    if a is None or a.istiod_ambient != "true":
        return []
    out: list[Line] = []
    k = 0
    for r in world.traffic:
        client = world.resolve_pod(r.client)
        for i in range(r.count):
            at = r.at_s + k * REQUEST_SPACING_S
            k += 1
            if client is None:
                continue
            out += _exchange(world, client, r.authority, at, i)
    return out


def _exchange(world: World, c: Pod, authority: str, at: float, i: int) -> list[Line]:
    a = am.amb(world)
    assert a is not None
    svc, host, port = _svc(world, c.namespace, authority)
    cc = am.captured(world, c)
    out: list[Line] = []
    src = f"{c.ip}:{_eph(f'{c.name}/{at}')}"
    cid = am.identity(world, c)
    base_src = {"src.addr": src, "src.workload": c.name, "src.namespace": c.namespace}
    by_ip = world.pod_by_ip(host)
    if svc is None and by_ip is None:
        if cc:
            out += _egress(world, c, host, port, at, base_src, cid)
        return out
    racing = False
    if svc is None:
        # addressed to a pod IP (headless, StatefulSet, SDK discovery): no service, no service waypoint
        s, tp, vip = by_ip, port, None
    else:
        sp = svc.port_for(port)
        if sp is None:
            return out
        term = world.endpoints(svc, sp, terminating=True)
        eps = world.endpoints(svc, sp)
        racing = bool(term) and i == 0
        if not eps and not term:
            return out
        s, tp = term[0] if racing else eps[i % len(eps)]
        vip = world.cluster_ip(svc)
    assert s is not None
    sc = am.captured(world, s)
    if not cc and not sc:
        return out
    sid = am.identity(world, s)
    dst = {"dst.service": svc.fqdn if svc else None, "dst.workload": s.name, "dst.namespace": s.namespace}
    ok_bytes = {"bytes_sent": 80, "bytes_recv": 175, "duration": f"{1 + i % 2}ms"}
    no_bytes = {"bytes_sent": 0, "bytes_recv": 0, "duration": "0ms"}

    def outbound(level: str, f: dict[str, Any], error: str | None) -> None:
        out.append(Line(c.node, at, access_line(at, level, {**base_src, "src.identity": cid, **f, "direction": "outbound",
                                                            **(no_bytes if error else ok_bytes), **({"duration": f["duration"]}
                                                                                                    if "duration" in f else {})}, error)))

    def inbound(level: str, f: dict[str, Any], error: str | None, node: str) -> None:
        out.append(Line(node, at + 0.0004, access_line(at + 0.0004, level, {**f, "direction": "inbound",
                                                                            **(no_bytes if error else ok_bytes)}, error)))

    gw, _cond = am.service_binding(world, svc) if svc is not None else (am.pod_waypoint(world, s), None)
    wp = am.waypoint_pod(world, gw) if gw is not None else None
    if not cc and c.injected:
        # a sidecar or an Istio gateway sends HBONE itself (ISTIO_META_ENABLE_HBONE); ingress
        # gateways skip the service's waypoint unless istio.io/ingress-use-waypoint=true
        ingress_opt = svc is not None and ("true" in (svc.labels.get(am.INGRESS_USE_WAYPOINT),
                                                      world.ns_labels(svc.namespace).get(am.INGRESS_USE_WAYPOINT)))
        via = wp if wp is not None and (not c.is_gateway or ingress_opt) else None
        who = via or c
        wid = am.identity(world, who)
        err = am.authorize(world, s, wid, who.namespace, tp)
        inbound("error" if err else "info",
                {"src.addr": f"{who.ip}:{_eph(who.name + str(at))}", "src.workload": who.name, "src.namespace": who.namespace,
                 "src.identity": wid, "dst.addr": f"{s.ip}:{tp}", "dst.hbone_addr": f"{s.ip}:{tp}", **dst, "dst.identity": sid},
                err, s.node)
        return out
    if not cc:
        # plaintext client into a captured pod: ztunnel's inbound passthrough (15006), no peer identity
        err = am.authorize(world, s, None, c.namespace, tp)
        inbound("error" if err else "info", {**base_src, "dst.addr": f"{s.ip}:{tp}", **dst}, err, s.node)
        return out
    short = f"{c.namespace}/{c.workload.service_account}"
    from tests.scenariokit.render_ambient import _impersonation_denied

    if short in a.cert_unavailable or _impersonation_denied(world):
        why = ("identity error: signing gRPC error (The request does not have valid authentication credentials): request "
               "impersonation authentication failure" if _impersonation_denied(world) else
               "identity error: signing gRPC error (Unknown error): client error (Connect)")
        outbound("error", {"dst.addr": f"{s.ip}:15008", "dst.hbone_addr": f"{s.ip}:{tp}", **dst, "dst.identity": sid}, why)
        return out
    if c.node in a.draining_nodes and i == 0:
        outbound("error", {"dst.addr": f"{s.ip}:15008", "dst.hbone_addr": f"{s.ip}:{tp}", **dst, "dst.identity": sid},
                 "connection closed due to connection drain")
        return out
    if wp is not None and not racing:
        wid = am.identity(world, wp)
        outbound("info", {"dst.addr": f"{wp.ip}:15008", "dst.hbone_addr": f"{vip or s.ip}:{port}", "dst.service": dst["dst.service"],
                          "dst.workload": wp.name, "dst.namespace": wp.namespace, "dst.identity": wid}, None)
        if sc:
            err = am.authorize(world, s, wid, wp.namespace, tp)
            inbound("error" if err else "info",
                    {"src.addr": f"{wp.ip}:{_eph(wp.name + str(at))}", "src.workload": wp.name, "src.namespace": wp.namespace,
                     "src.identity": wid, "dst.addr": f"{s.ip}:{tp}", "dst.hbone_addr": f"{s.ip}:{tp}", **dst, "dst.identity": sid},
                    err, s.node)
        return out
    hb = {"dst.addr": f"{s.ip}:15008", "dst.hbone_addr": f"{s.ip}:{tp}", **dst, "dst.identity": sid}
    if am.partially_added(world, s):
        # istio-cni set the pod's in-pod redirection but no ztunnel serves it: whatever the client
        # sends (HBONE to an "enabled" pod, plaintext to a "pending" one, which istiod does not
        # mark HBONE) is redirected to a socket nobody listens on
        outbound("error", hb if am.redirection(world, s) == "enabled" else {"dst.addr": f"{s.ip}:{tp}", **dst},
                 "io error: Connection refused (os error 111)")
        return out
    if s.injected:
        # ambient client -> sidecar server: HBONE needs the sidecar's 15008 listener (ISTIO_META_ENABLE_HBONE)
        if a.sidecars_accept_hbone and tp != 15020:
            outbound("info", hb, None)
        else:
            outbound("error", hb, "io error: Connection refused (os error 111)")
        return out
    if not sc:
        outbound("info", {"dst.addr": f"{s.ip}:{tp}", **dst}, None)  # passthrough: the server is not captured
        return out
    if racing:
        outbound("error", hb, "io error: Connection refused (os error 111)")
        return out
    if am.netpol_blocks(world, s, 15008, "ingress") or am.netpol_blocks(world, c, 15008, "egress"):
        outbound("error", {**hb, "duration": f"{10001 + i}ms"}, _netpol_error(world))
        return out
    roots = {n in a.other_root_nodes for n in (c.node, s.node)}
    if len(roots) > 1:
        outbound("error", hb, "tls error: invalid peer certificate: UnknownIssuer")
        return out
    if am.fault(world, s) == "xds_timeout":
        info = f"{s.workload.service_account}.{s.namespace} ({s.name})"
        out.append(Line(s.node, at, component_line(at, "warn", "state", f"timed out waiting for workload '{info}' from xds")))
        out.append(Line(s.node, at + 0.0001, component_line(
            at + 0.0001, "warn", "access", "connection failed",
            f'src.addr={src} dst.addr={s.ip}:{tp} direction="inbound" error="failed to fetch information about local workload: {info}"')))
        outbound("error", hb, "http status: 503 Service Unavailable")
        return out
    err = am.authorize(world, s, cid, c.namespace, tp)
    if err:
        inbound("error", {**base_src, "src.identity": cid, "dst.addr": f"{s.ip}:{tp}", "dst.hbone_addr": f"{s.ip}:{tp}", **dst,
                          "dst.identity": sid}, err, s.node)
        outbound("error", hb, "http status: 401 Unauthorized")
        return out
    outbound("info", hb, None)
    inbound("info", {**base_src, "src.identity": cid, "dst.addr": f"{s.ip}:{tp}", "dst.hbone_addr": f"{s.ip}:{tp}", **dst,
                     "dst.identity": sid}, None, s.node)
    return out


def _egress(world: World, c: Pod, host: str, port: int, at: float, base_src: dict[str, Any], cid: str) -> list[Line]:
    """Egress to a ServiceEntry host: with DNS capture ztunnel sees the SE's VIP (and its waypoint);
    without it the client resolved the real address and ztunnel passes it through."""
    a = am.amb(world)
    assert a is not None
    se = next((o for o in world.resources("ServiceEntry") if host in (o["spec"].get("hosts") or [])), None)
    if se is None:
        return []
    real = f"54.{int(stable_hex('ip', host, n=2), 16) % 200 + 20}.{int(stable_hex('ip2', host, n=2), 16)}.{7 + port % 100}"
    status = _se_bound(world, se)
    if a.dns_capture and status is not None:
        gw, wp = status
        vip = (se["spec"].get("addresses") or [f"240.240.0.{1 + int(stable_hex('vip', host, n=2), 16) % 250}"])[0]
        f = {**base_src, "src.identity": cid, "dst.addr": f"{wp.ip}:15008", "dst.hbone_addr": f"{vip}:{port}", "dst.service": host,
             "dst.workload": wp.name, "dst.namespace": wp.namespace, "dst.identity": am.identity(world, wp), "direction": "outbound",
             "bytes_sent": 120, "bytes_recv": 4312, "duration": "41ms"}
    else:
        f = {**base_src, "src.identity": cid, "dst.addr": f"{real}:{port}", "direction": "outbound", "bytes_sent": 120,
             "bytes_recv": 4312, "duration": "38ms"}
    return [Line(c.node, at, access_line(at, "info", f, None))]


def _se_bound(world: World, se: dict[str, Any]) -> tuple[dict[str, Any], Pod] | None:
    labels = se["metadata"].get("labels") or {}
    b = am._binding(labels, world.ns_labels(se["metadata"]["namespace"]), se["metadata"]["namespace"])
    if b is None:
        return None
    gw = am.find_waypoint(world, *b)
    wp = am.waypoint_pod(world, gw) if gw is not None and am.waypoint_programmed(world, gw) else None
    return (gw, wp) if gw is not None and wp is not None else None


# -- per node ------------------------------------------------------------------------------------


def ztunnel_log(world: World, node: str) -> str:
    a = am.amb(world)
    assert a is not None
    lines: list[tuple[float, str]] = [(ln.at_s, ln.text) for ln in simulate(world) if ln.node == node]
    for p in world.pods:
        if p.node != node or am.fault(world, p) != "dns_bind" or am.redirection(world, p) is None:
            continue
        t = LOG_WINDOW_S - 900
        pid = uid("pod", p.namespace, p.name)
        lines += [
            (t, component_line(t, "info", "inpod::statemanager", "pod received, starting proxy",
                               f'uid="{pid}" name="{p.name}" namespace="{p.namespace}"')),
            (t + 0.0001, component_line(t + 0.0001, "info", "dns::server", "starting local DNS server",
                                        'address=localhost:15053 component="dns"')),
            (t + 0.0002, component_line(t + 0.0002, "error", "inpod::workloadmanager",
                                        'failed to start proxy: Bind([::1]:15053, Os { code: 99, kind: AddrNotAvailable, message: '
                                        '"Cannot assign requested address" })')),
            (t + 0.0003, component_line(t + 0.0003, "info", "inpod::workloadmanager", "scheduling retry")),
        ]
    lines.sort(key=lambda x: x[0])
    return "".join(text + "\n" for _t, text in lines)


def cni_log(world: World, node: str) -> str:
    a = am.amb(world)
    assert a is not None
    ready_ago = a.cni_ready_ago_s.get(node, 86000)
    t0 = LOG_WINDOW_S - ready_ago
    bin_dir, net_dir = cni_dirs(world)
    out = [component_line(t0, "info", "cni-agent", "CNI install configuration: "),
           f"CNINetDir: {net_dir}", f"MountedCNINetDir: /host{net_dir}", "CNIConfName: ", "ChainedCNIPlugin: true",
           "PluginLogLevel: info", "KubeconfigFilename: ZZZ-istio-cni-kubeconfig", "KubeconfigMode: 0600", "KubeCAFile: ",
           "SkipTLSVerify: false", f"ExcludeNamespaces: {','.join(a.exclude_namespaces)}", "K8sServiceProtocol: ",
           "K8sServiceHost: 10.96.0.1", "K8sServicePort: 443", f"K8sNodeName: {node}", "CNIBinSourceDir: /opt/cni/bin",
           f"CNIBinTargetDirs: /host{bin_dir}", "MonitoringPort: 15014", "LogUDSAddress: /var/run/istio-cni/log.sock"]
    t = t0 + 1
    if am.ztunnel_up(world, node):
        out.append(component_line(t, "info", "cni-agent", "new ztunnel connected, total connected: 1"))
    for ns in sorted(n.name for n in world.namespaces if n.labels.get(am.DATAPLANE) == "ambient"):
        t += 0.001
        if ns in a.exclude_namespaces:
            out.append(component_line(t, "warn", "cni-agent", f"Namespace {ns} is labeled for ambient mesh but is excluded by "
                                                              "excludeNamespaces configuration; pods will not be enrolled"))
        else:
            out.append(component_line(t, "info", "cni-agent", f"Namespace {ns} is enabled in ambient mesh"))
    for p in sorted(world.pods, key=lambda p: (p.namespace, p.name)):
        if p.node != node or am.redirection(world, p) is None:
            continue
        t += 0.01
        labels = f"ns={p.namespace} name={p.name}"
        out.append(component_line(t, "info", "cni-agent", "adding pod to the mesh", labels))
        if am.partially_added(world, p):
            out.append(component_line(t + 0.001, "error", "cni-agent", _partial_add_message(world), labels))
        if am.fault(world, p) == "reconcile_failed":
            out.append(component_line(t + 0.002, "error", "cni-agent",
                                      "failed to reconcile inpod rules for pod, try restarting the pod, or removing and re-adding it "
                                      "to the mesh: can't find netns for pod, this is ok if this is a newly created pod (netns not "
                                      "provided, but is needed as pod is not in cache)", labels))
    return "\n".join(out) + "\n"


def _partial_add_message(world: World) -> str:
    """istio-cni's error for a pod no ztunnel acknowledged, by version: 1.24 server.go
    ``"failed to add pod to ztunnel: %v"`` with PartialAddError (error.go) around ztunnelserver.go's
    ``no ztunnel connection``; 1.25 server.go:280 (its ``%v`` has no argument: Go prints
    ``%!v(MISSING)``); 1.26+ meshdataplane_linux.go:113."""
    v = am.cni_version(world)
    if v < Ver(1, 25):
        return "failed to add pod to ztunnel: partial add error: no ztunnel connection"
    if v < Ver(1, 26):
        return "failed to add pod to ztunnel: %!v(MISSING), pod partially added, annotating with pending status"
    return "failed to add pod to ztunnel: pod partially added, annotating with pending status"


def events(world: World) -> list[Event]:
    """FailedCreatePodSandBox for pods whose node has no connected ztunnel; probe timeouts for
    captured pods whose kubelet probes (SNATed to 169.254.7.127) are dropped."""
    a = am.amb(world)
    if a is None:
        return []
    out = []
    for p in world.pods:
        if am.fault(world, p) == "no_sandbox" or (am.intent(world, p) and am.cni_state(world, p.node) == "ok"
                                                  and not am.ztunnel_up(world, p.node) and p.workload.new_pods):
            sandbox = stable_hex("sandbox", p.name, n=64)
            out.append(Event(p.namespace, "Pod", p.name, "FailedCreatePodSandBox",
                             f'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox '
                             f'"{sandbox}": plugin type="istio-cni" name="istio-cni" failed (add): istio-cni cmdAdd failed to '
                             "contact node Istio CNI agent: unable to push CNI event (status code 500): no ztunnel connection",
                             count=23, component="kubelet"))
        if am.probe_blocked(world, p):
            for c in p.workload.containers:
                for kind, probe in (("Readiness", c.readiness), ("Liveness", c.liveness)):
                    if probe is None:
                        continue
                    out.append(Event(p.namespace, "Pod", p.name, "Unhealthy",
                                     f'{kind} probe failed: Get "http://{p.ip}:{probe.port}{probe.path}": context deadline exceeded '
                                     "(Client.Timeout exceeded while awaiting headers)", count=1643, component="kubelet"))
    return out

