"""Kubernetes model parsing: every kube fixture parses, plus targeted checks on real content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from istio_doctor.evidence.errors import ParseError
from istio_doctor.evidence.kube import (
    ConfigMap,
    CustomResourceDefinition,
    Deployment,
    EndpointSlice,
    Event,
    K8sObject,
    LabelSelector,
    MutatingWebhookConfiguration,
    Namespace,
    Pod,
    ReplicaSet,
    Service,
    WorkloadRef,
    parse_kube_list,
    parse_kube_object,
    pod_template_of,
)
from istio_doctor.evidence.meshconfig import control_plane_configs

FIX = Path(__file__).parent / "fixtures" / "kube"
KUBE_FILES = sorted(p for p in FIX.rglob("*") if p.is_file() and p.name != "SOURCES.md")


def _pod(path: str) -> Pod:
    objs = parse_kube_list((FIX / path).read_text(), K8sObject)
    pods = [p for p in (pod_template_of(o) for o in objs) if p is not None]
    assert len(pods) >= 1
    return pods[0]


@pytest.mark.parametrize("path", KUBE_FILES, ids=lambda p: str(p.relative_to(FIX)))
def test_every_kube_fixture_parses(path: Path) -> None:
    objs = parse_kube_list(path.read_text(), K8sObject, command=f"cat {path.name}")
    assert objs, "every fixture holds at least one object"
    for o in objs:
        assert o.kind and o.name
        # workload manifests must yield a pod template the pod model understands
        if o.kind in {"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"}:
            assert pod_template_of(o) is not None


def test_fixture_walk_is_not_empty() -> None:
    assert len(KUBE_FILES) >= 60


# -- sidecar detection on real injector output --------------------------------------------


def test_native_sidecar_current_injection() -> None:
    pod = _pod("inject/hello.yaml.injected")
    assert pod.has_sidecar and pod.is_native_sidecar
    assert pod.sidecar is not None and pod.sidecar.restart_policy == "Always"
    assert [c.name for c in pod.app_containers] == ["hello"]
    assert pod.proxy_image == "registry.istio.io/testing/proxyv2:latest"
    status = pod.injection_status
    assert status is not None and status.init_containers == ["istio-init", "istio-proxy"] and status.containers == []
    assert pod.revision == "default"
    assert not pod.is_gateway


def test_classic_sidecar_old_injection() -> None:
    pod = _pod("inject/hello-old-version.yaml.injected")
    assert pod.has_sidecar and not pod.is_native_sidecar
    assert pod.injection_status is not None and pod.injection_status.containers == ["istio-proxy"]


@pytest.mark.parametrize("path", ["inject/native-sidecar-opt-out.yaml.injected"])
def test_native_sidecar_opt_out_is_classic(path: str) -> None:
    pod = _pod(path)
    assert pod.kind == "Pod" and pod.has_sidecar and not pod.is_native_sidecar


def test_cni_injection_uses_validation_init_container() -> None:
    pod = _pod("inject/hello.yaml.cni.injected")
    assert pod.is_native_sidecar
    assert [c.name for c in pod.spec.init_containers] == ["istio-validation", "istio-proxy"]


def test_not_injected_host_network_and_opt_out() -> None:
    hn = _pod("inject/hello-host-network.yaml.injected")
    assert hn.spec.host_network and not hn.has_sidecar and hn.injection_status is None
    ignore = _pod("inject/hello-ignore.yaml.injected")
    assert not ignore.has_sidecar
    assert ignore.inject_annotation == "false" or ignore.inject_label == "false"
    plain = _pod("inject/hello.yaml")
    assert not plain.has_sidecar and plain.revision is None


def test_gateway_pod_has_only_the_proxy() -> None:
    gw = _pod("inject/gateway.yaml.injected")
    assert gw.has_sidecar and not gw.is_native_sidecar and gw.app_containers == [] and gw.is_gateway


def test_proxyless_grpc_is_not_a_sidecar() -> None:
    pod = _pod("inject/grpc-simple.yaml.injected")
    assert pod.injection_status is not None  # injected, but with the grpc template
    assert not pod.has_sidecar


def test_lookalike_container_names_are_not_the_sidecar() -> None:
    pod = Pod.model_validate(
        {
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {
                "containers": [{"name": "proxy"}, {"name": "istio-proxy-sidecar"}],
                # an init container named istio-proxy without restartPolicy runs to completion
                "initContainers": [{"name": "istio-proxy"}],
            },
        }
    )
    assert pod.sidecar is None and not pod.has_sidecar and not pod.is_native_sidecar
    assert [c.name for c in pod.app_containers] == ["proxy", "istio-proxy-sidecar"]


def test_uid_1337_detected_from_pod_or_container_security_context() -> None:
    pod = Pod.model_validate(
        {
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "securityContext": {"runAsUser": 1337},
                "containers": [{"name": "a"}, {"name": "b", "securityContext": {"runAsUser": 1000}}, {"name": "istio-proxy"}],
            },
        }
    )
    assert pod.uid_1337_containers == ["a"]


def test_probes_of_app_containers() -> None:
    pod = _pod("inject/hello-probes.yaml.injected")
    kinds = {(p.container, p.kind) for p in pod.probes}
    assert ("hello", "readiness") in kinds and ("world", "liveness") in kinds
    assert all(p.container != "istio-proxy" for p in pod.probes)


# -- constructed live objects -----------------------------------------------------------


def test_live_pod_statuses() -> None:
    pods = parse_kube_list((FIX / "live/pods_native_and_classic.json").read_text(), Pod)
    native, classic = pods
    assert native.is_native_sidecar and native.ready and native.ip == "10.244.1.17"
    ps = native.sidecar_status
    assert ps is not None and ps.ready and ps.state.summary == "Running"
    assert native.owner_workload == WorkloadRef("Deployment", "hello")
    assert not classic.is_native_sidecar and not classic.ready
    cs = classic.container_status("istio-proxy")
    assert cs is not None and cs.restart_count == 3 and cs.state.waiting is not None
    assert cs.state.waiting.reason == "CrashLoopBackOff"
    init = classic.container_status("istio-init")
    assert init is not None and init.state.terminated is not None and init.state.terminated.exit_code == 0
    ready = classic.condition("Ready")
    assert ready is not None and ready.reason == "ContainersNotReady"


def test_service_selection_and_headless() -> None:
    svcs = {s.name: s for s in parse_kube_list((FIX / "live/services.json").read_text(), Service)}
    pods = parse_kube_list((FIX / "live/pods_native_and_classic.json").read_text(), Pod)
    hello, headless = svcs["hello"], svcs["hello-headless"]
    assert hello.spec.ports[0].target_port == "http" and not hello.is_headless
    assert headless.is_headless and headless.spec.ports[0].effective_target_port == 9000
    assert all(hello.selects(p) for p in pods)
    assert hello.fqdn() == "hello.default.svc.cluster.local"
    other_ns = pods[0].model_copy(update={"metadata": pods[0].metadata.model_copy(update={"namespace": "other"})})
    assert not hello.selects(other_ns)


def test_endpointslice_readiness() -> None:
    (es,) = parse_kube_list((FIX / "live/endpointslices.json").read_text(), EndpointSlice)
    assert es.service_name == "hello"
    assert es.ready_addresses == ["10.244.1.17"] and es.not_ready_addresses == ["10.244.2.23"]


def test_events_and_replica_failure() -> None:
    evs = parse_kube_list((FIX / "live/events.json").read_text(), Event)
    assert evs[0].reason == "FailedCreate" and evs[0].count == 14 and evs[0].involved_object.kind == "ReplicaSet"
    assert evs[1].last_seen is not None and evs[1].last_seen.microsecond == 123456
    (rs,) = parse_kube_list((FIX / "live/replicasets.json").read_text(), ReplicaSet)
    rf = rs.replica_failure
    assert rf is not None and "no endpoints available" in (rf.message or "")


def test_webhook_ca_bundle_is_never_kept() -> None:
    (mwc,) = parse_kube_list((FIX / "live/webhooks_canary.json").read_text(), MutatingWebhookConfiguration)
    wh = mwc.webhooks[0]
    assert wh.client_config.has_ca_bundle and wh.failure_policy == "Ignore"
    assert "LS0t" not in repr(mwc) and "LS0t" not in mwc.model_dump_json()


# -- webhook selectors from the installed chart -------------------------------------------


def _namespaces() -> dict[str, Namespace]:
    return {n.name: n for n in parse_kube_list((FIX / "live/namespaces.json").read_text(), Namespace)}


def test_webhook_selectors_from_golden_install() -> None:
    (mwc,) = parse_kube_list((FIX / "install/pilot_default.golden.yaml").read_text(), MutatingWebhookConfiguration)
    hooks = {w.name: w for w in mwc.webhooks}
    assert set(hooks) == {
        "rev.namespace.sidecar-injector.istio.io",
        "rev.object.sidecar-injector.istio.io",
        "namespace.sidecar-injector.istio.io",
        "object.sidecar-injector.istio.io",
    }
    assert all(w.failure_policy == "Fail" and w.intercepts_pod_create for w in mwc.webhooks)
    assert not any(w.client_config.has_ca_bundle for w in mwc.webhooks)
    svc = hooks["namespace.sidecar-injector.istio.io"].client_config.service
    assert svc is not None and (svc.name, svc.namespace, svc.path) == ("istiod", "istio-system", "/inject")

    ns = _namespaces()

    def firing(ns_name: str, pod_labels: dict[str, str] | None = None) -> set[str]:
        return {n for n, w in hooks.items() if w.matches(ns[ns_name].labels, pod_labels or {})}

    assert firing("default") == {"namespace.sidecar-injector.istio.io"}
    # istio.io/rev=canary: the default-revision webhooks of this chart do not fire
    assert firing("canary-apps") == set()
    # both labels: istio-injection wins, rev.* webhooks require it to be absent
    assert firing("both") == {"namespace.sidecar-injector.istio.io"}
    assert firing("plain") == set()
    assert firing("plain", {"sidecar.istio.io/inject": "true"}) == {"object.sidecar-injector.istio.io"}
    assert firing("default", {"sidecar.istio.io/inject": "false"}) == set()
    assert ns["ambient"].dataplane_mode == "ambient" and ns["both"].rev_label == "canary"


def test_canary_webhook_matches_canary_namespace_only() -> None:
    (mwc,) = parse_kube_list((FIX / "live/webhooks_canary.json").read_text(), MutatingWebhookConfiguration)
    ns = _namespaces()
    wh = mwc.webhooks[0]
    assert wh.matches(ns["canary-apps"].labels, {})
    assert not wh.matches(ns["both"].labels, {}) and not wh.matches(ns["default"].labels, {})


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {"a": "b"}, True),
        ({"matchLabels": {"a": "b"}}, {"a": "b", "c": "d"}, True),
        ({"matchLabels": {"a": "b"}}, {"a": "x"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["b"]}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["b"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["b"]}]}, {"a": "b"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
        ({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, {"a": "b"}, False),
    ],
)
def test_label_selector_semantics(selector: dict, labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector.model_validate(selector).matches(labels) is expected


# -- configmaps -> control plane configs ----------------------------------------------------


def test_control_plane_configs_from_golden_install() -> None:
    cms = parse_kube_list((FIX / "install/pilot_default.golden.yaml").read_text(), ConfigMap)
    cfg = control_plane_configs(cms)
    mesh = cfg.mesh["default"]
    assert mesh.root_namespace == "istio-control" and mesh.enable_auto_mtls  # default applied
    assert mesh.outbound_traffic_policy.mode == "ALLOW_ANY" and mesh.access_log_file == ""
    assert mesh.default_config.discovery_address == "istiod.istio-system.svc:15012"
    inj = cfg.injectors["default"]
    assert inj.enabled and inj.default_templates == ["sidecar"] and "gateway" in inj.templates
    assert inj.values.resolved_proxy_image == "registry.istio.io/release/proxyv2:1.1.4"
    assert not inj.values.enable_namespaces_by_default and inj.values.rewrite_app_http_probe is True


def test_revisioned_injector_configmap() -> None:
    cms = parse_kube_list((FIX / "configmaps/sidecar-injector-configmap-with-revision-canary.yaml").read_text(), ConfigMap)
    cfg = control_plane_configs(cms)
    assert set(cfg.injectors) == {"canary"} and cfg.mesh == {}
    assert cfg.injectors["canary"].values.resolved_proxy_image == "registry.istio.io/release/proxyv2:1.3.1"
    assert cfg.injector_for("canary") is not None and cfg.injector_for(None) is None


def test_injector_config_policy_disabled_and_bad_values() -> None:
    cm = ConfigMap.model_validate(
        {"kind": "ConfigMap", "metadata": {"name": "istio-sidecar-injector"}, "data": {"config": "policy: disabled\nneverInjectSelector:\n- matchLabels: {a: b}\n", "values": "{}"}}
    )
    inj = control_plane_configs([cm]).injectors["default"]
    assert not inj.enabled and inj.never_inject_selector[0].matches({"a": "b"})
    bad = cm.model_copy(update={"data": {"config": "policy: enabled", "values": "{not json"}})
    with pytest.raises(ParseError, match="istio-sidecar-injector"):
        control_plane_configs([bad])


# -- parser behaviour ----------------------------------------------------------------------


def test_list_kinds_and_single_object_forms() -> None:
    # kind filter on a whole install manifest, a List of Deployments, a single object
    deps = parse_kube_list((FIX / "install/pilot_default.golden.yaml").read_text(), Deployment)
    assert [d.name for d in deps] == ["istiod"]
    lst = parse_kube_list((FIX / "inject/list.yaml.injected").read_text(), Deployment)
    assert [d.name for d in lst] == ["hello-v1", "hello-v2"]
    assert lst[0].template_pod().is_native_sidecar
    one = parse_kube_object((FIX / "inject/pod.yaml.injected").read_text(), Pod)
    assert one.has_sidecar


def test_leading_kubectl_warning_lines_are_tolerated() -> None:
    text = "Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice\n" + (FIX / "live/services.json").read_text()
    assert len(parse_kube_list(text, Service)) == 2


def test_crd_versions() -> None:
    crd = CustomResourceDefinition.model_validate(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "httproutes.gateway.networking.k8s.io", "labels": {"gateway.networking.k8s.io/bundle-version": "v1.2.0"}},
            "spec": {"group": "gateway.networking.k8s.io", "versions": [{"name": "v1", "served": True, "storage": True}, {"name": "v1beta1", "served": True, "storage": False}]},
        }
    )
    assert crd.served_versions == ["v1", "v1beta1"] and crd.storage_version == "v1" and crd.bundle_version == "v1.2.0"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty output"),
        ('{"apiVersion": "v1", "kind": "List", "items": [', "invalid JSON"),
        ("kind: Pod\nmetadata: {name: [unclosed\n", "invalid YAML"),
        ("just some words", "expected an object"),
        ('{"kind": "List", "items": {"a": 1}}', "`items` is not a list"),
    ],
)
def test_malformed_input_raises_parse_error_naming_command(text: str, fragment: str) -> None:
    with pytest.raises(ParseError, match=fragment) as ei:
        parse_kube_list(text, Pod, command="kubectl get pods -o json")
    assert ei.value.command == "kubectl get pods -o json"
    assert "kubectl get pods -o json" in str(ei.value)


def test_wrong_field_type_names_the_object() -> None:
    doc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"ports": [{"port": "eighty"}]}}
    with pytest.raises(ParseError, match=r"Service shop/web.*spec\.ports\.0\.port"):
        parse_kube_list(json.dumps(doc), Service, command="kubectl get svc -o json")


def test_parse_kube_object_rejects_zero_or_many() -> None:
    with pytest.raises(ParseError, match="no Pod object"):
        parse_kube_object((FIX / "live/services.json").read_text(), Pod)
    with pytest.raises(ParseError, match="expected one Pod, got 2"):
        parse_kube_object((FIX / "live/pods_native_and_classic.json").read_text(), Pod)
