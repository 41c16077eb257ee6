"""Outputs of an ambient World, in the real formats of ``tests/fixtures/corpus/ambient``.

* ztunnel ``/config_dump`` (``istioctl ztunnel-config all -o json``): the 1.24 live capture's
  shape (``captured/configdump/kiali/ztunnel-config.json``: lists, ``networkMode``, workload
  ``services``, ``waypoint.hboneMtlsPort``) with certificates as in the istioctl golden
  (``certChain``/``rootCerts`` with decimal ``serialNumber``; ``Unavailable: <why>`` with empty
  chains as in istio/istio#56452);
* ztunnel logs in the 1.22+ Istio text format (``<time>\\t<level>\\t<target>\\t<msg>\\t<fields>``,
  field order and quoting of ``src/proxy/metrics.rs``; samples in ``ztunnel-logs/`` and the
  istio.io troubleshoot page);
* istio-cni logs (Istio Go logger, labels after a tab: ``cni-logs/istio-52208_…``, ``istio-58573_…``);
* status conditions as istiod writes them (``status/condition-analyzer.yaml``, ``waypoint.status.yaml.golden``,
  ``istio-53637_…``, ``istio-54981_…``) and events as kubelet writes them (``cni-logs/*.events``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache
from typing import Any

from tests.scenariokit import ambient as am
from tests.scenariokit.world import (
    EPOCH,
    LOG_WINDOW_S,
    POD_AGE_S,
    REQUEST_SPACING_S,
    Event,
    Pod,
    Service,
    World,
    iso,
    labels_match,
    stable_hex,
    uid,
)

# -- agents (ztunnel, istio-cni) -------------------------------------------------------------------


def _agent_version(world: World, kind: str) -> str:
    a = am.amb(world)
    v = (a.ztunnel_version if kind == "ztunnel" else a.cni_version) if a else None
    return v or world.istio_version


def agent_pod_json(world: World, kind: str, node: str) -> dict[str, Any] | None:
    """A ztunnel (``app=ztunnel``) or istio-cni (``k8s-app=istio-cni-node``) DaemonSet pod."""
    a = am.amb(world)
    assert a is not None
    state = am.ztunnel_state(world, node) if kind == "ztunnel" else am.cni_state(world, node)
    if state == "missing" or am.quota_blocked(world):
        return None
    name = am.agent_pod_name(kind, node)
    i = world.nodes.index(node)
    if kind == "ztunnel":
        labels = {"app": "ztunnel", "app.kubernetes.io/name": "ztunnel", "istio.io/dataplane-mode": "none",
                  "sidecar.istio.io/inject": "false", "controller-revision-hash": stable_hex("zt-rev", n=10)}
        container, image, ip, sa = "istio-proxy", f"docker.io/istio/ztunnel:{_agent_version(world, kind)}-distroless", \
            f"10.244.{i + 1}.2", a.ztunnel_service_account
        ds = "ztunnel"
    else:
        labels = {"k8s-app": "istio-cni-node", "sidecar.istio.io/inject": "false", "controller-revision-hash": stable_hex("cni-rev", n=10)}
        container, image, ip, sa = "install-cni", f"docker.io/istio/install-cni:{_agent_version(world, kind)}-distroless", \
            f"172.18.0.{i + 2}", "istio-cni"
        ds = "istio-cni-node"
    ready = state == "ok"
    ready_ago = a.cni_ready_ago_s.get(node, 86000) if kind == "cni" else 86000
    cstatus: dict[str, Any] = {
        "containerID": f"containerd://{stable_hex('cid', name, n=64)}", "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{stable_hex('img', image, n=64)}", "lastState": {}, "name": container,
        "ready": ready, "restartCount": 0, "started": True, "state": {"running": {"startedAt": iso(-ready_ago - 5)}}}
    if state == "oomkilled":
        cstatus.update({"lastState": {"terminated": {"containerID": cstatus["containerID"], "exitCode": 137, "finishedAt": iso(-40),
                                                     "reason": "OOMKilled", "startedAt": iso(-300)}},
                        "ready": False, "restartCount": 7, "started": False,
                        "state": {"waiting": {"message": f"back-off 5m0s restarting failed container={container}",
                                              "reason": "CrashLoopBackOff"}}})
    pod: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"creationTimestamp": iso(-ready_ago - 10), "generateName": f"{ds}-", "labels": dict(sorted(labels.items())),
                     "name": name, "namespace": a.namespace,
                     "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": True, "controller": True,
                                          "kind": "DaemonSet", "name": ds, "uid": uid("DaemonSet", a.namespace, ds)}],
                     "resourceVersion": str(int(stable_hex("rv", name, n=6), 16) % 900000 + 1000), "uid": uid("Pod", a.namespace, name)},
        "spec": {"containers": [{"image": image, "name": container}], "nodeName": node,
                 "priorityClassName": "system-node-critical", "serviceAccountName": sa,
                 **({"hostNetwork": True} if kind == "cni" else {})},
        "status": {"conditions": [
            {"lastProbeTime": None, "lastTransitionTime": iso(-ready_ago), "status": "True" if ready else "False", "type": "Ready"},
            {"lastProbeTime": None, "lastTransitionTime": iso(-ready_ago - 10), "status": "True", "type": "PodScheduled"}],
            "containerStatuses": [cstatus], "hostIP": f"172.18.0.{i + 2}", "phase": "Running", "podIP": ip,
            "podIPs": [{"ip": ip}], "startTime": iso(-ready_ago - 10)}}
    return pod


def agent_pods_json(world: World, kind: str) -> list[dict[str, Any]]:
    return [p for n in world.nodes if (p := agent_pod_json(world, kind, n)) is not None]


def agent_pod_by_name(world: World, name: str) -> tuple[str, str] | None:
    """(kind, node) of an agent pod name."""
    for node in world.nodes:
        for kind in ("ztunnel", "cni"):
            if am.agent_pod_name(kind, node) == name:
                return kind, node
    return None


def daemonsets_json(world: World) -> list[dict[str, Any]]:
    a = am.amb(world)
    assert a is not None
    out = []
    for kind, ds in (("ztunnel", "ztunnel"), ("cni", "istio-cni-node")):
        states = [am.ztunnel_state(world, n) if kind == "ztunnel" else am.cni_state(world, n) for n in world.nodes]
        quota_blocked = am.quota_blocked(world)
        current = 0 if quota_blocked else sum(1 for s in states if s != "missing")
        ready = 0 if quota_blocked else sum(1 for s in states if s == "ok")
        spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "ztunnel"} if kind == "ztunnel" else {"k8s-app": "istio-cni-node"}},
                                "template": {"metadata": {"labels": {"app": "ztunnel"} if kind == "ztunnel" else {"k8s-app": "istio-cni-node"}},
                                             "spec": {"containers": [{"name": "istio-proxy" if kind == "ztunnel" else "install-cni",
                                                                      "image": f"docker.io/istio/{'ztunnel' if kind == 'ztunnel' else 'install-cni'}:"
                                                                               f"{_agent_version(world, kind)}-distroless"}],
                                                      "priorityClassName": "system-node-critical"}}}
        if kind == "cni":
            bin_dir, net_dir = cni_dirs(world)
            spec["template"]["spec"]["volumes"] = [{"hostPath": {"path": bin_dir}, "name": "cni-bin-dir"},
                                                   {"hostPath": {"path": net_dir}, "name": "cni-net-dir"},
                                                   {"hostPath": {"path": "/var/run/ztunnel", "type": "DirectoryOrCreate"},
                                                    "name": "cni-ztunnel-sock-dir"}]
        out.append({"apiVersion": "apps/v1", "kind": "DaemonSet",
                    "metadata": {"labels": {"app.kubernetes.io/name": ds}, "name": ds, "namespace": a.namespace,
                                 "uid": uid("DaemonSet", a.namespace, ds)},
                    "spec": spec,
                    "status": {"currentNumberScheduled": current, "desiredNumberScheduled": len(world.nodes),
                               "numberAvailable": ready, "numberMisscheduled": 0, "numberReady": ready,
                               **({"numberUnavailable": len(world.nodes) - ready} if ready < len(world.nodes) else {}),
                               "observedGeneration": 1, "updatedNumberScheduled": current}})
    if a.aws_node_env is not None:
        out.append({"apiVersion": "apps/v1", "kind": "DaemonSet",
                    "metadata": {"labels": {"k8s-app": "aws-node"}, "name": "aws-node", "namespace": "kube-system",
                                 "uid": uid("DaemonSet", "kube-system", "aws-node")},
                    "spec": {"selector": {"matchLabels": {"k8s-app": "aws-node"}}, "template": {"metadata": {"labels": {"k8s-app": "aws-node"}},
                             "spec": {"containers": [{"name": "aws-node", "image": "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.3",
                                                      "env": [{"name": k, "value": v} for k, v in sorted(a.aws_node_env.items())]}]}}},
                    "status": {"currentNumberScheduled": len(world.nodes), "desiredNumberScheduled": len(world.nodes),
                               "numberReady": len(world.nodes), "numberAvailable": len(world.nodes), "numberMisscheduled": 0,
                               "updatedNumberScheduled": len(world.nodes)}})
    return out


#: istio-cni platform profiles (manifests/charts/istio-cni/files/profile-platform-*.yaml)
_PLATFORM_DIRS = {"gke": ("/home/kubernetes/bin", "/etc/cni/net.d"),
                  "k3s": ("/var/lib/rancher/k3s/data/cni", "/var/lib/rancher/k3s/agent/etc/cni/net.d"),
                  "microk8s": ("/var/snap/microk8s/current/opt/cni/bin", "/var/snap/microk8s/current/args/cni-network"),
                  "openshift": ("/var/lib/cni/bin", "/etc/cni/multus/net.d")}


def cni_dirs(world: World) -> tuple[str, str]:
    a = am.amb(world)
    if a and a.platform in _PLATFORM_DIRS and a.platform_profile:
        return _PLATFORM_DIRS[a.platform]
    return "/opt/cni/bin", "/etc/cni/net.d"


def nodes_json(world: World) -> list[dict[str, Any]]:
    a = am.amb(world)
    platform = a.platform if a else ""
    out = []
    for i, n in enumerate(world.nodes):
        kubelet = f"v{world.server_version}"
        pid = f"kind://docker/kind/{n}"
        labels = {"kubernetes.io/hostname": n, "kubernetes.io/os": "linux"}
        if platform == "gke":
            kubelet, pid = f"v{world.server_version}-gke.1076000", f"gce://prod-project/us-central1-a/{n}"
        elif platform == "k3s":
            kubelet, pid = f"v{world.server_version}+k3s1", f"k3s://{n}"
        elif platform == "microk8s":
            labels["microk8s.io/cluster"] = "true"
        elif platform == "openshift":
            labels["node.openshift.io/os_id"] = "rhcos"
        elif platform == "eks":
            pid = f"aws:///us-west-2a/i-0{stable_hex('ec2', n, n=16)}"
        out.append({"apiVersion": "v1", "kind": "Node",
                    "metadata": {"labels": labels, "name": n, "uid": uid("Node", "", n)},
                    "spec": {"podCIDR": f"10.244.{i + 1}.0/24", "providerID": pid},
                    "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                               "nodeInfo": {"kubeletVersion": kubelet, "containerRuntimeVersion": "containerd://1.7.18",
                                            "osImage": "Debian GNU/Linux 12 (bookworm)"}}})
    return out


def configmap_json(world: World, name: str, namespace: str) -> dict[str, Any] | None:
    a = am.amb(world)
    if a is None:
        return None
    if name == "istio-cni-config" and namespace == a.namespace:
        data = {"AMBIENT_DNS_CAPTURE": "true" if a.dns_capture else "false", "AMBIENT_ENABLED": "true",
                "AMBIENT_ENABLEMENT_SELECTOR": "- podSelector:\n    matchLabels:\n      istio.io/dataplane-mode: ambient\n"
                "- namespaceSelector:\n    matchLabels:\n      istio.io/dataplane-mode: ambient\n  podSelector:\n"
                "    matchExpressions:\n    - key: istio.io/dataplane-mode\n      operator: NotIn\n      values:\n      - none\n",
                "AMBIENT_IPV6": "true", "AMBIENT_RECONCILE_POD_RULES_ON_STARTUP": "false", "CHAINED_CNI_PLUGIN": "true",
                "CURRENT_AGENT_VERSION": _agent_version(world, "cni"), "EXCLUDE_NAMESPACES": ",".join(a.exclude_namespaces),
                "REPAIR_ENABLED": "true"}
        return {"apiVersion": "v1", "data": data, "kind": "ConfigMap",
                "metadata": {"labels": {"app": "istio-cni", "istio.io/rev": "default"}, "name": name, "namespace": namespace,
                             "uid": uid("ConfigMap", namespace, name)}}
    if name == "cilium-config" and namespace == "kube-system" and a.cilium is not None:
        return {"apiVersion": "v1", "data": dict(sorted(a.cilium.items())), "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace, "uid": uid("ConfigMap", namespace, name)}}
    return None


def resource_quotas_json(world: World) -> list[dict[str, Any]]:
    a = am.amb(world)
    if a is None or a.platform != "gke" or not a.resource_quota:
        return []
    return [{"apiVersion": "v1", "kind": "ResourceQuota",
             "metadata": {"name": "gcp-critical-pods", "namespace": a.namespace, "uid": uid("ResourceQuota", a.namespace, "q")},
             "spec": {"hard": {"pods": "1000"}, "scopeSelector": {"matchExpressions": [
                 {"operator": "In", "scopeName": "PriorityClass", "values": ["system-node-critical"]}]}}}]


def network_policies_json(world: World) -> list[dict[str, Any]]:
    a = am.amb(world)
    out = []
    for np in (a.network_policies if a else []):
        m = np["metadata"]
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"generation": 1, "name": m["name"], "namespace": m["namespace"],
                                 "uid": uid("NetworkPolicy", m["namespace"], m["name"])}, "spec": np["spec"]})
    return out


# -- annotations, statuses, istiod env -------------------------------------------------------------


def pod_annotations(world: World, pod: Pod) -> dict[str, str]:
    r = am.redirection(world, pod)
    return {am.REDIRECTION: r} if r else {}


def istiod_env(world: World) -> list[dict[str, Any]]:
    a = am.amb(world)
    if a is None:
        return []
    env = [{"name": "CA_TRUSTED_NODE_ACCOUNTS", "value": a.trusted_node_accounts or f"{world.control_plane.namespace}/ztunnel"}]
    if a.istiod_ambient is not None:
        env.append({"name": "PILOT_ENABLE_AMBIENT", "value": a.istiod_ambient})
    return env


def service_conditions(world: World, svc: Service) -> list[dict[str, Any]]:
    _gw, cond = am.service_binding(world, svc)
    return [] if cond is None else [{"lastTransitionTime": iso(-3000), **cond, "observedGeneration": 1}]


def cr_status(world: World, obj: dict[str, Any]) -> dict[str, Any] | None:
    """Status istiod writes on ambient-relevant CRs (None: it writes none)."""
    kind = obj["kind"]
    spec = obj["spec"]
    lt = iso(-3000)
    if kind == "AuthorizationPolicy":
        if spec.get("targetRefs") or spec.get("targetRef"):
            return None
        action = spec.get("action", "ALLOW")
        if action not in ("ALLOW", "DENY"):
            return {"conditions": [{"lastTransitionTime": lt, "message": f"ztunnel does not support the {action} action",
                                    "observedGeneration": 1, "reason": "UnsupportedValue", "status": "False", "type": "ZtunnelAccepted"}]}
        found = _l7_found(spec)
        if found:
            return {"conditions": [{"lastTransitionTime": lt, "message": l7_message(world, action, spec, found), "observedGeneration": 1,
                                    "reason": "UnsupportedValue", "status": "True", "type": "ZtunnelAccepted"}]}
        return {"conditions": [{"lastTransitionTime": lt, "message": "attached to ztunnel", "observedGeneration": 1,
                                "reason": "Accepted", "status": "True", "type": "ZtunnelAccepted"}]}
    if kind == "ServiceEntry":
        hosts = spec.get("hosts") or []
        labels = obj["metadata"].get("labels") or {}
        b = am._binding(labels, world.ns_labels(obj["metadata"]["namespace"]), obj["metadata"]["namespace"])
        if b is not None:
            gw = am.find_waypoint(world, *b)
            if gw is not None and am.waypoint_programmed(world, gw):
                return {"conditions": [{"lastTransitionTime": lt, "message": f"Successfully attached to waypoint {b[0]}/{b[1]}",
                                        "reason": "WaypointAccepted", "status": "True", "type": "istio.io/WaypointBound"}]}
            return {"conditions": [{"lastTransitionTime": lt, "message": f'waypoint "{b[0]}/{b[1]}" is not ready',
                                    "reason": "WaypointIsNotReady", "status": "False", "type": "istio.io/WaypointBound"}]}
        if any(h.startswith("*") for h in hosts):
            return {"conditions": [{"lastTransitionTime": lt, "message": "ServiceEntry will not apply until it is bound to a valid waypoint.",
                                    "reason": "NoWaypointForWildcardService", "status": "True", "type": "istio.io/WaypointMissing"}]}
        return None
    if kind == "Gateway" and spec.get("gatewayClassName") == "istio-waypoint":
        a = am.amb(world)
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        state = a.waypoint_state.get(key, "programmed") if a else "pending"
        if state == "pending":
            # never reconciled (istio/istio#53637)
            return {"conditions": [{"lastTransitionTime": "1970-01-01T00:00:00Z", "message": "Waiting for controller", "reason": "Pending",
                                    "status": "Unknown", "type": t} for t in ("Accepted", "Programmed")]}
        host = f"{obj['metadata']['name']}.{obj['metadata']['namespace']}.svc.cluster.local"
        programmed = ({"message": "Resource programmed, assigned to service(s) " + host + ":15008", "reason": "Programmed",
                       "status": "True"} if state == "programmed" else
                      {"message": f'Failed to assign to any requested addresses: hostname "{host}" not found',
                       "reason": "AddressNotUsable", "status": "False"})
        return {"addresses": [{"type": "Hostname", "value": host}] if state == "programmed" else [],
                "conditions": [{"lastTransitionTime": lt, "message": "Resource accepted", "observedGeneration": 1, "reason": "Accepted",
                                "status": "True", "type": "Accepted"},
                               {"lastTransitionTime": lt, "observedGeneration": 1, "type": "Programmed", **programmed}]}
    if kind == "HTTPRoute":
        parents = []
        for ref in spec.get("parentRefs") or []:
            if ref.get("kind") != "Service":
                continue
            svc = world.service(ref["name"], ref.get("namespace") or obj["metadata"]["namespace"])
            gw = am.service_binding(world, svc)[0] if svc else None
            cond = ({"reason": "Accepted", "status": "True", "message": "Route was valid"} if gw is not None else
                    {"reason": "WaypointNotBound", "status": "False", "message": "Service is not bound to a waypoint"})
            parents.append({"conditions": [{"lastTransitionTime": lt, "observedGeneration": 1, "type": "Accepted", **cond}],
                            "controllerName": "istio.io/gateway-controller",
                            "parentRef": {"group": "", "kind": "Service", "name": ref["name"],
                                          "namespace": ref.get("namespace") or obj["metadata"]["namespace"]}})
        return {"parents": parents} if parents else None
    return None


def l7_message(world: World, action: str, spec: dict[str, Any], found: list[str]) -> str:
    """ZtunnelAccepted's message, by version: 1.24 (pilot/pkg/serviceregistry/kube/controller/
    ambient/authorization.go@1.24.0), 1.25+ (#54335), and the DENY no-effect text of #61166
    (istio/istio@fa33fa9, on master after 1.30)."""
    if world.version.minor < 25:
        boiler = ("Deny rules with HTTP attributes will be enforced without their HTTP components. This is more restrictive "
                  "than intended." if action == "DENY" else
                  "Allow rules with HTTP attributes will be empty and never match. This is more restrictive than requested.")
        return (f"ztunnel does not support HTTP rules ({', '.join(found)} require HTTP parsing), in ambient mode you must use "
                f"waypoint proxy to enforce HTTP rules. {boiler}")
    deny_noop = action == "DENY" and all(am._only_l7(r) for r in spec.get("rules") or [])
    if deny_noop and world.version.minor >= 31:
        boiler = ("After omitting unsupported HTTP attributes, this DENY policy has no enforceable rules at ztunnel and will "
                  "have no effect. Deploy a waypoint proxy and use a targetRef to enforce this policy.")
    elif action == "DENY":
        boiler = "DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive than requested."
    else:
        boiler = "Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested."
    return (f"ztunnel does not support HTTP attributes (found: {', '.join(found)}). In ambient mode you must use a waypoint proxy "
            f"to enforce HTTP rules. {boiler}")


def _l7_found(spec: dict[str, Any]) -> list[str]:
    """The HTTP attributes authorization.go names (``httpOperations``, ``httpSources``, condition
    keys), sorted as sets.SortedList."""
    found: set[str] = set()
    for r in spec.get("rules") or []:
        for t in r.get("to") or []:
            for k in ("hosts", "notHosts", "methods", "notMethods", "paths", "notPaths"):
                if (t.get("operation") or {}).get(k):
                    found.add(k)
        for f in r.get("from") or []:
            for k in ("remoteIpBlocks", "notRemoteIpBlocks", "requestPrincipals", "notRequestPrincipals"):
                if (f.get("source") or {}).get(k):
                    found.add(k)
        for w in r.get("when") or []:
            if str(w.get("key", "")).startswith("request."):
                found.add(str(w["key"]))
    return sorted(found)


# -- ztunnel /config_dump ---------------------------------------------------------------------------


def _root(world: World, node: str) -> str:
    a = am.amb(world)
    return "other" if a and node in a.other_root_nodes else "primary"


@lru_cache(maxsize=None)
def _cert_fields(pem: str) -> dict[str, str]:
    from cryptography import x509

    c = x509.load_pem_x509_certificate(pem.encode())
    return {"pem": pem, "serialNumber": str(c.serial_number),
            "validFrom": c.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expirationTime": c.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _workload_json(world: World, pod: Pod) -> dict[str, Any]:
    cl = world.cluster_id
    w: dict[str, Any] = {
        "canonicalName": pod.workload.labels.get("app", pod.workload.name),
        "canonicalRevision": pod.workload.labels.get("version", "latest"), "clusterId": cl, "name": pod.name,
        "namespace": pod.namespace, "networkMode": "HostNetwork" if pod.workload.host_network else "Standard",
        "node": pod.node, "protocol": "HBONE" if am.captured(world, pod) else "TCP",
        "serviceAccount": pod.workload.service_account,
        "services": [f"{s.namespace}/{s.fqdn}" for s in world.services_selecting(pod)],
        "status": "Healthy" if pod.ready else "Unhealthy", "trustDomain": world.control_plane.mesh.trust_domain,
        "uid": f"{cl}//Pod/{pod.namespace}/{pod.name}", "workloadIps": [pod.ip], "workloadName": pod.workload.name,
        "workloadType": "deployment"}
    gw = am.pod_waypoint(world, pod)
    if gw is not None:
        w["waypoint"] = {"destination": f"{gw['metadata']['namespace']}/{gw['metadata']['name']}.{gw['metadata']['namespace']}.svc.cluster.local",
                         "hboneMtlsPort": 15008}
    if not w["services"]:
        del w["services"]
    return dict(sorted(w.items()))


def _service_json(world: World, svc: Service) -> dict[str, Any]:
    cl = world.cluster_id
    eps: dict[str, Any] = {}
    for p in world.pods:
        if p.namespace == svc.namespace and svc.selector and labels_match(svc.selector, p.labels) and am.in_ztunnel(world, p):
            key = f"{cl}//Pod/{p.namespace}/{p.name}"
            eps[key] = {"port": {str(sp.port): int(sp.target) if str(sp.target).isdigit() else sp.port for sp in svc.ports},
                        "status": "Healthy" if p.ready else "Unhealthy", "workloadUid": key}
    ip = world.cluster_ip(svc)
    out: dict[str, Any] = {"endpoints": eps, "hostname": svc.fqdn, "ipFamilies": "IPv4", "name": svc.name,
                           "namespace": svc.namespace, "ports": {str(sp.port): int(sp.target) if str(sp.target).isdigit() else 0
                                                                for sp in svc.ports},
                           "subjectAltNames": [], "vips": [f"/{ip}"] if ip else []}
    gw, _ = am.service_binding(world, svc)
    if gw is not None:
        out["waypoint"] = {"destination": f"{gw['metadata']['namespace']}/{gw['metadata']['name']}.{gw['metadata']['namespace']}.svc.cluster.local",
                           "hboneMtlsPort": 15008}
    return out


def _policies_json(world: World) -> list[dict[str, Any]]:
    out = []
    root = world.control_plane.mesh.root_namespace
    for ap in world.resources("AuthorizationPolicy"):
        spec = ap["spec"]
        if spec.get("targetRefs") or spec.get("targetRef") or spec.get("action", "ALLOW") not in ("ALLOW", "DENY"):
            continue
        ns = ap["metadata"]["namespace"]
        scope = "WorkloadSelector" if spec.get("selector") else ("Global" if ns == root else "Namespace")
        rules = []
        for r in spec.get("rules") or []:
            if spec.get("action", "ALLOW") == "ALLOW" and am.rule_has_l7(r):
                continue  # "Within an ALLOW policy, rules matching HTTP attributes are omitted"
            clauses = []
            for f in r.get("from") or []:
                s = f.get("source") or {}
                m: dict[str, Any] = {}
                if s.get("principals"):
                    sas = [p.split("/") for p in s["principals"]]
                    m["serviceAccounts"] = [{"namespace": x[2], "serviceAccount": x[4]} for x in sas if len(x) >= 5]
                if s.get("namespaces"):
                    m["namespaces"] = [{"Exact": n} for n in s["namespaces"]]
                if m:
                    clauses.append([m])
            ports = [int(p) for t in r.get("to") or [] for p in (t.get("operation") or {}).get("ports") or []]
            if ports:
                clauses.append([{"destinationPorts": ports}])
            rules.append(clauses)
        out.append({"action": "Allow" if spec.get("action", "ALLOW") == "ALLOW" else "Deny", "name": ap["metadata"]["name"],
                    "namespace": ns, "rules": rules, "scope": scope})
    if any(am.strict_for(world, p) for p in world.pods):
        out.append({"action": "Deny", "name": "istio_converted_static_strict", "namespace": "istio-system",
                    "rules": [[[{"notPrincipals": [{"Presence": {}}]}]]], "scope": "Global"})
    return out


def _certificates_json(world: World, node: str) -> list[dict[str, Any]]:
    from tests.scenariokit.render_envoy import leaf_cert_pem, root_cert_pem

    a = am.amb(world)
    assert a is not None
    out = []
    seen: set[str] = set()
    for p in world.pods:
        if p.node != node or not am.captured(world, p):
            continue
        ident = am.identity(world, p)
        if ident in seen:
            continue
        seen.add(ident)
        short = f"{p.namespace}/{p.workload.service_account}"
        if short in a.cert_unavailable or _impersonation_denied(world):
            why = ("signing gRPC error (The request does not have valid authentication credentials): request impersonation "
                   "authentication failure" if _impersonation_denied(world) else "signing gRPC error (Unknown error): client error (Connect)")
            out.append({"certChain": [], "identity": ident, "rootCerts": [], "state": f"Unavailable: {why}"})
            continue
        root = _root(world, node)
        out.append({"certChain": [_cert_fields(leaf_cert_pem(ident, root, False, world.cert_clock))], "identity": ident,
                    "rootCerts": [_cert_fields(root_cert_pem(root))], "state": "Available"})
    return out


def _impersonation_denied(world: World) -> bool:
    """istiod refuses certificates ztunnel asks for on behalf of pods unless ztunnel's
    ``ns/serviceaccount`` is in CA_TRUSTED_NODE_ACCOUNTS (security/pkg/server/ca/server.go)."""
    a = am.amb(world)
    if a is None:
        return False
    trusted = [x.strip() for x in (a.trusted_node_accounts or f"{world.control_plane.namespace}/ztunnel").split(",")]
    return f"{a.namespace}/{a.ztunnel_service_account}" not in trusted


def ztunnel_dump(world: World, node: str) -> dict[str, Any]:
    a = am.amb(world)
    assert a is not None
    ambient_on = a.istiod_ambient == "true"
    workloads = [_workload_json(world, p) for p in sorted(world.pods, key=lambda p: (p.namespace, p.name))
                 if am.in_ztunnel(world, p)] if ambient_on else []
    services = [_service_json(world, s) for s in sorted(world.services, key=lambda s: (s.namespace, s.name))] if ambient_on else []
    gitrev = stable_hex("ztunnel-rev", _agent_version(world, "ztunnel"), n=40)
    return {"certificates": _certificates_json(world, node), "policies": _policies_json(world) if ambient_on else [],
            "services": services, "stagedServices": {}, "staticConfig": {"policies": [], "services": [], "workloads": []},
            "version": {"buildProfile": "release", "buildStatus": "Clean", "gitRevision": gitrev,
                        "gitTag": _agent_version(world, "ztunnel"), "istioVersion": "unknown", "rustVersion": "1.81.0",
                        "version": gitrev},
            "workloadState": {}, "workloads": workloads}


# -- logs -------------------------------------------------------------------------------------------


def _ts(at_s: float) -> str:
    return (EPOCH + timedelta(seconds=at_s - LOG_WINDOW_S)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _q(v: str) -> str:
    return json.dumps(v)


def access_line(at_s: float, level: str, f: dict[str, Any], error: str | None, msg: str = "connection complete") -> str:
    """One ztunnel access line: fields in metrics.rs order, strings quoted (Debug), addresses bare."""
    parts = []
    for k in ("src.addr", "src.workload", "src.namespace", "src.identity", "dst.addr", "dst.hbone_addr", "dst.service",
              "dst.workload", "dst.namespace", "dst.identity", "direction", "bytes_sent", "bytes_recv", "duration"):
        v = f.get(k)  # an absent field (None) is not printed, as tracing skips None values
        if v is None:
            continue
        parts.append(f"{k}={v}" if k in ("src.addr", "dst.addr", "dst.hbone_addr", "bytes_sent", "bytes_recv") else f"{k}={_q(str(v))}")
    if error is not None:
        parts.append(f"error={_q(error)}")
    return f"{_ts(at_s)}\t{level}\taccess\t{msg}\t{' '.join(parts)}"


def component_line(at_s: float, level: str, target: str, msg: str, fields: str = "") -> str:
    return f"{_ts(at_s)}\t{level}\t{target}\t{msg}" + (f"\t{fields}" if fields else "")
