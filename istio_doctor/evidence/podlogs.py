"""The application's own log: ``kubectl logs POD --all-containers --prefix --timestamps``.

The pod's timeline needs the moments the *application* saw the network fail: the Go service
that panicked with ``dial tcp 100.65.158.99:5432: connect: connection refused`` while its
sidecar was still starting (cloudfoundry/cf-for-k8s#189), the init container that could not
reach Vault because istio-cni had already redirected its traffic to a proxy that did not exist
yet (istio/istio#23802), the ``curl: (6) Could not resolve host`` of an init container whose
DNS was captured (istio/istio#36453).

Two outputs are read:

* ``kubectl logs POD --all-containers=true --prefix=true --timestamps=true``: every container
  of the pod (init containers included), each line ``[pod/NAME/CONTAINER] TIMESTAMP message``;
* ``kubectl logs POD -c CONTAINER --previous --timestamps=true``: the run that crashed, each
  line ``TIMESTAMP message``.

``--timestamps`` prefixes each line with the RFC3339Nano time the container runtime received
it (``2021-03-19T06:56:23.357557944Z``, knative-extensions/net-istio#561): the node's clock,
the same clock as the istio-proxy log, so the two can be compared without clock skew.

The classifier only names network failures an application reports in its own words, each
pattern taken from a real log (sources next to the patterns). A failure to reach a loopback
address is kept but marked: iptables never redirects ``127.0.0.1`` (``-A ISTIO_OUTPUT -d
127.0.0.1/32 -j RETURN``), so the sidecar cannot be the cause.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ConnError", "LogLine", "PodLogs", "connection_error", "parse_container_log", "parse_pod_logs"]

_PREFIX = re.compile(r"^\[pod/(?P<pod>[^/\]]+)/(?P<container>[^\]]+)\] ?")
_TIMESTAMP = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ")


class ConnError(BaseModel):
    """A network failure the application logged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: refused | unreachable | reset | timeout | dns | envoy (an Envoy-generated 503 body)
    kind: str
    #: ``host:port`` or host the application tried, when the line names it
    target: str = ""
    #: the target is a loopback address: never redirected to the sidecar
    loopback: bool = False


class LogLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    container: str
    line_no: int
    #: the kubectl --timestamps time as printed (node clock), None when the line had none
    time: str | None = None
    text: str
    error: ConnError | None = None

    @property
    def at(self) -> datetime | None:
        return parse_rfc3339(self.time)


class PodLogs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[LogLine] = Field(default_factory=list)
    #: containers in the order they first appear
    containers: list[str] = Field(default_factory=list)
    #: lines without the expected ``[pod/...]`` prefix or timestamp
    unparsed: int = 0

    def of(self, container: str) -> list[LogLine]:
        return [ln for ln in self.lines if ln.container == container]

    def errors(self, container: str | None = None) -> list[LogLine]:
        return [ln for ln in self.lines if ln.error is not None and (container is None or ln.container == container)]


def parse_rfc3339(value: str | None) -> datetime | None:
    """An RFC3339 time as kubectl, Envoy and pilot-agent print it (nanoseconds are cut to
    microseconds; Envoy's "2020-04-29 14:43:53.534" without a zone is UTC)."""
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value.strip().replace(" ", "T"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


# -- what an application says when the network fails ----------------------------------------------
# Each pattern names the library whose wording it follows and a real log that carries it.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # Go net: "dial tcp 100.65.158.99:5432: connect: connection refused" (cloudfoundry/cf-for-k8s#189,
    # istio/istio#23802), "dial tcp 127.0.0.1:8080: connect: connection refused" (knative-extensions/net-istio#561)
    ("go", re.compile(r"dial (?:tcp|udp)[46]? (?P<target>\S+?): connect: (?P<what>connection refused|no route to host|"
                      r"network is unreachable|connection timed out|connection reset by peer)")),
    ("go", re.compile(r"dial (?:tcp|udp)[46]?: lookup (?P<target>\S+?)(?: on \S+)?: (?P<what>no such host|server misbehaving|"
                      r"i/o timeout|Temporary failure in name resolution)")),
    ("go", re.compile(r"read tcp \S+->(?P<target>\S+?): read: (?P<what>connection reset by peer)")),
    # kubectl/client-go: "The connection to the server 10.14.0.1:443 was refused - did you specify the
    # right host or port?" (istio/istio#27382, an init container with istio-cni)
    ("client-go", re.compile(r"The connection to the server (?P<target>\S+) was (?P<what>refused)")),
    # Node.js: "connect ECONNREFUSED 10.105.4.10:5432", "connect EHOSTUNREACH 10.105.4.10:5432"
    # (mmalyska/home-ops#4138), "getaddrinfo ENOTFOUND <host>"
    ("node", re.compile(r"connect (?P<what>ECONNREFUSED|EHOSTUNREACH|ETIMEDOUT|ECONNRESET) (?P<target>\S+)")),
    ("node", re.compile(r"getaddrinfo (?P<what>ENOTFOUND|EAI_AGAIN) (?P<target>\S+)")),
    # curl: "curl: (6) Could not resolve host: www.httpbin.org" (istio/istio#36453), "(7) Failed to connect"
    ("curl", re.compile(r"Could not resolve host: (?P<target>\S+)(?P<what>)")),
    ("curl", re.compile(r"Failed to connect to (?P<target>\S+)(?: port (?P<port>\d+))?.*?(?P<what>Connection refused|"
                        r"No route to host|Connection timed out|Couldn't connect to server)")),
    # JVM, OkHttp's wording (the Kubernetes Java client): "java.net.ConnectException: Failed to connect to
    # /10.152.183.1:443" (istio/istio#25493, the API server during start-up on 1.6.4)
    ("java", re.compile(r"java\.net\.(?P<what>ConnectException): Failed to connect to (?:[\w.\-]*/)?(?P<target>[\w.\-]+:\d+)")),
    # JVM: "java.net.ConnectException: Connection refused" (istio/istio#29766 reports the exception); a
    # target only when the message names a host (a dotted name or an address), never the message's first word
    ("java", re.compile(r"java\.net\.(?P<what>ConnectException|UnknownHostException|NoRouteToHostException)"
                        r"(?::\s*(?P<target>[\w\-]+(?:\.[\w\-]+)+(?::\d+)?(?=[\s:;,]|$)))?")),
    # Python urllib3: "Failed to establish a new connection: [Errno 111] Connection refused"
    ("python", re.compile(r"Failed to establish a new connection: \[Errno (?P<what>111|113|110|-2|-3)\]")),
    # An Envoy-generated body the application received and logged (Envoy's own wording).
    ("envoy", re.compile(r"(?P<what>upstream connect error or disconnect/reset before headers|no healthy upstream)")),
]

_KIND_OF = {
    "connection refused": "refused", "ECONNREFUSED": "refused", "refused": "refused", "Connection refused": "refused",
    "Couldn't connect to server": "refused", "ConnectException": "refused", "111": "refused",
    "no route to host": "unreachable", "network is unreachable": "unreachable", "EHOSTUNREACH": "unreachable",
    "No route to host": "unreachable", "NoRouteToHostException": "unreachable", "113": "unreachable",
    "connection timed out": "timeout", "ETIMEDOUT": "timeout", "Connection timed out": "timeout", "110": "timeout",
    "i/o timeout": "dns", "connection reset by peer": "reset", "ECONNRESET": "reset",
    "no such host": "dns", "server misbehaving": "dns", "Temporary failure in name resolution": "dns",
    "ENOTFOUND": "dns", "EAI_AGAIN": "dns", "": "dns", "UnknownHostException": "dns", "-2": "dns", "-3": "dns",
    "upstream connect error or disconnect/reset before headers": "envoy", "no healthy upstream": "envoy",
}


def _is_loopback(target: str) -> bool:
    host = target.strip("\"'").rsplit(":", 1)[0] if target.count(":") == 1 or target.startswith("[") else target
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connection_error(text: str) -> ConnError | None:
    """The network failure a log line reports, or None."""
    for _lib, pat in _PATTERNS:
        m = pat.search(text)
        if m is None:
            continue
        what = m.groupdict().get("what") or ""
        target = (m.groupdict().get("target") or "").rstrip(".,;\"'`)")
        port = m.groupdict().get("port")
        if port and target and ":" not in target:
            target = f"{target}:{port}"
        # "dial tcp: lookup HOST ... i/o timeout" is a DNS failure; "dial tcp IP:PORT: i/o timeout" is not matched
        kind = _KIND_OF.get(what, "refused")
        return ConnError(kind=kind, target=target, loopback=bool(target) and _is_loopback(target))
    return None


def _line(container: str, n: int, rest: str) -> tuple[LogLine, bool]:
    m = _TIMESTAMP.match(rest)
    ts, text = (m.group("ts"), rest[m.end():]) if m else (None, rest)
    return LogLine(container=container, line_no=n, time=ts, text=text, error=connection_error(text)), m is not None


def parse_pod_logs(text: str) -> PodLogs:
    """``kubectl logs --all-containers --prefix --timestamps``: lines tagged ``[pod/NAME/CONTAINER]``."""
    out = PodLogs()
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        m = _PREFIX.match(raw)
        if m is None:
            out.unparsed += 1
            continue
        container = m.group("container")
        if container not in out.containers:
            out.containers.append(container)
        line, stamped = _line(container, n, raw[m.end():])
        out.lines.append(line)
        if not stamped:
            out.unparsed += 1
    return out


def parse_container_log(text: str, container: str) -> PodLogs:
    """``kubectl logs POD -c CONTAINER [--previous] --timestamps``: one container's lines."""
    out = PodLogs(containers=[container])
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        line, stamped = _line(container, n, raw)
        out.lines.append(line)
        if not stamped:
            out.unparsed += 1
    return out
