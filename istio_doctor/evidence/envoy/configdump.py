"""Parse an Envoy config dump, whichever way it was obtained, into one :class:`ConfigDump`.

Two dialects reach us:

* the raw admin ``/config_dump`` (also ``istioctl proxy-config all -o json`` and the
  ``config_dump?include_eds`` file of a bug-report archive): snake_case,
  ``{"configs": [{"@type": ...ConfigDump, ...}]}``, including legacy ``envoy.admin.v2alpha``
  dumps whose listeners sit in ``dynamic_active_listeners``;
* the per-type ``istioctl proxy-config <type> -o json`` outputs: protojson camelCase arrays.

Both become the same :class:`ConfigDump` (models in :mod:`.model`, builders in :mod:`.build`).

Performance and memory matter: a sidecar in a big mesh dumps 50+ MB, and a bug-report archive
holds hundreds of dumps. The text is decoded by :mod:`.decode` one resource at a time: a
first pass only finds where each resource's JSON starts and ends, then each resource is
decoded, modelled and dropped, so the whole decoded tree never exists at once and memory stays
near the size of the text. Each model keeps a :class:`RawRef` to its resource for ``-o json``
and the rare check that reads a field the model does not carry. Only the top-level structure
is validated, and every failure is a :class:`ParseError` naming the command.
"""

from __future__ import annotations

import functools
import gc
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from istio_doctor.evidence.envoy.build import (
    _build_cla,
    _build_cluster,
    _build_cluster_status,
    _build_listener,
    _build_route_config,
    _build_secret,
    _g,
    _node_info,
    _version_summary,
)
from istio_doctor.evidence.envoy.decode import Raw, RawRef, decode_any, raw_ref, ref_child, scan_list, scan_object, scan_top
from istio_doctor.evidence.envoy.model import (
    Cluster,
    ClusterEndpoints,
    ConfigDump,
    EcdsFilter,
    Listener,
    NodeInfo,
    RouteConfig,
    SecretInfo,
    VersionSummary,
    _mk,
)
from istio_doctor.evidence.errors import ParseError

# The models live in :mod:`.model`: import them from there. This module is the parser.
__all__ = ["config_dump_from_parts", "parse_config_dump"]

_WHAT = "Envoy config dump"
_T = TypeVar("_T")

#: One entry of a section list: its decoded JSON and where it is in the dump.
Entry = tuple[dict[str, Any], RawRef]


def _entries(section: dict[str, Any], key: str, command: str = "") -> Iterator[Entry]:
    """The entries of ``section[key]`` one at a time, decoded only now (see :mod:`.decode`).

    ``section`` is either scanned (member values are :class:`Raw` spans) or already decoded.
    """
    v = _g(section, key)
    if v is None:
        return
    items = scan_list(v, _WHAT, command) if isinstance(v, Raw) else v
    for it in items if isinstance(items, list) else ():
        if isinstance(it, Raw):
            d = decode_any(it, _WHAT, command)
            ref = raw_ref(it)
        else:
            d, ref = it, raw_ref(it)
        if isinstance(d, dict):
            yield d, ref


def _whole(section: dict[str, Any], command: str) -> dict[str, Any]:
    """A small section fully decoded (secrets, bootstrap, ECDS: kilobytes, read as a whole)."""
    return {k: decode_any(v, _WHAT, command) if isinstance(v, Raw) else v for k, v in section.items()}


# --------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, now: datetime | None, command: str = "") -> None:
        self.now = now
        self.command = command
        self.node = _mk(NodeInfo, NodeInfo().__dict__.copy())
        self.versions = _mk(VersionSummary, VersionSummary().__dict__.copy())
        self.clusters: list[Cluster] = []
        self.listeners: list[Listener] = []
        self.routes: list[RouteConfig] = []
        self.endpoints: list[ClusterEndpoints] = []
        self.secrets: list[SecretInfo] = []
        self.ecds: list[EcdsFilter] = []
        self.sections: list[str] = []
        self.secrets_raw: dict[str, Any] | None = None
        self.bootstrap_raw: dict[str, Any] | None = None

    def mark(self, section: str) -> None:
        if section not in self.sections:
            self.sections.append(section)

    def entries(self, section: dict[str, Any], key: str) -> Iterator[Entry]:
        return _entries(section, key, self.command)

    def bootstrap(self, b: dict[str, Any]) -> None:
        self.mark("bootstrap")
        self.bootstrap_raw = b
        node = b.get("node") or {}
        self.node = _node_info(node)
        self.versions = _version_summary(node)

    def clusters_section(self, s: dict[str, Any]) -> None:
        self.mark("clusters")
        out = self.clusters
        for key, warming, static in (("dynamic_active_clusters", False, False), ("dynamic_warming_clusters", True, False),
                                     ("static_clusters", False, True)):
            for e, ref in self.entries(s, key):
                c = e.get("cluster")
                if c:
                    out.append(_build_cluster(c, ref_child(ref, "cluster"), warming=warming, static=static))

    def listeners_section(self, s: dict[str, Any]) -> None:
        self.mark("listeners")
        out = self.listeners
        for e, ref in self.entries(s, "dynamic_listeners"):
            err = _g(e, "error_state")
            for key, state in (("active_state", "active"), ("warming_state", "warming"), ("draining_state", "draining")):
                st = _g(e, key)
                if st and st.get("listener"):
                    out.append(_build_listener(st["listener"], ref_child(ref, key, "listener"), state=state, static=False, error_state=err))
            if err and not any(_g(e, k) for k in ("active_state", "warming_state", "draining_state")):
                out.append(
                    _mk(
                        Listener,
                        {**Listener().__dict__, "name": e.get("name", ""), "state": "error", "error_state": err, "raw_ref": ref},
                    )
                )
        # legacy envoy.admin.v2alpha layout: one list per state, listener inline
        for key, state, static in (
            ("dynamic_active_listeners", "active", False),
            ("dynamic_warming_listeners", "warming", False),
            ("dynamic_draining_listeners", "draining", False),
            ("static_listeners", "active", True),
        ):
            for e, ref in self.entries(s, key):
                if e.get("listener"):
                    out.append(_build_listener(e["listener"], ref_child(ref, "listener"), state=state, static=static))

    def _dynamic_and_static(self, s: dict[str, Any], field: str, build: Callable[..., _T]) -> Iterator[_T]:
        """The ``dynamic_<field>s`` then ``static_<field>s`` entries of a RoutesConfigDump or
        EndpointsConfigDump (the two share this layout), each built from its ``<field>``."""
        for key, static in ((f"dynamic_{field}s", False), (f"static_{field}s", True)):
            for e, ref in self.entries(s, key):
                v = _g(e, field)
                if v:
                    yield build(v, ref_child(ref, field), static=static)

    def routes_section(self, s: dict[str, Any]) -> None:
        self.mark("routes")
        self.routes.extend(self._dynamic_and_static(s, "route_config", _build_route_config))

    def endpoints_section(self, s: dict[str, Any]) -> None:
        self.mark("endpoints")
        self.endpoints.extend(self._dynamic_and_static(s, "endpoint_config", _build_cla))

    def secrets_section(self, s: dict[str, Any]) -> None:
        self.mark("secrets")
        s = _whole(s, self.command)
        self.secrets_raw = s
        # istioctl lists warming secrets first, then active ones.
        for e in _g(s, "dynamic_warming_secrets") or ():
            self.secrets.extend(_build_secret(e, "WARMING", self.now))
        for e in _g(s, "dynamic_active_secrets") or ():
            self.secrets.extend(_build_secret(e, "ACTIVE", self.now))
        for e in _g(s, "static_secrets") or ():
            self.secrets.extend(_build_secret(e, "ACTIVE", self.now, static=True))

    def ecds_section(self, s: dict[str, Any]) -> None:
        self.mark("ecds")
        for e, ref in self.entries(s, "ecds_filters"):
            f = _g(e, "ecds_filter") or {}
            tc = _g(f, "typed_config") or {}
            self.ecds.append(_mk(EcdsFilter, {"name": f.get("name", ""), "type_url": tc.get("@type", ""), "raw_ref": ref}))

    def build(self) -> ConfigDump:
        return _mk(
            ConfigDump,
            {
                "node": self.node,
                "version_summary": self.versions,
                "clusters": self.clusters,
                "listeners": self.listeners,
                "routes": self.routes,
                "endpoints": self.endpoints,
                "secrets": self.secrets,
                "ecds": self.ecds,
                "sections": self.sections,
                "secrets_raw": self.secrets_raw,
                "bootstrap_raw": self.bootstrap_raw,
            },
        )


_SECTION_HANDLERS = {
    "BootstrapConfigDump": "bootstrap",
    "ClustersConfigDump": "clusters_section",
    "ListenersConfigDump": "listeners_section",
    "RoutesConfigDump": "routes_section",
    "ScopedRoutesConfigDump": None,
    "EndpointsConfigDump": "endpoints_section",
    "SecretsConfigDump": "secrets_section",
    "EcdsConfigDump": "ecds_section",
}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a dump is decoded and modelled.

    A 50 MB dump decodes to millions of dicts and lists; every few thousand new objects the
    collector walks that whole graph again, which made building the model 3x slower than the
    JSON decoding itself. Nothing built here forms reference cycles (plain dicts, lists and
    models pointing into them), so reference counting frees it all the same.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _without_gc(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _gc_paused():
            return fn(*args, **kwargs)

    return wrapper


@_without_gc
def parse_config_dump(text: str | bytes, *, command: str = "", now: datetime | None = None) -> ConfigDump:
    """Parse a raw admin ``/config_dump`` or ``istioctl proxy-config all -o json``.

    ``now`` fixes the instant secret validity is judged at (default: the current time).
    Also accepts a single per-type output (a JSON array, or ``{"bootstrap": ...}``), sniffed by
    content because dumps are routinely saved with the wrong extension. The returned model
    keeps spans of ``text`` (see :mod:`.decode`), never a second copy of it.
    """
    top = scan_top(text, _WHAT, command)
    if isinstance(top, list):
        return _from_array(top, command=command, now=now)
    configs = top.get("configs")
    if configs is None:
        # small documents (a bootstrap, an ECDS or a secrets dump): decode them whole
        doc = _whole(top, command)
        if "bootstrap" in doc or "node" in doc:
            # `proxy-config bootstrap -o json`, or a saved bootstrap/node excerpt
            return config_dump_from_parts(bootstrap=doc, now=now)
        if _g(doc, "ecds_filters") is not None:
            b = _Builder(now, command)
            b.ecds_section(doc)
            return b.build()
        if any(_g(doc, k) is not None for k in ("dynamic_active_secrets", "dynamic_warming_secrets")):
            b = _Builder(now, command)
            b.secrets_section(doc)
            return b.build()
        raise ParseError(_WHAT, "no 'configs' list: this is not an Envoy config dump", command=command)
    try:
        sections = scan_list(configs, _WHAT, command)
    except ParseError:
        raise ParseError(_WHAT, "'configs' is not a list", command=command) from None
    b = _Builder(now, command)
    known = 0
    for i, sec_raw in enumerate(sections):
        try:
            sec = scan_object(sec_raw, _WHAT, command)
        except ParseError:
            raise ParseError(_WHAT, f"configs[{i}] is not an object", command=command) from None
        t = decode_any(sec["@type"], _WHAT, command) if "@type" in sec else ""
        if not isinstance(t, str):
            raise ParseError(_WHAT, f"configs[{i}] has an @type that is not a string", command=command)
        kind = t.rsplit(".", 1)[-1]
        if kind not in _SECTION_HANDLERS:
            continue
        known += 1
        handler = _SECTION_HANDLERS[kind]
        if handler is None:
            continue
        try:
            if handler == "bootstrap":
                b.bootstrap(decode_any(sec["bootstrap"], _WHAT, command) if "bootstrap" in sec else {})
            else:
                getattr(b, handler)(sec)
        except (AttributeError, TypeError, KeyError, IndexError) as e:
            # A section with the right @type but the wrong shape: say where, not a traceback.
            raise ParseError(_WHAT, f"configs[{i}] ({kind}) has an unexpected shape: {e}", command=command) from None
    if known == 0:
        raise ParseError(_WHAT, "'configs' contains no Envoy admin config-dump sections", command=command)
    return b.build()


def _sniff(it: Any) -> str | None:
    """The kind of one per-type array item; ``""`` to give up, ``None`` to look at the next one."""
    if not isinstance(it, dict):
        return ""
    t = it.get("@type", "")
    if t and isinstance(t, str):
        return t.rsplit(".", 1)[-1]
    if _g(it, "cluster_name") is not None and "endpoints" in it or _g(it, "lb_endpoints") is not None:
        return "ClusterLoadAssignment"
    if _g(it, "host_statuses") is not None:
        return "ClusterStatus"
    if _g(it, "virtual_hosts") is not None:
        return "RouteConfiguration"
    if _g(it, "filter_chains") is not None or _g(it, "default_filter_chain") is not None or "address" in it and "listener_filters" in it:
        return "Listener"
    if "type" in it or _g(it, "connect_timeout") is not None or _g(it, "eds_cluster_config") is not None or _g(it, "load_assignment") is not None:
        return "Cluster"
    return None


def _items(items: list[Any], command: str) -> Iterator[tuple[Any, RawRef]]:
    for it in items:
        if isinstance(it, Raw):
            yield decode_any(it, _WHAT, command), raw_ref(it)
        else:
            yield it, raw_ref(it)


_ARRAY_PARTS = {"Cluster": "clusters", "Listener": "listeners", "RouteConfiguration": "routes",
                "ClusterLoadAssignment": "endpoints", "ClusterStatus": "endpoints"}


def _from_array(items: list[Any], *, command: str, now: datetime | None) -> ConfigDump:
    if not items:
        raise ParseError(_WHAT, "empty JSON array: nothing to parse", command=command)
    # Decode items until one tells the kind; keep those so nothing is decoded twice.
    it = _items(items, command)
    seen: list[tuple[Any, RawRef]] = []
    kind: str | None = None
    for pair in it:
        seen.append(pair)
        kind = _sniff(pair[0])
        if kind is not None:
            break
    part = _ARRAY_PARTS.get(kind or "")
    if part is None:
        raise ParseError(_WHAT, "JSON array of unknown objects (not clusters, listeners, routes or endpoints)", command=command)
    b = _Builder(now, command)
    _ADDERS[part](b, itertools.chain(seen, it))
    return b.build()


_PART_NAMES = {"clusters": "cluster", "listeners": "listener", "routes": "route", "endpoints": "endpoint"}


def _part_items(value: Any, what: str) -> Iterator[tuple[Any, RawRef]]:
    command = f"istioctl proxy-config {what} -o json"
    if isinstance(value, str | bytes | bytearray):
        top = scan_top(bytes(value) if isinstance(value, bytearray) else value, f"{what} list", command)
        value = top
    if not isinstance(value, list):
        raise ParseError(f"{what} list", "expected a JSON array", command=command)
    return _items(value, command)


def _part_object(value: Any, what: str) -> Any:
    command = f"istioctl proxy-config {what} -o json"
    if isinstance(value, str | bytes | bytearray):
        if not value or value.isspace():
            raise ParseError(f"{what} dump", "output is empty", command=command)
        return decode_any(value, f"{what} dump", command)
    return value


@_without_gc
def config_dump_from_parts(
    *,
    bootstrap: Any = None,
    clusters: Any = None,
    listeners: Any = None,
    routes: Any = None,
    endpoints: Any = None,
    secrets: Any = None,
    now: datetime | None = None,
) -> ConfigDump:
    """Assemble one :class:`ConfigDump` from per-type ``istioctl proxy-config <type> -o json`` outputs.

    Each argument is the output text (or already-decoded JSON): protojson arrays of Cluster,
    Listener, RouteConfiguration, ClusterLoadAssignment (or ``/clusters?format=json``
    ClusterStatus) objects; ``bootstrap`` is ``{"bootstrap": {...}}``; ``secrets`` a
    SecretsConfigDump object.
    """
    b = _Builder(now)
    if bootstrap is not None:
        doc = _part_object(bootstrap, "bootstrap")
        if not isinstance(doc, dict):
            raise ParseError("bootstrap dump", "expected a JSON object", command="istioctl proxy-config bootstrap -o json")
        b.bootstrap(doc.get("bootstrap", doc))
    for value, part in ((clusters, "clusters"), (listeners, "listeners"), (routes, "routes"), (endpoints, "endpoints")):
        if value is None:
            continue
        what = _PART_NAMES[part]
        items = _part_items(value, what)
        try:
            _ADDERS[part](b, items)
        except (AttributeError, TypeError, KeyError, IndexError) as e:
            raise ParseError(f"{what} list", f"unexpected shape: {e}", command=f"istioctl proxy-config {what} -o json") from None
    if secrets is not None:
        doc = _part_object(secrets, "secret")
        if not isinstance(doc, dict):
            raise ParseError("secret dump", "expected a JSON object", command="istioctl proxy-config secret -o json")
        b.secrets_section(doc)
    return b.build()


def _add_clusters(b: _Builder, items: Iterable[tuple[Any, RawRef]]) -> None:
    b.mark("clusters")
    b.clusters.extend(_build_cluster(c, ref, warming=False, static=False) for c, ref in items)


def _add_listeners(b: _Builder, items: Iterable[tuple[Any, RawRef]]) -> None:
    b.mark("listeners")
    b.listeners.extend(_build_listener(lst, ref, state="active", static=False) for lst, ref in items)


def _add_routes(b: _Builder, items: Iterable[tuple[Any, RawRef]]) -> None:
    b.mark("routes")
    b.routes.extend(_build_route_config(rc, ref, static=False) for rc, ref in items)


def _add_endpoints(b: _Builder, items: Iterable[tuple[Any, RawRef]]) -> None:
    b.mark("endpoints")
    for e, ref in items:
        if _g(e, "host_statuses") is not None:
            b.endpoints.append(_build_cluster_status(e, ref))
        else:
            b.endpoints.append(_build_cla(e, ref, static=False))


_ADDERS: dict[str, Callable[[_Builder, Iterable[tuple[Any, RawRef]]], None]] = {
    "clusters": _add_clusters, "listeners": _add_listeners, "routes": _add_routes, "endpoints": _add_endpoints,
}
