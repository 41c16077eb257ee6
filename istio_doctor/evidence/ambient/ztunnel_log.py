"""ztunnel logs: access lines and component lines, in every format ztunnel has printed.

Formats (istio/ztunnel source, ``src/telemetry.rs``):

* **istio** (1.22+, ``IstioFormat``, commit cffc7d6 "Move log format to standard Istio
  format"): ``<time>\\t<level>\\t<target>[:<span>{fields}]\\t<message>\\t<k=v k=v …>``, the
  ``ztunnel::`` prefix stripped from the target, values in Rust ``Debug`` form (strings quoted).
  Real captures also show it with the tabs turned into spaces, without the time (``kubectl
  logs`` piped through tools), without the level, after a pod-name or ``[pod/…]`` prefix, and
  after a log shipper's ``<time> | `` prefix.
* **json** (``IstioJsonFormat``): ``{"level":…,"time":…,"scope":"ztunnel::…","message":…,
  "src.addr":…}``; spans are nested objects (``"outbound":{"id":…}``).
* **legacy** (≤ 1.21, tracing's default formatter): ``<time>  WARN outbound{id=…}:
  ztunnel::proxy::outbound: failed dur=… err=…``; no ``access`` target existed yet, the
  outbound result line (``complete`` / ``failed … err=``) plays its part.

Access lines (target ``access``, ``src/proxy/metrics.rs``): ``connection complete`` at info or
error (with ``error="…"``), ``connection opened`` at debug, ``connection failed`` at warn for
early rejections. ``src.identity``/``dst.identity`` appear only for mTLS connections, so an
inbound line without ``src.identity`` came from a plaintext (non-mesh) client.

Every ``error=`` text is classified by its prefix (:func:`classify_error`), from the error enum
of ``src/proxy.rs`` (``#[error(…)]``) at istio/ztunnel@62d8265, and 1.22/1.23 strings that
were removed since (``unknown destination``).
"""

from __future__ import annotations

import json
import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from istio_doctor.evidence.ambient.logline import KUBECTL_POD_PREFIX, TS, first_match

__all__ = ["ErrorKind", "ZtunnelLog", "ZtunnelLogLine", "classify_error", "parse_ztunnel_log"]

FMT_ISTIO = "istio"
FMT_JSON = "json"
FMT_LEGACY = "legacy"


class ErrorKind(StrEnum):
    """What an ztunnel error text means (the b.0 table of the ambient catalogue)."""

    NETPOL_HBONE = "netpol_hbone"  # connection timed out, maybe a NetworkPolicy is blocking HBONE port 15008
    DEADLINE = "deadline"  # io error: deadline has elapsed (no answer at all)
    REFUSED = "refused"  # Connection refused (os error 111)
    RESET = "reset"  # Connection reset by peer (os error 104)
    STATIC_STRICT = "static_strict"  # explicitly denied by: istio-system/istio_converted_static_strict
    DENIED = "denied"  # explicitly denied by: <ns>/<policy>
    NOT_ALLOWED = "not_allowed"  # allow policies exist, but none allowed
    POLICY_CHANGED = "policy_changed"  # connection closed due to policy change
    IDENTITY = "identity"  # identity error: … (certificate could not be fetched)
    TLS_TRUST = "tls_trust"  # invalid peer certificate: UnknownIssuer/BadSignature, CERTIFICATE_VERIFY_FAILED
    TLS = "tls"  # any other tls error
    LOCAL_WORKLOAD_UNKNOWN = "local_workload_unknown"  # failed to fetch information about local workload
    XDS_WORKLOAD_TIMEOUT = "xds_workload_timeout"  # timed out waiting for workload '…' from xds
    UNKNOWN_DESTINATION = "unknown_destination"  # unknown destination: / is not a known destination (≤1.23)
    UNKNOWN_WAYPOINT = "unknown_waypoint"
    NO_HEALTHY_UPSTREAM = "no_healthy_upstream"
    HBONE_HANDSHAKE = "hbone_handshake"  # http2 handshake failed / Error in HBONE connection handshake
    DRAIN = "drain"  # connection closed due to connection drain / pool draining / failed to drain
    DNS_BIND = "dns_bind"  # failed to bind to address [::1]:15053 / Bind([::1]:15053, …)
    PROXY_START = "proxy_start"  # inpod: failed to start proxy (any other reason)
    OTHER = "other"


# Order matters: the first match wins (a NetworkPolicy timeout also says "deadline has elapsed").
_KINDS: list[tuple[re.Pattern[str], ErrorKind]] = [
    (re.compile(r"maybe a NetworkPolicy is blocking HBONE port 15008"), ErrorKind.NETPOL_HBONE),
    (re.compile(r"explicitly denied by: [^/\s]+/istio_converted_static_strict"), ErrorKind.STATIC_STRICT),
    (re.compile(r"explicitly denied by: "), ErrorKind.DENIED),
    (re.compile(r"allow policies exist, but none allowed"), ErrorKind.NOT_ALLOWED),
    (re.compile(r"connection closed due to policy change"), ErrorKind.POLICY_CHANGED),
    (re.compile(r"^identity error:|\bidentity error: "), ErrorKind.IDENTITY),
    (re.compile(r"UnknownIssuer|BadSignature|CERTIFICATE_VERIFY_FAILED|unable to get (local )?issuer certificate"),
     ErrorKind.TLS_TRUST),
    (re.compile(r"failed to fetch information about local workload"), ErrorKind.LOCAL_WORKLOAD_UNKNOWN),
    (re.compile(r"timed out waiting for workload\b.*from xds"), ErrorKind.XDS_WORKLOAD_TIMEOUT),
    (re.compile(r"unknown destination: |is not a known destination"), ErrorKind.UNKNOWN_DESTINATION),
    (re.compile(r"unknown waypoint: "), ErrorKind.UNKNOWN_WAYPOINT),
    (re.compile(r"no healthy upstream"), ErrorKind.NO_HEALTHY_UPSTREAM),
    (re.compile(r"http2 handshake failed|Error in HBONE connection handshake"), ErrorKind.HBONE_HANDSHAKE),
    (re.compile(r"connection closed due to connection drain|pool draining|connection failed to drain"), ErrorKind.DRAIN),
    (re.compile(r"\[::1\]:15053"), ErrorKind.DNS_BIND),
    (re.compile(r"failed to start proxy"), ErrorKind.PROXY_START),
    (re.compile(r"os error 111|Connection refused"), ErrorKind.REFUSED),
    (re.compile(r"os error 104|Connection reset by peer"), ErrorKind.RESET),
    (re.compile(r"deadline has elapsed|timed out"), ErrorKind.DEADLINE),
    (re.compile(r"^tls |tls error|tls handshake failed"), ErrorKind.TLS),
]


def classify_error(text: str) -> ErrorKind:
    hit = first_match(_KINDS, text)
    return hit[0] if hit is not None else ErrorKind.OTHER


_POLICY_NAME = re.compile(r"explicitly denied by: (?P<ns>[^/\s]+)/(?P<name>[^\s\"]+)")


class ZtunnelLogLine(BaseModel):
    """One log record (ours: the fields checks read and the raw line they quote)."""

    model_config = ConfigDict(extra="forbid")

    line_no: int
    raw: str
    format: str
    #: the ztunnel pod, when a prefix names it (``[pod/ztunnel-x/…]`` or ``ztunnel-x <time>``)
    pod: str = ""
    time: str = ""
    #: lower case: trace | debug | info | warn | error ("" when the line has none)
    level: str = ""
    #: ``access``, ``proxy::inbound``, ``inpod::statemanager``… (``ztunnel::`` stripped)
    target: str = ""
    spans: str = ""
    message: str = ""
    fields: dict[str, str] = Field(default_factory=dict)
    #: classification of the error text this line carries (``""`` when it carries none)
    error_kind: str = ""

    @property
    def is_access(self) -> bool:
        return self.target == "access" or (self.format == FMT_LEGACY and self.target in ("proxy::outbound", "proxy::inbound")
                                            and self.message in ("complete", "failed"))

    @property
    def error(self) -> str:
        """The error this line reports: the access ``error=`` field (``err=`` in legacy lines), or
        the message of an error/warn component line."""
        e = self.fields.get("error") or self.fields.get("err")
        if e:
            return e
        if not self.is_access and self.level in ("error", "warn") and self.error_kind:
            return self.message
        return ""

    @property
    def direction(self) -> str:
        d = self.fields.get("direction", "")
        if not d and self.format == FMT_LEGACY:
            d = "outbound" if "outbound" in (self.spans + self.target) else "inbound" if "inbound" in (self.spans + self.target) else ""
        return d

    def field(self, name: str) -> str:
        return self.fields.get(name, "")

    @property
    def duration_ms(self) -> float | None:
        d = self.fields.get("duration") or self.fields.get("dur") or ""
        m = re.match(r"^([\d.]+)(ms|s|µs|us|ns)$", d)
        if not m:
            return None
        v = float(m.group(1))
        return v * {"ms": 1, "s": 1000, "µs": 0.001, "us": 0.001, "ns": 1e-6}[m.group(2)]

    @property
    def denied_by(self) -> tuple[str, str] | None:
        """``(namespace, policy)`` named by an ``explicitly denied by`` rejection."""
        m = _POLICY_NAME.search(self.error)
        return (m.group("ns"), m.group("name")) if m else None

    @property
    def workload_in_error(self) -> str:
        """The ``'<name>.<ns> (<pod>)'`` / ``name.ns (pod)`` a workload-timeout line names."""
        m = re.search(r"workload '?(?P<w>[^'\s]+ \([^)]+\))'?", self.message + " " + self.error)
        return m.group("w") if m else ""

    @property
    def failed(self) -> bool:
        return bool(self.error) or (self.is_access and self.level in ("error", "warn"))


class ZtunnelLog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[ZtunnelLogLine] = []
    formats: list[str] = []
    #: lines that are not log records but were recognised (startup config, prompts, elisions)
    other: int = 0
    #: line numbers of lines that matched no format
    unparsed: list[int] = []

    @property
    def access(self) -> list[ZtunnelLogLine]:
        return [ln for ln in self.lines if ln.is_access]

    def errors(self, *kinds: ErrorKind) -> list[ZtunnelLogLine]:
        want = {k.value for k in kinds}
        return [ln for ln in self.lines if ln.error_kind and (not want or ln.error_kind in want)]


# -- line grammar ----------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TS = TS
_POD_PREFIX = re.compile(rf"^(?P<pod>[a-z0-9][-a-z0-9.]*[a-z0-9])\s+(?={_TS})")
_SHIPPER_PREFIX = re.compile(rf"^{_TS}\s+\|\s+")
_KUBECTL_TS = re.compile(rf"^(?P<ts>{_TS})\s+(?={_TS})")
_LEGACY = re.compile(
    rf"^(?P<ts>{_TS})\s+(?P<level>TRACE|DEBUG|INFO|WARN|ERROR)\s+(?:(?P<spans>.*?):\s+)?(?P<target>ztunnel::[\w:]+):\s+(?P<rest>.*)$"
)
_SPAN = r"(?::[a-z_][\w]*(?:\{[^{}]*\})?)"
_TARGET = rf"(?P<target>[a-z_][\w-]*(?:::[\w-]+)*(?:\{{[^{{}}]*\}})?{_SPAN}*)"
_ISTIO = re.compile(rf"^(?:(?P<ts>{_TS})\s+)?(?:(?P<level>trace|debug|info|warn|warning|error)\s+)?{_TARGET}(?:\t|\s{{2,}}|\s(?=\S))(?P<rest>.*)$")
_KNOWN_TOP = frozenset({"access", "state", "xds", "dns", "proxy", "inpod", "app", "admin", "readiness", "identity",
                        "telemetry", "signal", "config", "socket", "hyper_util", "tls", "cert_fetcher", "strng", "metrics"})
# a quoted value may be cut short by an excerpt (no closing quote): it then runs to the line end
_FIELD = re.compile(r'(?P<k>[a-z_][\w.]*)=(?P<v>"(?:[^"\\]|\\.)*(?:"|$)|\S+)')
_FIELD_START = re.compile(r'(?:^|\s)(?=[a-z_][\w.]*=(?:"|\S))')
_CONFIG_LINE = re.compile(r"^[a-z_][\w]*: \S")
_NOISE = re.compile(r"^\s*(\$ |# |Found \d+ pods|--snip--|\.\.\.\s*$)")


def _unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        try:
            return str(json.loads(v))
        except ValueError:
            return v[1:-1]
    if v.startswith('"'):
        return v[1:]
    return v


def _split_message_fields(rest: str) -> tuple[str, dict[str, str]]:
    """``message<TAB>k=v k="v w"`` (or with the tab turned into spaces)."""
    if "\t" in rest:
        msg, _, tail = rest.partition("\t")
        msg = msg.strip()
    else:
        m = _FIELD_START.search(rest)
        # a message never starts with k=v: a line that does carries fields only
        if m is None:
            return rest.strip(), {}
        msg, tail = rest[: m.start()].strip(), rest[m.start() :]
    fields = {fm.group("k"): _unquote(fm.group("v")) for fm in _FIELD.finditer(tail)}
    if not fields and tail.strip():
        msg = (msg + " " + tail.strip()).strip()
    return msg, fields


def _legacy_fields(rest: str) -> tuple[str, dict[str, str]]:
    """tracing's default: ``message k=v k=v``; the last field (``err=``) runs to the line end."""
    starts = [m.start() for m in re.finditer(r"(?:(?<=\s)|^)[a-z_][\w.]*=", rest)]
    if not starts:
        return rest.strip(), {}
    msg = rest[: starts[0]].strip()
    fields: dict[str, str] = {}
    # values are Display (unquoted) and may contain spaces; only `err=` does in practice, and it is last
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(rest)
        k, _, v = rest[s:end].partition("=")
        if k == "err":
            fields[k] = rest[s + 4 :].strip()
            break
        fields[k] = _unquote(v.strip())
    return msg, fields


def _parse_json(obj: dict[str, object], line_no: int, raw: str, pod: str) -> ZtunnelLogLine:
    fields: dict[str, str] = {}
    spans: list[str] = []
    for k, v in obj.items():
        if k in ("level", "time", "scope", "message"):
            continue
        if isinstance(v, dict):
            spans.append(k + "{" + " ".join(f"{a}={b}" for a, b in v.items()) + "}")
        else:
            fields[k] = v if isinstance(v, str) else json.dumps(v)
    target = str(obj.get("scope") or "").removeprefix("ztunnel::")
    level = str(obj.get("level") or "").lower()
    line = ZtunnelLogLine(line_no=line_no, raw=raw, format=FMT_JSON, pod=pod, time=str(obj.get("time") or ""),
                          level="warn" if level == "warning" else level, target=target, spans=":".join(spans),
                          message=str(obj.get("message") or ""), fields=fields)
    return _classified(line)


def _classified(line: ZtunnelLogLine) -> ZtunnelLogLine:
    text = line.fields.get("error") or line.fields.get("err") or ""
    if not text and line.level in ("error", "warn"):
        text = line.message
    if not text and "timed out waiting for workload" in line.message:
        text = line.message  # the level is missing in some real captures
    if text:
        line.error_kind = classify_error(text).value
    return line


def _strip_prefixes(line: str) -> tuple[str, str]:
    pod = ""
    m = KUBECTL_POD_PREFIX.match(line)
    if m:
        pod, line = m.group("pod"), line[m.end() :]
    m = _SHIPPER_PREFIX.match(line)
    if m:
        line = line[m.end() :]
    m = _KUBECTL_TS.match(line)  # kubectl logs --timestamps
    if m:
        line = line[m.end() :]
    m = _POD_PREFIX.match(line)
    if m and not pod:
        pod, line = m.group("pod"), line[m.end() :]
    return pod, line


def parse_line(raw: str, line_no: int) -> ZtunnelLogLine | None:
    """One line, or None when it is no ztunnel log record."""
    text = _ANSI.sub("", raw).rstrip("\r\n")
    pod, body = _strip_prefixes(text.strip(" "))
    if body.startswith("{"):
        try:
            obj = json.loads(body)
        except ValueError:
            return None
        return _parse_json(obj, line_no, raw, pod) if isinstance(obj, dict) and "message" in obj else None
    m = _LEGACY.match(body)
    if m:
        msg, fields = _legacy_fields(m.group("rest"))
        return _classified(ZtunnelLogLine(
            line_no=line_no, raw=raw, format=FMT_LEGACY, pod=pod, time=m.group("ts"), level=m.group("level").lower(),
            target=m.group("target").removeprefix("ztunnel::"), spans=(m.group("spans") or "").strip(), message=msg,
            fields=fields))
    m = _ISTIO.match(body)
    if m:
        target = m.group("target")
        top = target.split(":", 1)[0].split("{", 1)[0]
        if not (m.group("ts") or m.group("level")) and top not in _KNOWN_TOP:
            return None
        base, _, spans = target.partition(":") if "::" not in target else _split_target(target)
        msg, fields = _split_message_fields(m.group("rest"))
        level = (m.group("level") or "").lower()
        return _classified(ZtunnelLogLine(
            line_no=line_no, raw=raw, format=FMT_ISTIO, pod=pod, time=m.group("ts") or "",
            level="warn" if level == "warning" else level, target=base, spans=spans, message=msg, fields=fields))
    return None


def _split_target(target: str) -> tuple[str, str, str]:
    """``proxy::h2::client:proxy{wl=…}:outbound{id=…}`` -> (``proxy::h2::client``, ':', spans)."""
    i = 0
    while i < len(target):
        if target[i] == "{":
            break
        if target[i] == ":" and target[i : i + 2] != "::" and (i == 0 or target[i - 1] != ":"):
            return target[:i], ":", target[i + 1 :]
        i += 2 if target[i : i + 2] == "::" else 1
    return target, "", ""


def parse_ztunnel_log(text: str) -> ZtunnelLog:
    log = ZtunnelLog()
    formats: list[str] = []
    for i, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        rec = parse_line(raw, i)
        if rec is not None:
            log.lines.append(rec)
            if rec.format not in formats:
                formats.append(rec.format)
            continue
        stripped = raw.strip()
        if _NOISE.match(stripped) or _CONFIG_LINE.match(stripped):
            log.other += 1
        else:
            log.unparsed.append(i)
    log.formats = formats
    return log
