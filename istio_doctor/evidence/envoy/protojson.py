"""protojson-style re-marshalling of Envoy resources, for ``proxy-config -o json|yaml``."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["marshal_json", "marshal_yaml", "message_json", "to_protojson"]

# Fields whose value is a protobuf map: keys are data (kept verbatim) and protojson sorts them.
_MAP_OF_STRUCTS = frozenset({"filter_metadata", "filterMetadata"})
_MAP_OF_MESSAGES = frozenset(
    {"typed_filter_metadata", "typedFilterMetadata", "typed_per_filter_config", "typedPerFilterConfig"}
)
_MAP_OF_SCALARS = frozenset({"key_values", "keyValues"})


def _camel_key(k: str) -> str:
    if "_" not in k or k.startswith("@"):
        return k
    head, *rest = k.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _struct(v: Any) -> Any:
    # protojson writes Struct fields sorted by key and never renames them.
    if isinstance(v, dict):
        return {k: _struct(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [_struct(x) for x in v]
    return v


def message_json(raw: dict[str, Any]) -> Any:
    """One Envoy resource as istioctl prints it: the typed message, so no top-level ``@type``."""
    out = to_protojson(raw)
    if isinstance(out, dict):
        out.pop("@type", None)
    return out


def to_protojson(v: Any) -> Any:
    """A copy of a decoded Envoy object with field names in protojson camelCase.

    Map fields keep their keys and are sorted (protojson's order); Struct contents
    (filter metadata, ``transport_socket_matches[].match``, TypedStruct ``value``, node
    metadata) are data and are copied verbatim, sorted. ``@type`` stays first.
    """
    if isinstance(v, list):
        return [to_protojson(x) for x in v]
    if not isinstance(v, dict):
        return v
    out: dict[str, Any] = {}
    is_typed_struct = str(v.get("@type", "")).endswith("TypedStruct")
    for k, x in v.items():
        ck = _camel_key(k)
        if k in _MAP_OF_STRUCTS:
            out[ck] = {mk: _struct(x[mk]) for mk in sorted(x)} if isinstance(x, dict) else x
        elif k in _MAP_OF_MESSAGES:
            out[ck] = {mk: to_protojson(x[mk]) for mk in sorted(x)} if isinstance(x, dict) else x
        elif k in _MAP_OF_SCALARS:
            out[ck] = {mk: x[mk] for mk in sorted(x)} if isinstance(x, dict) else x
        elif k in ("transport_socket_matches", "transportSocketMatches") and isinstance(x, list):
            out[ck] = [_tsm(m) for m in x]
        elif (is_typed_struct and k == "value") or k in ("metadata",) and _looks_like_node_metadata(v):
            out[ck] = _struct(x)
        else:
            out[ck] = to_protojson(x)
    return out


def _looks_like_node_metadata(parent: dict[str, Any]) -> bool:
    # envoy.config.core.v3.Node.metadata is a Struct; every other "metadata" is core.Metadata.
    return "id" in parent and ("cluster" in parent or "locality" in parent or "user_agent_name" in parent)


def _tsm(m: Any) -> Any:
    if not isinstance(m, dict):
        return m
    out = {}
    for k, x in m.items():
        out[_camel_key(k)] = _struct(x) if k == "match" else to_protojson(x)
    return out


def marshal_json(objs: Any) -> str:
    """Go ``json.MarshalIndent(v, "", "    ")`` text (HTML-escaped like Go's encoder) plus newline."""
    s = json.dumps(objs, indent=4, ensure_ascii=False)
    s = s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    s = s.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return s + "\n"


def marshal_yaml(objs: Any) -> str:
    """sigs.k8s.io/yaml ``JSONToYAML`` style: sorted keys, block style, then Fprintln's newline."""
    import yaml

    try:
        dumper: Any = yaml.CSafeDumper
    except AttributeError:  # pragma: no cover - libyaml missing
        dumper = yaml.SafeDumper
    return yaml.dump(objs, Dumper=dumper, default_flow_style=False, sort_keys=True, allow_unicode=True, width=80) + "\n"

