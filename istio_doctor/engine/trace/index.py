"""Lookups a trace needs, built once per config dump (by port and name, never a scan per request).

A 50 MB dump holds tens of thousands of listeners, routes and clusters; the engine traces one
request per distinct failing log line. Everything here is a dict built in one pass and kept
for the dump it was built from (a small cache keyed by the dump object).
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from typing import Any

from istio_doctor.evidence.envoy.model import (
    ClusterEndpoints,
    ConfigDump,
    Listener,
    RouteConfig,
)
from istio_doctor.evidence.envoy.build import _g as field  # snake_case or camelCase, as dumps mix them

__all__ = ["DumpIndex", "field", "index_for", "is_any_address"]


def is_any_address(addr: str) -> bool:
    """``0.0.0.0`` / ``::`` (Envoy's ``isAnyAddress``)."""
    try:
        return ipaddress.ip_address(addr).is_unspecified
    except ValueError:
        return False


def _family(addr: str) -> int:
    try:
        return ipaddress.ip_address(addr).version
    except ValueError:
        return 0


class DumpIndex:
    """Per-dump lookups: listeners by address, route configs, clusters and endpoints by name."""

    def __init__(self, dump: ConfigDump) -> None:
        self.dump = dump
        #: (ip, port) -> listener, for every address a listener has (main and additional);
        #: Envoy's ``tcp_listener_map_by_address_``. Only active listeners are in the handler.
        self.by_address: dict[tuple[str, int], Listener] = {}
        #: (ip family, port) -> listener bound to the any-address (0.0.0.0 / ::) on that port.
        self.any_by_port: dict[tuple[int, int], Listener] = {}
        self.by_name: dict[str, Listener] = {}
        for lst in dump.listeners:
            if lst.state != "active":
                continue
            if lst.name:
                self.by_name.setdefault(lst.name, lst)
            if not lst.port:
                continue
            for addr in [lst.address, *lst.additional_addresses]:
                if not addr:
                    continue
                port = lst.port
                self.by_address.setdefault((addr, port), lst)
                if is_any_address(addr):
                    self.any_by_port.setdefault((_family(addr), port), lst)
                    # An IPv6 any-address listener that is not v6only also takes IPv4 (Envoy
                    # registers 0.0.0.0:port for it too).
                    if _family(addr) == 6 and not _v6only(lst.raw):
                        self.any_by_port.setdefault((4, port), lst)
        self.routes: dict[str, RouteConfig] = {}
        for rc in dump.routes:
            if rc.name and not rc.static:
                self.routes.setdefault(rc.name, rc)
        for rc in dump.routes:
            if rc.name:
                self.routes.setdefault(rc.name, rc)
        self.endpoints: dict[str, ClusterEndpoints] = {}
        for ce in dump.endpoints:
            self.endpoints.setdefault(ce.cluster_name, ce)

    def listener_on_port(self, port: int) -> Listener | None:
        """The listener bound to ``port`` on the any-address (a capture port such as 15001)."""
        return self.any_by_port.get((4, port)) or self.any_by_port.get((6, port))

    def find_by_address(self, ip: str, port: int) -> tuple[Listener | None, str]:
        """Envoy's ``getBalancedHandlerByAddress``: exact ``ip:port``, else the any-address
        listener of the same IP family on that port. Returns the listener and how it matched."""
        lst = self.by_address.get((ip, port))
        if lst is not None:
            return lst, "exact"
        lst = self.any_by_port.get((_family(ip), port))
        if lst is not None:
            return lst, "any-address"
        return None, ""

    def has(self, section: str) -> bool:
        return section in self.dump.sections


def _v6only(raw: dict[str, Any]) -> bool:
    sa = field(field(raw, "address") or {}, "socket_address") or {}
    # SocketAddress.ipv4_compat defaults to false: an IPv6 listener is v6-only unless it says so.
    return not bool(field(sa, "ipv4_compat"))


_CACHE: OrderedDict[int, tuple[ConfigDump, DumpIndex]] = OrderedDict()
_CACHE_SIZE = 8


def index_for(dump: ConfigDump) -> DumpIndex:
    """The index of ``dump``, built on first use (the cache holds the dump, so ids stay valid)."""
    key = id(dump)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is dump:
        _CACHE.move_to_end(key)
        return hit[1]
    idx = DumpIndex(dump)
    _CACHE[key] = (dump, idx)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return idx
