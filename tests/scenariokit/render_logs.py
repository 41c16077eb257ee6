"""Traffic simulation and the istio-proxy / istio-init logs it leaves behind.

``simulate(world)`` walks each ``Request`` through the *same* config the dumps show (route
tables and clusters from ``render_envoy``, PeerAuthentication chains, endpoints, binds,
certificates) and records what each proxy would log and count. One request can leave lines on
both proxies with one x-request-id, several server lines when the client retried, or only a
server line (a non-mesh client). Lines use Istio's default TEXT format
(``docs/istio.io/access-log/access_log_default_format.txt``) or its JSON twin.

Where a cause cannot be read from config (keep-alive races, overflow under load, a server that
speaks another protocol) the request names its ``outcome`` explicitly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tests.scenariokit import lifecycle
from tests.scenariokit import render_envoy as rev
from tests.scenariokit.world import (
    DRAIN_S,
    EPOCH,
    LOG_WINDOW_S,
    POD_AGE_S,
    REQUEST_SPACING_S,
    Pod,
    Request,
    Service,
    ServicePort,
    Ver,
    World,
    stable_hex,
    uid,
)

# Bodies Envoy sends for locally generated replies; BYTES_SENT in the log is their length.
BODY = {
    "UH": "no healthy upstream",
    "UF": "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
    "UC": "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
    "UO": "upstream connect error or disconnect/reset before headers. reset reason: overflow",
    "UT": "upstream request timeout",
    "FI": "fault filter abort",
    "RBAC": "RBAC: access denied",
}


def _tls_reason(reason: int, name: str) -> str:
    # ERR_PACK(ERR_LIB_SSL=16, reason): how BoringSSL numbers its errors in Envoy's messages
    return f"TLS_error:|{(16 << 24) + reason}:SSL routines:OPENSSL_internal:{name}:TLS_error_end"


TLS_VERIFY_FAILED = _tls_reason(125, "CERTIFICATE_VERIFY_FAILED")
TLS_UNKNOWN_CA = _tls_reason(1048, "TLSV1_ALERT_UNKNOWN_CA")
TLS_WRONG_VERSION = _tls_reason(267, "WRONG_VERSION_NUMBER")
TLS_CERT_EXPIRED = _tls_reason(1045, "SSLV3_ALERT_CERTIFICATE_EXPIRED")


@dataclass
class Line:
    """One access-log entry, field by field (None prints as "-")."""

    start: float
    method: str | None
    path: str | None
    protocol: str | None
    code: int
    flags: str | None = None
    details: str | None = None
    term: str | None = None
    failure: str | None = None
    rx: int = 0
    tx: int = 0
    duration: int = 0
    upstream_time: int | None = None
    xff: str | None = None
    ua: str | None = None
    req_id: str | None = None
    authority: str | None = None
    upstream_host: str | None = None
    cluster: str | None = None
    upstream_local: str | None = None
    downstream_local: str | None = None
    downstream_remote: str | None = None
    sni: str | None = None
    route: str | None = None

    def time(self) -> str:
        t = EPOCH - timedelta(minutes=30) + timedelta(seconds=self.start)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"

    def text(self) -> str:
        d = lambda v: "-" if v is None or v == "" else str(v)  # noqa: E731
        req = f"{d(self.method)} {d(self.path)} {d(self.protocol)}"
        return (f'[{self.time()}] "{req}" {self.code} {d(self.flags)} {d(self.details)} {d(self.term)} '
                f'"{d(self.failure)}" {self.rx} {self.tx} {self.duration} {d(self.upstream_time)} '
                f'"{d(self.xff)}" "{d(self.ua)}" "{d(self.req_id)}" "{d(self.authority)}" "{d(self.upstream_host)}" '
                f"{d(self.cluster)} {d(self.upstream_local)} {d(self.downstream_local)} {d(self.downstream_remote)} "
                f"{d(self.sni)} {d(self.route)}")

    def json(self) -> str:
        # Istio's default JSON access-log keys (meshConfig.accessLogEncoding: JSON)
        obj: dict[str, Any] = {
            "authority": self.authority, "bytes_received": self.rx, "bytes_sent": self.tx,
            "connection_termination_details": self.term, "downstream_local_address": self.downstream_local,
            "downstream_remote_address": self.downstream_remote, "duration": self.duration, "method": self.method,
            "path": self.path, "protocol": self.protocol, "request_id": self.req_id,
            "requested_server_name": self.sni, "response_code": self.code, "response_code_details": self.details,
            "response_flags": self.flags or "-", "route_name": self.route, "start_time": self.time(),
            "upstream_cluster": self.cluster, "upstream_host": self.upstream_host,
            "upstream_local_address": self.upstream_local, "upstream_service_time": self.upstream_time,
            "upstream_transport_failure_reason": self.failure, "user_agent": self.ua,
            "x_forwarded_for": self.xff,
        }
        return json.dumps(obj, separators=(",", ":"))


@dataclass
class Exchange:
    """What one request left behind, per proxy (keyed by pod name)."""

    request: Request
    index: int
    client: Pod | None
    server: Pod | None = None
    lines: dict[str, list[Line]] = field(default_factory=dict)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    ejected: dict[str, set[str]] = field(default_factory=dict)
    connect_fail: dict[str, dict[str, int]] = field(default_factory=dict)
    #: what the calling application saw (status, body) — for scenario descriptions/tests
    client_saw: tuple[int, str] = (0, "")
    #: the SNI a gateway's TLS listener received: every line the gateway logs carries it
    downstream_sni: str | None = None

    def log(self, pod: Pod | None, line: Line) -> None:
        if pod is not None:
            self.lines.setdefault(pod.name, []).append(line)

    def count(self, pod: Pod | None, stat: str, n: int = 1) -> None:
        if pod is not None:
            d = self.stats.setdefault(pod.name, {})
            d[stat] = d.get(stat, 0) + n


def _port_of(pod: Pod | None, seed: int) -> int:
    return 32768 + (seed * 7919) % 28000


class _Sim:
    def __init__(self, world: World) -> None:
        self.w = world
        self._routes: dict[str, list[dict[str, Any]]] = {}
        self._clusters: dict[str, dict[str, tuple[dict[str, Any], Any]]] = {}
        self._fails: dict[tuple[str, str], dict[str, int]] = {}
        self._ejections: dict[tuple[str, str], set[str]] = {}

    # -- cached per-proxy config -------------------------------------------------------------
    def routes(self, pod: Pod) -> list[dict[str, Any]]:
        if pod.name not in self._routes:
            self._routes[pod.name] = rev.gateway_routes(self.w, pod) if pod.is_gateway else rev.sidecar_routes(self.w, pod)
        return self._routes[pod.name]

    def clusters(self, pod: Pod) -> dict[str, tuple[dict[str, Any], Any]]:
        if pod.name not in self._clusters:
            self._clusters[pod.name] = {c["name"]: (c, eps) for c, eps in rev.outbound_clusters(self.w, pod)}
        return self._clusters[pod.name]

    # -- destination resolution ---------------------------------------------------------------
    def resolve(self, client_ns: str, authority: str) -> tuple[str, int, Service | None, Pod | None]:
        host, _, p = authority.partition(":")
        port = int(p) if p else 80
        parts = host.split(".")
        if all(x.isdigit() for x in parts) and len(parts) == 4:
            for s in self.w.services:
                if self.w.cluster_ip(s) == host:
                    return host, port, s, None
            return host, port, None, self.w.pod_by_ip(host)
        for s in self.w.services:
            if host in (s.name if s.namespace == client_ns else None, f"{s.name}.{s.namespace}",
                        f"{s.name}.{s.namespace}.svc", s.fqdn):
                return host, port, s, None
        return host, port, None, None

    # -- main ----------------------------------------------------------------------------------
    def run(self) -> list[Exchange]:
        out = []
        seq = 0
        for req in self.w.traffic:
            client = self.w.resolve_pod(req.client)
            for _i in range(req.count):
                ex = Exchange(req, seq, client)
                self.one(ex, req.at_s + seq * REQUEST_SPACING_S)
                if client is not None and (ex.downstream_sni or req.protocol != "HTTP/1.1"):
                    # what the client itself negotiated shows on its own proxy's lines only;
                    # the hop to the upstream sidecar keeps the cluster's protocol
                    for line in ex.lines.get(client.name, []):
                        if ex.downstream_sni and line.sni is None:
                            line.sni = ex.downstream_sni
                        if line.protocol is not None:
                            line.protocol = req.protocol
                out.append(ex)
                seq += 1
        return out

    def one(self, ex: Exchange, t: float) -> None:
        w, req = self.w, ex.request
        client = ex.client
        rid = uid("request", str(ex.index), req.authority, req.path)
        host, port, svc, ip_pod = self.resolve(client.namespace if client else "default", req.authority)
        routed_svc = svc  # the Service HTTP routing reaches: the Host's
        if req.connect_host is not None:
            # the app connects to one Service and sends another's name as Host: the socket (listener,
            # %DOWNSTREAM_LOCAL_ADDRESS%, passthrough, TCP) is the connected Service's, HTTP routing the Host's
            _, _, svc, ip_pod = self.resolve(client.namespace if client else "default", req.connect_host)
        if req.connect_port is not None:
            # the Host names one port, the connection goes to another; Envoy matches the Host as sent
            port = req.connect_port
        if client is not None and client.is_gateway and req.tls and ":" not in req.authority:
            port = 443  # https://host/ : the authority carries no port, the connection goes to 443
        cport = _port_of(client, ex.index)
        base = dict(start=t, method=req.method, path=req.path, protocol="HTTP/1.1", ua=req.user_agent,
                    req_id=rid, authority=req.authority)
        sp = svc.port_for(port) if svc else None
        # %DOWNSTREAM_LOCAL_ADDRESS% is the socket address the app connected to, never a name:
        # the ClusterIP, a pod IP (headless: DNS answers pod IPs) or an external host's IP.
        dst_ip = (w.cluster_ip(svc) if svc and not svc.headless else None)
        if dst_ip is None and svc is not None and svc.headless and sp is not None:
            eps = w.endpoints(svc, sp)
            dst_ip = eps[ex.index % len(eps)][0].ip if eps else None
        if dst_ip is None:
            dst_ip = host if all(x.isdigit() for x in host.split(".")) and host.count(".") == 3 else _external_ip(host)
        dl = f"{dst_ip}:{port}"
        client_mesh = w.pod_is_mesh(client) and client is not None and client.proxy_ready
        tcp = sp is not None and not rev.is_http(rev.port_protocol(sp))

        if not client_mesh:
            # No client sidecar: kube-proxy picks a ready endpoint; only the server can log.
            if svc and sp:
                eps = w.endpoints(svc, sp)
                if not eps:
                    ex.client_saw = (0, "connection refused")
                    return
                pod, tp = eps[ex.index % len(eps)]
            elif ip_pod:
                pod, tp = ip_pod, port
            else:
                ex.client_saw = (req.status, "")
                return
            self.server_side(ex, pod, tp, t, base, client, cport, tls=None, svc=svc, sp=sp, retries=0)
            return

        if tcp and svc and sp:
            self.tcp(ex, client, svc, sp, t, base, cport, dl)
            return

        if client.is_gateway:
            # traffic entering the mesh: the request arrives on the gateway Service port, which
            # maps to a gateway listener port (80 → 8080); no Gateway server → nothing listens
            gsvc = next((sv for sv in w.services_selecting(client)), None)
            gsp = gsvc.port_for(port) if gsvc else None
            lport = gsp.target if gsp and isinstance(gsp.target, int) else port
            dl = f"{client.ip}:{lport}"
            lst = next((x for x in rev.gateway_listeners(w, client) if x["name"] == f"0.0.0.0_{lport}"), None)
            if lst is not None and "listener_filters" in lst:
                if req.protocol == "HTTP/2":
                    # one multiplexed connection per SNI: a reused connection keeps its client port
                    cport = _port_of(client, int(stable_hex("h2-connection", req.client, req.sni or host, n=6), 16))
                rname_tls = self.gateway_tls(ex, client, lst, lport, host, t, cport)
                if rname_tls is None:
                    return
                rc = next((r for r in self.routes(client) if r["name"] == rname_tls), None)
            else:
                rc = next((r for r in self.routes(client) if r["name"] == f"http.{lport}"), None)
            if rc is None:
                ex.client_saw = (0, "Connection refused")
                return
            base["authority"] = req.authority
        else:
            # HTTP through the client's outbound listener and route table
            rc = next((r for r in self.routes(client) if r["name"] == str(port)), None)
        if rc is None:
            self.passthrough(ex, client, host, port, t, base, cport, svc)
            return
        vhost = self.match_vhost(rc, req.authority, port)
        if vhost is None:
            line = Line(**base, code=404, flags="NR", details="route_not_found", downstream_local=dl,
                        downstream_remote=f"{client.ip}:{cport}")
            ex.log(client, line)
            ex.client_saw = (404, "")
            return
        if vhost["name"] in ("allow_any", "block_all"):
            if vhost["name"] == "block_all":
                ex.log(client, Line(**base, code=502, details="direct_response", downstream_local=dl,
                                    downstream_remote=f"{client.ip}:{cport}", route="block_all"))
                ex.client_saw = (502, "")
                return
            self.passthrough(ex, client, host, port, t, base, cport, svc)
            return
        route = self.match_route(vhost, req)
        if route is None:
            ex.log(client, Line(**base, code=404, flags="NR", details="route_not_found", downstream_local=dl,
                                downstream_remote=f"{client.ip}:{cport}"))
            ex.client_saw = (404, "")
            return
        rname = route.get("name")
        fault = (route.get("typed_per_filter_config") or {}).get("envoy.filters.http.fault")
        if fault and fault.get("abort"):
            code = fault["abort"]["http_status"]
            ex.log(client, Line(**base, code=code, flags="FI", details="fault_filter_abort", tx=len(BODY["FI"]),
                                downstream_local=dl, downstream_remote=f"{client.ip}:{cport}", route=rname))
            ex.client_saw = (code, BODY["FI"])
            return
        if "direct_response" in route:
            code = route["direct_response"]["status"]
            ex.log(client, Line(**base, code=code, details="direct_response", downstream_local=dl,
                                downstream_remote=f"{client.ip}:{cport}", route=rname))
            ex.client_saw = (code, "")
            return
        action = route["route"]
        if "weighted_clusters" in action:
            opts = [c for c in action["weighted_clusters"]["clusters"] if c["weight"] > 0]
            total = sum(c["weight"] for c in opts)
            k = (ex.index * 37) % max(total, 1)
            cname = opts[-1]["name"]
            for c in opts:
                if k < c["weight"]:
                    cname = c["name"]
                    break
                k -= c["weight"]
        else:
            cname = action["cluster"]
        if cname == "PassthroughCluster":
            self.passthrough(ex, client, host, port, t, base, cport, svc)
            return
        cl = self.clusters(client).get(cname)
        if cl is None:
            ex.log(client, Line(**base, code=503, flags="NC", details="cluster_not_found", downstream_local=dl,
                                downstream_remote=f"{client.ip}:{cport}", route=rname))
            ex.client_saw = (503, "")
            return
        cluster, eps = cl
        policy = action.get("retry_policy") or {}
        retries = policy.get("num_retries", 0)
        retry_503 = _retries_503(policy)
        stat = f"cluster.{cname}"
        common = dict(cluster=cname, downstream_local=dl, downstream_remote=f"{client.ip}:{cport}", route=rname)
        forced = req.outcome
        if forced == "overflow":
            ex.count(client, f"{stat}.upstream_rq_pending_overflow")
            ex.log(client, Line(**base, code=503, flags="UO", details="upstream_reset_before_response_started{overflow}",
                                tx=len(BODY["UO"]), **common))
            ex.client_saw = (503, BODY["UO"])
            return
        # pods deleted before this request are no longer in the EDS the dump shows, but the
        # caller's proxy had not received that update yet: it still picks them
        eps = list(eps or []) + self.stale_terminating(client, svc, sp, cname, t)
        healthy = [(p, tp) for p, tp in eps if not self._ejected(client, cname, p, tp)]
        if not healthy:
            ex.log(client, Line(**base, code=503, flags="UH", details="no_healthy_upstream", tx=len(BODY["UH"]), **common))
            ex.count(client, f"{stat}.upstream_cx_none_healthy")
            if (client.name, cname) in self._ejections:
                ex.ejected.setdefault(client.name, set()).update(f"{cname}/{h}" for h in self._ejections[(client.name, cname)])
            ex.client_saw = (503, BODY["UH"])
            return
        pod, tp = healthy[ex.index % len(healthy)]
        uhost = f"{pod.ip}:{tp}"
        ulocal = f"{client.ip}:{_port_of(client, ex.index + 1)}"
        phase = pod.shutdown_phase(t)
        if phase == "draining":
            # SIGTERM: the app and the draining sidecar close the connection mid-request; a reset
            # is not in Istio's default retryOn, so the caller sees it
            ex.log(client, Line(**base, code=503, flags="UC", details="upstream_reset_before_response_started{connection_termination}",
                                tx=len(BODY["UC"]), duration=1, upstream_host=uhost, upstream_local=ulocal, **common))
            ex.client_saw = (503, BODY["UC"])
            self._record_result(ex, client, cname, uhost, True)
            return
        if phase == "exited":
            # the sidecar is gone: connect-failure, which Istio retries on another host
            # (previous_hosts predicate) when the caller's EDS still has one
            others = [(p, tp2) for p, tp2 in healthy if p.shutdown_phase(t) == "running"]
            n = 1 if others and retries else retries + 1
            ex.count(client, f"{stat}.upstream_cx_connect_fail", n)
            ex.connect_fail.setdefault(client.name, {})[f"{cname}/{uhost}"] = n
            self._record_result(ex, client, cname, uhost, True)
            if not (others and retries):
                ex.log(client, Line(**base, code=503, flags="UF,URX", details="upstream_reset_before_response_started{connection_failure}",
                                    tx=len(BODY["UF"]), duration=2 + n, upstream_host=uhost, **common))
                ex.client_saw = (503, BODY["UF"])
                return
            retries -= 1
            pod, tp = others[ex.index % len(others)]
            uhost = f"{pod.ip}:{tp}"
            ulocal = f"{client.ip}:{_port_of(client, ex.index + 2)}"
        subset = cname.split("|")[2]
        tls = self.transport(cluster, pod)
        sni_v = rev.sni(int(cname.split("|")[1]), subset, cname.split("|")[3]) if tls == "istio" else None
        if forced in ("timeout", "keepalive_reset", "upstream_protocol_error"):
            self.forced(ex, client, pod, tp, t, base, common, uhost, ulocal, cport, sni_v, forced)
            return
        # handshake (client verifies server first, then server verifies client)
        res = self.handshake(ex, client, pod, tls, tp, t, cname)
        if res is not None:
            flags, details, failure = res
            n = retries + 1 if "URX" in flags else 1
            ex.count(client, f"{stat}.upstream_cx_connect_fail", n)
            ex.connect_fail.setdefault(client.name, {})[f"{cname}/{uhost}"] = n
            body = BODY["UC"] if flags == "UC" else BODY["UF"]
            if failure:
                body += f", transport failure reason: {failure.replace('TLS_error:|', 'TLS error: ').replace(':TLS_error_end', '')}"
            ex.log(client, Line(**base, code=503, flags=flags, details=details, failure=failure, tx=len(body),
                                duration=2 + n, upstream_host=uhost, upstream_local=ulocal if flags == "UC" else None, **common))
            ex.client_saw = (503, body)
            self._record_result(ex, client, cname, uhost, True)
            return
        # server proxy (or bare app) answers; the route's policy retries a 503 when it lists it (Istio's
        # default up to 1.23, render_envoy._default_retry)
        attempts = 0
        while True:
            code, sdetails = self.server_side(ex, pod, tp, t + 0.002 * attempts, base, client,
                                              _port_of(client, ex.index + 1 + attempts), tls=tls, svc=routed_svc, sp=routed_svc.port_for(port) if routed_svc else None,
                                              retries=attempts, sni=sni_v)
            attempts += 1
            if code == 503 and retry_503 and attempts <= retries:
                continue
            break
        self._record_result(ex, client, cname, uhost, code >= 500)
        flags = "URX" if attempts > 1 and code == 503 else None
        ex.log(client, Line(**base, code=code, flags=flags, details="via_upstream", tx=_body_len(code, sdetails),
                            duration=4 + attempts, upstream_time=3 + attempts, upstream_host=uhost, upstream_local=ulocal,
                            **common))
        ex.client_saw = (code, "")

    # -- pieces ----------------------------------------------------------------------------------
    def stale_terminating(self, client: Pod, svc: Service | None, sp: ServicePort | None, cname: str,
                          t: float) -> list[tuple[Pod, int]]:
        """Terminating endpoints of a cluster the caller still routes to at ``t`` (the race window)."""
        if svc is None or sp is None or svc.headless:
            return []
        subset = cname.split("|")[2] if cname.count("|") == 3 else ""
        labels = None
        if subset:
            sub = self.w.subset(self.w.destination_rule(svc.fqdn, client.namespace), subset)
            if sub is None:
                return []
            labels = sub.get("labels") or {}
        # before the deletion the pod was a plain endpoint, so it is in the list throughout
        return [(p, tp) for p, tp in self.w.endpoints(svc, sp, labels, terminating=True)]

    def _ejected(self, client: Pod, cname: str, pod: Pod, tp: int) -> bool:
        return f"{pod.ip}:{tp}" in self._ejections.get((client.name, cname), set())

    def _record_result(self, ex: Exchange, client: Pod, cname: str, host: str, failed: bool) -> None:
        """Outlier detection: consecutive 5xx/connect failures eject a host (what /clusters shows)."""
        cl = self.clusters(client).get(cname)
        if not cl or "outlier_detection" not in cl[0]:
            return
        key = (client.name, cname)
        fails = self._fails.setdefault(key, {})
        fails[host] = fails.get(host, 0) + 1 if failed else 0
        if failed and fails[host] >= cl[0]["outlier_detection"].get("consecutive_5xx", 5):
            ej = self._ejections.setdefault(key, set())
            total = len(cl[1] or [])
            pct = cl[0]["outlier_detection"].get("max_ejection_percent", 10)
            # Envoy always allows ejecting one host, even past max_ejection_percent
            if len(ej) < max(1, total * pct // 100):
                ej.add(host)
                ex.count(client, f"cluster.{cname}.outlier_detection.ejections_enforced_consecutive_5xx")
        if key in self._ejections:
            ex.ejected.setdefault(client.name, set()).update(f"{cname}/{h}" for h in self._ejections[key])
            st = ex.stats.setdefault(client.name, {})
            st[f"cluster.{cname}.outlier_detection.ejections_active"] = len(self._ejections[key])

    def gateway_tls(self, ex: Exchange, gw: Pod, lst: dict[str, Any], lport: int, host: str, t: float,
                    cport: int) -> str | None:
        """A connection to a gateway TLS listener: the TLS inspector reads the SNI, Envoy picks
        the filter chain whose server_names match (else the chain without a match), and its
        certificate must have arrived by SDS. Returns the chain's RDS name, or None when the
        connection died first: no filter chain (listener access log ``NR filter_chain_not_found``,
        ``no_filter_chain_match``), or a credential still WARMING (the socket factory has no
        certificate; the HCM saw no request, so nothing is logged)."""
        req = ex.request
        ip_literal = all(x.isdigit() for x in host.split(".")) and host.count(".") == 3
        sni = req.sni if req.sni is not None else ("" if ip_literal or not req.tls else host)
        chains = lst["filter_chains"]

        def names(c: dict[str, Any]) -> list[str]:
            return (c.get("filter_chain_match") or {}).get("server_names") or []

        chain = None
        if sni:
            chain = next((c for c in chains if sni in names(c)), None) or next(
                (c for c in chains if any(n.startswith("*.") and sni.endswith(n[1:]) for n in names(c))), None)
        if chain is None:
            chain = next((c for c in chains if not names(c)), None)
        if chain is None or (not req.tls and "transport_socket" in chain):
            ex.count(gw, f"listener.{lst['name']}.no_filter_chain_match")
            ex.log(gw, Line(start=t, method=None, path=None, protocol=None, code=0, flags="NR",
                            details="filter_chain_not_found", downstream_local=f"{gw.ip}:{lport}",
                            downstream_remote=f"{gw.ip}:{cport}", sni=sni or None))
            ex.client_saw = (0, "OpenSSL SSL_connect: SSL_ERROR_SYSCALL")
            return None
        ex.downstream_sni = sni or None
        ts = chain.get("transport_socket")
        if ts is not None:
            sds = ts["typed_config"]["common_tls_context"]["tls_certificate_sds_secret_configs"][0]["name"]
            cred = sds.removeprefix("kubernetes://")
            if self.w.tls_secret(cred, gw.namespace) is None:
                ex.count(gw, f"listener.{lst['name']}.server_ssl_socket_factory.downstream_context_secrets_not_ready")
                ex.client_saw = (0, "OpenSSL SSL_connect: SSL_ERROR_SYSCALL")
                return None
            ex.count(gw, f"listener.{lst['name']}.ssl.handshake")
        return str(chain["filters"][0]["typed_config"]["rds"]["route_config_name"])

    @staticmethod
    def match_vhost(rc: dict[str, Any], authority: str, port: int) -> dict[str, Any] | None:
        host = authority.split(":")[0] if rc.get("ignore_port_in_host_matching") else authority
        for vh in rc["virtual_hosts"]:
            doms = vh["domains"]
            if host in doms or authority in doms or (":" not in authority and f"{authority}:{port}" in doms):
                return vh
        for vh in rc["virtual_hosts"]:
            if any(d.startswith("*.") and host.endswith(d[1:]) for d in vh["domains"]):
                return vh
        # Envoy's prefix wildcards come after suffix ones: a gateway's "host:*" takes any port
        for vh in rc["virtual_hosts"]:
            if any(d != "*" and d.endswith("*") and len(host) > len(d) - 1 and host.startswith(d[:-1]) for d in vh["domains"]):
                return vh
        for vh in rc["virtual_hosts"]:
            if "*" in vh["domains"]:
                return vh
        return None

    @staticmethod
    def match_route(vhost: dict[str, Any], req: Request) -> dict[str, Any] | None:
        for r in vhost["routes"]:
            m = r["match"]
            path = req.path.split("?")[0]
            if "path" in m and path != m["path"]:
                continue
            if "prefix" in m and not path.startswith(m["prefix"]):
                continue
            if "safe_regex" in m:
                import re

                if not re.fullmatch(m["safe_regex"]["regex"], path):
                    continue
            ok = True
            for h in m.get("headers") or []:
                v = req.headers.get(h["name"])
                sm = h.get("string_match") or {}
                if v is None or ("exact" in sm and v != sm["exact"]) or ("prefix" in sm and not v.startswith(sm["prefix"])):
                    ok = False
            if ok:
                return r
        return None

    def transport(self, cluster: dict[str, Any], pod: Pod) -> str | None:
        """What the client sends on the wire: "istio" mTLS, "simple" TLS, or None (plaintext)."""
        if "transport_socket_matches" in cluster:
            return "istio" if self.w.pod_is_mesh(pod) else None
        ts = cluster.get("transport_socket")
        if ts is None:
            return None
        return "istio" if "alpn_protocols" in ts["typed_config"].get("common_tls_context", {}) else "simple"

    def _declared_http(self, server: Pod, tp: int) -> bool:
        for svc in self.w.services_selecting(server):
            for sp in svc.ports:
                if self.w.target_port_number(server, sp) == tp:
                    return rev.port_protocol(sp) in ("HTTP", "HTTP2", "GRPC")
        return False

    def handshake(self, ex: Exchange, client: Pod, server: Pod, tls: str | None, tp: int, t: float,
                  cname: str) -> tuple[str, str, str | None] | None:
        """None when the connection is established, else (flags, details, failure reason)."""
        w = self.w
        server_mesh = w.pod_is_mesh(server)
        if server_mesh and not server.proxy_ready:
            return ("UF,URX", "upstream_reset_before_response_started{connection_failure}", None)
        if tls and not server_mesh:
            # TLS into a bare application port: its HTTP server answers garbage to the ClientHello
            return ("UF,URX", "upstream_reset_before_response_started{connection_failure}", TLS_WRONG_VERSION)
        if not server_mesh:
            return None
        mode = w.peer_auth_mode(server, tp)
        if tls is None:
            if mode == "STRICT":
                # no plaintext filter chain on 15006: Envoy closes the connection it cannot place
                ex.count(server, "listener.0.0.0.0_15006.no_filter_chain_match")
                ex.log(server, Line(start=t, method=None, path=None, protocol=None, code=0, flags="NR",
                                    details="filter_chain_not_found", downstream_local=f"{server.ip}:{tp}",
                                    downstream_remote=f"{client.ip}:{_port_of(client, ex.index + 1)}"))
                return ("UC", "upstream_reset_before_response_started{connection_termination}", None)
            return None
        if tls == "simple":
            if mode == "DISABLE":
                return ("UF,URX", "upstream_reset_before_response_started{connection_failure}", TLS_WRONG_VERSION)
            if mode == "PERMISSIVE" and self._declared_http(server, tp):
                # PERMISSIVE on a declared HTTP port has a {tls, Istio ALPNs} and a {raw_buffer}
                # chain only: TLS without an Istio ALPN matches neither (istio/istio@1.22.0
                # filterchain_options.go inboundPermissiveHTTPFilterChainMatchWithMxcOptions).
                ex.count(server, "listener.0.0.0.0_15006.no_filter_chain_match")
                ex.log(server, Line(start=t, method=None, path=None, protocol=None, code=0, flags="NR",
                                    details="filter_chain_not_found", downstream_local=f"{server.ip}:{tp}",
                                    downstream_remote=f"{client.ip}:{_port_of(client, ex.index + 1)}"))
                return ("UC", "upstream_reset_before_response_started{connection_termination}", None)
            ex.count(server, "listener.0.0.0.0_15006.ssl.fail_verify_no_cert")
            return None if mode == "PERMISSIVE" else ("UC", "upstream_reset_before_response_started{connection_termination}", None)
        # istio mTLS
        if mode == "DISABLE":
            ex.count(server, "listener.0.0.0.0_15006.no_filter_chain_match")
            return ("UC", "upstream_reset_before_response_started{connection_termination}", None)
        cst, sst = client.workload.proxy, server.workload.proxy
        if cst.cert == "warming" or sst.cert == "warming":
            return ("UF,URX", "upstream_reset_before_response_started{connection_failure}", None)
        if sst.root_ca != cst.root_ca or sst.cert == "expired":
            ex.count(client, f"cluster.{cname}.ssl.fail_verify_error")
            ex.count(server, "listener.0.0.0.0_15006.ssl.connection_error")
            return ("UF,URX", "upstream_reset_before_response_started{connection_failure}", TLS_VERIFY_FAILED)
        if cst.cert == "expired":
            ex.count(server, "listener.0.0.0.0_15006.ssl.fail_verify_error")
            return ("UF,URX", "upstream_reset_before_response_started{connection_failure}", TLS_CERT_EXPIRED)
        return None

    def server_side(self, ex: Exchange, pod: Pod, tp: int, t: float, base: dict[str, Any], client: Pod | None,
                    cport: int, *, tls: str | None, svc: Service | None, sp: ServicePort | None, retries: int,
                    sni: str | None = None) -> tuple[int, str]:
        w, req = self.w, ex.request
        client_ip = client.ip if client else "10.244.3.99"
        remote = f"{client_ip}:{cport}"
        if not w.pod_is_mesh(pod):
            ok = not _bind_fails(w, pod, tp)
            return (req.status, "via_upstream") if ok else (503, "connection_refused")
        mode = w.peer_auth_mode(pod, tp)
        if tls is None and mode == "STRICT":
            ex.count(pod, "listener.0.0.0.0_15006.no_filter_chain_match")
            ex.log(pod, Line(start=t, method=None, path=None, protocol=None, code=0, flags="NR",
                             details="filter_chain_not_found", downstream_local=f"{pod.ip}:{tp}",
                             downstream_remote=remote))
            ex.client_saw = (0, "Recv failure: Connection reset by peer")
            return 0, "reset"
        cname = rev.inbound_name(w, tp, sp, svc)
        loopback = w.version < Ver(1, 10)
        uhost = f"127.0.0.1:{tp}" if loopback else f"{pod.ip}:{tp}"
        ulocal = f"127.0.0.1:{_port_of(pod, ex.index + 50)}" if loopback else f"127.0.0.6:{_port_of(pod, ex.index + 50)}"
        common = dict(downstream_local=f"{pod.ip}:{tp}", downstream_remote=remote, sni=sni, route="default",
                      cluster=cname)
        deny = w.authz_deny(pod, req.path, client.namespace if client else "")
        if deny is not None:
            m = deny["metadata"]
            pol = f"ns[{m['namespace']}]-policy[{m['name']}]-rule[0]" if deny["spec"].get("action") == "DENY" else "none"
            ex.log(pod, Line(**base, code=403, details=f"rbac_access_denied_matched_policy[{pol}]",
                             tx=len(BODY["RBAC"]), **{**common, "cluster": None, "route": None}))
            ex.count(pod, f"http.inbound_0.0.0.0_{tp}.rbac.denied")
            return 403, "rbac"
        if _bind_fails(w, pod, tp, loopback=loopback):
            # from 1.24 the inbound route retries the refused connection itself (reset-before-request)
            inbound_retries = (rev.inbound_retry(w) or {}).get("num_retries", 0)
            ex.log(pod, Line(**base, code=503, flags="UF,URX" if inbound_retries else "UF",
                             details="upstream_reset_before_response_started{connection_failure}",
                             tx=len(BODY["UF"]), duration=inbound_retries, upstream_host=uhost, **common))
            ex.count(pod, f"cluster.{cname}.upstream_cx_connect_fail", inbound_retries + 1)
            return 503, "uf"
        ex.log(pod, Line(**base, code=req.status, details="via_upstream", tx=_body_len(req.status, ""), duration=3,
                         upstream_time=2, upstream_host=uhost, upstream_local=ulocal, **common))
        return req.status, "via_upstream"

    def forced(self, ex: Exchange, client: Pod, pod: Pod, tp: int, t: float, base: dict[str, Any],
               common: dict[str, Any], uhost: str, ulocal: str, cport: int, sni_v: str | None, kind: str) -> None:
        if kind == "timeout":
            ex.log(client, Line(**base, code=504, flags="UT", details="response_timeout", tx=len(BODY["UT"]),
                                duration=15000, upstream_host=uhost, upstream_local=ulocal, **common))
            ex.log(pod, Line(**base, code=0, flags="DC", details="downstream_remote_disconnect", duration=14999,
                             upstream_host=f"{pod.ip}:{tp}", cluster=f"inbound|{tp}||", downstream_local=f"{pod.ip}:{tp}",
                             downstream_remote=f"{client.ip}:{cport}", sni=sni_v, route="default"))
            ex.client_saw = (504, BODY["UT"])
        elif kind == "keepalive_reset":
            ex.log(client, Line(**base, code=503, flags="UC", details="upstream_reset_before_response_started{connection_termination}",
                                tx=len(BODY["UC"]), duration=1, upstream_host=uhost, upstream_local=ulocal, **common))
            ex.client_saw = (503, BODY["UC"])
        else:
            ex.log(client, Line(**base, code=502, flags=None, details="via_upstream", tx=0, duration=2,
                                upstream_host=uhost, upstream_local=ulocal, **common))
            ex.log(pod, Line(**base, code=502, flags="UPE", details="upstream_reset_before_response_started{protocol_error}",
                             tx=87, duration=1, upstream_host=f"{pod.ip}:{tp}", cluster=f"inbound|{tp}||",
                             downstream_local=f"{pod.ip}:{tp}", downstream_remote=f"{client.ip}:{cport}", sni=sni_v,
                             route="default"))
            ex.client_saw = (502, "")

    def passthrough(self, ex: Exchange, client: Pod, host: str, port: int, t: float, base: dict[str, Any],
                    cport: int, svc: Service | None) -> None:
        """Unknown host: ALLOW_ANY → PassthroughCluster; REGISTRY_ONLY → BlackHoleCluster."""
        w, req = self.w, ex.request
        ip = (w.cluster_ip(svc) if svc else None) or _external_ip(host)
        registry_only = w.control_plane.mesh.outbound_traffic_policy == "REGISTRY_ONLY"
        remote = f"{client.ip}:{cport}"
        if req.tls or port == 443:
            if registry_only:
                ex.log(client, Line(start=t, method=None, path=None, protocol=None, code=0, flags="UH",
                                    cluster="BlackHoleCluster", downstream_local=f"{ip}:{port}", downstream_remote=remote,
                                    sni=host if not host[0].isdigit() else None))
                ex.client_saw = (0, "Connection reset by peer")
            else:
                ex.log(client, Line(start=t, method=None, path=None, protocol=None, code=0, rx=839, tx=5432,
                                    duration=120, upstream_host=f"{ip}:{port}", cluster="PassthroughCluster",
                                    upstream_local=f"{client.ip}:{_port_of(client, ex.index + 3)}",
                                    downstream_local=f"{ip}:{port}", downstream_remote=remote,
                                    sni=host if not host[0].isdigit() else None))
                ex.client_saw = (req.status, "")
            return
        if registry_only:
            ex.log(client, Line(**base, code=502, details="direct_response", downstream_local=f"{ip}:{port}",
                                downstream_remote=remote, route="block_all"))
            ex.client_saw = (502, "")
            return
        target = None
        if svc:
            sp = svc.port_for(port)
            eps = w.endpoints(svc, sp) if sp else []
            target = eps[ex.index % len(eps)] if eps else None
        code = req.status
        if target:
            pod, tp = target
            code, _ = self.server_side(ex, pod, tp, t, base, client, _port_of(client, ex.index + 1), tls=None,
                                       svc=svc, sp=svc.port_for(port) if svc else None, retries=0)
            if code == 0:
                ex.log(client, Line(**base, code=503, flags="UC",
                                    details="upstream_reset_before_response_started{connection_termination}",
                                    tx=len(BODY["UC"]), upstream_host=f"{ip}:{port}", cluster="PassthroughCluster",
                                    downstream_local=f"{ip}:{port}", downstream_remote=remote, route="allow_any"))
                ex.client_saw = (503, BODY["UC"])
                return
        ex.log(client, Line(**base, code=code, details="via_upstream", tx=_body_len(code, ""), duration=31,
                            upstream_time=30, upstream_host=f"{ip}:{port}", cluster="PassthroughCluster",
                            upstream_local=f"{client.ip}:{_port_of(client, ex.index + 2)}",
                            downstream_local=f"{ip}:{port}", downstream_remote=remote, route="allow_any"))
        ex.client_saw = (code, "")

    def tcp(self, ex: Exchange, client: Pod, svc: Service, sp: ServicePort, t: float, base: dict[str, Any],
            cport: int, dl: str) -> None:
        cname = rev.outbound_name(sp.port, "", svc.fqdn)
        cl = self.clusters(client).get(cname)
        remote = f"{client.ip}:{cport}"
        if cl is None:
            self.passthrough(ex, client, svc.fqdn, sp.port, t, {**base, "method": None, "path": None, "protocol": None},
                             cport, svc)
            return
        cluster, eps = cl
        if not eps:
            ex.log(client, Line(start=t, method=None, path=None, protocol=None, code=0, flags="UH",
                                cluster=cname, downstream_local=dl, downstream_remote=remote))
            return
        pod, tp = eps[ex.index % len(eps)]
        tls = self.transport(cluster, pod)
        res = self.handshake(ex, client, pod, tls, tp, t, cname)
        flags = "UF,URX" if res else None
        ex.log(client, Line(start=t, method=None, path=None, protocol=None, code=0, flags=flags,
                            failure=res[2] if res else None, rx=0 if res else 120, tx=0 if res else 840,
                            duration=12, upstream_host=f"{pod.ip}:{tp}", cluster=cname,
                            upstream_local=f"{client.ip}:{_port_of(client, ex.index + 1)}", downstream_local=dl,
                            downstream_remote=remote))
        if not res and w_mesh(self.w, pod):
            ex.log(pod, Line(start=t, method=None, path=None, protocol=None, code=0, rx=120, tx=840, duration=11,
                             upstream_host=f"{pod.ip}:{tp}", cluster=f"inbound|{tp}||",
                             upstream_local=f"127.0.0.6:{_port_of(pod, ex.index + 9)}", downstream_local=f"{pod.ip}:{tp}",
                             downstream_remote=f"{client.ip}:{_port_of(client, ex.index + 1)}",
                             sni=rev.sni(sp.port, "", svc.fqdn) if tls == "istio" else None))


def w_mesh(world: World, pod: Pod) -> bool:
    return world.pod_is_mesh(pod)


def _bind_fails(world: World, pod: Pod, tp: int, *, loopback: bool | None = None) -> bool:
    """Would a connection from the sidecar (or a peer) to the app's port be refused?"""
    if loopback is None:
        loopback = world.version < Ver(1, 10) and world.pod_is_mesh(pod)
    ports = [p for p in pod.ports if p.port == tp]
    if not ports:
        extra = [a for c in pod.workload.containers for a, port in c.extra_listen if port == tp]
        if not extra:
            return not pod.is_gateway  # nothing listens on the target port (targetPort mismatch)
        binds = extra
    else:
        binds = [p.bind for p in ports]
    for b in binds:
        if b is None:
            continue
        if b in ("0.0.0.0", "::", "*"):
            return False
        if b == "127.0.0.1" and loopback:
            return False
        if b == pod.ip and not loopback:
            return False
    return True


def _external_ip(host: str) -> str:
    if host.replace(".", "").isdigit():
        return host
    h = abs(hash(host)) if False else sum(ord(c) * (i + 1) for i, c in enumerate(host))
    return f"142.250.{h % 200 + 1}.{(h // 200) % 250 + 2}"


def _retries_503(policy: dict[str, Any]) -> bool:
    """Whether a route retry policy retries an upstream 503 (envoy router ``x-envoy-retry-on``: ``5xx`` and
    ``gateway-error`` take 503, ``retriable-status-codes`` those listed)."""
    on = {x.strip() for x in str(policy.get("retry_on", "")).split(",")}
    return bool(on & {"5xx", "gateway-error"}) or ("retriable-status-codes" in on and 503 in (policy.get("retriable_status_codes") or []))


def _body_len(code: int, kind: str) -> int:
    if kind == "uf":
        return len(BODY["UF"])
    if kind == "rbac":
        return len(BODY["RBAC"])
    return {200: 295, 201: 0, 204: 0, 404: 9, 418: 135, 500: 21, 503: 19}.get(code, 178)


def simulate(world: World) -> list[Exchange]:
    """All exchanges of the world's traffic, computed once per world object."""
    cached = getattr(world, "_scenariokit_sim", None)
    if cached is None:
        cached = _Sim(world).run()
        object.__setattr__(world, "_scenariokit_sim", cached)
    return cached


# --------------------------------------------------------------------------- kubectl logs


#: the access-log window (``Line.time``) starts this long after the pods' startTime
_WINDOW_START_S = POD_AGE_S - LOG_WINDOW_S


def _agent_ts(offset_s: float) -> str:
    """pilot-agent's time, ``offset_s`` after the pods' startTime (the node's clock, as every
    container and the kubelet's container statuses)."""
    return lifecycle.agent_ts(offset_s)


def proxy_log_lines(world: World, pod: Pod) -> list[str]:
    """Everything `kubectl logs POD -c istio-proxy` prints, oldest first. pilot-agent starts with
    the istio-proxy container (``ProxyState.started_s`` after the pod's startTime) and logs "Envoy
    proxy is ready" ``ready_after_s`` later; access lines follow the traffic's clock."""
    v = world.proxy_version(pod.workload)
    pv = Ver.parse(v)
    st = pod.workload.proxy
    s0 = st.started_s
    out: list[tuple[float, str]] = []
    startup = [
        "FLAG: --concurrency=\"2\"",
        "FLAG: --domain=\"" + f"{pod.namespace}.svc.cluster.local\"",
        "FLAG: --proxyLogLevel=\"warning\"",
        f"Version {v}-{rev.node_sha(Ver.parse(v))[:40]}-Clean",
        "Apply proxy config from env {}",
        f"Effective config: binaryPath: /usr/local/bin/envoy\nconfigPath: ./etc/istio/proxy\ndiscoveryAddress: istiod.{world.control_plane.namespace}.svc:15012\nproxyAdminPort: 15000\nserviceCluster: istio-proxy\nstatusPort: 15020",
        f"JWT policy is third-party-jwt",
        f"Pilot SAN: [istiod.{world.control_plane.namespace}.svc]",
        "Starting agent",
        "starting Http service at 127.0.0.1:15004",
        "Opening status port 15020",
        "Workload SDS socket not found. Starting Istio SDS Server",
        "CA Endpoint istiod.istio-system.svc:15012, provider Citadel",
        "Using CA istiod.istio-system.svc:15012 cert with certs: var/run/secrets/istio/root-cert.pem",
        "xdsproxy\tInitializing with upstream address \"istiod.istio-system.svc:15012\" and cluster \"Kubernetes\"",
        "Pilot SAN: [istiod.istio-system.svc]",
        "Starting proxy agent",
        "starting",
        "Envoy command: [-c etc/istio/proxy/envoy-rev.json --drain-time-s 45 --drain-strategy immediate --local-address-ip-version v4 --file-flush-interval-msec 1000 --disable-hot-restart --allow-unknown-static-fields -l warning --component-log-level misc:error --concurrency 2]",
    ]
    for i, msg in enumerate(startup):
        first, *rest = msg.split("\n")
        out.append((s0 + i * 0.01, f"{_agent_ts(s0 + i * 0.01)}\tinfo\t{first}"))
        for r in rest:
            out.append((s0 + i * 0.01, r))
    if st.cert != "warming":
        out.append((s0 + 0.5, f"{_agent_ts(s0 + 0.5)}\tinfo\tcache\tgenerated new workload certificate\tlatency=120.10ms ttl=23h59m59.1s"))
        out.append((s0 + 0.6, f"{_agent_ts(s0 + 0.6)}\tinfo\tcache\tRoot cert has changed, start rotating root cert"))
    else:
        for i in range(3):
            t = s0 + 1 + i * 15
            out.append((t, f"{_agent_ts(t)}\twarn\tca\tca request failed, starting attempt {i + 1} in {90 * 2 ** i}ms"))
            out.append((t + 0.1, f"{_agent_ts(t + 0.1)}\terror\tcache\tresource:default request:{uid('csr', pod.name, str(i))} CSR retrial timed out: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 10.96.0.12:15012: i/o timeout\""))
    if st.state == "no_config":
        out.append((s0 + 2, f"{_agent_ts(s0 + 2)}\twarning\tenvoy config\texternal/envoy/source/extensions/config_subscription/grpc/grpc_stream.h:152\tStreamAggregatedResources gRPC config stream to xds-grpc closed since 42s ago: 14, connection error: desc = \"transport: Error while dialing: dial tcp 10.96.0.12:15012: i/o timeout\"\tthread=19"))
        for i in range(6):
            t = s0 + 4 + i * 2
            out.append((t, f"{_agent_ts(t)}\twarn\tEnvoy proxy is NOT ready: config not received from XDS server (is Istiod running?): cds updates: 0 successful, 0 rejected; lds updates: 0 successful, 0 rejected"))
    else:
        r = s0 + st.ready_after_s
        # which agent lines exist by version: the xDS proxy's "connected to upstream XDS server" from
        # 1.9 (istio/istio@1.9.0:pkg/istio-agent/xds_proxy.go), its delta variant from 1.10
        # (@1.10.0:pkg/istio-agent/xds_proxy_delta.go), "Readiness succeeded in" from 1.12
        # (@1.12.0:pilot/cmd/pilot-agent/metrics/metrics.go); "Envoy proxy is ready" in every version
        # the kit builds (@1.5.0:pilot/cmd/pilot-agent/status/server.go)
        if pv >= Ver(1, 9):
            delta = "delta " if pv >= Ver(1, 10) else ""
            out.append((r - 0.8, f"{_agent_ts(r - 0.8)}\tinfo\txdsproxy\tconnected to {delta}upstream XDS server: istiod.istio-system.svc:15012\tid=1"))
        out.append((r - 0.4, f"{_agent_ts(r - 0.4)}\tinfo\tads\tADS: new connection for node:{pod.name}.{pod.namespace}-1"))
        if pv >= Ver(1, 12):
            out.append((r - 0.1, f"{_agent_ts(r - 0.1)}\tinfo\tReadiness succeeded in {st.ready_after_s - 1.1:.1f}s"))
        out.append((r, f"{_agent_ts(r)}\tinfo\tEnvoy proxy is ready"))
    if pod.terminating and pod.injected:
        # pilot-agent on SIGTERM (pkg/envoy/agent.go terminate()), on the access-log clock
        # wording by version: "Agent draining Proxy" until 1.20, "... for termination" from 1.21
        # (istio/istio@1.21.0:pkg/envoy/agent.go); "Aborted all epochs" until 1.14, "Aborted proxy
        # instance" from 1.15 (@1.15.0:pkg/envoy/agent.go)
        t0 = _WINDOW_START_S + pod.workload.deleted_at_s
        drain = "Agent draining Proxy for termination" if pv >= Ver(1, 21) else "Agent draining Proxy"
        out.append((t0, f"{_agent_ts(t0)}\tinfo\t{drain}"))
        out.append((t0 + 0.001, f"{_agent_ts(t0 + 0.001)}\tinfo\tGraceful termination period is {DRAIN_S:g}s, starting..."))
        if pod.workload.deleted_at_s + DRAIN_S <= LOG_WINDOW_S:
            t1 = t0 + DRAIN_S
            aborted = "Aborted proxy instance" if pv >= Ver(1, 15) else "Aborted all epochs"
            out.append((t1, f"{_agent_ts(t1)}\tinfo\tGraceful termination period complete, terminating remaining proxies."))
            out.append((t1 + 0.001, f"{_agent_ts(t1 + 0.001)}\twarn\t{aborted}"))
    if st.state == "nack":
        for i in range(3):
            t = 1200 + i * 300
            out.append((t, f"{_agent_ts(t)}\twarning\tenvoy config\texternal/envoy/source/extensions/config_subscription/grpc/grpc_subscription_impl.cc:138\tgRPC config for {st.nack_type} rejected: {st.nack_message}\tthread=15"))
    mesh = world.control_plane.mesh
    if mesh.access_log_file:
        for ex in simulate(world):
            for ln in ex.lines.get(pod.name, []):
                out.append((_WINDOW_START_S + ln.start, ln.json() if mesh.access_log_encoding == "JSON" else ln.text()))
    out.sort(key=lambda x: x[0])
    return [s for _, s in out]


def render_proxy_logs(world: World, pod: Pod, tail: int | None = None) -> str:
    lines = proxy_log_lines(world, pod)
    if tail is not None and tail >= 0:
        lines = lines[-tail:] if tail else []
    return "".join(line + "\n" for line in lines)


def _init_ts(offset_s: float) -> str:
    """istio-init's time: it runs right before the app containers (lifecycle.ISTIO_INIT_START_S)."""
    return lifecycle.agent_ts(lifecycle.ISTIO_INIT_START_S + offset_s)


def render_init_logs(world: World, pod: Pod, container: str = "istio-init") -> str:
    """istio-init (iptables) output; a failed init shows the iptables-restore permission error."""
    excl = "15090,15021,15020"
    head = [
        _init_ts(0.812345) + "\tinfo\tIstio iptables environment:",
        "ENVOY_PORT=",
        "INBOUND_CAPTURE_PORT=",
        "ISTIO_INBOUND_INTERCEPTION_MODE=",
        "ISTIO_INBOUND_PORTS=",
        "ISTIO_LOCAL_EXCLUDE_PORTS=",
        "ISTIO_OUTBOUND_PORTS=",
        "ISTIO_SERVICE_CIDR=",
        _init_ts(0.812901) + "\tinfo\tIstio iptables variables:",
        "PROXY_PORT=15001",
        "PROXY_INBOUND_CAPTURE_PORT=15006",
        "PROXY_TUNNEL_PORT=15008",
        "PROXY_UID=1337",
        "PROXY_GID=1337",
        "INBOUND_INTERCEPTION_MODE=REDIRECT",
        "INBOUND_TPROXY_MARK=1337",
        "INBOUND_TPROXY_ROUTE_TABLE=133",
        "INBOUND_PORTS_INCLUDE=*",
        f"INBOUND_PORTS_EXCLUDE={excl}",
        "OUTBOUND_IP_RANGES_INCLUDE=*",
        "OUTBOUND_IP_RANGES_EXCLUDE=",
        "KUBE_VIRT_INTERFACES=",
        "DRY_RUN=false",
    ]
    if pod.workload.init_failure:
        tail = [
            _init_ts(0.820011) + "\tinfo\tRunning iptables-restore with the following input:",
            "* nat",
            "-N ISTIO_INBOUND",
            "-N ISTIO_REDIRECT",
            "COMMIT",
            _init_ts(0.821544) + "\tinfo\tRunning command (with wait lock): iptables-restore --noflush --wait=30",
            _init_ts(0.834120) + "\terror\tCommand error output: xtables parameter problem: iptables-restore: unable to initialize table 'nat'",
            "",
            "Error occurred at line: 1",
            "Try `iptables-restore -h' or 'iptables-restore --help' for more information.",
            _init_ts(0.834301) + "\terror\tFailed to execute: iptables-restore --noflush --wait=30, exit status 2",
            f"Error: failed to run iptables: exit status 2 (capability {pod.workload.init_failure} missing?)",
        ]
    else:
        tail = [
            _init_ts(0.820011) + "\tinfo\tRunning iptables-restore with the following input:",
            "* nat",
            "-N ISTIO_INBOUND",
            "-N ISTIO_REDIRECT",
            "-N ISTIO_IN_REDIRECT",
            "-N ISTIO_OUTPUT",
            "-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN",
            "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001",
            "-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006",
            "-A PREROUTING -p tcp -j ISTIO_INBOUND",
            "-A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN",
            "-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN",
            "-A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN",
            "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT",
            "-A OUTPUT -p tcp -j ISTIO_OUTPUT",
            "-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN",
            "-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN",
            "-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN",
            "-A ISTIO_OUTPUT -j ISTIO_REDIRECT",
            "COMMIT",
            _init_ts(0.821544) + "\tinfo\tRunning command (with wait lock): iptables-restore --noflush --wait=30",
        ]
    return "\n".join(head + tail) + "\n"
