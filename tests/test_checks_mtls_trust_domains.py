"""MTLS-ROOTCA-MISMATCH and MTLS-SAN-MISMATCH across trust domains (issue 14).

Federated SPIFFE bundles (SPIRE, multi-cluster): Envoy's SPIFFE validator verifies a peer only
against the bundle of the peer's trust domain and rejects a peer whose trust domain has no
bundle (envoyproxy/envoy source/extensions/transport_sockets/tls/cert_validator/spiffe). On the
server side istiod's inbound listeners accept client certificates of the mesh's trustDomain,
trustDomainAliases and caCertificates trust domains only (istio/istio@86c9f01
pilot/pkg/networking/plugin/authn/util.go TrustDomainsForValidation, pilot/pkg/security/model/
authentication.go SAN prefix matchers). Certificates are real: a CA per trust domain signs its
workloads' leaves, and the dumps have the shape of istioctl's SPIRE golden.
"""

from __future__ import annotations

import yaml

from istio_doctor.engine.model import Outcome
from istio_doctor.evidence.bundle import Need
from tests.test_checks_mtls import CLIENT, OK_LINE, SERVER, STRICT_MESH, World, _list, bookinfo, tls_fail_line
from tests.test_trust_domains import _ca, _leaf, _pem
from tests.test_trust_domains import secrets_json as _dump

CVF = "TLS_error:_268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED"
EAST, WEST = _ca("east.local"), _ca("west.local")


def _world(client_dump: str, server_dump: str) -> World:
    pods, svcs = bookinfo()
    w = World().base(pods, svcs, [STRICT_MESH]).log([tls_fail_line(CVF)])
    w.dump(client_dump)
    w.rel(SERVER, "server").dump(server_dump, name=SERVER)
    return w


def test_rootca_peer_trust_domain_without_a_federated_bundle() -> None:
    both = {"east.local": _pem(EAST), "west.local": _pem(WEST)}
    client = _dump(_leaf("east.local", EAST), spiffe={"east.local": _pem(EAST)})  # never got west's bundle
    server = _dump(_leaf("west.local", WEST), spiffe=both)
    r = _world(client, server).run("MTLS-ROOTCA-MISMATCH")
    assert r.outcome is Outcome.FAIL, r.summary
    assert r.message == "no_bundle" and (r.args["trust_domain"], r.args["bundles"], r.args["who"]) == ("west.local", ["east.local"], CLIENT)


def test_rootca_federated_bundles_pass() -> None:
    both = {"east.local": _pem(EAST), "west.local": _pem(WEST)}
    client = _dump(_leaf("east.local", EAST), spiffe=both)
    server = _dump(_leaf("west.local", WEST), spiffe=both)
    r = _world(client, server).run("MTLS-ROOTCA-MISMATCH")
    assert r.outcome is Outcome.PASS, r.summary
    assert "east.local, west.local" in r.summary


def test_rootca_one_sided_rejection_is_named() -> None:
    # the server trusts both roots (mid-rotation), the client only its own: only the client rejects
    a, b = _ca("cluster.local"), _ca("cluster.local")
    client = _dump(_leaf("cluster.local", a), trusted_ca=_pem(a))
    server = _dump(_leaf("cluster.local", b), trusted_ca=_pem(b))
    r = _world(client, server).run("MTLS-ROOTCA-MISMATCH")
    assert r.outcome is Outcome.FAIL and r.args["both"]  # each side rejects the other's certificate
    server_rotating = _dump(_leaf("cluster.local", a), trusted_ca=_pem(a) + _pem(b))
    assert _world(client, server_rotating).run("MTLS-ROOTCA-MISMATCH").outcome is Outcome.PASS


def _mesh(trust_domain: str, aliases: list[str]) -> str:
    mesh = {"accessLogFile": "/dev/stdout", "rootNamespace": "istio-system", "trustDomain": trust_domain,
            "trustDomainAliases": aliases}
    return _list([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"},
                   "data": {"mesh": yaml.safe_dump(mesh)}}])


def test_server_rejects_a_client_trust_domain_that_is_not_an_alias() -> None:
    # a trust-domain migration: the mesh now says new.td, the client still holds an old.td certificate
    new = _ca("new.td")
    client = _dump(_leaf("old.td", new), trusted_ca=_pem(new))
    server = _dump(_leaf("new.td", new), trusted_ca=_pem(new))
    w = _world(client, server).put(Need.CONTROL_PLANE_CONFIGMAPS, _mesh("new.td", []))
    r = w.run("MTLS-SAN-MISMATCH")
    assert r.outcome is Outcome.FAIL, r.summary
    assert r.message == "trust_domain" and r.args["identity"] == "spiffe://old.td/ns/default/sa/bookinfo-productpage"
    assert r.args["accepted"] == ["new.td"] and r.args["trust_domain"] == "old.td"  # the fix: add old.td to trustDomainAliases
    aliased = _world(client, server).put(Need.CONTROL_PLANE_CONFIGMAPS, _mesh("new.td", ["old.td"]))
    assert aliased.run("MTLS-SAN-MISMATCH").outcome is not Outcome.FAIL


def test_server_side_view_of_a_client_from_another_trust_domain() -> None:
    new = _ca("new.td")
    pods, svcs = bookinfo()
    w = World(SERVER).base(pods, svcs, [STRICT_MESH]).log([OK_LINE], name=SERVER)
    w.put(Need.CONTROL_PLANE_CONFIGMAPS, _mesh("new.td", []))
    w.dump(_dump(_leaf("new.td", new), trusted_ca=_pem(new)), name=SERVER)
    w.rel(CLIENT, "client").dump(_dump(_leaf("partner.td", new), trusted_ca=_pem(new)), name=CLIENT)
    r = w.run("MTLS-SAN-MISMATCH")
    assert r.outcome is Outcome.FAIL and r.message == "trust_domain" and r.args["trust_domain"] == "partner.td"
