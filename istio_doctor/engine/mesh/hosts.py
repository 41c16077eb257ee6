"""Host names as Istio reads them: short names, FQDNs, wildcards, gateway references.

* ``resolve_short_name`` is ``ResolveShortnameToFQDN`` (``istio/istio@1.22.0:pilot/pkg/model/config.go``):
  only a *dotless* name gets ``.<namespace>.svc.<domain>``; ``reviews.default`` stays literally
  ``reviews.default`` (and then matches no Service). ``*`` and IP addresses stay as they are.
  This is what Istio does with VirtualService, DestinationRule and Sidecar hosts.
* ``dns_fqdn`` is what a *client's DNS* makes of a name (the pod's search path
  ``<ns>.svc.<domain> svc.<domain> <domain>``): ``reviews.default`` does reach the Service.
  Only for request authorities and URLs, never for Istio config hosts.
* ``host_matches`` / ``hosts_intersect`` are ``host.Name.SubsetOf`` / ``host.Name.Matches``
  (``istio/istio@1.22.0:pkg/config/host/name.go``); ``most_specific`` is
  ``MostSpecificHostMatch`` (``pilot/pkg/model/config.go``: exact first, then the longest
  wildcard, ``host.MoreSpecific``).
* ``resolve_gateway_name`` is ``resolveGatewayName`` (same file): ``gw`` -> ``<ns>/gw``,
  ``./gw`` -> ``<ns>/gw``, legacy ``gw.ns.svc.cluster.local`` -> ``ns/gw``.

The cluster domain is a parameter everywhere (``domain.cluster_domain`` reads it from the
cluster); ``DEFAULT_DOMAIN`` is only the fallback when no evidence names it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

DEFAULT_DOMAIN = "cluster.local"


def is_ip(host: str) -> bool:
    """An IPv4 or IPv6 literal (not a host name)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve_short_name(host: str, namespace: str, domain: str = DEFAULT_DOMAIN) -> str:
    """``ResolveShortnameToFQDN``: only a dotless short name is expanded in the resource's namespace."""
    if not host or host == "*" or is_ip(host) or "." in host:
        return host
    return f"{host}.{namespace}.svc.{domain}"


def dns_fqdn(host: str, namespace: str, domain: str = DEFAULT_DOMAIN) -> str:
    """The Service FQDN a client's DNS search path gives ``host`` (``reviews``, ``reviews.default``
    and ``reviews.default.svc`` all reach ``reviews.default.svc.<domain>``); other names unchanged."""
    if host.startswith("*") or is_ip(host):
        return host
    parts = host.rstrip(".").split(".")
    if len(parts) == 1:
        return f"{host}.{namespace}.svc.{domain}"
    if len(parts) == 2:
        return f"{host}.svc.{domain}"
    if len(parts) == 3 and parts[2] == "svc":
        return f"{host}.{domain}"
    return host.rstrip(".")


def service_fqdn(name: str, namespace: str, domain: str = DEFAULT_DOMAIN) -> str:
    return f"{name}.{namespace}.svc.{domain}"


def split_service_fqdn(host: str) -> tuple[str, str] | None:
    """``reviews.default.svc.<domain>`` -> (reviews, default); None for names that are not a Service's."""
    parts = host.split(".")
    if len(parts) >= 3 and parts[2] == "svc" and not host.startswith("*"):
        return parts[0], parts[1]
    return None


def _norm(h: str) -> str:
    # Kubernetes and Istio names are lower case; Envoy compares domains case-insensitively.
    return h.lower().rstrip(".")


def host_matches(pattern: str, host: str) -> bool:
    """``host`` is covered by ``pattern`` (``host.Name(host).SubsetOf(pattern)``): ``*`` covers
    everything, ``*.example.com`` any name (or narrower wildcard) ending in ``.example.com``;
    a wildcard ``host`` is covered only by an equal or wider wildcard."""
    p, h = _norm(pattern), _norm(host)
    if p == "*":
        return True
    if p.startswith("*"):
        suffix = p[1:]
        return h[1:].endswith(suffix) if h.startswith("*") else h.endswith(suffix)
    return not h.startswith("*") and p == h


def hosts_intersect(a: str, b: str) -> bool:
    """``host.Name.Matches``: the two (possibly wildcard) names share at least one name."""
    return host_matches(a, b) or host_matches(b, a)


def more_specific(a: str, b: str) -> bool:
    """``host.MoreSpecific``: non-wildcards before wildcards, then longer first, then alphabetical."""
    aw, bw = a.startswith("*"), b.startswith("*")
    if aw != bw:
        return bw
    if len(a) == len(b):
        return a < b
    return len(a) > len(b)


def most_specific(needle: str, hosts: Iterable[str]) -> str | None:
    """``MostSpecificHostMatch``: the exact host if present, else the most specific wildcard covering it."""
    hosts = list(hosts)
    n = _norm(needle)
    for h in hosts:
        if _norm(h) == n:
            return h
    best: str | None = None
    for h in hosts:
        if h.startswith("*") and host_matches(h, needle) and (best is None or more_specific(h, best)):
            best = h
    return best


def resolve_gateway_name(ref: str, namespace: str) -> str:
    """``resolveGatewayName``: a VirtualService's ``gateways`` entry as ``ns/name`` (``mesh`` stays)."""
    if ref == "mesh":
        return ref
    if "/" in ref:
        ns, _, name = ref.partition("/")
        return f"{namespace}/{name}" if ns == "." else ref
    if "." not in ref:
        return f"{namespace}/{ref}"
    name, _, rest = ref.partition(".")
    return f"{rest.split('.', 1)[0]}/{name}"
