"""Which archive file answers which evidence kind, and how.

The mapping is keyed by :class:`Need` here rather than stored in ``kinds.py``: a kind there
says how to *fetch* evidence from a cluster and how to *parse* it, which every source shares;
where an offline bug-report keeps the same evidence is knowledge about one source, like the
recording format is knowledge about replay. Keeping it in one table beside the archive reader
lets ``tests/test_bugreport.py`` check that every kind defined in ``kinds.py`` has an entry
(a file, or the reason it is not in an archive), so a new kind cannot silently read as
"healthy" offline.

Each answer returns what the live command prints (JSON Lists for ``kubectl get -o json``, the
config dump as is, log text...), so the kind's one parser reads it; a file the archive lacks
raises :class:`Missing` with the path, which the runner turns into an unknown naming it.
Paths follow istio/istio ``tools/bug-report/pkg`` (``archive.go``, ``bugreport.go``,
``content.go``, ``common.go``) at 86c9f01 and its history for older layouts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from istio_doctor.evidence.bugreport import convert
from istio_doctor.evidence.bugreport.archive import BugReportArchive
from istio_doctor.evidence.kinds import Need

__all__ = ["ABSENT", "ANSWERS", "Ask", "BugReport", "Missing", "PROXY_SKIPPED_NAMESPACES"]

#: namespaces whose pods bug-report never visits (``inject.IgnoredNamespaces``, applied in
#: ``cluster.GetClusterResources`` before --include/--exclude)
PROXY_SKIPPED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})
#: the Envoy admin config dump istioctl fetches for sidecars, gateways and waypoints
CONFIG_DUMP = "config_dump?include_eds"


class Missing(Exception):
    """The archive has no file for this evidence: ``path`` and why it may be absent."""

    def __init__(self, path: str, why: str) -> None:
        self.path = path
        self.why = why
        super().__init__(f"the bug-report archive has no {path}" + (f" ({why})" if why else ""))


@dataclass(frozen=True)
class Ask:
    """What one argv asks for, identified by the runner: the kind and its key."""

    need: Need[Any]
    namespace: str | None
    name: str | None
    #: 0 for the kind's primary argv, i for its i-th fallback
    variant: int = 0
    tail: int | None = None
    #: the argv as asked (connection flags dropped)
    argv: tuple[str, ...] = ()

    @property
    def json_output(self) -> bool:
        return "-o" in self.argv and self.argv[self.argv.index("-o") + 1 : self.argv.index("-o") + 2] == ("json",)


# A YAML loader that keeps timestamps as the strings kubectl printed: the answers are
# re-serialised as JSON, which has no datetime.
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in getattr(yaml, "CSafeLoader", yaml.SafeLoader).yaml_implicit_resolvers.items()
}


def _items(text: str) -> list[dict[str, Any]]:
    """Objects of a ``kubectl get ... -o yaml`` output (one List, or several documents)."""
    out: list[dict[str, Any]] = []
    for doc in yaml.load_all(text, Loader=_Loader):  # noqa: S506 - a SafeLoader subclass
        if isinstance(doc, dict) and isinstance(doc.get("items"), list):
            out.extend(i for i in doc["items"] if isinstance(i, dict))
        elif isinstance(doc, dict) and doc.get("kind"):
            out.append(doc)
    return out


def as_list(items: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}},
                      default=str)


def _group(obj: dict[str, Any]) -> str:
    api = str(obj.get("apiVersion", ""))
    return api.split("/", 1)[0] if "/" in api else ""


class BugReport:
    """One bug-report's contents, parsed on first use and indexed (kind, namespace) -> objects."""

    def __init__(self, archive: BugReportArchive) -> None:
        self.archive = archive
        self._lock = threading.Lock()
        self._objects: dict[str, list[dict[str, Any]]] = {}
        #: when the report was taken (newest member time): certificates and event ages are judged then
        self.taken_at = datetime.fromtimestamp(archive.newest_mtime, UTC) if archive.newest_mtime else None

    # -- layout -----------------------------------------------------------------------------
    @property
    def new_cluster_layout(self) -> bool:
        """istioctl >= 1.30 splits the cluster dump (istio/istio#59352)."""
        return self.archive.has("cluster/k8s-cluster-resources")

    @property
    def istiods(self) -> list[tuple[str, str]]:
        """(namespace, pod) of every istiod the report visited (``istio/<ns>/<pod>/``)."""
        return [(ns, pod) for ns in self.archive.listdir("istio") for pod in self.archive.listdir(f"istio/{ns}")]

    @property
    def istio_namespace(self) -> str:
        found = self.istiods
        return found[0][0] if found else "istio-system"

    def text(self, path: str, why: str = "") -> str:
        if not self.archive.has(path):
            raise Missing(path, why)
        return self.archive.read_text(path)

    # -- Kubernetes objects -----------------------------------------------------------------
    def _file_objects(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            got = self._objects.get(path)
            if got is None:
                got = self._objects[path] = _items(self.archive.read_text(path)) if self.archive.has(path) else []
            return got

    def _sources(self, cluster_scoped: bool) -> list[str]:
        files = ["cluster/k8s-cluster-resources"] if cluster_scoped and self.new_cluster_layout else ["cluster/k8s-resources"]
        if not any(self.archive.has(f) for f in files):
            why = ("istioctl bug-report writes it unless --skip-cluster-dump was given or `kubectl get` failed; "
                   "see bug-report.log")
            raise Missing(files[0], why)
        return files

    def objects(self, kind: str, *, namespace: str | None = None, cluster_scoped: bool = False,
                group: str | None = None) -> list[dict[str, Any]]:
        out = []
        for f in self._sources(cluster_scoped):
            for o in self._file_objects(f):
                if o.get("kind") != kind or (group is not None and _group(o) != group):
                    continue
                if namespace is not None and (o.get("metadata") or {}).get("namespace") != namespace:
                    continue
                out.append(o)
        return out

    def namespace_collected(self, namespace: str) -> bool:
        """Did the report list this namespace's objects? Every namespace has the
        ``kube-root-ca.crt`` ConfigMap (Kubernetes >= 1.20) unless ``--include`` left it out."""
        for o in self._file_objects("cluster/k8s-resources"):
            if (o.get("metadata") or {}).get("namespace") == namespace:
                return True
        return False

    def namespace_exists(self, namespace: str) -> bool | None:
        """Is ``namespace`` among the cluster's Namespace objects (None: no list in the archive)?"""
        try:
            names = {(o.get("metadata") or {}).get("name") for o in self.objects("Namespace", cluster_scoped=True)}
        except Missing:
            return None
        return namespace in names if names else None

    def namespaced(self, kind: str, namespace: str, *, group: str | None = None) -> list[dict[str, Any]]:
        objs = self.objects(kind, namespace=namespace, group=group)
        if not objs and not self.namespace_collected(namespace):
            if self.namespace_exists(namespace) is False:
                return []  # the cluster has no such namespace: nothing in it is the truth
            raise Missing(f"cluster/k8s-resources objects of namespace {namespace}",
                          "the report was made with --include naming other namespaces")
        return objs

    def custom_resources(self, group: str, kind: str) -> list[dict[str, Any]]:
        if not self.archive.has("cluster/crs"):
            raise Missing("cluster/crs", "istioctl bug-report writes it unless listing the CRDs or their objects failed "
                          "(or no CRD is installed); see bug-report.log")
        return [o for o in self._file_objects("cluster/crs") if o.get("kind") == kind and _group(o) == group]

    # -- proxies ----------------------------------------------------------------------------
    def proxy_file(self, namespace: str, pod: str, name: str, why: str = "") -> str:
        path = f"proxies/{namespace}/{pod}/{name}"
        if self.archive.has(path):
            return self.archive.read_text(path)
        if namespace in PROXY_SKIPPED_NAMESPACES:
            why = f"bug-report never collects proxies in {namespace}"
        elif not self.archive.listdir(f"proxies/{namespace}/{pod}"):
            why = ("bug-report collected nothing for this pod: it has no istio-proxy container, "
                   "was filtered out by --include/--exclude, or the report timed out")
        elif not why:
            why = "bug-report collected other files of this pod but not this one: fetching it failed or timed out (see bug-report.log)"
        raise Missing(path, why)

    def proxy_pods(self, namespace: str) -> list[str]:
        return self.archive.listdir(f"proxies/{namespace}")


# -- the answers, one per evidence kind ---------------------------------------------------------

Answer = Callable[[BugReport, Ask], str]


def _ns(a: Ask) -> str:
    return a.namespace or "default"


def _kubectl_version(r: BugReport, a: Ask) -> str:
    got = convert.kubectl_version_json(r.text("cluster/kubectl-version", "bug-report writes it from `kubectl version`"))
    if got is None:
        raise Missing("a version line in cluster/kubectl-version", "the file is not `kubectl version` output")
    return got


def _istioctl_version(r: BugReport, a: Ask) -> str:
    got = convert.istioctl_version_json(r.text("versions", "written by every bug-report since 1.8"))
    if got is None:
        raise Missing("a version in versions", "the file holds no CLI or control plane version")
    return got


def _cluster_kind(kind: str) -> Answer:
    return lambda r, a: as_list(r.objects(kind, cluster_scoped=True))


def _crds(r: BugReport, a: Ask) -> str:
    objs = r.objects("CustomResourceDefinition", cluster_scoped=True)
    return as_list([o for o in objs if "gateway.networking.k8s.io/bundle-version" in ((o.get("metadata") or {}).get("labels") or {})])


def _all_namespaces(kind: str) -> Answer:
    return lambda r, a: as_list(r.objects(kind))


def _control_plane(kind: str) -> Answer:
    def answer(r: BugReport, a: Ask) -> str:
        ns = r.istio_namespace
        if kind == "Pod" and r.archive.has("cluster/pods"):
            # `kubectl get pods -n <istio ns> -o yaml`, collected even when --include leaves it out
            return as_list([o for o in _items(r.archive.read_text("cluster/pods")) if o.get("kind") == "Pod"])
        return as_list(r.namespaced(kind, ns))

    return answer


def _in_namespace(kind: str) -> Answer:
    return lambda r, a: as_list(r.namespaced(kind, _ns(a)))


def _custom(group: str, kind: str) -> Answer:
    return lambda r, a: as_list(r.custom_resources(group, kind))


def _proxy_status(r: BugReport, a: Ask) -> str:
    if a.json_output:
        raise Missing("proxy-status JSON", "the archive keeps istiod's debug/syncz, read as the proxy-status table instead")
    found = []
    for ns, pod in r.istiods:
        path = f"istio/{ns}/{pod}/debug/syncz"
        if r.archive.has(path):
            found.append((pod, json.loads(r.archive.read_text(path) or "[]")))
    if not found:
        raise Missing("istio/<ns>/<istiod>/debug/syncz", "bug-report fetches it from every istiod (app=istiod); none answered")
    return convert.proxy_status_table(found)


def _events(r: BugReport, a: Ask) -> str:
    ns = _ns(a)
    if not r.new_cluster_layout:
        objs = [o for o in r.objects("Event") if (o.get("metadata") or {}).get("namespace") == ns]
        if objs or not r.archive.has("cluster/events"):
            return as_list(objs)
    table = r.text("cluster/events", "bug-report writes `kubectl get events -o wide` there")
    return as_list([e for e in convert.events_from_table(table, now=r.taken_at) if e["metadata"].get("namespace") in (ns, None)])


def _analyze(r: BugReport, a: Ask) -> str:
    if a.json_output:
        raise Missing("analyze output as JSON", "the archive keeps the log form, read instead")
    text = r.text("analyze/allNamespaces/allNamespaces",
                  "written unless --skip-analyze, and not written when analyze found nothing (empty outputs are skipped)")
    return convert.analyze_for_namespace(text, _ns(a))


def _namespace_proxy_logs(r: BugReport, a: Ask) -> str:
    ns = _ns(a)
    pods = r.proxy_pods(ns)
    if not pods:
        if ns in PROXY_SKIPPED_NAMESPACES:
            raise Missing(f"proxies/{ns}/", f"bug-report never collects proxies in {ns}")
        raise Missing(f"proxies/{ns}/", "no pod of this namespace with an istio-proxy container was collected")
    labels = {(o.get("metadata") or {}).get("name"): ((o.get("metadata") or {}).get("labels") or {})
              for o in r.objects("Pod", namespace=ns)} if r.archive.has("cluster/k8s-resources") else {}
    out: list[str] = []
    for pod in pods:
        lab = labels.get(pod)
        if lab is not None and lab.get("security.istio.io/tlsMode") != "istio":
            continue  # the live call selects -l security.istio.io/tlsMode=istio
        path = f"proxies/{ns}/{pod}/istio-proxy.log"
        if not r.archive.has(path):
            continue
        text = convert.tail(r.archive.read_text(path), 200)
        out.extend(f"[pod/{pod}/istio-proxy] {line}" for line in text.splitlines())
    return "\n".join(out) + ("\n" if out else "")


def _pod(r: BugReport, a: Ask) -> str:
    ns, name = _ns(a), a.name or ""
    for o in r.namespaced("Pod", ns):
        if (o.get("metadata") or {}).get("name") == name:
            return json.dumps(o, default=str)
    raise _NotFound(f'Error from server (NotFound): pods "{name}" not found')


class _NotFound(Exception):
    """The archive lists the namespace and the object is not in it: the cluster's own NotFound."""


def _config_dump(r: BugReport, a: Ask) -> str:
    ns, pod = _ns(a), a.name or ""
    if r.archive.has(f"proxies/{ns}/{pod}/config_dump") and not r.archive.has(f"proxies/{ns}/{pod}/{CONFIG_DUMP}"):
        # a ztunnel pod: its admin config_dump is not an Envoy one
        raise Missing(f"proxies/{ns}/{pod}/{CONFIG_DUMP}", "this pod is a ztunnel; its config_dump is ztunnel's, not Envoy's")
    return r.proxy_file(ns, pod, CONFIG_DUMP)


def _proxy_logs(r: BugReport, a: Ask) -> str:
    return convert.tail(r.proxy_file(_ns(a), a.name or "", "istio-proxy.log"), a.tail)


def _sockets(r: BugReport, a: Ask) -> str:
    # `netstat -natpw` in istio-proxy; the ss and /proc fallbacks have no file of their own
    return r.proxy_file(_ns(a), a.name or "", "netstat",
                        "bug-report runs netstat in istio-proxy unless --skip-netstat; it fails on distroless proxy images")


def _envoy_stats(r: BugReport, a: Ask) -> str:
    return convert.envoy_stats_from_prometheus(r.proxy_file(_ns(a), a.name or "", "stats/prometheus"))


def _envoy_clusters(r: BugReport, a: Ask) -> str:
    return r.proxy_file(_ns(a), a.name or "", "clusters")


# -- lifecycle (issue 11): the istio-cni node agents and their logs ---------------------------------
# bug-report collects every pod labelled k8s-app=istio-cni-node, in any namespace and whatever
# --include says, and its log as cni/<pod>/cni.log (istio/istio tools/bug-report/pkg/bugreport
# getCniLogs, PR #45712, 1.19+).

CNI_AGENT_LABEL = ("k8s-app", "istio-cni-node")


def _cni_pods(r: BugReport, a: Ask) -> str:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    sources: list[list[dict[str, Any]]] = []
    if r.archive.has("cluster/pods"):  # the Istio namespace's pods, collected even outside --include
        sources.append(_items(r.archive.read_text("cluster/pods")))
    try:
        sources.append(r.objects("Pod"))
    except Missing:
        if not sources:
            raise
    for objs in sources:
        for o in objs:
            meta = o.get("metadata") or {}
            if o.get("kind") == "Pod" and (meta.get("labels") or {}).get(CNI_AGENT_LABEL[0]) == CNI_AGENT_LABEL[1]:
                found.setdefault((str(meta.get("namespace")), str(meta.get("name"))), o)
    if not found and r.archive.listdir("cni"):
        # the agents' logs are there but not their pod objects (their namespace was left out)
        raise Missing("the istio-cni-node pod objects", "their namespace's objects are not in cluster/k8s-resources "
                      f"(the archive has the logs of {', '.join(r.archive.listdir('cni'))})")
    return as_list(list(found.values()))


# -- ambient (issue 13): ztunnel, istio-cni, their pods and what decides their paths -----------
# bug-report keeps ztunnel as a proxy with only its admin ``config_dump`` and log
# (``common.go`` ztunnelDebugURLs, PR #43878), istio-cni's log under ``cni/<pod>/cni.log``
# (``bugreport.go`` getCniLogs, PR #45712: every k8s-app=istio-cni-node pod, any namespace),
# the agents' Pod and DaemonSet objects in the cluster dump (``all`` lists both).


def _labelled_pods(selector: str) -> Answer:
    key, _, value = selector.partition("=")

    def answer(r: BugReport, a: Ask) -> str:
        seen: dict[tuple[str, str], dict[str, Any]] = {}
        extra = _items(r.archive.read_text("cluster/pods")) if r.archive.has("cluster/pods") else []
        for o in [*r.objects("Pod"), *extra]:
            meta = o.get("metadata") or {}
            if o.get("kind") == "Pod" and (meta.get("labels") or {}).get(key) == value:
                if a.namespace is None or meta.get("namespace") == a.namespace:
                    seen.setdefault((meta.get("namespace", ""), meta.get("name", "")), o)
        return as_list(list(seen.values()))

    return answer


def _nodes(r: BugReport, a: Ask) -> str:
    try:
        objs = r.objects("Node", cluster_scoped=True)
    except Missing:
        objs = []
    if not objs and r.archive.has("cluster/nodes"):  # `kubectl get nodes -o yaml`, its own file
        objs = [o for o in _items(r.archive.read_text("cluster/nodes")) if o.get("kind") == "Node"]
    return as_list(objs)


def _configmap(name: str, namespace: str | None) -> Answer:
    def answer(r: BugReport, a: Ask) -> str:
        objs = r.namespaced("ConfigMap", namespace) if namespace else r.objects("ConfigMap", namespace=a.namespace)
        return as_list([o for o in objs if (o.get("metadata") or {}).get("name") == name])

    return answer


def _ztunnel_config(r: BugReport, a: Ask) -> str:
    # ztunnel's admin /config_dump: the JSON `istioctl ztunnel-config all -o json` prints
    return r.proxy_file(_ns(a), a.name or "", "config_dump",
                        "bug-report fetches it from every ztunnel pod (label app=ztunnel) since istioctl 1.18")


def _ztunnel_logs(r: BugReport, a: Ask) -> str:
    # ztunnel's container is named istio-proxy, so its log is kept as a proxy's
    return convert.tail(r.proxy_file(_ns(a), a.name or "", "istio-proxy.log"), a.tail)


def _cni_logs(r: BugReport, a: Ask) -> str:
    # the argv names the agent on the examined pod's node: `kubectl logs <agent> -n <ns> -c install-cni --timestamps=true`;
    # bug-report writes the log as fetched, without kubectl's stamps: they are added back from the agent's own times
    pod = a.name or ""
    text = r.text(f"cni/{pod}/cni.log", "bug-report writes every istio-cni-node pod's log there from istioctl 1.19 (PR #45712); "
                                        "an older istioctl, a failed fetch (see bug-report.log) or an empty log leaves it out")
    return convert.tail(convert.timestamped_like_kubectl(text) if "--timestamps=true" in a.argv else text, a.tail)


ANSWERS: dict[Need[Any], Answer] = {
    Need.KUBECTL_VERSION: _kubectl_version,
    Need.ISTIOCTL_VERSION: _istioctl_version,
    Need.NAMESPACES: _cluster_kind("Namespace"),
    Need.SERVICES: _all_namespaces("Service"),
    Need.WEBHOOKS: _cluster_kind("MutatingWebhookConfiguration"),
    Need.CONTROL_PLANE_CONFIGMAPS: _control_plane("ConfigMap"),
    Need.CONTROL_PLANE_PODS: _control_plane("Pod"),
    Need.CONTROL_PLANE_DEPLOYMENTS: _control_plane("Deployment"),
    Need.CONTROL_PLANE_ENDPOINTSLICES: _control_plane("EndpointSlice"),
    Need.PROXY_STATUS: _proxy_status,
    Need.CRDS: _crds,
    Need.VIRTUAL_SERVICES: _custom("networking.istio.io", "VirtualService"),
    Need.DESTINATION_RULES: _custom("networking.istio.io", "DestinationRule"),
    Need.GATEWAYS: _custom("networking.istio.io", "Gateway"),
    Need.SERVICE_ENTRIES: _custom("networking.istio.io", "ServiceEntry"),
    Need.SIDECARS: _custom("networking.istio.io", "Sidecar"),
    Need.PEER_AUTHENTICATIONS: _custom("security.istio.io", "PeerAuthentication"),
    Need.AUTHORIZATION_POLICIES: _custom("security.istio.io", "AuthorizationPolicy"),
    Need.REQUEST_AUTHENTICATIONS: _custom("security.istio.io", "RequestAuthentication"),
    Need.ENVOY_FILTERS: _custom("networking.istio.io", "EnvoyFilter"),
    Need.TELEMETRIES: _custom("telemetry.istio.io", "Telemetry"),
    Need.K8S_GATEWAYS: _custom("gateway.networking.k8s.io", "Gateway"),
    Need.HTTP_ROUTES: _custom("gateway.networking.k8s.io", "HTTPRoute"),
    Need.PODS: _in_namespace("Pod"),
    Need.ENDPOINTSLICES: _in_namespace("EndpointSlice"),
    Need.EVENTS: _events,
    Need.DEPLOYMENTS: _in_namespace("Deployment"),
    Need.REPLICASETS: _in_namespace("ReplicaSet"),
    Need.ANALYZE: _analyze,
    Need.NAMESPACE_PROXY_LOGS: _namespace_proxy_logs,
    Need.POD: _pod,
    Need.CONFIG_DUMP: _config_dump,
    Need.PROXY_LOGS: _proxy_logs,
    Need.SOCKETS: _sockets,
    Need.ENVOY_STATS: _envoy_stats,
    Need.ENVOY_CLUSTERS: _envoy_clusters,
    Need.CNI_PODS: _cni_pods,
    # ambient
    Need.ZTUNNEL_PODS: _labelled_pods("app=ztunnel"),
    Need.DAEMONSETS: _all_namespaces("DaemonSet"),
    Need.NODES: _nodes,
    Need.NETWORK_POLICIES: _all_namespaces("NetworkPolicy"),
    Need.CNI_CONFIG: _configmap("istio-cni-config", None),
    Need.CILIUM_CONFIG: _configmap("cilium-config", "kube-system"),
    Need.SECURITY_GROUP_POLICIES: _custom("vpcresources.k8s.aws", "SecurityGroupPolicy"),
    Need.ZTUNNEL_CONFIG: _ztunnel_config,
    Need.ZTUNNEL_LOGS: _ztunnel_logs,
    Need.CNI_LOGS: _cni_logs,
}

#: kinds an archive never holds, and why (the runner says so; a test keeps this table complete)
ABSENT: dict[Need[Any], str] = {
    Need.INIT_LOGS: "bug-report collects only the istio-proxy, discovery, operator and CNI container logs, "
                    "not istio-init / istio-validation",
    Need.DESCRIBE: "`istioctl x describe` needs a live cluster; the archive has no output of it",
    Need.APP_LOGS: "bug-report collects only the istio-proxy, discovery, operator and CNI container logs, "
                   "not the application's (nor init containers')",
    Need.APP_PREVIOUS_LOGS: "bug-report collects only the istio-proxy, discovery, operator and CNI container logs, "
                            "not the previous run of an application container",
    Need.RESOURCE_QUOTAS: "bug-report's cluster dump lists all, jobs, ingresses, endpointslices, configmaps and "
                          "networkpolicies (content.go GetK8sResources), not ResourceQuotas",
}
