"""Scenarios of playbook lifecycle (start-up, shutdown and CNI): time as evidence.

Every failing world starts from a public incident (linked next to it; lines the thread quotes
verbatim are used verbatim). Each check has failing worlds on both sides of every version
boundary it depends on, and look-alikes that must stay clean: a slow but healthy start, a Job
that completes, a restart that has nothing to do with the mesh.
"""

from __future__ import annotations

from tests.scenariokit import Expect, Scenario
from tests.scenariokit.helpers import pod_target, world
from tests.scenariokit.world import LOG_WINDOW_S, POD_AGE_S, Container, Event, LogLine, Port, Service, ServicePort, Terminated, Workload, World
from tests.scenarios.p503 import _shutdown

LIFE = ["LIFE-JOB-SIDECAR", "LIFE-CNI-NOT-READY", "LIFE-INIT-NEEDS-NETWORK", "LIFE-HOLD-IGNORED", "P503-STARTUP-RACE",
        "P503-SHUTDOWN-RACE", "LIFE-SHUTDOWN-OUTBOUND"]


def others(*keep: str) -> list[str]:
    return [c for c in LIFE if c not in keep]


def _v(version: str) -> str:
    return version.replace(".", "-")


# --------------------------------------------------------------------------------------------
# LIFE-JOB-SIDECAR: istio/istio#11045 "Jobs are Broken (they Never Complete)"
#   $ kubectl get pods
#   NAME       READY   STATUS    RESTARTS   AGE
#   pi-6tq7q   1/2     Running   0          16m
# The Job from the Kubernetes docs (perl -Mbignum=bpi -wle 'print bpi(2000)') finished; its pod
# stays 1/2 Running because the classic istio-proxy container never exits.
# --------------------------------------------------------------------------------------------

PI = "3.1415926535897932384626433832795028841971693993751058209749445923078164062862089986280348253421170679"


def _job(w: World, *, done: bool = True, exit_code: int = 0) -> None:
    w.workloads.append(Workload(
        "pi", "default", [Container(
            "pi", "docker.io/library/perl:5.34.0", ready=not done,
            terminated=Terminated(exit_code=exit_code, reason="Completed" if exit_code == 0 else "Error",
                                  started_s=10.0, finished_s=13.4) if done else None,
            log=[LogLine(13.3, PI)] if done else [])],
        labels={"app": "pi"}, kind="Job", node_index=1))


def _job_world(version: str, kube: str = "1.30.0", **kw: object) -> World:
    w = world(_job, version=version)
    w.server_version = kube
    for k, v in kw.items():
        setattr(w.control_plane, k, v)
    return w


def _job_scenarios() -> list[Scenario]:
    out = []
    for version, kube, why in (
        ("1.18.2", "1.30.0", "Istio 1.18 has no native sidecars: the fix is POST /quitquitquit"),
        ("1.22.3", "1.30.0", "Istio 1.22 on Kubernetes 1.30: ENABLE_NATIVE_SIDECARS=true (mesh-wide) or /quitquitquit"),
        ("1.27.1", "1.30.0", "Istio 1.27 enables native sidecars by itself only on kubelets >= 1.33: the per-pod annotation"),
    ):
        w = _job_world(version, kube)
        out.append(Scenario(
            "lifecycle", f"job-sidecar-keeps-pod-running-{_v(version)}",
            f"istio/istio#11045 on {version}: Job pi finished, its pod stays 1/2 Running ({why})",
            pod_target(w, "default/pi"), "auto", w,
            Expect(findings_first="LIFE-JOB-SIDECAR", absent=others("LIFE-JOB-SIDECAR"),
                   path=[("job-sidecar", "fail")])))
    w = _job_world("1.22.3")
    out.append(Scenario("lifecycle", "job-sidecar-startup-symptom", "istio/istio#11045 diagnosed with --symptom startup",
                        pod_target(w, "default/pi"), "startup", w,
                        Expect(findings_first="LIFE-JOB-SIDECAR", absent=others("LIFE-JOB-SIDECAR"))))
    # look-alikes that must stay clean
    w = _job_world("1.27.1", "1.33.1")
    out.append(Scenario("lifecycle", "job-native-sidecar-completes", "control: Istio 1.27 on kubelets 1.33 injects a native "
                        "sidecar; Kubernetes stops it after pi and the pod Succeeded", pod_target(w, "default/pi"), "startup", w,
                        Expect(verdict="no_problem_found", absent=LIFE, path=[("job-sidecar", "pass")])))
    w = world(lambda x: _job(x, done=False), version="1.22.3")
    out.append(Scenario("lifecycle", "job-still-running", "control: the Job's container is still computing; the sidecar "
                        "beside it is expected", pod_target(w, "default/pi"), "startup", w,
                        Expect(verdict="no_problem_found", absent=LIFE, path=[("job-sidecar", "pass")])))
    return out


SCENARIOS: list[Scenario] = [*_job_scenarios()]


# --------------------------------------------------------------------------------------------
# LIFE-CNI-NOT-READY: pods that started before their node's istio-cni agent was ready
#   istio/istio#21266 (1.4.7): "Error connecting to 127.0.0.6:15002: ... connection refused" in the
#     istio-validation log, the pod labeled cni.istio.io/uninitialized=true by the repair controller;
#   istio/istio#57332 (1.27.0, EKS 1.33): {"level":"info",...,"scope":"cni-agent","msg":"Repairing pod...",
#     "pod":"..."} logged while istio-validation keeps crashing (repairPods broken; deletePods works);
#   istio/istio#22913 (1.5.1): the same validation error with the plugin missing from a Multus chain
#     (a look-alike: the agent was ready, the plugin was not in the chain).
# --------------------------------------------------------------------------------------------


def _cni_world(version: str, *, node_ready_s: float | None = 20.0, kube: str = "1.30.0", **kw: object) -> World:
    w = world(version=version)
    w.server_version = kube
    w.cni = True
    node = w.pods_of(w.workload("default/productpage-v1"))[0].node
    w.cni_ready_s = {node: node_ready_s}
    for k, v in kw.items():
        setattr(w, k, v)
    return w


def _cni_scenarios() -> list[Scenario]:
    out = []
    for name, w, why in (
        ("cni-race-label-mode-1-20", _cni_world("1.20.8", cni_repair="label"),
         "1.20: the repair controller only labels the pod (istio/istio#21266); the fix is deletePods"),
        ("cni-race-repair-broken-1-27-0", _cni_world("1.27.0", kube="1.33.2", cni_repair="repair_broken", cni_log_json=True),
         "istio/istio#57332: 1.27.0 logs \"Repairing pod...\" but istio-validation keeps failing (native sidecars, kubelet 1.33)"),
        ("cni-race-repair-off-1-10", _cni_world("1.10.6", cni_repair="off"),
         "1.10: no failure message yet, only \"Error connecting to 127.0.0.6:15002\" without timestamps"),
        ("cni-agent-not-ready-1-22", _cni_world("1.22.3", node_ready_s=None),
         "1.22: the node's istio-cni agent is not Ready at all"),
    ):
        out.append(Scenario("lifecycle", name, f"pod started before its node's istio-cni agent was ready: {why}",
                            pod_target(w, "default/productpage-v1"), "auto", w,
                            Expect(findings_first="LIFE-CNI-NOT-READY", findings=["INJ-INIT-FAIL"],
                                   absent=others("LIFE-CNI-NOT-READY"), path=[("cni-race", "fail")])))
    # the other side of the repair boundaries: repairPods on by default from 1.21, fixed again in 1.27.1
    # (istio/istio#57332): the pod that started early is repaired in place and runs
    for version, kube in (("1.21.6", "1.29.0"), ("1.27.1", "1.33.2")):
        w = _cni_world(version, kube=kube)
        out.append(Scenario("lifecycle", f"cni-race-repaired-{_v(version)}", f"control: on {version} the repair controller "
                            "repairs the pod that started before the node's istio-cni agent; it runs",
                            pod_target(w, "default/productpage-v1"), "startup", w,
                            Expect(verdict="no_problem_found", absent=[*LIFE, "INJ-INIT-FAIL"], path=[("cni-race", "pass")])))
    # look-alikes
    w = _cni_world("1.22.3", node_ready_s=-600.0, cni_plugin_missing=True)
    out.append(Scenario("lifecycle", "cni-plugin-missing-agent-ready", "look-alike (istio/istio#22913): istio-validation "
                        "fails although the node's agent was Ready before the pod: not the start-up race, INJ-INIT-FAIL",
                        pod_target(w, "default/productpage-v1"), "startup", w,
                        Expect(findings_first="INJ-INIT-FAIL", absent=LIFE, path=[("cni-race", "pass")])))
    w = _cni_world("1.22.3", node_ready_s=-600.0)
    app = w.workload("default/productpage-v1").containers[0]
    app.last_terminated = Terminated(exit_code=137, reason="OOMKilled", started_s=10.0, finished_s=1730.0)
    app.started_s = 1741.0
    out.append(Scenario("lifecycle", "cni-healthy-restart-unrelated", "control: istio-cni set up, the app was OOMKilled "
                        "half an hour after it started, a restart that has nothing to do with the mesh",
                        pod_target(w, "default/productpage-v1"), "startup", w,
                        Expect(verdict="no_problem_found", absent=[*LIFE, "INJ-INIT-FAIL"])))
    return out


SCENARIOS += _cni_scenarios()


# --------------------------------------------------------------------------------------------
# LIFE-INIT-NEEDS-NETWORK: an application init container that needs the network before the
# sidecar runs (istio-cni redirects it from the start; a classic istio-proxy starts after it)
#   istio/istio#23802 "Istio blocking initContainer traffic (using Istio CNI)": the vault-env init
#     container logs, verbatim (its own time= field is the reporter's; the kit's runtime stamps it):
#     time="2020-10-05T16:16:59Z" level=error msg="failed to request new Vault token" app=vault-env
#     err="Put \"https://vault.bootstrap:8200/v1/auth/kubernetes/login\": dial tcp 172.24.120.198:8200:
#     connect: connection refused"
#   istio/istio#36453 (1.12.1): with ISTIO_META_DNS_CAPTURE "curl: (6) Could not resolve host: www.httpbin.org"
# --------------------------------------------------------------------------------------------

VAULT = ('time="2020-10-05T16:16:59Z" level=error msg="failed to request new Vault token" app=vault-env '
         'err="Put \\"https://vault.bootstrap:8200/v1/auth/kubernetes/login\\": dial tcp 172.24.120.198:8200: '
         'connect: connection refused"')
CURL_DNS = "curl: (6) Could not resolve host: www.httpbin.org"
#: knative-extensions/net-istio#561: a readiness wait on the container's own loopback port
LOOPBACK = 'Get "http://127.0.0.1:8080/ready": dial tcp 127.0.0.1:8080: connect: connection refused'
#: a failure that has nothing to do with the network (BusyBox cp's wording)
NO_FILE = "cp: can't stat '/config/app.yaml': No such file or directory"


def _init(name: str, text: str | None, *, failing: bool = True) -> Container:
    """An app init container: crash-looping with ``text`` in its last and previous runs, or completed."""
    if not failing:
        return Container(name, "docker.io/hashicorp/vault:1.15", terminated=Terminated(0, "Completed", 2.0, 3.1),
                         log=[LogLine(3.0, "vault token written to /vault/secrets/token")])
    lines = [LogLine(344.2 + i * 4.2, text) for i in range(3)] if text else []
    prev = [LogLine(179.2 + i * 4.2, text) for i in range(3)] if text else []
    return Container(name, "docker.io/hashicorp/vault:1.15", waiting="CrashLoopBackOff",
                     last_terminated=Terminated(1, "Error", 344.0, 357.0), log=lines, previous_log=prev)


def _init_world(version: str, init: Container, *, kube: str = "1.30.0", cni: bool = True) -> World:
    w = world(version=version)
    w.server_version = kube
    w.cni = cni
    w.workload("default/productpage-v1").init_containers = [init]
    return w


def _init_scenarios() -> list[Scenario]:
    out = []
    for name, w, why in (
        ("init-network-cni-1-18", _init_world("1.18.2", _init("vault-env", VAULT)),
         "1.18: no native sidecars; run the init container as UID 1337 or exclude port 8200"),
        ("init-network-cni-1-22", _init_world("1.22.3", _init("vault-env", VAULT)),
         "1.22 on Kubernetes 1.30: native sidecars through ENABLE_NATIVE_SIDECARS=true"),
        ("init-network-cni-1-27-kubelet-1-30", _init_world("1.27.1", _init("vault-env", VAULT)),
         "1.27 leaves native sidecars off on kubelets < 1.33: the per-pod annotation turns them on"),
        ("init-dns-capture-cni-1-12", _init_world("1.12.1", _init("fetch", CURL_DNS)),
         "istio/istio#36453: DNS capture sends the init container's lookups to a DNS proxy that is not running"),
    ):
        out.append(Scenario("lifecycle", name, f"istio/istio#23802: an init container reaches out before istio-proxy runs ({why})",
                            pod_target(w, "default/productpage-v1"), "auto", w,
                            Expect(findings_first="LIFE-INIT-NEEDS-NETWORK", absent=others("LIFE-INIT-NEEDS-NETWORK"),
                                   path=[("init-network", "fail")])))
    # look-alikes
    w = _init_world("1.27.1", _init("vault-env", None, failing=False), kube="1.33.1")
    out.append(Scenario("lifecycle", "init-network-native-sidecar", "control: Istio 1.27 on kubelets 1.33 runs istio-proxy as a "
                        "native sidecar before the init containers: vault-env logs in and completes",
                        pod_target(w, "default/productpage-v1"), "startup", w,
                        Expect(verdict="no_problem_found", absent=LIFE, path=[("init-network", "pass")])))
    # reorderPod puts istio-init last "to allow any traffic to pass before iptables is setup"
    # (istio/istio@1.22.0:pkg/kube/inject/webhook.go)
    w = _init_world("1.22.3", _init("vault-env", None, failing=False), cni=False)
    out.append(Scenario("lifecycle", "init-network-without-cni", "control: without istio-cni, istio-init programs iptables "
                        "after the app's init containers ran, so vault-env reached Vault directly and completed",
                        pod_target(w, "default/productpage-v1"), "startup", w,
                        Expect(verdict="no_problem_found", absent=LIFE, path=[("init-network", "pass")])))
    w = _init_world("1.22.3", _init("config", NO_FILE))
    out.append(Scenario("lifecycle", "init-fails-for-its-own-reason", "look-alike: under istio-cni an init container crash-loops "
                        "on a missing file, not on the network", pod_target(w, "default/productpage-v1"), "startup", w,
                        Expect(verdict="no_problem_found", absent=LIFE, path=[("init-network", "pass")])))
    w = _init_world("1.22.3", _init("wait-app", LOOPBACK))
    out.append(Scenario("lifecycle", "init-waits-on-loopback", "look-alike (knative-extensions/net-istio#561 wording): an init "
                        "container polls 127.0.0.1:8080, which iptables never redirects", pod_target(w, "default/productpage-v1"),
                        "startup", w, Expect(verdict="no_problem_found", absent=LIFE, path=[("init-network", "pass")])))
    return out


SCENARIOS += _init_scenarios()


# --------------------------------------------------------------------------------------------
# LIFE-HOLD-IGNORED: holdApplicationUntilProxyStarts set where the running version ignores it
#   istio/istio#30814 (1.9.0): meshConfig.defaultConfig.holdApplicationUntilProxyStarts "not working as
#     expected in 1.9.0 ... This used to work in 1.8.1" (istio-proxy not first; fixed in 1.9.1, #30846);
#   istio/istio#41237 (1.12.5) and #47373: a values.global.proxy.lifecycle preStop hook
#     (/bin/sleep 45) replaces the postStart `pilot-agent wait` hook;
#   istio/istio#29766: after an upgrade to 1.7.x the app fails to reach the API server before its
#     sidecar is ready (1.7 reads the setting only from Helm values);
#   istio/istio#59690 (look-alike): the hold is set and there is no postStart hook, because the
#     proxy is a native sidecar, which Kubernetes starts first anyway.
# The app's crash is cloudfoundry/cf-for-k8s#189's, verbatim: it dialled its database before Envoy was ready.
# --------------------------------------------------------------------------------------------

CF_PANIC = ("panic: unable to construct service-manager builder: error opening storage: error opening storage: could not "
            "update database schema: dial tcp 100.65.158.99:5432: connect: connection refused")


def _crash_at_start(w: World) -> None:
    """The app dials its database 0.7 s after it starts, before the proxy is ready (12.3 s), and panics
    (Go exits 2); the kubelet restarts it 10 s later, when the proxy is up."""
    app = w.workload("default/productpage-v1").containers[0]
    app.last_terminated = Terminated(exit_code=2, reason="Error", started_s=10.0, finished_s=10.8)
    app.previous_log = [LogLine(10.1, '{"level":"info","msg":"Setting up Service Manager storage..."}'), LogLine(10.7, CF_PANIC)]


def _hold_world(version: str, *, annotation: bool = False, mesh: bool = False, lifecycle: dict | None = None,
                predates: bool = False, crash: bool = True, kube: str = "1.30.0") -> World:
    w = world(version=version)
    w.server_version = kube
    pp = w.workload("default/productpage-v1")
    if annotation:
        pp.annotations["proxy.istio.io/config"] = '{ "holdApplicationUntilProxyStarts": true }'
    if mesh:
        w.control_plane.mesh.hold_application_until_proxy_starts = True
    w.control_plane.values_lifecycle = lifecycle
    pp.predates_hold = predates
    if crash:
        _crash_at_start(w)
    return w


PRESTOP_45 = {"preStop": {"exec": {"command": ["/bin/sleep", "45"]}}}


def _hold_scenarios() -> list[Scenario]:
    out = []
    for name, w, why in (
        ("hold-annotation-ignored-1-7", _hold_world("1.7.8", annotation=True),
         "istio/istio#29766 era: 1.7 reads the hold only from values.global.proxy, not from the pod annotation"),
        ("hold-meshconfig-ignored-1-9-0", _hold_world("1.9.0", mesh=True),
         "istio/istio#30814: 1.9.0 adds the hook from meshConfig but leaves istio-proxy last"),
        ("hold-lifecycle-prestop-1-12", _hold_world("1.12.5", mesh=True, lifecycle=PRESTOP_45),
         "istio/istio#41237: a preStop in values.global.proxy.lifecycle replaces the postStart hook"),
        ("hold-set-after-pod-1-22", _hold_world("1.22.3", mesh=True, predates=True),
         "the mesh setting is right for 1.22, but the pod was created before it"),
    ):
        out.append(Scenario("lifecycle", name, f"holdApplicationUntilProxyStarts ignored: {why}",
                            pod_target(w, "default/productpage-v1"), "startup", w,
                            Expect(findings_first="LIFE-HOLD-IGNORED", absent=others("LIFE-HOLD-IGNORED", "P503-STARTUP-RACE"),
                                   path=[("hold-ignored", "fail")])))
    w = _hold_world("1.9.0", mesh=True)
    out.append(Scenario("lifecycle", "hold-meshconfig-ignored-1-9-0-auto", "istio/istio#30814 with --symptom auto: the early "
                        "restart is the timeline's signature", pod_target(w, "default/productpage-v1"), "auto", w,
                        Expect(findings_first="LIFE-HOLD-IGNORED", absent=others("LIFE-HOLD-IGNORED", "P503-STARTUP-RACE"))))
    # the other side of each boundary: honoured, no crash
    for name, w, why in (
        ("hold-annotation-honoured-1-8", _hold_world("1.8.6", annotation=True, crash=False),
         "1.8 reads the pod annotation: istio-proxy first with postStart pilot-agent wait"),
        ("hold-meshconfig-honoured-1-9-1", _hold_world("1.9.1", mesh=True, crash=False),
         "1.9.1 moves istio-proxy first again (istio/istio#30846)"),
        ("hold-native-sidecar-no-hook", _hold_world("1.28.1", mesh=True, crash=False, kube="1.33.1"),
         "istio/istio#59690: no postStart hook because istio-proxy is a native sidecar, started first by Kubernetes"),
    ):
        out.append(Scenario("lifecycle", name, f"control: {why}", pod_target(w, "default/productpage-v1"), "startup", w,
                            Expect(verdict="no_problem_found", absent=LIFE)))
    return out


SCENARIOS += _hold_scenarios()


# --------------------------------------------------------------------------------------------
# P503-STARTUP-RACE: the app needs the network before its classic sidecar is ready
#   istio/istio#25493 "Istio 1.6: networking issue during pod initialziation" (1.6.4, no setting to
#     hold the app yet): a Java service calls the Kubernetes API while it boots and logs, verbatim,
#     io.kubernetes.client.openapi.ApiException: java.net.ConnectException: Failed to connect to /10.152.183.1:443
#     "The issue is not permanent, looks after several retries eventually it succeed"
#   cloudfoundry/cf-for-k8s#189: the first run panics on its database dial and is restarted (CF_PANIC).
# The fix depends on the version: nothing to set before 1.7 (wait for :15020/healthz/ready), only the
# Helm value on 1.7, the pod annotation from 1.8, native sidecars where the Istio/Kubernetes pair
# allows them (engine/lifecycle/facts.py). Look-alikes: a slow but healthy start whose only errors
# are on the container's own loopback port (knative-extensions/net-istio#561), and a native sidecar's
# one failed startup probe (istio/istio#54704) that Kubernetes waits out before it starts the app.
# --------------------------------------------------------------------------------------------

K8S_API_REFUSED = [
    "io.kubernetes.client.openapi.ApiException: java.net.ConnectException: Failed to connect to /10.152.183.1:443",
    "\tat io.kubernetes.client.openapi.ApiClient.execute(ApiClient.java:898)",
    "\tat io.kubernetes.client.openapi.apis.CoreV1Api.listNamespacedPodWithHttpInfo(CoreV1Api.java:17358)",
    "\tat io.kubernetes.client.openapi.apis.CoreV1Api.listNamespacedPod(CoreV1Api.java:17329)",
]


def _java_boot(w: World, *, retries: int = 2, lines: list[str] | None = None) -> None:
    """A Java service that lists pods while it boots (istio/istio#25493); each try logs the exception."""
    text = lines if lines is not None else K8S_API_REFUSED
    log = [LogLine(10.4 + i * 1.0 + j * 0.001, t) for i in range(retries) for j, t in enumerate(text)]
    w.workloads.append(Workload("orders", "default", [Container(
        "orders", "docker.io/library/openjdk:11-jre-slim", ports=[Port(8080)], log=log)],
        labels={"app": "orders", "version": "v1"}, service_account="orders"))


def _race_world(version: str, kube: str, *, java: bool = True, crash: bool = False) -> World:
    w = world(version=version)
    w.server_version = kube
    if java:
        _java_boot(w)
    if crash:
        _crash_at_start(w)
    return w


def _race_scenarios() -> list[Scenario]:
    out = []
    for name, w, target, why in (
        ("startup-race-logged-1-6", _race_world("1.6.4", "1.18.0"), "default/orders",
         "istio/istio#25493 on 1.6.4: the Kubernetes API refused while Envoy was starting; Istio < 1.7 has no hold "
         "setting, so the app must wait for :15020/healthz/ready"),
        ("startup-race-logged-1-22", _race_world("1.22.3", "1.30.0"), "default/orders",
         "the same boot on 1.22: hold the app with the pod annotation, or native sidecars"),
        ("startup-race-crash-1-7", _race_world("1.7.8", "1.18.0", java=False, crash=True), "default/productpage-v1",
         "cloudfoundry/cf-for-k8s#189's panic on 1.7: only values.global.proxy.holdApplicationUntilProxyStarts is read"),
        ("startup-race-crash-1-27-kubelet-1-30", _race_world("1.27.1", "1.30.0", java=False, crash=True),
         "default/productpage-v1", "the panic on 1.27 with kubelets 1.30: classic sidecar; the annotation, or the "
         "per-pod native sidecar annotation"),
    ):
        out.append(Scenario("lifecycle", name, f"start-up race: {why}", pod_target(w, target), "startup", w,
                            Expect(findings_first="P503-STARTUP-RACE", absent=others("P503-STARTUP-RACE"),
                                   path=[("startup-race", "fail")])))
    w = _race_world("1.22.3", "1.30.0", java=False, crash=True)
    out.append(Scenario("lifecycle", "startup-race-crash-auto", "cloudfoundry/cf-for-k8s#189 diagnosed without a symptom: the "
                        "early restart is the timeline's signature", pod_target(w, "default/productpage-v1"), "auto", w,
                        Expect(findings_first="P503-STARTUP-RACE", absent=others("P503-STARTUP-RACE"))))
    # look-alikes that must stay clean
    w = _race_world("1.22.3", "1.30.0", java=False)
    _java_boot(w, retries=3, lines=[LOOPBACK])
    w.workload("default/orders").proxy.ready_after_s = 45.0
    out.append(Scenario("lifecycle", "startup-slow-but-healthy", "control: Envoy takes 45 s to get ready; the app only "
                        "polls its own 127.0.0.1:8080 meanwhile (knative-extensions/net-istio#561 wording), which iptables "
                        "never redirects", pod_target(w, "default/orders"), "startup", w,
                        Expect(verdict="no_problem_found", absent=LIFE, path=[("startup-race", "pass")])))
    w = _race_world("1.27.1", "1.33.1", java=False)
    _java_boot(w, retries=0)  # the app starts after the native sidecar is ready: nothing refused
    orders = w.pods_of(w.workload("default/orders"))[0]
    w.events.append(Event("default", "Pod", orders.name, "Unhealthy",
                          f'Startup probe failed: Get "http://{orders.ip}:15021/healthz/ready": dial tcp {orders.ip}:15021: '
                          "connect: connection refused", component="kubelet", age_s=590))
    out.append(Scenario("lifecycle", "startup-native-sidecar-probe-once", "control (istio/istio#54704): Istio 1.27 on kubelets "
                        "1.33 runs istio-proxy as a native sidecar; its startup probe fails once and Kubernetes starts "
                        "the app only after it passes", pod_target(w, "default/orders"), "startup", w,
                        Expect(verdict="no_problem_found", absent=LIFE, path=[("startup-race", "not_applicable")])))
    return out


SCENARIOS += _race_scenarios()


# --------------------------------------------------------------------------------------------
# P503-SHUTDOWN-RACE and LIFE-SHUTDOWN-OUTBOUND: requests fail while a pod shuts down
#   inbound: a scale-down; reviews still sends to the ratings pod whose sidecar drains (503 UC), the
#     p503 playbook's shutdown-race world on each side of the remedies' version boundaries
#     (TERMINATION_DRAIN_DURATION_SECONDS before 1.7, terminationDrainDuration from 1.7,
#     EXIT_ON_ZERO_ACTIVE_CONNECTIONS from 1.12, native sidecars from 1.19 on Kubernetes >= 1.29);
#     pilot-agent's lines follow each version (istio/istio#19564 quotes the old "Agent draining Proxy"
#     ... "Aborted all epochs" sequence).
#   outbound: istio/istio#7136 "Envoy shutting down before the thing it's wrapping can cause failed
#     requests": the app still calls out during its own shutdown, after the proxy drained. The line
#     it logs is a Go gRPC client's, verbatim from istio/istio#57357.
# Look-alikes: a pod deleted while nobody calls it, and a keepalive reset to a pod that is not
# terminating (the p503 playbook's keepalive-uc).
# --------------------------------------------------------------------------------------------

GRPC_REFUSED = ('2025/08/15 03:18:26 Current time: 2025-08-15 03:18:26, could not greet: rpc error: code = Unavailable '
                'desc = connection error: desc = "transport: Error while dialing: dial tcp 192.168.7.15:50051: connect: '
                'connection refused"')


def _notifier(w: World, *, calls_after_drain: bool = True, line: str = GRPC_REFUSED) -> None:
    """A Go worker scaled from 2 to 1 (istio/istio#7136): the pod being deleted, the last one, says
    goodbye to its peers after SIGTERM."""
    nw = Workload("notifier", "default", [Container("notifier", "docker.io/library/golang:1.22", ports=[Port(50051)])],
                  labels={"app": "notifier", "version": "v1"}, service_account="notifier", replicas=2, terminating=1)
    # LogLine times count from the pod's start; the drain starts at (POD_AGE_S - LOG_WINDOW_S) + deleted_at_s
    drain_s = POD_AGE_S - LOG_WINDOW_S + nw.deleted_at_s
    if calls_after_drain:
        nw.containers[0].log = [LogLine(drain_s + 0.8, line), LogLine(drain_s + 3.8, line)]
    w.workloads.append(nw)
    w.services.append(Service("notifier", "default", [ServicePort(50051, "grpc")], selector={"app": "notifier"}))


def _shutdown_world(version: str, kube: str) -> World:
    w = world(_shutdown, version=version)
    w.server_version = kube
    return w


def _shutdown_scenarios() -> list[Scenario]:
    out = []
    for version, kube, why in (
        ("1.6.14", "1.18.0", "Istio 1.6: TERMINATION_DRAIN_DURATION_SECONDS in proxyMetadata"),
        ("1.11.8", "1.21.0", "Istio 1.11: terminationDrainDuration (no EXIT_ON_ZERO_ACTIVE_CONNECTIONS before 1.12)"),
        ("1.12.9", "1.22.0", "Istio 1.12: EXIT_ON_ZERO_ACTIVE_CONNECTIONS"),
        ("1.27.1", "1.30.0", "Istio 1.27 with kubelets 1.30: native sidecars per pod, or EXIT_ON_ZERO_ACTIVE_CONNECTIONS"),
    ):
        w = _shutdown_world(version, kube)
        out.append(Scenario("lifecycle", f"shutdown-race-inbound-{_v(version)}", f"a ratings pod drains while reviews still "
                            f"sends to it: 503 UC ({why})", "deploy/reviews-v2 -n default", "503", w,
                            Expect(findings_first="P503-SHUTDOWN-RACE", findings=["P503-SHUTDOWN-RACE"],
                                   absent=others("P503-SHUTDOWN-RACE"))))
    for version, kube in (("1.6.14", "1.18.0"), ("1.11.8", "1.21.0"), ("1.22.3", "1.30.0")):
        w = world(_notifier, version=version)
        w.server_version = kube
        pod = w.pods_of(w.workload("default/notifier"))[-1]
        out.append(Scenario("lifecycle", f"shutdown-race-outbound-{_v(version)}", f"istio/istio#7136 on {version}: notifier "
                            "calls out after its sidecar began draining; the dial is refused",
                            f"pod/{pod.name} -n default", "auto", w,
                            Expect(findings_first="LIFE-SHUTDOWN-OUTBOUND", absent=others("LIFE-SHUTDOWN-OUTBOUND"),
                                   path=[("shutdown-race", "pass"), ("shutdown-outbound", "fail")])))
    # look-alikes
    w = world(lambda x: _notifier(x, line=LOOPBACK), version="1.22.3")
    pod = w.pods_of(w.workload("default/notifier"))[-1]
    out.append(Scenario("lifecycle", "shutdown-own-port-closed", "look-alike: while it shuts down notifier polls its own "
                        "127.0.0.1:8080, already closed (knative-extensions/net-istio#561 wording); loopback never reaches "
                        "the proxy", f"pod/{pod.name} -n default", "auto", w,
                        Expect(verdict="no_problem_found", absent=LIFE, path=[("shutdown-outbound", "pass")])))
    w = world(lambda x: _notifier(x, calls_after_drain=False), version="1.22.3")
    pod = w.pods_of(w.workload("default/notifier"))[-1]
    out.append(Scenario("lifecycle", "shutdown-quiet-pod", "control: notifier is deleted while nobody calls it and it calls "
                        "nobody: its sidecar drains and exits, nothing fails", f"pod/{pod.name} -n default", "auto", w,
                        Expect(verdict="no_problem_found", absent=LIFE, path=[("shutdown-race", "pass"),
                                                                              ("shutdown-outbound", "pass")])))
    return out


SCENARIOS += _shutdown_scenarios()
