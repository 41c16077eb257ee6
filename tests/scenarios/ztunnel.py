"""Scenarios of the ``ztunnel`` playbook (ambient A2 + identity): connections reset or time out.

Each failing world breaks what ztunnel needs to carry a connection (itself, its in-pod proxy,
xDS, certificates and the CA's trust, the peers' roots, HBONE port 15008, the server's ability to
take HBONE, a live server); the kit writes the ztunnel log lines that follow on both nodes.
"""

from __future__ import annotations

from typing import Any

from tests.scenarios._ambient import control, fail, found, pod, target, world
from tests.scenariokit.world import Container, Namespace, Port, Request, Service, ServicePort, Workload, World

ZT = "ztunnel"


def _netpol(ports: list[int]) -> dict[str, Any]:
    return {"metadata": {"name": "details-allow-app-port", "namespace": "default"},
            "spec": {"podSelector": {"matchLabels": {"app": "details"}}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": p, "protocol": "TCP"} for p in ports]}]}}


def _sidecar_server(w: World) -> None:
    """A namespace still on sidecars that an ambient client calls (httpbin.sidecar:8000)."""
    w.namespaces.append(Namespace("sidecar", {"istio-injection": "enabled"}))
    w.workloads.append(Workload(name="httpbin", namespace="sidecar", labels={"app": "httpbin", "version": "v1"},
                                service_account="httpbin", node_index=1,
                                containers=[Container("httpbin", "docker.io/kong/httpbin:0.1.0", ports=[Port(8080)])]))
    w.services.append(Service("httpbin", "sidecar", [ServicePort(8000, "http", 8080)], selector={"app": "httpbin"},
                              labels={"app": "httpbin", "service": "httpbin"}))
    w.traffic.append(Request("default/productpage-v1", "httpbin.sidecar:8000", "/headers", count=2))


def _terminating(key: str):  # type: ignore[no-untyped-def]
    def m(w: World) -> None:
        wl = w.workload(key)
        assert wl is not None
        wl.replicas, wl.terminating = 2, 1
    return m


def _scenarios() -> list:  # type: ignore[type-arg]
    out = []
    w = world(ztunnel={"kind-worker": "oomkilled"})
    # istio-cni 1.24 annotates a partially added pod "enabled" (no "pending" before 1.25): only ztunnel's state tells
    out.append(fail(ZT, "ztunnel-oomkilled", "the ztunnel of the pod's node is crash-looping (OOMKilled); istio-cni 1.24 "
                    "still annotates the pod enabled", w, target(w, "productpage"), "AMB-ZTUNNEL-UNHEALTHY"))
    w = world(ztunnel={"kind-worker": "oomkilled"}, version="1.26.1")
    out.append(found(ZT, "ztunnel-oomkilled-1-26", "the ztunnel of the pod's node is crash-looping (OOMKilled); istio-cni "
                     "1.26 leaves the pod pending", w, target(w, "productpage"), ("AMB-ZTUNNEL-UNHEALTHY", "AMB-REDIRECTION-PENDING"),
                     first="AMB-ZTUNNEL-UNHEALTHY"))
    w = world(ztunnel={"kind-worker3": "oomkilled"})
    out.append(control(ZT, "lookalike-ztunnel-down-other-node", "ztunnel crash-loops on a node without the pod or its "
                       "peers' traffic", w, target(w, "details"), ruled_out=("AMB-ZTUNNEL-UNHEALTHY",)))

    w = world(draining_nodes=["kind-worker"])
    out.append(fail(ZT, "upgrade-drain", "ztunnel restarted on the pod's node: its first connections were closed by the drain",
                    w, target(w, "productpage"), "AMB-UPGRADE-DRAIN"))
    w = world(cni_version="1.25.0")
    out.append(fail(ZT, "upgrade-skew", "istio-cni upgraded to 1.25 before istiod (1.24)", w, target(w, "productpage"),
                    "AMB-UPGRADE-DRAIN"))
    w = world(ztunnel_version="1.24.3")
    out.append(control(ZT, "lookalike-patch-skew", "ztunnel one patch release ahead of istiod", w, target(w, "productpage"),
                       ruled_out=("AMB-UPGRADE-DRAIN",)))

    w = world(pod_faults={"default/productpage-v1": "dns_bind"})
    out.append(fail(ZT, "dns-bind", "IPv6 disabled in the pod: ztunnel's DNS proxy cannot bind [::1]:15053", w,
                    target(w, "productpage"), "AMB-ZTUNNEL-DNS-BIND"))
    w = world(pod_faults={"default/reviews-v1": "dns_bind"})
    out.append(control(ZT, "lookalike-dns-bind-other-pod", "the same bind failure for another pod of the node", w,
                       target(w, "productpage"), ruled_out=("AMB-ZTUNNEL-DNS-BIND",)))

    w = world(pod_faults={"default/details-v1": "xds_timeout"})
    out.append(fail(ZT, "xds-workload-timeout", "ztunnel has not received the new details pod from istiod", w,
                    target(w, "details"), "AMB-XDS-WORKLOAD-TIMEOUT"))
    w = world(pod_faults={"default/reviews-v2": "xds_timeout"})
    out.append(control(ZT, "lookalike-xds-timeout-other-pod", "an xDS timeout for another pod of the node", w,
                       target(w, "details"), ruled_out=("AMB-XDS-WORKLOAD-TIMEOUT",)))

    w = world(namespace="kube-system")
    out.append(found(ZT, "cert-impersonation", "ztunnel installed in kube-system while istiod trusts istio-system/ztunnel",
                     w, target(w, "productpage"), ("AMB-CERT-IMPERSONATION", "AMB-CERT-UNAVAILABLE"), first="AMB-CERT-IMPERSONATION"))
    w = world(namespace="kube-system", trusted_node_accounts="kube-system/ztunnel")
    out.append(control(ZT, "lookalike-ztunnel-kube-system-trusted", "ztunnel in kube-system, trusted by istiod", w,
                       target(w, "productpage"), ruled_out=("AMB-CERT-IMPERSONATION",)))

    w = world(cert_unavailable=["default/bookinfo-productpage"])
    out.append(fail(ZT, "cert-unavailable", "ztunnel could not fetch the certificate of productpage's identity", w,
                    target(w, "productpage"), "AMB-CERT-UNAVAILABLE"))
    w = world(cert_unavailable=["foo/httpbin"])
    out.append(control(ZT, "lookalike-cert-unavailable-other-identity", "another identity's certificate is unavailable", w,
                       target(w, "productpage"), ruled_out=("AMB-CERT-UNAVAILABLE",)))

    w = world(other_root_nodes=["kind-worker2"])
    out.append(fail(ZT, "trust-chain", "the ztunnel of kind-worker2 trusts another root CA", w, target(w, "productpage"),
                    "AMB-TRUST-CHAIN"))
    w = world(other_root_nodes=["kind-worker", "kind-worker2", "kind-worker3"])
    out.append(control(ZT, "lookalike-root-rotated-everywhere", "every ztunnel moved to the same new root", w,
                       target(w, "productpage"), ruled_out=("AMB-TRUST-CHAIN",)))

    w = world(network_policies=[_netpol([9080])])
    out.append(fail(ZT, "netpol-hbone", "a NetworkPolicy admits details' app port 9080 but not HBONE 15008", w,
                    target(w, "productpage"), "AMB-NETPOL-HBONE"))
    w = world(network_policies=[_netpol([9080])])
    out.append(fail(ZT, "netpol-hbone-server-side", "the same policy, diagnosed from the server pod", w,
                    target(w, "details"), "AMB-NETPOL-HBONE"))
    w = world(network_policies=[_netpol([9080, 15008])])
    out.append(control(ZT, "lookalike-netpol-with-15008", "a NetworkPolicy on details that admits 15008", w,
                       target(w, "productpage"), ruled_out=("AMB-NETPOL-HBONE",)))

    w = world(_sidecar_server, sidecars_accept_hbone=False)
    out.append(fail(ZT, "sidecar-interop", "an ambient client calls a sidecar injected without HBONE support", w,
                    target(w, "productpage"), "AMB-SIDECAR-INTEROP"))
    w = world(_sidecar_server)
    out.append(control(ZT, "lookalike-sidecar-with-hbone", "an ambient client calls a sidecar that takes HBONE", w,
                       target(w, "productpage"), ruled_out=("AMB-SIDECAR-INTEROP",)))

    w = world(_terminating("default/details-v1"))
    out.append(fail(ZT, "rollout-refused", "a details pod is terminating and refuses productpage's first connection", w,
                    target(w, "productpage"), "AMB-ROLLOUT-503"))
    w = world(_terminating("foo/httpbin"))
    out.append(control(ZT, "lookalike-terminating-pod-unused", "a terminating pod nobody talks to", w,
                       target(w, "productpage"), ruled_out=("AMB-ROLLOUT-503",)))
    _ = pod
    return out


SCENARIOS = _scenarios()
