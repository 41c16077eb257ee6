"""Who sees what: ``exportTo`` (with the mesh-wide defaults) and a Sidecar's egress imports.

* ``exportTo`` values (``istio/istio@1.22.0:pkg/config/visibility/visibility.go``): ``*`` public,
  ``.`` the resource's own namespace, ``~`` nobody (Services only), or namespace names.
* A resource that sets no ``exportTo`` takes MeshConfig's ``defaultServiceExportTo`` /
  ``defaultVirtualServiceExportTo`` / ``defaultDestinationRuleExportTo``; Istio honours only
  ``.`` and ``*`` there (``initVirtualServices``, ``initServiceRegistry`` and
  ``setDestinationRules`` in ``pilot/pkg/model/push_context.go``), and with neither the
  resource is seen by nobody (Services, VirtualServices) or by everyone (DestinationRules,
  whose default only ever makes them private).
* ``*`` wins over ``~`` when both are listed (``initVirtualServices`` tests ``Public`` first).
* A Service's exportTo is its ``networking.istio.io/exportTo`` annotation, comma separated (spaces
  around the names count before 1.24); a ServiceEntry's is its ``exportTo``. Both default to
  MeshConfig's ``defaultServiceExportTo`` (``IsServiceVisible`` and ``initServiceRegistry``,
  ``pilot/pkg/model/push_context.go``).
* A Sidecar's ``egress.hosts`` (``namespace/dnsName``; namespace ``*``, ``.`` or ``~``) decides
  which of the visible services its proxy imports
  (https://istio.io/latest/docs/reference/config/networking/sidecar/#IstioEgressListener).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from istio_doctor.engine.mesh.hosts import host_matches

PUBLIC, PRIVATE, NONE = "*", ".", "~"
SERVICE_EXPORT_ANNOTATION = "networking.istio.io/exportTo"


class Kind(StrEnum):
    SERVICE = "Service"
    VIRTUAL_SERVICE = "VirtualService"
    DESTINATION_RULE = "DestinationRule"


def mesh_default(mesh_config: Any | None, kind: Kind) -> list[str]:
    """MeshConfig's ``default<Kind>ExportTo`` (empty when unset: Istio's default is ``*``)."""
    if mesh_config is None:
        return []
    field = {Kind.SERVICE: "default_service_export_to", Kind.VIRTUAL_SERVICE: "default_virtual_service_export_to",
             Kind.DESTINATION_RULE: "default_destination_rule_export_to"}[kind]
    return list(getattr(mesh_config, field, None) or [])


def exported_to(export_to: list[str] | tuple[str, ...] | None, owner_namespace: str, client_namespace: str,
                default: list[str] | tuple[str, ...] = ()) -> bool:
    """Whether a resource of ``owner_namespace`` is visible to a proxy in ``client_namespace``.

    ``default`` is the mesh-wide default for this kind (``mesh_default``), used when the
    resource sets no ``exportTo``."""
    values = list(export_to or [])
    if not values:
        if not default or PUBLIC in default:
            return True
        return PRIVATE in default and owner_namespace == client_namespace
    if PUBLIC in values:
        return True
    if NONE in values:
        return False
    return any((v == PRIVATE and owner_namespace == client_namespace) or v == client_namespace for v in values)


#: Istio trims the spaces around the annotation's namespaces from 1.24 (istio/istio#53367,
#: 5152877a: ``ns = strings.TrimSpace(ns)`` in ``pilot/pkg/serviceregistry/kube/conversion.go``);
#: before, ``"default, foo"`` exports to ``default`` and to a namespace named `` foo``.
_TRIMMED_FROM = (1, 24)


def service_export_to(svc: Any, version: Any | None = None) -> list[str]:
    """A Kubernetes Service's exportTo, from its ``networking.istio.io/exportTo`` annotation, split on
    commas as ``ConvertService`` does at ``version`` (``istio/istio@1.22.0:pilot/pkg/serviceregistry/
    kube/conversion.go``); an unknown version reads it as the current releases do."""
    raw = (getattr(svc.metadata, "annotations", None) or {}).get(SERVICE_EXPORT_ANNOTATION, "")
    if not raw:
        return []
    trim = version is None or (version.major, version.minor) >= _TRIMMED_FROM
    values = [v.strip() if trim else v for v in raw.split(",")]
    return [v for v in values if v]  # an empty entry names no namespace


def sidecar_imports(egress_hosts: list[str], host_namespace: str, host: str, client_namespace: str) -> bool:
    """Whether a Sidecar egress ``hosts`` list (``ns/dnsName``) imports ``host`` of ``host_namespace``."""
    for entry in egress_hosts:
        ns, sep, name = entry.partition("/")
        if not sep:
            ns, name = "*", entry
        if ns == NONE:
            continue
        if ns != PUBLIC and not (ns == PRIVATE and host_namespace == client_namespace) and ns != host_namespace:
            continue
        if host_matches(name, host):
            return True
    return False
