"""Status conditions istiod writes for ambient objects, keyed on *reason*, not only status.

``istioctl analyze`` (IST0171, ``pkg/config/analysis/analyzers/conditions/conditions.go``)
reports a condition only when its status is ``False`` (plus ``WaypointAccepted
PartiallyInvalid``). Several ambient failures are written with status ``True`` or ``Unknown``:

* AuthorizationPolicy ``ZtunnelAccepted True UnsupportedValue`` — L7 rules on a policy ztunnel
  enforces: the HTTP parts are dropped (an ALLOW becomes stricter, a DENY may do nothing);
* waypoint Gateway ``Programmed Unknown Pending "Waiting for controller"`` — never reconciled;
* ServiceEntry ``istio.io/WaypointMissing True NoWaypointForWildcardService``.

Sources (istio/istio@86c9f01): condition types and reasons in ``pilot/pkg/model/service.go``
(``WaypointBound``, ``ZtunnelAccepted``, ``WaypointAccepted``, ``WaypointMissing``,
``flattenConditions``), ``pilot/pkg/serviceregistry/ambient/status.go`` (the WaypointBound
error reasons and messages) and ``authorization.go`` (the UnsupportedValue messages). Real
samples: ``tests/fixtures/corpus/ambient/status``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = [
    "ANALYZE_CONDITION_TYPES",
    "AnalyzeWouldReport",
    "ParentConditions",
    "StatusCondition",
    "analyze_reports",
    "condition",
    "conditions_of",
    "listener_conditions",
    "parent_conditions",
]

# condition types (pilot/pkg/model/service.go)
WAYPOINT_BOUND = "istio.io/WaypointBound"
WAYPOINT_MISSING = "istio.io/WaypointMissing"
ZTUNNEL_ACCEPTED = "ZtunnelAccepted"
WAYPOINT_ACCEPTED = "WaypointAccepted"
PROGRAMMED = "Programmed"
ACCEPTED = "Accepted"

# WaypointBound reasons (status.go; WaypointAccepted when bound)
WB_ACCEPTED = "WaypointAccepted"
WB_NOT_READY = "WaypointIsNotReady"
WB_ATTACHMENT_DENIED = "AttachmentDenied"
WB_UNSUPPORTED_TRAFFIC_TYPE = "UnsupportedTrafficType"
WB_CROSS_NS_FORBIDDEN = "CrossNamespaceWaypointForbidden"
# WaypointMissing reasons
WM_WILDCARD = "NoWaypointForWildcardService"
WM_CONNECT_STRATEGY = "NoWaypointForRacingConnectStrategy"
# ZtunnelAccepted / WaypointAccepted reasons
UNSUPPORTED_VALUE = "UnsupportedValue"
WA_INVALID = "Invalid"
WA_PARTIALLY_INVALID = "PartiallyInvalid"
WA_ANCESTOR_NOT_BOUND = "AncestorNotBound"
WA_TARGET_NOT_FOUND = "TargetNotFound"
# Gateway API route parent reason istiod uses when a Service parent has no waypoint
ROUTE_WAYPOINT_NOT_BOUND = "WaypointNotBound"

#: message prefixes of ZtunnelAccepted UnsupportedValue (authorization.go)
L7_ON_ZTUNNEL_PREFIX = "ztunnel does not support HTTP attributes"
CUSTOM_ON_ZTUNNEL_PREFIX = "ztunnel does not support the "
#: current text for a DENY whose rules are all L7 (the fix of istio/istio#61126)
DENY_NO_EFFECT_TEXT = "has no enforceable rules at ztunnel"
#: older text istiod printed for every DENY with HTTP attributes, no-op or not (#61126)
DENY_MIXED_TEXT = "DENY policy with HTTP attributes is enforced without the HTTP rules"

#: types IST0171 looks at (conditions.go)
ANALYZE_CONDITION_TYPES = frozenset({WAYPOINT_BOUND, ZTUNNEL_ACCEPTED, WAYPOINT_ACCEPTED, ACCEPTED, PROGRAMMED, "ResolvedRefs"})


class StatusCondition(BaseModel):
    """One ``status.conditions[]`` entry (ours: only what checks read and quote)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    status: str = ""
    reason: str = ""
    message: str = ""
    observed_generation: int | None = None
    last_transition_time: str = ""

    @property
    def is_true(self) -> bool:
        return self.status == "True"

    @property
    def is_false(self) -> bool:
        return self.status == "False"

    def line(self) -> str:
        """The condition as one quotable line: ``type status reason "message"``."""
        return f"{self.type} {self.status} {self.reason} {self.message!r}".replace("  ", " ")


class ParentConditions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    parent_kind: str = ""
    parent_name: str = ""
    parent_namespace: str = ""
    conditions: list[StatusCondition] = []


def _status_dict(obj: Any) -> dict[str, Any]:
    """``.status`` of a raw dict, an IstioResource (typed ``status``) or a kube model (extra)."""
    if isinstance(obj, dict):
        st = obj.get("status")
    else:
        st = getattr(obj, "status", None)
        if st is None or not isinstance(st, dict):
            extra = getattr(obj, "model_extra", None) or {}
            st = extra.get("status", st)
        if isinstance(st, BaseModel):
            st = st.model_dump(by_alias=True)
    return st if isinstance(st, dict) else {}


def _one(raw: Any) -> StatusCondition | None:
    if not isinstance(raw, dict) or not raw.get("type"):
        return None
    gen = raw.get("observedGeneration")
    return StatusCondition(
        type=str(raw["type"]), status=str(raw.get("status") or ""), reason=str(raw.get("reason") or ""),
        message=str(raw.get("message") or ""), observed_generation=gen if isinstance(gen, int) else None,
        last_transition_time=str(raw.get("lastTransitionTime") or ""),
    )


def _many(raws: Any) -> list[StatusCondition]:
    return [c for r in (raws or []) if (c := _one(r)) is not None] if isinstance(raws, list) else []


def conditions_of(obj: Any) -> list[StatusCondition]:
    return _many(_status_dict(obj).get("conditions"))


def condition(obj: Any, type_: str) -> StatusCondition | None:
    return next((c for c in conditions_of(obj) if c.type == type_), None)


def parent_conditions(route: Any) -> list[ParentConditions]:
    """``status.parents[]`` of an HTTPRoute / GRPCRoute: each parent and its conditions."""
    out = []
    for p in _status_dict(route).get("parents") or []:
        if not isinstance(p, dict):
            continue
        ref = p.get("parentRef") or {}
        out.append(ParentConditions(parent_kind=str(ref.get("kind") or "Gateway"), parent_name=str(ref.get("name") or ""),
                                    parent_namespace=str(ref.get("namespace") or ""), conditions=_many(p.get("conditions"))))
    return out


def listener_conditions(gateway: Any) -> dict[str, list[StatusCondition]]:
    """``status.listeners[]`` of a Gateway, by listener name."""
    return {str(lst.get("name") or ""): _many(lst.get("conditions"))
            for lst in _status_dict(gateway).get("listeners") or [] if isinstance(lst, dict)}


class AnalyzeWouldReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reported: bool
    why: str


def analyze_reports(cond: StatusCondition) -> AnalyzeWouldReport:
    """Would ``istioctl analyze`` (IST0171 NegativeConditionStatus) show this condition?"""
    if cond.type not in ANALYZE_CONDITION_TYPES:
        return AnalyzeWouldReport(reported=False, why=f"istioctl analyze does not read {cond.type} conditions")
    if cond.is_false:
        return AnalyzeWouldReport(reported=True, why="status False: istioctl analyze reports it as IST0171")
    if cond.type == WAYPOINT_ACCEPTED and cond.reason == WA_PARTIALLY_INVALID:
        return AnalyzeWouldReport(reported=True, why="WaypointAccepted PartiallyInvalid: istioctl analyze reports it as IST0171")
    return AnalyzeWouldReport(reported=False, why=f"status {cond.status or 'unset'}: istioctl analyze reports only False, "
                              "so it stays silent about this")
