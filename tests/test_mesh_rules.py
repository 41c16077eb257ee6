"""Host names, exportTo, the DestinationRule/VirtualService/Sidecar lookup order, PeerAuthentication
precedence and the cluster domain — each rule against Istio's source (repo@tag:path cited per test)."""

from __future__ import annotations

from typing import Any

import pytest

from istio_doctor.engine.mesh import domain as D
from istio_doctor.engine.mesh import hosts as H
from istio_doctor.engine.mesh import lookup as L
from istio_doctor.engine.mesh import visibility as X
from istio_doctor.engine.mesh.peerauth import effective_mtls
from istio_doctor.evidence.istio import DestinationRule, PeerAuthentication, Sidecar, VirtualService
from istio_doctor.evidence.kube import Pod
from istio_doctor.evidence.meshconfig import MeshConfig, parse_injector_values
from istio_doctor.evidence.versions import Version

V = Version.parse
SVC = "reviews.prod.svc.cluster.local"


def meta(name: str, ns: str, created: str = "2024-01-01T00:00:00Z") -> dict[str, Any]:
    return {"name": name, "namespace": ns, "creationTimestamp": created}


def dr(name: str, ns: str, host: str, *, created: str = "2024-01-01T00:00:00Z", **spec: Any) -> DestinationRule:
    return DestinationRule.model_validate({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                                           "metadata": meta(name, ns, created), "spec": {"host": host, **spec}})


# -- hosts: istio/istio@1.22.0:pilot/pkg/model/config.go ResolveShortnameToFQDN, pkg/config/host/name.go --


@pytest.mark.parametrize("host, expected", [
    ("reviews", "reviews.prod.svc.cluster.local"),
    ("reviews.other", "reviews.other"),  # one dot: NOT expanded (it then matches no Service)
    ("reviews.other.svc.cluster.local", "reviews.other.svc.cluster.local"),
    ("*", "*"), ("*.example.com", "*.example.com"), ("10.0.0.1", "10.0.0.1"), ("::1", "::1"),
])
def test_short_names_are_resolved_like_istio(host: str, expected: str) -> None:
    assert H.resolve_short_name(host, "prod") == expected


def test_client_dns_expands_what_istio_does_not() -> None:
    # a pod's resolv.conf search path: <ns>.svc.<domain> svc.<domain> <domain>
    assert H.dns_fqdn("reviews.other", "prod") == "reviews.other.svc.cluster.local"
    assert H.dns_fqdn("reviews", "prod", "corp.internal") == "reviews.prod.svc.corp.internal"


@pytest.mark.parametrize("a, b, subset, intersect", [
    ("*.com", "foo.com", True, True), ("foo.com", "*.com", False, True), ("*.foo.com", "foo.com", False, False),
    ("*", "*.com", True, True), ("*.com", "*.foo.com", True, True), ("*.foo.com", "*.com", False, True),
    ("foo.com", "foo.com", True, True), ("foo.com", "bar.com", False, False),
])
def test_host_matching_is_host_name_matches(a: str, b: str, subset: bool, intersect: bool) -> None:
    # host_matches(pattern, host) == Name(host).SubsetOf(pattern); hosts_intersect == Name.Matches
    assert H.host_matches(a, b) is subset
    assert H.hosts_intersect(a, b) is intersect


def test_most_specific_host_match() -> None:
    hosts = ["*.svc.cluster.local", "*.prod.svc.cluster.local", "*"]
    assert H.most_specific(SVC, hosts) == "*.prod.svc.cluster.local"
    assert H.most_specific(SVC, hosts + [SVC]) == SVC
    assert H.most_specific("example.com", ["*.svc.cluster.local"]) is None


@pytest.mark.parametrize("ref, expected", [
    ("mesh", "mesh"), ("gw", "prod/gw"), ("./gw", "prod/gw"), ("other/gw", "other/gw"),
    ("gw.istio-system.svc.cluster.local", "istio-system/gw"), ("gw.istio-system", "istio-system/gw"),
])
def test_gateway_references_resolve_like_resolve_gateway_name(ref: str, expected: str) -> None:
    assert H.resolve_gateway_name(ref, "prod") == expected


# -- exportTo: istio/istio@1.22.0:pilot/pkg/model/push_context.go initVirtualServices/initServiceRegistry --


@pytest.mark.parametrize("export_to, owner, client, default, visible", [
    ([], "a", "b", [], True), (["*"], "a", "b", [], True), (["."], "a", "a", [], True), (["."], "a", "b", [], False),
    (["b"], "a", "b", [], True), (["c"], "a", "b", [], False), (["~"], "a", "a", [], False),
    (["~", "*"], "a", "b", [], True),  # Public is tested before None
    (["a"], "a", "a", [], True),  # naming its own namespace is the same as "."
    ([], "a", "b", ["."], False), ([], "a", "a", ["."], True),  # MeshConfig defaultVirtualServiceExportTo: ["."]
    ([], "a", "a", ["b"], False),  # defaults honour only . and *: anything else hides it
])
def test_export_to(export_to: list[str], owner: str, client: str, default: list[str], visible: bool) -> None:
    assert X.exported_to(export_to, owner, client, default) is visible


def test_service_export_to_annotation_by_version() -> None:
    # istio/istio@1.22.0:pilot/pkg/serviceregistry/kube/conversion.go splits on "," as is;
    # 1.24.0 trims each name (istio/istio#53367, 5152877a)
    from istio_doctor.evidence.kube import Service

    svc = Service.model_validate({"apiVersion": "v1", "kind": "Service",
                                  "metadata": {"name": "r", "namespace": "a", "annotations": {X.SERVICE_EXPORT_ANNOTATION: "a, b"}}})
    assert X.service_export_to(svc, V("1.23.5")) == ["a", " b"] and X.service_export_to(svc, V("1.24.0")) == ["a", "b"]
    assert X.service_export_to(svc) == ["a", "b"]  # version unknown: as current releases read it
    assert not X.exported_to(X.service_export_to(svc, V("1.22.0")), "a", "b") and X.exported_to(X.service_export_to(svc, V("1.24.0")), "a", "b")


def test_mesh_default_export_to_is_read_from_mesh_config() -> None:
    mc = MeshConfig.model_validate({"defaultServiceExportTo": ["."], "defaultDestinationRuleExportTo": ["."]})
    assert X.mesh_default(mc, X.Kind.SERVICE) == ["."] and X.mesh_default(mc, X.Kind.VIRTUAL_SERVICE) == []


def test_sidecar_egress_imports() -> None:
    # https://istio.io/latest/docs/reference/config/networking/sidecar/#IstioEgressListener
    assert X.sidecar_imports(["./*", "istio-system/*"], "prod", SVC, "prod")
    assert not X.sidecar_imports(["./*"], "other", "x.other.svc.cluster.local", "prod")
    assert X.sidecar_imports(["*/reviews.prod.svc.cluster.local"], "prod", SVC, "web")
    assert not X.sidecar_imports(["~/*"], "prod", SVC, "prod")


# -- DestinationRule lookup: istio/istio@1.22.0:pilot/pkg/model/push_context.go destinationRule ------


VIEW = L.MeshView(root_namespace="istio-system")


def test_client_namespace_then_service_namespace_then_root() -> None:
    root = dr("mesh-wide", "istio-system", "*.svc.cluster.local")
    svc = dr("svc-ns", "prod", "reviews")
    client = dr("client-ns", "web", SVC)
    assert L.destination_rule([root, svc, client], SVC, "web", VIEW).rule is client
    a = L.destination_rule([root, svc], SVC, "web", VIEW)
    assert a.rule is svc and a.step == "service"
    a = L.destination_rule([root], SVC, "web", VIEW)
    assert a.rule is root and a.step == "root"


def test_a_one_dot_host_is_no_short_name() -> None:
    # "reviews.prod" stays literally "reviews.prod" (ResolveShortnameToFQDN): it never applies
    assert L.destination_rule([dr("r", "prod", "reviews.prod")], SVC, "web", VIEW) is None


def test_private_rule_of_the_service_namespace_is_not_seen_by_others() -> None:
    private = dr("p", "prod", "reviews", exportTo=["."])
    assert L.destination_rule([private], SVC, "web", VIEW) is None
    assert L.destination_rule([private], SVC, "prod", VIEW).rule is private


def test_exported_only_to_another_namespace() -> None:
    r = dr("p", "prod", "reviews", exportTo=["batch"])
    assert L.destination_rule([r], SVC, "web", VIEW) is None
    assert L.destination_rule([r], SVC, "batch", VIEW).rule is r


def test_mesh_default_destination_rule_export_to_makes_silent_rules_private() -> None:
    view = L.MeshView(root_namespace="istio-system", mesh_config=MeshConfig.model_validate({"defaultDestinationRuleExportTo": ["."]}))
    assert L.destination_rule([dr("r", "prod", "reviews")], SVC, "web", view) is None
    assert L.destination_rule([dr("r", "prod", "reviews")], SVC, "web", VIEW) is not None


def test_most_specific_host_wins_within_a_namespace() -> None:
    wide, narrow, exact = dr("w", "prod", "*.svc.cluster.local"), dr("n", "prod", "*.prod.svc.cluster.local"), dr("e", "prod", "reviews")
    assert L.destination_rule([wide, narrow], SVC, "web", VIEW).rule is narrow
    assert L.destination_rule([wide, narrow, exact], SVC, "web", VIEW).rule is exact


def test_the_winning_host_decides_export_no_fallback_to_a_wider_rule() -> None:
    # getExportedDestinationRuleFromNamespace checks exportTo of the most specific host only
    exact = dr("e", "prod", "reviews", exportTo=["batch"])
    wide = dr("w", "prod", "*.prod.svc.cluster.local")
    assert L.destination_rule([exact, wide], SVC, "web", VIEW) is None


def test_a_client_in_the_root_namespace_reads_only_private_root_rules_first() -> None:
    public_root = dr("pub", "istio-system", "*.svc.cluster.local")
    svc = dr("svc", "prod", "reviews")
    # step 1 for a root-namespace client: only private rules of the root namespace
    assert L.destination_rule([public_root, svc], SVC, "istio-system", VIEW).rule is svc
    private_root = dr("priv", "istio-system", "*.svc.cluster.local", exportTo=["."])
    assert L.destination_rule([private_root, svc], SVC, "istio-system", VIEW).rule is private_root


def _subsets(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "labels": {"version": n}} for n in names]


def test_rules_for_one_host_merge_from_1_6_and_not_before() -> None:
    # istio/istio@1.22.0:pilot/pkg/model/destination_rule.go mergeDestinationRule; 1.5.0 has none
    old = dr("a", "prod", "reviews", created="2024-01-01T00:00:00Z", subsets=_subsets("v1"))
    new = dr("b", "prod", "reviews", created="2024-02-01T00:00:00Z", subsets=_subsets("v1", "v2"),
             trafficPolicy={"tls": {"mode": "ISTIO_MUTUAL"}})
    merged = L.destination_rule([new, old], SVC, "web", L.MeshView(version=V("1.6.0")))
    assert merged.rule is old and [s.name for s in merged.subsets] == ["v1", "v2"]
    assert merged.subsets[0].labels == {"version": "v1"}  # the older rule keeps a duplicate name
    assert merged.traffic_policy.tls.mode == "ISTIO_MUTUAL"  # the first top-level policy present wins
    assert merged.names == ["prod/a", "prod/b"]
    alone = L.destination_rule([new, old], SVC, "web", L.MeshView(version=V("1.5.4")))
    assert alone.rule is old and [s.name for s in alone.subsets] == ["v1"] and alone.traffic_policy is None


def test_workload_selector_rules_from_1_14() -> None:
    # 1.14: DestinationRule.workloadSelector; selector rules apply to matching clients of their
    # own namespace only (SidecarScope.DestinationRule) and are never exported (setDestinationRules)
    sel = dr("sel", "web", SVC, workloadSelector={"matchLabels": {"app": "canary"}}, subsets=_subsets("v3"))
    catch = dr("all", "web", SVC, created="2024-03-01T00:00:00Z", subsets=_subsets("v1"))
    v = L.MeshView(version=V("1.22.0"))
    assert L.destination_rule([sel, catch], SVC, "web", v, {"app": "canary"}).rule is sel
    assert L.destination_rule([sel, catch], SVC, "web", v, {"app": "web"}).rule is catch
    # before 1.14 the selector does not exist: both rules merge, the oldest first
    old = L.destination_rule([sel, catch], SVC, "web", L.MeshView(version=V("1.13.9")), {"app": "web"})
    assert old.rule is sel and [s.name for s in old.subsets] == ["v3", "v1"]


def test_a_selector_rule_for_other_workloads_shadows_the_service_namespace() -> None:
    # the client namespace has a host match (step 1 decides) but nothing in it applies to this client
    sel = dr("sel", "web", SVC, workloadSelector={"matchLabels": {"app": "canary"}})
    svc = dr("svc", "prod", "reviews")
    assert L.destination_rule([sel, svc], SVC, "web", L.MeshView(version=V("1.22.0")), {"app": "web"}) is None
    assert L.destination_rule([sel, svc], SVC, "web", L.MeshView(version=V("1.13.0")), {"app": "web"}).rule is sel


def test_selector_rules_are_ordered_first_from_1_22() -> None:
    # istio/istio@1.22.0 sortConfigBySelectorAndCreationTime (#49057); 1.21 sorts by creation only
    catch = dr("all", "web", SVC, created="2024-01-01T00:00:00Z", subsets=_subsets("v1"))
    sel = dr("sel", "web", SVC, created="2024-02-01T00:00:00Z", workloadSelector={"matchLabels": {"app": "c"}}, subsets=_subsets("v2"))
    new = L.destination_rule([catch, sel], SVC, "web", L.MeshView(version=V("1.22.0")), {"app": "c"})
    assert new.rule is sel and [s.name for s in new.subsets] == ["v2", "v1"]
    old = L.destination_rule([catch, sel], SVC, "web", L.MeshView(version=V("1.21.0")), {"app": "c"})
    assert old.rule is sel and [s.name for s in old.subsets] == ["v2"]


# -- VirtualService: VirtualServicesForGateway; Sidecar: getSidecarScope ------------------------------


def vs(name: str, ns: str, hosts: list[str], **spec: Any) -> VirtualService:
    return VirtualService.model_validate({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                                          "metadata": meta(name, ns), "spec": {"hosts": hosts, **spec}})


def test_virtual_services_private_then_exported_then_public() -> None:
    pub = vs("pub", "prod", ["reviews"])
    exp = vs("exp", "other", [SVC], exportTo=["web"])
    priv = vs("priv", "web", [SVC], exportTo=["."])
    hidden = vs("hidden", "other", [SVC], exportTo=["."])
    gw = vs("gw", "prod", ["reviews"], gateways=["bookinfo-gateway"])
    got = L.virtual_services([pub, exp, priv, hidden, gw], SVC, VIEW, client_namespace="web")
    assert [v.metadata.name for v in got] == ["priv", "exp", "pub"]
    assert [v.metadata.name for v in L.virtual_services([gw], SVC, VIEW, gateway="prod/bookinfo-gateway")] == ["gw"]
    assert L.virtual_services([vs("dot", "prod", ["reviews.prod"])], SVC, VIEW) == []  # one dot: no short name


def sc(name: str, ns: str, selector: dict[str, str] | None = None, created: str = "2024-01-01T00:00:00Z") -> Sidecar:
    spec: dict[str, Any] = {"egress": [{"hosts": ["./*"]}]}
    if selector:
        spec["workloadSelector"] = {"labels": selector}
    return Sidecar.model_validate({"apiVersion": "networking.istio.io/v1", "kind": "Sidecar", "metadata": meta(name, ns, created), "spec": spec})


def test_sidecar_selection() -> None:
    wl, nsw, root = sc("wl", "web", {"app": "web"}), sc("ns", "web"), sc("root", "istio-system")
    assert L.sidecar([wl, nsw, root], "web", {"app": "web"}, VIEW) is wl
    assert L.sidecar([wl, nsw, root], "web", {"app": "api"}, VIEW) is nsw
    assert L.sidecar([wl, root], "web", {"app": "api"}, VIEW) is root
    assert L.sidecar([wl, nsw, root], "web", {"app": "web"}, VIEW, is_gateway=True) is None  # gateways: default scope


# -- PeerAuthentication: istio/istio@1.22.0:pilot/pkg/security/authn/policy_applier.go ComposePeerAuthentication --


def pa(name: str, ns: str, mode: str | None, selector: dict[str, str] | None = None, ports: dict[int, str] | None = None,
       created: str = "2024-01-01T00:00:00Z") -> PeerAuthentication:
    spec: dict[str, Any] = {}
    if mode:
        spec["mtls"] = {"mode": mode}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    if ports:
        spec["portLevelMtls"] = {str(p): {"mode": m} for p, m in ports.items()}
    return PeerAuthentication.model_validate({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                                              "metadata": meta(name, ns, created), "spec": spec})


def _pod(ns: str = "prod", labels: dict[str, str] | None = None) -> Pod:
    return Pod.model_validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "reviews-1", "namespace": ns,
                                                                            "labels": labels or {"app": "reviews"}},
                               "spec": {"containers": [{"name": "app", "image": "reviews"}]}})


def test_peer_authentication_precedence() -> None:
    mesh = pa("default", "istio-system", "STRICT")
    nsw = pa("ns", "prod", "PERMISSIVE")
    wl = pa("wl", "prod", "UNSET", {"app": "reviews"}, {9080: "DISABLE"})
    assert effective_mtls([mesh], _pod(), "istio-system").mode == "STRICT"
    assert effective_mtls([mesh, nsw], _pod(), "istio-system").mode == "PERMISSIVE"
    assert effective_mtls([mesh, nsw, wl], _pod(), "istio-system").mode == "PERMISSIVE"  # UNSET inherits
    assert effective_mtls([mesh, nsw, wl], _pod(), "istio-system", 9080).mode == "DISABLE"  # port-level, keyed by target port
    older = pa("a-older", "prod", "STRICT", created="2023-01-01T00:00:00Z")
    assert effective_mtls([nsw, older], _pod(), "istio-system").mode == "STRICT"  # the oldest of a level wins
    # a selector policy in the root namespace is no workload policy
    assert effective_mtls([pa("sel", "istio-system", "DISABLE", {"app": "reviews"}), mesh], _pod("istio-system"), "istio-system").mode == "STRICT"


# -- cluster domain -------------------------------------------------------------------------------


def test_cluster_domain_from_the_proxy_args_the_injector_or_the_node_id() -> None:
    # the injection template writes `--domain $(POD_NAMESPACE).svc.{{ .Values.global.proxy.clusterDomain }}`
    # (tests/fixtures/corpus/istio/inject/pkg-kube-inject/hello.yaml.injected shows the rendered form)
    pod = Pod.model_validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "prod"},
                              "spec": {"containers": [{"name": "app", "image": "x"},
                                                      {"name": "istio-proxy", "image": "proxyv2",
                                                       "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.corp.internal"]}]}})
    assert D.cluster_domain(pod=pod) == ("corp.internal", "--domain of pod prod/p's istio-proxy")
    values = parse_injector_values('{"global": {"proxy": {"clusterDomain": "acme.local"}}}')
    assert D.cluster_domain(injector_values=values)[0] == "acme.local"
    assert D.cluster_domain(node_id="sidecar~10.1.2.3~p.prod~prod.svc.k8s.example")[0] == "k8s.example"
    assert D.cluster_domain() == ("cluster.local", "default (no evidence names another)")


def test_checks_never_assume_the_default_domain() -> None:
    """Checks build host names in the cluster's domain (``engine/mesh/resolve``: ``service_host``,
    ``config_host``, ``client_host``), never with the ``cluster.local`` default of the plain helpers:
    ``Service.fqdn()``, ``resolve_short_name`` and ``dns_fqdn`` without a domain are refused here.
    (tests/test_checks_mtls.py::test_dr_disable_follows_the_cluster_domain shows a check following it.)"""
    import ast
    from pathlib import Path

    checks = Path(__file__).resolve().parent.parent / "istio_doctor" / "engine" / "checks"
    found = []
    for path in sorted(checks.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            given = len(node.args) + len(node.keywords)
            if (name == "fqdn" and given == 0) or (name in ("resolve_short_name", "dns_fqdn", "service_fqdn") and given < 3):
                found.append(f"{path.relative_to(checks)}:{node.lineno} {name}")
    assert not found, f"host names built in the default domain: {found}"


def test_the_corpus_injected_pods_name_their_domain() -> None:
    from pathlib import Path

    import yaml

    path = Path(__file__).parent / "fixtures/corpus/istio/inject/pkg-kube-inject/hello.yaml.injected"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    tpl = docs[0]["spec"]["template"]
    pod = Pod.model_validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hello", "namespace": "default"}, "spec": tpl["spec"]})
    assert D.from_proxy_args(pod) == "cluster.local"


# -- the injector's decision: istio/istio@1.22.0:pkg/kube/inject/inject.go injectRequired --------------


def _inj(version: str, *, pod_labels: dict[str, str] | None = None, pod_ann: dict[str, str] | None = None, policy: str = "enabled"):  # type: ignore[no-untyped-def]
    from istio_doctor.engine.context import CheckContext
    from istio_doctor.engine.mesh.injection import Hook, decide
    from istio_doctor.evidence.bundle import Evidence, EvidenceKey, Item, Need
    from istio_doctor.evidence.kube import ConfigMap, MutatingWebhookConfiguration
    from istio_doctor.evidence.meshconfig import control_plane_configs
    from istio_doctor.evidence.target import Connection, Target

    cfg = MutatingWebhookConfiguration.model_validate({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "istio-sidecar-injector"},
        "webhooks": [{"name": "namespace.sidecar-injector.istio.io", "clientConfig": {"service": {"name": "istiod", "namespace": "istio-system"}},
                      "namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}},
                      "rules": [{"operations": ["CREATE"], "resources": ["pods"], "apiGroups": [""], "apiVersions": ["v1"]}]}]})
    cm = ConfigMap.model_validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio-sidecar-injector", "namespace": "istio-system"},
                                   "data": {"config": f"policy: {policy}\n", "values": "{}"}})
    ev = Evidence()
    ev.put(Item(key=EvidenceKey(need=Need.CONTROL_PLANE_CONFIGMAPS), value=control_plane_configs([cm])))
    ctx = CheckContext(ev=ev, target=Target.parse("pod/p", "prod"), conn=Connection(), namespace="prod", pod_name="p",
                       istio_version=V(version))
    pod = Pod.model_validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "prod", "labels": pod_labels or {},
                                                                           "annotations": pod_ann or {}},
                              "spec": {"containers": [{"name": "app", "image": "x"}]}})
    hooks = [Hook(cfg, h) for h in cfg.webhooks]
    return decide(ctx, pod, {"istio-injection": "enabled"}, hooks)


def test_the_inject_label_is_read_by_istiod_from_1_12() -> None:
    # 1.12+: "The label is the new API; if both are present we prefer the label" (#35729)
    d = _inj("1.12.0", pod_labels={"sidecar.istio.io/inject": "false"}, pod_ann={"sidecar.istio.io/inject": "true"})
    assert not d.inject and d.explicit_source == "label"
    # 1.11: injectRequired reads the annotation only
    d = _inj("1.11.8", pod_labels={"sidecar.istio.io/inject": "false"}, pod_ann={"sidecar.istio.io/inject": "true"})
    assert d.inject and d.explicit_source == "annotation"


def test_policy_values_follow_inject_required() -> None:
    assert _inj("1.22.0").inject  # enabled: inject by default
    assert not _inj("1.22.0", policy="disabled").inject  # disabled: only on opt-in
    assert _inj("1.22.0", policy="disabled", pod_labels={"sidecar.istio.io/inject": "true"}).inject
    # any other value: "Illegal value for autoInject ... Auto injection disabled!" even with an opt-in
    d = _inj("1.22.0", policy="none", pod_labels={"sidecar.istio.io/inject": "true"})
    assert not d.inject and d.blocker == "policy"
    # an unrecognised value is no opt-in: inject stays false, the default is not used
    d = _inj("1.22.0", pod_labels={"sidecar.istio.io/inject": "enabled"})
    assert not d.inject and d.blocker == "explicit"
