"""What the examined proxy itself says, shared by the ``ROUTE-*`` checks: its access log (NR / NC /
BlackHoleCluster entries, the logged authority and port) and its config dump (the route
configuration a listener port uses, the virtual host and route Envoy would pick for a request).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import EvidenceRef
from istio_doctor.evidence.bundle import Need
from istio_doctor.evidence.envoy.configdump import match_virtual_host
from istio_doctor.engine.mesh.hosts import host_matches

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


def _route_config_name(dump: Any, entry: Any, is_gateway: bool) -> str:
    """The RDS name the entry's listener used (found through the downstream local port)."""
    port = _port_of(entry.downstream_local_address)
    ip = (entry.downstream_local_address or "").rsplit(":", 1)[0]
    if port is not None:
        listeners = sorted(dump.listeners_on_port(port), key=lambda lst: (lst.address != ip, lst.address != "0.0.0.0"))
        for lst in listeners:
            chains = [fc for fc in lst.filter_chains if fc.http and fc.route_config_name]
            sni = (entry.requested_server_name or "").lower()
            for fc in chains:
                if sni and any(host_matches(s, sni) for s in fc.server_names):
                    return fc.route_config_name
            if chains:
                return chains[0].route_config_name
    if port is None:
        return ""
    return f"http.{port}" if is_gateway else str(port)


def _find_vhost(dump: Any, route_name: str, authority: str) -> Any | None:
    """Envoy's virtual-host choice in route table ``route_name``: a specific domain before ``*``,
    the Host's port ignored only where the table says ``ignore_port_in_host_matching`` (istiod
    sets it from 1.15 on; an older gateway needs a ``host:port``/``host:*`` domain)."""
    rc = dump.route_config(route_name)
    if rc is None:
        return None
    return match_virtual_host(rc.virtual_hosts, authority, ignore_port=rc.ignore_port_in_host_matching)


def _vhost_table(rc: Any) -> list[dict[str, Any]]:
    return [{"name": vh.name, "domains": vh.domains, "routes": len(vh.routes)} for vh in rc.virtual_hosts]


def _route_ref(ctx: CheckContext, rc: Any, note: str) -> EvidenceRef:
    return ctx.ref(Need.CONFIG_DUMP, {"name": rc.name, "virtual_hosts": _vhost_table(rc)}, note)


def _path_matches(route: Any, path: str) -> bool:
    """Envoy path matching of one route (header conditions are ignored: the log cannot show them)."""
    m = route.match
    ci = route.raw.get("match", {}).get("case_sensitive") is False
    p = path.lower() if ci else path

    def c(x: str) -> str:
        return x.lower() if ci else x

    if m.path is not None:
        return p == c(m.path)
    if m.prefix is not None:
        return p.startswith(c(m.prefix))
    if m.path_separated_prefix is not None:
        pre = c(m.path_separated_prefix)
        return p == pre or p.startswith(pre + "/")
    if m.safe_regex is not None:
        try:
            return re.fullmatch(m.safe_regex, path) is not None
        except re.error:
            return False
    return False


def _route_match_text(route: Any) -> dict[str, Any]:
    m = route.match
    out: dict[str, Any] = {k: v for k, v in (("path", m.path), ("prefix", m.prefix), ("safe_regex", m.safe_regex),
                                             ("path_separated_prefix", m.path_separated_prefix)) if v is not None}
    if m.headers:
        out["headers"] = m.headers
    return out
