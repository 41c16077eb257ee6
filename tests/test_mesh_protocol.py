"""Protocol selection, each rule against Istio's source at the versions that changed it.

Sources (istio/istio):
* 1.22.0:pkg/config/protocol/instance.go (Parse: the words, case-insensitive)
* 1.22.0:pkg/config/kube/conversion.go (ConvertProtocol: UDP, appProtocol replaces the name,
  kubernetes.io/h2c, grpc-web prefix, prefix before '-', wellKnownPorts 25/53/3306/27017)
* 1.18.0:pkg/config/kube/conversion.go (no kubernetes.io/h2c case: added by #43988, in 1.19.0)
* 1.5.0:pkg/config/kube/conversion.go (no appProtocol parameter: added by #22607, in 1.6.0)
* 1.22.0:pilot/pkg/serviceregistry/serviceentry/conversion.go (convertPort: Parse(port.Protocol))
* 1.4.0 / 1.5.0:pilot/pkg/features/pilot.go (PILOT_ENABLE_PROTOCOL_SNIFFING_FOR_INBOUND false -> true)
"""

from __future__ import annotations

import pytest

from istio_doctor.engine.mesh import protocol as P
from istio_doctor.engine.mesh.protocol import Protocol
from istio_doctor.evidence.versions import Version

V = Version.parse


@pytest.mark.parametrize("word, expected", [
    ("http", Protocol.HTTP), ("HTTP", Protocol.HTTP), ("Http2", Protocol.HTTP2), ("grpc", Protocol.GRPC),
    ("grpc-web", Protocol.GRPC_WEB), ("https", Protocol.HTTPS), ("tls", Protocol.TLS), ("tcp", Protocol.TCP),
    ("udp", Protocol.UDP), ("mongo", Protocol.MONGO), ("redis", Protocol.REDIS), ("mysql", Protocol.MYSQL),
    ("http_proxy", Protocol.HTTP_PROXY),
    # not words Istio knows: sniffed (h2c and ws are Kubernetes appProtocol names, not Istio's)
    ("h2c", Protocol.UNSUPPORTED), ("ws", Protocol.UNSUPPORTED), ("postgres", Protocol.UNSUPPORTED), ("", Protocol.UNSUPPORTED),
])
def test_parse_is_istios_word_list(word: str, expected: Protocol) -> None:
    assert P.parse(word) is expected


@pytest.mark.parametrize("port, name, app, transport, expected, source", [
    (9080, "http", None, None, Protocol.HTTP, "port name"),
    (9080, "http-web", None, None, Protocol.HTTP, "port name"),          # prefix before the first '-'
    (9080, "httpbin", None, None, Protocol.UNSUPPORTED, "undeclared"),   # a prefix needs the dash
    (9080, "grpc-web-x", None, None, Protocol.GRPC_WEB, "port name"),    # grpc-web before the prefix rule
    (9080, "GRPC-Web", None, None, Protocol.GRPC_WEB, "port name"),      # EqualFold
    (9080, "web", "http2", None, Protocol.HTTP2, "appProtocol"),
    (9080, "http", "tcp", None, Protocol.TCP, "appProtocol"),            # appProtocol replaces the name
    (9080, "http", "kubernetes.io/ws", None, Protocol.UNSUPPORTED, "undeclared"),  # ... even when unknown
    (9080, "tcp", "http-custom", None, Protocol.HTTP, "appProtocol"),    # the prefix rule applies to appProtocol too
    (9080, None, "kubernetes.io/h2c", None, Protocol.HTTP2, "appProtocol"),
    (53, "dns", None, "UDP", Protocol.UDP, "UDP"),
    (3306, "db", None, None, Protocol.TCP, "well-known port"),           # wellKnownPorts
    (27017, None, None, None, Protocol.TCP, "well-known port"),
    (3306, "http", None, None, Protocol.HTTP, "port name"),              # only an *unsupported* result becomes TCP
    (5432, "postgres", None, None, Protocol.UNSUPPORTED, "undeclared"),
])
def test_service_port_is_convert_protocol(port: int, name: str | None, app: str | None, transport: str | None,
                                          expected: Protocol, source: str) -> None:
    sel = P.service_port(port, name, app, transport)
    assert (sel.protocol, sel.source) == (expected, source)


def test_kubernetes_h2c_only_from_1_19() -> None:
    # 1.18: "kubernetes.io/h2c" is parsed like any appProtocol: prefix "kubernetes.io/h2c" is no word -> sniffed
    assert P.service_port(80, "web", "kubernetes.io/h2c", version=V("1.18.7")).protocol is Protocol.UNSUPPORTED
    assert P.service_port(80, "web", "kubernetes.io/h2c", version=V("1.19.0")).protocol is Protocol.HTTP2


def test_app_protocol_is_read_from_1_6() -> None:
    assert P.service_port(80, "http", "tcp", version=V("1.5.10")).protocol is Protocol.HTTP
    assert P.service_port(80, "http", "tcp", version=V("1.6.0")).protocol is Protocol.TCP


def test_service_entry_port_is_parsed_whole() -> None:
    assert P.service_entry_port("HTTPS").protocol is Protocol.HTTPS
    assert P.service_entry_port("http-alt").protocol is Protocol.UNSUPPORTED  # no prefix rule for ServiceEntries
    assert not P.service_entry_port(None).declared


def test_protocol_classes_follow_instance_go() -> None:
    assert all(p.is_http for p in (Protocol.HTTP, Protocol.HTTP2, Protocol.GRPC, Protocol.GRPC_WEB, Protocol.HTTP_PROXY))
    assert all(p.is_tcp for p in (Protocol.TCP, Protocol.HTTPS, Protocol.TLS, Protocol.MONGO, Protocol.REDIS, Protocol.MYSQL))
    assert Protocol.UNSUPPORTED.is_http_or_sniffed and not Protocol.UNSUPPORTED.is_http
    assert Protocol.HTTPS.is_tls and not Protocol.HTTP.is_tls


def test_sniffing_defaults_by_version() -> None:
    assert P.sniffs("outbound", V("1.3.0")) and not P.sniffs("inbound", V("1.4.9"))
    assert P.sniffs("inbound", V("1.5.0")) and P.sniffs("inbound", None)


def test_server_first_ports_and_images() -> None:
    # https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/#server-first-protocols
    assert P.server_first(22) == "SSH" and P.server_first(4222) == "NATS"
    assert P.server_first(3306) == "MySQL"  # TCP by Istio's own rule, but PERMISSIVE mTLS still waits on it
    assert P.server_first(3306) and P.service_port(3306, "db").protocol is Protocol.TCP
    assert P.server_first(9000, name="tcp-mysql") == "MySQL" and P.server_first(9000, target_port=22) == "SSH"
    assert P.server_first(8080, ["docker.io/library/mysql:8.0"]) == "MySQL"
    assert P.server_first(5432, ["postgres:16"]) is None  # client-first: sniffing works
