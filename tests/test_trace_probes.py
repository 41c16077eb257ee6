"""Probe traces: the requests a diagnosis is about, synthesised when the examined proxy logged no
failing request (access logging off, logs forbidden, a failure that never reaches a log line).

* The request shape is what Istio and Envoy really send (rules below, each with its source).
* A probe is marked as synthesised everywhere it appears (report JSON, text, Markdown, TUI).
* A probe never creates a false positive: on every healthy recording each probe delivers (or is
  answered by design) and no finding comes from one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from istio_doctor.engine.trace.model import ANSWERED, DELIVERED, TraceRequest, probe_line
from istio_doctor.engine.trace.probes import HTTPS_ALPN, ISTIO_ALPN, MAX_PROBES, authority, istio_sni
from tests.test_trace_scenarios import EXPECTS, _id, _report

# -- the request shape, grounded ---------------------------------------------------------------


def test_istio_mtls_sni_is_the_dns_srv_subset_key() -> None:
    # istio/istio@1.22.0:pilot/pkg/model/service.go BuildDNSSrvSubsetKey: direction + "_." + port + "_." +
    # subset + "_." + hostname, "also used as the default SNI string for Istio mTLS connections";
    # pilot/pkg/networking/core/cluster_builder.go: istioMtlsSni = BuildDNSSrvSubsetKey(outbound, "", host, port)
    assert istio_sni("reviews.default.svc.cluster.local", 9080) == "outbound_.9080_._.reviews.default.svc.cluster.local"
    assert istio_sni("reviews.default.svc.cluster.local", 9080, "v1") == "outbound_.9080_.v1_.reviews.default.svc.cluster.local"


def test_istio_mtls_alpn_by_protocol() -> None:
    # istio/istio@1.22.0:pilot/pkg/xds/filters/filters.go: mtlsHTTP11ALPN / mtlsHTTP2ALPN (the istio.alpn
    # filter's overrides for HTTP/1.1 and HTTP/2 upstreams); pilot/pkg/networking/util/util.go
    # ALPNInMeshWithMxc for TCP clusters (metadata exchange on, the default)
    assert ISTIO_ALPN["http1"] == ["istio-http/1.1", "istio", "http/1.1"]
    assert ISTIO_ALPN["http2"] == ["istio-h2", "istio", "h2"]
    assert ISTIO_ALPN["tcp"] == ["istio-peer-exchange", "istio"]
    # RFC 7301: an HTTPS client (curl, browsers) offers h2 then http/1.1
    assert HTTPS_ALPN == ["h2", "http/1.1"]


@pytest.mark.parametrize(("host", "port", "scheme", "want"), [
    ("reviews", 9080, "http", "reviews:9080"),  # curl http://reviews:9080/ sends Host: reviews:9080
    ("bookinfo.example.com", 80, "http", "bookinfo.example.com"),  # the default port is left out (RFC 9110 §7.2)
    ("bookinfo.example.com", 443, "https", "bookinfo.example.com"),
    ("bookinfo.example.com", 443, "http", "bookinfo.example.com:443"),  # 443 is not http's default
    ("api.example.com", 8443, "https", "api.example.com:8443"),
])
def test_authority_as_a_client_sends_it(host: str, port: int, scheme: str, want: str) -> None:
    assert authority(host, port, scheme) == want


def test_probe_line_says_it_was_synthesised() -> None:
    out = TraceRequest(dest_ip="10.96.0.10", dest_port=9080, authority="reviews.default.svc.cluster.local:9080",
                       direction="outbound")
    assert probe_line(out, "no failing request was logged") == \
        "probe: GET http://reviews.default.svc.cluster.local:9080/ (no failing request was logged)"
    inbound = TraceRequest(dest_ip="10.244.1.7", dest_port=9080, authority="reviews.default.svc.cluster.local:9080",
                           tls="istio_mutual", direction="inbound")
    assert probe_line(inbound, "x") == \
        "probe: GET http://reviews.default.svc.cluster.local:9080/ over Istio mTLS to 10.244.1.7:9080 (x)"
    tcp = TraceRequest(dest_ip="10.244.1.7", dest_port=3306, protocol="tcp", tls="istio_mutual",
                       sni="outbound_.3306_._.mysql.default.svc.cluster.local", direction="inbound")
    assert probe_line(tcp, "x") == "probe: TCP 10.244.1.7:3306 (TLS, SNI outbound_.3306_._.mysql.default.svc.cluster.local) (x)"


# -- on the recordings -------------------------------------------------------------------------


def _expect(p: Path) -> dict:
    return yaml.safe_load(p.read_text())


HEALTHY = [p for p in EXPECTS if _expect(p).get("verdict") == "no_problem_found"]


def test_healthy_recordings_exist() -> None:
    assert len(HEALTHY) >= 60


@pytest.mark.parametrize("expect_path", HEALTHY, ids=_id)
def test_no_healthy_recording_gains_a_finding_from_a_probe(expect_path: Path) -> None:
    """A probe is built from configuration, not from a symptom: on a healthy mesh it must get through,
    and no finding may rest on one (a false positive would be a 3 a.m. wild-goose chase)."""
    report = _report(expect_path)
    probes = [rt for rt in report.traces if rt.origin == "probe"]
    assert all(rt.trace.verdict in (DELIVERED, ANSWERED, "unknown") for rt in probes), \
        [(rt.probe, rt.trace.verdict, rt.trace.details) for rt in probes]
    assert not [f.code for f in report.findings if any(o.startswith("probe:") for o in f.observed)]
    assert not report.findings, [f.code for f in report.findings]


def test_probes_run_on_healthy_recordings() -> None:
    """The no-false-positive test above is not vacuous: probes are traced on the healthy recordings whose
    examined proxy logged no failing request (the others are traced from their logs, or run no sidecar)."""
    with_probes = [p for p in HEALTHY if any(rt.origin == "probe" for rt in _report(p).traces)]
    assert len(with_probes) >= 20
    sides = {rt.side for p in with_probes for rt in _report(p).traces if rt.origin == "probe"}
    assert {"server", "client", "gateway"} <= sides


def test_probes_are_capped_per_proxy() -> None:
    for p in EXPECTS:
        counts: dict[str, int] = {}
        for rt in _report(p).traces:
            if rt.origin == "probe":
                counts[rt.proxy] = counts.get(rt.proxy, 0) + 1
        assert all(n <= MAX_PROBES for n in counts.values()), (_id(p), counts)


def _by_id(sid: str) -> Path:
    return next(p for p in EXPECTS if _id(p) == sid)


def test_logged_failures_are_traced_not_probed() -> None:
    """Probes only where nothing failing was logged: a proxy with logged failures is traced from them."""
    for p in EXPECTS:
        by_proxy: dict[str, set[str]] = {}
        for rt in _report(p).traces:
            by_proxy.setdefault(rt.proxy, set()).add(rt.origin)
        assert all(len(o) == 1 for o in by_proxy.values()), (_id(p), by_proxy)


def test_server_probe_is_what_a_mesh_client_sidecar_sends() -> None:
    """Access logging off, ratings bound to localhost: the probe is an HTTP/1.1 request over Istio mTLS
    to the pod IP on the target port, and its trace breaks at delivery (the app's sockets)."""
    report = _report(_by_id("redteam-composites/access-logging-off-localhost-server"))
    rt = next(rt for rt in report.traces if rt.origin == "probe")
    req = rt.trace.request
    assert (req.direction, req.tls, req.protocol, req.dest_port) == ("inbound", "istio_mutual", "http1", 9080)
    assert req.sni == "outbound_.9080_._.ratings.default.svc.cluster.local"
    assert req.alpn == ISTIO_ALPN["http1"]
    assert rt.probe == ("probe: GET http://ratings.default.svc.cluster.local:9080/ over Istio mTLS to "
                        f"{req.dest_ip}:9080 (the proxy logged no request: access logging off?)")
    assert rt.trace.verdict == "delivery" and rt.requests == 0 and rt.relation == "probe" and not rt.log_lines
    first = report.findings[0]
    assert first.code == "P503-LOCALHOST-BIND"
    assert any("request trace" in e.note for e in first.evidence), "the probe's trace is folded into the root cause"


def test_server_probe_follows_the_clients_destination_rule() -> None:
    """DestinationRule SIMPLE towards a STRICT ratings: the client's sidecar originates TLS without an
    Istio certificate, so the probe does too, and the STRICT chain's handshake fails."""
    report = _report(_by_id("mtls/dr-simple-vs-strict-server"))
    rt = next(rt for rt in report.traces if rt.origin == "probe")
    assert rt.trace.request.tls == "tls" and "SIMPLE" in (rt.about or "")
    assert rt.trace.verdict == "downstream_tls"
    assert report.findings[0].code == "MTLS-DR-DISABLE-VS-STRICT"


def test_gateway_probe_dials_the_service_port_and_lands_on_the_bound_port() -> None:
    """Gateway server port 8443 (the Service's targetPort for 443): istiod binds it as-is
    (istio/istio@1.22.0:pilot/pkg/model/gateway.go resolvePorts); the client dials the Service's
    443, so its Host carries no port; the path is one the VirtualService serves."""
    report = _report(_by_id("routes/gateway-credential-present"))
    rt = next(rt for rt in report.traces if rt.origin == "probe" and rt.trace.request.tls == "tls")
    req = rt.trace.request
    assert (req.dest_port, req.authority, req.sni, req.path) == (8443, "bookinfo.example.com", "bookinfo.example.com", "/productpage")
    assert rt.trace.verdict == DELIVERED


def test_gateway_probe_breaks_on_a_warming_certificate() -> None:
    """credentialName with no Secret: the SDS secret stays WARMING (istio/istio#50070) and Envoy resets
    connections on that chain (envoy docs, configuration/security/secret)."""
    report = _report(_by_id("routes/gateway-credential-missing"))
    rt = next(rt for rt in report.traces if rt.origin == "probe" and rt.trace.request.tls == "tls")
    assert rt.trace.verdict == "downstream_tls"
    assert "kubernetes://bookinfo-cert is WARMING" in rt.trace.breaking_hop.why  # type: ignore[union-attr]
    assert report.findings[0].code == "ROUTE-GW-CREDENTIAL"


def test_client_probe_finds_the_undefined_subset() -> None:
    """The server's view of a VirtualService routing to an undefined subset: the probe of the app's own
    call to reviews through this pod's outbound configuration finds no cluster for the subset."""
    report = _report(_by_id("routes/subset-undefined-server-view"))
    rt = next(rt for rt in report.traces if rt.origin == "probe" and rt.side == "client")
    assert rt.trace.verdict == "cluster" and rt.trace.details == "cluster_not_found"
    assert rt.trace.request.authority == "reviews:9080"


def test_probe_is_marked_in_every_output_format() -> None:
    from istio_doctor.report.markdown import render_markdown
    from istio_doctor.report.text import render_text

    report = _report(_by_id("redteam-composites/access-logging-off-localhost-server"))
    rt = next(rt for rt in report.traces if rt.origin == "probe")
    data = report.model_dump(mode="json")
    tr = next(t for t in data["traces"] if t["origin"] == "probe")
    assert tr["probe"].startswith("probe: GET http://ratings.default.svc.cluster.local:9080/") and tr["requests"] == 0
    text = render_text(report, verbose=True, color=False)
    assert rt.probe in " ".join(text.split())
    md = render_markdown(report)
    assert "| probe |" in md and "probes: requests synthesised from the configuration" in md
    finding = report.findings[0]
    folded = [f for f in report.findings if f.code.startswith("TRACE-")] + [finding]
    assert any(o.startswith("probe: ") for f in folded for o in f.observed) or any(
        "request trace" in e.note for e in finding.evidence)


def test_client_probes_skip_hosts_the_sidecar_resource_does_not_import() -> None:
    """A Sidecar's egress hosts (``ns/host``; ``.`` its own namespace, ``*`` any) scope what the proxy
    knows (https://istio.io/latest/docs/reference/config/networking/sidecar/#IstioEgressListener):
    a host outside them is one the pod was scoped not to call, never a probe target."""
    from types import SimpleNamespace as NS

    from istio_doctor.engine.trace.probes import _imported

    svc = NS(namespace="default", fqdn=lambda d: f"reviews.default.svc.{d}")
    other = NS(namespace="shop", fqdn=lambda d: f"cart.shop.svc.{d}")

    def sc(*hosts: str) -> NS:
        return NS(spec=NS(egress=[NS(hosts=list(hosts))]))

    assert _imported(None, svc, "default", "cluster.local")  # no Sidecar: everything visible
    assert _imported(sc("./*", "istio-system/*"), svc, "default", "cluster.local")
    assert not _imported(sc("./*", "istio-system/*"), other, "default", "cluster.local")
    assert _imported(sc("*/cart.shop.svc.cluster.local"), other, "default", "cluster.local")
    assert not _imported(sc("shop/orders.shop.svc.cluster.local"), other, "default", "cluster.local")
