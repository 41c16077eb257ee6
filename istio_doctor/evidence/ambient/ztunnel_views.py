"""``istioctl ztunnel-config`` views of one :class:`ZtunnelDump`, printed as istioctl prints them.

Source: istio/istio@86c9f01 ``istioctl/pkg/writer/ztunnel/configdump/{workload,services,
policies,certificates,connections,configdump}.go``; the goldens beside them in ``testdata/``
(vendored in ``tests/fixtures/corpus/ambient/ztunnel-config``) are the tests. Quirks copied on
purpose, because users paste both outputs side by side:

* Go ``text/tabwriter`` (padding 1; 5 for certificates) and Go's sort comparators;
* the WAYPOINT column is the *name* of the service whose ``namespace/hostname`` or VIP equals
  the workload's ``waypoint.destination``, ``None`` without a waypoint and ``NA`` when no
  service matches;
* certificates: ``Unavailable: <why>`` prints as ``Unavailable``; the serial is decimal in the
  dump and hex on screen (``<nil>`` when it is not a decimal number); ``VALID CERT`` compares
  with the current time (``now``);
* connections: addresses are shown as ``service:port`` / ``pod.namespace:port`` unless
  ``raw``; ``REMOTE TARGET`` of an inbound connection is printed as is (never resolved);
* ``-o json``: Go ``json.MarshalIndent`` of istioctl's structs: fields in struct order, nil
  slices and maps as ``null``, ``omitempty`` honoured, map keys sorted as strings, unknown
  fields dropped; ``all -o json`` prints the dump itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from pydantic import BaseModel

from istio_doctor.evidence.ambient.ztunnel_dump import (
    Cert,
    ZtunnelDump,
    ZtunnelPolicy,
    ZtunnelService,
    ZtunnelWorkload,
)
from istio_doctor.evidence.ambient.ztunnel_tables import ZcConnectionRow
from istio_doctor.evidence.envoy.views import _sort_by_key, marshal_json, marshal_yaml, tabwrite

__all__ = [
    "ConnectionsFilter",
    "WorkloadFilter",
    "all_summary",
    "certificate_json",
    "certificate_rows",
    "certificate_table",
    "connection_rows",
    "connections_json",
    "connections_table",
    "full_dump",
    "policy_json",
    "policy_table",
    "render",
    "service_json",
    "service_rows",
    "service_table",
    "waypoint_name",
    "workload_json",
    "workload_rows",
    "workload_table",
]

# --------------------------------------------------------------------------------------
# filters (WorkloadFilter.Verify, ServiceFilter/PolicyFilter.Verify, ConnectionsFilter)
# --------------------------------------------------------------------------------------


class WorkloadFilter(NamedTuple):
    address: str = ""
    node: str = ""
    namespace: str = ""
    #: pod name (istioctl sets it when the argument is a workload pod, not a ztunnel)
    name: str = ""

    def verify(self, w: ZtunnelWorkload) -> bool:
        # strings.EqualFold everywhere: the filters are case-insensitive
        if self.name and w.name.lower() != self.name.lower():
            return False
        if self.namespace and w.namespace.lower() != self.namespace.lower():
            return False
        if self.address and not any(ip.lower() == self.address.lower() for ip in w.workload_ips):
            return False
        if self.node and w.node.lower() != self.node.lower():
            return False
        return True


class ConnectionsFilter(NamedTuple):
    namespace: str = ""
    direction: str = ""
    raw: bool = False
    #: ``name`` (with ``namespace``) or ``name.namespace``
    workload: str = ""

    def normalized(self) -> ConnectionsFilter:
        if self.workload and not self.namespace and "." in self.workload:
            name, ns = self.workload.split(".", 1)
            return self._replace(workload=name, namespace=ns)
        return self


def _ns_match(value: str, want: str) -> bool:
    return not want or value.lower() == want.lower()


# --------------------------------------------------------------------------------------
# workloads
# --------------------------------------------------------------------------------------


def waypoint_name(dump: ZtunnelDump, w: ZtunnelWorkload | ZtunnelService) -> str:
    if w.waypoint is None:
        return "None"
    svc = dump.resolve_waypoint(w.waypoint)
    return svc.name if svc is not None else "NA"


class WorkloadRow(NamedTuple):
    namespace: str
    pod: str
    address: str
    node: str
    waypoint: str
    protocol: str


def _selected_workloads(dump: ZtunnelDump, flt: WorkloadFilter) -> list[ZtunnelWorkload]:
    return [w for w in dump.workloads if flt.verify(w)]


def workload_rows(dump: ZtunnelDump, flt: WorkloadFilter | None = None) -> list[WorkloadRow]:
    sel = _selected_workloads(dump, flt or WorkloadFilter())
    sel = _sort_by_key(sel, lambda w: (w.namespace + "." + w.name, w.node))
    return [
        WorkloadRow(w.namespace, w.name, ",".join(w.workload_ips) or w.hostname, w.node, waypoint_name(dump, w), w.protocol)
        for w in sel
    ]


def workload_table(dump: ZtunnelDump, flt: WorkloadFilter | None = None) -> str:
    head = ("NAMESPACE", "POD NAME", "ADDRESS", "NODE", "WAYPOINT", "PROTOCOL")
    return tabwrite([head, *workload_rows(dump, flt)], padding=1)


# --------------------------------------------------------------------------------------
# services
# --------------------------------------------------------------------------------------


class ServiceRow(NamedTuple):
    namespace: str
    name: str
    vips: str
    waypoint: str
    endpoints: str


def _selected_services(dump: ZtunnelDump, namespace: str) -> list[ZtunnelService]:
    svcs = [s for s in dump.services if _ns_match(s.namespace, namespace)]
    return sorted(svcs, key=lambda s: (s.namespace, s.name, s.hostname))


def service_rows(dump: ZtunnelDump, namespace: str = "") -> list[ServiceRow]:
    by_uid: dict[str, ZtunnelWorkload] = {}
    for w in dump.workloads:
        by_uid.setdefault(w.uid, w)  # slices.GroupUnique keeps the first
    out = []
    for s in _selected_services(dump, namespace):
        eps = s.endpoints or {}
        healthy = sum(1 for ep in eps.values() if (w := by_uid.get(ep.workload_uid)) is not None and w.status == "Healthy")
        ips = [a.partition("/")[2] for a in s.vips or []]
        out.append(ServiceRow(s.namespace, s.name, ",".join(ips), waypoint_name(dump, s), f"{healthy}/{len(eps)}"))
    return out


def service_table(dump: ZtunnelDump, namespace: str = "") -> str:
    head = ("NAMESPACE", "SERVICE NAME", "SERVICE VIP", "WAYPOINT", "ENDPOINTS")
    return tabwrite([head, *service_rows(dump, namespace)], padding=1)


# --------------------------------------------------------------------------------------
# policies
# --------------------------------------------------------------------------------------


def _selected_policies(dump: ZtunnelDump, namespace: str) -> list[ZtunnelPolicy]:
    return sorted((p for p in dump.policies if _ns_match(p.namespace, namespace)), key=lambda p: (p.namespace, p.name))


class PolicyRow(NamedTuple):
    namespace: str
    policy_name: str
    action: str
    scope: str


def policy_rows(dump: ZtunnelDump, namespace: str = "") -> list[PolicyRow]:
    return [PolicyRow(p.namespace, p.name, p.action, p.scope) for p in _selected_policies(dump, namespace)]


def policy_table(dump: ZtunnelDump, namespace: str = "") -> str:
    head = ("NAMESPACE", "POLICY NAME", "ACTION", "SCOPE")
    return tabwrite([head, *policy_rows(dump, namespace)], padding=1)


# --------------------------------------------------------------------------------------
# certificates
# --------------------------------------------------------------------------------------


class CertRow(NamedTuple):
    identity: str
    type: str
    status: str
    valid: str
    serial: str
    not_after: str
    not_before: str


def _na(v: str) -> str:
    return v or "NA"


def _go_rfc3339(s: str) -> datetime | None:
    # time.Parse(time.RFC3339, ...): a 'Z' or numeric offset is required
    try:
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def cert_valid(cert: Cert, now: datetime) -> bool:
    """certNotExpired: NOT BEFORE < now < NOT AFTER (unparseable or empty times: false)."""
    if not cert.expiration_time and not cert.valid_from:
        return False
    exp, frm = _go_rfc3339(cert.expiration_time), _go_rfc3339(cert.valid_from)
    if exp is None or frm is None:
        return False
    return frm < now < exp


def _hex_serial(serial: str) -> str:
    # big.Int.SetString(s, 10) then %x; a failed parse leaves a nil *big.Int, printed "<nil>"
    s = serial.strip()
    if s and (s.lstrip("+-").isdigit()) and s.isascii():
        n = int(s)
        return f"-{-n:x}" if n < 0 else f"{n:x}"
    return "<nil>"


def certificate_rows(dump: ZtunnelDump, *, now: datetime | None = None) -> list[CertRow]:
    # validity is judged when the dump was taken (a replayed dump: the recording's time)
    now = now or dump.taken_at or datetime.now(UTC)
    rows: list[CertRow] = []
    for c in dump.certificates:
        state = "Unavailable" if "Unavailable" in c.state else c.state
        chain = c.cert_chain or []
        roots = c.root_certs or []
        if not chain:
            rows.append(CertRow(c.identity, "NA", state, "false", "NA", "NA", "NA"))
            continue
        legacy = not roots  # before, the root was the last element of the chain
        for i, cert in enumerate(chain):
            kind = "Leaf" if i == 0 else "Root" if i == len(chain) - 1 and legacy else "Intermediate"
            rows.append(CertRow(c.identity, kind, state, _go_bool(cert_valid(cert, now)), _hex_serial(cert.serial_number),
                                _na(cert.expiration_time), _na(cert.valid_from)))
        for cert in roots:
            rows.append(CertRow(c.identity, "Root", state, _go_bool(cert_valid(cert, now)), _hex_serial(cert.serial_number),
                                _na(cert.expiration_time), _na(cert.valid_from)))
    return rows


def _go_bool(b: bool) -> str:
    return "true" if b else "false"


def certificate_table(dump: ZtunnelDump, *, now: datetime | None = None) -> str:
    head = ("CERTIFICATE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE")
    return tabwrite([head, *certificate_rows(dump, now=now)], padding=5)


# --------------------------------------------------------------------------------------
# connections
# --------------------------------------------------------------------------------------


#: one row of the connections view: the same row the table parser reads from istioctl's output
ConnectionRow = ZcConnectionRow


def _split_host_port(addr: str) -> tuple[str, str] | None:
    # net.SplitHostPort: "[v6]:port" or "host:port" with exactly one colon
    if addr.startswith("["):
        end = addr.find("]")
        if end < 0 or not addr[end + 1 :].startswith(":"):
            return None
        return addr[1:end], addr[end + 2 :]
    if addr.count(":") != 1:
        return None
    host, _, port = addr.partition(":")
    return host, port


def _join_host_port(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _sorted_states(dump: ZtunnelDump) -> list[Any]:
    return sorted(dump.workload_state.values(), key=lambda s: (s.info.namespace, s.info.name))


def connection_rows(dump: ZtunnelDump, flt: ConnectionsFilter | None = None) -> list[ConnectionRow]:
    f = (flt or ConnectionsFilter()).normalized()
    services: dict[str, str] = {}
    for s in dump.services:
        ip = s.vips[0].partition("/")[2] if s.vips else ""
        services[ip or "None"] = s.hostname
    workloads: dict[str, str] = {}
    for w in dump.workloads:
        workloads[(w.workload_ips[0] if w.workload_ips else "") or "None"] = f"{w.name}.{w.namespace}"

    def lookup(addr: str) -> str:
        if f.raw:
            return addr
        hp = _split_host_port(addr)
        host, port = hp if hp is not None else ("", "")
        if host in services:
            return _join_host_port(services[host], port)
        if host in workloads:
            return _join_host_port(workloads[host], port)
        return addr

    rows: list[ConnectionRow] = []
    for st in _sorted_states(dump):
        # the namespace filter is case-sensitive here, the workload one is not (connections.go)
        if f.namespace and f.namespace != st.info.namespace:
            continue
        if f.workload and f.workload.lower() != st.info.name.lower():
            continue
        name = f"{st.info.name}.{st.info.namespace}"
        if f.direction != "outbound":
            for c in st.connections.inbound or []:
                rows.append(ConnectionRow(name, "Inbound", lookup(c.actual_dst), lookup(c.src), c.original_dst, c.protocol))
        if f.direction != "inbound":
            for c in st.connections.outbound or []:
                rows.append(ConnectionRow(name, "Outbound", lookup(c.src), lookup(c.actual_dst), lookup(c.original_dst), c.protocol))
    return rows


def connections_table(dump: ZtunnelDump, flt: ConnectionsFilter | None = None) -> str:
    head = ("WORKLOAD", "DIRECTION", "LOCAL", "REMOTE", "REMOTE TARGET", "PROTOCOL")
    return tabwrite([head, *connection_rows(dump, flt)], padding=1)


# --------------------------------------------------------------------------------------
# all
# --------------------------------------------------------------------------------------


def all_summary(dump: ZtunnelDump, *, with_headers: bool = False, now: datetime | None = None) -> str:
    """PrintFullSummary: each section after a blank line, optionally under a ``------ X ------`` header."""
    parts: list[str] = []

    def section(title: str, body: str) -> None:
        parts.append("\n")
        if with_headers:
            parts.append(f"------ {title} ------\n\n")
        parts.append(body)

    section("WORKLOAD INFO", workload_table(dump))
    section("SERVICE INFO", service_table(dump))
    section("POLICY INFO", policy_table(dump))
    section("SECRET INFO", certificate_table(dump, now=now))
    section("CONNECTIONS INFO", connections_table(dump))
    return "".join(parts)


# --------------------------------------------------------------------------------------
# -o json / -o yaml: Go json.Marshal of istioctl's structs
# --------------------------------------------------------------------------------------

# (python attribute, json name, kind, omitempty). kinds: "s" string, "i" number, "b" bool,
# "ls" []string, "li" []int, "m" model, "pm" *model (nil -> omitted/null), "lm" []model,
# "mm" map[string]model, "mi" map[...]int, "any", "rules" [][][]*PolicyMatch, "cidr" []CIDRVIP
_Field = tuple[str, str, str, bool]

_LOCALITY: list[_Field] = [("region", "region", "s", True), ("zone", "zone", "s", True), ("subzone", "subzone", "s", True)]
_GW: list[_Field] = [("destination", "destination", "s", False)]
_APP_TUNNEL: list[_Field] = [("protocol", "protocol", "s", False), ("port", "port", "i?", True)]
_WORKLOAD: list[_Field] = [
    ("uid", "uid", "s", False), ("workload_ips", "workloadIps", "ls", False),
    ("waypoint", "waypoint", "pm:gw", True), ("network_gateway", "networkGateway", "pm:gw", True),
    ("protocol", "protocol", "s", False), ("name", "name", "s", False), ("namespace", "namespace", "s", False),
    ("service_account", "serviceAccount", "s", False), ("workload_name", "workloadName", "s", False),
    ("workload_type", "workloadType", "s", False), ("canonical_name", "canonicalName", "s", False),
    ("canonical_revision", "canonicalRevision", "s", False), ("cluster_id", "clusterId", "s", False),
    ("trust_domain", "trustDomain", "s", True), ("locality", "locality", "m:locality", True),
    ("node", "node", "s", False), ("network", "network", "s", True), ("status", "status", "s", False),
    ("hostname", "hostname", "s", False), ("capacity", "capacity", "i", False),
    ("application_tunnel", "applicationTunnel", "m:app_tunnel", True),
    ("authorization_policies", "authorizationPolicies", "ls", True),
]  # fmt: skip
_LB: list[_Field] = [("mode", "mode", "s", False), ("routing_preferences", "routingPreferences", "ls", False),
                     ("health_policy", "healthPolicy", "s", False)]
_ENDPOINT: list[_Field] = [("workload_uid", "workloadUid", "s", False), ("service", "service", "s", False),
                           ("address", "address", "s", True), ("port", "port", "mi", False)]
_SERVICE: list[_Field] = [
    ("name", "name", "s", False), ("namespace", "namespace", "s", False), ("hostname", "hostname", "s", False),
    ("vips", "vips", "ls", False), ("cidr_vips", "cidrVips", "cidr", True), ("ports", "ports", "mi", False),
    ("load_balancer", "loadBalancer", "pm:lb", True), ("waypoint", "waypoint", "pm:gw", True),
    ("endpoints", "endpoints", "mm:endpoint", False), ("subject_alt_names", "subjectAltNames", "ls", True),
    ("ip_families", "ipFamilies", "s", False), ("canonical", "canonical", "b", True),
    ("visibility", "visibility", "s", True),
]  # fmt: skip
_STRING_MATCH: list[_Field] = [("exact", "Exact", "s", True), ("suffix", "Suffix", "s", True),
                               ("prefix", "Prefix", "s", True), ("presence", "Presence", "any", True)]
_SA_MATCH: list[_Field] = [("namespace", "namespace", "s", False), ("service_account", "serviceAccount", "s", False)]
_POLICY_MATCH: list[_Field] = [
    ("namespaces", "namespaces", "lm:sm", True), ("not_namespaces", "notNamespaces", "lm:sm", True),
    ("principals", "principals", "lm:sm", True), ("not_principals", "notPrincipals", "lm:sm", True),
    ("source_ips", "sourceIps", "ls", True), ("not_source_ips", "notSourceIps", "ls", True),
    ("destination_ips", "destinationIps", "ls", True), ("not_destination_ips", "notDestinationIps", "ls", True),
    ("destination_ports", "destinationPorts", "li", True), ("not_destination_ports", "notDestinationPorts", "li", True),
    ("service_accounts", "serviceAccounts", "lm:sa", True), ("not_service_accounts", "notServiceAccounts", "lm:sa", True),
]  # fmt: skip
_POLICY: list[_Field] = [("name", "name", "s", False), ("namespace", "namespace", "s", False),
                         ("scope", "scope", "s", False), ("action", "action", "s", False), ("rules", "rules", "rules", False)]
_CERT: list[_Field] = [("pem", "pem", "s", False), ("serial_number", "serialNumber", "s", False),
                       ("valid_from", "validFrom", "s", False), ("expiration_time", "expirationTime", "s", False)]
_CERTS_DUMP: list[_Field] = [("identity", "identity", "s", False), ("state", "state", "s", False),
                             ("cert_chain", "certChain", "lm:cert", False), ("root_certs", "rootCerts", "lm:cert", False)]
_CONN: list[_Field] = [("src", "src", "s", False), ("original_dst", "originalDst", "s", False),
                       ("actual_dst", "actualDst", "s", False), ("protocol", "protocol", "s", False)]
_CONNS: list[_Field] = [("inbound", "inbound", "lm:conn", False), ("outbound", "outbound", "lm:conn", False)]
_INFO: list[_Field] = [("name", "name", "s", False), ("namespace", "namespace", "s", False),
                       ("trust_domain", "trustDomain", "s", False), ("service_account", "serviceAccount", "s", False)]
_STATE: list[_Field] = [("state", "state", "s", True), ("connections", "connections", "m:conns", True),
                        ("info", "info", "m:info", False)]

_SCHEMAS: dict[str, list[_Field]] = {
    "locality": _LOCALITY, "gw": _GW, "app_tunnel": _APP_TUNNEL, "lb": _LB, "endpoint": _ENDPOINT,
    "sm": _STRING_MATCH, "sa": _SA_MATCH, "pmatch": _POLICY_MATCH, "cert": _CERT, "conn": _CONN,
    "conns": _CONNS, "info": _INFO,
}  # fmt: skip


def _is_nil(m: BaseModel, attr: str, value: Any) -> bool:
    # A slice/map is nil when the dump did not have it (or had null): Go marshals it as null.
    return value is None or attr not in m.model_fields_set


def _empty(value: Any) -> bool:
    return value in ("", 0, False, None) or (isinstance(value, (list, dict)) and not value)


def _go_struct(m: BaseModel, schema: list[_Field]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr, name, kind, omitempty in schema:
        value = getattr(m, attr)
        base, _, sub = kind.partition(":")
        if base in ("ls", "li", "lm", "mi", "mm", "rules", "cidr"):
            nil = _is_nil(m, attr, value)
            if omitempty and (nil or not value):
                continue
            if nil:
                out[name] = None
            elif base == "lm":
                out[name] = [_go_struct(x, _SCHEMAS[sub]) for x in value]
            elif base == "mi":
                out[name] = {str(k): value[k] for k in sorted(value, key=str)}
            elif base == "mm":
                out[name] = {k: _go_struct(value[k], _SCHEMAS[sub]) for k in sorted(value)}
            elif base == "rules":
                out[name] = [[[None if pm is None else _go_struct(pm, _POLICY_MATCH) for pm in clause] for clause in rule]
                             for rule in value]
            elif base == "cidr":
                out[name] = [f"{c.network}/{c.cidr}" for c in value]  # CIDRVIP.MarshalJSON
            else:
                out[name] = list(value)
        elif base == "pm":
            if value is None:
                if not omitempty:
                    out[name] = None
                continue
            out[name] = _go_struct(value, _SCHEMAS[sub])
        elif base == "m":
            out[name] = _go_struct(value, _SCHEMAS[sub])  # omitempty never drops a struct value
        elif base == "i?":
            if value is None:
                continue
            out[name] = value
        else:
            if omitempty and _empty(value):
                continue
            out[name] = value
    return out


def _dump_json_workload(w: ZtunnelWorkload) -> dict[str, Any]:
    return _go_struct(w, _WORKLOAD)


def workload_json(dump: ZtunnelDump, flt: WorkloadFilter | None = None) -> list[Any]:
    # PrintWorkloadDump keeps the dump's order (a map's order is random in istioctl itself)
    return [_dump_json_workload(w) for w in _selected_workloads(dump, flt or WorkloadFilter())]


def service_json(dump: ZtunnelDump, namespace: str = "") -> list[Any]:
    return [_go_struct(s, _SERVICE) for s in _selected_services(dump, namespace)]


def policy_json(dump: ZtunnelDump, namespace: str = "") -> list[Any]:
    return [_go_struct(p, _POLICY) for p in _selected_policies(dump, namespace)]


def certificate_json(dump: ZtunnelDump) -> list[Any] | None:
    # PrintSecretDump marshals the slice itself: no certificates key at all prints null
    if "certificates" not in dump.model_fields_set:
        return None
    return [_go_struct(c, _CERTS_DUMP) for c in dump.certificates]


def connections_json(dump: ZtunnelDump, flt: ConnectionsFilter | None = None) -> list[Any]:
    f = (flt or ConnectionsFilter()).normalized()
    out = []
    for st in _sorted_states(dump):
        if f.namespace and f.namespace != st.info.namespace:
            continue
        if f.workload and f.workload.lower() != st.info.name.lower():
            continue
        out.append(_go_struct(st, _STATE))
    return out


def full_dump(dump: ZtunnelDump, output: str) -> str:
    """``all -o json|yaml``: the dump itself (PrintFullDump), then Fprintln's newline."""
    if output == "yaml":
        import json

        return marshal_yaml(json.loads(dump.raw))
    return dump.raw + "\n"


# --------------------------------------------------------------------------------------
# one entry point for the CLI and the TUI
# --------------------------------------------------------------------------------------

VIEWS = ("workloads", "services", "policies", "certificates", "connections", "all")


class ViewOptions(NamedTuple):
    output: str = "short"  # short | json | yaml
    workload: WorkloadFilter = WorkloadFilter()
    service_namespace: str = ""
    policy_namespace: str = ""
    connections: ConnectionsFilter = ConnectionsFilter()
    with_headers: bool = False


def render(dump: ZtunnelDump, view: str, opts: ViewOptions | None = None, *, now: datetime | None = None) -> str:
    """The text ``istioctl ztunnel-config <view>`` prints for ``dump``."""
    o = opts or ViewOptions()
    if o.output in ("json", "yaml"):
        if view == "all":
            return full_dump(dump, o.output)
        selected: Any
        if view == "workloads":
            selected = workload_json(dump, o.workload)
        elif view == "services":
            selected = service_json(dump, o.service_namespace)
        elif view == "policies":
            selected = policy_json(dump, o.policy_namespace)
        elif view == "certificates":
            selected = certificate_json(dump)
        elif view == "connections":
            selected = connections_json(dump, o.connections)
        else:
            raise ValueError(f"unknown view {view!r}")
        return marshal_json(selected) if o.output == "json" else marshal_yaml(selected)
    if view == "workloads":
        return workload_table(dump, o.workload)
    if view == "services":
        return service_table(dump, o.service_namespace)
    if view == "policies":
        return policy_table(dump, o.policy_namespace)
    if view == "certificates":
        return certificate_table(dump, now=now)
    if view == "connections":
        return connections_table(dump, o.connections)
    if view == "all":
        return all_summary(dump, with_headers=o.with_headers, now=now)
    raise ValueError(f"unknown view {view!r}")
