"""Playbook ``routes`` (checks ``ROUTE-*``): missing routes (Envoy ``404 NR route_not_found``, ``503 NC cluster_not_found``,
``502`` BlackHoleCluster, "no healthy upstream" caused by routing).

The examined pod is either an application pod (a client whose outbound requests fail) or an
ingress gateway (``pod.is_gateway``; router listeners such as 8080/8443 and RDS ``http.8080``).
The config dump is the ground truth of what Envoy does: an NR is decided by which virtual
host and route Envoy would pick for the logged ``:authority`` and path, an NC by which clusters
exist. Istio resources explain *why* Envoy has that config. ``istioctl analyze`` messages are
cited when they agree, never used as the deciding evidence.

An Envoy 404 carries the flag ``NR`` and details ``route_not_found``; an application's own 404
carries ``via_upstream`` and no flag. Only the former is a routing problem, so every check here
reads flagged entries only.

Layout (each submodule's docstring states its contract):

* ``_proxy``: access-log and config-dump helpers (what the proxy logged and holds)
* ``_resources``: the Istio resources, Services and ServiceEntries relevant to a failure
* ``gateway``: Gateway binding and gateway workloads (``ROUTE-VS-NO-GATEWAY``, ``ROUTE-GW-*``, ...)
* ``vhost``: virtual host and route matching (``ROUTE-AUTHORITY-MISMATCH``, ``ROUTE-MATCH-MISS``)
* ``misroute``: requests Envoy sends to another service than the caller meant (``MISROUTE-PREFIX-SHADOWED``, ``MISROUTE-HOST-OVERRIDES-ADDRESS``)
* ``destinations``: destination hosts, subsets, ports
* ``visibility``: VirtualService conflicts, ``exportTo``, Sidecar scope
* ``ingress``: ingress-only rules (subsets behind a gateway, JWT claim routing)
* ``gateway_api``: Gateway API status and CRDs
* ``xds``: xDS sync, EnvoyFilters, ServiceEntry addresses, DestinationRule hosts
"""

from __future__ import annotations

# Importing a submodule registers its checks (``@check`` runs at import). Importing the package
# imports every check module, so importing the playbook's package registers all of its checks as
# it did when this was one module (``load_builtin_checks`` walks subpackages as well).
from istio_doctor.engine.checks.routes import destinations, gateway, gateway_api, ingress, misroute, vhost, visibility, xds

__all__ = [
    "destinations",
    "gateway",
    "gateway_api",
    "ingress",
    "misroute",
    "vhost",
    "visibility",
    "xds",
]
