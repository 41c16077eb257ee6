"""Planning and evaluation of a diagnosis. Pure functions of evidence: no process, no I/O.

``istio_doctor.run`` has the one gather loop: it asks ``DiagnosisPlan.steps`` for the next
pass of evidence keys, gathers them, and sends the evidence back, until the plan is done:

1. ``select_playbooks`` / ``plan_needs``: which evidence the chosen playbooks' checks declare;
2. pass 1: cluster, namespace and target-pod evidence (a namespace scan: namespace-wide
   evidence first, then per-pod evidence only for the pods ``flag_pods`` flags);
3. ``related_pods``: from the target's failing requests, the pods on the other side (their
   namespaces' pod lists first when needed), then their ``peer_needs``;
4. ``evaluate``: walk every playbook for every examined pod and rank the findings
   (``istio_doctor.report.build`` turns the result into a Report).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

from istio_doctor.engine import ambient_plan
from istio_doctor.engine.ambient_plan import playbooks_for
from istio_doctor.engine.catalogue import CatalogueEntry
from istio_doctor.engine.context import CheckContext, RelatedPod
from istio_doctor.engine.playbook import Playbook
from istio_doctor.engine.rank import rank_findings
from istio_doctor.engine.registry import Registry
from istio_doctor.engine.walker import PlaybookRun, walk
from istio_doctor.evidence.bundle import Evidence, EvidenceKey, FailureKind, Need, Scope
from istio_doctor.evidence.target import Connection, Target, TargetKind

TRIAGE_PLAYBOOK = "triage"
#: a namespace scan examines at most this many flagged pods in depth (the rest are listed)
MAX_FLAGGED_PODS = 25

#: evidence every diagnosis reads for its header and version awareness
BASE_NEEDS = (Need.KUBECTL_VERSION, Need.ISTIOCTL_VERSION)


def select_playbooks(playbooks: dict[str, Playbook], symptom: str) -> list[Playbook]:
    """``auto`` walks every playbook (ranking puts what the logs show first) except those it
    walks only for pods whose timeline shows their signature (``auto: signature``, see
    ``signature_playbooks``); a symptom walks the triage playbook plus the playbooks that
    declare that symptom."""
    if symptom == "auto":
        chosen = [p for p in playbooks.values() if p.auto == "always"]
    else:
        chosen = [p for p in playbooks.values() if symptom in p.symptoms or p.id == TRIAGE_PLAYBOOK]
    # triage first: it classifies the symptom the others explain
    return sorted(chosen, key=lambda p: (p.id != TRIAGE_PLAYBOOK, p.id))


def signature_playbooks(playbooks: dict[str, Playbook], symptom: str, ev: Evidence, namespace: str,
                        pods: Iterable[str]) -> dict[str, tuple[list[Playbook], str]]:
    """``auto`` mode, after the first gathering pass: the ``auto: signature`` playbooks each pod's
    timeline calls for, with the reason (pod name -> (playbooks, reason))."""
    from istio_doctor.engine.lifecycle.signature import lifecycle_signature

    if symptom != "auto":
        return {}
    wanted = [p for p in playbooks.values() if p.auto == "signature"]
    out: dict[str, tuple[list[Playbook], str]] = {}
    for pod in pods:
        reason = lifecycle_signature(ev, namespace, pod) if wanted else None
        if reason:
            out[pod] = (wanted, reason)
    return out


def plan_needs(playbooks: Iterable[Playbook], registry: Registry) -> tuple[set[Need], set[Need]]:
    needs: set[Need] = set(BASE_NEEDS)
    peer: set[Need] = set()
    for pb in playbooks:
        for node in pb.nodes:
            spec = registry.get(node.check)
            needs.update(spec.all_needs)
            peer.update(spec.peer_needs)
    return needs, peer


def keys_for(needs: Iterable[Need], *, namespace: str, pods: Iterable[str] = (), scopes: Iterable[Scope] = tuple(Scope)) -> list[EvidenceKey]:
    scopes = set(scopes)
    out: list[EvidenceKey] = []
    needs = sorted(set(needs), key=lambda n: n.value)
    for n in needs:
        if n.scope not in scopes:
            continue
        if n.scope is Scope.CLUSTER:
            out.append(EvidenceKey(need=n))
        elif n.scope is Scope.NAMESPACE:
            out.append(EvidenceKey(need=n, namespace=namespace))
        else:
            out.extend(EvidenceKey(need=n, namespace=namespace, name=p) for p in pods)
    return out


# -- resolving the target ------------------------------------------------------------------


@dataclass(frozen=True)
class TargetPods:
    """The pods a target stands for, a note when that needs saying, and whether the target
    itself is missing (a typo or the wrong namespace: the note is the sentence to show)."""

    pods: list[str]
    note: str = ""
    missing: bool = False


def target_pods(target: Target, ev: Evidence) -> TargetPods:
    """Pods a target stands for (empty: none found)."""
    ns = target.namespace
    if target.kind is TargetKind.POD:
        return TargetPods([target.name])
    pods = ev.get_or([], Need.PODS, ns)
    if target.kind is TargetKind.NAMESPACE:
        return TargetPods([p.metadata.name for p in pods])
    if target.kind is TargetKind.DEPLOYMENT:
        deps = ev.get_or(None, Need.DEPLOYMENTS, ns)
        if deps is not None and not any(d.metadata.name == target.name for d in deps):
            return TargetPods([], f"deployment {ns}/{target.name} was not found" + _did_you_mean(target.name, [d.metadata.name for d in deps]), True)
        names = [p.metadata.name for p in pods if p.owner_workload is not None and p.owner_workload.name == target.name]
        return TargetPods(names, "" if names else f"deployment {ns}/{target.name} has no pods")
    # service: the pods it selects
    for svc in ev.get_or([], Need.SERVICES):
        if svc.metadata.namespace == ns and svc.metadata.name == target.name:
            names = [p.metadata.name for p in pods if svc.selects(p)]
            return TargetPods(names, "" if names else f"service {ns}/{target.name} selects no pods")
    return TargetPods([], f"service {ns}/{target.name} was not found" + _did_you_mean(
        target.name, [s.metadata.name for s in ev.get_or([], Need.SERVICES) if s.metadata.namespace == ns]), True)


def _did_you_mean(name: str, candidates: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    return f" (did you mean: {', '.join(close)}?)" if close else ""


def missing_target(target: Target, ev: Evidence, resolved: TargetPods | None) -> str | None:
    """One sentence when the target itself does not exist (a typo, or the wrong namespace)."""
    if target.kind is TargetKind.POD:
        item = ev.item(Need.POD, target.namespace, target.name)
        if item is not None and item.failure is not None and item.failure.kind is FailureKind.NOT_FOUND:
            names = [p.metadata.name for p in ev.get_or([], Need.PODS, target.namespace)]
            return f"pod {target.namespace}/{target.name} was not found" + _did_you_mean(target.name, names)
        return None
    return resolved.note if resolved is not None and resolved.missing else None


def flag_pods(ev: Evidence, namespace: str) -> dict[str, str]:
    """Namespace scan, first pass: which pods deserve per-pod evidence, and why.

    Cheap signals only (already gathered namespace-wide): not ready, restarting, waiting,
    no sidecar although the namespace is injected, stale xDS, analyzer messages, warning events.
    """
    flagged: dict[str, str] = {}
    pods = ev.get_or([], Need.PODS, namespace)
    ns_obj = next((n for n in ev.get_or([], Need.NAMESPACES) if n.metadata.name == namespace), None)
    injected_ns = bool(ns_obj is not None and (getattr(ns_obj, "injection_label", None) == "enabled" or getattr(ns_obj, "rev_label", None)))
    for p in pods:
        name = p.metadata.name
        if getattr(p, "status", None) is not None and getattr(p.status, "phase", "") in ("Succeeded",):
            continue
        if not getattr(p, "ready", True):
            flagged[name] = "not ready"
        elif any((cs.restart_count or 0) > 0 for cs in _statuses(p)):
            flagged[name] = "restarting containers"
        elif injected_ns and not p.has_sidecar and not getattr(p.spec, "host_network", False):
            flagged[name] = "no sidecar in an injected namespace"
    # Failing traffic is the strongest cheap signal: one namespace-wide log call shows which
    # proxies logged Envoy-generated failures (a Ready pod whose app binds localhost only shows here).
    from istio_doctor.evidence.accesslog import is_failure

    for pod_name, log in (ev.get_or({}, Need.NAMESPACE_PROXY_LOGS, namespace) or {}).items():
        bad = [e for e in log.entries if is_failure(e) and (e.is_envoy_generated or e.response_code >= 500)]
        if bad:
            flagged.setdefault(pod_name, f"{len(bad)} failing request(s) in its istio-proxy log")
        elif any(ev_.kind in ("not_ready_no_config", "xds_rejected", "tls_error", "sds_error") for ev_ in log.events):
            flagged.setdefault(pod_name, "proxy errors in its istio-proxy log")
    for row in ev.get_or([], Need.PROXY_STATUS):
        if getattr(row, "namespace", None) == namespace and row.pod in {p.metadata.name for p in pods}:
            statuses = [getattr(row, t, None) for t in ("cds", "lds", "eds", "rds")]
            if any(s and s.upper().startswith("STALE") for s in statuses):
                flagged.setdefault(row.pod, "stale proxy configuration")
    for msg in ev.get_or([], Need.ANALYZE, namespace):
        if getattr(msg, "origin_kind", "") == "Pod" and getattr(msg, "origin_namespace", namespace) == namespace:
            if msg.origin_name in {p.metadata.name for p in pods}:
                flagged.setdefault(msg.origin_name, f"istioctl analyze {msg.code}")
    for e in ev.get_or([], Need.EVENTS, namespace):
        obj = getattr(e, "involved_object", None)
        if getattr(e, "type", "") == "Warning" and obj is not None and getattr(obj, "kind", "") == "Pod":
            if obj.name in {p.metadata.name for p in pods}:
                flagged.setdefault(obj.name, f"warning event {e.reason}")
    return flagged


def _statuses(pod: Any) -> list[Any]:
    st = getattr(pod, "status", None)
    if st is None:
        return []
    return list(getattr(st, "container_statuses", None) or []) + list(getattr(st, "init_container_statuses", None) or [])


def _pod_by_ip(ev: Evidence, namespaces: Iterable[str], ip: str) -> tuple[str, str] | None:
    for ns in namespaces:
        for p in ev.get_or([], Need.PODS, ns):
            if getattr(p, "ip", None) == ip:
                return ns, p.metadata.name
    return None


def _host_ip(addr: str | None) -> str | None:
    if not addr or addr == "-":
        return None
    host = addr.rsplit(":", 1)[0].strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host


def related_pods(ev: Evidence, namespace: str, pod: str, *, limit: int = 3) -> tuple[list[RelatedPod], set[str]]:
    """The other side of the target's failing traffic, from its proxy log.

    Returns the related pods found, and namespaces whose pod list is needed to resolve more
    (the session gathers them and calls again).
    """
    log = ev.get_or(None, Need.PROXY_LOGS, namespace, pod)
    if log is None:
        return [], set()
    out: dict[tuple[str, str], RelatedPod] = {}
    missing_ns: set[str] = set()
    # any error status: a 403 the client logs "via_upstream" came from the server's sidecar (its
    # RBAC), and the request trace continues on the server's dump to show which policy denied it
    failing = [e for e in log.entries if e.response_flags or (e.response_code or 0) >= 400]
    services = ev.get_or([], Need.SERVICES)
    counts: dict[tuple[str, str], int] = {}
    by_cluster_ip = {s.spec.cluster_ip: s for s in services if s.spec.cluster_ip and s.spec.cluster_ip != "None"}
    for e in failing:
        fqdn = None
        if e.direction == "outbound" and e.upstream_service is not None and e.upstream_service.fqdn:
            fqdn = e.upstream_service.fqdn
        elif e.direction == "passthrough" and (s := by_cluster_ip.get(_host_ip(e.downstream_local_address) or "")) is not None:
            # PassthroughCluster to a Service's ClusterIP (the Service is not visible to this
            # sidecar): kube-proxy still sends it to the Service's pods, whose sidecars answer.
            fqdn = s.fqdn()
        if fqdn is not None:
            parts = fqdn.split(".")
            if len(parts) < 2:
                continue
            svc_name, svc_ns = parts[0], parts[1]
            if not ev.has(Need.PODS, svc_ns):
                missing_ns.add(svc_ns)
                continue
            pods = ev.get(Need.PODS, svc_ns)
            svc = next((s for s in services if s.metadata.namespace == svc_ns and s.metadata.name == svc_name), None)
            ip = _host_ip(e.upstream_host)
            chosen = [p for p in pods if ip and getattr(p, "ip", None) == ip]
            if not chosen and svc is not None:
                chosen = [p for p in pods if svc.selects(p)][:2]
            for p in chosen:
                k = (svc_ns, p.metadata.name)
                counts[k] = counts.get(k, 0) + 1
                out.setdefault(k, RelatedPod(svc_ns, p.metadata.name, "server", "", fqdn))
        elif e.direction in ("inbound", "unknown") and e.downstream_remote_address:
            ip = _host_ip(e.downstream_remote_address)
            if not ip:
                continue
            hit = _pod_by_ip(ev, {namespace} | {n for n in _known_pod_namespaces(ev)}, ip)
            if hit and hit != (namespace, pod):
                counts[hit] = counts.get(hit, 0) + 1
                out.setdefault(hit, RelatedPod(hit[0], hit[1], "client", ""))
    ranked = sorted(out.items(), key=lambda kv: -counts.get(kv[0], 0))[:limit]
    result = [
        RelatedPod(r.namespace, r.name, r.role,
                   f"{counts[k]} failing request(s) {'to' if r.role == 'server' else 'from'} it in the proxy log of {namespace}/{pod}",
                   r.service)
        for k, r in ranked
    ]
    return result, missing_ns


def _known_pod_namespaces(ev: Evidence) -> set[str]:
    return {i.key.namespace for i in ev.items() if i.key.need is Need.PODS and i.key.namespace and i.ok}


# -- evaluation --------------------------------------------------------------------------


@dataclass
class Examined:
    pod: str | None
    related: list[RelatedPod]
    pod_evidence_gathered: bool = True
    flagged_reason: str = ""
    #: playbooks walked for this pod only (auto mode: its timeline showed their signature)
    extra_playbooks: list[Playbook] = field(default_factory=list)
    #: which playbooks the pod walks (engine.ambient_plan: sidecar, ambient, none, any)
    dataplane: str = "sidecar"


@dataclass(frozen=True)
class Step:
    """One gathering pass: every key is fetched concurrently."""

    keys: list[EvidenceKey]
    phase: str = ""  # progress message ("" = none)
    fallback_namespace: str | None = None  # RBAC fallback for cluster-wide lists


@dataclass
class DiagnosisPlan:
    """Which evidence to gather, pass by pass, for one target. Pure: ``steps`` yields the next
    pass and receives the evidence gathered so far; ``examined`` and ``notes`` are filled as
    the plan learns (set before each pass, so an interrupted gathering still knows its pods)."""

    target: Target
    needs: set[Need]
    peer_needs: set[Need]
    examined: list[Examined] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    resolved: TargetPods | None = None  # what a deploy/, svc/ or ns/ target stands for
    #: for ``auto``: the loaded playbooks (their ``auto: signature`` ones are added per pod) and the
    #: registry that says what evidence those add
    playbooks: dict[str, Playbook] = field(default_factory=dict)
    symptom: str = "auto"
    registry: Registry | None = None
    #: needs of the ambient-only playbooks: gathered only for pods that walk them
    ambient_needs: set[Need] = field(default_factory=set)
    ambient_peer_needs: set[Need] = field(default_factory=set)

    def steps(self) -> Generator[Step, Evidence, None]:
        target, ns = self.target, self.target.namespace
        base = keys_for(self.needs, namespace=ns, scopes=(Scope.CLUSTER, Scope.NAMESPACE))
        pod_needs = {n for n in self.needs if n.scope is Scope.POD}
        if target.kind is TargetKind.POD:
            self.examined = [Examined(pod=target.name, related=[])]
            ev = yield Step(base + keys_for(pod_needs, namespace=ns, pods=[target.name]), f"gathering evidence for {target}", ns)
        else:
            extra = [EvidenceKey(need=Need.PODS, namespace=ns)]
            if target.kind is TargetKind.SERVICE:
                extra.append(EvidenceKey(need=Need.SERVICES))
            if target.kind is TargetKind.NAMESPACE:
                extra.append(EvidenceKey(need=Need.NAMESPACE_PROXY_LOGS, namespace=ns))
            ev = yield Step(base + extra, f"gathering namespace-wide evidence for {target}", ns)
            self.resolved = target_pods(target, ev)
            pods = self.resolved.pods
            if self.resolved.note:
                self.notes.append(self.resolved.note)
            if target.kind is TargetKind.NAMESPACE:
                flagged = flag_pods(ev, ns)
                deep = list(flagged)[:MAX_FLAGGED_PODS]
                if len(flagged) > MAX_FLAGGED_PODS:
                    self.notes.append(f"{len(flagged)} pods flagged; the first {MAX_FLAGGED_PODS} were examined in depth")
                # Only flagged pods are walked in depth; the rest are listed in the workload table.
                # With none flagged, one namespace-level walk runs the checks that need no pod.
                self.examined = [Examined(pod=p, related=[], flagged_reason=flagged[p]) for p in deep] or [
                    Examined(pod=None, related=[], pod_evidence_gathered=False)
                ]
                ev = yield Step(keys_for(pod_needs, namespace=ns, pods=deep), f"{len(pods)} pods, {len(flagged)} flagged: gathering their proxy evidence")
            else:
                self.examined = [Examined(pod=p, related=[]) for p in pods]
                ev = yield Step(keys_for(pod_needs, namespace=ns, pods=pods))
        # Auto mode: playbooks walked only for pods whose timeline shows their signature (a Job
        # kept alive by its sidecar, an init container failing...), with the evidence they add.
        gathered = [ex.pod for ex in self.examined if ex.pod and ex.pod_evidence_gathered]
        for pod, (extra, reason) in signature_playbooks(self.playbooks, self.symptom, ev, ns, gathered).items():
            ex = next(e for e in self.examined if e.pod == pod)
            ex.extra_playbooks = extra
            if self.registry is not None:
                more, _peer = plan_needs(extra, self.registry)
                ev = yield Step(keys_for(more, namespace=ns, pods=[pod]), f"pod {pod}: {reason}; walking {', '.join(p.id for p in extra)}")
        if self.ambient_needs:
            ev = yield from self._ambient_steps(ev)
        if not self.peer_needs:
            return
        # The other side of the failing traffic (ambient pods found theirs in ztunnel's log).
        for ex in self.examined:
            if not ex.pod or not ex.pod_evidence_gathered or ex.dataplane == ambient_plan.AMBIENT:
                continue
            rel, missing_ns = related_pods(ev, ns, ex.pod)
            if missing_ns:
                ev = yield Step([EvidenceKey(need=Need.PODS, namespace=m) for m in sorted(missing_ns)])
                rel, _ = related_pods(ev, ns, ex.pod)
            ex.related = rel
        peer = sorted(self.peer_needs | {Need.POD}, key=lambda n: n.value)
        peer_keys = [EvidenceKey(need=n, namespace=r.namespace, name=r.name) for ex in self.examined for r in ex.related for n in peer]
        if peer_keys:
            yield Step(peer_keys, f"gathering evidence from {len({(k.namespace, k.name) for k in peer_keys})} related pod(s)")


    def _ambient_steps(self, ev: Evidence) -> Generator[Step, Evidence, Evidence]:
        """Ambient mode: decide each examined pod's data plane; for ambient pods (and pods out of
        the mesh where the cluster uses ambient) gather the ambient evidence (ztunnel's config and
        log and istio-cni's log on their node, waypoints, NetworkPolicies...), then the ztunnel logs
        of the pods on the other side of their failing connections. A sidecar mesh makes no call."""
        ns = self.target.namespace
        if self.target.kind is TargetKind.NAMESPACE and ambient_plan.ambient_in_use(ev, ns):
            # ambient pods have no proxy log: their failures are in the ztunnel log of each node
            scouts = ambient_plan.log_scouts(ev, ns)
            if scouts:
                ev = yield Step([EvidenceKey(need=Need.ZTUNNEL_LOGS, namespace=ns, name=p) for p in scouts],
                                f"reading the ztunnel logs of {len(scouts)} node(s)")
            known = {e.pod for e in self.examined}
            flagged = {p: r for p, r in ambient_plan.ambient_flags(ev, ns).items() if p not in known}
            extra = [Examined(pod=p, related=[], flagged_reason=r) for p, r in list(flagged.items())[:MAX_FLAGGED_PODS]]
            if extra:
                self.examined = [e for e in self.examined if e.pod is not None] + extra
        for ex in self.examined:
            ex.dataplane = ambient_plan.dataplane_walk(ev, ns, ex.pod)
        walking = [ex for ex in self.examined if ex.dataplane != ambient_plan.SIDECAR]
        if not walking:
            return ev
        pods = [ex.pod for ex in walking if ex.pod and ex.pod_evidence_gathered]
        pod_needs = {n for n in self.ambient_needs if n.scope is Scope.POD}
        ev = yield Step(keys_for(self.ambient_needs, namespace=ns, scopes=(Scope.CLUSTER, Scope.NAMESPACE))
                        + keys_for(pod_needs, namespace=ns, pods=pods),
                        f"ambient mode: gathering ztunnel and istio-cni evidence for {len(pods) or 'the namespace'} pod(s)", ns)
        peers: list[tuple[str, str]] = []
        for ex in walking:
            if ex.pod and ex.dataplane == ambient_plan.AMBIENT:
                ex.related = ambient_plan.related_pods(ev, ns, ex.pod)
                peers += [(r.namespace, r.name) for r in ex.related]
        if peers:
            kinds = sorted(self.ambient_peer_needs | {Need.POD, Need.ZTUNNEL_LOGS}, key=lambda n: n.value)
            ev = yield Step([EvidenceKey(need=n, namespace=pns, name=pname) for pns, pname in dict.fromkeys(peers) for n in kinds],
                            f"gathering the ztunnel logs of {len(set(peers))} related pod(s)")
        return ev


def control_plane_version(ev: Evidence) -> Any | None:
    """The lowest control-plane version (checks gate on it).

    istioctl may be missing or unable to reach istiod; then the istiod image tag, and last the
    proxies' image tags, still tell which behaviour the mesh has (e.g. 1.10's inbound change).
    """
    from istio_doctor.evidence.versions import parse_version

    iv = ev.get_or(None, Need.ISTIOCTL_VERSION)
    if iv is not None:
        if iv.control_plane_versions:
            return iv.control_plane_versions[0]
        if iv.data_plane_versions:
            return iv.data_plane_versions[0]

    def tag(image: str | None) -> Any | None:
        last = (image or "").rsplit("/", 1)[-1]
        if ":" not in last:
            return None
        return parse_version(last.rsplit(":", 1)[1].removesuffix("-distroless"))

    found = []
    for p in ev.get_or([], Need.CONTROL_PLANE_PODS):
        if p.labels.get("app") == "istiod" or p.name.startswith("istiod"):
            found += [v for c in p.spec.containers if c.name == "discovery" and (v := tag(c.image)) is not None]
    if not found:
        for item in ev.items():
            if item.ok and item.key.need in (Need.POD, Need.PODS):
                pods = item.value if isinstance(item.value, list) else [item.value]
                found += [v for p in pods if p.has_sidecar and (v := tag(p.proxy_image)) is not None]
    return min(found) if found else None


def evaluate(
    *,
    ev: Evidence,
    target: Target,
    conn: Connection,
    examined: list[Examined],
    playbooks: list[Playbook],
    registry: Registry,
    catalogue: dict[str, CatalogueEntry],
) -> tuple[list[PlaybookRun], list[Any], set[str]]:
    version = control_plane_version(ev)
    runs: list[PlaybookRun] = []
    findings: list[Any] = []
    signals: set[str] = set()
    for ex in examined:
        ctx = CheckContext(
            ev=ev, target=target, conn=conn, namespace=target.namespace, pod_name=ex.pod,
            related=ex.related, istio_version=version, pod_evidence_gathered=ex.pod_evidence_gathered,
        )
        signals |= ctx.observed_signals() if ex.pod else set()
        pbs = playbooks_for(playbooks, ex.dataplane)
        for pb in [*pbs, *(p for p in playbooks_for(ex.extra_playbooks, ex.dataplane) if p not in pbs)]:
            run = walk(pb, ctx, registry, catalogue)
            runs.append(run)
            findings.extend(run.findings)
    return runs, rank_findings(findings, catalogue, signals), signals
