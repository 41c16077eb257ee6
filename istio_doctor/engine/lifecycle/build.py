"""Build a pod's timeline from the evidence already gathered (pure: no process, no clock read).

Sources, each optional (a missing one is named in ``PodTimeline.gaps``, never guessed):

* the pod object: ``creationTimestamp``/``deletionTimestamp`` (API server), ``startTime``,
  conditions, every container's ``state``/``lastState`` (kubelet);
* the namespace's events about the pod (scheduler, kubelet, the CNI repair controller);
* the istio-proxy log: pilot-agent's milestones and the first failing request Envoy logged;
* the application's log (``kubectl logs --all-containers --timestamps``) and the crashed run's
  (``--previous``): the network errors it reported;
* the istio-cni agent pods (when the node's agent became Ready) and the agent's log lines that
  name the pod.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from istio_doctor.engine.lifecycle.model import (
    Clock,
    ClockSkew,
    ContainerLine,
    Moment,
    MomentKind,
    PodTimeline,
)
from istio_doctor.evidence.accesslog import is_failure
from istio_doctor.evidence.bundle import Evidence, Need
from istio_doctor.evidence.kube import SIDECAR_NAME
from istio_doctor.evidence.podlogs import parse_rfc3339

#: API timestamps are whole seconds; two readings of one instant may differ by this much
API_PRECISION_S = 1.0
#: a node timestamp this far before the pod's creation cannot be the node's clock being right
SKEW_TOLERANCE_S = 2.0
ISTIO_INIT_NAMES = ("istio-init", "istio-validation")
#: conditions the scheduler sets (control plane clock); the kubelet sets the others
_CP_CONDITIONS = ("PodScheduled",)


class _Collector:
    def __init__(self) -> None:
        self.moments: list[Moment] = []

    def add(self, at: datetime | None, clock: Clock, kind: MomentKind, summary: str, *, container: str = "",
            detail: str = "", excerpt: str = "", source: str = "", precision_s: float = 0.0, count: int = 1,
            last_at: datetime | None = None, run: str = "") -> None:
        if at is None:
            return
        self.moments.append(Moment(id="", at=at, clock=clock, kind=kind, container=container, run=run, summary=summary,
                                   detail=detail, excerpt=excerpt, source=source, precision_s=precision_s, count=count,
                                   last_at=last_at if count > 1 else None))


def role_of(pod: Any, name: str) -> str:
    for c in pod.spec.init_containers:
        if c.name == name:
            if name == SIDECAR_NAME and c.restart_policy == "Always":
                return "native-sidecar"
            return name if name in ISTIO_INIT_NAMES else "init"
    return "sidecar" if name == SIDECAR_NAME else "app"


def _state_word(cs: Any) -> tuple[str, int | None]:
    st = cs.state
    if st.waiting is not None:
        return st.waiting.reason or "Waiting", None
    if st.terminated is not None:
        return st.terminated.reason or ("Completed" if st.terminated.exit_code == 0 else "Error"), st.terminated.exit_code
    if st.running is not None:
        return "Running", None
    return "Unknown", None


def _containers(c: _Collector, pod: Any, src: str) -> list[ContainerLine]:
    lines: list[ContainerLine] = []
    statuses = list(pod.status.init_container_statuses) + list(pod.status.container_statuses)
    for cs in statuses:
        role = role_of(pod, cs.name)
        word, code = _state_word(cs)
        lines.append(ContainerLine(name=cs.name, role=role, state=word, ready=cs.ready, restarts=cs.restart_count,
                                   exit_code=code if code is not None else (cs.last_state.terminated.exit_code
                                                                            if cs.last_state.terminated else None)))
        runs = [("previous run", cs.last_state.terminated, None)] if cs.last_state.terminated else []
        runs.append(("", cs.state.terminated, cs.state.running))
        for label, term, running in runs:
            run = "previous" if label else ""
            started = (term.started_at if term is not None else None) or (running.started_at if running is not None else None)
            which = f" ({label})" if label else ""
            c.add(started, Clock.NODE, MomentKind.CONTAINER_STARTED, f"{role} container {cs.name} started{which}",
                  container=cs.name, detail=role, source=src, precision_s=API_PRECISION_S, run=run,
                  excerpt=f"{cs.name}: startedAt {_iso(started)}")
            if term is not None and term.finished_at is not None:
                reason = term.reason or ("Completed" if term.exit_code == 0 else "Error")
                c.add(term.finished_at, Clock.NODE, MomentKind.CONTAINER_EXITED,
                      f"{role} container {cs.name} exited with code {term.exit_code} ({reason}){which}",
                      container=cs.name, detail=str(term.exit_code), source=src, precision_s=API_PRECISION_S, run=run,
                      excerpt=f"{cs.name}: {'lastState' if label else 'state'}.terminated exitCode {term.exit_code} "
                              f"reason {reason} startedAt {_iso(term.started_at)} finishedAt {_iso(term.finished_at)}" + (f" message {term.message!r}" if term.message else ""))
    return lines


def _pod_moments(c: _Collector, pod: Any, src: str) -> None:
    md, st = pod.metadata, pod.status
    c.add(md.creation_timestamp, Clock.CONTROL_PLANE, MomentKind.POD_CREATED, "pod created (API server)",
          source=src, precision_s=API_PRECISION_S, excerpt=f"creationTimestamp: {_iso(md.creation_timestamp)}")
    c.add(st.start_time, Clock.NODE, MomentKind.POD_STARTED, "the kubelet started the pod (status.startTime)",
          source=src, precision_s=API_PRECISION_S, excerpt=f"startTime: {_iso(st.start_time)}")
    for cond in st.conditions:
        clock = Clock.CONTROL_PLANE if cond.type in _CP_CONDITIONS else Clock.NODE
        if cond.type == "PodScheduled" and cond.is_true:
            c.add(cond.last_transition_time, clock, MomentKind.POD_SCHEDULED, f"scheduled on {pod.spec.node_name or '?'}",
                  source=src, precision_s=API_PRECISION_S, excerpt=f"PodScheduled True at {_iso(cond.last_transition_time)}")
        elif cond.type == "Ready":
            kind = MomentKind.POD_READY if cond.is_true else MomentKind.POD_NOT_READY
            why = f" ({cond.reason}: {cond.message})" if not cond.is_true and cond.reason else ""
            c.add(cond.last_transition_time, clock, kind, ("pod Ready" if cond.is_true else "pod not Ready") + why,
                  source=src, precision_s=API_PRECISION_S, detail=cond.reason or "",
                  excerpt=f"Ready {cond.status} at {_iso(cond.last_transition_time)}" + (f" reason {cond.reason}" if cond.reason else ""))
    if md.deletion_timestamp is not None:
        grace = getattr(md, "model_extra", {}).get("deletionGracePeriodSeconds") if md.model_extra else None
        grace_s = float(grace) if isinstance(grace, (int, float)) else 30.0
        c.add(md.deletion_timestamp - timedelta(seconds=grace_s), Clock.CONTROL_PLANE, MomentKind.DELETION_REQUESTED,
              f"deletion requested (deletionTimestamp {_iso(md.deletion_timestamp)} minus the {grace_s:g}s grace period)",
              source=src, precision_s=API_PRECISION_S, excerpt=f"deletionTimestamp: {_iso(md.deletion_timestamp)}")


def _events(c: _Collector, events: Iterable[Any], pod_name: str, src: str) -> None:
    for e in events:
        obj = e.involved_object
        if obj.kind != "Pod" or obj.name != pod_name:
            continue
        comp = e.reporting_component or e.source.component or ""
        clock = Clock.NODE if comp == "kubelet" else Clock.CONTROL_PLANE
        first = e.first_timestamp or e.event_time or e.last_timestamp
        count = e.count or 1
        container = ""
        fp = obj.field_path or ""
        if fp.startswith(("spec.containers{", "spec.initContainers{")):
            container = fp.split("{", 1)[1].rstrip("}")
        c.add(first, clock, MomentKind.EVENT, f"{e.type or 'Normal'} {e.reason}: {e.message or ''}".strip(),
              container=container, detail=e.reason or "", source=src, precision_s=API_PRECISION_S, count=count,
              last_at=e.last_timestamp if count > 1 else None,
              excerpt=f"{e.type} {e.reason} (x{count}) from {comp or '?'}: {e.message or ''}")


_PROXY_KINDS = {
    "agent_start": MomentKind.PROXY_AGENT_START,
    "proxy_ready": MomentKind.PROXY_READY,
    "not_ready": MomentKind.PROXY_NOT_READY,
    "not_ready_no_config": MomentKind.PROXY_NOT_READY,
    "envoy_not_ready_stats": MomentKind.PROXY_NOT_READY,
    "drain": MomentKind.PROXY_DRAIN,
    "proxy_exit": MomentKind.PROXY_EXIT,
}


def _proxy(c: _Collector, log: Any, src: str) -> None:
    # Repeated "NOT ready" lines are one moment (first, count, last).
    pending: dict[str, list[Any]] = {}
    for ev in log.events:
        kind = _PROXY_KINDS.get(ev.kind)
        at = parse_rfc3339(ev.timestamp)
        if kind is None or at is None:
            continue
        if kind is MomentKind.PROXY_NOT_READY:
            pending.setdefault(ev.kind, []).append((at, ev))
            continue
        detail = ev.milestone or ev.kind
        c.add(at, Clock.NODE, kind, f"istio-proxy: {ev.detail}", container=SIDECAR_NAME, detail=detail, excerpt=ev.raw, source=src)
    for kind_name, items in pending.items():
        (at, ev), (last, _) = items[0], items[-1]
        c.add(at, Clock.NODE, MomentKind.PROXY_NOT_READY, f"istio-proxy: {ev.detail}", container=SIDECAR_NAME,
              detail=kind_name, excerpt=ev.raw, source=src, count=len(items), last_at=last)
    failures = [(parse_rfc3339(e.start_time), e) for e in log.entries if is_failure(e)]
    failures = [(t, e) for t, e in failures if t is not None]
    if failures:
        (t0, e0), (t1, _e1) = failures[0], failures[-1]
        flags = ",".join(e0.response_flags) or "-"
        c.add(t0, Clock.NODE, MomentKind.REQUEST_FAILED,
              f"first failing request in the access log: {e0.response_code} {flags} {e0.response_code_details or '-'} "
              f"({e0.upstream_cluster or '-'})", container=SIDECAR_NAME, detail=flags, excerpt=e0.raw, source=src,
              count=len(failures), last_at=t1)


def _app_errors(c: _Collector, logs: Any, src: str, previous: bool) -> None:
    """One moment per container and failing target: the first error, how many, the last."""
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for ln in logs.errors():
        if ln.container == SIDECAR_NAME or ln.at is None:
            continue
        groups.setdefault((ln.container, ln.error.kind, ln.error.target), []).append(ln)
    for (container, kind, target), lines in groups.items():
        first, last = lines[0], lines[-1]
        where = f" to {target}" if target else ""
        loop = " (a loopback address: never redirected to the sidecar)" if first.error.loopback else ""
        run = " in its previous run" if previous else ""
        c.add(first.at, Clock.NODE, MomentKind.APP_ERROR, f"{container}{run} logged a network error ({kind}{where}){loop}",
              container=container, detail=("loopback:" if first.error.loopback else "") + kind, excerpt=first.text,
              source=src, count=len(lines), last_at=last.at)


def _cni(c: _Collector, pod: Any, agents: list[Any] | None, agent_log: Any, srcs: tuple[str, str]) -> None:
    node = pod.spec.node_name
    agent = next((a for a in agents or [] if node and a.spec.node_name == node), None)
    if agent is not None:
        ready = agent.condition("Ready")
        if ready is not None and ready.is_true:
            c.add(ready.last_transition_time, Clock.NODE, MomentKind.CNI_AGENT_READY,
                  f"istio-cni agent {agent.name} on {node} became Ready", container="", detail=agent.name,
                  source=srcs[0], precision_s=API_PRECISION_S,
                  excerpt=f"{agent.namespace}/{agent.name} Ready True at {_iso(ready.last_transition_time)}")
    if agent_log is None:
        return
    ref, name = f"{pod.namespace}/{pod.name}", pod.name
    for ln in agent_log.lines:  # CniLog records: the agent's lines, with kubectl's --timestamps time
        if ln.at is None or (ref not in ln.raw and f"name={name}" not in ln.raw and f'"{name}"' not in ln.raw):
            continue
        text = ln.raw.strip()
        c.add(ln.at, Clock.NODE, MomentKind.CNI, f"istio-cni agent: {text[:160]}", excerpt=text, source=srcs[1])


def _iso(t: datetime | None) -> str:
    return t.isoformat().replace("+00:00", "Z") if t is not None else "-"


def _skew(pod: Any, moments: list[Moment]) -> ClockSkew:
    """Detect a node clock behind the control plane's, from an ordering that cannot be otherwise:
    the kubelet cannot start a pod, and no process on the node can log about it, before the API
    server created it. A node time earlier than ``creationTimestamp`` (beyond the one-second
    precision) means the node's clock runs behind."""
    out = ClockSkew()
    created = pod.metadata.creation_timestamp
    if created is not None:
        node_times = [m.at for m in moments if m.clock is Clock.NODE and m.kind is not MomentKind.CNI_AGENT_READY
                      and m.kind is not MomentKind.CNI]
        if node_times:
            lead = (created - min(node_times)).total_seconds()
            if lead > SKEW_TOLERANCE_S:
                out.node_behind_s = round(lead - API_PRECISION_S, 3)
                out.node_shift_s = round(lead, 3)
                out.notes.append(f"the node's clock runs at least {out.node_behind_s:g}s behind the API server's: a node "
                                 f"timestamp precedes the pod's creationTimestamp {_iso(created)}; node times are shifted by "
                                 "that much to order them, and deciding comparisons use node times only")
    return out


def with_local_clock(tl: PodTimeline, now: datetime | None) -> PodTimeline:
    """The timeline as the report shows it: when the evidence was gathered (this machine's clock),
    and whether that clock runs behind the cluster's (nothing in the cluster can have happened
    after the evidence was gathered, so cluster times later than it mean this clock is late)."""
    if now is None:
        return tl
    skew = tl.skew.model_copy(deep=True)
    ref = tl.reference_time
    if ref is not None and (ahead := (ref - now).total_seconds()) > SKEW_TOLERANCE_S:
        skew.local_behind_s = round(ahead, 3)
        skew.notes.append(f"this machine's clock runs at least {ahead:g}s behind the cluster's (evidence is newer than the "
                          "time it was gathered); ages are measured from the newest cluster timestamp instead")
    return tl.model_copy(update={"gathered_at": now, "skew": skew})


#: every kind the timeline reads besides the pod object (a check builds it from the ones it declares)
SOURCES = frozenset({Need.EVENTS, Need.PROXY_LOGS, Need.APP_LOGS, Need.APP_PREVIOUS_LOGS, Need.CNI_PODS, Need.CNI_LOGS})


def _moment_id(m: Moment) -> str:
    """A moment's id is derived from what it says, not from its position: a check builds the
    timeline from the evidence it declares, the report from all of it, and a moment the check
    cites must carry the same id in both."""
    raw = "\0".join((m.kind.value, m.at.isoformat(), m.container, m.detail, m.summary, m.excerpt))
    return "m" + hashlib.sha256(raw.encode()).hexdigest()[:7]


def build_timeline(ev: Evidence, namespace: str, pod_name: str, sources: frozenset[Need] = SOURCES) -> PodTimeline | None:
    """The pod's timeline from ``sources`` (and the pod object), or None when the pod object is missing."""
    pod = _pod(ev, namespace, pod_name)
    if pod is None:
        return None
    c = _Collector()
    gaps: list[str] = []
    pod_src = ev.source(Need.POD, namespace, pod_name) or ev.source(Need.PODS, namespace)
    _pod_moments(c, pod, pod_src)
    containers = _containers(c, pod, pod_src)
    events = ev.item(Need.EVENTS, namespace) if Need.EVENTS in sources else None
    if events is not None and events.ok:
        _events(c, events.value, pod_name, events.source)
    elif events is not None and events.failure is not None:
        gaps.append(f"events: {events.failure.reason}")
    for need, reader in ((Need.PROXY_LOGS, "proxy"), (Need.APP_LOGS, "app"), (Need.APP_PREVIOUS_LOGS, "previous")):
        item = ev.item(need, namespace, pod_name) if need in sources else None
        if item is None:
            continue
        if not item.ok:
            if item.failure is not None and item.failure.kind.value != "not_applicable":
                gaps.append(f"{need.value}: {item.failure.reason}")
            continue
        if reader == "proxy":
            _proxy(c, item.value, item.source)
        else:
            _app_errors(c, item.value, item.source, previous=reader == "previous")
    agents = ev.item(Need.CNI_PODS) if Need.CNI_PODS in sources else None
    agent_log = ev.item(Need.CNI_LOGS, namespace, pod_name) if Need.CNI_LOGS in sources else None
    if agents is not None or agent_log is not None:
        _cni(c, pod, agents.value if agents is not None and agents.ok else None,
             agent_log.value if agent_log is not None and agent_log.ok else None,
             (agents.source if agents is not None else "", agent_log.source if agent_log is not None else ""))
    skew = _skew(pod, c.moments)
    shift = timedelta(seconds=skew.node_shift_s or 0.0)

    def order(m: Moment) -> tuple[datetime, int]:
        rank = _KIND_ORDER.get(m.kind, 50)
        if m.kind is MomentKind.CONTAINER_EXITED and role_of(pod, m.container) != "app":
            rank = 5  # an init container exits before the next container starts, within the same second
        return (m.at + shift if m.clock is Clock.NODE else m.at, rank)

    moments = sorted(c.moments, key=order)
    seen: dict[str, int] = {}
    for m in moments:
        base = _moment_id(m)
        seen[base] = seen.get(base, 0) + 1
        m.id = base if seen[base] == 1 else f"{base}-{seen[base]}"
    return PodTimeline(target=f"pod/{pod_name} -n {namespace}", namespace=namespace, pod=pod_name, node=pod.spec.node_name,
                       origin=pod.status.start_time, containers=containers, moments=moments, skew=skew, gaps=gaps)


#: ties (same second) read in causal order: created, scheduled, started, containers, then logs
_KIND_ORDER = {MomentKind.POD_CREATED: 0, MomentKind.POD_SCHEDULED: 1, MomentKind.POD_STARTED: 2,
               MomentKind.CONTAINER_STARTED: 10, MomentKind.PROXY_AGENT_START: 11, MomentKind.CONTAINER_EXITED: 60,
               MomentKind.POD_READY: 70}


def _pod(ev: Evidence, namespace: str, name: str) -> Any | None:
    pod = ev.get_or(None, Need.POD, namespace, name)
    if pod is not None:
        return pod
    return next((p for p in ev.get_or([], Need.PODS, namespace) if p.metadata.name == name), None)


def pod_timeline(ev: Evidence, namespace: str, pod_name: str, sources: frozenset[Need] = SOURCES) -> PodTimeline | None:
    """``build_timeline``, built once per evidence state and set of sources, shared by the checks
    and the report (moment ids depend on content, so the same moment has the same id in both)."""
    memo: dict[tuple[Any, ...], PodTimeline | None] = ev.__dict__.setdefault("_timeline_memo", {})
    key = (namespace, pod_name, len(ev.items()), sources)
    if key not in memo:
        memo[key] = build_timeline(ev, namespace, pod_name, sources)
    return memo[key]
