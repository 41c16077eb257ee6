"""`kubectl get ... -o json` for the world: full live objects with status, as the API server returns them.

Injected pod specs follow the injector's output in the corpus (``inject/pkg-kube-inject/
hello.yaml.injected`` for native sidecars, ``hello-old-version.yaml.injected`` for classic):
the same annotations, labels, env names, probes and volumes, with the live fields a real API
server adds (uid, resourceVersion, ownerReferences, nodeName, status with container states).
"""

from __future__ import annotations

import json
from typing import Any

from tests.scenariokit import lifecycle
from tests.scenariokit.world import (
    DRAIN_S,
    GRACE_S,
    LOG_WINDOW_S,
    POD_AGE_S,
    Container,
    Pod,
    Service,
    Workload,
    World,
    gateway_api_versions,
    iso,
    kube_suffix,
    labels_match,
    stable_hex,
    uid,
)

_PROXY_VOLUMES = ["workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data",
                  "istio-podinfo", "istio-token", "istiod-ca-cert"]


def dump(obj: Any) -> str:
    """kubectl prints JSON with 4-space indentation and a trailing newline."""
    return json.dumps(obj, indent=4, ensure_ascii=False) + "\n"


def as_list(items: list[dict[str, Any]]) -> str:
    return dump({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})


def _rv(*parts: str) -> str:
    return str(int(stable_hex("rv", *parts, n=6), 16) % 900000 + 1000)


def _meta(kind: str, name: str, namespace: str | None, *, labels: dict[str, str] | None = None,
          annotations: dict[str, str] | None = None, age_s: int = 86400, **extra: Any) -> dict[str, Any]:
    m: dict[str, Any] = {}
    if annotations:
        m["annotations"] = dict(sorted(annotations.items()))
    m["creationTimestamp"] = iso(-age_s)
    m.update(extra.pop("before_labels", {}))
    if labels:
        m["labels"] = dict(sorted(labels.items()))
    m["name"] = name
    if namespace is not None:
        m["namespace"] = namespace
    m.update(extra)
    m["resourceVersion"] = _rv(kind, namespace or "", name)
    m["uid"] = uid(kind, namespace or "", name)
    return dict(sorted(m.items()))


def _image(world: World, w: Workload) -> str:
    return f"docker.io/istio/proxyv2:{world.proxy_version(w)}"


def _container_json(c: Container) -> dict[str, Any]:
    out: dict[str, Any] = {"image": c.image, "imagePullPolicy": "IfNotPresent", "name": c.name}
    if c.ports:
        out["ports"] = [{"containerPort": p.port, **({"name": p.name} if p.name else {}), "protocol": p.protocol}
                        for p in c.ports]
    for attr, probe in (("livenessProbe", c.liveness), ("readinessProbe", c.readiness)):
        if probe:
            out[attr] = _probe(probe.kind, probe.path, probe.port, probe.period)
    if c.env:
        out["env"] = [{"name": k, "value": v} for k, v in c.env.items()]
    out["resources"] = {}
    if c.run_as_user is not None:
        out["securityContext"] = {"runAsUser": c.run_as_user}
    out["terminationMessagePath"] = "/dev/termination-log"
    out["terminationMessagePolicy"] = "File"
    out["volumeMounts"] = [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": "kube-api-access", "readOnly": True}]
    return out


def _probe(kind: str, path: str, port: int | str, period: int = 10) -> dict[str, Any]:
    p: dict[str, Any] = {"failureThreshold": 3}
    if kind == "http":
        p["httpGet"] = {"path": path, "port": port, "scheme": "HTTP"}
    elif kind == "tcp":
        p["tcpSocket"] = {"port": port}
    else:
        p["exec"] = {"command": ["cat", "/tmp/healthy"]}
    p.update({"periodSeconds": period, "successThreshold": 1, "timeoutSeconds": 1})
    return p


def _proxy_container(world: World, pod: Pod, native: bool) -> dict[str, Any]:
    w = pod.workload
    ports = [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}]
    if pod.is_gateway:
        ports = [{"containerPort": 15021, "protocol": "TCP"}, {"containerPort": 8080, "protocol": "TCP"},
                 {"containerPort": 8443, "protocol": "TCP"}] + ports
    env = [
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
        {"name": "CA_ADDR", "value": f"istiod.{world.control_plane.namespace}.svc:15012"},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
        {"name": "INSTANCE_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
        {"name": "SERVICE_ACCOUNT", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.serviceAccountName"}}},
        {"name": "HOST_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.hostIP"}}},
        {"name": "ISTIO_CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"divisor": "0", "resource": "limits.cpu"}}},
        {"name": "PROXY_CONFIG", "value": "{}\n"},
        {"name": "ISTIO_META_POD_PORTS", "value": "[\n" + ",\n".join(
            "    " + json.dumps({**({"name": p.name} if p.name else {}), "containerPort": p.port, "protocol": p.protocol},
                                separators=(",", ":")) for p in pod.ports) + "\n]"},
        {"name": "ISTIO_META_APP_CONTAINERS", "value": ",".join(c.name for c in w.containers)},
        {"name": "GOMEMLIMIT", "valueFrom": {"resourceFieldRef": {"divisor": "0", "resource": "limits.memory"}}},
        {"name": "ISTIO_META_CLUSTER_ID", "value": world.cluster_id},
        {"name": "ISTIO_META_NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
        {"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"},
        {"name": "ISTIO_META_WORKLOAD_NAME", "value": w.name},
        {"name": "ISTIO_META_OWNER", "value": f"kubernetes://apis/apps/v1/namespaces/{pod.namespace}/deployments/{w.name}"},
        {"name": "ISTIO_META_MESH_ID", "value": world.control_plane.mesh.trust_domain},
        {"name": "TRUST_DOMAIN", "value": world.control_plane.mesh.trust_domain},
    ]
    args = ["proxy", "router" if pod.is_gateway else "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
            "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"]
    c: dict[str, Any] = {
        "args": args, "env": env, "image": _image(world, w), "imagePullPolicy": "IfNotPresent",
        "name": "istio-proxy", "ports": ports,
        "readinessProbe": {"failureThreshold": 4, "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
                           "periodSeconds": 15, "successThreshold": 1, "timeoutSeconds": 3},
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
    }
    if native:
        c["restartPolicy"] = "Always"
    c["securityContext"] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "privileged": False,
                            "readOnlyRootFilesystem": True, "runAsGroup": 1337, "runAsNonRoot": True, "runAsUser": 1337}
    if native:
        c["startupProbe"] = {"failureThreshold": 600, "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
                             "periodSeconds": 1, "successThreshold": 1, "timeoutSeconds": 3}
    c["terminationMessagePath"] = "/dev/termination-log"
    c["terminationMessagePolicy"] = "File"
    c["volumeMounts"] = [
        {"mountPath": "/var/run/secrets/workload-spiffe-uds", "name": "workload-socket"},
        {"mountPath": "/var/run/secrets/credential-uds", "name": "credential-socket"},
        {"mountPath": "/var/run/secrets/workload-spiffe-credentials", "name": "workload-certs"},
        {"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"},
        {"mountPath": "/var/lib/istio/data", "name": "istio-data"},
        {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"},
        {"mountPath": "/var/run/secrets/tokens", "name": "istio-token"},
        {"mountPath": "/etc/istio/pod", "name": "istio-podinfo"},
    ]
    return c


def _init_container(world: World, pod: Pod) -> dict[str, Any]:
    if world.cni:
        # tests/fixtures/corpus/istio/inject/pkg-kube-inject/hello.yaml.cni.injected
        return {
            "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "",
                     "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info", "--run-validation",
                     "--skip-rule-apply"],
            "image": _image(world, pod.workload), "imagePullPolicy": "IfNotPresent", "name": "istio-validation",
            "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "privileged": False,
                                "readOnlyRootFilesystem": True, "runAsGroup": 1337, "runAsNonRoot": True, "runAsUser": 1337},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        }
    return {
        "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "",
                 "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"],
        "image": _image(world, pod.workload), "imagePullPolicy": "IfNotPresent", "name": "istio-init",
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"add": [] if pod.workload.init_failure else ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
                            "privileged": False, "readOnlyRootFilesystem": False, "runAsGroup": 0,
                            "runAsNonRoot": False, "runAsUser": 0},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }


def pod_annotations(world: World, pod: Pod) -> dict[str, str]:
    w = pod.workload
    ann = dict(w.annotations)
    if pod.injected:
        first_init = "istio-validation" if world.cni else "istio-init"
        init = [first_init, "istio-proxy"] if pod.native else [first_init]
        if pod.is_gateway:
            init = []
        status = {"initContainers": init or None, "containers": None if pod.native and not pod.is_gateway else ["istio-proxy"],
                  "volumes": _PROXY_VOLUMES, "imagePullSecrets": None, "revision": "default"}
        ann.update({
            "istio.io/rev": "default",
            "kubectl.kubernetes.io/default-container": w.containers[0].name if w.containers else "istio-proxy",
            "kubectl.kubernetes.io/default-logs-container": w.containers[0].name if w.containers else "istio-proxy",
            "prometheus.io/path": "/stats/prometheus", "prometheus.io/port": "15020", "prometheus.io/scrape": "true",
            "sidecar.istio.io/status": json.dumps(status, separators=(",", ":")),
        })
        if not w.proxy.rewrite_probes:
            ann["sidecar.istio.io/rewriteAppHTTPProbers"] = "false"
    from tests.scenariokit.ambient_calls import annotate_pod

    return annotate_pod(world, pod, ann)


def _status_running(name: str, image: str, ready: bool, restarts: int, started: bool = True,
                    waiting: str | None = None, init: bool = False) -> dict[str, Any]:
    st: dict[str, Any] = {"containerID": f"containerd://{stable_hex('cid', name, image, n=64)}", "image": image,
                          "imageID": f"{image.split(':')[0]}@sha256:{stable_hex('img', image, n=64)}",
                          "lastState": {}, "name": name, "ready": ready, "restartCount": restarts}
    if waiting:
        st["lastState"] = {"terminated": {"containerID": st["containerID"], "exitCode": 1 if not init else 2,
                                          "finishedAt": iso(-60), "reason": "Error", "startedAt": iso(-61)}}
        st["state"] = {"waiting": {"message": f"back-off 5m0s restarting failed container={name}", "reason": waiting}}
        st["started"] = False
    elif init and not started:
        st["state"] = {"terminated": {"containerID": st["containerID"], "exitCode": 0, "finishedAt": iso(-3590),
                                      "reason": "Completed", "startedAt": iso(-3591)}}
    else:
        st["started"] = started
        st["state"] = {"running": {"startedAt": iso(-3590)}}
    return dict(sorted(st.items()))


def pod_json(world: World, pod: Pod) -> dict[str, Any]:
    w = pod.workload
    spec_containers = [_container_json(c) for c in w.containers]
    app_inits = [_container_json(c) for c in w.init_containers]
    init: list[dict[str, Any]] = []
    first, hook = lifecycle.hold_shape(world, pod) if pod.injected and not pod.is_gateway else (False, False)
    if pod.injected:
        proxy = _proxy_container(world, pod, pod.native and not pod.is_gateway)
        if hook:
            proxy["lifecycle"] = {"postStart": {"exec": {"command": ["pilot-agent", "wait"]}}}
        elif world.control_plane.values_lifecycle and not pod.native:
            proxy["lifecycle"] = world.control_plane.values_lifecycle
        if not pod.is_gateway:
            # reorderPod (istio/istio@1.22.0:pkg/kube/inject/webhook.go): istio-validation first, istio-init last,
            # or with native sidecars {istio-init|istio-validation} => istio-proxy => the app's init containers
            istio_init = _init_container(world, pod)
            if pod.native:
                init = [istio_init, proxy, *app_inits]
            elif world.cni:
                init = [istio_init, *app_inits]
            else:
                init = [*app_inits, istio_init]
        if pod.native and not pod.is_gateway:
            pass  # istio-proxy is in initContainers
        elif pod.is_gateway:
            spec_containers = [proxy]
        elif first:
            spec_containers.insert(0, proxy)
        else:
            spec_containers.append(proxy)
    else:
        init = app_inits
        if pod.is_gateway and not w.containers:
            # not injected: the `image: auto` placeholder of the Deployment stays as it is
            spec_containers = [{"image": "auto", "imagePullPolicy": "IfNotPresent", "name": "istio-proxy", "resources": {},
                                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}]
    for c in spec_containers:
        for p in w.containers:
            if c["name"] == p.name and pod.injected and p.readiness and p.readiness.kind == "http" and w.proxy.rewrite_probes:
                # the injector rewrites HTTP probes to the agent (15020 /app-health/...)
                c["readinessProbe"]["httpGet"] = {"path": f"/app-health/{p.name}/readyz", "port": 15020, "scheme": "HTTP"}
    spec: dict[str, Any] = {"containers": spec_containers, "dnsPolicy": "ClusterFirst", "enableServiceLinks": True}
    if w.host_network:
        spec["hostNetwork"] = True
    if init:
        spec["initContainers"] = init
    spec.update({"nodeName": pod.node, "preemptionPolicy": "PreemptLowerPriority", "priority": 0,
                 "restartPolicy": "Never" if w.kind == "Job" else "Always", "schedulerName": "default-scheduler",
                 "securityContext": {"runAsUser": w.pod_run_as_user} if w.pod_run_as_user is not None else {},
                 "serviceAccount": w.service_account, "serviceAccountName": w.service_account,
                 "terminationGracePeriodSeconds": 30,
                 "tolerations": [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                                 {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}]})
    vols: list[dict[str, Any]] = []
    if pod.injected:
        vols += [{"emptyDir": {}, "name": "workload-socket"}, {"emptyDir": {}, "name": "credential-socket"},
                 {"emptyDir": {}, "name": "workload-certs"}, {"emptyDir": {"medium": "Memory"}, "name": "istio-envoy"},
                 {"emptyDir": {}, "name": "istio-data"},
                 {"downwardAPI": {"defaultMode": 420, "items": [
                     {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}, "path": "labels"},
                     {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"}, "path": "annotations"}]},
                  "name": "istio-podinfo"},
                 {"name": "istio-token", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {
                     "audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}]}},
                 {"configMap": {"defaultMode": 420, "name": "istio-ca-root-cert"}, "name": "istiod-ca-cert"}]
    vols.append({"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}}]}})
    spec["volumes"] = vols

    # status
    init_failed = pod.init_failed or pod.init_blocked
    proxy_ready = pod.proxy_ready
    cstat = []
    for c in w.containers:
        ready = c.ready and not init_failed and not pod.forced_unready and not (pod.probes_dropped and (c.readiness or c.liveness))
        if c.terminated is not None or c.waiting or c.started_s is not None:
            cstat.append(lifecycle.lifecycle_status(pod, c, _status_running(c.name, c.image, ready, c.restarts), blocked=init_failed))
            continue
        cstat.append(_status_running(c.name, c.image, ready, c.restarts, started=not init_failed))
        if init_failed:
            cstat[-1]["state"] = {"waiting": {"reason": "PodInitializing"}}
            cstat[-1]["started"] = False
        elif c.last_terminated is not None:
            # the previous run exited; the kubelet restarted it after the 10 s crash back-off
            lt = c.last_terminated
            cstat[-1]["lastState"] = {"terminated": {
                "containerID": f"containerd://{stable_hex('cid', pod.name, c.name, 'previous', n=64)}",
                "exitCode": lt.exit_code, "finishedAt": iso(-POD_AGE_S + lt.finished_s), "reason": lt.reason,
                "startedAt": iso(-POD_AGE_S + lt.started_s)}}
            cstat[-1]["restartCount"] = max(c.restarts, 1)
            cstat[-1]["state"] = {"running": {"startedAt": iso(-POD_AGE_S + max(10.0, lt.finished_s + 10))}}
    if pod.is_gateway and not pod.injected and not w.containers:
        cstat.append({"image": "auto", "imageID": "", "lastState": {}, "name": "istio-proxy", "ready": False,
                      "restartCount": 0, "started": False,
                      "state": {"waiting": {"message": 'Back-off pulling image "auto"', "reason": "ImagePullBackOff"}}})
    istat = []
    app_istat = lifecycle.app_init_statuses(world, pod, lambda n, img: _status_running(n, img, True, 0, started=False, init=True))
    if pod.injected:
        img = _image(world, w)
        if not pod.is_gateway:
            iptables_failed = w.init_failure is not None
            istio_init = _status_running("istio-init", img, not iptables_failed, 5 if iptables_failed else 0, started=False,
                                         waiting="CrashLoopBackOff" if iptables_failed else None, init=True)
            if world.cni:
                istio_init = lifecycle.validation_status(world, pod, {**istio_init, "name": "istio-validation"})
            istat.append(istio_init)
        pstat = _status_running("istio-proxy", img, proxy_ready, 0)
        if w.proxy.started_s != 10.0:
            pstat["state"] = {"running": {"startedAt": lifecycle.at(w.proxy.started_s)}}
        if init_failed:
            pstat = {**pstat, "ready": False, "started": False, "state": {"waiting": {"reason": "PodInitializing"}}}
        elif pod.native and w.kind == "Job" and _job_done(w):
            # Kubernetes stops a native sidecar once the main containers have terminated (KEP-753)
            end = max(c.terminated.finished_s for c in w.containers if c.terminated is not None) + 1
            pstat = {**pstat, "ready": False, "started": False, "state": {"terminated": {
                "containerID": pstat["containerID"], "exitCode": 0, "finishedAt": lifecycle.at(end), "reason": "Completed",
                "startedAt": lifecycle.at(w.proxy.started_s)}}}
        elif pod.shutdown_phase(LOG_WINDOW_S) == "exited":
            # pilot-agent drained Envoy for terminationDrainDuration after SIGTERM, then exited
            pstat = {**pstat, "ready": False, "started": False, "state": {"terminated": {
                "containerID": pstat["containerID"], "exitCode": 0,
                "finishedAt": iso(w.deleted_at_s + DRAIN_S - LOG_WINDOW_S), "reason": "Completed",
                "startedAt": pstat["state"]["running"]["startedAt"]}}}
        if pod.native and not pod.is_gateway:
            istat.append(pstat)
        else:
            cstat.append(pstat)
    # the app's init containers in the injector's order (see the spec above)
    if pod.injected and not pod.is_gateway and (pod.native or world.cni):
        istat = istat + app_istat
    else:
        istat = app_istat + istat
    ready = pod.ready and not pod.forced_unready and all(c["ready"] for c in cstat)
    ready_at = lifecycle.at(_ready_s(w, pod))
    conds = [
        {"lastProbeTime": None, "lastTransitionTime": iso(-3595), "status": "True", "type": "PodReadyToStartContainers"},
        {"lastProbeTime": None, "lastTransitionTime": iso(-3590), "status": "False" if init_failed else "True", "type": "Initialized"},
        {"lastProbeTime": None, "lastTransitionTime": ready_at, "status": "True" if ready else "False", "type": "Ready"},
        {"lastProbeTime": None, "lastTransitionTime": ready_at, "status": "True" if ready else "False", "type": "ContainersReady"},
        {"lastProbeTime": None, "lastTransitionTime": iso(-3600), "status": "True", "type": "PodScheduled"},
    ]
    for cnd in conds[2:4]:
        if not ready:
            inits = {c.name for c in w.init_containers} | {"istio-init", "istio-validation"}
            names = [c["name"] for c in cstat + istat if not c["ready"] and c["name"] not in inits]
            cnd["message"] = f"containers with unready status: [{' '.join(names)}]"
            cnd["reason"] = "ContainersNotReady"
    if init_failed:
        pending = [c["name"] for c in istat if "terminated" not in c.get("state", {}) or c["state"]["terminated"].get("exitCode")]
        conds[1]["message"] = f"containers with incomplete status: [{' '.join(pending) or 'istio-init'}]"
        conds[1]["reason"] = "ContainersNotInitialized"
    status: dict[str, Any] = {"conditions": conds, "containerStatuses": sorted(cstat, key=lambda s: s["name"]),
                              "hostIP": f"172.18.0.{world.nodes.index(pod.node) + 2}",
                              "hostIPs": [{"ip": f"172.18.0.{world.nodes.index(pod.node) + 2}"}]}
    if istat:
        status["initContainerStatuses"] = istat
    status.update({"phase": _phase(w, pod, init_failed), "podIP": pod.ip, "podIPs": [{"ip": pod.ip}],
                   "qosClass": "Burstable" if pod.injected else "BestEffort", "startTime": iso(-3600)})
    owner = lifecycle.job_owner(pod) if w.kind == "Job" else {
        "apiVersion": "apps/v1", "blockOwnerDeletion": True, "controller": True, "kind": "ReplicaSet", "name": pod.rs_name,
        "uid": uid("ReplicaSet", pod.namespace, pod.rs_name)}
    meta = _meta("Pod", pod.name, pod.namespace, labels=pod.labels, annotations=pod_annotations(world, pod) or None,
                 age_s=3600, generateName=f"{w.name if w.kind == 'Job' else pod.rs_name}-",
                 **({"deletionGracePeriodSeconds": GRACE_S,
                     "deletionTimestamp": iso(w.deleted_at_s + GRACE_S - LOG_WINDOW_S)} if pod.terminating else {}),
                 ownerReferences=[owner])
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}
    from tests.scenariokit.ambient_calls import adjust_pod

    adjust_pod(world, pod, obj)
    return obj


def _job_done(w: Workload) -> bool:
    return bool(w.containers) and all(c.terminated is not None for c in w.containers)


def _phase(w: Workload, pod: Pod, init_failed: bool) -> str:
    if init_failed:
        return "Pending"
    if w.kind == "Job" and _job_done(w) and (pod.native or not pod.injected):
        return "Succeeded" if all(c.terminated is not None and c.terminated.exit_code == 0 for c in w.containers) else "Failed"
    return "Running"


def _ready_s(w: Workload, pod: Pod) -> float:
    """When the pod turned Ready: the proxy's readiness (pilot-agent logs it), or the app's restart."""
    t = w.proxy.started_s + w.proxy.ready_after_s if pod.injected else lifecycle.APP_START_S + 1
    for c in w.containers:
        if c.last_terminated is not None:
            t = max(t, c.last_terminated.finished_s + 11)
    return float(int(t) + 1)


def _template(world: World, w: Workload, injected_hash: str | None) -> dict[str, Any]:
    labels = dict(w.labels)
    if injected_hash:
        labels["pod-template-hash"] = injected_hash
    spec: dict[str, Any] = {"containers": [_container_json(c) for c in w.containers] if w.containers else [
        {"image": "auto", "imagePullPolicy": "IfNotPresent", "name": "istio-proxy", "resources": {},
         "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
        "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
        "securityContext": {}, "serviceAccount": w.service_account, "serviceAccountName": w.service_account,
        "terminationGracePeriodSeconds": 30}
    if w.host_network:
        spec["hostNetwork"] = True
    md: dict[str, Any] = {"creationTimestamp": None, "labels": dict(sorted(labels.items()))}
    if w.annotations:
        md = {"annotations": dict(w.annotations), **md}
    return {"metadata": md, "spec": spec}


def _workload_pods(world: World, w: Workload) -> list[Pod]:
    return world.pods_of(w)


def deployment_json(world: World, w: Workload) -> dict[str, Any]:
    pods = _workload_pods(world, w)
    ready = sum(1 for p in pods if p.ready)
    rejected = world.injection(w) == "rejected"
    want = world.control_plane.istiod_replicas if w.name == "istiod" and w.namespace == world.control_plane.namespace else w.replicas
    conds = [
        {"lastTransitionTime": iso(-3500), "lastUpdateTime": iso(-3500),
         "message": "Deployment has minimum availability." if ready >= want else "Deployment does not have minimum availability.",
         "reason": "MinimumReplicasAvailable" if ready >= want else "MinimumReplicasUnavailable",
         "status": "True" if ready >= want else "False", "type": "Available"},
    ]
    if rejected:
        conds.append({"lastTransitionTime": iso(-600), "lastUpdateTime": iso(-600),
                      "message": world.webhook_error_message(), "reason": "FailedCreate", "status": "True",
                      "type": "ReplicaFailure"})
    conds.append({"lastTransitionTime": iso(-86400), "lastUpdateTime": iso(-3500),
                  "message": f'ReplicaSet "{w.name}-{kube_suffix(f"{w.key}/template/{world.injection(w)}", 10)}" has successfully progressed.',
                  "reason": "NewReplicaSetAvailable", "status": "True", "type": "Progressing"})
    status: dict[str, Any] = {"conditions": conds, "observedGeneration": 1}
    if ready:
        status["availableReplicas"] = ready
        status["readyReplicas"] = ready
    status["replicas"] = len(pods)
    if len(pods) - ready:
        status["unavailableReplicas"] = want - ready
    status["updatedReplicas"] = len(pods)
    ann = {"deployment.kubernetes.io/revision": "1", **w.deployment_annotations}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": _meta("Deployment", w.name, w.namespace, labels={**w.labels, **w.deployment_labels} if w.labels else None,
                              annotations=ann, generation=1),
            "spec": {"progressDeadlineSeconds": 600, "replicas": want, "revisionHistoryLimit": 10,
                     "selector": {"matchLabels": {k: v for k, v in w.labels.items() if k in ("app", "version", "istio")}},
                     "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
                     "template": _template(world, w, None)},
            "status": status}


def replicaset_json(world: World, w: Workload) -> dict[str, Any]:
    decision = world.injection(w)
    h = kube_suffix(f"{w.key}/template/{decision}", 10)
    name = f"{w.name}-{h}"
    pods = _workload_pods(world, w)
    ready = sum(1 for p in pods if p.ready)
    want = world.control_plane.istiod_replicas if w.name == "istiod" and w.namespace == world.control_plane.namespace else w.replicas
    status: dict[str, Any] = {}
    if ready:
        status["availableReplicas"] = ready
    if decision == "rejected":
        status["conditions"] = [{"lastTransitionTime": iso(-600), "message": world.webhook_error_message(),
                                 "reason": "FailedCreate", "status": "True", "type": "ReplicaFailure"}]
    status["fullyLabeledReplicas"] = len(pods)
    status["observedGeneration"] = 1
    if ready:
        status["readyReplicas"] = ready
    status["replicas"] = len(pods)
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": _meta("ReplicaSet", name, w.namespace, labels={**w.labels, "pod-template-hash": h},
                              annotations={"deployment.kubernetes.io/desired-replicas": str(want),
                                           "deployment.kubernetes.io/max-replicas": str(want + 1),
                                           "deployment.kubernetes.io/revision": "1"},
                              generation=1,
                              ownerReferences=[{"apiVersion": "apps/v1", "blockOwnerDeletion": True, "controller": True,
                                                "kind": "Deployment", "name": w.name,
                                                "uid": uid("Deployment", w.namespace, w.name)}]),
            "spec": {"replicas": want, "selector": {"matchLabels": {**{k: v for k, v in w.labels.items() if k in ("app", "version", "istio")},
                                                                     "pod-template-hash": h}},
                     "template": _template(world, w, h)},
            "status": status}


def service_json(world: World, s: Service) -> dict[str, Any]:
    ports = []
    for p in s.ports:
        d: dict[str, Any] = {}
        if p.app_protocol:
            d["appProtocol"] = p.app_protocol
        if p.name:
            d["name"] = p.name
        if s.type == "LoadBalancer":
            d["nodePort"] = 30000 + (p.port * 7) % 2767
        d.update({"port": p.port, "protocol": p.protocol, "targetPort": p.target})
        ports.append(d)
    ip = world.cluster_ip(s)
    spec: dict[str, Any] = {}
    if s.type == "LoadBalancer":
        spec["allocateLoadBalancerNodePorts"] = True
    spec.update({"clusterIP": ip or "None", "clusterIPs": [ip or "None"]})
    if s.type == "LoadBalancer":
        spec["externalTrafficPolicy"] = "Cluster"
    spec.update({"internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                 "ports": ports})
    if s.selector:
        spec["selector"] = dict(s.selector)
    spec.update({"sessionAffinity": "None", "type": s.type})
    status: dict[str, Any] = {"loadBalancer": {}}
    if s.type == "LoadBalancer":
        status = {"loadBalancer": {"ingress": [{"ip": "172.18.255.200", "ipMode": "VIP"}]}}
    obj = {"apiVersion": "v1", "kind": "Service",
           "metadata": _meta("Service", s.name, s.namespace, labels=s.labels or None, annotations=s.annotations or None),
           "spec": spec, "status": status}
    from tests.scenariokit.ambient_calls import service_status

    service_status(world, s, obj)
    return obj


def endpointslice_json(world: World, s: Service) -> dict[str, Any]:
    name = f"{s.name}-{kube_suffix(s.namespace + s.name, 5)}"
    eps = []
    if s.selector:
        for p in world.pods:
            if p.namespace == s.namespace and labels_match(s.selector, p.labels):
                # serving follows the pod's Ready condition: gone once the terminating sidecar exited
                serving = p.ready and not p.forced_unready and p.shutdown_phase(LOG_WINDOW_S) != "exited"
                # EndpointSlice semantics: ready = serving and not terminating
                eps.append({"addresses": [p.ip], "conditions": {"ready": serving and not p.terminating, "serving": serving,
                                                                "terminating": p.terminating},
                            "nodeName": p.node,
                            "targetRef": {"kind": "Pod", "name": p.name, "namespace": p.namespace,
                                          "uid": uid("Pod", p.namespace, p.name)}})
    ports = []
    for sp in s.ports:
        tp = sp.target
        if isinstance(tp, str):
            pod = next((p for p in world.pods if p.namespace == s.namespace and s.selector and labels_match(s.selector, p.labels)), None)
            tp = world.target_port_number(pod, sp) if pod else None
        d: dict[str, Any] = {}
        if sp.app_protocol:
            d["appProtocol"] = sp.app_protocol
        d.update({"name": sp.name, "port": tp, "protocol": sp.protocol})
        ports.append(d)
    obj: dict[str, Any] = {"addressType": "IPv4", "apiVersion": "discovery.k8s.io/v1"}
    if eps:
        obj["endpoints"] = eps
    else:
        obj["endpoints"] = None
    obj["kind"] = "EndpointSlice"
    obj["metadata"] = _meta("EndpointSlice", name, s.namespace,
                            labels={"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                                    "kubernetes.io/service-name": s.name, **s.labels},
                            annotations={"endpoints.kubernetes.io/last-change-trigger-time": iso(-3500)},
                            generateName=f"{s.name}-",
                            ownerReferences=[{"apiVersion": "v1", "blockOwnerDeletion": True, "controller": True,
                                              "kind": "Service", "name": s.name, "uid": uid("Service", s.namespace, s.name)}])
    obj["ports"] = ports
    return obj


def namespace_json(world: World, name: str) -> dict[str, Any]:
    labels = {"kubernetes.io/metadata.name": name, **world.ns_labels(name)}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta("Namespace", name, None, labels=labels),
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def event_json(world: World, e: Any, i: int) -> dict[str, Any]:
    name = f"{e.name}.{stable_hex('event', e.namespace, e.name, e.reason, str(i), n=16)}"
    ts_first = iso(-e.age_s * 10 if e.count > 1 else -e.age_s)
    return {"apiVersion": "v1", "count": e.count, "eventTime": None, "firstTimestamp": ts_first,
            "involvedObject": {"apiVersion": "apps/v1" if e.kind in ("ReplicaSet", "Deployment") else "v1",
                               "kind": e.kind, "name": e.name, "namespace": e.namespace,
                               "resourceVersion": _rv(e.kind, e.namespace, e.name),
                               "uid": uid(e.kind, e.namespace, e.name),
                               **({"fieldPath": "spec.containers{" + "istio-proxy" + "}"} if e.kind == "Pod" and "probe" in e.message else {})},
            "kind": "Event", "lastTimestamp": iso(-e.age_s // 10), "message": e.message,
            "metadata": _meta("Event", name, e.namespace, age_s=e.age_s * 10),
            "reason": e.reason, "reportingComponent": e.component if e.component != "kubelet" else "kubelet",
            "reportingInstance": "" if e.component != "kubelet" else world.nodes[0],
            "source": {"component": e.component, **({"host": world.nodes[0]} if e.component == "kubelet" else {})},
            "type": e.type}


# -- control plane objects ---------------------------------------------------------------------


def mesh_config_yaml(world: World) -> str:
    m = world.control_plane.mesh
    lines = []
    if m.access_log_file:
        lines.append(f"accessLogFile: {m.access_log_file}")
        if m.access_log_encoding == "JSON":
            lines.append("accessLogEncoding: JSON")
    lines += [
        "defaultConfig:",
        "  discoveryAddress: istiod.istio-system.svc:15012",
        *([f"  holdApplicationUntilProxyStarts: {'true' if m.hold_application_until_proxy_starts else 'false'}"]
          if m.hold_application_until_proxy_starts is not None else []),
        "defaultProviders:",
        "  metrics:",
        "  - prometheus",
        f"enableAutoMtls: {'true' if m.enable_auto_mtls else 'false'}",
        "enablePrometheusMerge: true",
        "outboundTrafficPolicy:",
        f"  mode: {m.outbound_traffic_policy}",
        f"rootNamespace: {m.root_namespace}",
        f"trustDomain: {m.trust_domain}",
    ]
    return "\n".join(lines) + "\n"


def injector_config(world: World) -> str:
    cp = world.control_plane
    out = [f"defaultTemplates: [sidecar]", f"policy: {cp.injector_policy}", f"alwaysInjectSelector:"]
    out += ["  - matchLabels:\n" + "\n".join(f"      {k}: {v}" for k, v in s.get("matchLabels", {}).items())
            for s in cp.always_inject_selector] or ["  []"]
    out.append("neverInjectSelector:")
    out += ["  - matchLabels:\n" + "\n".join(f"      {k}: {v}" for k, v in s.get("matchLabels", {}).items())
            for s in cp.never_inject_selector] or ["  []"]
    out += ["injectedAnnotations:", "template: \"{{ Template_Version_And_Istio_Version_Mismatched_Check_Installation }}\"",
            "templates:", "  sidecar: |", "    # (template elided)"]
    return "\n".join(out) + "\n"


def configmaps_json(world: World) -> list[dict[str, Any]]:
    ns = world.control_plane.namespace
    out = []
    for rev in world.control_plane.revisions:
        suffix = "" if rev == "default" else f"-{rev}"
        labels = {"app.kubernetes.io/name": "istiod", "install.operator.istio.io/owning-resource": "unknown",
                  "istio.io/rev": rev, "operator.istio.io/component": "Pilot", "release": "istio"}
        out.append({"apiVersion": "v1", "data": {"mesh": mesh_config_yaml(world), "meshNetworks": "networks: {}"},
                    "kind": "ConfigMap", "metadata": _meta("ConfigMap", f"istio{suffix}", ns, labels=labels)})
        proxy_values: dict[str, Any] = {"image": "proxyv2"}
        if world.control_plane.values_hold is not None:
            proxy_values["holdApplicationUntilProxyStarts"] = world.control_plane.values_hold
        if world.control_plane.values_lifecycle:
            proxy_values["lifecycle"] = world.control_plane.values_lifecycle
        values = json.dumps({"global": {"hub": "docker.io/istio", "tag": world.istio_version, "proxy": proxy_values},
                             "istio_cni": {"enabled": world.cni}, **({"pilot": {"cni": {"enabled": True}}} if world.cni else {}),
                             "revision": "" if rev == "default" else rev,
                             "sidecarInjectorWebhook": {"enableNamespacesByDefault": world.control_plane.mesh.enable_namespaces_by_default,
                                                        "rewriteAppHTTPProbe": True}}, indent=2)
        out.append({"apiVersion": "v1", "data": {"config": injector_config(world), "values": values},
                    "kind": "ConfigMap", "metadata": _meta("ConfigMap", f"istio-sidecar-injector{suffix}", ns, labels=labels)})
    out.append({"apiVersion": "v1", "data": {"root-cert.pem": _root_pem()}, "kind": "ConfigMap",
                "metadata": _meta("ConfigMap", "istio-ca-root-cert", ns, labels={"istio.io/config": "true"})})
    out.append({"apiVersion": "v1", "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n(kube root)\n-----END CERTIFICATE-----\n"},
                "kind": "ConfigMap", "metadata": _meta("ConfigMap", "kube-root-ca.crt", ns,
                                                       annotations={"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."})})
    return out


def _root_pem() -> str:
    from tests.scenariokit.render_envoy import root_cert_pem

    return root_cert_pem("primary")


def webhooks_json(world: World) -> list[dict[str, Any]]:
    """MutatingWebhookConfiguration per revision, selectors as in pilot_default.golden.yaml."""
    cp = world.control_plane
    out = []
    ca = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvRENDQWVTZ0F3SUJBZ0lRRA=="

    def hook(name: str, ns_sel: dict[str, Any], obj_sel: dict[str, Any], rev: str) -> dict[str, Any]:
        path = "/inject" if rev == "default" else f"/inject/cluster/{world.cluster_id}/net/network1"
        return {"admissionReviewVersions": ["v1"],
                "clientConfig": {"caBundle": ca, "service": {"name": "istiod" if rev == "default" else f"istiod-{rev}",
                                                              "namespace": cp.namespace, "path": path, "port": 443}},
                "failurePolicy": cp.failure_policy, "matchPolicy": "Equivalent", "name": name,
                "namespaceSelector": ns_sel, "objectSelector": obj_sel, "reinvocationPolicy": "Never",
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"],
                           "scope": "*"}],
                "sideEffects": "None", "timeoutSeconds": 10}

    for rev in cp.revisions:
        if rev == "default":
            hooks = [
                hook("rev.namespace.sidecar-injector.istio.io",
                     {"matchExpressions": [{"key": "istio.io/rev", "operator": "In", "values": ["default"]},
                                           {"key": "istio-injection", "operator": "DoesNotExist"}]},
                     {"matchExpressions": [{"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}]}, rev),
                hook("rev.object.sidecar-injector.istio.io",
                     {"matchExpressions": [{"key": "istio.io/rev", "operator": "DoesNotExist"},
                                           {"key": "istio-injection", "operator": "DoesNotExist"}]},
                     {"matchExpressions": [{"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]},
                                           {"key": "istio.io/rev", "operator": "In", "values": ["default"]}]}, rev),
                hook("namespace.sidecar-injector.istio.io",
                     {"matchExpressions": [{"key": "istio-injection", "operator": "In", "values": ["enabled"]}]},
                     {"matchExpressions": [{"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}]}, rev),
                hook("object.sidecar-injector.istio.io",
                     {"matchExpressions": [{"key": "istio-injection", "operator": "DoesNotExist"},
                                           {"key": "istio.io/rev", "operator": "DoesNotExist"}]},
                     {"matchExpressions": [{"key": "sidecar.istio.io/inject", "operator": "In", "values": ["true"]},
                                           {"key": "istio.io/rev", "operator": "DoesNotExist"}]}, rev),
            ]
            name = "istio-sidecar-injector"
        else:
            hooks = [
                hook("rev.namespace.sidecar-injector.istio.io",
                     {"matchExpressions": [{"key": "istio.io/rev", "operator": "In", "values": [rev]},
                                           {"key": "istio-injection", "operator": "DoesNotExist"}]},
                     {"matchExpressions": [{"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}]}, rev),
                hook("rev.object.sidecar-injector.istio.io",
                     {"matchExpressions": [{"key": "istio.io/rev", "operator": "DoesNotExist"},
                                           {"key": "istio-injection", "operator": "DoesNotExist"}]},
                     {"matchExpressions": [{"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]},
                                           {"key": "istio.io/rev", "operator": "In", "values": [rev]}]}, rev),
            ]
            name = f"istio-sidecar-injector-{rev}"
        out.append({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
                    "metadata": _meta("MutatingWebhookConfiguration", name, None, generation=2,
                                      labels={"app": "sidecar-injector", "install.operator.istio.io/owning-resource": "unknown",
                                              "istio.io/rev": rev, "operator.istio.io/component": "Pilot", "release": "istio"}),
                    "webhooks": hooks})
    for tag, rev in sorted(cp.tags.items()):
        hooks = [
            hook("rev.namespace.sidecar-injector.istio.io",
                 {"matchExpressions": [{"key": "istio.io/rev", "operator": "In", "values": [tag]},
                                       {"key": "istio-injection", "operator": "DoesNotExist"}]},
                 {"matchExpressions": [{"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}]}, rev),
            hook("rev.object.sidecar-injector.istio.io",
                 {"matchExpressions": [{"key": "istio.io/rev", "operator": "DoesNotExist"},
                                       {"key": "istio-injection", "operator": "DoesNotExist"}]},
                 {"matchExpressions": [{"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]},
                                       {"key": "istio.io/rev", "operator": "In", "values": [tag]}]}, rev),
        ]
        if tag == "default":
            hooks += [
                hook("namespace.sidecar-injector.istio.io",
                     {"matchExpressions": [{"key": "istio-injection", "operator": "In", "values": ["enabled"]}]},
                     {"matchExpressions": [{"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}]}, rev),
                hook("object.sidecar-injector.istio.io",
                     {"matchExpressions": [{"key": "istio-injection", "operator": "DoesNotExist"},
                                           {"key": "istio.io/rev", "operator": "DoesNotExist"}]},
                     {"matchExpressions": [{"key": "sidecar.istio.io/inject", "operator": "In", "values": ["true"]},
                                           {"key": "istio.io/rev", "operator": "DoesNotExist"}]}, rev),
            ]
        out.append({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
                    "metadata": _meta("MutatingWebhookConfiguration", f"istio-revision-tag-{tag}", None, generation=1,
                                      labels={"app": "sidecar-injector", "istio.io/rev": rev, "istio.io/tag": tag}),
                    "webhooks": hooks})
    return out


def crds_json(world: World) -> list[dict[str, Any]]:
    if not world.gateway_api_version:
        return []
    out = []
    for plural, kind in (("gateways", "Gateway"), ("httproutes", "HTTPRoute"), ("gatewayclasses", "GatewayClass"),
                         ("referencegrants", "ReferenceGrant")):
        name = f"{plural}.gateway.networking.k8s.io"
        vers, storage = gateway_api_versions(world.gateway_api_version, kind)
        out.append({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": _meta("CustomResourceDefinition", name, None,
                                      annotations={"api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/2997",
                                                   "gateway.networking.k8s.io/bundle-version": world.gateway_api_version,
                                                   "gateway.networking.k8s.io/channel": "standard"},
                                      labels={"gateway.networking.k8s.io/bundle-version": world.gateway_api_version}),
                    "spec": {"group": "gateway.networking.k8s.io",
                             "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()},
                             "scope": "Namespaced",
                             "versions": [{"name": v, "served": True, "storage": v == storage} for v in vers]},
                    "status": {"acceptedNames": {"kind": kind, "plural": plural}, "storedVersions": [storage]}})
    return out


def gateway_api_preferred(world: World, kind: str) -> str | None:
    """The version ``kubectl get <plural>.gateway.networking.k8s.io`` returns objects in: the
    API server's preferred version, the most stable one served (GA > beta > alpha)."""
    if not world.gateway_api_version:
        return None
    vers, _ = gateway_api_versions(world.gateway_api_version, kind)
    rank = lambda v: (0 if "alpha" in v else 1 if "beta" in v else 2, v)  # noqa: E731
    return max(vers, key=rank)


def istio_cr_json(obj: dict[str, Any]) -> dict[str, Any]:
    """A live CR: metadata gets uid/resourceVersion/generation; spec as authored."""
    m = obj["metadata"]
    out = {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
           "metadata": _meta(obj["kind"], m["name"], m["namespace"], labels=m.get("labels"),
                             annotations=m.get("annotations"), generation=1),
           "spec": obj["spec"]}
    if "status" in obj:
        out["status"] = obj["status"]
    return out
