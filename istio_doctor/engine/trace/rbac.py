"""Envoy RBAC (network and HTTP filters), as Istio's AuthorizationPolicies become.

Source: envoyproxy/envoy ``source/extensions/filters/common/rbac/engine_impl.cc`` and
``matchers.cc``: a policy matches when any of its permissions and any of its principals
match; ``ALLOW`` lets a request through only when some policy matches (no policy: deny all),
``DENY`` rejects it when some policy matches, ``LOG`` never rejects; ``shadow_rules`` only
count. Istio renders each AuthorizationPolicy action as its own RBAC filter, DENY before
ALLOW (istio/istio ``pilot/pkg/security/authz/builder``), and on a TCP chain drops an
ALLOW rule that needs HTTP attributes (paths, methods, headers) while a DENY rule with them
denies the whole port (https://istio.io/latest/docs/ops/common-problems/security-issues/
"Authorization is too restrictive or permissive", "Make sure the policy uses HTTP fields on
HTTP traffic").

Matching is three-valued: ``None`` means the trace cannot know (a JWT claim, dynamic
metadata it was not given). The caller reports such a decision as unknown, never as allowed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from istio_doctor.engine.trace.http import _string_match, header_matches
from istio_doctor.engine.trace.index import field

Tri = bool | None


@dataclass
class RbacInput:
    dest_ip: str
    dest_port: int
    sni: str
    source_ip: str | None
    principal: str | None  # peer certificate URI SAN (mTLS), None when plaintext
    mtls: bool
    headers: dict[str, str] | None  # None on a TCP chain: HTTP attributes do not exist
    path: str | None

    @property
    def may_have_jwt(self) -> bool:
        """request.auth.* exists only for a request carrying a token RequestAuthentication validated."""
        return bool(self.headers and self.headers.get("authorization", "").lower().startswith("bearer "))


def _or(vals: list[Tri]) -> Tri:
    if any(v is True for v in vals):
        return True
    if any(v is None for v in vals):
        return None
    return False


def _and(vals: list[Tri]) -> Tri:
    if any(v is False for v in vals):
        return False
    if any(v is None for v in vals):
        return None
    return True


def _not(v: Tri) -> Tri:
    return None if v is None else not v


def _cidr(c: dict[str, Any], ip: str | None) -> Tri:
    if ip is None:
        return None
    pl = field(c, "prefix_len")
    if isinstance(pl, dict):
        pl = pl.get("value")
    try:
        net = ipaddress.ip_network(f"{field(c, 'address_prefix', '')}/{int(pl or 0)}", strict=False)
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return addr.version == net.version and addr in net


def _str(sm: dict[str, Any] | None, value: str | None) -> Tri:
    if sm is None:
        return None
    if value is None:
        return False
    return _string_match(sm, value)


def _peer(sm: dict[str, Any] | None, inp: RbacInput) -> Tri:
    """The peer identity: absent over plaintext (no match); over mTLS unknown unless given."""
    if not inp.mtls:
        return False
    if inp.principal is None:
        return None
    return _str(sm, inp.principal)


def _metadata(md: dict[str, Any], inp: RbacInput) -> Tri:
    # Istio's istio_authn filter exposes source.principal (peer identity) and request.auth.* (JWT).
    path = [p.get("key", "") for p in md.get("path") or ()]
    value = (md.get("value") or {})
    sm = field(value, "string_match")
    if md.get("filter") == "istio_authn" and path == ["source.principal"]:
        return _peer(sm, inp)
    if md.get("filter") == "istio_authn" and path[:1] and path[0].startswith("request.auth"):
        # No bearer token: Istio sets no request.auth.* metadata, and a missing key never matches.
        return None if inp.may_have_jwt else False
    return None


def permission(p: dict[str, Any], inp: RbacInput) -> Tri:
    if field(p, "any"):
        return True
    if (x := field(p, "and_rules")) is not None:
        return _and([permission(r, inp) for r in x.get("rules") or ()])
    if (x := field(p, "or_rules")) is not None:
        return _or([permission(r, inp) for r in x.get("rules") or ()])
    if (x := field(p, "not_rule")) is not None:
        return _not(permission(x, inp))
    if (x := field(p, "destination_port")) is not None:
        return int(x) == inp.dest_port
    if (x := field(p, "destination_port_range")) is not None:
        return int(x.get("start", 0)) <= inp.dest_port < int(x.get("end", 0))
    if (x := field(p, "destination_ip")) is not None:
        return _cidr(x, inp.dest_ip)
    if (x := field(p, "requested_server_name")) is not None:
        return _str(x, inp.sni or None)
    if (x := field(p, "header")) is not None:
        if inp.headers is None:
            return False
        return header_matches(x, inp.headers)
    if (x := field(p, "url_path")) is not None:
        if inp.path is None:
            return False
        return _str(field(x, "path"), inp.path)
    if (x := field(p, "metadata")) is not None:
        return _metadata(x, inp)
    return None


def principal(p: dict[str, Any], inp: RbacInput) -> Tri:
    if field(p, "any"):
        return True
    if (x := field(p, "and_ids")) is not None:
        return _and([principal(r, inp) for r in x.get("ids") or ()])
    if (x := field(p, "or_ids")) is not None:
        return _or([principal(r, inp) for r in x.get("ids") or ()])
    if (x := field(p, "not_id")) is not None:
        return _not(principal(x, inp))
    if (x := field(p, "authenticated")) is not None:
        if not inp.mtls:
            return False  # no peer certificate: nothing to match
        pn = field(x, "principal_name")
        if pn is None:
            return True  # any authenticated peer
        return _peer(pn, inp)
    for key in ("source_ip", "direct_remote_ip", "remote_ip"):
        if (x := field(p, key)) is not None:
            return _cidr(x, inp.source_ip)
    if (x := field(p, "header")) is not None:
        if inp.headers is None:
            return False
        return header_matches(x, inp.headers)
    if (x := field(p, "url_path")) is not None:
        return False if inp.path is None else _str(field(x, "path"), inp.path)
    if (x := field(p, "metadata")) is not None:
        return _metadata(x, inp)
    if (x := field(p, "filter_state")) is not None:
        # Istio >= 1.21 matches the peer identity through filter state.
        if x.get("key") == "io.istio.peer_principal":
            return _peer(field(x, "string_match"), inp)
        return None
    return None


@dataclass
class RbacDecision:
    allowed: Tri
    action: str
    policy: str | None  # the policy that decided (matched DENY, matched ALLOW)
    why: str


def evaluate(rbac_config: dict[str, Any], inp: RbacInput) -> RbacDecision | None:
    """Decision of one RBAC filter config; None when it enforces nothing (no ``rules``)."""
    rules = field(rbac_config, "rules")
    if rules is None:
        return None
    action = rules.get("action", "ALLOW")
    policies = rules.get("policies") or {}
    matched: list[str] = []
    unknown: list[str] = []
    for name, pol in policies.items():
        perms = _or([permission(x, inp) for x in pol.get("permissions") or ()])
        princ = _or([principal(x, inp) for x in pol.get("principals") or ()])
        res = _and([perms, princ])
        if res is True:
            matched.append(name)
        elif res is None:
            unknown.append(name)
    if action == "LOG":
        return RbacDecision(True, action, matched[0] if matched else None, "LOG policies never reject")
    if action == "DENY":
        if matched:
            return RbacDecision(False, action, matched[0], f"DENY policy {matched[0]} matches")
        if unknown:
            return RbacDecision(None, action, unknown[0], f"DENY policy {unknown[0]} may match (depends on {_what(unknown)})")
        return RbacDecision(True, action, None, f"no DENY policy matches ({len(policies)} checked)")
    if matched:
        return RbacDecision(True, action, matched[0], f"ALLOW policy {matched[0]} matches")
    if unknown:
        return RbacDecision(None, action, unknown[0], f"ALLOW policy {unknown[0]} may match (depends on {_what(unknown)})")
    if not policies:
        return RbacDecision(False, action, None, "ALLOW with no policies denies every request")
    return RbacDecision(False, action, None, f"no ALLOW policy matches ({', '.join(sorted(policies)[:4])})")


def _what(_names: list[str]) -> str:
    return "attributes the trace does not have, e.g. JWT claims or dynamic metadata"
