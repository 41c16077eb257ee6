"""The cluster's DNS domain (``cluster.local`` unless the cluster says otherwise).

Istio builds every Service host as ``<name>.<namespace>.svc.<domain>``; a cluster installed with
another domain (``--set values.global.proxy.clusterDomain=corp.internal``) has other host names,
and a check that assumed ``cluster.local`` would match nothing. The domain is read from the
evidence, most specific first:

1. the examined pod's ``istio-proxy`` arguments: the injector writes ``--domain
   $(POD_NAMESPACE).svc.<clusterDomain>`` into every sidecar (the injection template,
   ``tests/fixtures/corpus/istio/inject/pkg-kube-inject/*.injected``), so the pod itself
   states the domain its proxy was started with;
2. the injector's values (``istio-sidecar-injector`` ConfigMap ``values``,
   ``global.proxy.clusterDomain``): what every new sidecar will get;
3. the proxy's bootstrap node id in a config dump (``sidecar~IP~pod.ns~ns.svc.<domain>``);
4. ``cluster.local``, Kubernetes' and Istio's default.

Each source is optional corroboration: a check that reads the domain declares
``Need.CONTROL_PLANE_CONFIGMAPS`` (optional); the pod and dump are read only when the check
already has them.
"""

from __future__ import annotations

from typing import Any

from istio_doctor.engine.mesh.hosts import DEFAULT_DOMAIN


def from_proxy_args(pod: Any) -> str | None:
    """``--domain NS.svc.DOMAIN`` of the pod's istio-proxy container."""
    sc = getattr(pod, "sidecar", None)
    args = list(getattr(sc, "args", None) or []) if sc is not None else []
    for i, a in enumerate(args):
        value = None
        if a == "--domain" and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith("--domain="):
            value = a.split("=", 1)[1]
        if value and ".svc." in value:
            return value.split(".svc.", 1)[1] or None
    return None


def from_node_id(node_id: str) -> str | None:
    """``sidecar~10.1.2.3~pod.ns~ns.svc.corp.internal`` -> ``corp.internal``."""
    parts = node_id.split("~")
    if len(parts) == 4 and ".svc." in parts[3]:
        return parts[3].split(".svc.", 1)[1] or None
    return None


def cluster_domain(*, pod: Any | None = None, injector_values: Any | None = None, node_id: str | None = None) -> tuple[str, str]:
    """(domain, where it was read) from the most specific source present."""
    if pod is not None and (d := from_proxy_args(pod)):
        return d, f"--domain of pod {pod.metadata.namespace}/{pod.metadata.name}'s istio-proxy"
    if injector_values is not None and (d := getattr(injector_values, "cluster_domain", None)):
        return d, "the injector's global.proxy.clusterDomain"
    if node_id and (d := from_node_id(node_id)):
        return d, "the proxy's bootstrap node id"
    return DEFAULT_DOMAIN, "default (no evidence names another)"
