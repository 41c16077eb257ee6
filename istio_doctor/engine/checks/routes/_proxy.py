"""What the examined proxy itself says, shared by the ``ROUTE-*`` checks: its access log (NR / NC /
BlackHoleCluster entries, the logged authority and port) and its config dump (the route
configuration a listener port uses, the virtual host and route Envoy would pick for a request).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import EvidenceRef
from istio_doctor.engine.trace import Stage, Trace, trace_request
from istio_doctor.engine.trace.failures import request_from_entry
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.envoy.model import RouteConfig, VirtualHost

# --------------------------------------------------------------------------------------
# access-log helpers
# --------------------------------------------------------------------------------------


def _log(ctx: CheckContext) -> Any | None:
    return ctx.ev.get_or(None, Need.PROXY_LOGS, ctx.namespace, ctx.pod_name)


def _entries(log: Any | None) -> list[Any]:
    return list(log.entries) if log is not None else []


def _is_nr(e: Any) -> bool:
    """An Envoy route miss. ``NR filter_chain_not_found`` is a listener miss (mTLS/SNI), not a route."""
    if e.response_code_details == "filter_chain_not_found":
        return False
    return ("NR" in e.response_flags and not e.is_tcp) or e.response_code_details == "route_not_found"


def _is_nc(e: Any) -> bool:
    return "NC" in e.response_flags or e.response_code_details == "cluster_not_found"


def _is_blackhole(e: Any) -> bool:
    return e.upstream_cluster == "BlackHoleCluster" or (e.response_code == 502 and e.route_name == "block_all")


def _is_route_failure(e: Any) -> bool:
    """Failures a missing route/cluster/visibility can produce on the client side."""
    if e.app_responded:
        return False
    if _is_nr(e) or _is_nc(e) or _is_blackhole(e):
        return True
    # Passthrough to a mesh service that then fails (plaintext to STRICT, no routing rules).
    return e.upstream_cluster == "PassthroughCluster" and (bool(e.response_flags) or e.response_code >= 500)


def _authority_host(authority: str | None) -> str:
    a = (authority or "").strip().lower()
    if a.startswith("["):
        return a.split("]")[0] + "]"
    if a.count(":") == 1:
        return a.rsplit(":", 1)[0]
    return a


def _port_of(addr: str | None) -> int | None:
    if not addr or ":" not in addr:
        return None
    try:
        return int(addr.rsplit(":", 1)[1])
    except ValueError:
        return None


def _is_ip(host: str) -> bool:
    return bool(re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", host)) or host.startswith("[")


def _lines(entries: Iterable[Any], n: int = 3) -> str:
    return "\n".join(e.raw for e in list(entries)[:n])


def _path_only(path: str | None) -> str:
    return (path or "/").split("?", 1)[0]


# --------------------------------------------------------------------------------------
# config-dump helpers
# --------------------------------------------------------------------------------------


@dataclass
class Routed:
    """Where Envoy's routing leaves a logged request (from the request tracer)."""

    trace: Trace
    route_config: RouteConfig | None  # the route configuration the listener used
    vhost: VirtualHost | None  # the virtual host Envoy picked (None: no domain matches)
    route_matched: bool


def _routed(ctx: CheckContext, dump: Any, entry: Any) -> Routed | None:
    """Trace one access-log entry through the dump (None when the log names no destination).

    One implementation of Envoy's listener, filter-chain, virtual-host and route matching:
    ``istio_doctor.engine.trace``. The trace is memoised per dump and request shape.
    """
    req = request_from_entry(entry, dump)
    if req is None:
        return None
    trace = ctx._memo(("route-trace", id(dump), req.model_dump_json()), lambda: trace_request(dump, req))
    rc = None
    vh = None
    for h in trace.hops:
        if h.stage is Stage.ROUTE_CONFIG:
            rc = dump.route_config(h.element) if h.element != "inline route_config" else None
        elif h.stage is Stage.VIRTUAL_HOST and h.status != "break" and rc is not None:
            vh = next((v for v in rc.virtual_hosts if v.name == h.element), None)
    matched = any(h.stage is Stage.ROUTE and h.status != "break" and h.status != "warn" for h in trace.hops)
    return Routed(trace, rc, vh, matched)


def _vhost_table(rc: Any) -> list[dict[str, Any]]:
    return [{"name": vh.name, "domains": vh.domains, "routes": len(vh.routes)} for vh in rc.virtual_hosts]


def _route_ref(ctx: CheckContext, rc: Any, note: str) -> EvidenceRef:
    return ctx.ref(Need.CONFIG_DUMP, {"name": rc.name, "virtual_hosts": _vhost_table(rc)}, note)


def _route_match_text(route: Any) -> dict[str, Any]:
    m = route.match
    out: dict[str, Any] = {k: v for k, v in (("path", m.path), ("prefix", m.prefix), ("safe_regex", m.safe_regex),
                                             ("path_separated_prefix", m.path_separated_prefix)) if v is not None}
    if m.headers:
        out["headers"] = m.headers
    return out
