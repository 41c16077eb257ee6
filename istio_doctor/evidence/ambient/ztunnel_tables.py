"""``istioctl ztunnel-config`` tables as text (pasted, from docs, or from an older istioctl).

Column churn this reads (istio.io pages against istioctl@86c9f01 goldens):

* workloads: ``IP`` (≤ 1.23 docs) became ``ADDRESS``; an excerpt may lack columns;
* services: ``ENDPOINTS`` was added after the troubleshoot-waypoint page was written;
* certificates: ``CERTIFICATE NAME`` (``ztunnel-config certificates``) or ``NAME`` with types
  ``CA``/``Cert Chain`` (``proxy-config secret`` run on a ztunnel dump, 1.18 dev);
* connections, policies: as in the current goldens.

Each parser returns typed rows (``extra="forbid"``: these models are ours). The kind of a
table is recognised from its header (:func:`parse_ztunnel_table`).
"""

from __future__ import annotations

from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from istio_doctor.evidence.ambient.tables import Table, parse_table
from istio_doctor.evidence.errors import ParseError

__all__ = [
    "ZcCertificateRow",
    "ZcConnectionRow",
    "ZcPolicyRow",
    "ZcServiceRow",
    "ZcTable",
    "ZcWorkloadRow",
    "parse_ztunnel_all",
    "parse_ztunnel_table",
]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZcWorkloadRow(_Row):
    namespace: str
    pod: str
    address: str = ""
    node: str = ""
    waypoint: str = ""
    #: HBONE (captured by ztunnel) or TCP (not captured)
    protocol: str = ""


class ZcServiceRow(_Row):
    namespace: str
    name: str
    vip: str = ""
    waypoint: str = ""
    #: ``healthy/all``; empty when the istioctl that printed it had no ENDPOINTS column
    endpoints: str = ""


class ZcPolicyRow(_Row):
    namespace: str
    name: str
    action: str
    scope: str


class ZcCertificateRow(_Row):
    identity: str
    type: str
    status: str
    valid: bool
    serial: str
    not_after: str
    not_before: str


class ZcConnectionRow(NamedTuple):
    """One row of ``ztunnel-config connections``: what istioctl prints, and what the offline view
    computes from a dump (``ztunnel_views.connection_rows``), in istioctl's column order."""

    workload: str
    direction: str
    local: str
    remote: str
    remote_target: str
    protocol: str


class ZcTable(_Row):
    kind: str  # workloads | services | policies | certificates | connections
    columns: list[str]
    workloads: list[ZcWorkloadRow] = []
    services: list[ZcServiceRow] = []
    policies: list[ZcPolicyRow] = []
    certificates: list[ZcCertificateRow] = []
    connections: list[ZcConnectionRow] = []
    skipped: int = 0


_WORKLOAD_COLS = ("NAMESPACE", "POD NAME", "ADDRESS", "IP", "NODE", "WAYPOINT", "PROTOCOL")
_SERVICE_COLS = ("NAMESPACE", "SERVICE NAME", "SERVICE VIP", "WAYPOINT", "ENDPOINTS")
_POLICY_COLS = ("NAMESPACE", "POLICY NAME", "ACTION", "SCOPE")
_CERT_COLS = ("CERTIFICATE NAME", "NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE")
_CONN_COLS = ("WORKLOAD", "DIRECTION", "LOCAL", "REMOTE", "REMOTE TARGET", "PROTOCOL")


def _first_header_word(text: str) -> str:
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(("$ ", "# ")):
            continue
        return s.split()[0]
    return ""


def parse_ztunnel_table(text: str, *, command: str = "") -> ZcTable:
    """Recognise and parse one ``istioctl ztunnel-config`` table."""
    what = "istioctl ztunnel-config table"
    first = _first_header_word(text)
    head = next((ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith(("$ ", "# "))), "")
    if first == "WORKLOAD":
        t = parse_table(text, _CONN_COLS, what=what, command=command, required=_CONN_COLS)
        return ZcTable(kind="connections", columns=t.columns, skipped=t.skipped, connections=[
            ZcConnectionRow(workload=r["WORKLOAD"], direction=r["DIRECTION"], local=r["LOCAL"], remote=r["REMOTE"],
                            remote_target=r["REMOTE TARGET"], protocol=r["PROTOCOL"]) for r in t.rows])
    if first in ("CERTIFICATE", "NAME") and "VALID CERT" in head:
        t = parse_table(text, _CERT_COLS, what=what, command=command, required=("TYPE", "STATUS", "VALID CERT"),
                        spaced=("STATUS", "TYPE"))
        name = "CERTIFICATE NAME" if "CERTIFICATE NAME" in t.columns else "NAME"
        return ZcTable(kind="certificates", columns=t.columns, skipped=t.skipped, certificates=[
            ZcCertificateRow(identity=r[name], type=r["TYPE"], status=r["STATUS"], valid=r["VALID CERT"] == "true",
                             serial=r.get("SERIAL NUMBER", ""), not_after=r.get("NOT AFTER", ""),
                             not_before=r.get("NOT BEFORE", "")) for r in t.rows])
    if first == "NAMESPACE" and "POLICY NAME" in head:
        t = parse_table(text, _POLICY_COLS, what=what, command=command, required=_POLICY_COLS)
        return ZcTable(kind="policies", columns=t.columns, skipped=t.skipped, policies=[
            ZcPolicyRow(namespace=r["NAMESPACE"], name=r["POLICY NAME"], action=r["ACTION"], scope=r["SCOPE"]) for r in t.rows])
    if first == "NAMESPACE" and "SERVICE NAME" in head:
        t = parse_table(text, _SERVICE_COLS, what=what, command=command, required=("NAMESPACE", "SERVICE NAME"))
        return ZcTable(kind="services", columns=t.columns, skipped=t.skipped, services=[
            ZcServiceRow(namespace=r["NAMESPACE"], name=r["SERVICE NAME"], vip=r.get("SERVICE VIP", ""),
                         waypoint=r.get("WAYPOINT", ""), endpoints=r.get("ENDPOINTS", "")) for r in t.rows])
    if first == "NAMESPACE" and "POD NAME" in head:
        t = _parse_workloads(text, what, command)
        return ZcTable(kind="workloads", columns=t.columns, skipped=t.skipped, workloads=[
            ZcWorkloadRow(namespace=r["NAMESPACE"], pod=r["POD NAME"], address=r.get("ADDRESS", r.get("IP", "")),
                          node=r.get("NODE", ""), waypoint=r.get("WAYPOINT", ""), protocol=r.get("PROTOCOL", ""))
            for r in t.rows])
    raise ParseError(what, f"unrecognised header {head.strip()[:80]!r}", command=command)


def parse_ztunnel_all(text: str, *, command: str = "") -> list[ZcTable]:
    """``ztunnel-config all``: its tables one after another, each after a blank line (and a
    ``------ WORKLOAD INFO ------`` header with ``--with-headers``)."""
    blocks, cur = [], []
    for line in text.splitlines():
        if not line.strip() or line.startswith("------ "):
            if cur:
                blocks.append("\n".join(cur))
                cur = []
            continue
        cur.append(line)
    if cur:
        blocks.append("\n".join(cur))
    if not blocks:
        raise ParseError("istioctl ztunnel-config all output", "no table found", command=command)
    return [parse_ztunnel_table(b, command=command) for b in blocks]


def _parse_workloads(text: str, what: str, command: str) -> Table:
    return parse_table(text, _WORKLOAD_COLS, what=what, command=command, required=("NAMESPACE", "POD NAME"))
