"""Where a client connects when it asks for ``svc/NAME[.NS][:PORT]``, ``HOST[:PORT]`` or ``IP:PORT``.

Pure: it reads Services and Pods already gathered. A Kubernetes client resolves a Service name
to its ClusterIP (a headless Service to a pod IP) and sends the name it used, with the port, as
the Host header (curl ``http://reviews:9080/`` sends ``Host: reviews:9080``). A host that is not
a Service (a ServiceEntry, an external name) needs DNS this tool does not have: then the caller
must give ``IP:PORT`` and ``--host``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from istio_doctor.engine.mesh.hosts import DEFAULT_DOMAIN, dns_fqdn, is_ip, split_service_fqdn


class DestinationError(ValueError):
    """The destination cannot be resolved from the evidence (one sentence, a usage error)."""


@dataclass
class Destination:
    ip: str
    port: int
    authority: str | None  # the Host header a client would send (None: plain IP:PORT given)
    service: Any | None = None  # the Service, when it is one
    note: str = ""


def _split_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if not port.isdigit():
            raise DestinationError(f"port {port!r} in {text!r} is not a number")
        return host, int(port)
    return text, None


def _find_service(services: list[Any], name: str, namespace: str) -> Any | None:
    return next((s for s in services if s.metadata.name == name and (s.metadata.namespace or "default") == namespace), None)


def _service_from_host(services: list[Any], host: str, client_ns: str, domain: str) -> Any | None:
    """A Service named by a DNS name as a pod's resolver sees it (the search path: engine.mesh.hosts)."""
    fq = dns_fqdn(host.lower(), client_ns, domain)
    sn = split_service_fqdn(fq)
    if sn is None or not fq.endswith(f".svc.{domain}"):
        return None
    return _find_service(services, sn[0], sn[1])


def resolve_destination(text: str, *, client_namespace: str, services: list[Any], pods: list[Any],
                        domain: str = DEFAULT_DOMAIN) -> Destination:
    """Resolve ``--to``. ``services``: every Service gathered; ``pods``: pods of the target namespace;
    ``domain``: the cluster domain (``engine.mesh.domain``)."""
    if text.startswith("svc/"):
        name_ns, port = _split_port(text[4:])
        name, _, ns = name_ns.partition(".")
        ns = ns or client_namespace
        svc = _find_service(services, name, ns)
        if svc is None:
            raise DestinationError(f"service {ns}/{name} was not found")
        shown = name if ns == client_namespace else f"{name}.{ns}"
        return _service_dest(svc, port, shown, pods)
    host, port = _split_port(text)
    if is_ip(host):
        if port is None:
            raise DestinationError(f"{text!r} names no port: use IP:PORT")
        return Destination(ip=host, port=port, authority=None)
    svc = _service_from_host(services, host, client_namespace, domain)
    if svc is None:
        raise DestinationError(f"{host!r} is not a Service this tool can see; it needs DNS (a ServiceEntry or an "
                               f"external host): give --to IP:PORT and --host {host}")
    return _service_dest(svc, port, host, pods, keep_port_in_host=port is not None)


def _service_dest(svc: Any, port: int | None, host_as_typed: str, pods: list[Any], *, keep_port_in_host: bool = True) -> Destination:
    ports = [p.port for p in svc.spec.ports]
    if port is None:
        if len(ports) != 1:
            raise DestinationError(f"service {svc.metadata.namespace}/{svc.metadata.name} has ports {ports}: add :PORT")
        port = ports[0]
    elif port not in ports:
        raise DestinationError(f"service {svc.metadata.namespace}/{svc.metadata.name} has no port {port} (ports: {ports})")
    authority = f"{host_as_typed}:{port}" if keep_port_in_host and port != 80 else host_as_typed
    if svc.is_headless or not svc.spec.cluster_ip:
        # Headless: DNS answers pod IPs; the client connects to one of them on the target port.
        chosen = next((p for p in pods if svc.selects(p) and p.ip), None)
        if chosen is None:
            raise DestinationError(f"headless service {svc.metadata.namespace}/{svc.metadata.name} selects no running pod")
        sp = svc.port(port)
        target = sp.effective_target_port if sp is not None else port
        tport = target if isinstance(target, int) else port
        return Destination(ip=chosen.ip, port=tport, authority=authority, service=svc,
                           note=f"headless service: DNS returns pod IPs, using {chosen.metadata.name} ({chosen.ip})")
    return Destination(ip=svc.spec.cluster_ip, port=port, authority=authority, service=svc)


def pod_by_ip(pods: list[Any], ip: str) -> Any | None:
    return next((p for p in pods if getattr(p, "ip", None) == ip), None)
