"""istio-cni node agent logs, its install configuration, and the Kubernetes events it causes.

The agent logs with Istio's Go logger: ``<time>\\t<level>\\t<scope>\\t<message>[\\t<k=v …>]``
(scopes ``cni-agent``, ``cni``, ``iptables``…), sometimes with tabs turned into spaces by
whoever copied it. Some messages span lines (the iptables-restore input, the install
configuration dump); their continuation lines belong to the record above them. A reporter's
own re-layout (``16:50:07  cni-agent  error  <message>`` with wrapped lines,
istio/istio#60882) is read too.

Messages that checks react to (istio/istio@86c9f01, ``cni/pkg/…``):

=============================  =========================================================================
kind                           message (source)
=============================  =========================================================================
``ns_enabled``                 ``Namespace %s is enabled in ambient mesh`` (nodeagent/informers.go)
``ns_disabled``                ``Namespace %s is disabled from ambient mesh`` (informers.go)
``ns_excluded``                ``Namespace %s is labeled for ambient mesh but is excluded by excludeNamespaces
                               configuration; pods will not be enrolled`` (informers.go)
``pod_added`` / ``pod_removed``  ``adding pod to the mesh`` (net_linux.go) / ``removing pod from mesh``
``pod_pending``                ``failed to add pod to ztunnel: pod partially added, annotating with pending
                               status`` (1.26+ meshdataplane_linux.go; 1.25 server.go prints ``%!v(MISSING)``
                               for the error), ``failed to add pod to ztunnel: partial add error: …`` (1.24)
``reconcile_failed``           ``failed to reconcile inpod rules for pod, try restarting the pod, …``
                               (net_linux.go)
``ztunnel_connected`` /        ``new ztunnel connected, total connected: %v`` / ``ztunnel disconnected,
``ztunnel_disconnected``       total connected …`` (nodeagent/ztunnelserver.go)
``send_failed``                ``Unable to send pod to ztunnel. Will retry.`` (informers.go)
``sidecar_skip``               ``excluded because it does not have istio-proxy container`` (plugin/plugin.go:
                               the sidecar-mode plugin path, not ambient)
=============================  =========================================================================
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from istio_doctor.evidence.ambient.logline import KUBECTL_POD_PREFIX, KUBECTL_STAMP, TS, first_match
from istio_doctor.evidence.podlogs import parse_rfc3339

__all__ = [
    "CniEventKind",
    "CniLog",
    "CniLogLine",
    "classify_event",
    "parse_cni_events_text",
    "parse_cni_log",
]

_TS = TS
_LEVELS = "debug|info|warn|warning|error|fatal"
_STD = re.compile(rf"^(?P<ts>{_TS})\s+(?P<level>{_LEVELS})\s+(?P<scope>[a-z][\w-]*)\s+(?P<rest>.*)$")
# reporter's re-layout: time, scope, level
_RELAID = re.compile(rf"^(?P<ts>\d\d:\d\d:\d\d)\s+(?P<scope>[a-z][\w-]*)\s+(?P<level>{_LEVELS})\s+(?P<rest>.*)$")
_FIELD = re.compile(r"(?P<k>[a-z_][\w.]*)=(?P<v>\S+)")


class CniLogKind(StrEnum):
    NS_ENABLED = "ns_enabled"
    NS_DISABLED = "ns_disabled"
    NS_EXCLUDED = "ns_excluded"
    POD_ADDED = "pod_added"
    POD_REMOVED = "pod_removed"
    POD_PENDING = "pod_pending"
    RECONCILE_FAILED = "reconcile_failed"
    ZTUNNEL_CONNECTED = "ztunnel_connected"
    ZTUNNEL_DISCONNECTED = "ztunnel_disconnected"
    SEND_FAILED = "send_failed"
    SIDECAR_SKIP = "sidecar_skip"
    INSTALL_CONFIG = "install_config"
    IPTABLES = "iptables"


_KINDS: list[tuple[re.Pattern[str], CniLogKind]] = [
    (re.compile(r"^Namespace (?P<ns>\S+) is labeled for ambient mesh but is excluded by excludeNamespaces"), CniLogKind.NS_EXCLUDED),
    (re.compile(r"^pod is enrolled in ambient mesh but namespace (?P<ns>\S+) is excluded by excludeNamespaces"), CniLogKind.NS_EXCLUDED),
    (re.compile(r"^Namespace (?P<ns>\S+) is enabled in ambient mesh"), CniLogKind.NS_ENABLED),
    (re.compile(r"^Namespace (?P<ns>\S+) is disabled from ambient mesh"), CniLogKind.NS_DISABLED),
    (re.compile(r"^adding pod to the mesh"), CniLogKind.POD_ADDED),
    (re.compile(r"^removing pod from mesh"), CniLogKind.POD_REMOVED),
    (re.compile(r"pod partially added, annotating with pending status"), CniLogKind.POD_PENDING),
    # 1.24: the same partial add, logged as the wrapped error (server.go, error.go); the pod is
    # annotated ``enabled`` then, there was no ``pending`` value yet
    (re.compile(r"^failed to add pod to ztunnel: partial add error"), CniLogKind.POD_PENDING),
    (re.compile(r"^failed to reconcile inpod rules for pod"), CniLogKind.RECONCILE_FAILED),
    (re.compile(r"^new ztunnel connected"), CniLogKind.ZTUNNEL_CONNECTED),
    (re.compile(r"^ztunnel disconnected"), CniLogKind.ZTUNNEL_DISCONNECTED),
    (re.compile(r"^Unable to send pod to ztunnel"), CniLogKind.SEND_FAILED),
    (re.compile(r"^excluded because it does not have istio-proxy container"), CniLogKind.SIDECAR_SKIP),
    (re.compile(r"^CNI install configuration:"), CniLogKind.INSTALL_CONFIG),
    (re.compile(r"^Running iptables(-legacy|-nft)?-restore"), CniLogKind.IPTABLES),
]


class CniLogLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_no: int
    #: the line as the agent wrote it (without kubectl's ``--timestamps`` prefix)
    raw: str
    pod: str = ""
    time: str = ""
    #: kubectl's ``--timestamps`` time (RFC3339Nano, the node's clock), when the log was asked with it
    stamp: str = ""
    level: str = ""
    scope: str = ""
    message: str
    fields: dict[str, str] = Field(default_factory=dict)
    #: continuation lines (iptables input, install configuration)
    body: list[str] = Field(default_factory=list)
    kind: str = ""
    #: the namespace a namespace-level message names
    namespace: str = ""

    @property
    def at(self) -> datetime | None:
        """When the line was written: kubectl's stamp, else the agent's own time."""
        return parse_rfc3339(self.stamp or self.time or None)

    @property
    def pod_ref(self) -> str:
        """``ns/name`` of the pod a pod-level message is about (``ns=`` ``name=`` or ``pod=``)."""
        if "pod" in self.fields:
            return self.fields["pod"]
        if "ns" in self.fields and "name" in self.fields:
            return f"{self.fields['ns']}/{self.fields['name']}"
        return ""


class CniLog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[CniLogLine] = []
    #: ``Key: value`` pairs of the ``CNI install configuration:`` dump (last one wins)
    install_config: dict[str, str] = Field(default_factory=dict)
    #: lines that belong to no record (a reporter's narration)
    other: int = 0

    def of(self, *kinds: CniLogKind) -> list[CniLogLine]:
        want = {k.value for k in kinds}
        return [ln for ln in self.lines if ln.kind in want]

    @property
    def excluded_namespaces(self) -> list[str]:
        v = self.install_config.get("ExcludeNamespaces", "")
        return [n for n in re.split(r"[,\s\[\]]+", v) if n]


def _split(rest: str) -> tuple[str, dict[str, str]]:
    if "\t" in rest:
        msg, _, tail = rest.partition("\t")
    else:
        # labels follow the message after a run of spaces (a tab that was copied as spaces)
        parts = re.split(r"\s{2,}(?=[a-z_][\w.]*=\S)", rest, maxsplit=1)
        msg, tail = (parts[0], parts[1]) if len(parts) == 2 else (rest, "")
    return msg.strip(), {m.group("k"): m.group("v") for m in _FIELD.finditer(tail)}


def _classify(line: CniLogLine) -> None:
    hit = first_match(_KINDS, line.message)
    if hit is not None:
        kind, m = hit
        line.kind = kind.value
        line.namespace = m.groupdict().get("ns") or ""


def _json_line(i: int, raw: str, text: str, pod: str, stamp: str) -> CniLogLine | None:
    """The agent's JSON logging (``--log_as_json``): ``{"level","time","scope","msg",...labels}``
    (istio/istio#57332 quotes ``{"level":"info","time":...,"scope":"cni-agent","msg":"Repairing pod...","pod":"ns/name"}``)."""
    if not text.startswith("{"):
        return None
    try:
        rec = json.loads(text)
    except ValueError:
        return None
    if not isinstance(rec, dict) or "msg" not in rec:
        return None
    level = str(rec.get("level", "")).lower()
    fields = {str(k): str(v) for k, v in rec.items() if k not in ("level", "time", "scope", "msg")}
    return CniLogLine(line_no=i, raw=raw, pod=pod, time=str(rec.get("time", "")), stamp=stamp,
                      level="warn" if level == "warning" else level, scope=str(rec.get("scope", "")),
                      message=str(rec["msg"]), fields=fields)


def parse_cni_log(text: str, *, command: str = "") -> CniLog:
    """The agent's log; asked with ``--timestamps`` (``command`` says so) each line starts with
    kubectl's time, kept as ``stamp`` (the lifecycle timeline orders by it)."""
    stamped = "--timestamps" in command
    log = CniLog()
    current: CniLogLine | None = None
    for i, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        stamp = ""
        if stamped and (sm := KUBECTL_STAMP.match(raw)):
            stamp, raw = sm.group("stamp"), raw[sm.end():]
            if not raw.strip():
                continue
        line = raw.rstrip()
        pod = ""
        m = KUBECTL_POD_PREFIX.match(line)
        if m:
            pod, line = m.group("pod"), line[m.end() :]
        m = _STD.match(line.strip()) or _RELAID.match(line.strip())
        if m:
            msg, fields = _split(m.group("rest"))
            level = m.group("level").lower()
            current = CniLogLine(line_no=i, raw=raw, pod=pod, time=m.group("ts"), stamp=stamp,
                                 level="warn" if level == "warning" else level, scope=m.group("scope"), message=msg, fields=fields)
            _classify(current)
            log.lines.append(current)
            continue
        js = _json_line(i, raw, line.strip(), pod, stamp)
        if js is not None:
            current = js
            _classify(current)
            log.lines.append(current)
            continue
        if current is not None and (raw[:1].isspace() or current.kind in (CniLogKind.INSTALL_CONFIG, CniLogKind.IPTABLES)):
            current.body.append(line.strip())
            if current.kind == CniLogKind.INSTALL_CONFIG:
                k, sep, v = line.strip().partition(":")
                if sep and re.fullmatch(r"[A-Za-z][\w]*", k):
                    log.install_config[k] = v.strip()
            elif raw[:1].isspace():
                # a wrapped message: join it so classifiers see the whole sentence
                current.message = f"{current.message} {line.strip()}"
                if not current.kind:
                    _classify(current)
            continue
        log.other += 1
    return log


# --------------------------------------------------------------------------------------
# Kubernetes events caused by the CNI / ambient enrolment
# --------------------------------------------------------------------------------------


class CniEventKind(StrEnum):
    #: FailedCreatePodSandBox … istio-cni cmdAdd failed to contact node Istio CNI agent: … no ztunnel connection
    NO_ZTUNNEL = "no_ztunnel"
    #: any other FailedCreatePodSandBox whose plugin is istio-cni
    CNI_PLUGIN_FAILED = "cni_plugin_failed"
    #: Unhealthy: Readiness/Liveness/Startup probe failed with a timeout (SNATed probes dropped)
    PROBE_TIMEOUT = "probe_timeout"
    #: Unhealthy: probe failed otherwise (the app answered badly: not a network symptom)
    PROBE_FAILED = "probe_failed"


_PROBE = re.compile(r"(Readiness|Liveness|Startup) probe failed")
_PROBE_TIMEOUT = re.compile(r"i/o timeout|context deadline exceeded|Client\.Timeout exceeded|timeout awaiting response")


def classify_event(reason: str, message: str) -> CniEventKind | None:
    """What an event (reason + message) says about ambient enrolment, or None."""
    if reason == "FailedCreatePodSandBox" or "Failed to create pod sandbox" in message:
        if "no ztunnel connection" in message:
            return CniEventKind.NO_ZTUNNEL
        if 'type="istio-cni"' in message or "istio-cni" in message:
            return CniEventKind.CNI_PLUGIN_FAILED
        return None
    if _PROBE.search(message):
        return CniEventKind.PROBE_TIMEOUT if _PROBE_TIMEOUT.search(message) else CniEventKind.PROBE_FAILED
    return None


class TextEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_no: int
    reason: str
    message: str
    type: str = ""
    kind: str = ""


_DESCRIBE_ROW = re.compile(r"^\s*(?P<type>Normal|Warning)\s+(?P<reason>[A-Z]\w+)\s+\S.*?\s{2,}(?P<from>[\w/-]+)\s{2,}(?P<msg>.*)$")
_COLUMNS_ROW = re.compile(rf"^\s*(?P<ts>{_TS})\s+(?P<reason>[A-Z]\w+)\s+(?P<msg>.*)$")


def parse_cni_events_text(text: str) -> list[TextEvent]:
    """Events as text: a ``kubectl describe`` Events table or ``time reason message`` rows."""
    out = []
    for i, line in enumerate(text.splitlines(), start=1):
        m = _DESCRIBE_ROW.match(line) or _COLUMNS_ROW.match(line)
        if not m:
            continue
        reason, msg = m.group("reason"), m.group("msg").strip()
        kind = classify_event(reason, msg)
        out.append(TextEvent(line_no=i, reason=reason, message=msg, type=m.groupdict().get("type") or "",
                             kind=kind.value if kind else ""))
    return out
