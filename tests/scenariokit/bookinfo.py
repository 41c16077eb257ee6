"""The bookinfo mesh (istio.io samples) plus the sleep/httpbin pairs of the mTLS migration task.

``bookinfo_world()`` returns a *healthy* mesh; a scenario mutates one thing (a label, a
DestinationRule, a bind address) and lets the kit derive every output. Keyword options cover
the common knobs so most scenarios are a one-liner.
"""

from __future__ import annotations

from typing import Any

from tests.scenariokit.world import (
    Container,
    ControlPlane,
    MeshConfig,
    Namespace,
    Port,
    Probe,
    ProxyState,
    Request,
    Service,
    ServicePort,
    Workload,
    World,
    cr,
)

_HUB = "docker.io/istio"


def _app(name: str, ns: str, version: str, image: str, port: int = 9080, *, sa: str | None = None,
         port_name: str = "") -> Workload:
    return Workload(
        name=f"{name}-{version}" if version else name,
        namespace=ns,
        labels={"app": name, "version": version} if version else {"app": name},
        service_account=sa or (f"bookinfo-{name}" if version else name),
        containers=[Container(name=name, image=image, ports=[Port(port, name=port_name)],
                              readiness=None)],
    )


def bookinfo_world(version: str = "1.22.3", *, native_sidecars: bool | None = None, access_log: bool = True,
                   access_log_encoding: str = "TEXT", auto_mtls: bool = True, registry_only: bool = False,
                   with_migration_namespaces: bool = True, with_gateway: bool = True,
                   istioctl_version: str | None = None, traffic: bool = True, **extra: Any) -> World:
    """Healthy bookinfo in ``default`` (injected) + sleep/httpbin in ``foo`` (injected) and ``legacy`` (not)."""
    mesh = MeshConfig(
        access_log_file="/dev/stdout" if access_log else "",
        access_log_encoding="JSON" if access_log_encoding.upper() == "JSON" else "TEXT",
        enable_auto_mtls=auto_mtls,
        outbound_traffic_policy="REGISTRY_ONLY" if registry_only else "ALLOW_ANY",
    )
    w = World(istio_version=version, istioctl_version=istioctl_version, native_sidecars=native_sidecars,
              control_plane=ControlPlane(mesh=mesh), **extra)
    w.namespaces = [
        Namespace("default", {"istio-injection": "enabled"}),
        Namespace("istio-system", {}),
        Namespace("kube-system", {}),
    ]
    img = "docker.io/istio/examples-bookinfo-{}-v{}:1.20.2"
    w.workloads = [
        _app("productpage", "default", "v1", img.format("productpage", 1)),
        _app("details", "default", "v1", img.format("details", 1)),
        _app("ratings", "default", "v1", img.format("ratings", 1)),
        _app("reviews", "default", "v1", img.format("reviews", 1), sa="bookinfo-reviews"),
        _app("reviews", "default", "v2", img.format("reviews", 2), sa="bookinfo-reviews"),
        _app("reviews", "default", "v3", img.format("reviews", 3), sa="bookinfo-reviews"),
    ]
    for i, wl in enumerate(w.workloads):
        wl.node_index = i % 3
        wl.containers[0].readiness = None
    w.services = [
        Service(n, "default", [ServicePort(9080, "http")], selector={"app": n}, labels={"app": n, "service": n})
        for n in ("productpage", "details", "ratings", "reviews")
    ]
    # istio-system: istiod and the ingress gateway (istio-proxy is its only container)
    w.workloads.append(Workload(
        name="istiod", namespace="istio-system", service_account="istiod",
        labels={"app": "istiod", "istio": "pilot", "istio.io/rev": "default", "sidecar.istio.io/inject": "false"},
        containers=[Container("discovery", f"{_HUB}/pilot:{version}",
                              ports=[Port(8080), Port(15010), Port(15012), Port(15017), Port(15014)])],
    ))
    if with_gateway:
        w.workloads.append(Workload(
            name="istio-ingressgateway", namespace="istio-system", service_account="istio-ingressgateway-service-account",
            labels={"app": "istio-ingressgateway", "istio": "ingressgateway", "sidecar.istio.io/inject": "true"},
            containers=[], proxy_type="router", node_index=1,
        ))
        w.services.append(Service(
            "istio-ingressgateway", "istio-system",
            [ServicePort(15021, "status-port", 15021), ServicePort(80, "http2", 8080), ServicePort(443, "https", 8443)],
            selector={"app": "istio-ingressgateway", "istio": "ingressgateway"}, type="LoadBalancer",
            labels={"app": "istio-ingressgateway", "istio": "ingressgateway"},
        ))
        w.istio += [
            cr("Gateway", "bookinfo-gateway", "default", {
                "selector": {"istio": "ingressgateway"},
                "servers": [{"port": {"number": 8080, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}],
            }),
            cr("VirtualService", "bookinfo", "default", {
                "hosts": ["*"], "gateways": ["bookinfo-gateway"],
                "http": [{
                    "match": [{"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static"}},
                              {"uri": {"exact": "/login"}}, {"uri": {"exact": "/logout"}},
                              {"uri": {"prefix": "/api/v1/products"}}],
                    "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}],
                }],
            }),
        ]
    w.services.append(Service("istiod", "istio-system",
                              [ServicePort(15010, "grpc-xds"), ServicePort(15012, "https-dns"),
                               ServicePort(443, "https-webhook", 15017), ServicePort(15014, "http-monitoring")],
                              selector={"app": "istiod", "istio": "pilot"}, labels={"app": "istiod"}))
    if with_migration_namespaces:
        w.namespaces += [Namespace("foo", {"istio-injection": "enabled"}), Namespace("legacy", {})]
        for ns in ("foo", "legacy"):
            w.workloads.append(Workload(
                name="sleep", namespace=ns, labels={"app": "sleep"}, service_account="sleep", node_index=2,
                containers=[Container("sleep", "curlimages/curl:8.7.1", ports=[])],
            ))
            w.workloads.append(Workload(
                name="httpbin", namespace=ns, labels={"app": "httpbin", "version": "v1"}, service_account="httpbin",
                containers=[Container("httpbin", "docker.io/kong/httpbin:0.1.0", ports=[Port(8080)])], node_index=1,
            ))
            w.services.append(Service("httpbin", ns, [ServicePort(8000, "http", 8080)], selector={"app": "httpbin"},
                                      labels={"app": "httpbin", "service": "httpbin"}))
            w.services.append(Service("sleep", ns, [ServicePort(80, "http")], selector={"app": "sleep"},
                                      labels={"app": "sleep", "service": "sleep"}))
    if traffic:
        w.traffic = [
            Request("default/productpage-v1", "details:9080", "/details/0", count=2),
            Request("default/productpage-v1", "reviews:9080", "/reviews/0", count=3),
            Request("default/reviews-v2", "ratings:9080", "/ratings/0", count=2),
        ]
        if with_migration_namespaces:
            w.traffic.append(Request("foo/sleep", "httpbin.foo:8000", "/ip", count=1))
    return w


def proxy(**kw: Any) -> ProxyState:
    """Shorthand for ProxyState in scenario modules."""
    return ProxyState(**kw)


def readiness(path: str = "/health", port: int = 9080) -> Probe:
    return Probe(path=path, port=port)
