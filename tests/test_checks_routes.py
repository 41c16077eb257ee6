"""Unit tests of the ROUTE-* checks.

Evidence comes from the route scenario worlds (tests/scenarios/route.py): every kubectl/istioctl
output rendered in its real format by the scenario kit and parsed by the project's own parsers,
so each check reads what it reads in production. Each check must fail on its cause with verbatim
evidence and a fix, stay quiet on healthy and look-alike worlds, and be ``unknown`` (never pass)
when the evidence it requires could not be gathered.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from istio_doctor.engine.checks.routes._proxy import _authority_host, _find_vhost, _is_nr, _is_route_failure, _path_matches
from istio_doctor.engine.checks.routes.visibility import _sidecar_imports
from istio_doctor.engine.catalogue import load_catalogue
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.plan import control_plane_version, related_pods
from istio_doctor.engine.model import Outcome
from istio_doctor.engine.registry import REGISTRY, load_builtin_checks
from istio_doctor.engine.walker import make_finding, run_check
from istio_doctor.evidence.accesslog import parse_proxy_log
from istio_doctor.evidence.bundle import Evidence, EvidenceFailure, FailureKind, Item, Need, Scope
from istio_doctor.evidence.envoy.configdump import parse_config_dump
from istio_doctor.evidence.target import Connection, Target
from istio_doctor.run import run_diagnosis
from tests.scenariokit.runner import WorldRunner
from tests.scenarios import routes as sc

load_builtin_checks()
ROUTE = sorted(c for c in REGISTRY.checks if c.startswith("ROUTE-"))
_CACHE: dict[str, CheckContext] = {}


def gathered(name: str) -> CheckContext:
    """The context the walker gives the target pod of a route scenario."""
    if name not in _CACHE:
        s = next(x for x in sc.SCENARIOS if x.name == name)
        tname, _, ns = s.target.partition(" -n ")
        target = Target.parse(tname, ns)
        res = asyncio.run(run_diagnosis(target, WorldRunner(s.world), Connection(), symptom="routes"))
        ev = res.evidence
        if tname.startswith("pod/"):
            pod = tname.split("/", 1)[1]
        else:
            pod = next(p.metadata.name for p in ev.get(Need.PODS, ns) if p.owner_workload and p.owner_workload.name == target.name)
        rel, _ = related_pods(ev, ns, pod)
        _CACHE[name] = CheckContext(ev=ev, target=target, conn=Connection(), namespace=ns, pod_name=pod, related=rel,
                                    istio_version=control_plane_version(ev))
    return _CACHE[name]


def outcome(check_id: str, ctx: CheckContext) -> Any:
    result, _ = run_check(REGISTRY, check_id, {}, ctx)
    return result


FAILING = [
    ("vs-no-gateway", "ROUTE-VS-NO-GATEWAY"), ("vs-gateway-short-name-other-ns", "ROUTE-VS-NO-GATEWAY"),
    ("host-not-in-gateway", "ROUTE-HOST-NOT-IN-GATEWAY"), ("authority-by-ip", "ROUTE-AUTHORITY-MISMATCH"),
    ("gateway-path-no-route", "ROUTE-MATCH-MISS"), ("mesh-path-no-route", "ROUTE-MATCH-MISS"),
    ("gateway-selector-typo", "ROUTE-GW-SELECTOR"), ("gateway-port-not-on-service", "ROUTE-GW-PORT-NOT-ON-SVC"),
    ("passthrough-with-http-routes", "ROUTE-GW-TLS-MODE"), ("gateway-conflict", "ROUTE-GW-CONFLICT"),
    ("jwt-claim-without-requestauthn", "ROUTE-JWT-CLAIM"), ("ingress-ignores-mesh-subset", "ROUTE-INGRESS-SUBSET-IGNORED"),
    ("dest-host-typo", "ROUTE-DEST-HOST-UNKNOWN"), ("subset-undefined", "ROUTE-SUBSET-UNDEFINED"),
    ("dr-host-typo", "ROUTE-DR-HOST-UNKNOWN"), ("port-ambiguous", "ROUTE-PORT-AMBIGUOUS"),
    ("vs-host-conflict", "ROUTE-VS-HOST-CONFLICT"), ("exportto-dr-hidden", "ROUTE-EXPORTTO-HIDDEN"),
    ("exportto-service-hidden", "ROUTE-EXPORTTO-HIDDEN"), ("sidecar-scope", "ROUTE-SIDECAR-SCOPE"),
    ("xds-rds-stale", "ROUTE-XDS-STALE"), ("envoyfilter-nack", "ROUTE-ENVOYFILTER"), ("envoyfilter-nack", "ROUTE-XDS-STALE"),
    ("serviceentry-tcp-no-address", "ROUTE-SE-TCP-NO-ADDRESS"), ("httproute-not-accepted", "ROUTE-GWAPI-NOT-ACCEPTED"),
]

HEALTHY = ["healthy-ingress", "healthy-client", "app-own-404", "mesh-only-virtualservice", "mesh-only-virtualservice-client",
           "wildcard-gateway-host", "subsets-defined", "sidecar-imports-namespace", "serviceentry-tcp-with-addresses",
           "httproute-accepted", "pod-ip-passthrough", "no-endpoints-look-alike"]


@pytest.mark.parametrize(("scenario", "check_id"), FAILING)
def test_check_fails_on_its_cause_with_verbatim_evidence_and_a_fix(scenario: str, check_id: str) -> None:
    r = outcome(check_id, gathered(scenario))
    assert r.outcome is Outcome.FAIL, r.summary
    assert r.evidence and all(e.excerpt and e.source for e in r.evidence), r.evidence
    assert r.fix is not None and r.fix.steps
    # the catalogue words it from the check's arguments (a template the arguments cannot fill raises)
    f = make_finding(load_catalogue()[check_id], r, playbook="routes", node=check_id, target=None)
    assert f.summary and f.fix.summary


@pytest.mark.parametrize("scenario", HEALTHY)
@pytest.mark.parametrize("check_id", ROUTE)
def test_no_route_check_fails_on_healthy_or_look_alike_worlds(scenario: str, check_id: str) -> None:
    r = outcome(check_id, gathered(scenario))
    assert r.outcome in (Outcome.PASS, Outcome.NOT_APPLICABLE), f"{check_id} on {scenario}: {r.outcome} {r.summary}"


def test_every_route_check_has_a_failing_scenario_or_is_documented_as_kit_gap() -> None:
    covered = {c for _, c in FAILING}
    # the kit does not model gateway TLS secrets, SNI-less clients or old Gateway API CRDs yet
    kit_gaps = {"ROUTE-GW-CREDENTIAL", "ROUTE-SNI-MISSING", "ROUTE-DUP-CERT-404", "ROUTE-GWAPI-CRD"}
    assert set(ROUTE) == covered | kit_gaps


@pytest.mark.parametrize(("scenario", "check_id"), [
    ("healthy-ingress", "ROUTE-VS-NO-GATEWAY"), ("wildcard-gateway-host", "ROUTE-HOST-NOT-IN-GATEWAY"),
    ("subsets-defined", "ROUTE-SUBSET-UNDEFINED"), ("sidecar-imports-namespace", "ROUTE-SIDECAR-SCOPE"),
    ("healthy-ingress", "ROUTE-XDS-STALE"), ("httproute-accepted", "ROUTE-GWAPI-NOT-ACCEPTED"),
    ("healthy-ingress", "ROUTE-GW-SELECTOR"), ("mesh-only-virtualservice-client", "ROUTE-VS-HOST-CONFLICT"),
])
def test_check_passes_when_its_premise_holds_and_config_is_right(scenario: str, check_id: str) -> None:
    r = outcome(check_id, gathered(scenario))
    assert r.outcome is Outcome.PASS, r.summary


@pytest.mark.parametrize(("scenario", "check_id"), [
    ("app-own-404", "ROUTE-MATCH-MISS"), ("app-own-404", "ROUTE-AUTHORITY-MISMATCH"),
    ("healthy-client", "ROUTE-VS-NO-GATEWAY"), ("healthy-client", "ROUTE-SIDECAR-SCOPE"),
    ("healthy-ingress", "ROUTE-EXPORTTO-HIDDEN"), ("healthy-client", "ROUTE-ENVOYFILTER"),
    ("healthy-client", "ROUTE-GWAPI-NOT-ACCEPTED"),
])
def test_check_is_not_applicable_when_its_premise_does_not_hold(scenario: str, check_id: str) -> None:
    r = outcome(check_id, gathered(scenario))
    assert r.outcome is Outcome.NOT_APPLICABLE, r.summary


def _without(ctx: CheckContext, needs: tuple[Need, ...]) -> CheckContext:
    """The same context with every item of ``needs`` turned into a gathering failure (RBAC)."""
    items = []
    for it in ctx.ev.items():
        if it.key.need in needs:
            it = Item(key=it.key, failure=EvidenceFailure(kind=FailureKind.FORBIDDEN, reason=f"{it.key.need.value}: forbidden"),
                      sources=it.sources)
        items.append(it)
    ev = Evidence({i.key: i for i in items})
    return CheckContext(ev=ev, target=ctx.target, conn=ctx.conn, namespace=ctx.namespace, pod_name=ctx.pod_name,
                        related=ctx.related, istio_version=ctx.istio_version)


@pytest.mark.parametrize(("scenario", "check_id"), FAILING)
def test_check_is_unknown_not_healthy_when_required_evidence_is_missing(scenario: str, check_id: str) -> None:
    spec = REGISTRY.get(check_id)
    needs = tuple(n for n in spec.needs if n is not Need.POD)
    r = outcome(check_id, _without(gathered(scenario), needs))
    assert r.outcome is Outcome.UNKNOWN, r.summary


# -- small real-format inputs: Envoy's choices that decide between look-alikes ---------------

_NR = ('[2024-07-15T09:00:13.704Z] "GET /health HTTP/1.1" 404 NR route_not_found - "-" 0 0 0 - "-" "curl/8.7.1" '
       '"38a5bc1f-363b-2a52-8ac3-929a1d0a63c4" "reviews:9080" "-" - - 10.96.3.253:9080 10.244.1.6:40120 - -')
_APP_404 = ('[2024-07-15T09:00:13.704Z] "GET /details/999 HTTP/1.1" 404 - via_upstream - "-" 0 9 5 4 "-" "curl/8.7.1" '
            '"97c6d62e-a16a-2b75-e633-f9e839205c0e" "details:9080" "10.244.2.6:9080" outbound|9080||details.default.svc.cluster.local '
            '10.244.1.6:40687 10.96.3.239:9080 10.244.1.6:32768 - default')
_FCNF = ('[2024-07-15T09:00:13.704Z] "- - -" 0 NR filter_chain_not_found - "-" 0 0 0 - "-" "-" "-" "-" "-" - - '
         '10.244.1.7:9080 10.244.2.6:41234 - -')


def test_envoy_404_is_a_route_miss_and_the_apps_own_404_and_a_filter_chain_miss_are_not() -> None:
    log = parse_proxy_log("\n".join([_NR, _APP_404, _FCNF]))
    nr, app, fcnf = log.entries
    assert _is_nr(nr) and _is_route_failure(nr)
    assert not _is_nr(app) and not _is_route_failure(app)
    assert not _is_nr(fcnf)


_RDS = {
    "configs": [{
        "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
        "dynamic_route_configs": [{"version_info": "1", "route_config": {
            "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", "name": "9080",
            "virtual_hosts": [
                {"name": "reviews.default.svc.cluster.local:9080", "domains": ["reviews.default.svc.cluster.local", "reviews"],
                 "routes": [{"match": {"prefix": "/reviews/", "case_sensitive": True},
                             "route": {"cluster": "outbound|9080||reviews.default.svc.cluster.local"}}]},
                {"name": "allow_any", "domains": ["*"],
                 "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "PassthroughCluster"}}]}],
            "ignore_port_in_host_matching": True}}],
    }],
}


def test_vhost_choice_prefers_the_bare_host_over_the_wildcard_when_the_authority_has_a_port() -> None:
    import json

    dump = parse_config_dump(json.dumps(_RDS))
    vh = _find_vhost(dump, "9080", "reviews:9080")
    assert vh is not None and vh.name == "reviews.default.svc.cluster.local:9080"
    assert _find_vhost(dump, "9080", "10.0.0.9:9080").name == "allow_any"
    assert not any(_path_matches(r, "/health") for r in vh.routes)
    assert all(_path_matches(r, "/reviews/0") for r in vh.routes)


def test_authority_host_strips_the_port_but_keeps_ipv6_brackets() -> None:
    assert _authority_host("Reviews:9080") == "reviews"
    assert _authority_host("[fd00::1]:8080") == "[fd00::1]"
    assert _authority_host("bookinfo.example.com") == "bookinfo.example.com"


def test_sidecar_egress_host_forms() -> None:
    host = "reviews.default.svc.cluster.local"
    assert _sidecar_imports(["./*"], "default", "default", host)
    assert not _sidecar_imports(["./*"], "foo", "default", host)
    assert _sidecar_imports(["*/reviews.default.svc.cluster.local"], "foo", "default", host)
    assert not _sidecar_imports(["default/details.default.svc.cluster.local", "istio-system/*"], "default", "default", host)


def test_scope_of_needs_is_what_the_checks_read() -> None:
    # pod-scoped evidence is gathered for the examined pod only when a check declares it
    for cid in ROUTE:
        spec = REGISTRY.get(cid)
        assert Need.POD in spec.needs or all(n.scope is not Scope.POD for n in spec.needs), cid


# -- causes the kit cannot render yet: real-format objects swapped into a gathered world -----


def _with(ctx: CheckContext, need: Need, value: Any) -> CheckContext:
    items = {i.key: i for i in ctx.ev.items()}
    key = Evidence.key(need)
    items[key] = Item(key=key, value=value, sources=[("kubectl", "get", need.value, "-A", "-o", "json")])
    return CheckContext(ev=Evidence(items), target=ctx.target, conn=ctx.conn, namespace=ctx.namespace, pod_name=ctx.pod_name,
                        related=ctx.related, istio_version=ctx.istio_version)


_OLD_CRDS = """
apiVersion: v1
kind: List
items:
- apiVersion: apiextensions.k8s.io/v1
  kind: CustomResourceDefinition
  metadata:
    name: httproutes.gateway.networking.k8s.io
    labels: {gateway.networking.k8s.io/bundle-version: v0.6.2}
  spec:
    group: gateway.networking.k8s.io
    names: {kind: HTTPRoute, plural: httproutes}
    scope: Namespaced
    versions: [{name: v1beta1, served: true, storage: true}, {name: v1alpha2, served: true, storage: false}]
- apiVersion: apiextensions.k8s.io/v1
  kind: CustomResourceDefinition
  metadata:
    name: gateways.gateway.networking.k8s.io
    labels: {gateway.networking.k8s.io/bundle-version: v0.6.2}
  spec:
    group: gateway.networking.k8s.io
    names: {kind: Gateway, plural: gateways}
    scope: Namespaced
    versions: [{name: v1beta1, served: true, storage: true}, {name: v1alpha2, served: true, storage: false}]
"""


def test_gateway_api_crds_that_do_not_serve_v1_make_istio_1_22_ignore_the_routes() -> None:
    from istio_doctor.evidence.kube import CustomResourceDefinition, parse_kube_list

    ctx = gathered("httproute-accepted")
    assert outcome("ROUTE-GWAPI-CRD", ctx).outcome is Outcome.PASS
    old = _with(ctx, Need.CRDS, parse_kube_list(_OLD_CRDS, CustomResourceDefinition))
    r = outcome("ROUTE-GWAPI-CRD", old)
    assert r.outcome is Outcome.FAIL and r.args["bundle"] == "v0.6.2" and "httproutes" in r.args["crds"], r.args
    assert outcome("ROUTE-GWAPI-CRD", gathered("healthy-client")).outcome is Outcome.NOT_APPLICABLE


_TLS_GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-https, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [bookinfo.example.com]
    tls: {mode: SIMPLE, credentialName: bookinfo-cert}
"""


def test_a_credential_the_gateway_never_loaded_fails_and_needs_the_config_dump() -> None:
    from istio_doctor.evidence.istio import Gateway, parse_istio_list

    ctx = gathered("healthy-ingress")
    assert outcome("ROUTE-GW-CREDENTIAL", ctx).outcome is Outcome.NOT_APPLICABLE
    gws = list(ctx.ev.get(Need.GATEWAYS)) + parse_istio_list(_TLS_GATEWAY, Gateway)
    tls = _with(ctx, Need.GATEWAYS, gws)
    r = outcome("ROUTE-GW-CREDENTIAL", tls)
    assert r.outcome is Outcome.FAIL and r.args["credential"] == "bookinfo-cert", r.args
    assert outcome("ROUTE-GW-CREDENTIAL", _without(tls, (Need.CONFIG_DUMP,))).outcome is Outcome.UNKNOWN


# -- a Service's exportTo: its annotation (spacing by version) and MeshConfig's default ----------------


def _service_annotated(ctx: CheckContext, name: str, annotation: str | None, *, version: str | None = None) -> CheckContext:
    """The context with Service ``name``'s exportTo annotation replaced (None: removed)."""
    svcs = []
    for s in ctx.ev.get(Need.SERVICES):
        if s.metadata.name == name:
            ann = {k: v for k, v in s.metadata.annotations.items() if k != "networking.istio.io/exportTo"}
            if annotation is not None:
                ann["networking.istio.io/exportTo"] = annotation
            s = s.model_copy(update={"metadata": s.metadata.model_copy(update={"annotations": ann})})
        svcs.append(s)
    out = _with(ctx, Need.SERVICES, svcs)
    if version is not None:
        from istio_doctor.evidence.versions import Version

        out.istio_version = Version.parse(version)
    return out


def test_service_exportto_annotation_spacing_follows_the_version() -> None:
    """``default, foo`` exports ratings to ``foo`` only where Istio trims the names: ConvertService
    adds ``strings.TrimSpace`` in 1.24 (istio/istio#53367, 5152877a; absent at 1.23.5, present at
    1.24.0, pilot/pkg/serviceregistry/kube/conversion.go). Before, the namespace is `` foo`` and
    sleep in foo does not see the Service."""
    ctx = gathered("exportto-service-hidden")  # sleep in foo calls ratings.default
    r = outcome("ROUTE-EXPORTTO-HIDDEN", _service_annotated(ctx, "ratings", "default, foo", version="1.23.5"))
    assert r.outcome is Outcome.FAIL and r.message == "service" and r.args["export_to"] == "default, foo", r.args
    assert outcome("ROUTE-EXPORTTO-HIDDEN", _service_annotated(ctx, "ratings", "default, foo", version="1.24.0")).outcome is Outcome.PASS
    assert outcome("ROUTE-EXPORTTO-HIDDEN", _service_annotated(ctx, "ratings", "default,foo", version="1.23.5")).outcome is Outcome.PASS


def test_service_without_exportto_follows_the_mesh_default() -> None:
    """No annotation: MeshConfig ``defaultServiceExportTo`` decides (``IsServiceVisible``,
    istio/istio@1.22.0:pilot/pkg/model/push_context.go); ``["."]`` keeps ratings in its namespace."""
    ctx = _service_annotated(gathered("exportto-service-hidden"), "ratings", None)
    assert outcome("ROUTE-EXPORTTO-HIDDEN", ctx).outcome is Outcome.PASS  # Istio's default: public
    cp = ctx.ev.get(Need.CONTROL_PLANE_CONFIGMAPS)
    private = cp.model_copy(update={"mesh": {rev: m.model_copy(update={"default_service_export_to": ["."]})
                                             for rev, m in cp.mesh.items()}})
    r = outcome("ROUTE-EXPORTTO-HIDDEN", _with(ctx, Need.CONTROL_PLANE_CONFIGMAPS, private))
    assert r.outcome is Outcome.FAIL and r.message == "default" and r.args["default"] == ["."], r.args
    assert r.args["resource"] == "default/ratings" and r.args["client_namespace"] == "foo"


def test_sidecar_scope_leaves_a_service_hidden_by_exportto_to_that_check() -> None:
    """A Sidecar that does not import ratings is not the cause when ratings is not exported to the
    namespace at all: adding it to the egress hosts would not make the proxy see it."""
    from istio_doctor.evidence.istio import Sidecar, parse_istio_list

    ctx = gathered("exportto-service-hidden")
    sc_yaml = ("apiVersion: v1\nkind: List\nitems:\n- apiVersion: networking.istio.io/v1\n  kind: Sidecar\n"
               "  metadata: {name: default, namespace: foo}\n  spec:\n    egress:\n    - hosts: [\"./*\", \"istio-system/*\"]\n")
    scoped = _with(ctx, Need.SIDECARS, parse_istio_list(sc_yaml, Sidecar))
    assert outcome("ROUTE-EXPORTTO-HIDDEN", scoped).outcome is Outcome.FAIL
    assert outcome("ROUTE-SIDECAR-SCOPE", scoped).outcome is not Outcome.FAIL
    # exported to foo: now the Sidecar is what hides it
    visible = _service_annotated(scoped, "ratings", "*")
    r = outcome("ROUTE-SIDECAR-SCOPE", visible)
    assert r.outcome is Outcome.FAIL and r.args["host"] == "ratings.default.svc.cluster.local", r.args
