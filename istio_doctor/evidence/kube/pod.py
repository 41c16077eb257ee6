"""The ``Pod`` model and its parts (spec, containers, probes, statuses), with the readings checks
share: sidecar presence and status, the injector's status annotation, the owning workload, the
probes the injector rewrites.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, NamedTuple

from pydantic import Field, ValidationError

from istio_doctor.evidence.kube.meta import (
    INJECT_KEY,
    PROXY_UID,
    REV_KEY,
    SIDECAR_NAME,
    STATUS_ANNOTATION,
    Condition,
    K8sObject,
    KubeModel,
    OwnerReference,
    Timestamp,
    find_condition,
)

# --------------------------------------------------------------------------------------
# Pod
# --------------------------------------------------------------------------------------


class ContainerPort(KubeModel):
    name: str | None = None
    container_port: int
    protocol: str = "TCP"
    host_port: int | None = None


class SecurityContext(KubeModel):
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    privileged: bool | None = None


class HTTPGetAction(KubeModel):
    path: str | None = None
    port: int | str
    scheme: str = "HTTP"
    host: str | None = None


class PortAction(KubeModel):
    port: int | str
    host: str | None = None


class Probe(KubeModel):
    http_get: HTTPGetAction | None = None
    tcp_socket: PortAction | None = None
    grpc: dict[str, Any] | None = None
    exec: dict[str, Any] | None = None
    initial_delay_seconds: int | None = None
    period_seconds: int | None = None
    failure_threshold: int | None = None


class EnvVar(KubeModel):
    name: str
    value: str | None = None


class Container(KubeModel):
    name: str
    image: str | None = None
    ports: list[ContainerPort] = []
    args: list[str] = []
    command: list[str] = []
    env: list[EnvVar] = []
    security_context: SecurityContext | None = None
    restart_policy: str | None = None  # only on init containers: "Always" = native sidecar
    readiness_probe: Probe | None = None
    liveness_probe: Probe | None = None
    startup_probe: Probe | None = None

    def env_value(self, name: str) -> str | None:
        for e in self.env:
            if e.name == name:
                return e.value
        return None


class PodSecurityContext(KubeModel):
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    fs_group: int | None = None


class PodSpec(KubeModel):
    containers: list[Container] = []
    init_containers: list[Container] = []
    host_network: bool = False
    security_context: PodSecurityContext | None = None
    service_account_name: str | None = None
    node_name: str | None = None
    restart_policy: str | None = None


class ContainerStateWaiting(KubeModel):
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(KubeModel):
    started_at: Timestamp = None


class ContainerStateTerminated(KubeModel):
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    started_at: Timestamp = None
    finished_at: Timestamp = None


class ContainerState(KubeModel):
    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None

    @property
    def summary(self) -> str:
        """One word, as `kubectl get pods` STATUS would show for this container."""
        if self.waiting is not None:
            return self.waiting.reason or "Waiting"
        if self.terminated is not None:
            return self.terminated.reason or "Terminated"
        if self.running is not None:
            return "Running"
        return "Unknown"


class ContainerStatus(KubeModel):
    name: str
    ready: bool = False
    started: bool | None = None
    restart_count: int = 0
    image: str | None = None
    image_id: str | None = Field(default=None, alias="imageID")
    state: ContainerState = ContainerState()
    last_state: ContainerState = ContainerState()


class PodIP(KubeModel):
    ip: str


class PodStatus(KubeModel):
    phase: str | None = None
    pod_ip: str | None = Field(default=None, alias="podIP")
    pod_ips: list[PodIP] = Field(default=[], alias="podIPs")
    host_ip: str | None = Field(default=None, alias="hostIP")
    conditions: list[Condition] = []
    container_statuses: list[ContainerStatus] = []
    init_container_statuses: list[ContainerStatus] = []
    reason: str | None = None
    message: str | None = None
    start_time: Timestamp = None


class InjectionStatus(KubeModel):
    """The ``sidecar.istio.io/status`` annotation the injector writes: what it added."""

    init_containers: list[str] = []
    containers: list[str] = []
    volumes: list[str] = []
    image_pull_secrets: list[str] = []
    revision: str | None = None
    version: str | None = None  # pre-1.6 injectors wrote a template hash here


class WorkloadRef(NamedTuple):
    kind: str
    name: str


class ProbeRef(NamedTuple):
    container: str
    kind: str  # readiness | liveness | startup
    probe: Probe


_POD_TEMPLATE_HASH = "pod-template-hash"


class Pod(K8sObject):
    KIND: ClassVar[str | None] = "Pod"

    spec: PodSpec = PodSpec()
    status: PodStatus = PodStatus()

    # -- sidecar ------------------------------------------------------------------------
    @property
    def sidecar(self) -> Container | None:
        """The running ``istio-proxy`` container, classic or native.

        The exact name matters: app containers called ``proxy`` or ``istio-proxy-sidecar`` are
        not the mesh proxy. In ``initContainers`` only ``restartPolicy: Always`` makes it a
        native sidecar that keeps running; any other init container named ``istio-proxy``
        runs to completion before the app starts and proxies nothing.
        """
        for c in self.spec.containers:
            if c.name == SIDECAR_NAME:
                return c
        for c in self.spec.init_containers:
            if c.name == SIDECAR_NAME and c.restart_policy == "Always":
                return c
        return None

    @property
    def has_sidecar(self) -> bool:
        return self.sidecar is not None

    @property
    def is_native_sidecar(self) -> bool:
        return any(c.name == SIDECAR_NAME and c.restart_policy == "Always" for c in self.spec.init_containers) and not any(
            c.name == SIDECAR_NAME for c in self.spec.containers
        )

    @property
    def app_containers(self) -> list[Container]:
        return [c for c in self.spec.containers if c.name != SIDECAR_NAME]

    @property
    def proxy_image(self) -> str | None:
        sc = self.sidecar
        return sc.image if sc else None

    @property
    def injection_status(self) -> InjectionStatus | None:
        """Parsed ``sidecar.istio.io/status``; ``None`` when absent or not valid JSON (a pod
        edited by hand can carry garbage; that must read as "not injected", not crash)."""
        raw = self.annotations.get(STATUS_ANNOTATION)
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        try:
            return InjectionStatus.model_validate(data)
        except ValidationError:
            return None

    @property
    def revision(self) -> str | None:
        """Control-plane revision that injected (or should inject) this pod."""
        rev = self.labels.get(REV_KEY) or self.annotations.get(REV_KEY)
        if rev:
            return rev
        status = self.injection_status
        return status.revision if status and status.revision else None

    @property
    def inject_label(self) -> str | None:
        return self.labels.get(INJECT_KEY)

    @property
    def inject_annotation(self) -> str | None:
        return self.annotations.get(INJECT_KEY)

    @property
    def is_gateway(self) -> bool:
        """A gateway runs the proxy as its only container (``router`` mode)."""
        if self.labels.get("istio") in ("ingressgateway", "egressgateway") or "gateway.istio.io/managed" in self.labels:
            return True
        sc = self.sidecar
        if sc is None:
            return False
        return not self.app_containers or "router" in sc.args

    # -- status -------------------------------------------------------------------------
    @property
    def ip(self) -> str | None:
        if self.status.pod_ip:
            return self.status.pod_ip
        return self.status.pod_ips[0].ip if self.status.pod_ips else None

    @property
    def phase(self) -> str | None:
        return self.status.phase

    def condition(self, type_: str) -> Condition | None:
        return find_condition(self.status.conditions, type_)

    @property
    def ready(self) -> bool:
        c = self.condition("Ready")
        return c is not None and c.is_true

    def container_status(self, name: str) -> ContainerStatus | None:
        for s in (*self.status.container_statuses, *self.status.init_container_statuses):
            if s.name == name:
                return s
        return None

    @property
    def sidecar_status(self) -> ContainerStatus | None:
        return self.container_status(SIDECAR_NAME) if self.has_sidecar else None

    # -- identity -------------------------------------------------------------------------
    @property
    def controller(self) -> OwnerReference | None:
        refs = self.metadata.owner_references
        for r in refs:
            if r.controller:
                return r
        return refs[0] if refs else None

    @property
    def owner_workload(self) -> WorkloadRef | None:
        """The workload that owns the pod; a ReplicaSet named ``<deploy>-<pod-template-hash>``
        is reported as its Deployment, which is what users name and restart."""
        ref = self.controller
        if ref is None:
            return None
        if ref.kind == "ReplicaSet":
            h = self.labels.get(_POD_TEMPLATE_HASH)
            if h and ref.name.endswith("-" + h):
                return WorkloadRef("Deployment", ref.name[: -len(h) - 1])
        return WorkloadRef(ref.kind, ref.name)

    # -- security / probes ------------------------------------------------------------------
    def effective_run_as_user(self, container: Container) -> int | None:
        if container.security_context and container.security_context.run_as_user is not None:
            return container.security_context.run_as_user
        return self.spec.security_context.run_as_user if self.spec.security_context else None

    @property
    def uid_1337_containers(self) -> list[str]:
        """App containers running as the proxy's UID: their traffic escapes the iptables redirect."""
        return [c.name for c in self.app_containers if self.effective_run_as_user(c) == PROXY_UID]

    @property
    def probes(self) -> list[ProbeRef]:
        out: list[ProbeRef] = []
        for c in self.app_containers:
            for kind, p in (("readiness", c.readiness_probe), ("liveness", c.liveness_probe), ("startup", c.startup_probe)):
                if p is not None:
                    out.append(ProbeRef(c.name, kind, p))
        return out
