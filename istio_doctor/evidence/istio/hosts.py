"""Host helpers with Istio's semantics, shared by several checks: ``host_matches`` (wildcards as
``host.Name.Matches``), ``hosts_intersect``, ``istio_resolve_host`` (what Istio makes of a short
host), ``fqdn`` (what a user means by it) and ``exported_to`` (``exportTo``).
"""

from __future__ import annotations


def host_matches(pattern: str, host: str) -> bool:
    """Istio host matching: ``*`` matches everything, ``*.example.com`` matches any name
    ending in ``.example.com`` (any depth, as Istio's ``host.Name.Matches``), and a wildcard
    ``host`` is matched only by an equal or wider wildcard pattern. Case-insensitive."""
    p, h = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if p == "*":
        return True
    if p.startswith("*"):
        suffix = p[1:]
        if h.startswith("*"):
            return h[1:].endswith(suffix)
        return h.endswith(suffix)
    if h.startswith("*"):
        return False
    return p == h


def hosts_intersect(a: str, b: str) -> bool:
    """Whether two host patterns can match a common name (e.g. VS host vs Gateway host)."""
    return host_matches(a, b) or host_matches(b, a)


def istio_resolve_host(host: str, namespace: str, domain: str = "cluster.local") -> str:
    """What Istio itself makes of a host in VS/DR config: only a *dotless* short name is
    expanded with the resource's namespace; ``reviews.default`` stays literally
    ``reviews.default`` (and then matches no service: a classic misconfiguration)."""
    if host.startswith("*") or "." in host:
        return host
    return f"{host}.{namespace}.svc.{domain}"


def fqdn(host: str, namespace: str, domain: str = "cluster.local") -> str:
    """The Kubernetes service FQDN a user means by ``host`` (DNS search-path semantics):
    ``reviews`` in ``default`` and ``reviews.default`` both give
    ``reviews.default.svc.cluster.local``; ``reviews.default.svc`` gets the domain appended;
    anything else (external names, FQDNs, wildcards) is returned unchanged."""
    if host.startswith("*"):
        return host
    parts = host.rstrip(".").split(".")
    if len(parts) == 1:
        return f"{host}.{namespace}.svc.{domain}"
    if len(parts) == 2:
        return f"{host}.svc.{domain}"
    if len(parts) == 3 and parts[2] == "svc":
        return f"{host}.{domain}"
    return host.rstrip(".")


def exported_to(export_to: list[str], owner_namespace: str, client_namespace: str) -> bool:
    """``exportTo`` semantics: empty or ``*`` = everywhere, ``.`` = own namespace, ``~`` = nowhere.
    (An empty list really means the mesh default ``defaultXxxExportTo``, which is ``*`` unless
    changed in MeshConfig; callers that know the mesh default pass it in ``export_to``.)"""
    if not export_to or "*" in export_to:
        return True
    if "~" in export_to:
        return False
    if "." in export_to and owner_namespace == client_namespace:
        return True
    return client_namespace in export_to
