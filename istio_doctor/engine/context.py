"""What a check sees: the evidence, the pod under examination, and typed accessors.

Accessors raise ``MissingEvidence`` (through ``Evidence.get``) when the evidence they need
could not be gathered, so checks stay short and the walker records ``unknown``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from istio_doctor.engine.model import EvidenceRef
from istio_doctor.evidence.bundle import Evidence, EvidenceKey, Item, MissingEvidence, Need, Scope
from istio_doctor.evidence.target import Connection, Target, TargetKind

if TYPE_CHECKING:
    from istio_doctor.engine.registry import CheckSpec
    from istio_doctor.evidence.versions import Version

log = logging.getLogger(__name__)
T = TypeVar("T")
D = TypeVar("D")

#: Set (to "1") by the test suite: a check that reads evidence it did not declare raises.
STRICT_READS_ENV = "ISTIO_DOCTOR_STRICT_READS"


class UndeclaredEvidence(RuntimeError):
    """A check read evidence it did not declare in ``needs``/``optional``/``peer_needs``.

    Not a ``MissingEvidence``: it is a bug in the check (the planner gathers only declared
    evidence, so the read works only by the accident of another check declaring it)."""


class DeclaredEvidence(Evidence):
    """A check's view of the evidence: only the kinds it declared.

    Shares the session's items (no copy). ``failures()`` is not filtered: the calls that
    failed are facts about the session (GEN-CMD-CAPABILITY reads them), not cluster evidence.
    ``source`` is not guarded either: it names a call, it reads no value."""

    def __init__(self, base: Evidence, allowed: Iterable[Need], check_id: str, *, strict: bool) -> None:
        super().__init__()
        self._items = base._items
        self.base = base
        self.allowed = frozenset(allowed)
        self.check_id = check_id
        self.strict = strict

    def _allow(self, need: Need) -> None:
        if need in self.allowed:
            return
        msg = f"check {self.check_id} read {need.value}, which it does not declare (needs/optional/peer_needs)"
        if self.strict:
            raise UndeclaredEvidence(msg)
        log.debug(msg)

    def item(self, need: Need, namespace: str | None = None, name: str | None = None) -> Item[Any] | None:
        self._allow(need)
        return super().item(need, namespace, name)

    def has(self, need: Need, namespace: str | None = None, name: str | None = None) -> bool:
        self._allow(need)
        return super().has(need, namespace, name)

    def get(self, need: Need[T], namespace: str | None = None, name: str | None = None) -> T:
        self._allow(need)
        return super().get(need, namespace, name)

    def get_or(self, default: D, need: Need[T], namespace: str | None = None, name: str | None = None) -> T | D:
        self._allow(need)
        return super().get_or(default, need, namespace, name)

    def items(self) -> list[Item[Any]]:
        return [i for i in super().items() if i.key.need in self.allowed]


def strict_reads() -> bool:
    return os.environ.get(STRICT_READS_ENV, "") == "1"


@dataclass(frozen=True)
class RelatedPod:
    """A pod on the other side of the target's failing traffic."""

    namespace: str
    name: str
    role: str  # "server" (the target calls it) | "client" (it calls the target)
    reason: str  # e.g. "12 failing requests to outbound|9080||reviews.default.svc.cluster.local"
    service: str = ""  # fqdn of the service, when known


@dataclass
class CheckContext:
    ev: Evidence
    target: Target
    conn: Connection
    namespace: str
    pod_name: str | None = None
    related: list[RelatedPod] = field(default_factory=list)
    istio_version: Version | None = None
    #: namespace scans gather per-pod evidence only for flagged pods; other pods skip those checks.
    pod_evidence_gathered: bool = True

    def for_check(self, spec: CheckSpec) -> CheckContext:
        """The context a check runs in: its evidence view holds only what it declared."""
        allowed = set(spec.needs) | set(spec.optional) | set(spec.peer_needs) | set(spec.if_gathered)
        if spec.peer_needs:
            allowed.add(Need.POD)  # the planner gathers every related pod's object with its peer needs
        base = self.ev.base if isinstance(self.ev, DeclaredEvidence) else self.ev
        return replace(self, ev=DeclaredEvidence(base, allowed, spec.id, strict=strict_reads()))

    def declares(self, need: Need) -> bool:
        """Whether the running check may read ``need`` (always, outside a check)."""
        return not isinstance(self.ev, DeclaredEvidence) or need in self.ev.allowed

    @property
    def _base(self) -> Evidence:
        return self.ev.base if isinstance(self.ev, DeclaredEvidence) else self.ev

    @property
    def subject(self) -> Target:
        """What this walk examines: the pod, else the namespace."""
        if self.pod_name:
            return Target(kind=TargetKind.POD, namespace=self.namespace, name=self.pod_name)
        return Target(kind=TargetKind.NAMESPACE, namespace=self.namespace)

    @property
    def label(self) -> str:
        return f"pod/{self.pod_name} -n {self.namespace}" if self.pod_name else f"ns/{self.namespace}"

    def skip_reason(self, spec: CheckSpec) -> str | None:
        if self.pod_name is None and self.target.kind is TargetKind.NAMESPACE:
            # A namespace scan that flagged no pod: pod checks have no subject. (A pod-less
            # deploy/ or svc/ target still runs them: they read the workload's pod template.)
            if any(n.scope is Scope.POD for n in spec.needs):
                return "not examined: the namespace scan flagged no pod, so no pod was examined in depth"
            return None
        if self.pod_evidence_gathered:
            return None
        pod_needs = [n for n in spec.needs if n.scope is Scope.POD and n is not Need.POD]
        if pod_needs:
            return "not examined: the namespace scan did not flag this pod, so its proxy evidence was not gathered"
        return None

    # -- the pod under examination -------------------------------------------------------
    def pod(self, namespace: str | None = None, name: str | None = None) -> Any:
        ns, nm = namespace or self.namespace, name or self.pod_name
        if nm is None:
            raise MissingEvidence(EvidenceKey(need=Need.POD, namespace=ns), None)
        if not self.declares(Need.PODS) and (self.ev.has(Need.POD, ns, nm) or not self.declares(Need.POD)):
            return self.ev.get(Need.POD, ns, nm)
        if self.declares(Need.POD) and self._base.has(Need.POD, ns, nm):
            return self._base.get(Need.POD, ns, nm)
        # A namespace listing holds the same object: no second call for it (and reading the
        # declared pod from it is no undeclared read).
        listed = self._base.get_or([], Need.PODS, ns)
        by_name = self._memo(("pods-by-name", ns, id(listed)), lambda: {p.metadata.name: p for p in listed})
        if nm in by_name:
            return by_name[nm]
        return self._base.get(Need.POD if self.declares(Need.POD) else Need.PODS, ns, nm)

    def _memo(self, key: tuple[Any, ...], build: Any) -> Any:
        """Per-session memo kept on the Evidence object, shared by every context of the walk.

        A namespace scan walks every playbook for every pod (500 pods x 5 playbooks); linear
        lookups per check made that quadratic (bench/run.py: 9 s for 500 pods). Keys carry the
        ``id`` of the evidence value they derive from, which never changes once gathered.
        """
        memo: dict[tuple[Any, ...], Any] = self._base.__dict__.setdefault("_context_memo", {})
        if key not in memo:
            memo[key] = build()
        return memo[key]

    def pod_source(self, namespace: str | None = None, name: str | None = None) -> str:
        ns, nm = namespace or self.namespace, name or self.pod_name
        return self.ev.source(Need.POD, ns, nm) or self.ev.source(Need.PODS, ns)

    def pods(self, namespace: str | None = None) -> list[Any]:
        return list(self.ev.get(Need.PODS, namespace or self.namespace))

    def namespace_obj(self, namespace: str | None = None) -> Any | None:
        ns = namespace or self.namespace
        for n in self.ev.get(Need.NAMESPACES):
            if n.metadata.name == ns:
                return n
        return None

    def services(self, namespace: str | None = None) -> list[Any]:
        svcs = list(self.ev.get(Need.SERVICES))
        return [s for s in svcs if namespace is None or s.metadata.namespace == namespace]

    def services_selecting(self, pod: Any) -> list[Any]:
        svcs = self.ev.get(Need.SERVICES)
        ns = pod.metadata.namespace
        return list(self._memo(("selecting", id(svcs), id(pod)),
                               lambda: [s for s in svcs if s.metadata.namespace == ns and s.selects(pod)]))

    def resources(self, need: Need, namespace: str | None = None) -> list[Any]:
        items = list(self.ev.get(need))
        return [r for r in items if namespace is None or r.metadata.namespace == namespace]

    def config_dump(self, namespace: str | None = None, name: str | None = None) -> Any:
        return self.ev.get(Need.CONFIG_DUMP, namespace or self.namespace, name or self.pod_name)

    def proxy_log(self, namespace: str | None = None, name: str | None = None) -> Any:
        return self.ev.get(Need.PROXY_LOGS, namespace or self.namespace, name or self.pod_name)

    def control_plane(self) -> Any:
        return self.ev.get(Need.CONTROL_PLANE_CONFIGMAPS)

    def mesh_config(self, revision: str | None = None) -> Any:
        cp = self.control_plane()
        rev = revision or "default"
        if rev in cp.mesh:
            return cp.mesh[rev]
        if "default" in cp.mesh:
            return cp.mesh["default"]
        if cp.mesh:
            return next(iter(cp.mesh.values()))
        raise MissingEvidence(EvidenceKey(need=Need.CONTROL_PLANE_CONFIGMAPS), None)

    # -- citations ------------------------------------------------------------------------
    def ref(self, need: Need, excerpt: Any, note: str = "", namespace: str | None = None, name: str | None = None) -> EvidenceRef:
        """Cite the call behind a piece of evidence with a verbatim excerpt.

        ``excerpt`` may be text (log lines, table rows) or a mapping/list (printed as YAML,
        which is how `kubectl get -o yaml` would show the same object).
        """
        if need.scope is Scope.POD:
            namespace, name = namespace or self.namespace, name or self.pod_name
        elif need.scope is Scope.NAMESPACE:
            namespace = namespace or self.namespace
        src = self.ev.source(need, namespace, name)
        if need is Need.POD and not src:
            src = self.pod_source(namespace, name)
        if not isinstance(excerpt, str):
            excerpt = to_yaml(excerpt)
        return EvidenceRef(source=src, key=str(Evidence.key(need, namespace, name)), excerpt=excerpt.rstrip("\n"), note=note)

    def describe_ref(self, needles: tuple[str, ...], note: str) -> EvidenceRef | None:
        """`istioctl x describe pod` lines that say the same thing a check concluded, if any.

        describe is istioctl's own reading of the pod's Envoy config; quoting its warning next
        to our evidence lets the user see the two agree. Optional: None when it was not run."""
        if not self.pod_name:
            return None
        d = self.ev.get_or(None, Need.DESCRIBE, self.namespace, self.pod_name)
        if d is None:
            return None
        lines = [w for w in d.warnings if any(n.lower() in w.lower() for n in needles)]
        return self.ref(Need.DESCRIBE, "\n".join(lines), note) if lines else None

    def observed_signals(self) -> set[str]:
        """Response flags and details seen in the examined pod's (and related pods') proxy logs."""
        out: set[str] = set()
        pods = [(self.namespace, self.pod_name)] + [(r.namespace, r.name) for r in self.related]
        for ns, nm in pods:
            if nm is None:
                continue
            log = self.ev.get_or(None, Need.PROXY_LOGS, ns, nm)
            if log is None:
                continue
            for e in log.entries:
                if e.response_code and 200 <= e.response_code < 400 and not e.response_flags:
                    continue
                out.update(e.response_flags)
                if e.response_code_details:
                    out.add(e.response_code_details)
                    out.add(e.response_code_details.split("{")[0])
                if e.response_code:
                    out.add(str(e.response_code))
        return out


_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_yaml(obj: Any) -> str:
    """Render a model or mapping the way `kubectl get -o yaml` users read it."""
    if hasattr(obj, "model_dump"):
        obj = obj.model_dump(mode="json", by_alias=True, exclude_none=True)
    try:
        # libyaml's dumper when present: same output, ~10x faster (a namespace scan cites hundreds of pods)
        return yaml.dump(obj, Dumper=_YAML_DUMPER, sort_keys=False, default_flow_style=False, width=120).rstrip("\n")
    except yaml.YAMLError:
        return json.dumps(obj, indent=2, default=str)
