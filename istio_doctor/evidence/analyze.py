"""``istioctl analyze`` output -> typed messages, across versions and output formats.

Formats (autodetected):

* ``-o json``: a JSON array of ``{code, level, message, origin, reference, documentationUrl, cluster}``;
* ``-o yaml``: the same objects as a YAML list;
* ``-o log`` (default), one message per line, in every historical shape::

    Error [IST0101] (VirtualService default/bookinfo bookinfo.yaml:41) Referenced host not found: "productpage"
    Warn [IST0102](Namespace default) ...                          (1.4: "Warn", no space)
    Error [IST0101](VirtualService/default/httpbin) ...            (1.4 `x analyze`)
    Error [IST0101] (VirtualService bookinfo.default file:39) ...   (<= 1.9: name.namespace)
    Error [IST0101] Referenced selector not found: ...             (1.3: no origin)
    [cluster-1] Warning [IST0158] (...) ...                        (multicluster)

  with ANSI colours when printed to a TTY, and the stderr lines ``Error: Analyzers found
  issues ...`` / ``See https://...`` / ``✔ No validation issues found ...`` mixed in.

Codes get retired and names are stable, so every message carries both, and lookups accept
either (``msg.is_("IST0101")`` or ``msg.is_("ReferencedResourceNotFound")``).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from istio_doctor.evidence.errors import ParseError

LEVELS = ("Error", "Warning", "Info")

# Kinds without a namespace: in the pre-1.10 ``name.namespace`` form their whole text is the name.
_CLUSTER_SCOPED = {
    "Namespace",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Node",
    "GatewayClass",
    "MeshConfig",
}


class MessageInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    level: str
    description: str = ""
    retired: bool = False


@lru_cache(maxsize=1)
def catalogue() -> dict[str, MessageInfo]:
    """Every known IST code (current and retired) -> its name, level and description."""
    text = resources.files("istio_doctor.evidence").joinpath("data/ist_messages.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)["messages"]
    return {code: MessageInfo(code=code, **entry) for code, entry in raw.items()}


@lru_cache(maxsize=1)
def _by_name() -> dict[str, MessageInfo]:
    return {m.name: m for m in catalogue().values()}


def message_info(code_or_name: str) -> MessageInfo | None:
    return catalogue().get(code_or_name.upper()) or _by_name().get(code_or_name)


class AnalyzeMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    name: str  # "" for a code missing from the catalogue (newer istioctl than this tool)
    level: str  # Error | Warning | Info
    message: str
    origin: str = ""  # as printed, e.g. "VirtualService default/bookinfo"
    origin_kind: str | None = None
    origin_namespace: str | None = None
    origin_name: str | None = None
    reference: str | None = None  # "file.yaml:41" for file inputs
    documentation_url: str | None = None
    cluster: str | None = None
    #: the line as istioctl printed it (log form); "" for JSON/YAML output, which prints no line
    printed: str = ""

    def is_(self, code_or_name: str) -> bool:
        return code_or_name in (self.code, self.name)

    @property
    def origin_ref(self) -> str:
        """``Kind ns/name`` in the current istioctl form, whatever the version printed."""
        if not self.origin_kind:
            return self.origin
        if self.origin_namespace:
            return f"{self.origin_kind} {self.origin_namespace}/{self.origin_name}"
        return f"{self.origin_kind} {self.origin_name}"

    @property
    def as_printed(self) -> str:
        """The message as evidence quotes it: verbatim when istioctl printed a line (its 1.4
        ``Error [IST0101](VirtualService/default/httpbin) ...`` stays as it was), else one line in
        the current log form built from the JSON/YAML fields."""
        return self.printed or f"{self.level} [{self.code}] ({self.origin_ref}) {self.message}"


def find_messages(messages: list[AnalyzeMessage], code_or_name: str) -> list[AnalyzeMessage]:
    """Messages matching a code or a name; a name also finds the code it had in older releases."""
    return [m for m in messages if m.is_(code_or_name)]


def _level(raw: Any, code: str) -> str:
    s = str(raw or "").strip().lower()
    if s in ("error", "err"):
        return "Error"
    if s in ("warning", "warn"):
        return "Warning"
    if s == "info":
        return "Info"
    info = catalogue().get(code)
    return info.level if info else "Warning"


def parse_origin(origin: str) -> tuple[str | None, str | None, str | None, str | None]:
    """``(kind, namespace, name, reference)`` from any historical origin text."""
    origin = origin.strip()
    if not origin:
        return None, None, None, None
    # 1.4 `x analyze`: Kind/ns/name (or Kind/name)
    if " " not in origin and origin.count("/") >= 1:
        parts = origin.split("/")
        if len(parts) == 3:
            return parts[0], parts[1], parts[2], None
        return parts[0], None, parts[1], None
    kind, _, rest = origin.partition(" ")
    ident, _, ref = rest.strip().partition(" ")
    ref_s = ref.strip() or None
    if not ident:
        return kind, None, None, ref_s
    if "/" in ident:
        ns, _, name = ident.partition("/")
        return kind, ns, name, ref_s
    if kind in _CLUSTER_SCOPED or "." not in ident:
        return kind, None, ident, ref_s
    # <= 1.9: name.namespace; namespaces never contain dots, so the last dot separates them.
    name, _, ns = ident.rpartition(".")
    return kind, ns, name, ref_s


def _message(code: str, level: Any, text: str, origin: str = "", reference: str | None = None, url: str | None = None,
             cluster: str | None = None, printed: str = "") -> AnalyzeMessage:
    code = code.upper()
    kind, ns, name, ref = parse_origin(origin)
    info = catalogue().get(code)
    return AnalyzeMessage(
        code=code,
        name=info.name if info else "",
        level=_level(level, code),
        message=text.strip(),
        origin=origin.strip(),
        origin_kind=kind,
        origin_namespace=ns,
        origin_name=name,
        reference=reference or ref,
        documentation_url=url or None,
        cluster=cluster or None,
        printed=printed,
    )


def _from_objects(items: list[Any], command: str) -> list[AnalyzeMessage]:
    out = []
    for i, it in enumerate(items):
        if not isinstance(it, dict) or not isinstance(it.get("code"), str):
            raise ParseError("istioctl analyze output", f"element {i} is not an analysis message (no `code`)", command=command)
        out.append(
            _message(
                it["code"],
                it.get("level"),
                str(it.get("message") or ""),
                origin=str(it.get("origin") or ""),
                reference=it.get("reference") or None,
                url=it.get("documentationUrl") or it.get("documentation_url"),
                cluster=it.get("cluster"),
            )
        )
    return out


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LINE = re.compile(
    r"^(?:\[(?P<cluster>[^\]]+)\]\s*)?"
    r"(?P<level>Error|Warning|Warn|Info)\s*\[(?P<code>IST\d{4})\]\s*"
    r"(?:\((?P<origin>[^)]*)\))?\s*(?P<message>.*)$"
)
_NO_ISSUES = re.compile(r"No validation issues found")
_NOISE = re.compile(r"^(\$ |Error: Analyzers found issues|See https?://|\d+$|Info: |Warning: |Skipping analysis)")


def parse_analyze(text: str, *, command: str = "") -> list[AnalyzeMessage]:
    """All messages in ``istioctl analyze`` output (JSON, YAML or log form).

    Empty output is an empty list (current istioctl prints "No validation issues" to stderr,
    leaving stdout empty). Output that has content but no recognisable message, no
    "no issues" line and no known noise raises ``ParseError``: an unknown format must never
    read as a clean bill of health.
    """
    clean = _ANSI.sub("", text).strip()
    if not clean:
        return []
    if clean[0] in "[{" and not _LINE.match(clean.splitlines()[0]):
        try:
            data = json.loads(clean)
        except json.JSONDecodeError as e:
            raise ParseError("istioctl analyze JSON", f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", command=command) from e
        return _from_document(data, "istioctl analyze JSON", "an array", command)
    if clean.startswith("- ") or clean.startswith("-\n") or clean.startswith("code:"):
        try:
            data = yaml.safe_load(clean)
        except yaml.YAMLError as e:
            raise ParseError("istioctl analyze YAML", f"invalid YAML: {str(e).splitlines()[0]}", command=command) from e
        return _from_document(data, "istioctl analyze YAML", "a list", command)
    return _parse_log(clean, command)


def _from_document(data: Any, what: str, sequence: str, command: str) -> list[AnalyzeMessage]:
    """The messages of a decoded ``-o json``/``-o yaml`` document: a list of message objects,
    or one object on its own."""
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ParseError(what, f"expected {sequence} of messages", command=command)
    return _from_objects(data, command)


def _parse_log(text: str, command: str) -> list[AnalyzeMessage]:
    out: list[AnalyzeMessage] = []
    recognised = False
    unknown: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m:
            recognised = True
            out.append(_message(m["code"], m["level"], m["message"], origin=m["origin"] or "", cluster=m["cluster"], printed=line))
            continue
        if re.search(r"\bIST\d{4}\b", line):
            raise ParseError("istioctl analyze output", f"unrecognised message line: {line[:120]!r}", command=command)
        if _NO_ISSUES.search(line):
            recognised = True
            continue
        if _NOISE.match(line):
            continue
        unknown.append(line)
    if not recognised and unknown:
        raise ParseError("istioctl analyze output", f"no analysis message found; first line: {unknown[0][:120]!r}", command=command)
    return out


def messages_from_status(status: dict[str, Any], *, kind: str = "", namespace: str | None = None, name: str = "") -> list[AnalyzeMessage]:
    """Messages istiod's in-cluster analysis wrote into a resource's ``status.validationMessages``.

    Three shapes exist: 1.4 ``{code, level, message}``; 1.9 ``{documentation_url, type: {code}}``;
    current ``{documentationUrl, level: ERROR, type: {code}}`` (no message text in the last two).
    """
    origin = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}".strip()
    out = []
    for vm in status.get("validationMessages") or []:
        if not isinstance(vm, dict):
            continue
        t = vm.get("type") if isinstance(vm.get("type"), dict) else {}
        code = vm.get("code") or t.get("code")
        if not isinstance(code, str):
            continue
        info = catalogue().get(code.upper())
        text = vm.get("message") or (info.description if info else "")
        out.append(_message(code, vm.get("level"), str(text), origin=origin, url=vm.get("documentationUrl") or vm.get("documentation_url")))
    return out
