"""Parse ``kubectl logs <pod> -c istio-proxy`` output: Envoy access-log entries and component events.

The istio-proxy container writes two interleaved streams to stdout: Envoy access-log records
(one per request/connection, TEXT or JSON encoded depending on ``meshConfig.accessLogEncoding``)
and component log lines from pilot-agent and Envoy itself (readiness failures, xDS NACKs, TLS
errors, draining). Checks need both: the access log says *what* failed (code, flags, details,
which cluster), the component log often says *why* (no config from istiod, rejected config).

Formats handled, all driven by real captures (``tests/fixtures/corpus/captured/access-logs``):

* Istio default TEXT format (1.9+; ``%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
  "%UPSTREAM_TRANSPORT_FAILURE_REASON%"`` after the flags),
* the Mixer-era TEXT format (1.3–1.8: ``"%DYNAMIC_METADATA(istio.mixer:status)%"
  "%UPSTREAM_TRANSPORT_FAILURE_REASON%"`` after the flags),
* the legacy 2018–2019 format (bytes directly after the flags), possibly truncated (0.7),
* ``kubectl logs --timestamps`` prefixes,
* JSON records one per line and pretty-printed over several lines,
* ztunnel access lines (ambient; counted as events, they are not Envoy entries).

The parser never raises on input: a line it cannot place is counted in ``unparsed`` so the
engine can tell "no failures logged" from "could not read the log".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "AccessLogEntry",
    "FailureGroup",
    "ProxyEvent",
    "ProxyLog",
    "UpstreamService",
    "is_failure",
    "join_by_request_id",
    "parse_proxy_log",
    "summarize_failures",
]

# Format labels reported in ``ProxyLog.formats`` so a report can say which dialect was read.
FMT_TEXT = "text"  # current default TEXT format, with response code details
FMT_TEXT_MIXER = "text_mixer"  # 1.3-1.8: quoted mixer status + quoted failure reason
FMT_TEXT_LEGACY = "text_legacy"  # 2018-2019: no details at all
FMT_JSON = "json"
FMT_JSON_MULTILINE = "json_multiline"
FMT_ZTUNNEL = "ztunnel"
FMT_KUBECTL_TIMESTAMPS = "kubectl_timestamps"
FMT_ISTIO_COMPONENT = "istio_component"  # pilot-agent / istio-formatted Envoy log lines
FMT_ENVOY_COMPONENT = "envoy_component"  # native Envoy "[date][tid][level][logger]" lines


class UpstreamService(BaseModel):
    """The pieces of an Istio cluster name ``<direction>|<port>|<subset>|<fqdn>``."""

    direction: str
    port: int
    # For outbound clusters the third part is the DestinationRule subset; for pre-1.10 inbound
    # clusters it is the Service port name. Either way it is what Istio put there.
    subset: str | None
    fqdn: str | None


class AccessLogEntry(BaseModel):
    """One Envoy access-log record. ``None`` stands for Envoy's ``-`` (field empty/unknown)."""

    start_time: str | None = None
    method: str | None = None
    path: str | None = None
    protocol: str | None = None
    response_code: int = 0
    response_flags: list[str] = Field(default_factory=list)
    response_code_details: str | None = None
    connection_termination_details: str | None = None
    upstream_transport_failure_reason: str | None = None
    bytes_received: int | None = None
    bytes_sent: int | None = None
    duration_ms: int | None = None
    upstream_service_time: int | None = None
    x_forwarded_for: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    authority: str | None = None
    upstream_host: str | None = None
    upstream_cluster: str | None = None
    upstream_local_address: str | None = None
    downstream_local_address: str | None = None
    downstream_remote_address: str | None = None
    requested_server_name: str | None = None
    route_name: str | None = None
    # Mixer-era policy check status (1.3-1.8 TEXT and JSON); "UNAVAILABLE:no healthy upstream"
    # there explains a 503 UAEX that has nothing to do with the destination.
    istio_policy_status: str | None = None
    # JSON keys we do not model (custom formats, grpc_status, attempt counts...), kept verbatim.
    extra: dict[str, str] = Field(default_factory=dict)
    format: str = FMT_TEXT
    line_no: int
    raw: str

    @property
    def direction(self) -> str:
        """Which side of the proxy logged this: decides client- vs server-side diagnosis."""
        c = self.upstream_cluster or ""
        if c.startswith("outbound|"):
            return "outbound"
        if c.startswith(("inbound|", "inbound-vip|")) or c.startswith("InboundPassthroughCluster"):
            return "inbound"
        if c.startswith("PassthroughCluster"):
            return "passthrough"
        if c == "BlackHoleCluster":
            return "blackhole"
        return "unknown"

    @property
    def is_tcp(self) -> bool:
        # TCP proxy records render the request line as "- - -" (and code 0).
        return self.method is None and self.protocol is None

    @property
    def upstream_service(self) -> UpstreamService | None:
        return parse_cluster_name(self.upstream_cluster)

    @property
    def is_envoy_generated(self) -> bool:
        """Envoy (not the application) decided this response: flags set or non-upstream details."""
        if self.response_flags:
            return True
        d = self.response_code_details
        return d is not None and d != "via_upstream"

    @property
    def app_responded(self) -> bool:
        return self.response_code_details == "via_upstream"


class ProxyEvent(BaseModel):
    """A component log line (pilot-agent, Envoy, ztunnel) worth a check's attention."""

    kind: str
    line_no: int
    raw: str
    detail: str
    level: str | None = None
    timestamp: str | None = None
    #: for ``drain`` lines: drain_start (SIGTERM received), drain_period, drain_complete
    milestone: str | None = None


class ProxyLog(BaseModel):
    entries: list[AccessLogEntry] = Field(default_factory=list)
    events: list[ProxyEvent] = Field(default_factory=list)
    lines_total: int = 0
    # A record is one access-log entry (a pretty-printed JSON record spanning many lines counts
    # once), one component log line, or one line nobody recognised. Invariant checked by tests:
    # len(entries) + len(events) + component_lines + unparsed == records.
    records: int = 0
    component_lines: int = 0  # recognised component log lines that are not events
    continuation_lines: int = 0  # extra lines of multi-line component messages (YAML, PEM)
    unparsed: int = 0
    formats: set[str] = Field(default_factory=set)


class FailureGroup(BaseModel):
    code: int
    flags: list[str]
    details: str | None
    upstream_cluster: str | None
    direction: str
    count: int
    example: AccessLogEntry


# --------------------------------------------------------------------------- helpers

_RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"
# kubectl --timestamps puts one RFC3339Nano timestamp and a single space before each line.
# kubectl --timestamps adds "TS " before the line. A component line whose tabs were turned into
# spaces ("TS info    model ...", as docs and chat paste them) looks the same: a log level right
# after the timestamp means it is the component line itself, not a kubectl prefix.
_KUBECTL_TS = re.compile(
    rf"^({_RFC3339}) (?=\S)(?!(?:debug|info|warn|warning|error|critical|fatal|trace|none)\s)"
)
_ACCESS_START = re.compile(r'^\[(\d{4}-\d\d-\d\dT[^\]]*)\]\s+"')
# A log viewer's prefix before an access line: the container name (docker-compose, the
# reporter's viewer in envoyproxy/ratelimit#296: ``istio-proxy [2021-09-28T14:55:12.134Z] "- - -" ...``),
# stern's ``POD CONTAINER`` or kubectl --prefix's ``[pod/NAME/CONTAINER]``. Only stripped when an
# access line follows, so component lines are never cut.
_VIEWER_PREFIX = re.compile(r'^(?:\[pod/[^\]\s]+\]\s+|(?:[a-z0-9][-a-z0-9.]{0,252}\s+){1,2})(?=\[\d{4}-\d\d-\d\dT[^\]]*\]\s+")')
_ISTIO_COMPONENT = re.compile(
    rf"^(?P<ts>{_RFC3339})\s+(?P<level>debug|info|warn|warning|error|critical|fatal|trace|none)\s+(?P<msg>.*)$",
    re.IGNORECASE,
)
_ENVOY_COMPONENT = re.compile(
    r"^(?:\[Envoy \(Epoch \d+\)\]\s*)?\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\]"
    r"\[\d+\]\[(?P<level>\w+)\]\[(?P<logger>[\w.-]+)\]\s*(?P<msg>.*)$"
)
# ztunnel: "<level> access connection complete src.addr=..." optionally after a timestamp.
_ZTUNNEL = re.compile(
    rf"^(?:(?P<ts>{_RFC3339})\s+)?(?P<level>trace|debug|info|warn|error)\s+access\s+"
    r"(?P<msg>connection (?:complete|opened|closed|failed).*)$"
)
_ZTUNNEL_ERROR = re.compile(r'\berror="([^"]*)"')
_SOURCE_LOC = re.compile(r"\[[^\]\s]+\.(?:cc|h|go|rs):\d+\]\s*")
_TOKEN = re.compile(r'\[[^\]]*\]|"[^"]*"|"[^"]*$|\S+')
_INT = re.compile(r"^\d+$")

# Event patterns, checked in order: the first match names the event. Readiness messages come
# first because their text ("0 rejected") would otherwise look like a NACK.
_EVENT_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("not_ready_no_config", re.compile(r"config not received from (?:XDS server|Pilot|Istiod)", re.I)),
    ("envoy_not_ready_stats", re.compile(r"failed retrieving Envoy stats", re.I)),
    ("not_ready", re.compile(r"Envoy proxy is NOT ready", re.I)),
    ("xds_rejected", re.compile(r"gRPC config for \S+ rejected|config rejected|\bACK ERROR\b|\bNACK\b", re.I)),
    ("xds_stream_closed", re.compile(r"gRPC config stream (?:to \S+ )?closed", re.I)),
    ("tls_error", re.compile(r"TLS error:|CERTIFICATE_VERIFY_FAILED|WRONG_VERSION_NUMBER", re.I)),
    (
        "sds_error",
        re.compile(
            r"cannot load certificate|failed to fetch|secret fetch|"
            r"\b(?:sds|secret|certificate|cert|CSR)\b.*\b(?:fail(?:ed|ure)?|error|unable)\b|"
            r"\b(?:fail(?:ed|ure)?|error|unable)\b.*\b(?:SDS|secret|CSR)\b",
            re.I,
        ),
    ),
    ("warming", re.compile(r"\bwarming\b", re.I)),
    # Lifecycle milestones (pilot-agent, every version since 1.3 unless noted; the timeline reads
    # them): istio/istio@1.22.0:pilot/cmd/pilot-agent/status/server.go "Envoy proxy is ready";
    # pkg/envoy/agent.go "Starting proxy agent", "Envoy exited ...", "Aborted proxy instance"
    # (1.15+; "Aborted all epochs" before), "There are no more active connections. terminating proxy..."
    # (EXIT_ON_ZERO_ACTIVE_CONNECTIONS, 1.12+).
    ("proxy_ready", re.compile(r"\bEnvoy proxy is ready\b")),
    ("agent_start", re.compile(r"\bStarting proxy agent\b")),
    ("proxy_exit", re.compile(r"\bAborted proxy instance\b|\bAborted all epochs\b|\bEnvoy exited\b|"
                              r"There are no more active connections\. terminating proxy")),
    ("drain", re.compile(r"\bdraining\b|graceful termination|\bdrain (?:listeners|connections|proxy)\b", re.I)),
]

# What a "drain" line says about the shutdown (pkg/envoy/agent.go terminate(), 1.5-1.31):
# "Agent draining Proxy" (<= 1.20; "Agent draining Proxy for termination" from 1.21, where "Agent
# draining proxy" is DrainNow, an explicit drain request) is the moment draining began,
# "Graceful termination period is 5s, starting..." names terminationDrainDuration, and
# "Graceful termination period complete, terminating remaining proxies." ends the drain.
_DRAIN_MILESTONES: list[tuple[str, re.Pattern[str]]] = [
    ("drain_start", re.compile(r"Agent draining (?:Proxy|proxy)")),
    ("drain_complete", re.compile(r"Graceful termination period complete")),
    ("drain_period", re.compile(r"Graceful termination period is")),
]

_ACCESS_JSON_KEYS = frozenset(
    {"response_code", "response_flags", "upstream_cluster", "start_time", "upstream_host", "request_id"}
)


def _dash(value: Any) -> str | None:
    """Envoy prints ``-`` for an empty field; JSON may also carry null or numbers."""
    if value is None:
        return None
    s = str(value)
    if s.startswith('"') and s.endswith('"') and len(s) >= 2:
        s = s[1:-1]
    s = s.strip()
    return None if s in ("", "-") else s


def _int(value: Any) -> int | None:
    s = _dash(value)
    if s is None:
        return None
    try:
        return int(s)
    except ValueError:
        try:
            return int(float(s))
        except ValueError:
            return None


def _flags(value: Any) -> list[str]:
    s = _dash(value)
    if s is None:
        return []
    return [f for f in re.split(r"[,\s]+", s) if f and f != "-"]


def parse_cluster_name(name: str | None) -> UpstreamService | None:
    """Split ``outbound|9080|v1|reviews.default.svc.cluster.local``; None for non-Istio names."""
    if not name:
        return None
    parts = name.split("|")
    if len(parts) != 4 or not _INT.match(parts[1]):
        return None
    return UpstreamService(
        direction=parts[0], port=int(parts[1]), subset=parts[2] or None, fqdn=parts[3] or None
    )


def _classify_message(msg: str) -> str | None:
    for kind, pattern in _EVENT_PATTERNS:
        if pattern.search(msg):
            return kind
    return None


# --------------------------------------------------------------------------- TEXT entries


def _parse_text_entry(line: str, line_no: int, raw: str) -> AccessLogEntry | None:
    tokens = _TOKEN.findall(line)
    if len(tokens) < 3 or not tokens[0].startswith("[") or not tokens[1].startswith('"'):
        return None
    code = _int(tokens[2])
    if code is None and tokens[2] != "-":
        return None

    def unq(t: str) -> str:
        return t[1:-1] if len(t) >= 2 and t.startswith('"') and t.endswith('"') else t.lstrip('"')

    start_time = tokens[0][1:-1]
    req = unq(tokens[1]).split()
    method = path = protocol = None
    if len(req) >= 3:
        method, path, protocol = req[0], " ".join(req[1:-1]), req[-1]
    elif len(req) == 2:
        # "GET /HTTP/1.1" (captured 2018 line): an empty/odd path glued to the protocol.
        method = req[0]
        m = re.match(r"^(.*?)(HTTP/\d(?:\.\d)?)$", req[1])
        path, protocol = (m.group(1) or None, m.group(2)) if m else (req[1], None)
    elif len(req) == 1:
        method = req[0]
    method, path, protocol = _dash(method), _dash(path), _dash(protocol)

    rest = tokens[4:] if len(tokens) > 3 else []
    flags = _flags(tokens[3]) if len(tokens) > 3 else []

    # Locate BYTES_RECEIVED BYTES_SENT DURATION: the first run of three bare integers. What sits
    # between the flags and that run identifies the format generation.
    j = None
    for i in range(len(rest) - 2):
        if all(_INT.match(rest[i + k]) for k in range(3)):
            j = i
            break
    pre = rest[:j] if j is not None else rest
    post = rest[j:] if j is not None else []
    quoted_pre = [unq(t) for t in pre if t.startswith('"')]
    bare_pre = [t for t in pre if not t.startswith('"')]

    details = term = failure = policy = None
    if not pre:
        fmt = FMT_TEXT_LEGACY
    elif bare_pre:
        fmt = FMT_TEXT
        details = _dash(bare_pre[0])
        term = _dash(bare_pre[1]) if len(bare_pre) > 1 else None
        failure = _dash(quoted_pre[-1]) if quoted_pre else None
    else:
        fmt = FMT_TEXT_MIXER
        if len(quoted_pre) >= 2:
            policy, failure = _dash(quoted_pre[0]), _dash(quoted_pre[1])
        else:
            policy = _dash(quoted_pre[0])

    entry: dict[str, Any] = {
        "start_time": start_time,
        "method": method,
        "path": path,
        "protocol": protocol,
        "response_code": code or 0,
        "response_flags": flags,
        "response_code_details": details,
        "connection_termination_details": term,
        "upstream_transport_failure_reason": failure,
        "istio_policy_status": policy,
        "format": fmt,
        "line_no": line_no,
        "raw": raw,
    }
    nums = ["bytes_received", "bytes_sent", "duration_ms", "upstream_service_time"]
    quoted = ["x_forwarded_for", "user_agent", "request_id", "authority", "upstream_host"]
    bare = [
        "upstream_cluster",
        "upstream_local_address",
        "downstream_local_address",
        "downstream_remote_address",
        "requested_server_name",
        "route_name",
    ]
    for name, tok in zip(nums + quoted + bare, post, strict=False):
        entry[name] = _int(tok) if name in nums else _dash(unq(tok))
    return AccessLogEntry(**entry)


# --------------------------------------------------------------------------- JSON entries

_JSON_FIELD_MAP = {
    "start_time": "start_time",
    "method": "method",
    "path": "path",
    "protocol": "protocol",
    "response_code_details": "response_code_details",
    "connection_termination_details": "connection_termination_details",
    "upstream_transport_failure_reason": "upstream_transport_failure_reason",
    "x_forwarded_for": "x_forwarded_for",
    "user_agent": "user_agent",
    "request_id": "request_id",
    "authority": "authority",
    "upstream_host": "upstream_host",
    "upstream_cluster": "upstream_cluster",
    "upstream_cluster_raw": "upstream_cluster",
    "upstream_local_address": "upstream_local_address",
    "downstream_local_address": "downstream_local_address",
    "downstream_remote_address": "downstream_remote_address",
    "requested_server_name": "requested_server_name",
    "route_name": "route_name",
    "istio_policy_status": "istio_policy_status",
}
_JSON_INT_MAP = {
    "bytes_received": "bytes_received",
    "bytes_sent": "bytes_sent",
    "duration": "duration_ms",
    "upstream_service_time": "upstream_service_time",
}


def _entry_from_json(obj: dict[str, Any], line_no: int, raw: str, fmt: str) -> AccessLogEntry:
    data: dict[str, Any] = {"line_no": line_no, "raw": raw, "format": fmt}
    extra: dict[str, str] = {}
    for key, value in obj.items():
        if key in _JSON_FIELD_MAP:
            data[_JSON_FIELD_MAP[key]] = _dash(value)
        elif key in _JSON_INT_MAP:
            data[_JSON_INT_MAP[key]] = _int(value)
        elif key == "response_code":
            data["response_code"] = _int(value) or 0
        elif key == "response_flags":
            data["response_flags"] = _flags(value)
        else:
            extra[key] = value if isinstance(value, str) else json.dumps(value)
    data["extra"] = extra
    return AccessLogEntry(**data)


def _json_block_end(lines: list[str], start: int, limit: int = 400) -> int | None:
    """Index of the line closing the JSON object opened on ``lines[start]`` (brace counting)."""
    depth = 0
    in_str = esc = False
    for idx in range(start, min(len(lines), start + limit)):
        for ch in lines[idx]:
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return idx
        # JSON strings cannot span lines; a dangling quote must not poison the next line.
        in_str = esc = False
    return None


# --------------------------------------------------------------------------- main parser


class _State:
    def __init__(self) -> None:
        self.log = ProxyLog()
        self.last_was_component = False
        # Set when a multi-line JSON record consumed lines beyond the current one.
        self.skip_to: int | None = None

    def event(self, kind: str, line_no: int, raw: str, detail: str, level: str | None, ts: str | None) -> None:
        # Drop Envoy's "[source/file.cc:123]" location: it is noise to a reader and differs
        # between builds, while the message after it is what identifies the problem.
        detail = _SOURCE_LOC.sub("", detail).strip()
        milestone = next((m for m, pat in _DRAIN_MILESTONES if pat.search(detail)), None) if kind == "drain" else None
        self.log.events.append(
            ProxyEvent(kind=kind, line_no=line_no, raw=raw, detail=detail, level=level, timestamp=ts, milestone=milestone)
        )


def _handle_component(
    st: _State, msg: str, line_no: int, raw: str, level: str | None, ts: str | None, fmt: str
) -> None:
    """A component log record (pilot-agent, Envoy): an event when its message says something
    a check looks for, otherwise only counted."""
    st.log.records += 1
    _component_message(st, msg, line_no, raw, level, ts, fmt)


def _component_message(
    st: _State, msg: str, line_no: int, raw: str, level: str | None, ts: str | None, fmt: str
) -> None:
    st.log.formats.add(fmt)
    kind = _classify_message(msg)
    if kind:
        st.event(kind, line_no, raw, msg, level, ts)
    else:
        st.log.component_lines += 1
    st.last_was_component = True


def _json_or_none(text: str) -> Any:
    """The decoded JSON, or None when the text is not JSON (a line that only starts with ``{``)."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def _handle_json_obj(st: _State, obj: Any, line_no: int, raw: str, fmt: str) -> None:
    st.log.records += 1
    st.last_was_component = False
    if isinstance(obj, dict) and _ACCESS_JSON_KEYS & obj.keys():
        st.log.entries.append(_entry_from_json(obj, line_no, raw, fmt))
        st.log.formats.add(fmt)
        return
    if isinstance(obj, dict) and isinstance(obj.get("msg"), str):
        # istio components with --log_as_json: {"level":"warn","time":...,"msg":...}
        msg = obj["msg"]
        level = obj.get("level") if isinstance(obj.get("level"), str) else None
        ts = obj.get("time") if isinstance(obj.get("time"), str) else None
        _component_message(st, msg, line_no, raw, level, ts, FMT_ISTIO_COMPONENT)  # counted above
        return
    st.log.unparsed += 1


def parse_proxy_log(text: str) -> ProxyLog:
    """Split an istio-proxy container log into access-log entries and component events."""
    st = _State()
    lines = text.splitlines()
    st.log.lines_total = len(lines)
    i = 0
    while i < len(lines):
        raw = lines[i]
        line_no = i + 1
        i += 1
        try:
            _parse_one(st, lines, raw, line_no)
        except Exception:  # noqa: BLE001 - a log parser must survive any line; count it instead
            st.log.records += 1
            st.log.unparsed += 1
            st.last_was_component = False
        if st.skip_to is not None:
            i, st.skip_to = st.skip_to, None
    return st.log


def _parse_one(st: _State, lines: list[str], raw: str, line_no: int) -> None:
    line = raw.rstrip("\r")
    if not line.strip():
        return
    m = _KUBECTL_TS.match(line)
    if m:
        st.log.formats.add(FMT_KUBECTL_TIMESTAMPS)
        line = line[m.end():]
    stripped = line.strip()
    vp = None if _ACCESS_START.match(stripped) else _VIEWER_PREFIX.match(stripped)
    if vp:
        stripped = stripped[vp.end():]

    if _ACCESS_START.match(stripped):
        entry = _parse_text_entry(stripped, line_no, raw)
        st.log.records += 1
        st.last_was_component = False
        if entry is None:
            st.log.unparsed += 1
        else:
            st.log.entries.append(entry)
            st.log.formats.add(entry.format)
        return

    if stripped.startswith("{"):
        obj = _json_or_none(stripped)
        if obj is not None:
            _handle_json_obj(st, obj, line_no, raw, FMT_JSON)
            return
        # Pretty-printed record: gather lines until the braces balance, then decode once.
        start = line_no - 1
        end = _json_block_end(lines, start)
        if end is not None and end > start:
            block = "\n".join(_KUBECTL_TS.sub("", ln) for ln in lines[start : end + 1])
            obj = _json_or_none(block)
            if obj is not None:
                _handle_json_obj(st, obj, line_no, block, FMT_JSON_MULTILINE)
                st.skip_to = end + 1
                return

    zm = _ZTUNNEL.match(stripped)
    if zm:
        st.log.records += 1
        st.log.formats.add(FMT_ZTUNNEL)
        msg = zm.group("msg")
        err = _ZTUNNEL_ERROR.search(msg)
        st.event("ztunnel_access", line_no, raw, err.group(1) if err else msg, zm.group("level"), zm.group("ts"))
        st.last_was_component = False
        return

    cm = _ISTIO_COMPONENT.match(stripped)
    if cm:
        _handle_component(st, cm.group("msg"), line_no, raw, cm.group("level").lower(), cm.group("ts"), FMT_ISTIO_COMPONENT)
        return
    em = _ENVOY_COMPONENT.match(stripped)
    if em:
        _handle_component(st, em.group("msg"), line_no, raw, em.group("level").lower(), em.group("ts"), FMT_ENVOY_COMPONENT)
        return

    if st.last_was_component:
        # Go/Envoy multi-line messages (mesh config YAML, PEM blocks, proxy structs) continue
        # the previous component record until the next recognisable record start.
        st.log.continuation_lines += 1
        return

    # A bare message pasted without its timestamp can still be a recognisable event.
    kind = _classify_message(stripped)
    st.log.records += 1
    if kind:
        st.event(kind, line_no, raw, stripped, None, None)
    else:
        st.log.unparsed += 1


# --------------------------------------------------------------------------- analysis helpers


def is_failure(entry: AccessLogEntry) -> bool:
    """A request worth explaining: an error status, or Envoy flagged it (incl. TCP code 0)."""
    return entry.response_code >= 400 or bool(entry.response_flags)


def summarize_failures(log: ProxyLog | Iterable[AccessLogEntry]) -> list[FailureGroup]:
    """Group failing entries by (code, flags, details, cluster, direction), most frequent first."""
    entries = log.entries if isinstance(log, ProxyLog) else list(log)
    groups: dict[tuple[Any, ...], FailureGroup] = {}
    for e in entries:
        if not is_failure(e):
            continue
        key = (e.response_code, tuple(e.response_flags), e.response_code_details, e.upstream_cluster, e.direction)
        g = groups.get(key)
        if g is None:
            groups[key] = FailureGroup(
                code=e.response_code,
                flags=list(e.response_flags),
                details=e.response_code_details,
                upstream_cluster=e.upstream_cluster,
                direction=e.direction,
                count=1,
                example=e,
            )
        else:
            g.count += 1
    # Stable: equal counts keep first-seen order, which follows the log.
    return sorted(groups.values(), key=lambda g: -g.count)


def join_by_request_id(
    client: ProxyLog, server: ProxyLog
) -> list[tuple[AccessLogEntry, AccessLogEntry | None]]:
    """Pair each failing client entry with the server-side entry carrying the same x-request-id.

    A failing client line with no server line means the request never reached the server's
    proxy (connection/TLS failure, no endpoint); a server line with ``via_upstream`` means the
    application answered. That is the first fork of every 503 diagnosis (GEN-WHICH-PROXY).
    """
    by_id: dict[str, AccessLogEntry] = {}
    for e in server.entries:
        if not e.request_id:
            continue
        prev = by_id.get(e.request_id)
        # Prefer the server's inbound record over its own outbound calls with a propagated id.
        if prev is None or (prev.direction != "inbound" and e.direction == "inbound"):
            by_id[e.request_id] = e
    out: list[tuple[AccessLogEntry, AccessLogEntry | None]] = []
    for e in client.entries:
        if is_failure(e):
            out.append((e, by_id.get(e.request_id) if e.request_id else None))
    return out


_PREFIX = re.compile(r"^\[pod/(?P<pod>[^/\]]+)/(?P<container>[^\]]+)\] ?")


def parse_prefixed_proxy_logs(text: str) -> dict[str, ProxyLog]:
    """``kubectl logs -l SELECTOR --prefix``: split the lines by their ``[pod/NAME/CONTAINER]``
    tag and parse each pod's lines as its own proxy log. Untagged lines are ignored (kubectl
    prints none; a stand-in might)."""
    by_pod: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = _PREFIX.match(line)
        if m is None:
            continue
        by_pod.setdefault(m.group("pod"), []).append(line[m.end():])
    return {pod: parse_proxy_log("\n".join(lines)) for pod, lines in by_pod.items()}
