"""Parse ``istioctl proxy-status`` in every format it has printed since Istio 1.0.

``proxy-status`` is the only cheap fleet-wide view of xDS health: which proxies are connected
to which istiod, and whether each config type was ACKed (SYNCED), never sent (NOT SENT), sent
but not ACKed (STALE) or NACKed (ERROR). Its format changed many times (PROXY→NAME,
PILOT→ISTIOD, +CLUSTER, +ECDS, the 1.27 ``SUBSCRIBED TYPES`` default, ``-o json|yaml`` in
1.30), and a diagnosis must read whatever the user's istioctl prints. Tables are parsed by
header name and column offset (Go tabwriter output; cells contain single spaces such as
``NOT SENT``), JSON/YAML as the xDS ``DiscoveryResponse`` istioctl dumps once per istiod.

``parse_proxy_status_diff`` reads the single-pod form (``istioctl proxy-status <pod>``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from pydantic import BaseModel, Field

from istio_doctor.evidence.errors import ParseError

__all__ = [
    "ProxyStatusDiff",
    "ProxyStatusRow",
    "normalize_status",
    "parse_proxy_status",
    "parse_proxy_status_diff",
]

XDS_TYPES = ("cds", "lds", "eds", "rds", "ecds")

# typeUrl suffix -> short xDS name, as istioctl abbreviates them in SUBSCRIBED TYPES.
_TYPE_URLS = {
    "envoy.config.cluster.v3.Cluster": "cds",
    "envoy.config.listener.v3.Listener": "lds",
    "envoy.config.endpoint.v3.ClusterLoadAssignment": "eds",
    "envoy.config.route.v3.RouteConfiguration": "rds",
    "envoy.config.core.v3.TypedExtensionConfig": "ecds",
}


class ProxyStatusRow(BaseModel):
    name: str  # as printed: "<pod>.<namespace>" (synthetic names in goldens have no dot)
    pod: str
    namespace: str | None = None
    cluster: str | None = None
    # Normalised status words: SYNCED, STALE, NOT SENT, IGNORED, ERROR (others kept upper-cased).
    # None means the column is absent from this format (not that the type is unhealthy).
    cds: str | None = None
    lds: str | None = None
    eds: str | None = None
    rds: str | None = None
    ecds: str | None = None
    # Parenthesised suffix per type: "50%" (1.1-1.2 EDS coverage) or an age such as "5m".
    status_suffix: dict[str, str] = Field(default_factory=dict)
    istiod: str | None = None
    istiod_version: str | None = None  # JSON/YAML only: from controlPlane.identifier
    version: str | None = None
    subscribed_types: list[str] | None = None  # upper-case short names; None if not printed
    proxy_type: str | None = None  # "sidecar" / "router" / ... from a JSON node id
    source_format: str  # "table:<header>", "table:inferred", "json", "yaml"

    def status(self, xds_type: str) -> str | None:
        return getattr(self, xds_type.lower())

    @property
    def not_synced(self) -> dict[str, str]:
        """Types whose status shows a problem (STALE/ERROR/unknown word); NOT SENT is normal."""
        out: dict[str, str] = {}
        for t in XDS_TYPES:
            s = getattr(self, t)
            if s is not None and s not in ("SYNCED", "NOT SENT", "IGNORED"):
                out[t] = s
        return out


class ProxyStatusDiff(BaseModel):
    clusters_match: bool | None = None
    listeners_match: bool | None = None
    routes_match: bool | None = None
    rds_last_loaded: str | None = None
    diff_text: str | None = None


_STATUS_RE = re.compile(r"^\s*([A-Za-z_ ]+?)\s*(?:\(([^)]*)\))?\s*$")


def normalize_status(cell: str | None) -> tuple[str | None, str | None]:
    """``"SYNCED (50%)"`` → (``SYNCED``, ``50%``); ``NOT_SENT`` → ``NOT SENT``; blank → None."""
    if cell is None:
        return None, None
    cell = cell.strip()
    if not cell or cell == "-":
        return None, None
    m = _STATUS_RE.match(cell)
    if not m:
        return cell.upper(), None
    word = re.sub(r"[\s_]+", " ", m.group(1).strip().upper())
    return word, (m.group(2).strip() if m.group(2) else None)


def _split_name(name: str) -> tuple[str, str | None]:
    # Namespaces cannot contain dots, so the last dot separates pod and namespace.
    if "." in name:
        pod, ns = name.rsplit(".", 1)
        return pod, ns or None
    return name, None


def _subscribed(cell: str | None) -> list[str] | None:
    if cell is None:
        return None
    cell = cell.strip()
    m = re.match(r"^(\d+)\s*(?:\(([^)]*)\))?$", cell)
    if not m:
        return None
    if not m.group(2):
        return []
    return [t.strip().upper() for t in m.group(2).split(",") if t.strip()]


# --------------------------------------------------------------------------- tables

_HEADER_ALIASES = {
    "PROXY": "name",
    "NAME": "name",
    "CLUSTER": "cluster",
    "CDS": "cds",
    "LDS": "lds",
    "EDS": "eds",
    "RDS": "rds",
    "ECDS": "ecds",
    "PILOT": "istiod",
    "ISTIOD": "istiod",
    "VERSION": "version",
    "SUBSCRIBED TYPES": "subscribed",
}

# Layouts assumed for header-less excerpts (e.g. `istioctl ps | grep app`), by cell count.
# Nine cells is ambiguous between the ≤1.26 default and the 1.27+ verbose order; the default
# (CDS LDS EDS RDS ECDS) is what people grep, so it wins.
_INFERRED_LAYOUTS = {
    9: ["name", "cluster", "cds", "lds", "eds", "rds", "ecds", "istiod", "version"],
    8: ["name", "cluster", "cds", "lds", "eds", "rds", "istiod", "version"],
    7: ["name", "cds", "lds", "eds", "rds", "istiod", "version"],
    5: ["name", "cluster", "istiod", "version", "subscribed"],
}

_KNOWN_STATUS = re.compile(r"^(SYNCED|STALE|NOT[ _]SENT|IGNORED|ERROR|NACKED)\b")


def _header_columns(line: str) -> list[tuple[str, int]] | None:
    cols = [(m.group(0).strip(), m.start()) for m in re.finditer(r"\S+(?: \S+)*", line)]
    names = [c for c, _ in cols]
    if not names or names[0] not in ("NAME", "PROXY"):
        return None
    if not any(n in ("CDS", "SUBSCRIBED TYPES", "ISTIOD", "PILOT") for n in names):
        return None
    return cols


def _cells_by_offsets(row: str, cols: list[tuple[str, int]]) -> list[str]:
    out = []
    for i, (_, start) in enumerate(cols):
        end = cols[i + 1][1] if i + 1 < len(cols) else len(row)
        out.append(row[start:end].strip() if start < len(row) else "")
    return out


def _row_from_cells(keys: list[str], cells: list[str], source: str) -> ProxyStatusRow | None:
    values = dict(zip(keys, cells, strict=False))
    name = values.get("name", "").strip()
    if not name:
        return None
    pod, ns = _split_name(name)
    data: dict[str, Any] = {"name": name, "pod": pod, "namespace": ns, "source_format": source}
    suffixes: dict[str, str] = {}
    for key, cell in values.items():
        if key in XDS_TYPES:
            word, suffix = normalize_status(cell)
            data[key] = word
            if suffix:
                suffixes[key] = suffix
        elif key == "subscribed":
            data["subscribed_types"] = _subscribed(cell)
        elif key in ("cluster", "istiod", "version"):
            data[key] = cell.strip() or None
    data["status_suffix"] = suffixes
    return ProxyStatusRow(**data)


def _parse_table(text: str) -> list[ProxyStatusRow]:
    lines = text.splitlines()
    rows: list[ProxyStatusRow] = []
    header_seen = False
    i = 0
    while i < len(lines):
        cols = _header_columns(lines[i].rstrip())
        if cols is None:
            i += 1
            continue
        header_seen = True
        keys = [_HEADER_ALIASES.get(name, name.lower()) for name, _ in cols]
        source = "table:" + " ".join(name for name, _ in cols)
        i += 1
        while i < len(lines) and lines[i].strip():
            row_line = lines[i].rstrip()
            if _header_columns(row_line) is not None:
                break
            cells = re.split(r"\s{2,}", row_line.strip())
            if len(cells) != len(keys):
                # An empty cell (blank CLUSTER) or an odd paste: fall back to column offsets.
                cells = _cells_by_offsets(row_line, cols)
            row = _row_from_cells(keys, cells, source)
            if row is not None:
                rows.append(row)
            i += 1
    if header_seen:
        return rows
    # Header-less excerpt: accept only lines whose shape fits a known layout.
    for line in lines:
        cells = re.split(r"\s{2,}", line.strip())
        keys = _INFERRED_LAYOUTS.get(len(cells))
        if keys is None:
            continue
        status_idx = [k for k, key in enumerate(keys) if key in XDS_TYPES]
        if status_idx and not all(_KNOWN_STATUS.match(cells[k]) for k in status_idx):
            continue
        if not status_idx and _subscribed(cells[-1]) is None:
            continue
        row = _row_from_cells(keys, cells, "table:inferred")
        if row is not None:
            rows.append(row)
    if not rows:
        raise ParseError("proxy-status output", "no NAME/PROXY header line and no row of a known layout")
    return rows


# --------------------------------------------------------------------------- JSON / YAML


def _rows_from_response(doc: Any, source: str) -> list[ProxyStatusRow]:
    if not isinstance(doc, dict):
        raise ParseError("proxy-status output", f"expected a DiscoveryResponse object, got {type(doc).__name__}")
    istiod = istiod_version = None
    ident = (doc.get("controlPlane") or {}).get("identifier") if isinstance(doc.get("controlPlane"), dict) else None
    if isinstance(ident, str) and ident.strip():
        # controlPlane.identifier is itself a JSON document serialised into a string.
        try:
            info = json.loads(ident)
        except ValueError:
            info = None
        if isinstance(info, dict):
            istiod = info.get("ID") or None
            ver = (info.get("Info") or {}).get("version") if isinstance(info.get("Info"), dict) else None
            istiod_version = ver or None
        else:
            istiod = ident
    rows: list[ProxyStatusRow] = []
    for res in doc.get("resources") or []:
        if not isinstance(res, dict):
            continue
        node = res.get("node") or {}
        meta = node.get("metadata") or {}
        node_id = str(node.get("id") or "")
        proxy_type = None
        name = node_id
        parts = node_id.split("~")
        if len(parts) == 4:  # sidecar~10.1.2.3~pod.ns~ns.svc.cluster.local
            proxy_type, name = parts[0], parts[2]
        pod, ns = _split_name(name)
        ns = meta.get("NAMESPACE") or ns
        data: dict[str, Any] = {
            "name": name,
            "pod": pod,
            "namespace": ns,
            "cluster": meta.get("CLUSTER_ID") or None,
            "version": meta.get("ISTIO_VERSION") or None,
            "istiod": istiod,
            "istiod_version": istiod_version,
            "proxy_type": proxy_type,
            "source_format": source,
        }
        subscribed: list[str] = []
        for cfg in res.get("genericXdsConfigs") or res.get("generic_xds_configs") or []:
            if not isinstance(cfg, dict):
                continue
            url = str(cfg.get("typeUrl") or cfg.get("type_url") or "")
            short = _TYPE_URLS.get(url.rsplit("/", 1)[-1])
            if short is None:
                continue
            subscribed.append(short.upper())
            word, _ = normalize_status(str(cfg.get("configStatus") or cfg.get("config_status") or "") or None)
            data[short] = word
        data["subscribed_types"] = subscribed
        rows.append(ProxyStatusRow(**data))
    return rows


def _parse_json(text: str) -> list[ProxyStatusRow]:
    decoder = json.JSONDecoder()
    pos = 0
    rows: list[ProxyStatusRow] = []
    # istioctl prints one DiscoveryResponse per istiod, concatenated without a separator.
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except ValueError as exc:
            raise ParseError("proxy-status JSON", str(exc)) from None
        if isinstance(doc, list):
            for d in doc:
                rows.extend(_rows_from_response(d, "json"))
        else:
            rows.extend(_rows_from_response(doc, "json"))
    return rows


def _parse_yaml(text: str) -> list[ProxyStatusRow]:
    if not re.search(r"^---\s*$", text, re.M) and len(re.findall(r"^controlPlane:", text, re.M)) > 1:
        # Documents printed back to back without "---": keys are sorted, so every document
        # starts with its top-level controlPlane key.
        text = re.sub(r"^(?=controlPlane:)", "---\n", text, flags=re.M)
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ParseError("proxy-status YAML", str(exc).splitlines()[0]) from None
    rows: list[ProxyStatusRow] = []
    for doc in docs:
        rows.extend(_rows_from_response(doc, "yaml"))
    return rows


def parse_proxy_status(text: str) -> list[ProxyStatusRow]:
    """Rows of ``istioctl proxy-status`` (any table generation, ``-o json`` or ``-o yaml``)."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        if stripped.startswith(("{", "[")):
            return _parse_json(stripped)
        if re.search(r"^(controlPlane|resources|versionInfo|typeUrl):", stripped, re.M):
            return _parse_yaml(stripped)
    except (TypeError, AttributeError, ValueError) as exc:
        # A structured document whose fields have the wrong types (a number where a list or
        # a string belongs): unreadable output, not a crash (tests/test_fuzz.py).
        if isinstance(exc, ParseError):
            raise
        raise ParseError("proxy-status", f"unexpected document shape: {str(exc).splitlines()[0]}") from None
    return _parse_table(text)


# --------------------------------------------------------------------------- single-pod diff

_MATCH_RE = re.compile(r"^(Clusters|Listeners|Routes) (Match|Don't Match|Do not Match)\b(.*)$", re.I)
_DIFF_HEADER = re.compile(r"^--- (?:Pilot|Istiod) (Clusters|Listeners|Routes)\b")
_RDS_LOADED = re.compile(r"\(RDS last loaded at ([^)]*)\)")


def parse_proxy_status_diff(text: str) -> ProxyStatusDiff:
    """Read ``istioctl proxy-status <pod>``: per-type match verdicts and the unified diff."""
    result: dict[str, Any] = {}
    diff_lines: list[str] = []
    in_diff = False
    for line in text.splitlines():
        m = _MATCH_RE.match(line.strip())
        if m:
            in_diff = False
            key = m.group(1).lower() + "_match"
            result[key] = m.group(2).lower() == "match"
            loaded = _RDS_LOADED.search(m.group(3))
            if loaded:
                result["rds_last_loaded"] = loaded.group(1).strip()
            continue
        h = _DIFF_HEADER.match(line)
        if h:
            in_diff = True
            # 1.1-1.7 print the diff without a "Don't Match" line before it.
            result.setdefault(h.group(1).lower() + "_match", False)
        if in_diff:
            diff_lines.append(line)
    if diff_lines:
        result["diff_text"] = "\n".join(diff_lines)
    if not result:
        raise ParseError("proxy-status diff", "no 'Clusters/Listeners/Routes Match' line and no diff")
    return ProxyStatusDiff(**result)
