"""What the timeline says about start-up and shutdown, for the checks of several playbooks
(P503-STARTUP-RACE, P503-PROXY-NOT-READY, P503-SHUTDOWN-RACE, INJ-INIT-FAIL and the LIFE-* ones).

Each reading compares moments on one clock: the app's crash or network error and pilot-agent's
"Envoy proxy is ready" are node times; so are the proxy's drain and the app's errors after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from istio_doctor.engine.lifecycle.model import Moment, MomentKind, PodTimeline
from istio_doctor.evidence.kube import SIDECAR_NAME

#: the app's first run started with the pod: its start is within this many seconds of startTime
FIRST_RUN_S = 15.0
#: without a "ready" line (log rotated, --since too short), an app exit this soon after the proxy
#: started counts as during its start-up (a healthy start takes ~2 s, istio/istio#38034 saw minutes)
STARTUP_WINDOW_S = 30.0


@dataclass
class StartupRace:
    """The app failed to connect while its classic sidecar was not ready yet."""

    container: str
    ready: Moment | None
    crash: Moment | None = None
    errors: list[Moment] = field(default_factory=list)

    @property
    def moments(self) -> list[Moment]:
        return [m for m in (self.crash, *self.errors[:2], self.ready) if m is not None]


def _is_app(tl: PodTimeline, name: str) -> bool:
    return any(c.name == name and c.role == "app" for c in tl.containers)


def startup_race(tl: PodTimeline) -> StartupRace | None:
    """An app container whose first run crashed before the proxy was ready, or that logged network
    errors (not to a loopback address) stamped before pilot-agent's "Envoy proxy is ready"."""
    ready = tl.first(MomentKind.PROXY_READY)
    proxy_start = tl.first(MomentKind.CONTAINER_STARTED, container=SIDECAR_NAME)
    origin = tl.origin
    out: dict[str, StartupRace] = {}
    for m in tl.of(MomentKind.CONTAINER_EXITED):
        if not _is_app(tl, m.container) or m.detail == "0":
            continue
        start = next((s for s in tl.of(MomentKind.CONTAINER_STARTED, container=m.container) if s.run == m.run), None)
        if origin is None or start is None or (start.at - origin).total_seconds() > FIRST_RUN_S:
            continue  # not the first run: a crash later in the pod's life is not a start-up race
        if ready is not None:
            before = (m.at - ready.at).total_seconds() <= m.precision_s
        else:
            before = proxy_start is not None and (m.at - proxy_start.at).total_seconds() <= STARTUP_WINDOW_S
        if before:
            out.setdefault(m.container, StartupRace(m.container, ready)).crash = m
    if ready is not None:
        for m in tl.of(MomentKind.APP_ERROR):
            if not _is_app(tl, m.container) or m.detail.startswith("loopback:") or m.at >= ready.at:
                continue
            out.setdefault(m.container, StartupRace(m.container, ready)).errors.append(m)
    return next(iter(out.values()), None)


def proxy_never_started(tl: PodTimeline) -> str | None:
    """istio-proxy has not started because an init container has not completed: its readiness says
    nothing about istiod (the cause is the init container). Returns the blocking container."""
    proxy = next((c for c in tl.containers if c.name == SIDECAR_NAME), None)
    if proxy is None or proxy.state != "PodInitializing":
        return None
    for c in tl.containers:
        if c.role in ("istio-init", "istio-validation", "init") and c.state not in ("Completed",):
            return c.name
    return "an init container"


def failing_init(tl: PodTimeline, names: tuple[str, ...]) -> tuple[Any, Moment | None] | None:
    """The first of ``names`` (init containers) that is failing now, with its last exit moment."""
    for c in tl.containers:
        if c.name not in names:
            continue
        if c.state in ("CrashLoopBackOff", "Error", "RunContainerError", "CreateContainerError",
                       "CreateContainerConfigError", "ImagePullBackOff", "ErrImagePull", "InvalidImageName") or (
                c.exit_code not in (None, 0) and c.state != "Completed" and c.state != "Running"):
            exits = tl.of(MomentKind.CONTAINER_EXITED, container=c.name)
            return c, (exits[-1] if exits else None)
    return None


def drain_started(tl: PodTimeline) -> Moment | None:
    """pilot-agent's SIGTERM moment ("Agent draining Proxy[ for termination]")."""
    return next((m for m in tl.of(MomentKind.PROXY_DRAIN) if m.detail == "drain_start"), None)


def errors_after_drain(tl: PodTimeline) -> list[Moment]:
    """The app's own network errors once its sidecar began draining (istio/istio#7136: the app,
    still shutting down, calls out through iptables rules that lead to a proxy that is gone)."""
    start = drain_started(tl)
    if start is None:
        return []
    return [m for m in tl.of(MomentKind.APP_ERROR)
            if _is_app(tl, m.container) and not m.detail.startswith("loopback:") and m.at >= start.at]
