"""``istioctl waypoint list`` and ``istioctl waypoint status`` output.

Source: istio/istio@86c9f01 ``istioctl/pkg/waypoint/waypoint.go`` and its goldens in
``testdata/waypoint`` (vendored in ``tests/fixtures/corpus/ambient/waypoint``):

* ``list`` prints ``[NAMESPACE] NAME REVISION TRAFFIC TYPE PROGRAMMED`` for Gateways of class
  ``istio-waypoint`` only; REVISION is ``default`` without an ``istio.io/rev`` label and TRAFFIC
  TYPE is ``none`` without an ``istio.io/waypoint-for`` label — which istiod treats as
  ``service`` (``pilot/pkg/serviceregistry/ambient/waypoints.go``), so ``none`` here does not
  mean "accepts nothing" (:attr:`WaypointListRow.effective_traffic_type`).
* ``status`` prints ``[NAMESPACE] NAME STATUS TYPE REASON MESSAGE``: the Programmed condition,
  or, when none is True, the *last* condition of the Gateway (a quirk of its loop).
* ``No waypoints found.`` when there is none; with ``--wait`` a timeout ends in
  ``Error: failed to print waypoint status: timed out while retrieving status for waypoint<TAB>ns/name``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from istio_doctor.evidence.ambient.tables import parse_table
from istio_doctor.evidence.errors import ParseError

__all__ = ["WaypointList", "WaypointListRow", "WaypointStatus", "WaypointStatusRow", "parse_waypoint_list",
           "parse_waypoint_status"]

NO_WAYPOINTS = "No waypoints found."
_TIMEOUT = re.compile(r"^Error: failed to print waypoint status: (?P<why>timed out while retrieving status for waypoint)"
                      r"\s+(?P<ns>[^/\s]+)/(?P<name>\S+)\s*$", re.M)


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WaypointListRow(_M):
    namespace: str = ""
    name: str
    revision: str
    #: as printed: ``service`` | ``workload`` | ``all`` | ``none`` (= no label)
    traffic_type: str
    programmed: str

    @property
    def effective_traffic_type(self) -> str:
        """What istiod applies: a waypoint without ``istio.io/waypoint-for`` serves services."""
        return "service" if self.traffic_type == "none" else self.traffic_type


class WaypointList(_M):
    rows: list[WaypointListRow] = []
    all_namespaces: bool = False


class WaypointStatusRow(_M):
    namespace: str = ""
    name: str
    status: str
    type: str
    reason: str = ""
    message: str = ""


class WaypointStatus(_M):
    rows: list[WaypointStatusRow] = []
    #: ``--wait`` gave up on this waypoint (``ns/name``)
    timed_out: str = ""


def parse_waypoint_list(text: str, *, command: str = "") -> WaypointList:
    what = "istioctl waypoint list output"
    if text.strip() == NO_WAYPOINTS:
        return WaypointList()
    t = parse_table(text, ("NAMESPACE", "NAME", "REVISION", "TRAFFIC TYPE", "PROGRAMMED"), what=what, command=command,
                    required=("NAME", "REVISION", "TRAFFIC TYPE", "PROGRAMMED"))
    rows = [WaypointListRow(namespace=r.get("NAMESPACE", ""), name=r["NAME"], revision=r["REVISION"],
                            traffic_type=r["TRAFFIC TYPE"], programmed=r["PROGRAMMED"]) for r in t.rows]
    return WaypointList(rows=rows, all_namespaces="NAMESPACE" in t.columns)


def parse_waypoint_status(text: str, *, command: str = "") -> WaypointStatus:
    what = "istioctl waypoint status output"
    m = _TIMEOUT.search(text)
    if text.strip() == NO_WAYPOINTS:
        return WaypointStatus()
    body = text[: m.start()] if m else text
    rows: list[WaypointStatusRow] = []
    if body.strip():
        t = parse_table(body, ("NAMESPACE", "NAME", "STATUS", "TYPE", "REASON", "MESSAGE"), what=what, command=command,
                        required=("NAME", "STATUS", "TYPE"), spaced=("MESSAGE",))
        rows = [WaypointStatusRow(namespace=r.get("NAMESPACE", ""), name=r["NAME"], status=r["STATUS"], type=r["TYPE"],
                                  reason=r.get("REASON", ""), message=r.get("MESSAGE", "")) for r in t.rows]
    elif m is None:
        raise ParseError(what, "empty output", command=command)
    return WaypointStatus(rows=rows, timed_out=f"{m.group('ns')}/{m.group('name')}" if m else "")
