"""Follow one request through one Envoy, hop by hop: :func:`trace_request`.

The order is Envoy's: capture, listener (and ``use_original_dst`` hand-off), listener
filters, filter chain, downstream TLS, network filters (RBAC), then either ``tcp_proxy`` or the
HTTP connection manager (route configuration, virtual host, HTTP filters such as RBAC and
fault, route action), then the cluster, its transport socket for the chosen endpoint,
endpoints and health, circuit breakers, outlier detection and, on the server side, the address
the application must listen on. Each rule cites its source in the module that implements it
(``listeners``, ``http``, ``rbac``, ``upstream``).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from istio_doctor.engine.trace import http as H
from istio_doctor.engine.trace import listeners as L
from istio_doctor.engine.trace import rbac as R
from istio_doctor.engine.trace import upstream as U
from istio_doctor.engine.trace.index import DumpIndex, field, index_for
from istio_doctor.engine.trace.model import (
    ANSWERED,
    BYPASSED,
    DELIVERED,
    UNKNOWN,
    Hop,
    HopStatus,
    Stage,
    Trace,
    TraceRequest,
    Upstream,
)
from istio_doctor.evidence.envoy.model import (
    HCM_NAMES,
    RBAC_NAMES,
    TCP_PROXY_NAMES,
    ConfigDump,
    FilterChain,
    Listener,
    RouteConfig,
)

__all__ = ["continue_on_server", "inbound_delivery", "node_ips", "plaintext_inbound", "proxy_label", "spiffe_id", "trace_request"]

#: ports istio-iptables never redirects inbound (Envoy's own: Prometheus, health).
#: istio/istio@1.22.0 manifests/charts/istio-control/istio-discovery/files/injection-template.yaml
_INBOUND_NEVER_CAPTURED = (15090, 15021)
_FAULT = ("envoy.filters.http.fault", "envoy.fault")


def proxy_label(dump: ConfigDump) -> str:
    n = dump.node
    if n.pod_name:
        return f"{n.pod_name}.{n.namespace}" if n.namespace else n.pod_name
    return n.id or "proxy"


def node_ips(dump: ConfigDump) -> list[str]:
    md = dump.node.metadata or {}
    ips = [dump.node.ip] if dump.node.ip else []
    for key in ("INSTANCE_IPS", "ISTIO_META_INSTANCE_IPS"):
        for p in str(md.get(key) or "").split(","):
            p = p.strip()
            if p and p not in ips:
                ips.append(p)
    return ips


class _Stop(Exception):
    """Raised to end the trace: the verdict is already set."""


class _Tracer:
    def __init__(self, dump: ConfigDump, req: TraceRequest, proxy: str | None, sockets: list[Any] | None) -> None:
        self.dump = dump
        self.idx: DumpIndex = index_for(dump)
        self.req = req
        self.proxy = proxy or proxy_label(dump)
        self.sockets = sockets
        self.hops: list[Hop] = []
        self.unknowns: list[str] = []
        self.verdict = UNKNOWN
        self.cluster: str | None = None
        self.details: str | None = None
        self.response: str | None = None
        self.upstream: Upstream | None = None
        self.direction = self._direction()
        self.hcm: dict[str, Any] | None = None
        self.listener: Listener | None = None

    # -- bookkeeping ------------------------------------------------------------------

    def hop(self, stage: Stage, element: str, decision: str, why: str, excerpt: str = "", status: HopStatus = "ok") -> None:
        self.hops.append(Hop(proxy=self.proxy, stage=stage, element=element, decision=decision, why=why,
                             excerpt=excerpt, status=status))

    def brk(self, stage: Stage, element: str, decision: str, why: str, excerpt: str = "", *, details: str,
            response: str) -> None:
        self.hop(stage, element, decision, why, excerpt, "break")
        self.verdict, self.details, self.response = stage.value, details, response
        raise _Stop

    def unknown(self, stage: Stage, element: str, decision: str, why: str, excerpt: str = "") -> None:
        self.hop(stage, element, decision, why, excerpt, "unknown")
        self.unknowns.append(why)
        self.verdict = UNKNOWN
        raise _Stop

    def peer_mtls(self) -> bool:
        """Does the peer present an Istio certificate to this proxy's RBAC? (A waypoint's peer
        always does: HBONE is mutual TLS even when the tunnelled request is plaintext.)"""
        return self.req.tls == "istio_mutual"

    def _direction(self) -> str:
        d = self.req.direction
        if d != "auto":
            return d
        if self.dump.node.type == "router":
            return "gateway"
        if self.req.dest_ip in node_ips(self.dump):
            return "inbound"
        if self.dump.node.type == "sidecar" or self.idx.listener_on_port(L.OUTBOUND_CAPTURE_PORT) is not None:
            return "outbound"
        return "gateway"

    def result(self) -> Trace:
        return Trace(request=self.req, verdict=self.verdict, cluster=self.cluster, details=self.details,
                     response=self.response, hops=self.hops, upstream=self.upstream, unknowns=self.unknowns)

    # -- the walk ---------------------------------------------------------------------

    def run(self) -> Trace:
        try:
            if "listeners" not in self.dump.sections:
                self.unknown(Stage.LISTENER, "-", "cannot trace", "the dump has no listeners section")
            self.capture()
            lst = self.select_listener()
            self.listener = lst
            det = L.run_listener_filters(lst, self.req.dest_port, tls=self.req.tls != "none", sni=self.req.sni,
                                         alpn=self.req.alpn, protocol=self.req.protocol)
            self.hop(Stage.LISTENER_FILTERS, lst.name or f"{lst.address}:{lst.port}",
                     f"transport {det.transport}, ALPN {det.alpn or '(none)'}", "; ".join(det.notes),
                     L.excerpt(field(lst.raw, "listener_filters") or []), "info")
            fc = self.select_chain(lst, det)
            self.downstream_tls(fc)
            self.network_filters(fc, det)
        except _Stop:
            pass
        return self.result()

    def capture(self) -> None:
        req = self.req
        if self.direction == "gateway":
            self.hop(Stage.CAPTURE, "-", "no capture", f"{self.dump.node.type or 'this proxy'} receives on its own listeners "
                     "(no iptables redirect for a gateway)", status="info")
            return
        ann = (self.dump.node.metadata or {}).get("ANNOTATIONS") or {}
        why = L.capture_exclusion(ann if isinstance(ann, dict) else {}, self.direction, req.dest_ip, req.dest_port)
        if why is None and self.direction == "inbound" and req.dest_port in _INBOUND_NEVER_CAPTURED:
            why = f"port {req.dest_port} is one of Envoy's own ports istio-iptables never redirects inbound"
        if why is not None:
            self.hop(Stage.CAPTURE, "iptables", "not redirected", why, status="info")
            self.verdict = BYPASSED
            raise _Stop
        port = L.OUTBOUND_CAPTURE_PORT if self.direction == "outbound" else L.INBOUND_CAPTURE_PORT
        self.hop(Stage.CAPTURE, "iptables", f"redirected to Envoy ({self.direction})",
                 f"istio-iptables redirects {self.direction} TCP to the capture port ({port} by default)", status="info")

    def select_listener(self) -> Listener:
        req = self.req
        entry, why = L.entry_listener(self.idx, self.direction, req.dest_ip, req.dest_port)
        if entry is None:
            if self.direction == "gateway":
                self.brk(Stage.LISTENER, f"{req.target}", "no listener", why,
                         details="connection refused", response="connection refused")
            self.unknown(Stage.LISTENER, "-", "no capture listener", why)
        assert entry is not None
        name = entry.name or f"{entry.address}_{entry.port}"
        if self.direction != "gateway" and L.uses_original_dst(entry):
            target, how = self.idx.find_by_address(req.dest_ip, req.dest_port)
            if target is not None and target is not entry:
                self.hop(Stage.LISTENER, name, "use_original_dst", why, L.listener_excerpt(entry), "info")
                tname = target.name or f"{target.address}_{target.port}"
                self.hop(Stage.LISTENER, tname, f"handed off ({how} address match)",
                         f"{name} has use_original_dst: Envoy hands the connection to the listener owning "
                         f"{req.target} ({'exact ip:port' if how == 'exact' else 'the any-address listener on port ' + str(req.dest_port)})",
                         L.listener_excerpt(target))
                return target
            self.hop(Stage.LISTENER, name, "keeps the connection",
                     f"{why}; no listener owns {req.target}, so {name} (use_original_dst) handles it with its own filter chains",
                     L.listener_excerpt(entry))
            return entry
        if self.direction == "inbound":
            why += "; its original_dst listener filter restores the destination for filter-chain matching"
        self.hop(Stage.LISTENER, name, "receives", why, L.listener_excerpt(entry))
        return entry

    def select_chain(self, lst: Listener, det: L.Detected) -> FilterChain:
        req = self.req
        conn = L.Conn(dest_ip=req.dest_ip, dest_port=req.dest_port, sni=det.sni, transport=det.transport, alpn=det.alpn,
                      source_ip=req.source_ip, source_port=req.source_port)
        lname = lst.name or f"{lst.address}_{lst.port}"
        chains = [c for c in lst.filter_chains if not c.is_default]
        default = next((c for c in lst.filter_chains if c.is_default), None)
        fcm = field(lst.raw, "filter_chain_matcher")
        fc: FilterChain | None
        if fcm:
            path: list[str] = []
            try:
                name = L.eval_matcher(fcm, conn, path)
            except L.MatcherUnsupported as e:
                self.unknown(Stage.FILTER_CHAIN, lname, "filter_chain_matcher not evaluated",
                             f"the listener selects chains with a matcher this tracer cannot evaluate ({e})",
                             L.excerpt(fcm)[:2000])
                raise  # unreachable
            fc = next((c for c in chains if c.name == name), None) if name else None
            steps = ["filter_chain_matcher: " + " > ".join(path) + (f" -> {name}" if name else "")]
        else:
            fc, steps = L.match_filter_chains(chains, conn)
        if fc is None and default is not None:
            fc = default
            steps.append("no filter chain matches: the listener's default_filter_chain")
        if fc is None:
            self.brk(Stage.FILTER_CHAIN, lname, "no filter chain matches",
                     f"{'; '.join(steps)}; the listener has no default_filter_chain, so Envoy closes the connection",
                     L.excerpt([field(c.raw, "filter_chain_match") or {} for c in chains][:12]),
                     details="filter_chain_not_found",
                     response="connection closed by the proxy (access log: NR filter_chain_not_found)")
        assert fc is not None
        self.hop(Stage.FILTER_CHAIN, fc.name or ("default_filter_chain" if fc.is_default else lname), "matched",
                 "; ".join(steps), L.chain_excerpt(fc))
        return fc

    def downstream_tls(self, fc: FilterChain) -> None:
        req = self.req
        name = fc.name or "filter chain"
        if fc.has_tls and req.tls == "none":
            self.brk(Stage.DOWNSTREAM_TLS, name, "TLS handshake fails",
                     "the chain terminates TLS (DownstreamTlsContext) but the client sends plaintext",
                     L.chain_excerpt(fc), details="downstream TLS handshake error",
                     response="connection closed (the client's plaintext request is not a TLS ClientHello)")
        if fc.has_tls and fc.requires_client_cert and req.tls == "tls":
            self.brk(Stage.DOWNSTREAM_TLS, name, "TLS handshake fails",
                     "the chain requires a client certificate (mTLS) and the client presents none",
                     L.chain_excerpt(fc), details="peer did not return a certificate",
                     response="TLS alert: certificate required")
        if fc.has_tls and (bad := L.unusable_certificates(fc, self.dump.secrets)):
            self.brk(Stage.DOWNSTREAM_TLS, name, "TLS handshake fails",
                     "the chain's server certificate " + "; ".join(f"{n} is {why}" for n, why in bad) + ": no handshake on "
                     "this chain succeeds", L.chain_excerpt(fc),
                     details="downstream TLS handshake error (certificate not usable)",
                     response="connection reset during the TLS handshake")
        if fc.has_tls:
            self.hop(Stage.DOWNSTREAM_TLS, name, "terminates " + ("mutual TLS" if fc.requires_client_cert else "TLS"),
                     "the chain has a DownstreamTlsContext" + (" with require_client_certificate" if fc.requires_client_cert else ""),
                     status="info")

    def network_filters(self, fc: FilterChain, det: L.Detected) -> None:
        req = self.req
        for f in fc.raw.get("filters") or ():
            name = f.get("name", "")
            tc = field(f, "typed_config") or f.get("config") or {}
            if name in RBAC_NAMES and name != "envoy.filters.http.rbac":
                self.rbac(Stage.NETWORK_RBAC, name, tc, det, http=False)
            elif name in TCP_PROXY_NAMES:
                self.tcp_proxy(tc)
                return
            elif name in HCM_NAMES:
                self.http(fc, tc, det)
                return
        self.unknown(Stage.FILTER_CHAIN, fc.name or "filter chain", "no terminal filter understood",
                     f"the chain's filters {fc.filters} have no tcp_proxy or http_connection_manager", L.chain_excerpt(fc))

    def rbac(self, stage: Stage, name: str, tc: dict[str, Any], det: L.Detected, *, http: bool,
             headers: dict[str, str] | None = None, path: str | None = None) -> None:
        req = self.req
        inp = R.RbacInput(dest_ip=req.dest_ip, dest_port=req.dest_port, sni=det.sni, source_ip=req.source_ip,
                          principal=req.source_principal, mtls=self.peer_mtls(),
                          headers=headers if http else None, path=path if http else None)
        dec = R.evaluate(tc, inp)
        if dec is None:
            return
        rules = field(tc, "rules") or {}
        ex = L.excerpt({"action": rules.get("action", "ALLOW"),
                        "policies": {k: v for k, v in list((rules.get("policies") or {}).items())[:6]}})
        element = f"{name} ({dec.action})"
        if dec.allowed is False:
            policy = dec.policy or "none"
            self.brk(stage, element, "denied", dec.why + ("" if http else " (a TCP chain: HTTP-only rule parts never match here)"),
                     ex, details=f"rbac_access_denied_matched_policy[{policy}]",
                     response="403 RBAC: access denied" if http else "connection closed (rbac_access_denied)")
        if dec.allowed is None:
            self.hop(stage, element, "may deny", dec.why, ex, "unknown")
            self.unknowns.append(f"{element}: {dec.why}")
            return
        self.hop(stage, element, "allowed", dec.why, ex, "ok" if dec.policy or dec.action != "LOG" else "info")

    # -- tcp ----------------------------------------------------------------------------

    def tcp_proxy(self, tc: dict[str, Any]) -> None:
        cluster = tc.get("cluster")
        wc = field(tc, "weighted_clusters")
        if cluster is None and wc:
            items = [(w.get("name", ""), L.proto_int(w.get("weight"))) for w in wc.get("clusters") or ()]
            cluster = max(items, key=lambda x: x[1])[0] if items else None
            self.hop(Stage.ROUTE_ACTION, "tcp_proxy", "weighted clusters",
                     ", ".join(f"{n} ({w})" for n, w in items), L.excerpt(wc), "info")
        if not cluster:
            self.unknown(Stage.ROUTE_ACTION, "tcp_proxy", "no cluster", "tcp_proxy without cluster or weighted_clusters",
                         L.excerpt(tc))
        self.hop(Stage.ROUTE_ACTION, "tcp_proxy", f"forwards to {cluster}", "the chain's terminal filter is tcp_proxy: "
                 "the bytes are forwarded without any HTTP routing", L.excerpt({"cluster": tc.get("cluster"), "stat_prefix": field(tc, "stat_prefix")}))
        self.to_cluster(cluster, http=False)

    # -- http ---------------------------------------------------------------------------

    def http(self, fc: FilterChain, hcm: dict[str, Any], det: L.Detected) -> None:
        req = self.req
        self.hcm = hcm
        cname = fc.name or "filter chain"
        if not req.is_http:
            self.brk(Stage.PROTOCOL, cname, "HTTP connection manager gets non-HTTP bytes",
                     "the chain is an HTTP connection manager; raw TCP bytes fail HTTP/1 parsing (400, "
                     "http1.codec_error) and a server-first protocol (MySQL, SMTP...) hangs waiting for the server "
                     "greeting until a timeout", L.chain_excerpt(fc), details="http1.codec_error",
                     response="400 DPE or a hang until timeout")
        if req.tls != "none" and not fc.has_tls:
            self.brk(Stage.PROTOCOL, cname, "TLS bytes reach an HTTP connection manager",
                     "the chain does not terminate TLS but parses HTTP: a TLS ClientHello is not an HTTP request",
                     L.chain_excerpt(fc), details="http1.codec_error", response="connection reset / 400 DPE")
        rc = self.route_config(hcm, fc)
        authority = req.authority if req.authority is not None else req.target
        host_header = authority
        if field(hcm, "strip_any_host_port"):
            i = H.port_start(host_header)
            host_header = host_header[:i] if i != -1 else host_header
        elif field(hcm, "strip_matching_host_port"):
            i = H.port_start(host_header)
            if i != -1 and host_header[i + 1:] == str(req.dest_port):
                host_header = host_header[:i]
        path, query = H.split_path(req.path)
        npath = H.normalize(path, hcm)
        headers = {**req.headers, ":authority": host_header, "host": host_header, ":method": req.method.upper(),
                   ":path": npath + (f"?{query}" if query else ""), ":scheme": "https" if fc.has_tls else "http"}
        choice = H.find_virtual_host(rc, host_header)
        port_note = (f"ignore_port_in_host_matching removes the port: matching {choice.host!r}" if choice.port_ignored
                     else ("the route configuration does not set ignore_port_in_host_matching: the port is part of the host"
                           if H.port_start(host_header) != -1 else ""))
        vh = choice.vhost
        miss: tuple[Stage, str, str, str] | None = None
        if vh is None:
            served = sorted({d for v in rc.virtual_hosts for d in v.domains})
            miss = (Stage.VIRTUAL_HOST, rc.name or "inline route", f"no virtual host for {host_header!r}",
                    f"no domain of the {len(rc.virtual_hosts)} virtual host(s) matches {choice.host!r} (exact, *suffix, prefix*, "
                    f"or '*')" + (f"; {port_note}" if port_note else "") + f"; domains: {served[:12]}")
        else:
            self.hop(Stage.VIRTUAL_HOST, vh.name, f"{choice.how} match on {choice.domain!r}",
                     f"Host {host_header!r}: {choice.how} domain {choice.domain!r} wins (exact > *suffix > prefix* > '*')"
                     + (f"; {port_note}" if port_note else ""), L.excerpt({"name": vh.name, "domains": vh.domains}))
            rt = field(_vh_raw(rc, vh), "require_tls")
            if rt in ("ALL", "EXTERNAL_ONLY") and not fc.has_tls:
                self.hop(Stage.VIRTUAL_HOST, vh.name, "redirects to https", f"require_tls {rt}: plaintext requests get 301",
                         L.excerpt({"require_tls": rt}), "info")
                self.verdict, self.details, self.response = ANSWERED, "https redirect", "301 to https"
                raise _Stop
        route = None
        if vh is not None:
            rchoice = H.match_route(vh, npath, query, headers)
            route = rchoice.route
            self.unknowns.extend(rchoice.unsure)
            if route is None:
                miss = (Stage.ROUTE, vh.name, f"no route matches {npath!r}", rchoice.why + f" for {req.method} {npath}")
            else:
                self.hop(Stage.ROUTE, route.name or f"#{rchoice.index}", "matched", rchoice.why,
                         L.excerpt(H.route_excerpt(route)))
        miss_at = None
        if miss is not None:
            # HTTP filters run before the router, so a deny still answers a request no route
            # serves: the miss is the break only if every filter lets the request through.
            miss_at = len(self.hops)
            self.hop(*miss, _miss_excerpt(rc, vh), "warn")
        for hf in field(hcm, "http_filters") or ():
            hname = hf.get("name", "")
            tc = field(hf, "typed_config") or hf.get("config") or {}
            if hname in RBAC_NAMES and hname != "envoy.filters.network.rbac":
                self.rbac(Stage.HTTP_RBAC, hname, tc, det, http=True, headers=headers, path=npath)
            elif hname in _FAULT:
                self.fault(route, tc)
            elif hname in ("envoy.filters.http.ext_authz", "envoy.ext_authz"):
                self.hop(Stage.HTTP_RBAC, hname, "external authorization", "an ext_authz server decides (CUSTOM "
                         "AuthorizationPolicy); its answer is not in the dump", status="unknown")
                self.unknowns.append("an external authorization server (ext_authz) decides this request")
        if miss_at is not None:
            self.hops[miss_at].status = "break"
            self.verdict, self.details, self.response = self.hops[miss_at].stage.value, "route_not_found", "404 NR"
            raise _Stop
        assert route is not None
        self.route_action(route)

    def route_config(self, hcm: dict[str, Any], fc: FilterChain) -> RouteConfig:
        if fc.inline_routes is not None:
            self.hop(Stage.ROUTE_CONFIG, "inline route_config", "inline", "the HTTP connection manager carries its routes inline",
                     status="info")
            return fc.inline_routes
        rds = field(hcm, "rds")
        if rds is None:
            if field(hcm, "scoped_routes") is not None:
                self.unknown(Stage.ROUTE_CONFIG, "scoped_routes", "scoped routes", "scoped RDS is not traced")
            self.unknown(Stage.ROUTE_CONFIG, fc.name or "hcm", "no route configuration", "the HTTP connection manager has no rds or route_config")
        name = field(rds, "route_config_name") or ""
        rc = self.idx.routes.get(name)
        if rc is None:
            if not self.idx.has("routes"):
                self.unknown(Stage.ROUTE_CONFIG, name, "routes not in the dump", f"route configuration {name!r} is needed and the dump has no routes section")
            self.brk(Stage.ROUTE_CONFIG, name, "route configuration missing",
                     f"RDS {name!r} is not among the proxy's {len(self.idx.routes)} route configurations: istiod did not send it "
                     "(or it was rejected); the connection manager routes nothing", L.excerpt({"rds": rds}),
                     details="route_not_found", response="404 NR")
        assert rc is not None
        ign = field(rc.raw, "ignore_port_in_host_matching")
        self.hop(Stage.ROUTE_CONFIG, name, "RDS", f"rds.route_config_name {name!r}" +
                 (" (ignore_port_in_host_matching: true)" if ign else ""), L.excerpt({"rds": {"route_config_name": name}}), "info")
        return rc

    def fault(self, route: Any, filter_cfg: dict[str, Any]) -> None:
        cfg = route.fault if route is not None and route.fault is not None else None
        if cfg is None:
            cfg = filter_cfg if (field(filter_cfg, "abort") or field(filter_cfg, "delay")) else None
        if not cfg:
            return
        cfg = field(cfg, "typed_config") or cfg
        abort = field(cfg, "abort")
        delay = field(cfg, "delay")
        if delay:
            pct = _percent(field(delay, "percentage"))
            self.hop(Stage.FAULT, "envoy.filters.http.fault", f"delays {pct:g}% of requests",
                     f"fault delay {field(delay, 'fixed_delay')} for {pct:g}% (VirtualService fault.delay)", L.excerpt({"delay": delay}), "warn")
        if abort:
            pct = _percent(field(abort, "percentage"))
            status = field(abort, "http_status") or (f"grpc {field(abort, 'grpc_status')}" if field(abort, "grpc_status") is not None else "?")
            if pct >= 100:
                self.brk(Stage.FAULT, "envoy.filters.http.fault", f"aborts with {status}",
                         f"fault abort for 100% of requests (VirtualService fault.abort)", L.excerpt({"abort": abort}),
                         details="fault_filter_abort", response=f"{status} FI")
            self.hop(Stage.FAULT, "envoy.filters.http.fault", f"aborts {pct:g}% with {status}",
                     "fault abort for a share of requests (VirtualService fault.abort)", L.excerpt({"abort": abort}), "warn")

    def route_action(self, route: Any) -> None:
        raw = route.raw
        name = route.name or "route"
        dr = field(raw, "direct_response")
        if dr is not None:
            status = L.proto_int(dr.get("status"))
            if status >= 400:
                self.brk(Stage.ROUTE_ACTION, name, f"direct response {status}",
                         "the route answers itself (direct_response); Istio writes one for REGISTRY_ONLY (block_all, 502) "
                         "and VirtualService directResponse", L.excerpt({"direct_response": dr}),
                         details="direct_response", response=str(status))
            self.hop(Stage.ROUTE_ACTION, name, f"direct response {status}", "the route answers itself (direct_response)",
                     L.excerpt({"direct_response": dr}))
            self.verdict, self.details, self.response = ANSWERED, "direct_response", str(status)
            raise _Stop
        rd = raw.get("redirect")
        if rd is not None:
            code = {"MOVED_PERMANENTLY": 301, "FOUND": 302, "SEE_OTHER": 303, "TEMPORARY_REDIRECT": 307,
                    "PERMANENT_REDIRECT": 308}.get(field(rd, "response_code") or "MOVED_PERMANENTLY", 301)
            self.hop(Stage.ROUTE_ACTION, name, f"redirect {code}", "the route redirects (VirtualService redirect)", L.excerpt({"redirect": rd}))
            self.verdict, self.details, self.response = ANSWERED, "redirect", str(code)
            raise _Stop
        act = raw.get("route") or {}
        cluster = act.get("cluster")
        wc = field(act, "weighted_clusters")
        if cluster is None and wc:
            items = [(w.get("name", ""), L.proto_int(w.get("weight"))) for w in wc.get("clusters") or ()]
            total = sum(w for _, w in items) or 1
            cluster = max(items, key=lambda x: x[1])[0] if items else None
            missing = [(n, w) for n, w in items if w > 0 and self.dump.cluster(n) is None]
            if missing and self.idx.has("clusters") and any(n != cluster for n, _ in missing):
                share = sum(w for _, w in missing) * 100 // total
                self.hop(Stage.ROUTE_ACTION, name, f"{share}% to missing clusters",
                         f"weighted clusters {[n for n, _ in missing]} do not exist: that share of requests fails 503 NC",
                         L.excerpt({"weighted_clusters": wc}), "warn")
            else:
                self.hop(Stage.ROUTE_ACTION, name, "weighted clusters",
                         ", ".join(f"{n} ({w * 100 // total}%)" for n, w in items) + f"; following the heaviest, {cluster}",
                         L.excerpt({"weighted_clusters": wc}), "info")
        elif cluster is None and field(act, "cluster_header"):
            hdr = field(act, "cluster_header").lower()
            cluster = self.req.headers.get(hdr)
            if not cluster:
                self.unknown(Stage.ROUTE_ACTION, name, "cluster from a header", f"the cluster comes from header {hdr!r}, which the request lacks")
        if not cluster:
            self.unknown(Stage.ROUTE_ACTION, name, "no cluster", "the route action names no cluster this tracer understands", L.excerpt(act))
        timeout = act.get("timeout")
        rp = field(act, "retry_policy") or {}
        bits = []
        if timeout is not None:
            bits.append(f"timeout {timeout}" + (" (disabled)" if timeout in ("0s", "0") else ""))
        if rp:
            bits.append(f"retries {field(rp, 'num_retries', 1)} on {field(rp, 'retry_on', '?')}")
        self.hop(Stage.ROUTE_ACTION, name, f"forwards to {cluster}", "; ".join(bits) or "route action cluster",
                 L.excerpt({k: v for k, v in act.items() if k in ("cluster", "timeout")}))
        self.to_cluster(cluster, http=True)

    # -- cluster and endpoints ----------------------------------------------------------

    def to_cluster(self, name: str, *, http: bool) -> None:
        self.cluster = name
        c = self.dump.cluster(name)
        resp_nc = "503 NC" if http else "connection closed (NC)"
        if c is None:
            if not self.idx.has("clusters"):
                self.unknown(Stage.CLUSTER, name, "clusters not in the dump", f"cluster {name!r} is needed and the dump has no clusters section")
            self.brk(Stage.CLUSTER, name, "cluster not found",
                     f"no cluster {name!r} among the proxy's {len(self.dump.clusters)} clusters: the route names a cluster "
                     "istiod did not send (a subset no DestinationRule defines, a host or port without a Service)",
                     details="cluster_not_found", response=resp_nc)
        assert c is not None
        if c.warming:
            self.brk(Stage.CLUSTER, name, "cluster still warming", "the cluster is in dynamic_warming_clusters: it has not "
                     "received its endpoints and takes no traffic yet", details="cluster_not_found", response=resp_nc)
        ctype = c.type
        excerpt = L.excerpt({k: c.raw[k] for k in ("name", "type", "cluster_type", "lb_policy", "connect_timeout",
                                                   "upstream_bind_config", "original_dst_lb_config") if k in c.raw})
        dr = f"; DestinationRule {c.destination_rule}" if c.destination_rule else ""
        if name == "BlackHoleCluster" or (ctype == "STATIC" and not field(c.raw, "load_assignment") and name.endswith("BlackHoleCluster")):
            self.brk(Stage.CLUSTER, name, "black hole", "BlackHoleCluster has no endpoints: Istio sends here what it must drop "
                     "(outboundTrafficPolicy REGISTRY_ONLY, a capture loop to the proxy's own port)", excerpt,
                     details="BlackHoleCluster", response="502" if http else "connection closed (UH)")
        self.hop(Stage.CLUSTER, name, f"{ctype} cluster", f"{'outbound' if c.direction == 'outbound' else c.direction or 'static'} cluster{dr}", excerpt)
        if ctype == "ORIGINAL_DST":
            self.original_dst(c)
            return
        if ctype == "EDS":
            svc = field(field(c.raw, "eds_cluster_config") or {}, "service_name") or name
            ce = self.idx.endpoints.get(svc)
            if ce is None:
                if not self.idx.has("endpoints"):
                    self.unknown(Stage.ENDPOINTS, svc, "endpoints not in the dump",
                                 "the dump has no EDS section (istioctl proxy-config endpoint, or /config_dump?include_eds)")
                eps: list[U.EndpointView] = []
            else:
                eps = U.endpoints_of(ce)
        else:
            eps = U.static_endpoints(c)
        self.endpoints(c, eps, http)

    def original_dst(self, c: Any) -> None:
        req = self.req
        bind = field(field(c.raw, "upstream_bind_config") or {}, "source_address") or {}
        hdr = field(field(c.raw, "original_dst_lb_config") or {}, "use_http_header")
        addr = req.target
        sock = U.choose_socket(c, {})
        self.upstream = Upstream(cluster=c.name, address=addr, tls="plaintext" if sock.tls == "plaintext" else sock.tls,
                                 sni=sock.sni, alpn=sock.alpn)
        if c.direction in ("inbound",) or c.name.startswith("InboundPassthrough") or self.direction == "inbound":
            src = bind.get("address")
            self.hop(Stage.ENDPOINTS, c.name, f"original destination {addr}",
                     "ORIGINAL_DST: Envoy connects to the address the client dialled (the pod IP since Istio 1.10)"
                     + (f", from source {src}" if src else ""), status="info")
            self.delivery(addr)
            return
        why = ("ORIGINAL_DST (PassthroughCluster): the request leaves for the address the application dialled, "
               + ("as plaintext: no mTLS, no DestinationRule, no retries; outside the mesh's routing"
                  if sock.tls == "plaintext" else f"with {sock.tls}"))
        if hdr:
            why += "; use_http_header: the x-envoy-original-dst-host header picks the host"
        self.hop(Stage.UPSTREAM_TLS, c.name, f"leaves for {addr} ({sock.tls})", why, status="warn" if c.name == "PassthroughCluster" else "info")
        self.verdict = DELIVERED

    def endpoints(self, c: Any, eps: list[U.EndpointView], http: bool) -> None:
        name = c.name
        if not eps:
            self.brk(Stage.ENDPOINTS, name, "no endpoints", "the cluster has no endpoints: no ready pod backs it (EDS is empty)",
                     details="no_healthy_upstream", response="503 UH" if http else "connection closed (UH)")
        routable = [e for e in eps if e.health in U.ROUTABLE]
        degraded = [e for e in eps if e.health == "DEGRADED"]
        ex = L.excerpt([{"address": f"{e.address}:{e.port}" if e.port else e.address, "health_status": e.health,
                         **({"tlsMode": e.labels.get("tlsMode")} if e.labels.get("tlsMode") else {})} for e in eps[:8]])
        chosen: U.EndpointView | None = None
        if routable:
            chosen = routable[0]
            self.hop(Stage.ENDPOINTS, name, f"{len(routable)}/{len(eps)} endpoint(s) routable",
                     "HEALTHY and UNKNOWN hosts take traffic", ex)
        elif degraded:
            chosen = degraded[0]
            self.hop(Stage.ENDPOINTS, name, f"only degraded hosts ({len(degraded)})", "DEGRADED hosts are used when no healthy one exists", ex, "warn")
        else:
            thr = U.panic_threshold(c)
            if thr > 0:
                chosen = eps[0]
                self.hop(Stage.ENDPOINTS, name, f"0/{len(eps)} healthy: panic mode",
                         f"below healthy_panic_threshold {thr:g}% Envoy ignores health and sends to all hosts", ex, "warn")
            else:
                self.brk(Stage.ENDPOINTS, name, f"0/{len(eps)} healthy", "no host is healthy and panic mode is off "
                         "(healthy_panic_threshold 0, Istio's outlierDetection.minHealthPercent)", ex,
                         details="no_healthy_upstream", response="503 UH" if http else "connection closed (UH)")
        assert chosen is not None
        addr = f"{chosen.address}:{chosen.port}" if chosen.port else chosen.address
        self.tls_for(c, chosen, addr, http)
        if self.upstream is not None:
            self.upstream.healthy_endpoints, self.upstream.total_endpoints = len(routable), len(eps)
        cs = U.circuit_summary(c)
        self.hop(Stage.CIRCUIT_BREAKER, name, "tight limits" if cs.tight else "thresholds",
                 cs.text + (f": {', '.join(cs.tight)} overflows (503 UO) under little concurrency" if cs.tight else ""),
                 L.excerpt(field(c.raw, "circuit_breakers") or {}), "warn" if cs.tight else "info")
        if c.outlier_detection:
            self.hop(Stage.OUTLIER_DETECTION, name, "outlier detection on",
                     "hosts failing consecutively are ejected (ejections are runtime state: /clusters shows them, the dump does not)",
                     L.excerpt(c.outlier_detection), "info")
        if self.direction == "inbound":
            self.delivery(addr)
            return
        self.verdict = DELIVERED

    def tls_for(self, c: Any, ep: U.EndpointView, addr: str, http: bool) -> None:
        tsm = field(c.raw, "transport_socket_matches") or []
        labels: dict[str, Any] | None = ep.labels if ep.has_metadata else None
        if tsm and labels is None and any(m.get("match") for m in tsm):
            sock = U.choose_socket(c, {})
            self.hop(Stage.UPSTREAM_TLS, c.name, "unknown (endpoint metadata not in the dump)",
                     "transport_socket_matches depend on each endpoint's tlsMode label, which this endpoint listing does not carry",
                     L.excerpt([{"name": m.get("name"), "match": m.get("match")} for m in tsm]), "unknown")
            self.unknowns.append("the endpoints' tlsMode metadata (auto mTLS decides per endpoint)")
            self.upstream = Upstream(cluster=c.name, address=addr, tls="unknown")
            return
        sock = U.choose_socket(c, labels or {})
        alpn = sock.alpn
        if sock.tls == "istio_mutual" and http:
            over = U.alpn_override(self.hcm, self.req.protocol)
            md = ((field(c.raw, "metadata") or {}).get("filter_metadata") or {}).get("istio") or {}
            if over is not None and str(md.get("alpn_override", "")).lower() != "false":
                alpn = over
        if tsm:
            why = (f"transport_socket_matches: {sock.name!r} matches endpoint {addr} "
                   f"(envoy.transport_socket_match {labels or {}})")
        else:
            why = "the cluster's transport_socket" if sock.name != "plaintext" else "no transport socket: plaintext"
        label = {"istio_mutual": "Istio mTLS", "tls": "TLS", "plaintext": "plaintext"}[sock.tls]
        self.hop(Stage.UPSTREAM_TLS, c.name, label + (f", SNI {sock.sni}" if sock.sni else "") + (f", ALPN {alpn}" if alpn else ""),
                 why, L.excerpt([{"name": m.get("name"), "match": m.get("match")} for m in tsm] if tsm else {"transport_socket": sock.name}),
                 "info")
        self.upstream = Upstream(cluster=c.name, address=addr, tls=sock.tls, sni=sock.sni, alpn=alpn)

    def delivery(self, addr: str) -> None:
        """Inbound: does anything listen where the server's proxy connects?"""
        ip, _, port_s = addr.rpartition(":")
        ip = ip.strip("[]")
        port = int(port_s) if port_s.isdigit() else 0
        self.verdict = DELIVERED
        if self.sockets is None:
            self.hop(Stage.DELIVERY, addr, "app sockets unknown", f"the server's proxy connects to {addr}; the application's "
                     "listening sockets were not gathered, so whether it accepts there is not known", status="unknown")
            self.unknowns.append(f"whether the application listens on {addr} (its socket table was not gathered)")
            return
        on_port = [s for s in self.sockets if s.port == port and s.state.upper().startswith("LISTEN")]
        table = L.excerpt([f"{s.proto} {s.local_address}:{s.port}" for s in on_port] or [f"nothing listens on port {port}"])
        if any(_accepts(s.local_address, ip) for s in on_port):
            self.hop(Stage.DELIVERY, addr, "the application accepts", f"a socket on port {port} accepts connections to {ip}", table)
            return
        if not on_port:
            self.brk(Stage.DELIVERY, addr, "connection refused", f"nothing listens on port {port} in the pod: the proxy's "
                     f"connection to {addr} is refused", table, details="upstream_reset_before_response_started{connection_failure}",
                     response="503 UF")
        where = ", ".join(sorted({s.local_address for s in on_port}))
        self.brk(Stage.DELIVERY, addr, "connection refused",
                 f"the application listens on {where}:{port} only, but the server's proxy connects to {addr}"
                 + (" (since Istio 1.10 inbound traffic goes to the pod IP, not 127.0.0.1)" if not ipaddress.ip_address(ip).is_loopback else ""),
                 table, details="upstream_reset_before_response_started{connection_failure}", response="503 UF")


def _accepts(local: str, ip: str) -> bool:
    """Does a socket bound to ``local`` accept a connection to ``ip``? ("::" is dual-stack by default.)"""
    local = local.split("%", 1)[0]
    if local in ("*", "0.0.0.0"):
        return ipaddress.ip_address(ip).version == 4
    if local == "::":
        return True  # net.ipv6.bindv6only=0 (Linux default): a :: socket takes IPv4 too
    try:
        return ipaddress.ip_address(local) == ipaddress.ip_address(ip)
    except ValueError:
        return False


def _vh_raw(rc: RouteConfig, vh: Any) -> dict[str, Any]:
    for v in field(rc.raw, "virtual_hosts") or ():
        if v.get("name", "") == vh.name and (v.get("domains") or []) == vh.domains:
            return v
    return {}


def _miss_excerpt(rc: RouteConfig, vh: Any) -> str:
    if vh is None:
        return L.excerpt([{"name": v.name, "domains": v.domains} for v in rc.virtual_hosts][:20])
    return L.excerpt({"virtual_host": vh.name, "routes": [{"name": r.name, "match": r.raw.get("match")} for r in vh.routes][:20]})


def _percent(p: Any) -> float:
    """``FractionalPercent`` -> percent (numerator over HUNDRED / TEN_THOUSAND / MILLION)."""
    if not p:
        return 100.0
    num = float(p.get("numerator", 0) or 0)
    den = {"HUNDRED": 100, "TEN_THOUSAND": 10000, "MILLION": 1000000}.get(p.get("denominator", "HUNDRED"), 100)
    return num * 100.0 / den


def trace_request(dump: ConfigDump, req: TraceRequest, *, proxy: str | None = None, sockets: list[Any] | None = None,
                  route_config: str | None = None) -> Trace:
    """What ``dump``'s Envoy does with ``req``. ``sockets``: the pod's listening sockets, when known.

    ``route_config`` starts the trace at that RDS route configuration (a dump holding only
    routes, or a question about one route table); the listener stages are skipped.
    """
    if route_config is None and _waypoint_entry(dump, req):
        from istio_doctor.engine.trace.waypoint import trace_waypoint  # imports this module

        return trace_waypoint(dump, req, proxy=proxy)
    t = _Tracer(dump, req, proxy, sockets)
    if route_config is None:
        return t.run()
    try:
        fc = FilterChain(name=f"rds {route_config}")
        t.http(fc, {"rds": {"route_config_name": route_config}}, L.Detected(transport="raw_buffer"))
    except _Stop:
        pass
    return t.result()


def _waypoint_entry(dump: ConfigDump, req: TraceRequest) -> bool:
    """A waypoint meets requests on its HBONE listener, not through iptables or a gateway port:
    ``direction`` waypoint, or auto on a waypoint's dump (node id ``waypoint~...``). A
    ``main_internal`` listener alone does not make a waypoint: a sidecar with HBONE inbound has
    one too (istio/istio@1.24.0 pilot/pkg/networking/core/cluster_waypoint.go
    buildInboundHBONEClusters; the 1.18 sidecar dump tests/fixtures/trace/istio-authz-sidecar-listeners.json)."""
    if req.direction == "waypoint":
        return True
    return req.direction == "auto" and dump.node.type == "waypoint"


def spiffe_id(dump: ConfigDump) -> str | None:
    """The proxy's workload identity, ``spiffe://<trust domain>/ns/<ns>/sa/<service account>``."""
    md = dump.node.metadata or {}
    sa = md.get("SERVICE_ACCOUNT")
    ns = dump.node.namespace
    if not sa or not ns:
        return None
    td = next((s.trust_domain for s in dump.secrets if s.trust_domain), "") or "cluster.local"
    return f"spiffe://{td}/ns/{ns}/sa/{sa}"


def continue_on_server(client: Trace, client_dump: ConfigDump, server_dump: ConfigDump, *,
                       sockets: list[Any] | None = None) -> Trace:
    """Continue a client trace that reached a server pod on the server's own dump (inbound).

    The server sees what the client's proxy sends: the endpoint address, Istio mTLS with the
    client's identity and ALPN when auto mTLS chose it, or plaintext; the same HTTP request.
    The result is one trace: the client's hops then the server's, the verdict of the first break.
    """
    up = client.upstream
    if client.verdict != DELIVERED or up is None or not up.address:
        return client
    host, _, port = up.address.rpartition(":")
    req = client.request
    tls = {"istio_mutual": "istio_mutual", "tls": "tls"}.get(up.tls, "none")
    server_req = req.model_copy(update={
        "dest_ip": host.strip("[]"), "dest_port": int(port), "direction": "inbound", "tls": tls,
        "alpn": list(up.alpn) if tls != "none" else [], "sni": up.sni if tls != "none" else None,
        "source_ip": client_dump.node.ip or req.source_ip,
        "source_principal": spiffe_id(client_dump) if tls == "istio_mutual" else None,
    })
    server = trace_request(server_dump, server_req, sockets=sockets)
    unknowns = list(client.unknowns)
    if up.tls == "unknown":
        unknowns.append("the client's TLS towards the server (endpoint tlsMode unknown): the server trace assumes plaintext")
    return client.model_copy(update={
        "verdict": server.verdict, "details": server.details, "response": server.response,
        "hops": client.hops + server.hops, "unknowns": unknowns + server.unknowns,
    })


def inbound_delivery(dump: ConfigDump, pod_ip: str, port: int, *, sockets: list[Any] | None = None,
                     tls: str = "istio_mutual") -> Trace:
    """Trace a connection from a mesh client to ``pod_ip:port`` through the server's own dump:
    which address its inbound cluster connects to (127.0.0.1 before Istio 1.10 or with a Sidecar
    defaultEndpoint, the pod IP since), and, given the app's sockets, whether anything accepts there."""
    # an HTTP/1.1 request from a sidecar: every inbound chain set (HTTP, TCP, sniffed) takes it
    alpn = ["istio-http/1.1", "istio"] if tls == "istio_mutual" else []
    req = TraceRequest(dest_ip=pod_ip, dest_port=port, authority=f"{pod_ip}:{port}", tls=tls, alpn=alpn,  # type: ignore[arg-type]
                       direction="inbound")
    return trace_request(dump, req, sockets=sockets)


def plaintext_inbound(dump: ConfigDump, pod_ip: str, port: int) -> Trace:
    """Trace a plaintext TCP connection (a client without a sidecar) to ``pod_ip:port`` on the server's dump."""
    return trace_request(dump, TraceRequest(dest_ip=pod_ip, dest_port=port, protocol="tcp", direction="inbound"))
