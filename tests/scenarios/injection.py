"""Scenarios for the injection playbook (``INJ-*``): one world per cause, plus healthy
worlds and look-alikes that must not be blamed on injection.

Each failing world changes exactly one thing in the healthy bookinfo mesh (a namespace label,
a pod-template label, the injector ConfigMap, the webhook configuration, istiod) and lets the
kit derive every output from it, so the pods, webhooks, events and ConfigMaps agree.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.scenariokit import Expect, Scenario
from tests.scenariokit.bookinfo import bookinfo_world, proxy
from tests.scenariokit.world import Container, Namespace, Port, Workload, World

ALL_INJ = [
    "INJ-NS-LABEL", "INJ-POD-PREDATES", "INJ-LABEL-PRECEDENCE", "INJ-REV-MISSING", "INJ-POD-OPTOUT",
    "INJ-ANNOTATION-OPTIN", "INJ-ANNOTATION-MISPLACED", "INJ-INVALID-VALUE", "INJ-HOSTNETWORK", "INJ-SYSTEM-NS",
    "INJ-POLICY-DISABLED", "INJ-WEBHOOK-DOWN", "INJ-WEBHOOK-FAILOPEN", "INJ-MULTI-WEBHOOK", "INJ-INIT-FAIL",
    "INJ-PROXY-SKEW", "INJ-GATEWAY-IMAGE-AUTO", "INJ-AMBIENT-CONFLICT",
]


def _w(mutate: Callable[[World], None] | None = None, **kw: object) -> World:
    w = bookinfo_world(**kw)  # type: ignore[arg-type]
    if mutate is not None:
        mutate(w)
    return w


def _wl(w: World, key: str) -> Workload:
    wl = w.workload(key)
    assert wl is not None, key
    return wl


def _ns(w: World, name: str, labels: dict[str, str]) -> None:
    ns = w.namespace(name)
    if ns is None:
        w.namespaces.append(Namespace(name, dict(labels)))
    else:
        ns.labels = dict(labels)


def _except(*codes: str) -> list[str]:
    return [c for c in ALL_INJ if c not in codes]


def _fail(name: str, desc: str, target: str, first: str, world: World, *, also: list[str] | None = None,
          symptom: str = "injection", absent: list[str] | None = None) -> Scenario:
    return Scenario("injection", name, desc, target, symptom, world,
                    Expect(findings_first=first, findings=[first, *(also or [])],
                           absent=absent if absent is not None else _except(first, *(also or []))))


def _set_label(key: str, k: str, v: str) -> Callable[[World], None]:
    def m(w: World) -> None:
        _wl(w, key).labels[k] = v
    return m


# -- failing worlds --------------------------------------------------------------------------------

def _predates(w: World) -> None:
    _wl(w, "default/productpage-v1").predates_injection = True


def _precedence(w: World) -> None:
    w.control_plane.revisions = ["default", "canary"]
    _ns(w, "foo", {"istio-injection": "disabled", "istio.io/rev": "canary"})


def _rev_missing(w: World) -> None:
    _ns(w, "foo", {"istio.io/rev": "canary"})


def _revision_only(w: World) -> None:
    w.control_plane.revisions = ["1-22"]


def _annotation_optin(w: World) -> None:
    _wl(w, "legacy/httpbin").annotations["sidecar.istio.io/inject"] = "true"


def _misplaced(w: World) -> None:
    _wl(w, "legacy/httpbin").deployment_annotations["sidecar.istio.io/inject"] = "true"


def _hostnetwork(w: World) -> None:
    w.workloads.append(Workload(name="netprobe", namespace="default", labels={"app": "netprobe"}, host_network=True,
                                containers=[Container("netprobe", "docker.io/nicolaka/netshoot:v0.13", ports=[Port(8080)])]))


def _system_ns(w: World) -> None:
    w.workloads.append(Workload(name="metrics-agent", namespace="kube-system",
                                labels={"app": "metrics-agent", "sidecar.istio.io/inject": "true"},
                                containers=[Container("agent", "registry.k8s.io/metrics-server/metrics-server:v0.7.1", ports=[Port(10250)])]))


def _policy_disabled(w: World) -> None:
    w.control_plane.injector_policy = "disabled"


def _never_selector(w: World) -> None:
    w.control_plane.never_inject_selector = [{"matchLabels": {"app": "ratings"}}]


def _webhook_down(w: World) -> None:
    w.control_plane.istiod_ready = False
    w.control_plane.webhook_error = "no_endpoints"
    _wl(w, "default/productpage-v1").new_pods = True


def _webhook_x509(w: World) -> None:
    w.control_plane.webhook_error = "x509"
    _wl(w, "default/details-v1").new_pods = True


def _failopen(w: World) -> None:
    w.control_plane.failure_policy = "Ignore"
    w.control_plane.istiod_ready = False
    _wl(w, "default/productpage-v1").new_pods = True


def _multi(w: World) -> None:
    w.control_plane.tags = {"default": "default"}


def _init_fail(w: World) -> None:
    _wl(w, "default/details-v1").init_failure = "NET_ADMIN"


def _skew(w: World) -> None:
    _wl(w, "default/reviews-v1").proxy = proxy(version="1.21.2")


def _gateway_auto(w: World) -> None:
    _ns(w, "edge", {"istio-injection": "disabled"})
    w.workloads.append(Workload(name="edge-gateway", namespace="edge", service_account="edge-gateway",
                                labels={"app": "edge-gateway", "istio": "edge-gateway"}, containers=[], proxy_type="router"))


def _ambient(w: World) -> None:
    _ns(w, "foo", {"istio-injection": "enabled", "istio.io/dataplane-mode": "ambient"})


FAILING = [
    _fail("ns-label-legacy", "httpbin in the unlabelled namespace legacy: no webhook selects it",
          "deploy/httpbin -n legacy", "INJ-NS-LABEL", _w()),
    _fail("pod-predates-label", "productpage's pod was created before default got istio-injection=enabled",
          "deploy/productpage-v1 -n default", "INJ-POD-PREDATES", _w(_predates)),
    _fail("label-precedence-disabled", "foo has istio-injection=disabled and istio.io/rev=canary: disabled wins",
          "deploy/httpbin -n foo", "INJ-LABEL-PRECEDENCE", _w(_precedence)),
    _fail("rev-missing-canary", "foo asks for revision canary, only the default revision is installed",
          "deploy/httpbin -n foo", "INJ-REV-MISSING", _w(_rev_missing)),
    _fail("rev-missing-injection-enabled", "istio-injection=enabled while only revision 1-22 is installed",
          "deploy/productpage-v1 -n default", "INJ-REV-MISSING", _w(_revision_only)),
    _fail("pod-optout", "ratings' pod template says sidecar.istio.io/inject=false in an injected namespace",
          "deploy/ratings-v1 -n default", "INJ-POD-OPTOUT", _w(_set_label("default/ratings-v1", "sidecar.istio.io/inject", "false"))),
    _fail("annotation-optin", "httpbin opts in with the annotation in the unlabelled namespace legacy",
          "deploy/httpbin -n legacy", "INJ-ANNOTATION-OPTIN", _w(_annotation_optin)),
    _fail("annotation-misplaced", "sidecar.istio.io/inject=true on the Deployment metadata, not the pod template",
          "deploy/httpbin -n legacy", "INJ-ANNOTATION-MISPLACED", _w(_misplaced), also=["INJ-NS-LABEL"]),
    _fail("invalid-value-enabled", "details' label sidecar.istio.io/inject=enabled is read as false",
          "deploy/details-v1 -n default", "INJ-INVALID-VALUE", _w(_set_label("default/details-v1", "sidecar.istio.io/inject", "enabled"))),
    _fail("invalid-value-yes-unlabelled", "label sidecar.istio.io/inject=yes in legacy: the object webhook needs exactly true",
          "deploy/httpbin -n legacy", "INJ-INVALID-VALUE", _w(_set_label("legacy/httpbin", "sidecar.istio.io/inject", "yes"))),
    _fail("hostnetwork", "a hostNetwork pod in the injected namespace default",
          "deploy/netprobe -n default", "INJ-HOSTNETWORK", _w(_hostnetwork)),
    _fail("system-namespace", "a pod in kube-system opts in; the injector skips kube-system",
          "deploy/metrics-agent -n kube-system", "INJ-SYSTEM-NS", _w(_system_ns)),
    _fail("policy-disabled", "the injector ConfigMap says policy: disabled",
          "deploy/productpage-v1 -n default", "INJ-POLICY-DISABLED", _w(_policy_disabled)),
    _fail("never-inject-selector", "neverInjectSelector matches app=ratings",
          "deploy/ratings-v1 -n default", "INJ-POLICY-DISABLED", _w(_never_selector)),
    _fail("webhook-down-no-endpoints", "istiod is not ready: productpage's ReplicaSet cannot create pods (FailedCreate)",
          "deploy/productpage-v1 -n default", "INJ-WEBHOOK-DOWN", _w(_webhook_down), absent=_except("INJ-WEBHOOK-DOWN")),
    _fail("webhook-down-auto", "the same outage, diagnosed without a symptom",
          "deploy/productpage-v1 -n default", "INJ-WEBHOOK-DOWN", _w(_webhook_down), symptom="auto", absent=_except("INJ-WEBHOOK-DOWN")),
    _fail("webhook-x509", "the API server does not trust the webhook certificate",
          "deploy/details-v1 -n default", "INJ-WEBHOOK-DOWN", _w(_webhook_x509)),
    _fail("webhook-failopen", "failurePolicy Ignore and istiod down: productpage was admitted without a sidecar",
          "deploy/productpage-v1 -n default", "INJ-WEBHOOK-FAILOPEN", _w(_failopen), also=["INJ-POD-PREDATES"]),
    _fail("multi-webhook", "a stale 'default' revision tag overlaps the default revision's webhooks",
          "deploy/reviews-v2 -n default", "INJ-MULTI-WEBHOOK", _w(_multi)),
    _fail("init-fail-net-admin", "istio-init lacks NET_ADMIN and crash-loops",
          "deploy/details-v1 -n default", "INJ-INIT-FAIL", _w(_init_fail)),
    _fail("proxy-skew-after-upgrade", "reviews-v1 still runs the 1.21 proxy after the 1.22 upgrade",
          "deploy/reviews-v1 -n default", "INJ-PROXY-SKEW", _w(_skew)),
    _fail("gateway-image-auto", "a gateway Deployment with image: auto in a namespace with istio-injection=disabled",
          "deploy/edge-gateway -n edge", "INJ-GATEWAY-IMAGE-AUTO", _w(_gateway_auto), also=["INJ-NS-LABEL"]),
    _fail("ambient-conflict", "foo is labelled ambient and istio-injection=enabled: its pods get sidecars",
          "deploy/httpbin -n foo", "INJ-AMBIENT-CONFLICT", _w(_ambient)),
]


# -- healthy and look-alike worlds -------------------------------------------------------------------

def _healthy(name: str, desc: str, target: str, world: World, *, symptom: str = "injection",
             absent: list[str] | None = None, verdict: str = "no_problem_found") -> Scenario:
    return Scenario("injection", name, desc, target, symptom, world,
                    Expect(findings_first=None, findings=[], absent=absent if absent is not None else list(ALL_INJ),
                           verdict=verdict))  # type: ignore[arg-type]


def _proxy_named_containers(w: World) -> None:
    w.workloads.append(Workload(name="edge-proxy", namespace="legacy", labels={"app": "edge-proxy"},
                                containers=[Container("proxy", "docker.io/library/nginx:1.27", ports=[Port(8080)]),
                                            Container("istio-proxy-sidecar", "docker.io/envoyproxy/envoy:v1.30.1", ports=[Port(9901)])]))


def _hostnet_unlabelled(w: World) -> None:
    w.workloads.append(Workload(name="node-agent", namespace="legacy", labels={"app": "node-agent"}, host_network=True,
                                containers=[Container("agent", "docker.io/prom/node-exporter:v1.8.1", ports=[Port(9100)])]))


def _kube_system_pod(w: World) -> None:
    w.workloads.append(Workload(name="coredns", namespace="kube-system", labels={"k8s-app": "kube-dns"},
                                containers=[Container("coredns", "registry.k8s.io/coredns/coredns:v1.11.1", ports=[Port(53, protocol="UDP")])]))


def _ambient_ns(w: World) -> None:
    # an ambient namespace needs the ambient data plane (istio-cni, ztunnel) to be in the mesh
    from tests.scenariokit.ambient import Ambient

    _ns(w, "foo", {"istio.io/dataplane-mode": "ambient"})
    w.ambient = Ambient()


def _yes_in_injected(w: World) -> None:
    _wl(w, "default/details-v1").labels["sidecar.istio.io/inject"] = "yes"


def _failopen_latent(w: World) -> None:
    w.control_plane.failure_policy = "Ignore"


HEALTHY = [
    _healthy("healthy-native-sidecar-1-24", "bookinfo on 1.24 with native sidecars: productpage is injected correctly",
             "deploy/productpage-v1 -n default", bookinfo_world("1.24.1", native_sidecars=True)),
    _healthy("healthy-classic-sidecar-1-20", "bookinfo on 1.20 with classic sidecar containers",
             "deploy/reviews-v2 -n default", bookinfo_world("1.20.8")),
    _healthy("healthy-ingress-gateway", "the ingress gateway is injected through its sidecar.istio.io/inject=true label",
             "deploy/istio-ingressgateway -n istio-system", _w()),
    _healthy("lookalike-istiod-itself", "istiod has no sidecar, by design: not an injection problem",
             "deploy/istiod -n istio-system", _w()),
    _healthy("lookalike-hostnetwork-node-agent", "a hostNetwork node agent in an unlabelled namespace is deliberately outside",
             "deploy/node-agent -n legacy", _w(_hostnet_unlabelled)),
    _healthy("lookalike-kube-system-pod", "coredns in kube-system without any opt-in",
             "deploy/coredns -n kube-system", _w(_kube_system_pod)),
    _healthy("lookalike-ambient-namespace", "an ambient namespace: pods are in the mesh without a sidecar",
             "deploy/httpbin -n foo", _w(_ambient_ns)),
    _healthy("lookalike-yes-in-injected-namespace", "sidecar.istio.io/inject=yes where the namespace webhook is called: injected",
             "deploy/details-v1 -n default", _w(_yes_in_injected)),
    _healthy("lookalike-failopen-latent", "failurePolicy Ignore but istiod healthy and every pod injected",
             "deploy/productpage-v1 -n default", _w(_failopen_latent)),
    Scenario("injection", "lookalike-containers-named-proxy",
             "app containers named proxy and istio-proxy-sidecar in the unlabelled legacy namespace: not in the mesh",
             "deploy/edge-proxy -n legacy", "injection", _w(_proxy_named_containers),
             Expect(findings_first="INJ-NS-LABEL", findings=["INJ-NS-LABEL"], absent=_except("INJ-NS-LABEL"))),
    Scenario("injection", "lookalike-legacy-client-auto",
             "a deliberately non-injected client in auto mode: only the informational namespace-label finding",
             "deploy/sleep -n legacy", "auto", _w(),
             Expect(findings_first="INJ-NS-LABEL", findings=["INJ-NS-LABEL"], absent=_except("INJ-NS-LABEL"))),
]

SCENARIOS = FAILING + HEALTHY
