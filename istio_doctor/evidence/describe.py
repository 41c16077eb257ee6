"""Parse ``istioctl x describe pod`` text (Istio 1.3 to current).

``describe`` is the one istioctl command that reports what the pod's *own* Envoy applied: the
DestinationRule and VirtualService it actually uses, whether the pod matches their subsets,
TLS modes, PeerAuthentication and stale-config warnings. It has no machine-readable output, so
this parser reads the text structure (3-space indents, ``--------------------`` separators) and
keeps every WARNING line verbatim: a future istioctl may add warnings we do not model, and the
engine should still be able to show them.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

__all__ = [
    "DescribeDestinationRule",
    "DescribePod",
    "DescribeService",
    "DescribeVirtualService",
    "LegacyMtlsReport",
    "PeerAuthenticationInfo",
    "PodPort",
    "ServicePort",
    "parse_describe_pod",
]


class PodPort(BaseModel):
    port: int
    protocol: str | None = None  # early 1.3 builds print "9080/TCP"
    container: str


class ServicePort(BaseModel):
    name: str | None = None
    port: int | None = None
    protocol: str | None = None
    target_port: int | None = None  # absent in 1.3-1.6 output
    # istioctl prints the FindPort error instead of the port line when the Service port cannot
    # be mapped to a container port: exactly the "wrong targetPort" situation.
    error: str | None = None


class DescribeService(BaseModel):
    name: str
    ports: list[ServicePort] = Field(default_factory=list)


class DescribeDestinationRule(BaseModel):
    name: str
    host: str
    service: str | None = None  # the Service section this DR was printed under
    port: int | None = None  # "6001 DestinationRule: ..." (per-port DR lines, 1.20+)
    matching_subsets: list[str] = Field(default_factory=list)
    non_matching_subsets: list[str] = Field(default_factory=list)
    non_matching_count: int | None = None  # early "v1 (and 1 non-matching subsets)"
    no_subset_match: bool = False
    tls_mode: str | None = None
    no_traffic_policy: bool = False
    port_level: list[str] = Field(default_factory=list)
    policies: list[str] = Field(default_factory=list)


class NonMatchingRoute(BaseModel):
    subset: str
    condition: str


class DescribeVirtualService(BaseModel):
    name: str
    service: str | None = None
    via_ingress: bool = False  # printed in the ingress-gateway part of the output
    routes: list[str] = Field(default_factory=list)  # summary lines: "1 HTTP route(s)", "Weight 90%"
    no_destinations_match: bool = False
    checked_routes: int | None = None
    non_matching_routes: list[NonMatchingRoute] = Field(default_factory=list)
    unknown_subsets: list[str] = Field(default_factory=list)
    subsets_without_dr: list[str] = Field(default_factory=list)
    faults: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class PeerAuthenticationInfo(BaseModel):
    workload_mode: str | None = None
    port_level: dict[int, str] = Field(default_factory=dict)
    applied: list[str] = Field(default_factory=list)


class LegacyMtlsReport(BaseModel):
    """1.3-1.5 ``Pilot reports that pod enforces X and clients speak Y``."""

    pod_enforces: str
    clients_speak: str
    raw: str


class DescribePod(BaseModel):
    pod: str | None = None
    namespace: str | None = None
    revision: str | None = None
    ports: list[PodPort] = Field(default_factory=list)
    exposes_no_ports: bool = False
    in_mesh: bool = True
    not_ready_containers: list[str] = Field(default_factory=list)
    not_running: str | None = None
    uid_1337: bool = False
    suggestions: list[str] = Field(default_factory=list)
    no_services: bool = False
    services: list[DescribeService] = Field(default_factory=list)
    destination_rules: list[DescribeDestinationRule] = Field(default_factory=list)
    virtual_services: list[DescribeVirtualService] = Field(default_factory=list)
    peer_authentication: PeerAuthenticationInfo | None = None
    mtls_reports: list[LegacyMtlsReport] = Field(default_factory=list)
    tls_conflicts: list[tuple[int, str]] = Field(default_factory=list)
    ingress_urls: list[str] = Field(default_factory=list)
    ingress_skipped: str | None = None
    rbac_policies: list[str] | None = None
    stale_warnings: list[str] = Field(default_factory=list)
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    # Lines nothing above understood: shown to the user rather than silently dropped.
    unrecognized: list[str] = Field(default_factory=list)


_POD = re.compile(r"^Pod:\s+(\S+)")
_POD_PORT = re.compile(r"(\d+)(?:/(\w+))?\s+\(([^)]*)\)")
_NOT_IN_MESH = re.compile(r"^WARNING:?\s+(\S+) is not part of mesh; no Istio sidecar")
_NOT_READY = re.compile(r"^WARNING:?\s+Pod (\S+) (?:Init )?Container (\S+) NOT READY")
_NOT_RUNNING = re.compile(r"^Pod is not (\w+)(?: \((.*)\))?")
_SERVICE = re.compile(r"^Service:\s+(\S+)")
_SVC_PORT = re.compile(r"^Port:\s*(\S*)\s+(\d+)/(\S+)(?:\s+targets pod port (\d+))?\s*$")
_DR = re.compile(r'^(?:(\d+)\s+)?DestinationRule:\s+(\S+)\s+for\s+"([^"]*)"')
_VS = re.compile(r"^VirtualService:\s+(\S+)")
_MATCHING = re.compile(r"^Matching subsets:\s*(.*?)(?:\s+\(and (\d+) non-matching subsets?\))?$")
_NON_MATCHING = re.compile(r"^\(Non-matching subsets\s+(.*)\)$")
_NO_SUBSET_MATCH = re.compile(r"^WARNING POD DOES NOT MATCH ANY SUBSETS\.?\s*(?:\(Non matching subsets\s+(.*)\))?")
_TLS_MODE = re.compile(r"^Traffic Policy TLS Mode:\s*(\S+)")
_NO_DEST = re.compile(r"^WARNING:?\s+No destinations match pod subsets(?: \(checked (\d+) HTTP routes?\))?")
_ROUTE_NONMATCH = re.compile(r"^Route to non-matching subset (\S+) for \((.*)\)")
_UNKNOWN_SUBSET = re.compile(r"^Warning:?\s+Route to UNKNOWN subset ([^\s.;]+)")
_NO_DR_SUBSET = re.compile(r"^Warning:?\s+Route to subset (\S+) but NO DESTINATION RULE defining subsets")
_PILOT_REPORTS = re.compile(
    r"^Pilot reports that pod (?:enforces (\S+)|is \S+ \(enforces (\S+)\)) and clients speak (\S+)"
)
_TLS_CONFLICT = re.compile(r"^WARNING:?\s+Pilot predicts TLS Conflict on (\S+) port (\d+)(?:\s+\((.*)\))?")
_WORKLOAD_MODE = re.compile(r"^Workload mTLS mode:\s*(\S+)")
_PORT_MODE = re.compile(r"^(\d+):\s*(\S+)")
_EXPOSED = re.compile(r"^Exposed on Ingress Gateway\s+(\S+)")
_RBAC = re.compile(r"^RBAC policies:\s*(.*)$")
_ANNOTATION = re.compile(r"\s+<-{3,}.*$")  # a reader's "<------ look here" note in pasted output


def _split_list(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"[,\s]+", text) if p.strip()]


def _split_pod_name(name: str) -> tuple[str, str | None]:
    if "." in name:
        pod, ns = name.rsplit(".", 1)
        return pod, ns or None
    return name, None


def parse_describe_pod(text: str) -> DescribePod:
    """Structure of one ``istioctl x describe pod`` output. Never raises on odd lines."""
    out = DescribePod()
    service: DescribeService | None = None
    dr: DescribeDestinationRule | None = None
    vs: DescribeVirtualService | None = None
    block: str | None = None  # "pod", "service", "dr", "dr-portlevel", "vs", "pa", "pa-port", "applied"
    after_ingress = False

    for raw in text.splitlines():
        line = _ANNOTATION.sub("", raw.rstrip())
        s = line.strip()
        if not s or s == "..." or s.startswith(("$ ", "❯", "# ")):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if "WARNING" in s or s.startswith("Warning"):
            out.warnings.append(s)

        if set(s) == {"-"}:
            block, dr, vs = None, None, None
            continue
        if m := _POD.match(s):
            out.pod, out.namespace = _split_pod_name(m.group(1))
            block = "pod"
            continue
        if s.startswith("Pod Revision:"):
            out.revision = s.split(":", 1)[1].strip() or None
            continue
        if s.startswith("Pod Ports:"):
            out.ports = [
                PodPort(port=int(p), protocol=proto or None, container=c)
                for p, proto, c in _POD_PORT.findall(s.split(":", 1)[1])
            ]
            continue
        if s.startswith("Pod does not expose ports"):
            out.exposes_no_ports = True
            continue
        if m := _NOT_IN_MESH.match(s):
            out.in_mesh = False
            if out.pod is None:
                out.pod, out.namespace = _split_pod_name(m.group(1))
            continue
        if m := _NOT_READY.match(s):
            out.not_ready_containers.append(m.group(2))
            continue
        if "User ID (UID) 1337" in s:
            out.uid_1337 = True
            continue
        if m := _NOT_RUNNING.match(s):
            out.not_running = m.group(1)
            continue
        if s.startswith("Suggestion:"):
            out.suggestions.append(s.split(":", 1)[1].strip())
            continue
        if s.startswith("Warning: No Kubernetes Services select pod") or s.startswith(
            "WARNING: No Kubernetes Services select pod"
        ):
            out.no_services = True
            continue
        if m := _SERVICE.match(s):
            service = DescribeService(name=m.group(1))
            out.services.append(service)
            block, dr, vs = "service", None, None
            continue
        if m := _DR.match(s):
            dr = DescribeDestinationRule(
                name=m.group(2),
                host=m.group(3),
                port=int(m.group(1)) if m.group(1) else None,
                service=service.name if service else None,
            )
            out.destination_rules.append(dr)
            block, vs = "dr", None
            continue
        if m := _VS.match(s):
            vs = DescribeVirtualService(
                name=m.group(1), service=service.name if service else None, via_ingress=after_ingress
            )
            out.virtual_services.append(vs)
            block, dr = "vs", None
            continue
        if m := _PILOT_REPORTS.match(s):
            out.mtls_reports.append(
                LegacyMtlsReport(pod_enforces=m.group(1) or m.group(2), clients_speak=m.group(3), raw=s)
            )
            continue
        if m := _TLS_CONFLICT.match(s):
            out.tls_conflicts.append((int(m.group(2)), m.group(3) or s))
            continue
        if s.startswith("Effective PeerAuthentication"):
            out.peer_authentication = out.peer_authentication or PeerAuthenticationInfo()
            block = "pa"
            continue
        if s.startswith("Applied PeerAuthentication"):
            out.peer_authentication = out.peer_authentication or PeerAuthenticationInfo()
            rest = s.split(":", 1)[1].strip() if ":" in s else ""
            out.peer_authentication.applied.extend(_split_list(rest))
            block = "applied"
            continue
        if m := _RBAC.match(s):
            out.rbac_policies = _split_list(m.group(1))
            continue
        if m := _EXPOSED.match(s):
            out.ingress_urls.append(m.group(1))
            after_ingress = True
            block = None
            continue
        if s.startswith("Skipping Gateway information"):
            out.ingress_skipped = s
            continue
        if s.startswith("WARNING: Proxy is stale") or "Proxy is stale" in s:
            out.stale_warnings.append(s)
            continue
        if s.startswith("Error:"):
            out.error = s[len("Error:"):].strip()
            continue

        # ---- indented lines belong to the current block
        if block == "service" and service is not None and indent > 0:
            if m := _SVC_PORT.match(s):
                service.ports.append(
                    ServicePort(
                        name=m.group(1) or None,
                        port=int(m.group(2)),
                        protocol=m.group(3),
                        target_port=int(m.group(4)) if m.group(4) else None,
                    )
                )
            else:
                service.ports.append(ServicePort(error=s))
            continue
        if block in ("dr", "dr-portlevel") and dr is not None and indent > 0:
            if m := _MATCHING.match(s):
                dr.matching_subsets = _split_list(m.group(1))
                if m.group(2):
                    dr.non_matching_count = int(m.group(2))
            elif m := _NON_MATCHING.match(s):
                dr.non_matching_subsets = _split_list(m.group(1))
            elif m := _NO_SUBSET_MATCH.match(s):
                dr.no_subset_match = True
                if m.group(1):
                    dr.non_matching_subsets = _split_list(m.group(1))
            elif m := _TLS_MODE.match(s):
                if block == "dr-portlevel":
                    dr.port_level.append(s)
                else:
                    dr.tls_mode = m.group(1)
            elif s == "No Traffic Policy":
                dr.no_traffic_policy = True
            elif s.startswith("Policies:"):
                dr.policies = [p.strip() for p in re.split(r"[,/]", s.split(":", 1)[1]) if p.strip()]
            elif s.startswith("Port Level Settings"):
                block = "dr-portlevel"
            elif block == "dr-portlevel":
                dr.port_level.append(s)
            else:
                out.unrecognized.append(s)
            continue
        if block == "vs" and vs is not None and indent > 0:
            if m := _NO_DEST.match(s):
                vs.no_destinations_match = True
                vs.checked_routes = int(m.group(1)) if m.group(1) else None
                vs.warnings.append(s)
            elif m := _ROUTE_NONMATCH.match(s):
                vs.non_matching_routes.append(NonMatchingRoute(subset=m.group(1), condition=m.group(2)))
                vs.warnings.append(s)
            elif m := _UNKNOWN_SUBSET.match(s):
                vs.unknown_subsets.append(m.group(1))
                vs.warnings.append(s)
            elif m := _NO_DR_SUBSET.match(s):
                vs.subsets_without_dr.append(m.group(1))
                vs.warnings.append(s)
            elif s.lower().startswith("fault"):
                vs.faults.append(s)
            elif "WARNING" in s or s.startswith("Warning"):
                vs.warnings.append(s)
            else:
                vs.routes.append(s)
            continue
        if block in ("pa", "pa-port") and out.peer_authentication is not None and indent > 0:
            if m := _WORKLOAD_MODE.match(s):
                out.peer_authentication.workload_mode = m.group(1)
            elif s.startswith("Port Level mTLS mode"):
                block = "pa-port"
            elif block == "pa-port" and (m := _PORT_MODE.match(s)):
                out.peer_authentication.port_level[int(m.group(1))] = m.group(2)
            else:
                out.unrecognized.append(s)
            continue
        if block == "applied" and out.peer_authentication is not None and indent > 0:
            out.peer_authentication.applied.extend(_split_list(s))
            continue
        if "WARNING" not in s and not s.startswith("Warning"):
            out.unrecognized.append(s)
    return out
