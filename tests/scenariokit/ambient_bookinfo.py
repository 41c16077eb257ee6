"""A healthy ambient bookinfo: the sidecar kit's bookinfo with ``default`` and ``foo`` enrolled in
ambient (``istio.io/dataplane-mode=ambient``, no injection label), ``legacy`` out of the mesh,
ztunnel and istio-cni on every node, istiod with the ambient profile (Istio 1.24, where ambient is
GA). A scenario changes one thing and lets the kit derive every output.
"""

from __future__ import annotations

from typing import Any

from tests.scenariokit.ambient import Ambient
from tests.scenariokit.bookinfo import bookinfo_world
from tests.scenariokit.world import Container, Namespace, Request, Service, ServicePort, Workload, World, cr

AMBIENT_NS = {"istio.io/dataplane-mode": "ambient"}


def ambient_world(version: str = "1.24.2", *, ambient: Ambient | None = None, **kw: Any) -> World:
    w = bookinfo_world(version, **kw)
    for ns in w.namespaces:
        if ns.name in ("default", "foo"):
            ns.labels = dict(AMBIENT_NS)
    w.ambient = ambient or Ambient()
    w.traffic.append(Request("legacy/sleep", "httpbin.foo:8000", "/ip", count=1))
    return w


def waypoint(w: World, name: str = "waypoint", namespace: str = "default", *, traffic: str | None = None,
             labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A waypoint as `istioctl waypoint apply` creates it (istio.io waypoint page, `waypoint generate`
    output in the corpus) plus the Deployment and Service istiod renders for it (a gateway pod whose
    istio-proxy is its only container; the Service's ports are status-port 15021 + one per listener,
    extractServicePorts in pilot/pkg/config/kube/gateway/deploymentcontroller.go@1.24.2, and the
    ``waypoint`` service of the kiali ztunnel capture)."""
    glabels = dict(labels or {})
    if traffic is not None:
        glabels["istio.io/waypoint-for"] = traffic
    gw = cr("K8sGateway", name, namespace, {"gatewayClassName": "istio-waypoint",
                                            "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]},
            labels=glabels or None)
    w.istio.append(gw)
    if w.namespace(namespace) is None:
        w.namespaces.append(Namespace(namespace, {}))
    w.workloads.append(Workload(
        name=name, namespace=namespace, service_account=name, proxy_type="router", containers=[], node_index=1,
        labels={"gateway.networking.k8s.io/gateway-name": name, "istio.io/gateway-name": name,
                "sidecar.istio.io/inject": "true", "istio.io/dataplane-mode": "none"}))
    w.services.append(Service(
        name, namespace, [ServicePort(15021, "status-port", app_protocol="tcp"), ServicePort(15008, "mesh", app_protocol="hbone")],
        selector={"gateway.networking.k8s.io/gateway-name": name}, labels={"gateway.networking.k8s.io/gateway-name": name},
        annotations={"networking.istio.io/traffic-distribution": "PreferClose"}))
    return gw


__all__ = ["AMBIENT_NS", "Ambient", "Container", "ambient_world", "waypoint"]
