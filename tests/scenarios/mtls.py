"""Scenarios of playbook mtls ("upstream connect error or disconnect/reset before headers").

One failing world per cause, examined from the side the user is paged about (client and, where
it differs, server), plus healthy meshes and look-alikes that must not be blamed on mTLS: STRICT
everywhere with auto mTLS, PERMISSIVE with a legacy client, DR DISABLE towards a PERMISSIVE
server, an app answering 503 itself, and an AuthorizationPolicy deny.

Each world is the healthy bookinfo mesh (sleep/httpbin in ``foo`` injected and ``legacy`` not)
with one thing changed; the kit derives every output from that one change.
"""

from __future__ import annotations


from tests.scenariokit import Expect, Scenario
from tests.scenariokit.bookinfo import proxy
from tests.scenariokit.world import Container, Port, Request, Service, ServicePort, Workload, World, cr
from tests.scenariokit.helpers import ratings_calls, STRICT_FOO, STRICT_MESH, wl, world

ALL = [
    "MTLS-DR-DISABLE-VS-STRICT", "MTLS-NONMESH-CLIENT", "MTLS-TO-NONMESH-SERVER", "MTLS-AUTO-OFF", "MTLS-DR-SHADOWING",
    "MTLS-ROOTCA-MISMATCH", "MTLS-CERT-NOT-READY", "MTLS-SAN-MISMATCH", "MTLS-PEER-NO-CERT", "MTLS-PORT-LEVEL-PA",
    "MTLS-DOUBLE-TLS", "MTLS-HTTPS-ON-HTTP-PORT", "MTLS-SERVER-FIRST-PERMISSIVE", "MTLS-AUTHZ-CONFUSION",
]


def others(*keep: str) -> list[str]:
    return [c for c in ALL if c not in keep]


def legacy_calls(w: World, count: int = 3) -> None:
    w.traffic.append(Request("legacy/sleep", "httpbin.foo:8000", "/ip", count=count))


# -- failing worlds ---------------------------------------------------------------------


def _dr_disable(w: World) -> None:
    w.istio += [STRICT_MESH, cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"tls": {"mode": "DISABLE"}}})]
    ratings_calls(w)


def _dr_simple(w: World) -> None:
    w.istio += [STRICT_MESH, cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"tls": {"mode": "SIMPLE"}}})]
    ratings_calls(w)


def _nonmesh_client(w: World) -> None:
    w.istio.append(STRICT_FOO)
    legacy_calls(w)


def _nonmesh_client_mesh_strict(w: World) -> None:
    w.istio.append(STRICT_MESH)
    legacy_calls(w)


def _to_nonmesh(w: World) -> None:
    w.istio.append(cr("DestinationRule", "httpbin-legacy", "foo", {"host": "httpbin.legacy.svc.cluster.local",
                                                                    "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}))
    w.traffic.append(Request("foo/sleep", "httpbin.legacy:8000", "/ip", count=3))


def _auto_off(w: World) -> None:
    w.istio.append(STRICT_MESH)
    ratings_calls(w)


def _shadowing(w: World) -> None:
    w.istio += [
        STRICT_MESH,
        cr("DestinationRule", "default", "istio-system", {"host": "*.local", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}),
        cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST"}}}),
    ]
    ratings_calls(w)


def _rootca(w: World) -> None:
    w.istio.append(STRICT_MESH)
    wl(w, "default/ratings-v1").proxy = proxy(root_ca="other")
    ratings_calls(w)


def _warming(w: World) -> None:
    wl(w, "default/ratings-v1").proxy = proxy(cert="warming")
    ratings_calls(w)


def _expired(w: World) -> None:
    wl(w, "default/ratings-v1").proxy = proxy(cert="expired")
    ratings_calls(w)


def _san(w: World) -> None:
    w.istio.append(cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"tls": {
        "mode": "ISTIO_MUTUAL", "subjectAltNames": ["spiffe://cluster.local/ns/default/sa/ratings"]}}}))
    ratings_calls(w)


def _peer_no_cert(w: World) -> None:
    w.istio.append(STRICT_FOO)
    wl(w, "foo/httpbin").proxy = proxy(stats={"listener.0.0.0.0_15006.ssl.fail_verify_no_cert": 9,
                                              "listener.0.0.0.0_15006.ssl.connection_error": 9})


def _port_level(w: World) -> None:
    # httpbin's Service port is 8000, the container listens on 8080: the key 8000 never applies.
    w.istio.append(cr("PeerAuthentication", "httpbin", "foo", {
        "selector": {"matchLabels": {"app": "httpbin"}}, "mtls": {"mode": "STRICT"},
        "portLevelMtls": {"8000": {"mode": "PERMISSIVE"}}}))
    legacy_calls(w)


_SE_HTTPS = cr("ServiceEntry", "payments-api", "default", {
    "hosts": ["api.payments.example.com"], "location": "MESH_EXTERNAL", "resolution": "DNS",
    "ports": [{"number": 443, "name": "https", "protocol": "HTTPS"}]})


def _double_tls(w: World) -> None:
    w.istio += [_SE_HTTPS, cr("DestinationRule", "payments-api", "default", {
        "host": "api.payments.example.com", "trafficPolicy": {"tls": {"mode": "SIMPLE"}}})]


def _https_on_http(w: World) -> None:
    w.istio.append(cr("ServiceEntry", "payments-api", "default", {
        "hosts": ["api.payments.example.com"], "location": "MESH_EXTERNAL", "resolution": "DNS",
        "ports": [{"number": 443, "name": "http", "protocol": "HTTP"}]}))


def _mysql(w: World) -> None:
    w.workloads.append(Workload("mysql", "default", [Container("mysql", "docker.io/library/mysql:8.4", ports=[Port(3306)])],
                                labels={"app": "mysql"}, service_account="mysql", node_index=2))
    w.services.append(Service("mysql", "default", [ServicePort(3306, "db")], selector={"app": "mysql"}, labels={"app": "mysql"}))


def _authz(w: World) -> None:
    w.istio += [STRICT_MESH, cr("AuthorizationPolicy", "ratings-deny", "default", {
        "selector": {"matchLabels": {"app": "ratings"}}, "action": "DENY",
        "rules": [{"to": [{"operation": {"paths": ["/ratings/*"]}}]}]})]
    ratings_calls(w)


# -- healthy and look-alikes -------------------------------------------------------------


def _strict_healthy(w: World) -> None:
    w.istio.append(STRICT_MESH)
    ratings_calls(w)


def _permissive_legacy(w: World) -> None:
    legacy_calls(w)


def _dr_disable_permissive(w: World) -> None:
    w.istio.append(cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"tls": {"mode": "DISABLE"}}}))
    ratings_calls(w)


def _app_503(w: World) -> None:
    w.istio.append(STRICT_MESH)
    ratings_calls(w, status=503)


def _mysql_declared_strict(w: World) -> None:
    w.istio.append(STRICT_MESH)
    w.workloads.append(Workload("mysql", "default", [Container("mysql", "docker.io/library/mysql:8.4", ports=[Port(3306)])],
                                labels={"app": "mysql"}, service_account="mysql", node_index=2))
    w.services.append(Service("mysql", "default", [ServicePort(3306, "tcp-mysql")], selector={"app": "mysql"}, labels={"app": "mysql"}))


REVIEWS = "deploy/reviews-v2 -n default"
RATINGS = "deploy/ratings-v1 -n default"

SCENARIOS: list[Scenario] = [
    # -- DR DISABLE / SIMPLE vs STRICT, from both sides
    Scenario("mtls", "dr-disable-vs-strict-client", "DR ratings tls DISABLE while the mesh is STRICT; reviews-v2 gets 503 UC",
             REVIEWS, "mtls", world(_dr_disable),
             Expect("MTLS-DR-DISABLE-VS-STRICT", ["MTLS-DR-DISABLE-VS-STRICT"],
                    others("MTLS-DR-DISABLE-VS-STRICT"), path=[("dr-disable", "fail")])),
    Scenario("mtls", "dr-disable-vs-strict-server", "the STRICT server of a DR DISABLE logs NR filter_chain_not_found",
             RATINGS, "mtls", world(_dr_disable),
             Expect("MTLS-DR-DISABLE-VS-STRICT", ["MTLS-DR-DISABLE-VS-STRICT"],
                    others("MTLS-DR-DISABLE-VS-STRICT"))),
    Scenario("mtls", "dr-simple-vs-strict-server", "DR SIMPLE (TLS without the Istio client cert) towards a STRICT ratings",
             RATINGS, "mtls", world(_dr_simple),
             Expect("MTLS-DR-DISABLE-VS-STRICT", ["MTLS-DR-DISABLE-VS-STRICT"],
                    others("MTLS-DR-DISABLE-VS-STRICT", "MTLS-PEER-NO-CERT"))),
    # -- clients and servers outside the mesh
    Scenario("mtls", "nonmesh-client-server-side", "legacy/sleep (no sidecar) calls httpbin.foo, STRICT in foo",
             "deploy/httpbin -n foo", "mtls", world(_nonmesh_client),
             Expect("MTLS-NONMESH-CLIENT", ["MTLS-NONMESH-CLIENT"], others("MTLS-NONMESH-CLIENT"), path=[("nonmesh-client", "fail")])),
    Scenario("mtls", "nonmesh-client-client-side", "the sidecar-less legacy/sleep examined while foo is STRICT",
             "deploy/sleep -n legacy", "mtls", world(_nonmesh_client_mesh_strict),
             Expect("MTLS-NONMESH-CLIENT", ["MTLS-NONMESH-CLIENT"], others("MTLS-NONMESH-CLIENT"),
                    path=[("in-mesh", "fail"), ("nonmesh-pod-client", "fail")])),
    Scenario("mtls", "to-nonmesh-server-client", "DR forces ISTIO_MUTUAL towards httpbin.legacy, which has no sidecar",
             "deploy/sleep -n foo", "mtls", world(_to_nonmesh),
             Expect("MTLS-TO-NONMESH-SERVER", ["MTLS-TO-NONMESH-SERVER"], others("MTLS-TO-NONMESH-SERVER"))),
    Scenario("mtls", "to-nonmesh-server-server", "the sidecar-less httpbin.legacy examined: a DR forces mTLS towards it",
             "deploy/httpbin -n legacy", "mtls", world(_to_nonmesh),
             Expect("MTLS-TO-NONMESH-SERVER", ["MTLS-TO-NONMESH-SERVER"], others("MTLS-TO-NONMESH-SERVER"),
                    path=[("in-mesh", "fail"), ("nonmesh-pod-server", "fail")])),
    # -- auto mTLS and DR precedence
    Scenario("mtls", "auto-mtls-off", "enableAutoMtls false, mesh STRICT, no ISTIO_MUTUAL rule for ratings",
             REVIEWS, "mtls", world(_auto_off, auto_mtls=False),
             Expect("MTLS-AUTO-OFF", ["MTLS-AUTO-OFF"], others("MTLS-AUTO-OFF"))),
    Scenario("mtls", "dr-shadowing", "auto mTLS off; DR default/ratings (no tls) shadows the mesh-wide *.local ISTIO_MUTUAL rule",
             REVIEWS, "mtls", world(_shadowing, auto_mtls=False),
             Expect("MTLS-DR-SHADOWING", ["MTLS-DR-SHADOWING"], others("MTLS-DR-SHADOWING"))),
    # -- certificates
    Scenario("mtls", "rootca-mismatch", "ratings trusts another root CA; reviews-v2 gets CERTIFICATE_VERIFY_FAILED",
             REVIEWS, "mtls", world(_rootca),
             Expect("MTLS-ROOTCA-MISMATCH", ["MTLS-ROOTCA-MISMATCH"], others("MTLS-ROOTCA-MISMATCH"))),
    Scenario("mtls", "cert-warming", "ratings never got its workload certificate (SDS warming)",
             RATINGS, "mtls", world(_warming),
             Expect("MTLS-CERT-NOT-READY", ["MTLS-CERT-NOT-READY"], others("MTLS-CERT-NOT-READY"))),
    Scenario("mtls", "cert-expired-peer", "the caller of ratings, whose workload certificate expired",
             REVIEWS, "mtls", world(_expired),
             Expect("MTLS-CERT-NOT-READY", ["MTLS-CERT-NOT-READY"], others("MTLS-CERT-NOT-READY"))),
    # Seen from the server: the kit's client cluster does not yet carry the DR's subjectAltNames
    # (istiod puts them in the validation context), so the client view cannot be recorded faithfully.
    Scenario("mtls", "san-mismatch-server", "DR ratings verifies subjectAltName sa/ratings; the pods run as sa/bookinfo-ratings",
             RATINGS, "mtls", world(_san),
             Expect("MTLS-SAN-MISMATCH", ["MTLS-SAN-MISMATCH"], others("MTLS-SAN-MISMATCH"))),
    Scenario("mtls", "peer-no-cert", "TLS clients without a certificate hit httpbin.foo (STRICT): only the listener counter shows it",
             "deploy/httpbin -n foo", "mtls", world(_peer_no_cert),
             Expect("MTLS-PEER-NO-CERT", ["MTLS-PEER-NO-CERT"], others("MTLS-PEER-NO-CERT"))),
    # -- ports
    Scenario("mtls", "port-level-pa-service-port", "portLevelMtls keyed by Service port 8000; httpbin listens on 8080",
             "deploy/httpbin -n foo", "mtls", world(_port_level),
             Expect("MTLS-PORT-LEVEL-PA", ["MTLS-PORT-LEVEL-PA", "MTLS-NONMESH-CLIENT"],
                    others("MTLS-PORT-LEVEL-PA", "MTLS-NONMESH-CLIENT"))),
    Scenario("mtls", "double-tls", "ServiceEntry port 443 HTTPS plus a DR SIMPLE: TLS inside TLS",
             "deploy/productpage-v1 -n default", "mtls", world(_double_tls),
             Expect("MTLS-DOUBLE-TLS", ["MTLS-DOUBLE-TLS"], others("MTLS-DOUBLE-TLS"))),
    Scenario("mtls", "https-on-http-port", "ServiceEntry declares port 443 as HTTP",
             "deploy/productpage-v1 -n default", "mtls", world(_https_on_http),
             Expect("MTLS-HTTPS-ON-HTTP-PORT", ["MTLS-HTTPS-ON-HTTP-PORT"], others("MTLS-HTTPS-ON-HTTP-PORT"))),
    Scenario("mtls", "server-first-mysql-undeclared", "MySQL on 3306 behind a port named 'db' in a PERMISSIVE mesh (TCP by Istio's well-known-port rule, but PERMISSIVE still waits for the client)",
             "deploy/mysql -n default", "mtls", world(_mysql),
             Expect("MTLS-SERVER-FIRST-PERMISSIVE", ["MTLS-SERVER-FIRST-PERMISSIVE"], others("MTLS-SERVER-FIRST-PERMISSIVE"))),
    # -- the RBAC look-alike
    Scenario("mtls", "authz-deny-server", "AuthorizationPolicy DENY on ratings /ratings/*: 403 RBAC, mTLS is fine",
             RATINGS, "mtls", world(_authz),
             Expect("MTLS-AUTHZ-CONFUSION", ["MTLS-AUTHZ-CONFUSION"], others("MTLS-AUTHZ-CONFUSION"), path=[("authz", "fail")])),
    Scenario("mtls", "authz-deny-client", "the caller sees 403 from ratings' AuthorizationPolicy",
             REVIEWS, "mtls", world(_authz),
             Expect("MTLS-AUTHZ-CONFUSION", ["MTLS-AUTHZ-CONFUSION"], others("MTLS-AUTHZ-CONFUSION"))),
    # -- healthy
    Scenario("mtls", "strict-auto-mtls-healthy", "STRICT everywhere with auto mTLS: traffic flows",
             REVIEWS, "mtls", world(_strict_healthy),
             Expect(None, [], ALL, verdict="no_problem_found")),
    Scenario("mtls", "strict-auto-mtls-healthy-server", "STRICT everywhere with auto mTLS, seen from the server",
             RATINGS, "mtls", world(_strict_healthy),
             Expect(None, [], ALL, verdict="no_problem_found")),
    Scenario("mtls", "permissive-legacy-client", "PERMISSIVE (default) accepts plaintext from legacy/sleep",
             "deploy/httpbin -n foo", "mtls", world(_permissive_legacy),
             Expect(None, [], ALL, verdict="no_problem_found")),
    Scenario("mtls", "permissive-legacy-client-pod", "the sidecar-less legacy/sleep examined in a PERMISSIVE mesh",
             "deploy/sleep -n legacy", "mtls", world(_permissive_legacy),
             Expect(None, [], ALL, verdict="no_problem_found")),
    # -- look-alikes
    Scenario("mtls", "dr-disable-towards-permissive", "DR DISABLE towards a PERMISSIVE ratings: plaintext is accepted",
             REVIEWS, "mtls", world(_dr_disable_permissive),
             Expect(None, [], ALL, verdict="no_problem_found")),
    Scenario("mtls", "app-503-via-upstream", "ratings itself answers 503 (via_upstream, no flags) in a STRICT mesh",
             REVIEWS, "mtls", world(_app_503),
             Expect(None, [], ALL, verdict="problems_found")),
    Scenario("mtls", "mysql-declared-strict", "MySQL on a tcp-mysql port under STRICT: server-first is handled",
             "deploy/mysql -n default", "mtls", world(_mysql_declared_strict),
             Expect(None, [], ALL, verdict="no_problem_found")),
]
