"""Parse Envoy admin ``/stats`` and ``/clusters`` output (and ``istioctl proxy-config endpoint``).

Counters confirm what the access log only hints at: ``no_filter_chain_match`` on a listener
means plaintext hit a STRICT mTLS port, ``ssl.fail_verify_*`` name the TLS verification that
failed, ``upstream_cx_connect_fail`` / ``upstream_rq_pending_overflow`` /
``outlier_detection.ejections_active`` explain UF / UO / UH. The ``/clusters`` view says, per
endpoint, whether Envoy considers it healthy and why not (``health_flags``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field

from istio_doctor.evidence.errors import ParseError

__all__ = [
    "ClusterHostStatus",
    "parse_envoy_clusters",
    "parse_envoy_stats",
    "stat_sum",
]

_STAT_LINE = re.compile(r"^([^\s:][^:]*?):\s+(-?\d+)\s*$")
# Optional timestamp some users prefix when capturing admin output (real sample does this).
_TS_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?Z?\s+")


def parse_envoy_stats(text: str) -> dict[str, int]:
    """``name: value`` counters and gauges; histogram lines (``P0(nan,1)`` ...) are skipped."""
    stats: dict[str, int] = {}
    for raw in text.splitlines():
        line = _TS_PREFIX.sub("", raw.strip())
        m = _STAT_LINE.match(line)
        if m:  # histogram values contain "(" and never match the integer-only pattern
            stats[m.group(1)] = int(m.group(2))
    return stats


def stat_sum(stats: dict[str, int], suffix: str, prefix: str | None = None) -> int:
    """Sum every stat ending in ``suffix`` (dot-boundary aware), optionally under ``prefix``.

    ``stat_sum(s, "ssl.fail_verify_san", prefix="listener.")`` adds the counter over all
    listeners; a name equal to ``suffix`` counts too.
    """
    total = 0
    for name, value in stats.items():
        if prefix is not None and not name.startswith(prefix):
            continue
        if name == suffix or name.endswith("." + suffix):
            total += value
    return total


class ClusterHostStatus(BaseModel):
    cluster: str
    host: str  # "10.1.2.3:9080" (or a pipe/unix path)
    health_flags: list[str] = Field(default_factory=list)  # [] means healthy
    eds_health_status: str | None = None  # HEALTHY / UNHEALTHY / DRAINING / ... (JSON form)
    outlier_failed: bool = False
    cx_active: int | None = None
    cx_connect_fail: int | None = None
    rq_error: int | None = None
    rq_total: int | None = None
    weight: int | None = None
    zone: str | None = None
    stats: dict[str, int] = Field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        if self.health_flags:
            return False
        return self.eds_health_status in (None, "HEALTHY", "UNKNOWN") and not self.outlier_failed


_HOST_STAT_FIELDS = {"cx_active", "cx_connect_fail", "rq_error", "rq_total", "weight"}


def _parse_clusters_text(text: str) -> list[ClusterHostStatus]:
    hosts: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in text.splitlines():
        line = _TS_PREFIX.sub("", raw.strip())
        parts = line.split("::")
        # host lines: <cluster>::<host:port>::<stat>::<value>; cluster-level lines have a
        # non-address second field (default_priority, added_via_api, observability_name...).
        if len(parts) < 4 or not re.match(r"^(\[[0-9a-fA-F:]+\]|[\w.\-]+):\d+$|^/|^\./", parts[1]):
            continue
        cluster, host, key, value = parts[0], parts[1], parts[2], "::".join(parts[3:])
        h = hosts.setdefault((cluster, host), {"cluster": cluster, "host": host, "stats": {}})
        if key == "health_flags":
            # "healthy" or "/failed_outlier_check/failed_eds_health"
            flags = [f for f in value.split("/") if f and f != "healthy"]
            h["health_flags"] = flags
            h["outlier_failed"] = "failed_outlier_check" in flags
        elif key == "zone":
            h["zone"] = value or None
        elif re.match(r"^-?\d+$", value):
            h["stats"][key] = int(value)
            if key in _HOST_STAT_FIELDS:
                h[key] = int(value)
    return [ClusterHostStatus(**h) for h in hosts.values()]


def _g(obj: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in obj:
            return obj[k]
    return None


def _parse_clusters_json(doc: Any) -> list[ClusterHostStatus]:
    # Envoy admin: {"cluster_statuses": [...]}; istioctl pc ep -o json: [ClusterStatus, ...]
    if isinstance(doc, dict):
        statuses = _g(doc, "cluster_statuses", "clusterStatuses") or []
    elif isinstance(doc, list):
        statuses = doc
    else:
        raise ParseError("Envoy clusters JSON", "expected an object with cluster_statuses or a list")
    out: list[ClusterHostStatus] = []
    for cs in statuses:
        if not isinstance(cs, dict):
            continue
        cluster = str(cs.get("name") or "")
        for hs in _g(cs, "host_statuses", "hostStatuses") or []:
            if not isinstance(hs, dict):
                continue
            addr = hs.get("address") or {}
            sock = _g(addr, "socket_address", "socketAddress") or {}
            pipe = addr.get("pipe") or {}
            if sock:
                host = f"{sock.get('address', '')}:{_g(sock, 'port_value', 'portValue') or 0}"
            else:
                host = str(pipe.get("path") or "")
            stats: dict[str, int] = {}
            for st in hs.get("stats") or []:
                if isinstance(st, dict) and st.get("name"):
                    try:
                        stats[st["name"]] = int(st.get("value", 0))  # protojson omits zero values
                    except (TypeError, ValueError):
                        continue
            health = _g(hs, "health_status", "healthStatus") or {}
            flags = []
            for key, flag in (
                (("failed_outlier_check", "failedOutlierCheck"), "failed_outlier_check"),
                (("failed_active_health_check", "failedActiveHealthCheck"), "failed_active_hc"),
                (("failed_active_degraded_check", "failedActiveDegradedCheck"), "degraded_active_hc"),
                (("pending_dynamic_removal", "pendingDynamicRemoval"), "pending_dynamic_removal"),
                (("pending_active_hc", "pendingActiveHc"), "pending_active_hc"),
                (("excluded_via_immediate_hc_fail", "excludedViaImmediateHcFail"), "excluded_via_immediate_hc_fail"),
                (("active_hc_timeout", "activeHcTimeout"), "active_hc_timeout"),
            ):
                if _g(health, *key):
                    flags.append(flag)
            eds = _g(health, "eds_health_status", "edsHealthStatus")
            if eds and eds not in ("HEALTHY", "UNKNOWN"):
                flags.append("failed_eds_health" if eds == "UNHEALTHY" else f"eds_{str(eds).lower()}")
            locality = hs.get("locality") or {}
            out.append(
                ClusterHostStatus(
                    cluster=cluster,
                    host=host,
                    health_flags=flags,
                    eds_health_status=eds,
                    outlier_failed=bool(_g(health, "failed_outlier_check", "failedOutlierCheck")),
                    cx_active=stats.get("cx_active"),
                    cx_connect_fail=stats.get("cx_connect_fail"),
                    rq_error=stats.get("rq_error"),
                    rq_total=stats.get("rq_total"),
                    weight=hs.get("weight"),
                    zone=locality.get("zone") if isinstance(locality, dict) else None,
                    stats=stats,
                )
            )
    return out


def _parse_endpoint_table(text: str) -> list[ClusterHostStatus] | None:
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    # Header forms: 1.1 "ENDPOINT CLUSTER", then "ENDPOINT STATUS CLUSTER", then with OUTLIER CHECK.
    hdr_idx = next((i for i, ln in enumerate(lines) if re.match(r"^ENDPOINT\s{2,}(STATUS|CLUSTER)\b", ln)), None)
    if hdr_idx is not None:
        names = [m.group(0) for m in re.finditer(r"\S+(?: \S+)*", lines[hdr_idx])]
        body = lines[hdr_idx + 1 :]
    else:
        # Rows pasted without their header (common in issue threads): accept them only when every
        # row has the live 4-column shape, ip:port  STATUS  OK|FAILED  cluster.
        row = re.compile(r"^\S+:\d+\s{2,}[A-Z_]+\s{2,}(OK|FAILED)\s{2,}\S+\|\S*$")
        if not lines or not all(row.match(ln.strip()) for ln in lines):
            return None
        names, body = ["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"], lines
    out: list[ClusterHostStatus] = []
    for ln in body:
        cells = re.split(r"\s{2,}", ln.strip())
        row = dict(zip(names, cells, strict=False))
        host, cluster = row.get("ENDPOINT"), row.get("CLUSTER")
        if not host or not cluster:
            continue
        status = row.get("STATUS") or None
        outlier = (row.get("OUTLIER CHECK") or "").upper() == "FAILED"
        flags = []
        if outlier:
            flags.append("failed_outlier_check")
        if status and status not in ("HEALTHY", "UNKNOWN"):
            flags.append("failed_eds_health" if status == "UNHEALTHY" else f"eds_{status.lower()}")
        out.append(
            ClusterHostStatus(
                cluster=cluster, host=host, health_flags=flags, eds_health_status=status, outlier_failed=outlier
            )
        )
    return out


def parse_envoy_clusters(text: str) -> list[ClusterHostStatus]:
    """Per-endpoint health from ``/clusters`` text, ``/clusters?format=json``, or the live
    ``istioctl proxy-config endpoint`` table (``ENDPOINT STATUS OUTLIER CHECK CLUSTER``)."""
    stripped = text.strip()
    if not stripped:
        return []
    if stripped[0] in "[{":
        try:
            doc = json.loads(stripped)
        except ValueError as exc:
            raise ParseError("Envoy clusters JSON", str(exc)) from None
        return _parse_clusters_json(doc)
    table = _parse_endpoint_table(stripped)
    if table is not None:
        return table
    if "::" not in stripped:
        raise ParseError("Envoy clusters output", "neither /clusters text, JSON nor an ENDPOINT table")
    return _parse_clusters_text(stripped)
