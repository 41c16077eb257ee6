"""Archive files whose format is not what the live command prints, turned into that output.

Each converter reproduces what the live command would have printed from the same facts, so
the one parser of each evidence kind reads both (never a second parser per source):

* ``cluster/kubectl-version`` is plain ``kubectl version``; the gatherer asks ``-o json``.
* ``versions`` is bug-report's own ``%#v`` dump of ``version.BuildInfo``/``MeshInfo``
  (``bugreport.go`` ``dumpRevisionsAndVersions``); the gatherer asks ``istioctl version -o json``.
* ``cluster/events`` is ``kubectl get events -o wide`` (a table); the gatherer asks ``-o json``.
* ``istio/<ns>/<istiod>/debug/syncz`` is istiod's ``[]SyncStatus`` JSON; ``istioctl
  proxy-status`` printed it as a table before xDS-based status (istioctl 1.18
  ``istioctl/pkg/writer/pilot/status.go`` ``StatusWriter``), which :func:`proxy_status_table` ports.
* ``proxies/<ns>/<pod>/stats/prometheus`` is Envoy's Prometheus exposition; the gatherer asks
  ``pilot-agent request GET stats`` (``name: value``), see :func:`envoy_stats_from_prometheus`.
* ``analyze/allNamespaces/allNamespaces`` is ``istioctl analyze -A`` in log form; the gatherer
  asks per namespace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "analyze_for_namespace",
    "envoy_stats_from_prometheus",
    "events_from_table",
    "istioctl_version_json",
    "kubectl_version_json",
    "proxy_status_table",
    "tail",
]


def tail(text: str, n: int | None) -> str:
    """The last ``n`` lines, like ``kubectl logs --tail=n``."""
    if not n or n < 0:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[-n:])


# -- kubectl version ---------------------------------------------------------------------------

_KV_NEW = re.compile(r"^(Client|Server) Version:\s*(v\S+)\s*$", re.M)
_KV_OLD = re.compile(r"^(Client|Server) Version: version\.Info\{(.*)\}\s*$", re.M)
_GO_FIELD = re.compile(r'(\w+):"([^"]*)"')


def kubectl_version_json(text: str) -> str | None:
    """``kubectl version`` text (``Client Version: v1.30.2``, or before kubectl 1.28
    ``Client Version: version.Info{Major:"1", ...}``) as ``kubectl version -o json``."""
    out: dict[str, Any] = {}
    for side, body in _KV_OLD.findall(text):
        fields = dict(_GO_FIELD.findall(body))
        out[f"{side.lower()}Version"] = {"major": fields.get("Major", ""), "minor": fields.get("Minor", ""),
                                          "gitVersion": fields.get("GitVersion", ""), "platform": fields.get("Platform", "")}
    for side, version in _KV_NEW.findall(text):
        m = re.match(r"v(\d+)\.(\d+)", version)
        out.setdefault(f"{side.lower()}Version", {"major": m[1] if m else "", "minor": m[2] if m else "",
                                                   "gitVersion": version})
    return json.dumps(out) if out else None


# -- istioctl version --------------------------------------------------------------------------

_BUILD_VERSION = re.compile(r'Version:"([^"]*)"')
_SERVER_INFO = re.compile(r'version\.ServerInfo\{Component:"([^"]*)",\s*Revision:"([^"]*)",\s*Info:version\.BuildInfo\{Version:"([^"]*)"')
_PROXY_VERSIONS = re.compile(r"^Revision (\S+): Versions \{([^}]*)\}\s*$", re.M)


def istioctl_version_json(text: str) -> str | None:
    """bug-report's ``versions`` file as ``istioctl version -o json``.

    ``CLI version:`` is the istioctl that made the report; each control plane revision is a
    ``%#v`` of ``version.MeshInfo``; proxies are one line per revision with the distinct
    versions (counts are not recorded, so each version stands for one or more proxies).
    """
    client = None
    cli = text.split("CLI version:", 1)
    if len(cli) == 2:
        m = _BUILD_VERSION.search(cli[1].split("\n\n", 1)[0])
        client = m[1] if m else None
    mesh = [{"Component": c, "Revision": r or "default", "Info": {"version": v}} for c, r, v in _SERVER_INFO.findall(text)]
    data_plane = []
    for _rev, versions in _PROXY_VERSIONS.findall(text):
        data_plane += [{"ID": "", "IstioVersion": v.strip()} for v in versions.split(",") if v.strip()]
    if client is None and not mesh and not data_plane:
        return None
    return json.dumps({"clientVersion": {"version": client} if client else None, "meshVersion": mesh,
                       "dataPlaneVersion": data_plane})


# -- events ------------------------------------------------------------------------------------

_EVENT_COLUMNS = ("NAMESPACE", "LAST SEEN", "FIRST SEEN", "COUNT", "NAME", "KIND", "OBJECT", "SUBOBJECT", "TYPE",
                  "REASON", "SOURCE", "MESSAGE")
_AGE = re.compile(r"(\d+)([ydhms])")
_AGE_UNITS = {"y": 365 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
#: kubectl's OBJECT column names the kind as a lower-case resource; the Event wants the Kind
_KINDS = {"pod": "Pod", "replicaset": "ReplicaSet", "deployment": "Deployment", "daemonset": "DaemonSet",
          "statefulset": "StatefulSet", "job": "Job", "cronjob": "CronJob", "service": "Service", "node": "Node",
          "endpoints": "Endpoints", "endpointslice": "EndpointSlice", "namespace": "Namespace",
          "persistentvolumeclaim": "PersistentVolumeClaim", "horizontalpodautoscaler": "HorizontalPodAutoscaler",
          "configmap": "ConfigMap", "secret": "Secret", "ingress": "Ingress",
          "mutatingwebhookconfiguration": "MutatingWebhookConfiguration"}


def _age_seconds(text: str) -> int | None:
    parts = _AGE.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(int(n) * _AGE_UNITS[u] for n, u in parts)


def _columns(header: str) -> list[tuple[str, int]]:
    found = []
    for name in _EVENT_COLUMNS:
        for m in re.finditer(rf"(?:^|(?<=\s)){re.escape(name)}(?=\s|$)", header):
            found.append((name, m.start()))
            break
    return sorted(found, key=lambda c: c[1])


def events_from_table(text: str, *, now: datetime | None) -> list[dict[str, Any]]:
    """Rows of ``kubectl get events [-A] -o wide`` as Event objects.

    Columns are cut at the header's offsets (Go tabwriter: a cell never passes its column,
    and MESSAGE / SUBOBJECT hold spaces). Ages ("13m", "2d3h") become timestamps relative to
    ``now`` (when the table was taken); ``<unknown>`` ages stay unset.
    """
    lines = text.splitlines()
    head_i = next((i for i, ln in enumerate(lines) if "REASON" in ln and "MESSAGE" in ln), None)
    if head_i is None:
        return []
    cols = _columns(lines[head_i])
    out: list[dict[str, Any]] = []
    for line in lines[head_i + 1:]:
        if not line.strip():
            continue
        # A cut that lands inside a word moves back to the word's start: a header pasted one
        # column off (it happens in tickets) must not split "FailedCreate" into "F|ailedCreate".
        starts = []
        for _name, start in cols:
            while 0 < start < len(line) and line[start - 1] != " ":
                start -= 1
            starts.append(start)
        cells: dict[str, str] = {}
        for i, (name, _start) in enumerate(cols):
            end = starts[i + 1] if i + 1 < len(cols) else len(line)
            cells[name] = line[starts[i]:end].strip()
        out.append(_event(cells, now, len(out)))
    return out


def _stamp(age: str, now: datetime | None) -> str | None:
    secs = _age_seconds(age)
    if secs is None or now is None:
        return None
    return (now - timedelta(seconds=secs)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event(c: dict[str, str], now: datetime | None, index: int) -> dict[str, Any]:
    obj = c.get("OBJECT", "")
    if obj:
        kind_word, _, obj_name = obj.partition("/")
        kind = _KINDS.get(kind_word.split(".")[0].lower(), kind_word[:1].upper() + kind_word[1:])
    else:  # older kubectl: KIND column, NAME is the event's (<object>.<hash>)
        kind = c.get("KIND", "")
        obj_name = c.get("NAME", "").rsplit(".", 1)[0]
    ns = c.get("NAMESPACE") or None
    count = c.get("COUNT", "")
    source = c.get("SOURCE", "")
    component, _, host = source.partition(", ")
    involved: dict[str, Any] = {"kind": kind, "name": obj_name}
    if ns:
        involved["namespace"] = ns
    if c.get("SUBOBJECT"):
        involved["fieldPath"] = c["SUBOBJECT"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": c.get("NAME") or f"{obj_name}.event-{index}", **({"namespace": ns} if ns else {})},
        "involvedObject": involved,
        "type": c.get("TYPE") or None,
        "reason": c.get("REASON") or None,
        "message": c.get("MESSAGE") or None,
        "count": int(count) if count.isdigit() else None,
        "lastTimestamp": _stamp(c.get("LAST SEEN", ""), now),
        "firstTimestamp": _stamp(c.get("FIRST SEEN", ""), now),
        "source": {"component": component or None, **({"host": host} if host else {})},
    }


# -- proxy-status from syncz -------------------------------------------------------------------


def _xds_status(sent: str, acked: str, proxy_type: str) -> str:
    # istioctl 1.18 istioctl/pkg/writer/pilot/status.go xdsStatus
    if not sent:
        return "IGNORED" if proxy_type == "ztunnel" else "NOT SENT"
    if sent == acked:
        return "SYNCED"
    if not acked:
        return "STALE (Never Acknowledged)"
    return "STALE"


def proxy_status_table(syncz: Iterable[tuple[str, Any]]) -> str:
    """``istioctl proxy-status`` as istioctl <= 1.18 printed it from each istiod's syncz.

    ``syncz`` yields (istiod pod name, decoded ``[]SyncStatus``). Rows are sorted by cluster
    then proxy, like ``StatusWriter.setupStatusPrint``; tabwriter padding 5.
    """
    from istio_doctor.evidence.envoy.tabular import tabwrite

    rows = []
    for istiod, statuses in syncz:
        for s in statuses if isinstance(statuses, list) else ():
            if not isinstance(s, dict):
                continue
            version = s.get("istio_version") or (s.get("proxy_version", "") + "*")
            typ = str(s.get("proxy_type", ""))
            rows.append(((s.get("cluster_id", ""), s.get("proxy", "")), [
                str(s.get("proxy", "")), str(s.get("cluster_id", "")),
                _xds_status(s.get("cluster_sent", ""), s.get("cluster_acked", ""), typ),
                _xds_status(s.get("listener_sent", ""), s.get("listener_acked", ""), typ),
                _xds_status(s.get("endpoint_sent", ""), s.get("endpoint_acked", ""), typ),
                _xds_status(s.get("route_sent", ""), s.get("route_acked", ""), typ),
                _xds_status(s.get("extensionconfig_sent", ""), s.get("extensionconfig_acked", ""), typ),
                istiod, version]))
    rows.sort(key=lambda r: r[0])
    table = [["NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS", "ECDS", "ISTIOD", "VERSION"], *(r[1] for r in rows)]
    return tabwrite(table, 5)


# -- Envoy stats from Prometheus ---------------------------------------------------------------

_PROM_LINE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\d+)?\s*$')
_PROM_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
#: Envoy scopes whose name Prometheus joins with "_": the parts the checks read are put back.
_SUB_SCOPES = (("circuit_breakers_default_", "circuit_breakers.default."), ("server_ssl_socket_factory_",
               "server_ssl_socket_factory."), ("client_ssl_socket_factory_", "client_ssl_socket_factory."),
               ("outlier_detection_", "outlier_detection."), ("ssl_", "ssl."))


def _restore(rest: str) -> str:
    for prom, envoy in _SUB_SCOPES:
        if rest.startswith(prom):
            return envoy + rest[len(prom):]
    return rest


def envoy_stats_from_prometheus(text: str) -> str:
    """Envoy's ``/stats/prometheus`` as ``/stats`` lines for the cluster and listener scopes.

    Envoy's tag extraction moves the cluster name and the listener address into labels
    (``envoy_cluster_upstream_cx_connect_fail{cluster_name="outbound|9080||reviews..."}`` is
    ``cluster.outbound|9080||reviews....upstream_cx_connect_fail``; ``envoy_listener_*``
    carries ``envoy_listener_address="0.0.0.0_15006"``: envoyproxy/envoy
    ``source/common/config/well_known_names.cc``). Those two scopes are what the checks read;
    the dots Prometheus turned into ``_`` are put back for the sub-scopes they read
    (``ssl.``, ``outlier_detection.``, ...). Other families are left out rather than guessed.
    """
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _PROM_LINE.match(line)
        if not m:
            continue
        try:
            value = int(float(m["value"]))
        except ValueError:
            continue
        name = m["name"]
        labels = dict(_PROM_LABEL.findall(m["labels"] or ""))
        if name.startswith("envoy_cluster_") and "cluster_name" in labels:
            out.append(f"cluster.{labels['cluster_name']}.{_restore(name[len('envoy_cluster_'):])}: {value}")
        elif name.startswith("envoy_listener_") and "envoy_listener_address" in labels:
            out.append(f"listener.{labels['envoy_listener_address']}.{_restore(name[len('envoy_listener_'):])}: {value}")
    return "\n".join(out) + ("\n" if out else "")


# -- analyze -----------------------------------------------------------------------------------


def analyze_for_namespace(text: str, namespace: str) -> str:
    """The lines of ``istioctl analyze -A`` (log form) about ``namespace``'s resources."""
    from istio_doctor.evidence.analyze import parse_origin

    keep = []
    for line in text.splitlines():
        m = re.match(r"^(?:\[[^\]]+\]\s*)?(?:Error|Warning|Warn|Info)\s*\[IST\d{4}\]\s*\(([^)]*)\)", line.strip())
        if not m:
            continue
        kind, ns, name, _ref = parse_origin(m[1])
        if ns == namespace or (kind == "Namespace" and name == namespace):
            keep.append(line)
    return "\n".join(keep) + ("\n" if keep else "")
