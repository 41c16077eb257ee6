"""Routing and handlers for ``tests/fixtures/corpus/ambient`` (ztunnel, waypoints, istio-cni).

Imported by ``tests/test_corpus_generic.py``, which walks the whole corpus: every ambient file
is routed to its parser here, or listed in ``NOT_APPLICABLE`` with the reason nothing in
istio-doctor reads that text. Kept in a module of its own so the ambient work and the sidecar
corpus test do not edit the same lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import yaml

from istio_doctor.evidence import istio as im
from istio_doctor.evidence import kube as km
from istio_doctor.evidence.ambient import conditions as cond
from istio_doctor.evidence.ambient import ztunnel_views as zv
from istio_doctor.evidence.ambient.cni_log import CniLogKind, parse_cni_events_text, parse_cni_log
from istio_doctor.evidence.ambient.waypoints import parse_waypoint_list, parse_waypoint_status
from istio_doctor.evidence.ambient.ztunnel_dump import parse_ztunnel_dump
from istio_doctor.evidence.ambient.ztunnel_log import ErrorKind, parse_ztunnel_log
from istio_doctor.evidence.ambient.ztunnel_tables import parse_ztunnel_all, parse_ztunnel_table
from istio_doctor.evidence.envoy.views import marshal_json

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
#: the instant the certificate goldens were rendered at: before the Leaf's NOT AFTER (2033)
NOW = datetime(2024, 1, 1, tzinfo=UTC)

_NOT_OURS = "output of a tool istio-doctor does not run or read"
_DEBUG_POD = ("`kubectl debug` output: it adds an ephemeral container to the pod, which a read-only tool never does; "
              "istio-doctor reads the redirection annotation and ztunnel's view instead")

NOT_APPLICABLE: dict[str, str] = {
    "ambient/cni-logs/cilium-36022_host_snat_rule.txt": "node iptables rules (host netns): no read-only call reaches them",
    "ambient/cni-logs/istio-52208_hubble_probe_synack_169.254.7.127.txt": _NOT_OURS + " (Cilium Hubble flows)",
    "ambient/docs-outputs/istioio_traffic-redirection_iptables-save.txt": _DEBUG_POD,
    "ambient/docs-outputs/istioio_waypoint_generate.txt": "`istioctl waypoint generate` prints YAML to apply; istio-doctor "
    "reads the Gateways in the cluster",
    "ambient/docs-outputs/istioio_waypoint_apply-enroll.txt": "`istioctl waypoint apply` changes the cluster; istio-doctor "
    "never runs it",
    "ambient/docs-outputs/istioio_waypoint_ns-dataplane-mode.txt": "`kubectl get` TABLE text: istio-doctor always asks "
    "kubectl for -o json (namespace labels)",
    "ambient/status/istio-51643_kubectl_get_gtw_waypoint.txt": "`waypoint apply` output and a `kubectl get gtw` TABLE: "
    "istio-doctor reads Gateways as JSON",
    "ambient/ztunnel-logs/istio-57259_client_curl_reset.txt": _NOT_OURS + " (curl in the client pod)",
}

EXPECT_PARSE_ERROR: dict[str, str] = {
    "ambient/ztunnel-logs/istio-56452_configdump_certificates_unavailable.json": "excerpt of one key of a ztunnel "
    "/config_dump, cut after two entries: not JSON",
}
ERROR_SAYS: dict[str, str] = {
    "ambient/ztunnel-logs/istio-56452_configdump_certificates_unavailable.json": "not valid JSON",
}

ROUTES: list[tuple[str, str]] = [
    ("ambient/SOURCES.md", "ambient_provenance"),
    ("ambient/LICENSE", "licence"),
    ("ambient/ztunnel-config/dump.json", "ztunnel_dump"),
    ("ambient/ztunnel-config/connectionsdump.json", "ztunnel_golden"),
    ("ambient/ztunnel-config/*.txt", "ztunnel_golden"),
    ("ambient/ztunnel-logs/istio-56452_*.json", "ztunnel_dump"),
    ("ambient/ztunnel-logs/*", "ztunnel_log"),
    ("ambient/waypoint/waypoint-*", "waypoint_status"),
    ("ambient/waypoint/*", "waypoint_list"),
    ("ambient/status/istio-53637_zc_workload_waypoint_none.txt", "ztunnel_table"),
    ("ambient/status/istio-*_status*.txt", "authz_status_message"),
    ("ambient/status/*", "ambient_status"),
    ("ambient/cni-logs/*.events", "cni_events"),
    ("ambient/cni-logs/*", "cni_log"),
    ("ambient/docs-outputs/*ztunnel-config-*", "ztunnel_table"),
    ("ambient/docs-outputs/istioio_troubleshoot-ztunnel_workloads.txt", "ztunnel_table"),
    ("ambient/docs-outputs/istioio_troubleshoot-ztunnel_certificates.txt", "ztunnel_table"),
    ("ambient/docs-outputs/*access-log*", "ztunnel_log"),
    ("ambient/docs-outputs/*ztunnel-inpod-log*", "ztunnel_log"),
    ("ambient/docs-outputs/*proxy-status*", "proxy_status"),
    ("ambient/docs-outputs/*analyze*", "analyze"),
    ("ambient/docs-outputs/*ss-ntlp*", "sockets"),
]


# --------------------------------------------------------------------------------------
# handlers
# --------------------------------------------------------------------------------------

_SECTION = re.compile(r"^## (?P<dir>[\w-]+)/", re.M)
_ROW = re.compile(r"^\|\s*`([^`]+)`", re.M)


def h_ambient_provenance(rel: str, text: str) -> None:
    """Each folder's section lists every file of that folder (bare names under ``## dir/``)."""
    root = (CORPUS / rel).parent
    listed: set[str] = set()
    heads = list(_SECTION.finditer(text))
    for i, h in enumerate(heads):
        body = text[h.end() : heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        listed |= {f"{h.group('dir')}/{name}" for name in _ROW.findall(body)}
    data = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name not in ("SOURCES.md", "LICENSE")}
    assert sorted(data - listed) == [], f"{rel} gives no provenance for these files"


def h_ztunnel_dump(rel: str, text: str) -> None:
    d = parse_ztunnel_dump(text, command=f"file {rel}")
    # configdump_test.go TestConfigWriter_Prime: "loads valid ztunnel config_dump", 27 workloads
    assert len(d.workloads) == 27 and d.services and d.policies and d.certificates and d.workload_state


_DUMP = CORPUS / "ambient/ztunnel-config/dump.json"

#: every case of istioctl's TestConfigWriter_PrintSummary (configdump_test.go), with its filter
GOLDENS: dict[str, Callable[[zv.ZtunnelDump], str]] = {
    "ambient/ztunnel-config/secretsummary.txt": lambda d: zv.certificate_table(d, now=NOW),
    "ambient/ztunnel-config/workloadsummary.txt": lambda d: zv.workload_table(d),
    "ambient/ztunnel-config/workloadsummary_default.txt": lambda d: zv.workload_table(d, zv.WorkloadFilter(namespace="default")),
    "ambient/ztunnel-config/workloadsummary_workload.txt": lambda d: zv.workload_table(
        d, zv.WorkloadFilter(namespace="bookinfo", name="productpage-v1-675fc69cf-jscn2")),
    "ambient/ztunnel-config/policies.txt": lambda d: zv.policy_table(d),
    "ambient/ztunnel-config/connectionsummary.txt": lambda d: zv.connections_table(d),
    "ambient/ztunnel-config/connectionsummary_workload.txt": lambda d: zv.connections_table(
        d, zv.ConnectionsFilter(workload="productpage-v1-796f87b58-97bjk.bookinfo")),
    "ambient/ztunnel-config/connectionsdump.json": lambda d: marshal_json(zv.connections_json(d)),
    "ambient/ztunnel-config/allsummary.txt": lambda d: zv.all_summary(d, now=NOW),
    "ambient/ztunnel-config/allsummary_withheaders.txt": lambda d: zv.all_summary(d, with_headers=True, now=NOW),
}


def h_ztunnel_golden(rel: str, text: str) -> None:
    dump = parse_ztunnel_dump(_DUMP.read_text(), command="file dump.json")
    assert GOLDENS[rel](dump) == text  # byte for byte
    if rel.endswith(".txt"):
        # and the table parsers read back what the views print
        tables = parse_ztunnel_all(text) if "/allsummary" in rel else [parse_ztunnel_table(text)]
        assert [t.kind for t in tables] == (["workloads", "services", "policies", "certificates", "connections"]
                                            if "/allsummary" in rel else [tables[0].kind])
        assert all(getattr(t, t.kind) for t in tables)


def h_ztunnel_table(rel: str, text: str) -> None:
    t = parse_ztunnel_table(text, command=f"file {rel}")
    rows = getattr(t, t.kind)
    assert rows
    if t.kind == "workloads":
        assert all(r.protocol in ("HBONE", "TCP") for r in rows), rows
    if t.kind == "certificates":
        assert all(r.status.split(":")[0] in ("Available", "Initializing", "Unavailable") for r in rows)


def h_ztunnel_log(rel: str, text: str) -> None:
    log = parse_ztunnel_log(text)
    assert log.unparsed == [], f"lines {log.unparsed} match no ztunnel log format"
    assert log.lines
    want = _ZTUNNEL_LOG_EXPECT.get(rel)
    if want is not None:
        fmt, kinds = want
        assert fmt in log.formats, log.formats
        assert {ln.error_kind for ln in log.lines if ln.error_kind} == {k.value for k in kinds}


#: the format and the error classes each real report carries (what its issue is about)
_ZTUNNEL_LOG_EXPECT: dict[str, tuple[str, set[ErrorKind]]] = {
    "ambient/ztunnel-logs/istio-46995_legacy_1.19_certificate_verify_failed.log": ("legacy", {ErrorKind.TLS_TRUST}),
    "ambient/ztunnel-logs/istio-52057_identity_error_impersonation.log": ("istio", {ErrorKind.IDENTITY}),
    "ambient/ztunnel-logs/istio-52208_ztunnel_inpod_listeners_startup.log": ("istio", set()),
    "ambient/ztunnel-logs/istio-52487_inpod_bind_15053_addr_not_available.log": ("istio", {ErrorKind.DNS_BIND}),
    "ambient/ztunnel-logs/istio-53696_outbound_connection_refused_os111.log": ("istio", {ErrorKind.REFUSED}),
    "ambient/ztunnel-logs/istio-53942_json_debug_connection_opened.jsonl": ("json", set()),
    "ambient/ztunnel-logs/istio-54889_timed_out_waiting_for_workload_from_xds.log": (
        "istio", {ErrorKind.XDS_WORKLOAD_TIMEOUT, ErrorKind.LOCAL_WORKLOAD_UNKNOWN}),
    "ambient/ztunnel-logs/istio-56916_ambient_to_sidecar_refused_15020.log": ("istio", {ErrorKind.REFUSED}),
    "ambient/ztunnel-logs/istio-57259_hbone_handshake_goaway_frame_size.log": ("istio", {ErrorKind.HBONE_HANDSHAKE}),
    "ambient/ztunnel-logs/prequel-cre-0104_timed_out_waiting_xds.log": ("istio", {ErrorKind.XDS_WORKLOAD_TIMEOUT}),
    "ambient/ztunnel-logs/prequel-cre-0110_timeouts.log": ("istio", {ErrorKind.NETPOL_HBONE, ErrorKind.DEADLINE}),
    "ambient/ztunnel-logs/prequel-cre-0111_ipv6_bind_15053.log": ("istio", {ErrorKind.DNS_BIND}),
    "ambient/docs-outputs/istioio_traffic-redirection_ztunnel-inpod-log.txt": ("legacy", set()),
    "ambient/docs-outputs/istioio_troubleshoot-ztunnel_access-log.txt": ("istio", set()),
    "ambient/docs-outputs/istioio_troubleshoot-ztunnel_access-log-lb.txt": ("istio", set()),
}


def h_waypoint_list(rel: str, text: str) -> None:
    wl = parse_waypoint_list(text, command=f"file {rel}")
    if "No waypoints" in text:
        assert wl.rows == []
    else:
        assert wl.rows and all(r.programmed in ("True", "False", "Unknown") for r in wl.rows)


def h_waypoint_status(rel: str, text: str) -> None:
    ws = parse_waypoint_status(text, command=f"file {rel}")
    assert ws.rows or ws.timed_out
    assert all(r.type for r in ws.rows)


_AMBIENT_KINDS = {"Service": km.Service, "ServiceEntry": im.ServiceEntry, "AuthorizationPolicy": im.AuthorizationPolicy,
                  "Gateway": im.K8sGateway, "HTTPRoute": im.K8sHTTPRoute}


def h_ambient_status(rel: str, text: str) -> None:
    """Manifests with status: each object's conditions are read, keyed on type and reason."""
    docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    assert docs
    seen: list[cond.StatusCondition] = []
    for d in docs:
        model = _AMBIENT_KINDS.get(str(d.get("kind")))
        if model is not None and d.get("apiVersion"):
            obj = km.parse_kube_list(yaml.safe_dump(d), model, command=f"file {rel}")[0]
            seen += cond.conditions_of(obj)
            if d["kind"] == "Gateway":
                assert cond.listener_conditions(obj) or "listeners" not in (d.get("status") or {})
        else:
            seen += cond.conditions_of(d)  # an excerpt without kind: the raw status
        for p in cond.parent_conditions(d):
            seen += p.conditions
    assert seen and all(c.reason for c in seen), seen


def h_authz_status_message(rel: str, text: str) -> None:
    msg = text.strip()
    assert msg.startswith(cond.L7_ON_ZTUNNEL_PREFIX) or msg.startswith(cond.DENY_MIXED_TEXT)


def h_sockets(rel: str, text: str) -> None:
    from istio_doctor.evidence.sockets import parse_listening_sockets

    # ztunnel's in-pod listeners (ARCHITECTURE.md §Ports): 15001, 15006, 15008, 15080
    assert {s.port for s in parse_listening_sockets(text)} >= {15001, 15006, 15008}


def h_cni_log(rel: str, text: str) -> None:
    log = parse_cni_log(text)
    assert log.lines
    kinds = {ln.kind for ln in log.lines}
    assert kinds & {k.value for k in CniLogKind}, kinds


def h_cni_events(rel: str, text: str) -> None:
    evs = parse_cni_events_text(text)
    assert any(e.kind for e in evs), evs


HANDLERS: dict[str, Callable[[str, str], None]] = {
    "ambient_provenance": h_ambient_provenance,
    "ztunnel_dump": h_ztunnel_dump,
    "ztunnel_golden": h_ztunnel_golden,
    "ztunnel_table": h_ztunnel_table,
    "ztunnel_log": h_ztunnel_log,
    "waypoint_list": h_waypoint_list,
    "waypoint_status": h_waypoint_status,
    "ambient_status": h_ambient_status,
    "authz_status_message": h_authz_status_message,
    "cni_log": h_cni_log,
    "cni_events": h_cni_events,
    "sockets": h_sockets,
}
