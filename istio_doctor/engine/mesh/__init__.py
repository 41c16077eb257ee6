"""One home for Istio's mesh semantics: every check (and the request tracer) asks here.

| module | what Istio does, and where in Istio's source it is written |
|---|---|
| ``protocol`` | protocol selection of a Service/ServiceEntry port: port-name prefixes, ``appProtocol``, well-known TCP ports, sniffing, server-first protocols |
| ``hosts`` | short names (``ResolveShortnameToFQDN``) vs a client's DNS search path, host matching and wildcards, the most specific host, gateway references |
| ``domain`` | the cluster's DNS domain, read from the pod / injector / bootstrap instead of assuming ``cluster.local`` |
| ``visibility`` | ``exportTo`` (``*``, ``.``, ``~``, namespaces, mesh-wide defaults) and Sidecar egress imports |
| ``lookup`` | which DestinationRule (client, service, root namespace; merging by version), VirtualService and Sidecar apply |
| ``peerauth`` | the PeerAuthentication mode a workload enforces (workload > namespace > mesh, port-level) |
| ``injection`` | the injector's decision (webhook selectors, ``injectRequired``, revisions, policy; by version) |
| ``resolve`` | the same rules fed from a check's declared evidence (``CheckContext``) |

The scenario kit (``tests/scenariokit/world.py``) keeps its own, independent copy of these
rules on purpose: it encodes the world; this package reads it. Both are tested against Istio's
source (``tests/test_mesh_*.py``).
"""

from __future__ import annotations

from istio_doctor.engine.mesh.hosts import (
    DEFAULT_DOMAIN,
    dns_fqdn,
    host_matches,
    hosts_intersect,
    most_specific,
    resolve_gateway_name,
    resolve_short_name,
    service_fqdn,
    split_service_fqdn,
)
from istio_doctor.engine.mesh.lookup import AppliedRule, MeshView
from istio_doctor.engine.mesh.peerauth import EffectiveMtls
from istio_doctor.engine.mesh.protocol import Protocol, Selection
from istio_doctor.engine.mesh.resolve import (
    all_destination_rules_for,
    client_host,
    cluster_domain,
    config_host,
    container_port_for,
    destination_rule_for,
    effective_mtls,
    mesh_config,
    pods_for_service,
    root_namespace,
    service_for_host,
    service_host,
    sidecar_for,
    svc_fqdn,
    view,
    virtual_services_for_host,
)
from istio_doctor.engine.mesh.visibility import exported_to, service_export_to

__all__ = [
    "DEFAULT_DOMAIN", "AppliedRule", "EffectiveMtls", "MeshView", "Protocol", "Selection",
    "all_destination_rules_for", "client_host", "cluster_domain", "config_host", "container_port_for", "destination_rule_for", "dns_fqdn",
    "effective_mtls", "exported_to", "host_matches", "hosts_intersect", "mesh_config", "most_specific",
    "pods_for_service", "resolve_gateway_name", "resolve_short_name", "root_namespace", "service_export_to",
    "service_fqdn", "service_for_host", "service_host", "sidecar_for", "split_service_fqdn", "svc_fqdn", "view",
    "virtual_services_for_host",
]
