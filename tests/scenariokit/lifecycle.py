"""Lifecycle knobs of the scenario kit: when things happen to a pod, and what the injector of each
Istio version makes of the start-up settings.

Every rule here is what the Istio source at the named tag does; formats are those of real
outputs (``tests/fixtures/corpus``: the injected pod goldens ``istio/inject/pkg-kube-inject``,
``ambient/cni-logs`` for the istio-cni agent's Istio text log, ``captured/access-logs`` for the
istio-validation line). A scenario's own application log lines are quoted from the incident it
reproduces (cite it in the scenario).

Times: pods start at ``startTime`` = ``EPOCH - POD_AGE_S``; knobs count seconds from there.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tests.scenariokit.world import EPOCH, POD_AGE_S, Event, Ver, iso, uid

if TYPE_CHECKING:
    from tests.scenariokit.world import Container, Pod, Workload, World

#: istio-init / istio-validation run right before the app containers (the kit's default timing)
ISTIO_INIT_START_S = 9.0
APP_START_S = 10.0
#: a container in CrashLoopBackOff has been restarted this many times when the evidence is taken
CRASH_RESTARTS = 5
#: istio-validation gives up after this long (istio/istio@1.22.0:tools/istio-iptables/pkg/constants
#: DefaultProbeTimeout = 5s)
VALIDATION_TIMEOUT_S = 5.0


def crash_runs(first_start_s: float, run_s: float, restarts: int = CRASH_RESTARTS) -> list[tuple[float, float]]:
    """(started, finished) of each run of a crash-looping container: the kubelet's back-off doubles
    from 10 s, capped at 5 min (kubelet's CrashLoopBackOff)."""
    runs, t = [], first_start_s
    for k in range(restarts + 1):
        runs.append((t, t + run_s))
        t = t + run_s + min(10.0 * 2 ** k, 300.0)
    return runs


# --------------------------------------------------------------------------- the injector's choices


def native_by_injector(world: World, w: Workload | None) -> bool:
    """Does the injector make istio-proxy a native sidecar (initContainers, restartPolicy: Always)?

    * before 1.19 never (no such feature);
    * 1.19-1.26: only with istiod's ENABLE_NATIVE_SIDECARS=true (istio/istio@1.19.0:pilot/pkg/features/pilot.go);
    * from 1.24 the pod annotation ``sidecar.istio.io/nativeSidecar`` overrides it: anything but "false" is
      native (istio/istio@1.24.0 injection-template.yaml);
    * from 1.27 the default is "auto": native when the node's kubelet is >= 1.33
      (istio/istio@1.27.0:pkg/kube/inject/webhook.go DetectNativeSidecar); the kit's kubelets run
      the API server's version.
    """
    v = world.version
    if v < Ver(1, 19):
        return False
    env = world.control_plane.native_sidecars_env or ("auto" if v >= Ver(1, 27) else "false")
    if env == "true":
        default = True
    elif env == "auto":
        default = Ver.parse(world.server_version) >= Ver(1, 33)
    else:
        default = False
    ann = w.annotations.get("sidecar.istio.io/nativeSidecar") if w is not None else None
    if v >= Ver(1, 24) and ann is not None:
        return ann != "false"
    return default


def _annotation_hold(w: Workload) -> bool | None:
    import yaml

    raw = w.annotations.get("proxy.istio.io/config")
    if not raw:
        return None
    cfg = yaml.safe_load(raw) or {}
    v = cfg.get("holdApplicationUntilProxyStarts") if isinstance(cfg, dict) else None
    return v if isinstance(v, bool) else None


def hold_shape(world: World, pod: Pod) -> tuple[bool, bool]:
    """(istio-proxy moved first, postStart ``pilot-agent wait`` hook) as the injector of the world's
    version writes them for a classic sidecar.

    * < 1.7: the setting does not exist;
    * 1.7: only values.global.proxy.holdApplicationUntilProxyStarts, for both the hook and the
      order (istio/istio@1.7.0 gen-istio.yaml, pkg/kube/inject/inject.go);
    * 1.8+: the template reads .ProxyConfig (pod annotation merged over meshConfig.defaultConfig)
      or the value (istio/istio@1.8.0 gen-istio.yaml) for the hook; the order follows the same
      merged config, except in 1.9.0 where reorderPod ignored meshConfig.defaultConfig when the
      pod had no proxy.istio.io/config annotation (istio/istio#30814, fixed by #30846 in 1.9.1);
    * values.global.proxy.lifecycle replaces the hook (``if .Values.global.proxy.lifecycle ... else if $holdProxy``);
    * a native sidecar gets neither (1.21+: ``and ... (not $nativeSidecar)``).
    """
    w, v, cp = pod.workload, world.version, world.control_plane
    if pod.native or w.predates_hold or v < Ver(1, 7):
        return False, False
    ann, mesh, values = _annotation_hold(w), cp.mesh.hold_application_until_proxy_starts, cp.values_hold
    if v < Ver(1, 8):
        hold = bool(values)
        first = hold
    else:
        merged = ann if ann is not None else mesh
        hold = bool(merged) or bool(values)
        if Ver(1, 9, 0) <= v < Ver(1, 9, 1) and ann is None:
            first = bool(values)
        else:
            first = hold
    hook = hold and not cp.values_lifecycle
    return first, hook


# --------------------------------------------------------------------------- istio-cni


def cni_repair_mode(world: World) -> str:
    """The repair controller's default (istio/istio@1.20.0 / @1.21.0:manifests/charts/istio-cni/values.yaml)."""
    if world.cni_repair is not None:
        return world.cni_repair
    return "repair" if world.version >= Ver(1, 21) else "delete"


def validation_fails(world: World, pod: Pod) -> bool:
    """istio-validation fails when the pod's sandbox was created before the node's agent was
    Ready: the plugin never ran for it. An in-place repair ("repair") fixes it on the next
    restart; "repair_broken" (1.26.1, 1.27.0) logs the repair without effect; "label"/"off"
    leave it broken ("delete" would replace the pod, so a broken one is not observed)."""
    if not (world.cni and pod.injected and not pod.is_gateway):
        return False
    if world.cni_plugin_missing:
        return True
    ready = world.cni_ready_s.get(pod.node, -86400.0)
    if ready is None:
        return True  # the agent is not running: nothing sets up the redirection, nothing repairs
    if ready <= 0:
        return False
    return cni_repair_mode(world) in ("repair_broken", "label", "off")


def app_init_failing(pod: Pod) -> Container | None:
    return next((c for c in pod.workload.init_containers if c.waiting or c.terminated is None or c.terminated.exit_code != 0), None)


def init_blocked(world: World, pod: Pod) -> bool:
    """The pod is stuck in its init phase (an init container keeps failing or never ends)."""
    return validation_fails(world, pod) or (pod.injected and app_init_failing(pod) is not None) or (
        not pod.injected and app_init_failing(pod) is not None)


# --------------------------------------------------------------------------- times


def at(offset_s: float) -> str:
    """API time (whole seconds) ``offset_s`` after the pods' startTime."""
    return iso(-POD_AGE_S + offset_s)


def nano(offset_s: float, *seed: str) -> str:
    """``kubectl logs --timestamps`` time: RFC3339Nano from the container runtime (9 digits; the
    sub-millisecond digits are hashed so no two lines look alike)."""
    t = EPOCH - timedelta(seconds=POD_AGE_S) + timedelta(seconds=offset_s)
    extra = int(hashlib.sha256("\0".join(seed).encode()).hexdigest()[:6], 16) % 1000
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}{extra:03d}"[:9] + "Z"


def agent_ts(offset_s: float) -> str:
    """pilot-agent / istio-cni agent time (microseconds), ``offset_s`` after the pods' startTime."""
    t = EPOCH - timedelta(seconds=POD_AGE_S) + timedelta(seconds=offset_s)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


# --------------------------------------------------------------------------- container statuses


def _cid(pod: Pod, name: str, run: str = "") -> str:
    h = hashlib.sha256(f"cid\0{pod.name}\0{name}\0{run}".encode()).hexdigest()
    return f"containerd://{h}"


def _terminated(pod: Pod, name: str, t: Any, run: str) -> dict[str, Any]:
    out = {"containerID": _cid(pod, name, run), "exitCode": t.exit_code, "finishedAt": at(t.finished_s),
           "reason": t.reason, "startedAt": at(t.started_s)}
    return out


def lifecycle_status(pod: Pod, c: Container, image_status: dict[str, Any], *, blocked: bool) -> dict[str, Any]:
    """A container status from the lifecycle knobs (started_s, terminated, waiting, last_terminated)."""
    st = dict(image_status)
    st["containerID"] = _cid(pod, c.name)
    if blocked:
        st.update({"ready": False, "started": False, "state": {"waiting": {"reason": "PodInitializing"}}, "lastState": {}})
        return st
    restarts = c.restarts
    if c.last_terminated is not None:
        st["lastState"] = {"terminated": _terminated(pod, c.name, c.last_terminated, "previous")}
        restarts = max(restarts, CRASH_RESTARTS if c.waiting else 1)
    st["restartCount"] = restarts
    if c.waiting:
        st.update({"ready": False, "started": False, "state": {"waiting": {
            "message": f"back-off 5m0s restarting failed container={c.name} pod={pod.name}_{pod.namespace}"
                       f"({uid('pod', pod.namespace, pod.name)})", "reason": c.waiting}}})
    elif c.terminated is not None:
        st.update({"ready": False, "started": False, "state": {"terminated": _terminated(pod, c.name, c.terminated, "")}})
    else:
        start = c.started_s if c.started_s is not None else (
            max(APP_START_S, c.last_terminated.finished_s + 10) if c.last_terminated is not None else APP_START_S)
        st.update({"started": True, "state": {"running": {"startedAt": at(start)}}})
    return st


def app_init_statuses(world: World, pod: Pod, image_status: Any) -> list[dict[str, Any]]:
    """The application's init containers, in order: each waits for the one before it."""
    out = []
    blocked = False
    for c in pod.workload.init_containers:
        st = lifecycle_status(pod, c, image_status(c.name, c.image), blocked=blocked)
        out.append(st)
        if c.waiting or c.terminated is None or c.terminated.exit_code != 0:
            blocked = True
    return out


def validation_status(world: World, pod: Pod, base: dict[str, Any]) -> dict[str, Any]:
    """istio-validation: Completed, or CrashLoopBackOff with exit code 126 (istio/istio@1.5.0:
    tools/istio-iptables/pkg/constants ValidationErrorCode), its message from 1.15."""
    st = dict(base)
    if not validation_fails(world, pod):
        return st
    code = 126 if world.version >= Ver(1, 5) else 1
    started, finished = crash_runs(ISTIO_INIT_START_S, VALIDATION_TIMEOUT_S)[-1]
    last = {"containerID": st["containerID"], "exitCode": code, "finishedAt": at(finished), "reason": "Error", "startedAt": at(started)}
    if world.version >= Ver(1, 15):
        last["message"] = VALIDATION_MESSAGE
    st.update({"lastState": {"terminated": last}, "ready": False, "restartCount": CRASH_RESTARTS, "started": False,
               "state": {"waiting": {"message": f"back-off 5m0s restarting failed container=istio-validation "
                                                f"pod={pod.name}_{pod.namespace}({uid('pod', pod.namespace, pod.name)})",
                                     "reason": "CrashLoopBackOff"}}})
    return st


#: istio/istio@1.22.0:tools/istio-iptables/pkg/cmd/root.go (the error handleErrorWithCode logs and exits with)
VALIDATION_MESSAGE = (
    "iptables validation failed; workload is not ready for Istio.\n"
    "When using Istio CNI, this can occur if a pod is scheduled before the node is ready.\n\n"
    "If installed with 'cni.repair.deletePods=true', this pod should automatically be deleted and retry.\n"
    "Otherwise, this pod will need to be manually removed so that it is scheduled on a node with istio-cni running, "
    "allowing iptables rules to be established.\n"
)


def validation_log(world: World, pod: Pod) -> str:
    """istio-validation's log: the connect errors every second, then the verdict. The error line is
    the one in tests/fixtures/corpus/captured/access-logs/istio-22913_istio_validation_connection_refused_1.5.1.log
    (printed without timestamp and level before 1.11: istio/istio@1.10.0 validator.go fmt.Printf;
    log.Errorf from 1.11; "Starting iptables validation" and the failure message from 1.15)."""
    v = world.version
    start = crash_runs(ISTIO_INIT_START_S, VALIDATION_TIMEOUT_S)[-1][0]
    err = "Error connecting to 127.0.0.6:15002: dial tcp 127.0.0.1:0->127.0.0.6:15002: connect: connection refused"
    if v < Ver(1, 11):
        return "".join(err + "\n" for _ in range(3))
    lines = []
    if v >= Ver(1, 15):
        lines.append(f"{agent_ts(start)}\tinfo\tStarting iptables validation. This check verifies that iptables rules are "
                     "properly established for the network.")
    for i in range(int(VALIDATION_TIMEOUT_S) - 1):
        lines.append(f"{agent_ts(start + 1 + i)}\terror\t{err}")
    lines.append(f"{agent_ts(start + VALIDATION_TIMEOUT_S)}\terror\tValidation failed: validation timeout")
    if v >= Ver(1, 15):
        first, *rest = VALIDATION_MESSAGE.rstrip("\n").split("\n")
        lines.append(f"{agent_ts(start + VALIDATION_TIMEOUT_S)}\terror\t{first}")
        lines.extend(rest)
    return "\n".join(lines) + "\n"


def cni_agents(world: World) -> list[dict[str, Any]]:
    """The istio-cni-node DaemonSet's pods (label k8s-app=istio-cni-node, container install-cni)."""
    out = []
    for i, node in enumerate(world.nodes):
        name = f"istio-cni-node-{hashlib.sha256(f'cni{node}'.encode()).hexdigest()[:5]}"
        ready_s = world.cni_ready_s.get(node, -86400.0)
        ready = ready_s is not None
        t = ready_s if ready_s is not None else -86400.0
        image = f"docker.io/istio/install-cni:{world.istio_version}"
        out.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"creationTimestamp": at(min(t, 0) - 30), "generateName": "istio-cni-node-",
                         "labels": {"controller-revision-hash": "5d6c8f9b77", "k8s-app": "istio-cni-node",
                                    "pod-template-generation": "1", "sidecar.istio.io/inject": "false"},
                         "name": name, "namespace": world.cni_namespace,
                         "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": True, "controller": True,
                                              "kind": "DaemonSet", "name": "istio-cni-node",
                                              "uid": uid("DaemonSet", world.cni_namespace, "istio-cni-node")}],
                         "resourceVersion": str(4000 + i), "uid": uid("Pod", world.cni_namespace, name)},
            "spec": {"containers": [{"name": "install-cni", "image": image,
                                     "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8000, "scheme": "HTTP"}}}],
                     "hostNetwork": True, "nodeName": node, "priorityClassName": "system-node-critical",
                     "serviceAccountName": "istio-cni"},
            "status": {
                "conditions": [
                    {"lastProbeTime": None, "lastTransitionTime": at(min(t, 0) - 29), "status": "True", "type": "Initialized"},
                    {"lastProbeTime": None, "lastTransitionTime": at(t) if ready else at(-20), "status": "True" if ready else "False",
                     "type": "Ready", **({} if ready else {"reason": "ContainersNotReady",
                                                           "message": "containers with unready status: [install-cni]"})},
                    {"lastProbeTime": None, "lastTransitionTime": at(min(t, 0) - 30), "status": "True", "type": "PodScheduled"},
                ],
                "containerStatuses": [{"containerID": f"containerd://{hashlib.sha256(name.encode()).hexdigest()}", "image": image,
                                       "imageID": f"docker.io/istio/install-cni@sha256:{hashlib.sha256(image.encode()).hexdigest()}",
                                       "lastState": {}, "name": "install-cni", "ready": ready, "restartCount": 0, "started": True,
                                       "state": {"running": {"startedAt": at((t if ready else -20) - 2)}}}],
                "hostIP": f"172.18.0.{i + 2}", "phase": "Running", "podIP": f"172.18.0.{i + 2}",
                "qosClass": "Burstable", "startTime": at(min(t, 0) - 30)}})
    return out


def cni_agent_log(world: World, agent: dict[str, Any]) -> str:
    """``kubectl logs <agent> -c install-cni --timestamps``: the agent's start, then the repair
    controller's lines about the pods of its node (istio/istio@1.21.0:cni/pkg/repair/repaircontroller.go
    "Repairing pod..." / "pod repaired" with the label pod=NS/NAME; @1.16.0:cni/pkg/repair/repair.go
    "Pod detected as broken, adding label: NS/NAME"). Format: Istio's text logger as in
    tests/fixtures/corpus/ambient/cni-logs/istio-52487_cni_agent_install_config.log, or JSON
    ({"level","time","scope","msg","pod"} as quoted in istio/istio#57332)."""
    node = agent["spec"]["nodeName"]
    ready_s = world.cni_ready_s.get(node, -86400.0)
    start = (ready_s if ready_s is not None else -20.0) - 2.0
    lines: list[tuple[float, str, str, dict[str, str]]] = [
        (start, "info", "CNI logging level: info", {}),
        (start + 0.01, "info", "CNI install configuration:", {}),
    ]
    mode = cni_repair_mode(world)
    if mode == "off":
        lines.append((start + 0.5, "info", "CNI repair controller is disabled" if world.version >= Ver(1, 27) else "CNI repair is disable.", {}))
    for pod in world.pods:
        if pod.node != node or not validation_fails(world, pod):
            continue
        ref = f"{pod.namespace}/{pod.name}"
        for _started, finished in crash_runs(ISTIO_INIT_START_S, VALIDATION_TIMEOUT_S):
            t = finished + 0.2
            if ready_s is None or t < ready_s:
                continue  # the agent acts on a crash only once it runs
            if mode == "label":
                lines.append((t, "info", f"Pod detected as broken, adding label: {ref}", {}))
                break
            if mode == "repair_broken":
                lines.append((t, "info", "Repairing pod...", {"pod": ref}))
                lines.append((t + 0.05, "info", "pod repaired", {"pod": ref}))
    out = []
    body = ["CNINetDir: /etc/cni/net.d", "MountedCNINetDir: /host/etc/cni/net.d", "CNIConfName:", "ChainedCNIPlugin: true"]
    for t, level, msg, labels in sorted(lines, key=lambda x: x[0]):
        if world.cni_log_json:
            rec: dict[str, Any] = {"level": level, "time": agent_ts(t), "scope": "cni-agent", "msg": msg, **labels}
            text = json.dumps(rec, separators=(",", ":"))
        else:
            text = f"{agent_ts(t)}\t{level}\tcni-agent\t{msg}" + "".join(f"\t{k}={v}" for k, v in labels.items())
        out.append(f"{nano(t, node, msg)} {text}")
        if msg == "CNI install configuration:" and not world.cni_log_json:
            out.extend(f"{nano(t, node, b)} {b}" for b in body)
    return "\n".join(out) + "\n"


def lifecycle_events(world: World) -> list[Event]:
    """Events the lifecycle knobs imply: BackOff of a failing app init container or istio-validation,
    the repair controller's LabelBrokenPod (istio/istio@1.21.0:cni/pkg/repair/repaircontroller.go)."""
    out = []
    for p in world.pods:
        failing = app_init_failing(p) if p.workload.init_containers else None
        if failing is not None and failing.waiting == "CrashLoopBackOff":
            out.append(Event(p.namespace, "Pod", p.name, "BackOff",
                             f"Back-off restarting failed container {failing.name} in pod {p.name}_{p.namespace}"
                             f"({uid('pod', p.namespace, p.name)})", count=CRASH_RESTARTS * 4, component="kubelet", age_s=30))
        if validation_fails(world, p):
            out.append(Event(p.namespace, "Pod", p.name, "BackOff",
                             f"Back-off restarting failed container istio-validation in pod {p.name}_{p.namespace}"
                             f"({uid('pod', p.namespace, p.name)})", count=CRASH_RESTARTS * 2, component="kubelet", age_s=60))
    return out


# --------------------------------------------------------------------------- kubectl logs


def _container_lines(pod: Pod, c: Container, previous: bool) -> list[str]:
    return [f"{nano(ln.at_s, pod.name, c.name, str(i))} {ln.text}" for i, ln in enumerate(c.previous_log if previous else c.log)]


def previous_log(pod: Pod, name: str, tail: int | None) -> str | None:
    """``kubectl logs -c NAME --previous --timestamps``; None when there is no previous run."""
    c = next((x for x in [*pod.workload.init_containers, *pod.workload.containers] if x.name == name), None)
    if c is None or c.last_terminated is None:
        return None
    lines = _container_lines(pod, c, True)
    return "".join(ln + "\n" for ln in (lines[-tail:] if tail else lines))


def app_log_text(pod: Pod, name: str) -> list[str]:
    """The current run's lines of an application (or app init) container, with --timestamps."""
    c = next((x for x in [*pod.workload.init_containers, *pod.workload.containers] if x.name == name), None)
    return _container_lines(pod, c, False) if c is not None else []


_OWN_TIME = re.compile(r"^\[?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z")


def stamp(lines: list[str], default_s: float, seed: str) -> list[str]:
    """``--timestamps`` for output the kit renders with its own times (proxy, istio-init and
    istio-validation logs): the runtime receives each line when the process writes it, so the
    prefix is the line's own time; a continuation line gets the time of the line it continues."""
    base = EPOCH - timedelta(seconds=POD_AGE_S)
    out, last = [], default_s
    for i, ln in enumerate(lines):
        m = _OWN_TIME.match(ln)
        if m is not None:
            t = datetime.fromisoformat(m.group(1) + "+00:00")
            last = (t - base).total_seconds()
        out.append(f"{nano(last, seed, str(i))} {ln}")
    return out


def job_owner(pod: Pod) -> dict[str, Any]:
    w = pod.workload
    return {"apiVersion": "batch/v1", "blockOwnerDeletion": True, "controller": True, "kind": "Job", "name": w.name,
            "uid": uid("Job", w.namespace, w.name)}
