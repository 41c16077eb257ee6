"""How the WorldRunner answers the ambient calls (kubectl lists of the ambient objects, the
ztunnel and istio-cni pods and logs, ``istioctl ztunnel-config``), and the ambient touches on
objects the sidecar kit already renders (pod annotations and status, Service and CR status,
istiod's env). ``runner.py`` calls these; each returns None when the call is not ambient's.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.scenariokit import ambient as am
from tests.scenariokit import ambient_traffic as at
from tests.scenariokit import render_ambient as ra
from tests.scenariokit.world import Pod, Ver, World

#: kubectl resource words of the ambient evidence -> canonical name
KINDS = {
    "daemonsets": "daemonsets", "daemonset": "daemonsets", "ds": "daemonsets",
    "nodes": "nodes", "node": "nodes", "no": "nodes",
    "networkpolicies.networking.k8s.io": "networkpolicies", "networkpolicies": "networkpolicies",
    "resourcequotas": "resourcequotas", "resourcequota": "resourcequotas", "quota": "resourcequotas",
    "securitygrouppolicies.vpcresources.k8s.aws": "securitygrouppolicies",
}


class NotOurs(Exception):
    pass


def get_list(world: World, kind_word: str, ns: str | None, allns: bool) -> list[dict[str, Any]] | None:
    """Items of ``kubectl get <ambient kind>``; None when the kind is not an ambient one."""
    kind = KINDS.get(kind_word)
    if kind is None:
        return None
    a = am.amb(world)
    in_ns = (lambda n: True) if allns else (lambda n: n == (ns or "default"))
    if kind == "nodes":
        return ra.nodes_json(world)
    if a is None:
        if kind == "securitygrouppolicies":
            raise NotOurs(f'error: the server doesn\'t have a resource type "{kind_word}"')
        return []
    if kind == "daemonsets":
        return [d for d in ra.daemonsets_json(world) if in_ns(d["metadata"]["namespace"])]
    if kind == "networkpolicies":
        return [n for n in ra.network_policies_json(world) if in_ns(n["metadata"]["namespace"])]
    if kind == "resourcequotas":
        return [q for q in ra.resource_quotas_json(world) if in_ns(q["metadata"]["namespace"])]
    if kind == "securitygrouppolicies":
        if a.aws_node_env is None:
            raise NotOurs(f'error: the server doesn\'t have a resource type "{kind_word}"')
        return [{"apiVersion": "vpcresources.k8s.aws/v1beta1", "kind": "SecurityGroupPolicy", **s} for s in a.security_group_policies
                if in_ns(s["metadata"]["namespace"])]
    return None


def agent_pods(world: World, ns: str | None, allns: bool, selector: dict[str, str] | None) -> list[dict[str, Any]]:
    """ztunnel and istio-cni pods for a pod listing (filtered like kubectl -n / -A / -l)."""
    a = am.amb(world)
    if a is None or (not allns and (ns or "default") != a.namespace):
        return []
    pods = ra.agent_pods_json(world, "ztunnel") + ra.agent_pods_json(world, "cni")
    if selector:
        pods = [p for p in pods if all(p["metadata"]["labels"].get(k) == v for k, v in selector.items())]
    return pods


def agent_pod(world: World, name: str, ns: str) -> dict[str, Any] | None:
    a = am.amb(world)
    hit = ra.agent_pod_by_name(world, name) if a else None
    if a is None or hit is None or ns != a.namespace:
        return None
    return ra.agent_pod_json(world, hit[0], hit[1])


def configmap(world: World, name: str, ns: str) -> dict[str, Any] | None:
    return ra.configmap_json(world, name, ns)


def agent_logs(world: World, name: str, ns: str, container: str | None = None) -> str | None:
    """The log of a ztunnel / istio-cni pod (None: not an agent pod). A container the agent pod
    does not have is kubectl's own error (ztunnel's container is istio-proxy, istio-cni's install-cni)."""
    a = am.amb(world)
    hit = ra.agent_pod_by_name(world, name) if a else None
    if a is None or hit is None or ns != a.namespace:
        return None
    kind, node = hit
    own = "istio-proxy" if kind == "ztunnel" else "install-cni"
    if container not in (None, own):
        raise ValueError(f"error: container {container} is not valid for pod {name}\n")
    return at.ztunnel_log(world, node) if kind == "ztunnel" else at.cni_log(world, node)


_AGENT_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z")


def kubectl_timestamps(text: str) -> str:
    """``kubectl logs --timestamps``: every line the runtime received gets its RFC3339Nano receive
    time in front (continuation lines too, as separate writes); here the record's own time, with
    nanosecond digits, which is when the runtime received it to within the same millisecond."""
    out, stamp = [], "1970-01-01T00:00:00.000000000Z"
    for line in text.splitlines():
        m = _AGENT_TIME.match(line)
        if m:
            stamp = f"{m.group(1)}.{(m.group(2) or '').ljust(6, '0')[:6]}{len(out) % 1000:03d}Z"
        out.append(f"{stamp} {line}")
    return "\n".join(out) + "\n"


def ztunnel_config(world: World, args: list[str], experimental: bool) -> tuple[str, str, int]:
    """``istioctl [x] ztunnel-config all <pod> -n <ns> -o json`` / ``--node N``: (stdout, stderr, exit)."""
    v = world.istioctl
    if (not experimental and v < Ver(1, 23)) or (experimental and (v < Ver(1, 22) or v >= Ver(1, 23))):
        where = '"istioctl x"' if experimental else '"istioctl"'
        return "", f'Error: unknown command "ztunnel-config" for {where}\nRun \'istioctl --help\' for usage.\n', 1
    a = am.amb(world)
    pos = [x for i, x in enumerate(args) if not x.startswith("-") and (i == 0 or args[i - 1] not in ("-n", "-o", "--node"))]
    node = args[args.index("--node") + 1] if "--node" in args else None
    if node is None:
        name = pos[1] if len(pos) > 1 else ""
        ns = args[args.index("-n") + 1] if "-n" in args else world.control_plane.namespace
        hit = ra.agent_pod_by_name(world, name) if a else None
        if a is None or hit is None or hit[0] != "ztunnel" or ns != a.namespace:
            return "", f'Error: pods "{name}" not found\n', 1
        node = hit[1]
    if a is None or am.ztunnel_state(world, node) in ("missing",):
        return "", "Error: no pods found\n", 1
    if am.ztunnel_state(world, node) != "ok":
        return "", (f"Error: failed to execute command on {am.agent_pod_name('ztunnel', node)}.{a.namespace} Ztunnel: failure running "
                    f"port forward process: pod is not running. Status=Running\n"), 1
    return json.dumps(ra.ztunnel_dump(world, node), indent=2) + "\n", "", 0


def annotate_pod(world: World, pod: Pod, annotations: dict[str, str]) -> dict[str, str]:
    if am.amb(world) is None:
        return annotations
    return {**annotations, **ra.pod_annotations(world, pod)}


def adjust_pod(world: World, pod: Pod, obj: dict[str, Any]) -> None:
    """A pod whose sandbox istio-cni refuses stays ContainerCreating, without an IP."""
    if am.amb(world) is None:
        return
    st = obj["status"]
    if any(e.name == pod.name and e.reason == "FailedCreatePodSandBox" for e in at.events(world)):
        for c in st.get("containerStatuses", []):
            c.update({"ready": False, "started": False, "state": {"waiting": {"reason": "ContainerCreating"}}})
            c.pop("containerID", None)
            c["imageID"] = ""
        st["phase"] = "Pending"
        for k in ("podIP", "podIPs"):
            st.pop(k, None)


def istiod_env(world: World, deployment: dict[str, Any]) -> None:
    if am.amb(world) is None or deployment["metadata"]["name"] != "istiod":
        return
    for c in deployment["spec"]["template"]["spec"]["containers"]:
        if c["name"] == "discovery":
            c["env"] = [*c.get("env", []), *ra.istiod_env(world)]


def cr_status(world: World, obj: dict[str, Any], rendered: dict[str, Any]) -> None:
    if am.amb(world) is None or "status" in rendered:
        return
    st = ra.cr_status(world, obj)
    if st is not None:
        rendered["status"] = st


def service_status(world: World, svc: Any, rendered: dict[str, Any]) -> None:
    if am.amb(world) is None:
        return
    conds = ra.service_conditions(world, svc)
    if conds:
        rendered["status"]["conditions"] = conds
