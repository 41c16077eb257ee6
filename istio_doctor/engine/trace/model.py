"""The data of a request trace: what was asked, and what Envoy does with it, hop by hop.

A :class:`Trace` is data we own (``extra="forbid"``): the ``trace`` command prints it in every
output format, the engine turns a broken trace into a finding, and the report schema exports
it. ``verdict`` is ``delivered`` or the :class:`Stage` where the request broke; ``details`` is
Envoy's own ``%RESPONSE_CODE_DETAILS%`` vocabulary for that break, so a trace can be compared
with the access-log line that prompted it.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Stage(StrEnum):
    """Where a hop happens, in Envoy's order of processing."""

    CAPTURE = "capture"  # iptables: is the connection redirected to Envoy at all?
    LISTENER = "listener"  # which listener owns the connection (incl. use_original_dst hand-off)
    LISTENER_FILTERS = "listener_filters"  # tls_inspector / http_inspector: transport, SNI, ALPN
    FILTER_CHAIN = "filter_chain"
    DOWNSTREAM_TLS = "downstream_tls"  # the chain's DownstreamTlsContext vs what the client sends
    NETWORK_RBAC = "network_rbac"
    PROTOCOL = "protocol"  # HTTP connection manager fed non-HTTP bytes, and the like
    ROUTE_CONFIG = "route_config"
    VIRTUAL_HOST = "virtual_host"
    ROUTE = "route"
    HTTP_RBAC = "http_rbac"
    FAULT = "fault"
    ROUTE_ACTION = "route_action"  # cluster / weighted clusters / redirect / direct response
    CLUSTER = "cluster"
    UPSTREAM_TLS = "upstream_tls"  # transport_socket_matches / transport_socket
    ENDPOINTS = "endpoints"
    CIRCUIT_BREAKER = "circuit_breaker"
    OUTLIER_DETECTION = "outlier_detection"
    DELIVERY = "delivery"  # inbound: the address the server's proxy connects to, vs the app's sockets
    TUNNEL = "tunnel"  # ambient: an HBONE (HTTP/2 CONNECT over mTLS, port 15008) hop between ztunnels and waypoints


#: verdicts that are not a stage
DELIVERED = "delivered"
ANSWERED = "answered"  # Envoy answers by design: a redirect, a direct response below 400
BYPASSED = "bypassed"  # not redirected to Envoy (iptables exclusions): no proxy on this side
UNKNOWN = "unknown"  # the trace could not decide: the evidence it needed is missing

HopStatus = Literal["ok", "break", "warn", "unknown", "info"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TraceRequest(_Model):
    """One request (or TCP connection) as it leaves the client application.

    ``direction`` says where Envoy meets it: ``outbound`` (the client's sidecar; iptables
    redirects it to 15001), ``inbound`` (the server's sidecar; redirected to 15006),
    ``gateway`` (a gateway pod: the listener bound to the port receives it), ``waypoint``
    (an ambient waypoint: ztunnel tunnels it over HBONE to port 15008), or ``auto`` (waypoint
    for a waypoint's dump, gateway for a router node, inbound when the destination is the
    proxy's own pod IP, else outbound).
    """

    dest_ip: str = Field(description="destination IP as the client connects to it (a ClusterIP, pod IP or external IP)")
    dest_port: int = Field(ge=1, le=65535)
    authority: str | None = Field(default=None, description="Host / :authority header; None for a TCP connection")
    path: str = "/"
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict, description="request headers (names lower-cased)")
    protocol: Literal["http1", "http2", "tcp"] = "http1"
    #: what the connection carries: plaintext, TLS originated by the app, or Istio mTLS (a peer sidecar)
    tls: Literal["none", "tls", "istio_mutual"] = "none"
    sni: str | None = None
    alpn: list[str] = Field(default_factory=list)
    source_ip: str | None = None
    source_port: int | None = None
    #: the client's SPIFFE identity when it arrives over Istio mTLS (inbound RBAC principals)
    source_principal: str | None = None
    direction: Literal["auto", "outbound", "inbound", "gateway", "waypoint"] = "auto"

    @field_validator("dest_ip")
    @classmethod
    def _ip(cls, v: str) -> str:
        ipaddress.ip_address(v)
        return v

    @field_validator("headers")
    @classmethod
    def _lower(cls, v: dict[str, str]) -> dict[str, str]:
        return {k.lower(): val for k, val in v.items()}

    @property
    def is_http(self) -> bool:
        return self.protocol != "tcp"

    @property
    def target(self) -> str:
        host = f"[{self.dest_ip}]" if ":" in self.dest_ip else self.dest_ip
        return f"{host}:{self.dest_port}"


class Hop(_Model):
    """One decision Envoy takes, with the configuration that decided it."""

    proxy: str = Field(description="which proxy decides: the node (pod.namespace) or 'client'/'server'")
    stage: Stage
    element: str = Field(description="the config element by name (listener, filter chain, virtual host, route, cluster)")
    decision: str = Field(description="what Envoy does, in a few words")
    why: str = Field(description="the rule that makes it so (Envoy's or Istio's documented behaviour)")
    excerpt: str = Field(default="", description="verbatim JSON of the configuration that decided it")
    status: HopStatus = "ok"


class Upstream(_Model):
    """Where the request leaves this proxy for."""

    cluster: str
    address: str | None = Field(default=None, description="endpoint ip:port Envoy connects to (one of them)")
    tls: Literal["istio_mutual", "tls", "plaintext", "unknown"] = "unknown"
    sni: str | None = None
    alpn: list[str] = Field(default_factory=list)
    healthy_endpoints: int | None = None
    total_endpoints: int | None = None


class Trace(_Model):
    """What Envoy does with one request, faithfully to its documented algorithms."""

    request: TraceRequest
    verdict: str = Field(description="'delivered', 'answered', 'bypassed', 'unknown', or the stage where the request broke")
    cluster: str | None = Field(default=None, description="the upstream cluster Envoy picks, or null when the request dies before one")
    details: str | None = Field(default=None, description="Envoy's response code details for the outcome (route_not_found, filter_chain_not_found, ...)")
    response: str | None = Field(default=None, description="what the client should see, e.g. '404 NR', '503 UH', 'connection reset'")
    hops: list[Hop] = Field(default_factory=list)
    upstream: Upstream | None = None
    unknowns: list[str] = Field(default_factory=list, description="what the trace could not see, and why")

    @property
    def broken(self) -> bool:
        return self.verdict not in (DELIVERED, ANSWERED, BYPASSED, UNKNOWN)

    @property
    def breaking_hop(self) -> Hop | None:
        for h in self.hops:
            if h.status == "break":
                return h
        return None


_MARK = {"ok": "✔", "break": "✘", "warn": "!", "unknown": "‼", "info": "·"}


#: how a finding's evidence names a hop list (``hops_text``), so a renderer can shorten it
TRACE_REF_NOTE = "request trace through {proxy}'s Envoy configuration"


def passing_hops_hidden(text: str) -> tuple[str, int]:
    """A ``hops_text`` without the hops that passed (ok, info): what a short report shows. The
    breaking, warning and unknown hops stay, with the configuration under the break."""
    keep: list[str] = []
    hidden = 0
    passing = (_MARK["ok"], _MARK["info"])
    drop_next = False
    for line in text.splitlines():
        if line.startswith(passing):
            hidden += 1
            drop_next = True
        elif line.startswith(" ") and drop_next:
            continue
        else:
            drop_next = False
            keep.append(line)
    return "\n".join(keep), hidden


def hops_text(hops: list[Hop]) -> str:
    """The hop list as evidence: one line per hop, the breaking hop's config excerpt under it."""
    lines = []
    for i, h in enumerate(hops, 1):
        lines.append(f"{_MARK[h.status]} {i:>2}. [{h.proxy}] {h.stage.value} {h.element}: {h.decision} ({h.why})")
        if h.status == "break" and h.excerpt:
            lines.append(f"       {h.excerpt}")
    return "\n".join(lines)


def request_line(req: TraceRequest) -> str:
    if req.is_http:
        return f"{req.method} {req.authority or req.target}{req.path} (to {req.target})"
    return f"TCP {req.target}"


def probe_line(req: TraceRequest, reason: str) -> str:
    """How a synthesised request is named wherever it appears, so it is never taken for a logged one:
    ``probe: GET http://reviews.default.svc.cluster.local:9080/ (no failing request was logged)``."""
    if req.is_http:
        scheme = "https" if req.tls == "tls" and req.direction != "inbound" else "http"
        what = f"{req.method} {scheme}://{req.authority or req.target}{req.path}"
        if req.direction == "inbound" and req.tls == "istio_mutual":
            what += f" over Istio mTLS to {req.target}"
        elif req.direction == "inbound" or req.authority is None:
            what += f" to {req.target}"
    else:
        what = f"TCP {req.target}" + (f" (TLS, SNI {req.sni})" if req.tls != "none" and req.sni else "")
    return f"probe: {what} ({reason})"
