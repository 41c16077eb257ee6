"""The pod's timeline: typed moments from every source, on their own clocks.

A moment is one thing that happened to the pod at a time a source reported: the kubelet
started a container, the scheduler placed the pod, pilot-agent logged "Envoy proxy is ready",
the application logged ``dial tcp ...: connect: connection refused``, Envoy logged the first
failing request, the istio-cni agent repaired the pod. Each moment says which clock stamped
it, because they differ:

* ``node``: the kubelet (``status.startTime``, container ``startedAt``/``finishedAt``, most
  conditions, kubelet events) and every process on the node (pilot-agent, Envoy, the app's
  lines as ``kubectl logs --timestamps`` receives them, the istio-cni agent on the same node);
* ``control_plane``: the API server and controllers (``creationTimestamp``,
  ``deletionTimestamp``, the scheduler's ``PodScheduled``, controller events);
* ``local``: the machine that ran istio-doctor (when the evidence was gathered).

Deciding comparisons are made on one clock whenever the evidence allows it (the app's error
and the proxy's readiness are both node times); where two clocks meet, the detected skew and
the one-second precision of API timestamps are taken into account (``ClockSkew``).

These models are data we own (``extra="forbid"``); the report carries them (``Report.timelines``)
and their JSON Schema is part of the report schema.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Clock(StrEnum):
    NODE = "node"
    CONTROL_PLANE = "control_plane"
    LOCAL = "local"


class MomentKind(StrEnum):
    POD_CREATED = "pod_created"
    POD_SCHEDULED = "pod_scheduled"
    POD_STARTED = "pod_started"
    POD_READY = "pod_ready"
    POD_NOT_READY = "pod_not_ready"
    DELETION_REQUESTED = "deletion_requested"
    CONTAINER_STARTED = "container_started"
    CONTAINER_EXITED = "container_exited"
    EVENT = "event"
    PROXY_AGENT_START = "proxy_agent_start"
    PROXY_NOT_READY = "proxy_not_ready"
    PROXY_READY = "proxy_ready"
    PROXY_DRAIN = "proxy_drain"
    PROXY_EXIT = "proxy_exit"
    REQUEST_FAILED = "request_failed"
    APP_ERROR = "app_error"
    CNI_AGENT_READY = "cni_agent_ready"
    CNI = "cni"


class Moment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="derived from the moment's content: the same moment has the same id wherever it is cited")
    at: datetime = Field(description="the time as its source printed it (UTC)")
    clock: Clock
    kind: MomentKind
    container: str = Field(default="", description="the container the moment is about, if any")
    run: str = Field(default="", description="for container moments: 'previous' (lastState) or '' (the current run)")
    summary: str = Field(description="what happened, in one line")
    detail: str = Field(default="", description="the machine-readable word: event reason, exit code, drain step...")
    excerpt: str = Field(default="", description="the verbatim line or fields that show it")
    source: str = Field(default="", description="the command whose output holds it")
    #: API timestamps have whole seconds; log lines are finer
    precision_s: float = 0.0
    count: int = Field(default=1, description="how many lines/events this moment stands for")
    last_at: datetime | None = Field(default=None, description="the last of them, when count > 1")
    #: codes of the findings this moment decides (filled when the report is built)
    deciding: list[str] = []


class ContainerLine(BaseModel):
    """One container as it is now: the timeline's legend."""

    model_config = ConfigDict(extra="forbid")

    name: str
    role: str = Field(description="app | init | istio-init | istio-validation | sidecar | native-sidecar")
    state: str = Field(description="Running | Completed | Error | CrashLoopBackOff | ... (kubectl STATUS words)")
    ready: bool = False
    restarts: int = 0
    exit_code: int | None = None


class ClockSkew(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: the node's clock runs behind the control plane's by at least this many seconds (None: not detected)
    node_behind_s: float | None = None
    #: seconds added to node times to order them with the control plane's (the smallest shift that
    #: puts the pod's start after its creation)
    node_shift_s: float | None = None
    #: the cluster's newest timestamp is this many seconds after the local clock (None: not detected)
    local_behind_s: float | None = None
    notes: list[str] = []


class PodTimeline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="pod/NAME -n NS, as findings name their target")
    namespace: str
    pod: str
    node: str | None = None
    #: status.startTime (node clock): offsets in the renderings count from it
    origin: datetime | None = None
    containers: list[ContainerLine] = []
    moments: list[Moment] = []
    skew: ClockSkew = ClockSkew()
    #: evidence that would have added moments but could not be gathered, with why
    gaps: list[str] = []
    #: when the evidence was gathered, on this machine's clock (set by the report)
    gathered_at: datetime | None = None

    def of(self, *kinds: MomentKind, container: str | None = None) -> list[Moment]:
        return [m for m in self.moments if m.kind in kinds and (container is None or m.container == container)]

    def first(self, kind: MomentKind, container: str | None = None, detail: str | None = None) -> Moment | None:
        return next((m for m in self.of(kind, container=container) if detail is None or m.detail == detail), None)

    def by_id(self, moment_id: str) -> Moment | None:
        return next((m for m in self.moments if m.id == moment_id), None)

    @property
    def reference_time(self) -> datetime | None:
        """The newest instant the cluster's own evidence shows: "now" for ages, immune to the
        local clock and to replaying a recording months later."""
        times = [m.last_at or m.at for m in self.moments if m.clock is not Clock.LOCAL]
        return max(times) if times else None
