"""Which data plane carries a pod's traffic: sidecar, ambient (captured or not yet), or none.

Never decided from the absence of a sidecar alone. The inputs and their sources
(istio/istio@86c9f01):

* **intent** — the ``istio.io/dataplane-mode`` label: the pod's ``ambient`` or ``none`` wins
  over its namespace's ``ambient`` (istio-cni's default ``enablementSelectors``,
  ``manifests/charts/istio-cni/values.yaml``: pod label ``ambient``, or namespace label
  ``ambient`` with the pod label not ``none``);
* **fact** — the ``ambient.istio.io/redirection`` annotation istio-cni writes through
  ``pods/status``: ``enabled`` = captured ("The presence of this annotation with this specific
  value indicates the pod is captured. Anything else indicates it is not"), ``pending`` =
  partially captured, no ztunnel accepted it yet (``pkg/config/constants/constants.go``);
  the legacy value ``disabled`` was an opt-out (before the ``none`` label);
* **sidecar** — an ``istio-proxy`` container or the injector's ``sidecar.istio.io/status``
  annotation: istio-cni skips such pods (``cni/pkg/util/podutil.go`` ``podHasSidecar``);
* **ztunnel's view** (optional) — the pod's PROTOCOL in ``ztunnel-config workloads``: ``HBONE``
  when ztunnel captures it, ``TCP`` when it does not.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["DATAPLANE_MODE_LABEL", "REDIRECTION_ANNOTATION", "DataplaneMode", "PodDataplane", "pod_dataplane"]

DATAPLANE_MODE_LABEL = "istio.io/dataplane-mode"
REDIRECTION_ANNOTATION = "ambient.istio.io/redirection"
USE_WAYPOINT_LABEL = "istio.io/use-waypoint"
USE_WAYPOINT_NS_LABEL = "istio.io/use-waypoint-namespace"
WAYPOINT_FOR_LABEL = "istio.io/waypoint-for"
INGRESS_USE_WAYPOINT_LABEL = "istio.io/ingress-use-waypoint"
WAYPOINT_CLASS = "istio-waypoint"
SIDECAR_STATUS_ANNOTATION = "sidecar.istio.io/status"


class DataplaneMode(StrEnum):
    SIDECAR = "sidecar"
    #: ambient intent and istio-cni annotated the pod ``enabled``
    AMBIENT = "ambient"
    #: ambient intent, annotation ``pending``: rules set, no ztunnel accepted the pod
    AMBIENT_PENDING = "ambient-pending"
    #: ambient intent but no redirection annotation (not enrolled by istio-cni)
    AMBIENT_NOT_CAPTURED = "ambient-not-captured"
    #: ``istio.io/dataplane-mode=none`` (or legacy redirection ``disabled``) in an ambient namespace
    OPTED_OUT = "opted-out"
    #: nothing asks for the mesh
    NONE = "none"


class PodDataplane(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: DataplaneMode
    #: what the mode was decided from, as ``key=value`` facts (quoted in findings and the TUI)
    because: list[str]
    intent: str = ""  # "ambient" | "none" | ""
    intent_from: str = ""  # "pod" | "namespace" | ""
    redirection: str = ""  # the annotation's value
    has_sidecar: bool = False
    #: ztunnel's PROTOCOL for the pod (HBONE/TCP), when known
    ztunnel_protocol: str = ""

    @property
    def is_ambient(self) -> bool:
        """Ambient intent or ambient facts: the ambient playbooks apply."""
        return self.mode in (DataplaneMode.AMBIENT, DataplaneMode.AMBIENT_PENDING, DataplaneMode.AMBIENT_NOT_CAPTURED)


def _labels(obj: Any) -> dict[str, str]:
    if obj is None:
        return {}
    v = getattr(obj, "labels", None)
    if isinstance(v, dict):
        return v
    meta = getattr(obj, "metadata", None)
    return dict(getattr(meta, "labels", None) or {})


def _annotations(obj: Any) -> dict[str, str]:
    v = getattr(obj, "annotations", None)
    if isinstance(v, dict):
        return v
    meta = getattr(obj, "metadata", None)
    return dict(getattr(meta, "annotations", None) or {})


def pod_dataplane(pod: Any, namespace: Any | None = None, *, ztunnel_protocol: str = "") -> PodDataplane:
    """Classify ``pod`` (a kube ``Pod``) given its ``Namespace`` object (None when unknown)."""
    pl, pa, nl = _labels(pod), _annotations(pod), _labels(namespace)
    sidecar = bool(getattr(pod, "has_sidecar", False)) or SIDECAR_STATUS_ANNOTATION in pa
    redirection = pa.get(REDIRECTION_ANNOTATION, "")
    because: list[str] = []
    intent, intent_from = "", ""
    if pl.get(DATAPLANE_MODE_LABEL) in ("ambient", "none"):
        intent, intent_from = pl[DATAPLANE_MODE_LABEL], "pod"
        because.append(f"pod label {DATAPLANE_MODE_LABEL}={intent}")
    elif nl.get(DATAPLANE_MODE_LABEL) == "ambient":
        intent, intent_from = "ambient", "namespace"
        because.append(f"namespace label {DATAPLANE_MODE_LABEL}=ambient")
    if redirection:
        because.append(f"annotation {REDIRECTION_ANNOTATION}={redirection}")
    if ztunnel_protocol:
        because.append(f"ztunnel PROTOCOL {ztunnel_protocol}")
    common = {"intent": intent, "intent_from": intent_from, "redirection": redirection, "has_sidecar": sidecar,
              "ztunnel_protocol": ztunnel_protocol}
    if sidecar:
        return PodDataplane(mode=DataplaneMode.SIDECAR, because=["istio-proxy sidecar", *because], **common)
    if intent == "none" or redirection == "disabled":
        if not because or redirection == "disabled" and intent != "none":
            because.append(f"annotation {REDIRECTION_ANNOTATION}=disabled (legacy opt-out)")
        return PodDataplane(mode=DataplaneMode.OPTED_OUT if nl.get(DATAPLANE_MODE_LABEL) == "ambient" or intent == "none"
                            else DataplaneMode.NONE, because=because, **common)
    if redirection == "enabled" or ztunnel_protocol.upper() == "HBONE":
        return PodDataplane(mode=DataplaneMode.AMBIENT, because=because, **common)
    if redirection == "pending":
        return PodDataplane(mode=DataplaneMode.AMBIENT_PENDING, because=because, **common)
    if intent == "ambient":
        return PodDataplane(mode=DataplaneMode.AMBIENT_NOT_CAPTURED, because=[*because, f"no {REDIRECTION_ANNOTATION} annotation"],
                            **common)
    return PodDataplane(mode=DataplaneMode.NONE, because=because or ["no sidecar, no ambient label or annotation"], **common)
