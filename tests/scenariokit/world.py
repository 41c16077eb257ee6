"""A plain, typed description of one cluster + mesh, from which every command output is rendered.

Why a world model instead of hand-written fixtures: a scenario that says "the DestinationRule
disables TLS and the server is STRICT" must produce a client cluster without an Istio transport
socket, a server 15006 listener without a plaintext chain, a `503 UC` client line, a
`NR filter_chain_not_found` server line and a `no_filter_chain_match` counter, *all agreeing*.
Writing those by hand drifts; deriving them from one description cannot.

The model is deliberately small: dataclasses with defaults that describe a healthy bookinfo
mesh. Istio resources are plain dicts in the real CR shape (``cr(...)`` fills apiVersion and
metadata), because checks read them through the project's own parsers and any Python-side
schema here would only hide what the real objects look like.

Every query that more than one renderer needs (which services a proxy sees, which
DestinationRule applies, which pods back a subset, the effective mTLS mode of a port) lives
here, so the config dump, ``x describe`` and the simulated traffic use the same answer.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any, Literal

# --------------------------------------------------------------------------- versions

#: Fixed "now" of every world: all timestamps derive from it so builds are byte-identical.
EPOCH = datetime(2024, 7, 15, 9, 30, 0, tzinfo=timezone.utc)


def ts(offset_s: float = 0.0) -> datetime:
    return EPOCH + timedelta(seconds=offset_s)


def iso(offset_s: float = 0.0) -> str:
    """Kubernetes metadata timestamp (second precision, Z)."""
    return ts(offset_s).strftime("%Y-%m-%dT%H:%M:%SZ")


#: The access-log window starts this many seconds before EPOCH: ``Request.at_s`` and
#: ``Workload.deleted_at_s`` count from the window start, so ``at_s == LOG_WINDOW_S`` is "now".
LOG_WINDOW_S = 1800.0
#: Seconds from a pod's ``startTime`` (``iso(-POD_AGE_S)``) to now.
POD_AGE_S = 3600
#: The n-th request of the world's traffic (counting every Request's count) happens at
#: ``Request.at_s + n * REQUEST_SPACING_S``; see ``World.at_s_for_next``.
REQUEST_SPACING_S = 1.713
#: Istio's default terminationDrainDuration: pilot-agent drains Envoy this long after SIGTERM, then exits it.
DRAIN_S = 5.0
#: terminationGracePeriodSeconds of every pod (the Kubernetes default).
GRACE_S = 30


@dataclass(frozen=True, order=True)
class Ver:
    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> Ver:
        parts = [int(p) for p in text.lstrip("v").split("-")[0].split(".")[:3]]
        while len(parts) < 3:
            parts.append(0)
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def short(self) -> str:
        return f"{self.major}.{self.minor}"


def stable_hex(*parts: str, n: int = 10) -> str:
    """Deterministic hex derived from names (pod-template hashes, UIDs, request ids)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:n]


_KUBE_ALNUM = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet k8s uses for generated name suffixes


def kube_suffix(seed: str, n: int) -> str:
    h = hashlib.sha256(seed.encode()).digest()
    return "".join(_KUBE_ALNUM[b % len(_KUBE_ALNUM)] for b in h[:n])


def uid(*parts: str) -> str:
    h = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


# --------------------------------------------------------------------------- workloads


@dataclass
class Port:
    port: int
    name: str = ""
    protocol: str = "TCP"
    #: the address the application actually binds (what netstat shows). "127.0.0.1" is the
    #: P503-LOCALHOST-BIND cause; None means the app does not listen on this port at all.
    bind: str | None = "0.0.0.0"


@dataclass
class Probe:
    path: str = "/"
    port: int = 9080
    kind: Literal["http", "tcp", "exec"] = "http"
    initial_delay: int = 0
    period: int = 10


@dataclass
class Terminated:
    """A container's ``lastState.terminated``: a previous run that exited (P503-STARTUP-RACE).

    Times are seconds after the pod's ``startTime``; the container is running again now.
    """

    exit_code: int = 1
    reason: str = "Error"
    started_s: float = 1.0
    finished_s: float = 3.0


@dataclass
class LogLine:
    """One line an application wrote, ``at_s`` seconds after the pod's ``startTime`` (the runtime
    stamps it; ``kubectl logs --timestamps`` prints that time). Texts come from real incidents:
    cite the thread next to them in the scenario."""

    at_s: float
    text: str


@dataclass
class Container:
    name: str
    image: str
    ports: list[Port] = field(default_factory=list)
    run_as_user: int | None = None
    readiness: Probe | None = None
    liveness: Probe | None = None
    ready: bool = True
    #: restartCount; with ``last_terminated`` set it is at least 1
    restarts: int = 0
    #: the previous run that exited (``lastState.terminated``); None → ``lastState: {}``
    last_terminated: Terminated | None = None
    #: extra listening sockets of this container that are not declared ports (e.g. admin)
    extra_listen: list[tuple[str, int]] = field(default_factory=list)
    # -- lifecycle (tests/scenariokit/lifecycle.py renders them) --------------------------------
    #: the current run started this long after the pod's startTime (None: the kit's default)
    started_s: float | None = None
    #: the current run has exited (a Job's container that finished, an init container that failed)
    terminated: Terminated | None = None
    #: the container waits to be (re)started: "CrashLoopBackOff" after ``last_terminated``
    waiting: str | None = None
    #: what this run wrote (``kubectl logs --timestamps``), and what the previous run wrote (``--previous``)
    log: list[LogLine] = field(default_factory=list)
    previous_log: list[LogLine] = field(default_factory=list)
    #: environment variables (name -> value), e.g. istiod's ENABLE_NATIVE_SIDECARS
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class ProxyState:
    """The sidecar/gateway proxy of one workload: readiness, xDS, secrets, extra counters."""

    #: None → the control plane version
    version: str | None = None
    #: "ok" | "no_config" (never got xDS: NOT ready) | "nack" (a resource was rejected)
    state: Literal["ok", "no_config", "nack"] = "ok"
    #: the rejected type and message for state == "nack"
    nack_type: str = "type.googleapis.com/envoy.config.listener.v3.Listener"
    nack_message: str = (
        "Error adding/updating listener(s) 0.0.0.0_9080: Didn't find a registered implementation "
        "for 'envoy.filters.http.lua_typo' with type URL: ''"
    )
    #: per-type xDS status as istiod reports it; missing types are SYNCED (or NOT SENT for ECDS)
    xds: dict[str, str] = field(default_factory=dict)
    #: False → the proxy is absent from proxy-status (not connected to istiod)
    connected: bool = True
    #: workload certificate: ACTIVE, WARMING (never issued) or EXPIRED
    cert: Literal["active", "warming", "expired"] = "active"
    #: which root CA this proxy trusts; a different value than its peers = MTLS-ROOTCA-MISMATCH
    root_ca: Literal["primary", "other"] = "primary"
    #: extra admin /stats counters (name → value), added to the ones traffic produces
    stats: dict[str, int] = field(default_factory=dict)
    #: HTTP probe rewrite (sidecar.istio.io/rewriteAppHTTPProbers)
    rewrite_probes: bool = True
    #: istio-proxy's container started this long after the pod's startTime, and pilot-agent
    #: logged "Envoy proxy is ready" this long after that (a healthy start takes ~2 s)
    started_s: float = 10.0
    ready_after_s: float = 2.3


@dataclass
class Workload:
    """A Deployment (→ ReplicaSet → Pods). Injection is *decided* by the world's rules."""

    name: str
    namespace: str
    containers: list[Container]
    labels: dict[str, str] = field(default_factory=dict)  # pod template labels (incl. app/version)
    replicas: int = 1
    service_account: str = "default"
    #: pod template annotations (where `sidecar.istio.io/inject` belongs)
    annotations: dict[str, str] = field(default_factory=dict)
    #: Deployment .metadata labels/annotations (the INJ-ANNOTATION-MISPLACED place)
    deployment_labels: dict[str, str] = field(default_factory=dict)
    deployment_annotations: dict[str, str] = field(default_factory=dict)
    host_network: bool = False
    pod_run_as_user: int | None = None
    #: pods were created before the namespace label/webhook existed (INJ-POD-PREDATES)
    predates_injection: bool = False
    #: its pods are being (re)created now, so a webhook outage hits them (INJ-WEBHOOK-DOWN /
    #: FAILOPEN). Existing pods of other workloads keep their sidecars through an outage.
    new_pods: bool = False
    #: istio-init failure: None, or a reason ("NET_ADMIN" capability missing)
    init_failure: str | None = None
    #: force native/classic sidecar for this workload; None → world default
    native_sidecar: bool | None = None
    proxy: ProxyState = field(default_factory=ProxyState)
    #: "router" for gateways (istio-proxy is the only container, node id router~...)
    proxy_type: Literal["sidecar", "router"] = "sidecar"
    #: a pod that is not Ready (e.g. failing readiness) still exists but is not an endpoint
    node_index: int = 0
    #: the last N pods of this workload are being deleted (scale-down, rollout, eviction):
    #: deletionTimestamp set, EndpointSlice ready=false/serving=true/terminating=true, Killing
    #: events, the sidecar draining. Callers whose EDS still lists them fail (P503-SHUTDOWN-RACE).
    terminating: int = 0
    #: "Deployment" (ReplicaSet-owned pods) or "Job" (pods owned by the Job, restartPolicy Never)
    kind: Literal["Deployment", "Job"] = "Deployment"
    #: the application's own init containers (they run before the app; see lifecycle.py for order)
    init_containers: list[Container] = field(default_factory=list)
    #: the pods were created before holdApplicationUntilProxyStarts was set: injected without it
    predates_hold: bool = False
    #: when the deletion happened, on the access-log clock (``Request.at_s``). The default, 4 s
    #: before now, is inside the 5 s drain (sidecar still running, endpoint serving); earlier than
    #: ``LOG_WINDOW_S - DRAIN_S`` the sidecar has exited. Place racing requests with
    #: ``World.at_s_for_next(deleted_at_s + ...)``.
    deleted_at_s: float = LOG_WINDOW_S - 4

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class ServicePort:
    port: int
    name: str = "http"
    target_port: int | str | None = None  # None → same as port
    app_protocol: str | None = None
    protocol: str = "TCP"

    @property
    def target(self) -> int | str:
        return self.port if self.target_port is None else self.target_port


@dataclass
class Service:
    name: str
    namespace: str
    ports: list[ServicePort]
    selector: dict[str, str] = field(default_factory=dict)
    headless: bool = False
    type: str = "ClusterIP"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)  # networking.istio.io/exportTo

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.namespace}.svc.cluster.local"

    def port_for(self, number: int) -> ServicePort | None:
        return next((p for p in self.ports if p.port == number), None)


@dataclass
class Namespace:
    name: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Event:
    """A Kubernetes Event (rendered as events.k8s.io-style core/v1 Event)."""

    namespace: str
    kind: str  # involvedObject kind
    name: str  # involvedObject name
    reason: str
    message: str
    type: str = "Warning"
    count: int = 1
    component: str = "replicaset-controller"
    age_s: int = 600


# --------------------------------------------------------------------------- control plane


@dataclass
class MeshConfig:
    access_log_file: str = "/dev/stdout"  # "" → access logging off (GEN-ACCESSLOG-OFF)
    access_log_encoding: Literal["TEXT", "JSON"] = "TEXT"
    enable_auto_mtls: bool = True
    outbound_traffic_policy: Literal["ALLOW_ANY", "REGISTRY_ONLY"] = "ALLOW_ANY"
    root_namespace: str = "istio-system"
    trust_domain: str = "cluster.local"
    enable_namespaces_by_default: bool = False
    #: meshConfig.defaultConfig.holdApplicationUntilProxyStarts (None: not set)
    hold_application_until_proxy_starts: bool | None = None


@dataclass
class ControlPlane:
    namespace: str = "istio-system"
    #: installed revisions; "default" = the un-revisioned install (webhooks without rev in name)
    revisions: list[str] = field(default_factory=lambda: ["default"])
    istiod_replicas: int = 1
    istiod_ready: bool = True
    #: "Fail" (chart default) or "Ignore" (INJ-WEBHOOK-FAILOPEN)
    failure_policy: Literal["Fail", "Ignore"] = "Fail"
    #: revision tags (tag -> revision), rendered as istio-revision-tag-<tag> webhook configurations;
    #: a "default" tag also handles istio-injection=enabled (INJ-MULTI-WEBHOOK when it overlaps)
    tags: dict[str, str] = field(default_factory=dict)
    #: webhook call error when istiod cannot serve it: None, "deadline", "no_endpoints", "x509"
    webhook_error: str | None = None
    injector_policy: str = "enabled"
    never_inject_selector: list[dict[str, Any]] = field(default_factory=list)
    always_inject_selector: list[dict[str, Any]] = field(default_factory=list)
    mesh: MeshConfig = field(default_factory=MeshConfig)
    #: Helm values the injector renders with: global.proxy.holdApplicationUntilProxyStarts and
    #: global.proxy.lifecycle (a lifecycle replaces the hold hook in the template)
    values_hold: bool | None = None
    values_lifecycle: dict[str, Any] | None = None
    #: istiod's ENABLE_NATIVE_SIDECARS: None → the version's default ("false" < 1.27, "auto" from 1.27)
    native_sidecars_env: Literal["true", "false", "auto"] | None = None


@dataclass
class Request:
    """One request that happened: rendered on both proxies with one x-request-id.

    ``outcome`` None → the world decides (routes, clusters, endpoints, mTLS, binds, policies).
    Set it to force an outcome the simulator does not infer from config: "overflow" (UO),
    "keepalive_reset" (UC on a healthy upstream), "downstream_protocol_error" (DPE),
    "upstream_protocol_error" (UPE), "timeout" (UT).
    """

    client: str  # "ns/workload" (first pod) or "ns/pod-name"
    authority: str  # "reviews:9080", "httpbin.foo:8000", "www.google.com", "10.244.1.7:9080"
    path: str = "/"
    method: str = "GET"
    count: int = 1
    status: int = 200  # what the application answers when reached
    outcome: str | None = None
    user_agent: str = "curl/8.7.1"
    headers: dict[str, str] = field(default_factory=dict)
    tls: bool = False  # client speaks TLS itself (HTTPS to an http port, TLS passthrough, a gateway HTTPS port)
    at_s: float = 0.0  # seconds after the log window start
    #: the HTTP protocol the client speaks ("HTTP/2" after ALPN h2 on a TLS gateway port)
    protocol: str = "HTTP/1.1"
    #: TLS SNI the client sends. None → the authority's host (no SNI for an IP literal, RFC 6066);
    #: "" → no SNI; another host → a connection opened for that host is reused (HTTP/2 coalescing)
    sni: str | None = None
    #: the port the client connects to when the Host header names another: a gateway reached through a
    #: NodePort whose Host carries that NodePort (istio/istio#8807), a proxy forwarding its own Host
    connect_port: int | None = None
    #: the Service ("name[.ns]") the client connects to when its Host header names another: a reverse
    #: proxy that forwards the caller's Host, a client that sets Host by hand (istio/istio#22727)
    connect_host: str | None = None


@dataclass
class Faults:
    """Failures of the evidence itself (not of the mesh): what a call returns instead of data.

    Keys are matched against the call: a Need-like word ("pods", "proxy-config", "logs",
    "exec", "proxy-status", "analyze", "describe", "version", "events", ...) optionally followed
    by ":namespace" (e.g. "pods:istio-system"). Values: "forbidden", "notfound", "timeout",
    "unreachable", "refused", "missing_kubectl", "missing_istioctl", "unknown_flag".
    """

    calls: dict[str, str] = field(default_factory=dict)
    #: the identity RBAC errors name
    user: str = "system:serviceaccount:sre:oncall"


@dataclass
class TlsSecret:
    """A ``kubernetes.io/tls`` Secret that a Gateway server names in ``tls.credentialName``.

    istiod serves it to the gateway pods of its namespace as SDS resource ``kubernetes://<name>``.
    Listed in ``World.tls_secrets`` → ACTIVE with a real certificate (SANs = ``hosts``);
    absent → the gateway's secret stays WARMING and handshakes on that server fail.
    """

    name: str
    namespace: str = "istio-system"
    #: DNS SANs of tls.crt (a wildcard like "*.example.com" covers several Gateways' hosts)
    hosts: list[str] = field(default_factory=lambda: ["*.example.com"])


def gateway_api_versions(bundle: str, kind: str) -> tuple[list[str], str]:
    """(served versions in CRD order, storage version) of a standard-channel Gateway API bundle.

    v0.5.0 added v1beta1 for GatewayClass/Gateway/HTTPRoute (v1alpha2 still served), v0.6.0 for
    ReferenceGrant; v1.0.0 added v1 and dropped v1alpha2 from the standard channel.
    """
    v = Ver.parse(bundle)
    if kind == "ReferenceGrant":
        if v >= Ver(1, 0):
            return ["v1beta1"], "v1beta1"
        return (["v1alpha2", "v1beta1"], "v1beta1") if v >= Ver(0, 6) else (["v1alpha2"], "v1alpha2")
    if v >= Ver(1, 0):
        return ["v1", "v1beta1"], "v1"
    if v >= Ver(0, 5):
        return ["v1alpha2", "v1beta1"], "v1beta1"
    return ["v1alpha2"], "v1alpha2"


# --------------------------------------------------------------------------- the world


def cr(kind: str, name: str, namespace: str, spec: dict[str, Any], *, api_version: str | None = None,
       labels: dict[str, str] | None = None, status: dict[str, Any] | None = None) -> dict[str, Any]:
    """An Istio / Gateway API custom resource in the shape the API server returns it."""
    groups = {
        "VirtualService": "networking.istio.io/v1", "DestinationRule": "networking.istio.io/v1",
        "Gateway": "networking.istio.io/v1", "ServiceEntry": "networking.istio.io/v1",
        "Sidecar": "networking.istio.io/v1", "EnvoyFilter": "networking.istio.io/v1alpha3",
        "PeerAuthentication": "security.istio.io/v1", "AuthorizationPolicy": "security.istio.io/v1",
        "RequestAuthentication": "security.istio.io/v1", "Telemetry": "telemetry.istio.io/v1",
        "HTTPRoute": "gateway.networking.k8s.io/v1", "K8sGateway": "gateway.networking.k8s.io/v1",
    }
    av = api_version or groups[kind]
    real_kind = "Gateway" if kind == "K8sGateway" else kind
    obj: dict[str, Any] = {
        "apiVersion": av,
        "kind": real_kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    if labels:
        obj["metadata"]["labels"] = dict(labels)
    if status is not None:
        obj["status"] = status
    return obj


def kind_of(obj: dict[str, Any]) -> str:
    """Our internal kind: Gateway API Gateways are 'K8sGateway' to keep them apart from Istio's."""
    if obj["kind"] == "Gateway" and obj["apiVersion"].startswith("gateway.networking.k8s.io"):
        return "K8sGateway"
    return str(obj["kind"])


def labels_match(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    return bool(selector is not None) and all(labels.get(k) == v for k, v in (selector or {}).items())


@dataclass
class Pod:
    """A pod as the world decided it (names, IPs, injection outcome). Derived, not authored."""

    workload: Workload
    name: str
    ip: str
    node: str
    index: int
    injected: bool
    native: bool
    hash: str  # pod-template-hash
    rs_name: str
    #: set by the world (e.g. istiod pods when the control plane is declared not ready)
    forced_unready: bool = False
    #: an init container keeps failing (istio-validation before the CNI agent, an app init container):
    #: set by the world from the lifecycle knobs (tests/scenariokit/lifecycle.py init_blocked)
    init_blocked: bool = False

    @property
    def namespace(self) -> str:
        return self.workload.namespace

    @property
    def labels(self) -> dict[str, str]:
        out = dict(self.workload.labels)
        if self.workload.kind == "Job":
            # the Job controller's labels (batch/v1, Kubernetes >= 1.27 adds the batch.kubernetes.io/ ones)
            out.update({"batch.kubernetes.io/controller-uid": uid("Job", self.namespace, self.workload.name),
                        "batch.kubernetes.io/job-name": self.workload.name,
                        "controller-uid": uid("Job", self.namespace, self.workload.name), "job-name": self.workload.name})
        else:
            out["pod-template-hash"] = self.hash
        if self.injected:
            out.setdefault("security.istio.io/tlsMode", "istio")
            out.setdefault("service.istio.io/canonical-name", self.workload.labels.get("app", self.workload.name))
            out.setdefault("service.istio.io/canonical-revision", self.workload.labels.get("version", "latest"))
        return out

    @property
    def init_failed(self) -> bool:
        """istio-proxy never started: an init container (istio-init, istio-validation, the app's) keeps failing."""
        return self.injected and (self.workload.init_failure is not None or self.init_blocked)

    @property
    def proxy_ready(self) -> bool:
        return self.injected and not self.init_failed and self.workload.proxy.state != "no_config"

    #: set by the world: the pod's kubelet probes are dropped (ambient probe SNAT, see ambient.py)
    probes_dropped: bool = False

    @property
    def app_ready(self) -> bool:
        if self.init_failed or self.init_blocked or self.forced_unready or self.probes_dropped:
            return False
        return all(c.ready and c.terminated is None and c.waiting is None for c in self.workload.containers)

    @property
    def ready(self) -> bool:
        if self.is_gateway and not self.injected:
            return False  # istio-proxy still has the `image: auto` placeholder: it cannot start
        return self.app_ready and (self.proxy_ready or not self.injected)

    @property
    def is_gateway(self) -> bool:
        return self.workload.proxy_type == "router"

    @property
    def terminating(self) -> bool:
        """Being deleted: the last ``workload.terminating`` pods of the workload."""
        w = self.workload
        return w.terminating > 0 and self.index >= w.replicas - w.terminating

    def shutdown_phase(self, at_s: float) -> Literal["running", "draining", "exited"]:
        """What the pod's sidecar does at ``at_s`` (access-log clock): serving, draining after
        SIGTERM (connections closed: UC), or exited after the drain duration (refused: UF)."""
        if not self.terminating or at_s < self.workload.deleted_at_s:
            return "running"
        return "draining" if at_s < self.workload.deleted_at_s + DRAIN_S else "exited"

    @property
    def ports(self) -> list[Port]:
        return [p for c in self.workload.containers for p in c.ports]


@dataclass
class World:
    #: when the certificates the world renders are valid around (their not-before/not-after
    #: windows): EPOCH, the world's clock, except for stand-ins that a live CLI judges at the wall
    #: clock (``install_standins`` sets it to the current hour); nothing else moves with it
    cert_clock: datetime = EPOCH
    istio_version: str = "1.22.3"
    istioctl_version: str | None = None  # None → same as control plane
    kubectl_version: str = "1.30.2"
    server_version: str = "1.30.0"
    #: force native (True) or classic (False) sidecars for every pod; None → the injector decides
    #: by version, ENABLE_NATIVE_SIDECARS and the pod annotation (``lifecycle.native_for``)
    native_sidecars: bool | None = None
    #: istio-cni: istio-validation instead of istio-init, and one istio-cni-node agent per node
    cni: bool = False
    cni_namespace: str = "istio-system"
    #: node -> seconds after the pods' startTime when its agent became Ready (None: not Ready);
    #: nodes not listed became Ready a day before
    cni_ready_s: dict[str, float | None] = field(default_factory=dict)
    #: what the agent's repair controller does with a pod whose istio-validation fails:
    #: "repair" (1.21+ default), "repair_broken" (1.26.1/1.27.0: logs the repair, no effect),
    #: "label", "delete", "off"; None → the version's default
    cni_repair: str | None = None
    #: the agent logs as JSON (global.logAsJson) instead of Istio's text format
    cni_log_json: bool = False
    #: the istio-cni plugin is not in the node's CNI chain although the agent is Ready (a wrong
    #: cniConfDir, a Multus setup: istio/istio#22913): every istio-validation fails
    cni_plugin_missing: bool = False
    control_plane: ControlPlane = field(default_factory=ControlPlane)
    namespaces: list[Namespace] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    istio: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    traffic: list[Request] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    nodes: list[str] = field(default_factory=lambda: ["kind-worker", "kind-worker2", "kind-worker3"])
    cluster_id: str = "Kubernetes"
    #: Gateway API CRD bundle version installed, None → not installed
    gateway_api_version: str | None = "v1.1.0"
    #: extra analyze messages (code, kind, ns/name, message args) beyond the derived ones
    analyze_extra: list[dict[str, Any]] = field(default_factory=list)
    #: TLS Secrets that exist (Gateway credentialName); a credentialName not listed is missing
    tls_secrets: list[TlsSecret] = field(default_factory=list)
    #: ambient mode (tests.scenariokit.ambient.Ambient): ztunnel and istio-cni per node; None = sidecar only
    ambient: Any = None

    # -- versions ------------------------------------------------------------------------
    @property
    def version(self) -> Ver:
        return Ver.parse(self.istio_version)

    @property
    def istioctl(self) -> Ver:
        return Ver.parse(self.istioctl_version or self.istio_version)

    def proxy_version(self, w: Workload) -> str:
        return w.proxy.version or self.istio_version

    @property
    def native_default(self) -> bool:
        from tests.scenariokit.lifecycle import native_by_injector

        return self.native_sidecars if self.native_sidecars is not None else native_by_injector(self, None)

    # -- lookup ---------------------------------------------------------------------------
    def namespace(self, name: str) -> Namespace | None:
        return next((n for n in self.namespaces if n.name == name), None)

    def ns_labels(self, name: str) -> dict[str, str]:
        ns = self.namespace(name)
        return dict(ns.labels) if ns else {}

    def service(self, name: str, namespace: str) -> Service | None:
        return next((s for s in self.services if s.name == name and s.namespace == namespace), None)

    def workload(self, key: str) -> Workload | None:
        ns, _, name = key.partition("/")
        return next((w for w in self.workloads if w.namespace == ns and w.name == name), None)

    def tls_secret(self, name: str, namespace: str) -> TlsSecret | None:
        return next((s for s in self.tls_secrets if s.name == name and s.namespace == namespace), None)

    def resources(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [o for o in self.istio if kind_of(o) == kind and (namespace is None or o["metadata"]["namespace"] == namespace)]

    # -- addressing -------------------------------------------------------------------------
    def cluster_ip(self, svc: Service) -> str | None:
        if svc.headless:
            return None
        i = self.services.index(svc)
        return str(ipaddress.ip_address("10.96.0.0") + 1000 + i * 7)

    @cached_property
    def pods(self) -> list[Pod]:
        """Every pod that exists. Pods whose creation the webhook rejected do not exist."""
        from tests.scenariokit.lifecycle import init_blocked, native_by_injector

        out: list[Pod] = []
        per_node: dict[int, int] = {}
        for w in self.workloads:
            decision = self.injection(w)
            if decision == "rejected":
                continue
            rs_hash = kube_suffix(f"{w.key}/template/{decision}", 10)
            rs_name = f"{w.name}-{rs_hash}"
            is_istiod = w.namespace == self.control_plane.namespace and w.labels.get("app") == "istiod"
            replicas = self.control_plane.istiod_replicas if is_istiod else w.replicas
            for i in range(replicas):
                node_i = (w.node_index + i) % len(self.nodes)
                n = per_node.get(node_i, 0) + 1
                per_node[node_i] = n
                ip = f"10.244.{node_i + 1}.{n + 5}" if not w.host_network else f"172.18.0.{node_i + 2}"
                native = w.native_sidecar if w.native_sidecar is not None else (
                    self.native_sidecars if self.native_sidecars is not None else native_by_injector(self, w))
                base = w.name if w.kind == "Job" else rs_name
                out.append(Pod(w, f"{base}-{kube_suffix(f'{w.key}/{i}', 5)}", ip, self.nodes[node_i], i,
                               decision == "injected", native, rs_hash, rs_name,
                               forced_unready=is_istiod and not self.control_plane.istiod_ready))
                out[-1].init_blocked = init_blocked(self, out[-1])
        if self.ambient is not None:
            from tests.scenariokit.ambient import probe_blocked

            for p in out:
                p.probes_dropped = any(c.readiness or c.liveness for c in p.workload.containers) and probe_blocked(self, p)
        return out

    def at_s_for_next(self, t: float) -> float:
        """``Request.at_s`` that makes the next appended Request's first exchange happen at ``t``
        (access-log clock): exchanges are spaced by REQUEST_SPACING_S across the whole traffic."""
        return t - sum(r.count for r in self.traffic) * REQUEST_SPACING_S

    def pods_of(self, w: Workload) -> list[Pod]:
        return [p for p in self.pods if p.workload is w]

    def pod(self, name: str, namespace: str) -> Pod | None:
        return next((p for p in self.pods if p.name == name and p.namespace == namespace), None)

    def pod_by_ip(self, ip: str) -> Pod | None:
        return next((p for p in self.pods if p.ip == ip), None)

    def resolve_pod(self, ref: str) -> Pod | None:
        """"ns/workload" → its first pod; "ns/pod-name" → that pod."""
        ns, _, name = ref.partition("/")
        p = self.pod(name, ns)
        if p:
            return p
        w = self.workload(ref)
        pods = self.pods_of(w) if w else []
        return pods[0] if pods else None

    # -- injection (pkg/kube/inject injectRequired + webhook selectors) ---------------------
    def webhook_selects(self, w: Workload) -> bool:
        """Does any injector webhook's namespace/object selector match this pod?"""
        ns = self.ns_labels(w.namespace)
        pl = w.labels
        if w.namespace in ("kube-system", "kube-public"):
            return False
        if ns.get("istio-injection") == "disabled" or pl.get("sidecar.istio.io/inject") == "false":
            return False
        revs = [*self.control_plane.revisions, *self.control_plane.tags]  # a tag selects like a revision
        if "istio-injection" in ns:
            return ns["istio-injection"] == "enabled" and "default" in revs
        if "istio.io/rev" in ns:
            return ns["istio.io/rev"] in revs
        if pl.get("sidecar.istio.io/inject") == "true":
            return "default" in revs
        if "istio.io/rev" in pl:
            return pl["istio.io/rev"] in revs
        return self.control_plane.mesh.enable_namespaces_by_default

    def injection(self, w: Workload) -> Literal["injected", "not_injected", "rejected"]:
        if w.predates_injection:
            return "not_injected"
        if not self.webhook_selects(w):
            return "not_injected"
        cp = self.control_plane
        if (cp.webhook_error or not cp.istiod_ready or cp.istiod_replicas == 0) and w.new_pods:
            # The API server could not call the webhook: Fail rejects the pod (FailedCreate),
            # Ignore creates it without a sidecar (INJ-WEBHOOK-FAILOPEN).
            return "rejected" if cp.failure_policy == "Fail" else "not_injected"
        if w.host_network:
            return "not_injected"
        lab = w.labels.get("sidecar.istio.io/inject")
        ann = w.annotations.get("sidecar.istio.io/inject")
        explicit = lab if lab is not None else ann or ""
        if self.version < Ver(1, 27):
            # injectRequired() (istio/istio@1.26.0:pkg/kube/inject/inject.go): strings.ToLower, then
            # y/yes/true/on inject, "" uses the defaults, any other value is false
            if explicit.lower() in ("y", "yes", "true", "on"):
                return "injected"
            if explicit:
                return "not_injected"
        elif explicit == "true":
            return "injected"
        elif explicit == "false":
            return "not_injected"
        # from 1.27 (istio/istio#56737, istio/istio@1.27.0:pkg/kube/inject/inject.go) anything but
        # exactly "true"/"false" is logged as invalid and falls through to the default policy
        for sel in cp.never_inject_selector:
            if labels_match(sel.get("matchLabels", {}), w.labels):
                return "not_injected"
        for sel in cp.always_inject_selector:
            if labels_match(sel.get("matchLabels", {}), w.labels):
                return "injected"
        return "injected" if cp.injector_policy == "enabled" else "not_injected"

    def webhook_error_message(self) -> str:
        cp = self.control_plane
        hook = "namespace.sidecar-injector.istio.io"
        kind = cp.webhook_error or "no_endpoints"
        url = f'Post "https://istiod.{cp.namespace}.svc:443/inject?timeout=10s"'
        if kind == "deadline":
            return f'Internal error occurred: failed calling webhook "{hook}": failed to call webhook: {url}: context deadline exceeded'
        if kind == "x509":
            return (f'Internal error occurred: failed calling webhook "{hook}": failed to call webhook: {url}: '
                    'tls: failed to verify certificate: x509: certificate signed by unknown authority')
        return (f'Internal error occurred: failed calling webhook "{hook}": failed to call webhook: {url}: '
                f'no endpoints available for service "istiod"')

    def all_events(self) -> list[Event]:
        """Authored events plus the ones the world implies (FailedCreate, probe failures, init crash)."""
        from tests.scenariokit.lifecycle import lifecycle_events

        out = list(self.events) + lifecycle_events(self)
        if self.ambient is not None:
            from tests.scenariokit.ambient_traffic import events as ambient_events

            out += ambient_events(self)
        for w in self.workloads:
            if self.injection(w) == "rejected":
                out.append(Event(w.namespace, "ReplicaSet", f"{w.name}-{kube_suffix(f'{w.key}/template/rejected', 10)}",
                                 "FailedCreate", f"Error creating: {self.webhook_error_message()}", count=21,
                                 component="replicaset-controller"))
        for p in self.pods:
            for c in p.workload.containers:
                if not c.ready and c.readiness:
                    out.append(Event(p.namespace, "Pod", p.name, "Unhealthy",
                                     "Readiness probe failed: HTTP probe failed with statuscode: 503", count=298,
                                     component="kubelet"))
            if p.injected and p.workload.init_failure is not None:
                out.append(Event(p.namespace, "Pod", p.name, "BackOff",
                                 "Back-off restarting failed container istio-init in pod "
                                 f"{p.name}_{p.namespace}({uid('pod', p.namespace, p.name)})", count=12, component="kubelet"))
            if p.injected and p.workload.proxy.state == "no_config":
                out.append(Event(p.namespace, "Pod", p.name, "Unhealthy",
                                 "Readiness probe failed: HTTP probe failed with statuscode: 503", count=40,
                                 component="kubelet"))
            if p.terminating:
                # the kubelet stops every container of a deleted pod (a native sidecar after the app)
                names = [c.name for c in p.workload.containers] + (["istio-proxy"] if p.injected and not p.is_gateway else [])
                for cname in names:
                    out.append(Event(p.namespace, "Pod", p.name, "Killing", f"Stopping container {cname}", type="Normal",
                                     component="kubelet", age_s=max(1, int(LOG_WINDOW_S - p.workload.deleted_at_s))))
        return out

    # -- mesh semantics shared by renderers ---------------------------------------------------
    def services_selecting(self, pod: Pod) -> list[Service]:
        return [s for s in self.services
                if s.namespace == pod.namespace and s.selector and labels_match(s.selector, pod.labels)]

    def exported_to(self, obj_ns: str, export_to: list[str] | None, client_ns: str) -> bool:
        if not export_to:
            return True
        for e in export_to:
            if e == "*" or e == client_ns or (e == "." and obj_ns == client_ns):
                return True
        return False

    def sidecar_for(self, pod: Pod) -> dict[str, Any] | None:
        """The Sidecar resource scoping this proxy: workload-selected, else namespace, else root."""
        scs = self.resources("Sidecar", pod.namespace)
        for s in scs:
            sel = (s["spec"].get("workloadSelector") or {}).get("labels")
            if sel and labels_match(sel, pod.labels):
                return s
        for s in scs:
            if not s["spec"].get("workloadSelector"):
                return s
        for s in self.resources("Sidecar", self.control_plane.mesh.root_namespace):
            if not s["spec"].get("workloadSelector"):
                return s
        return None

    def _host_imported(self, hosts: list[str], ns: str, host: str, client_ns: str) -> bool:
        for h in hosts:
            hns, _, hname = h.partition("/")
            ns_ok = hns == "*" or hns == ns or (hns == "." and ns == client_ns) or (hns == "~" and False)
            if not ns_ok:
                continue
            if hname == "*" or hname == host or (hname.startswith("*.") and host.endswith(hname[1:])):
                return True
        return False

    def visible(self, pod: Pod, ns: str, host: str, export_to: list[str] | None = None) -> bool:
        """Is a service/host of namespace ``ns`` in this proxy's config (exportTo + Sidecar egress)?"""
        if not self.exported_to(ns, export_to, pod.namespace):
            return False
        sc = self.sidecar_for(pod) if not pod.is_gateway else None
        if sc:
            egress = sc["spec"].get("egress") or []
            hosts = [h for e in egress for h in e.get("hosts", [])]
            if egress and not self._host_imported(hosts, ns, host, pod.namespace):
                return False
        return True

    def service_export(self, svc: Service) -> list[str] | None:
        v = svc.annotations.get("networking.istio.io/exportTo")
        return [x.strip() for x in v.split(",")] if v else None

    def visible_services(self, pod: Pod) -> list[Service]:
        return [s for s in self.services if self.visible(pod, s.namespace, s.fqdn, self.service_export(s))]

    def service_entries(self, pod: Pod) -> list[dict[str, Any]]:
        out = []
        for se in self.resources("ServiceEntry"):
            ns = se["metadata"]["namespace"]
            hosts = se["spec"].get("hosts", [])
            if all(self.visible(pod, ns, h, se["spec"].get("exportTo")) for h in hosts[:1]):
                out.append(se)
        return out

    @staticmethod
    def host_matches(pattern: str, fqdn: str, ns: str) -> bool:
        """Istio host matching with short names resolved in the resource's namespace. Only a
        *dotless* name is expanded (istio/istio@1.22.0:pilot/pkg/model/config.go
        ResolveShortnameToFQDN): ``reviews.default`` stays literal and matches no Service."""
        if pattern == "*":
            return True
        if pattern.startswith("*."):
            return fqdn.endswith(pattern[1:])
        if "." not in pattern:
            pattern = f"{pattern}.{ns}.svc.cluster.local"
        return pattern == fqdn

    def destination_rule(self, fqdn: str, client_ns: str) -> dict[str, Any] | None:
        """DR lookup order Istio uses: client namespace, then the service's namespace, then root."""
        svc_ns = fqdn.split(".")[1] if fqdn.endswith(".svc.cluster.local") else None
        order = [client_ns] + ([svc_ns] if svc_ns else []) + [self.control_plane.mesh.root_namespace]
        for ns in dict.fromkeys(order):
            cands = [d for d in self.resources("DestinationRule", ns)
                     if self.host_matches(d["spec"].get("host", ""), fqdn, ns)
                     and self.exported_to(ns, d["spec"].get("exportTo"), client_ns)]
            # exact host wins over wildcard
            cands.sort(key=lambda d: "*" in d["spec"].get("host", ""))
            if cands:
                return cands[0]
        return None

    def virtual_services(self, fqdn: str, client_ns: str, gateway: str = "mesh") -> list[dict[str, Any]]:
        out = []
        for vs in self.resources("VirtualService"):
            ns = vs["metadata"]["namespace"]
            gws = vs["spec"].get("gateways") or ["mesh"]
            if gateway == "mesh" and "mesh" not in gws:
                continue
            if gateway != "mesh" and not any(self._gw_ref(g, ns) == gateway for g in gws):
                continue
            if not self.exported_to(ns, vs["spec"].get("exportTo"), client_ns) and gateway == "mesh":
                continue
            if any(self.host_matches(h, fqdn, ns) for h in vs["spec"].get("hosts", [])):
                out.append(vs)
        return out

    @staticmethod
    def _gw_ref(ref: str, vs_ns: str) -> str:
        return ref if "/" in ref else f"{vs_ns}/{ref}"

    def subset(self, dr: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
        if not dr or not name:
            return None
        return next((s for s in dr["spec"].get("subsets") or [] if s.get("name") == name), None)

    def endpoints(self, svc: Service, sp: ServicePort, subset_labels: dict[str, str] | None = None,
                  *, terminating: bool = False) -> list[tuple[Pod, int]]:
        """(pod, target port) of every *ready* pod behind a service port (+ subset labels).

        A terminating pod is not ready in its EndpointSlice, so it is not an endpoint; with
        ``terminating=True`` the result is instead the terminating pods that were endpoints
        until their deletion (what a caller's not yet updated EDS still lists).
        """
        out = []
        if not svc.selector:
            return out
        for p in self.pods:
            if p.namespace != svc.namespace or not labels_match(svc.selector, p.labels) or not p.ready:
                continue
            if p.terminating != terminating:
                continue
            if subset_labels and not labels_match(subset_labels, p.labels):
                continue
            tp = self.target_port_number(p, sp)
            if tp is not None:
                out.append((p, tp))
        return out

    @staticmethod
    def target_port_number(pod: Pod, sp: ServicePort) -> int | None:
        t = sp.target
        if isinstance(t, int):
            return t
        for port in pod.ports:
            if port.name == t:
                return port.port
        return None

    def peer_auth_mode(self, pod: Pod, port: int) -> str:
        """Effective PeerAuthentication mode of a workload port: workload > namespace > mesh."""
        root = self.control_plane.mesh.root_namespace
        mode = "PERMISSIVE"
        mesh = [p for p in self.resources("PeerAuthentication", root) if not p["spec"].get("selector")]
        nsw = [p for p in self.resources("PeerAuthentication", pod.namespace) if not p["spec"].get("selector")]
        wl = [p for p in self.resources("PeerAuthentication", pod.namespace)
              if labels_match((p["spec"].get("selector") or {}).get("matchLabels"), pod.labels)]
        for group in (mesh, nsw, wl):
            for pa in group:
                m = (pa["spec"].get("mtls") or {}).get("mode")
                if m and m != "UNSET":
                    mode = m
                plm = (pa["spec"].get("portLevelMtls") or {}).get(str(port)) or (pa["spec"].get("portLevelMtls") or {}).get(port)
                if plm and plm.get("mode") and group is wl:
                    mode = plm["mode"]
        return mode

    def applied_peer_auths(self, pod: Pod) -> list[dict[str, Any]]:
        root = self.control_plane.mesh.root_namespace
        out = [p for p in self.resources("PeerAuthentication", root) if not p["spec"].get("selector")]
        out += [p for p in self.resources("PeerAuthentication", pod.namespace)
                if not p["spec"].get("selector") or labels_match((p["spec"].get("selector") or {}).get("matchLabels"), pod.labels)]
        return out

    def dr_tls_mode(self, dr: dict[str, Any] | None, port: int, subset: str = "") -> str | None:
        """The TLS mode a DR sets for a port (subset > port-level > top), None when unset."""
        if not dr:
            return None
        layers = [dr["spec"].get("trafficPolicy") or {}]
        sub = self.subset(dr, subset)
        if sub:
            layers.append(sub.get("trafficPolicy") or {})
        mode = None
        for tp in layers:
            if (tp.get("tls") or {}).get("mode"):
                mode = tp["tls"]["mode"]
            for pls in tp.get("portLevelSettings") or []:
                if (pls.get("port") or {}).get("number") == port and (pls.get("tls") or {}).get("mode"):
                    mode = pls["tls"]["mode"]
        return mode

    def traffic_policy(self, dr: dict[str, Any] | None, subset: str = "") -> dict[str, Any]:
        if not dr:
            return {}
        tp = dict(dr["spec"].get("trafficPolicy") or {})
        sub = self.subset(dr, subset)
        if sub and sub.get("trafficPolicy"):
            tp.update(sub["trafficPolicy"])
        return tp

    def gateway_pods(self, selector: dict[str, str]) -> list[Pod]:
        return [p for p in self.pods if p.is_gateway and labels_match(selector, p.labels)]

    def gateways_for(self, pod: Pod) -> list[dict[str, Any]]:
        if not pod.is_gateway:
            return []
        return [g for g in self.resources("Gateway") if labels_match(g["spec"].get("selector") or {}, pod.labels)]

    def authz_deny(self, pod: Pod, path: str, client_ns: str) -> dict[str, Any] | None:
        """The first AuthorizationPolicy that denies a request (DENY match, or ALLOW-list miss)."""
        aps = [a for a in self.resources("AuthorizationPolicy")
               if a["metadata"]["namespace"] in (pod.namespace, self.control_plane.mesh.root_namespace)
               and (not (a["spec"].get("selector") or {}).get("matchLabels")
                    or labels_match(a["spec"]["selector"]["matchLabels"], pod.labels))]
        for a in aps:
            if a["spec"].get("action") == "DENY" and self._ap_matches(a, path, client_ns):
                return a
        allows = [a for a in aps if a["spec"].get("action", "ALLOW") == "ALLOW"]
        if allows and not any(self._ap_matches(a, path, client_ns) for a in allows):
            return allows[0]
        return None

    @staticmethod
    def _ap_matches(ap: dict[str, Any], path: str, client_ns: str) -> bool:
        rules = ap["spec"].get("rules")
        if rules is None:
            return False  # no rules: ALLOW nothing / DENY nothing
        for r in rules:
            ok = True
            for f in r.get("from") or []:
                nss = (f.get("source") or {}).get("namespaces")
                if nss and client_ns not in nss:
                    ok = False
            for t in r.get("to") or []:
                paths = (t.get("operation") or {}).get("paths")
                if paths and not any(path == p or (p.endswith("*") and path.startswith(p[:-1])) for p in paths):
                    ok = False
            if ok:
                return True
        return False

    def pod_is_mesh(self, pod: Pod | None) -> bool:
        return bool(pod and pod.injected and not pod.init_failed)
