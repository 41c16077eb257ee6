"""Protocol selection: what Istio makes of a Service or ServiceEntry port.

One implementation, grounded in Istio's source (every rule below names the file it mirrors):

* ``istio/istio@1.22.0:pkg/config/protocol/instance.go`` ``Parse``: the protocol words, case
  insensitive; anything else is ``UnsupportedProtocol``, which Istio then *sniffs*.
* ``istio/istio@1.22.0:pkg/config/kube/conversion.go`` ``ConvertProtocol`` (Kubernetes Service
  ports): ``protocol: UDP`` -> UDP; ``appProtocol``, when set, *replaces* the port name (the
  name is not consulted at all, even when the appProtocol is unknown); ``kubernetes.io/h2c``
  -> HTTP2 (only from 1.19, ``#43988``); a ``grpc-web`` prefix before the general rule; the
  prefix before the first ``-`` is parsed; an unsupported result on the well-known ports 25,
  53, 3306 and 27017 is TCP. ``appProtocol`` is read from 1.6 (``#22607``); before, only the
  name counts.
* ``istio/istio@1.22.0:pilot/pkg/serviceregistry/serviceentry/conversion.go`` ``convertPort``:
  a ServiceEntry port's ``protocol`` field is ``Parse``d as is (no prefix rule, no appProtocol).
* Sniffing (``PILOT_ENABLE_PROTOCOL_SNIFFING_FOR_OUTBOUND``/``_INBOUND``,
  ``istio/istio@1.5.0:pilot/pkg/features/pilot.go``): outbound on by default from 1.3, inbound
  from 1.5; before that an undeclared port is plain TCP.
* Server-first protocols (the server speaks first, so a sniffing listener waits for bytes
  that never come): https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/#server-first-protocols
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from istio_doctor.evidence.versions import Version


class Protocol(StrEnum):
    """``protocol.Instance`` values, spelled as Istio spells them."""

    GRPC = "GRPC"
    GRPC_WEB = "GRPC-Web"
    HTTP = "HTTP"
    HTTP_PROXY = "HTTP_PROXY"
    HTTP2 = "HTTP2"
    HTTPS = "HTTPS"
    TCP = "TCP"
    TLS = "TLS"
    UDP = "UDP"
    MONGO = "Mongo"
    REDIS = "Redis"
    MYSQL = "MySQL"
    #: not declared (or not a word Istio knows): Istio sniffs the first bytes
    UNSUPPORTED = "UnsupportedProtocol"

    @property
    def is_http(self) -> bool:
        """``Instance.IsHTTP``: the proxy runs an HTTP connection manager for it."""
        return self in (Protocol.HTTP, Protocol.HTTP2, Protocol.HTTP_PROXY, Protocol.GRPC, Protocol.GRPC_WEB)

    @property
    def is_http2(self) -> bool:
        return self in (Protocol.HTTP2, Protocol.GRPC, Protocol.GRPC_WEB)

    @property
    def is_tcp(self) -> bool:
        """``Instance.IsTCP``: the proxy forwards bytes (tcp_proxy); HTTPS/TLS are opaque too."""
        return self in (Protocol.TCP, Protocol.HTTPS, Protocol.TLS, Protocol.MONGO, Protocol.REDIS, Protocol.MYSQL)

    @property
    def is_tls(self) -> bool:
        return self in (Protocol.HTTPS, Protocol.TLS)

    @property
    def is_sniffed(self) -> bool:
        """``IsUnsupported``: Istio detects HTTP vs TCP from the first bytes."""
        return self is Protocol.UNSUPPORTED

    @property
    def is_http_or_sniffed(self) -> bool:
        return self.is_http or self.is_sniffed

    @property
    def word(self) -> str:
        """The lower-case word a user writes as a port-name prefix (``http``, ``grpc-web``)."""
        return "auto" if self.is_sniffed else self.value.lower()


_WORDS: dict[str, Protocol] = {
    "tcp": Protocol.TCP, "udp": Protocol.UDP, "grpc": Protocol.GRPC, "grpc-web": Protocol.GRPC_WEB,
    "http": Protocol.HTTP, "http_proxy": Protocol.HTTP_PROXY, "http2": Protocol.HTTP2, "https": Protocol.HTTPS,
    "tls": Protocol.TLS, "mongo": Protocol.MONGO, "redis": Protocol.REDIS, "mysql": Protocol.MYSQL,
}

#: ``wellKnownPorts`` of conversion.go (SMTP, DNS, MySQL, MongoDB): undeclared -> TCP, never sniffed
WELL_KNOWN_TCP_PORTS = frozenset({25, 53, 3306, 27017})

#: Envoy/pilot-agent ports inside every injected pod; never the application's
#: (https://istio.io/latest/docs/ops/deployment/application-requirements/#ports-used-by-istio).
ISTIO_PORTS = frozenset({15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090})

#: Server-first protocols (the server speaks first) on their usual ports. A sniffing listener
#: (undeclared protocol) or a PERMISSIVE inbound chain waits for a client byte that never comes.
#: 25 and 3306 are here too: Istio declares them TCP itself (no sniffing), but PERMISSIVE mTLS
#: still waits on them. Client-first protocols (PostgreSQL, Redis, memcached) are deliberately
#: absent: sniffing reads their first bytes and falls back to TCP.
SERVER_FIRST_PORTS: dict[int, str] = {
    21: "FTP", 22: "SSH", 25: "SMTP", 110: "POP3", 143: "IMAP", 587: "SMTP submission", 2525: "SMTP",
    3306: "MySQL", 3307: "MySQL", 4222: "NATS",
}
#: port names that say the protocol is server-first (``mysql``, ``smtp-relay``, ``db-mysql``)
SERVER_FIRST_NAMES: dict[str, str] = {"mysql": "MySQL", "mariadb": "MySQL", "smtp": "SMTP", "ftp": "FTP", "ssh": "SSH",
                                      "pop3": "POP3", "imap": "IMAP", "nats": "NATS"}
#: images whose server speaks first, whatever port they listen on
SERVER_FIRST_IMAGES: dict[str, str] = {"mysql": "MySQL", "mariadb": "MySQL", "percona": "MySQL", "postfix": "SMTP",
                                       "mailhog": "SMTP", "nats": "NATS", "vsftpd": "FTP", "dovecot": "IMAP/POP3"}


def parse(word: str | None) -> Protocol:
    """``protocol.Parse``: a protocol word, case-insensitive; anything else is UNSUPPORTED."""
    return _WORDS.get((word or "").lower(), Protocol.UNSUPPORTED)


@dataclass(frozen=True)
class Selection:
    """The protocol Istio selects for a port, and what decided it (for a finding's text)."""

    protocol: Protocol
    #: "appProtocol" | "port name" | "well-known port" | "UDP" | "undeclared" | "ServiceEntry protocol"
    source: str
    #: the value that decided it (the appProtocol or name as written)
    value: str = ""

    @property
    def declared(self) -> bool:
        return not self.protocol.is_sniffed


def _at_least(version: Version | None, major: int, minor: int) -> bool:
    # No version known: today's behaviour (the newest rules).
    return version is None or version.at_least(major, minor)


def service_port(port: int, name: str | None, app_protocol: str | None = None, transport: str | None = None,
                 *, version: Version | None = None) -> Selection:
    """``ConvertProtocol`` for a Kubernetes Service port, at control-plane ``version``."""
    if (transport or "TCP").upper() == "UDP":
        return Selection(Protocol.UDP, "UDP", "UDP")
    source, text = "port name", name or ""
    if app_protocol is not None and _at_least(version, 1, 6):
        source, text = "appProtocol", app_protocol
        if text == "kubernetes.io/h2c" and _at_least(version, 1, 19):
            return Selection(Protocol.HTTP2, source, text)
    if text[:8].lower() == "grpc-web":
        return Selection(Protocol.GRPC_WEB, source, text)
    p = parse(text.split("-", 1)[0])
    if p.is_sniffed and port in WELL_KNOWN_TCP_PORTS:
        return Selection(Protocol.TCP, "well-known port", str(port))
    return Selection(p, source if not p.is_sniffed else "undeclared", text)


def of_service_port(sp: object, *, version: Version | None = None) -> Selection:
    """``service_port`` for a ``ServicePort`` model (``port``, ``name``, ``app_protocol``, ``protocol``)."""
    return service_port(getattr(sp, "port", 0), getattr(sp, "name", None), getattr(sp, "app_protocol", None),
                        getattr(sp, "protocol", None), version=version)


def service_entry_port(protocol: str | None) -> Selection:
    """``convertPort``: a ServiceEntry port's ``protocol`` field, parsed as a whole word."""
    p = parse(protocol)
    return Selection(p, "ServiceEntry protocol" if not p.is_sniffed else "undeclared", protocol or "")


def sniffs(direction: str, version: Version | None = None) -> bool:
    """Whether an undeclared port is sniffed (``outbound`` from 1.3, ``inbound`` from 1.5) rather than TCP."""
    return _at_least(version, 1, 3) if direction == "outbound" else _at_least(version, 1, 5)


def server_first(port: int | None, images: list[str] | tuple[str, ...] = (), *, name: str | None = None,
                 target_port: int | None = None) -> str | None:
    """The server-first protocol a port's name, number (or target port) or a container image
    suggests; None when client-first or unknown."""
    n = (name or "").lower()
    for word, proto in SERVER_FIRST_NAMES.items():
        if n == word or n.startswith(word + "-") or n.endswith("-" + word):
            return proto
    for p in (port, target_port):
        if p is not None and p in SERVER_FIRST_PORTS:
            return SERVER_FIRST_PORTS[p]
    for image in images:
        base = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0].lower()
        if base in SERVER_FIRST_IMAGES:
            return SERVER_FIRST_IMAGES[base]
    return None
