"""What each Istio (and Kubernetes) version really does at pod start-up and shutdown.

Every rule here was read in the Istio source at the tags named (``istio/istio@TAG:path``) or
in the release's documentation, and each function returns the source with its answer so a
finding can cite it. Versions are the *control plane's* (the injector decides the pod's shape
at creation) unless a rule says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from istio_doctor.evidence.kube import SIDECAR_NAME
from istio_doctor.evidence.versions import Version

V = Version.parse

# -- sources -----------------------------------------------------------------------------------
SRC_HOLD_17 = ("istio/istio@1.7.0:manifests/charts/istio-control/istio-discovery/files/gen-istio.yaml "
               "(`else if .Values.global.proxy.holdApplicationUntilProxyStarts`) and pkg/kube/inject/inject.go "
               "(values only)")
SRC_HOLD_18 = ("istio/istio@1.8.0:manifests/charts/istio-control/istio-discovery/files/gen-istio.yaml "
               "(`$holdProxy := or .ProxyConfig.HoldApplicationUntilProxyStarts.GetValue "
               ".Values.global.proxy.holdApplicationUntilProxyStarts`)")
SRC_HOLD_190 = ("istio/istio@1.9.0:pkg/kube/inject/webhook.go reorderPod (mesh defaultConfig not read); "
                "https://github.com/istio/istio/issues/30814, fixed in 1.9.1 by https://github.com/istio/istio/pull/30846")
SRC_HOLD_LIFECYCLE = ("istio/istio@1.22.0:manifests/charts/istio-control/istio-discovery/files/injection-template.yaml "
                      "(`if .Values.global.proxy.lifecycle` ... `else if $holdProxy`)")
SRC_HOLD_NATIVE = ("istio/istio@1.21.0:manifests/charts/istio-control/istio-discovery/files/injection-template.yaml "
                   "(`$holdProxy := and (...) (not $nativeSidecar)`)")
SRC_NATIVE_119 = "istio/istio@1.19.0:pilot/pkg/features/pilot.go (ENABLE_NATIVE_SIDECARS, default false)"
SRC_NATIVE_124 = ("istio/istio@1.24.0:manifests/charts/istio-control/istio-discovery/files/injection-template.yaml "
                  "(annotation sidecar.istio.io/nativeSidecar, https://github.com/istio/istio/pull/53490)")
SRC_NATIVE_127 = ("istio/istio@1.27.0:pkg/kube/inject/webhook.go DetectNativeSidecar (ENABLE_NATIVE_SIDECARS=auto: "
                  "native when the node's kubelet is >= 1.33, https://github.com/istio/istio/pull/56428)")
SRC_K8S_SIDECARS = "https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/ (beta, on by default, in 1.29; GA in 1.33)"
SRC_QUIT = "istio/istio@1.3.0:pilot/cmd/pilot-agent/status/server.go (POST /quitquitquit on the status port 15020)"
SRC_EXIT_ZERO = ("istio/istio@1.12.0:pilot/cmd/pilot-agent/options/options.go (EXIT_ON_ZERO_ACTIVE_CONNECTIONS) and "
                 "pkg/envoy/agent.go terminate(): only read after SIGTERM")
SRC_DRAIN = ("istio/istio@1.7.0:pilot/cmd/pilot-agent/main.go (ProxyConfig.terminationDrainDuration, default 5s; "
             "TERMINATION_DRAIN_DURATION_SECONDS before 1.7)")
SRC_REPAIR_120 = "istio/istio@1.20.0:manifests/charts/istio-cni/values.yaml (repair: labelPods: true, deletePods: true)"
SRC_REPAIR_121 = "istio/istio@1.21.0:manifests/charts/istio-cni/values.yaml (repair: repairPods: true; label/delete off)"
SRC_UNTAINT = ("istio/istio@1.22.0:manifests/charts/istio-control/istio-discovery/values.yaml "
               "(pilot.taint.enabled removes the cni.istio.io/not-ready node taint when the agent is ready)")
SRC_VALIDATION = ("istio/istio@1.15.0:tools/istio-iptables/pkg/cmd/root.go (\"iptables validation failed; workload is not "
                  "ready for Istio.\"; exit code 126 = constants.ValidationErrorCode since 1.5)")
SRC_CNI_INIT = ("https://istio.io/latest/docs/setup/additional-setup/cni/#compatibility-with-application-init-containers; "
                "istio/istio@1.22.0:pkg/kube/inject/webhook.go reorderPod (istio-init last, or istio-proxy first when native)")
SRC_INJECT_VALUE = ("istio/istio@1.26.0:pkg/kube/inject/inject.go injectRequired (strings.ToLower, y/yes/true/on) and "
                    "istio/istio@1.27.0:pkg/kube/inject/inject.go (only \"true\"/\"false\", https://github.com/istio/istio/pull/56737)")


# -- holdApplicationUntilProxyStarts ---------------------------------------------------------------


@dataclass(frozen=True)
class HoldSetting:
    place: str  # annotation | meshConfig | values
    where: str  # human wording of the place
    value: bool


@dataclass(frozen=True)
class HoldVerdict:
    honoured: bool
    why: str
    source: str


def hold_settings(pod: Any, mesh: Any | None, injector: Any | None) -> list[HoldSetting]:
    """Where holdApplicationUntilProxyStarts is set for this pod (only explicit settings)."""
    out: list[HoldSetting] = []
    raw = pod.annotations.get("proxy.istio.io/config")
    if raw:
        try:
            cfg = yaml.safe_load(raw) or {}
        except yaml.YAMLError:
            cfg = {}
        if isinstance(cfg, dict) and isinstance(cfg.get("holdApplicationUntilProxyStarts"), bool):
            out.append(HoldSetting("annotation", "pod annotation proxy.istio.io/config", cfg["holdApplicationUntilProxyStarts"]))
    dc = getattr(mesh, "default_config", None)
    if dc is not None and dc.hold_application_until_proxy_starts is not None:
        out.append(HoldSetting("meshConfig", "meshConfig.defaultConfig", bool(dc.hold_application_until_proxy_starts)))
    hold = getattr(getattr(injector, "values", None), "hold_application_until_proxy_starts", None)
    if isinstance(hold, bool):
        out.append(HoldSetting("values", "values.global.proxy.holdApplicationUntilProxyStarts", hold))
    return out


def lifecycle_override(injector: Any | None) -> bool:
    """``values.global.proxy.lifecycle`` replaces the hold hook in every template that has one."""
    return bool(getattr(getattr(injector, "values", None), "proxy_lifecycle", False))


def hold_verdict(version: Version | None, place: str, *, lifecycle_set: bool = False) -> HoldVerdict:
    """Does an injector of this version turn a hold setting in this place into a pod that starts
    istio-proxy first and waits for it (``postStart: pilot-agent wait``)?"""
    if lifecycle_set:
        return HoldVerdict(False, "values.global.proxy.lifecycle is set, and the injection template emits it instead of the "
                                  "postStart `pilot-agent wait` hook", SRC_HOLD_LIFECYCLE)
    if version is None:
        return HoldVerdict(True, "the control plane version is unknown; every place works from 1.9.1", SRC_HOLD_18)
    if version < V("1.7"):
        return HoldVerdict(False, f"holdApplicationUntilProxyStarts does not exist before Istio 1.7 (the control plane runs {vtext(version)})",
                           SRC_HOLD_17)
    if version < V("1.8") and place != "values":
        return HoldVerdict(False, f"Istio {version.major}.{version.minor} reads only values.global.proxy.holdApplicationUntilProxyStarts; "
                                  f"the {place} setting arrived in 1.8", SRC_HOLD_17)
    if V("1.9.0") <= version < V("1.9.1") and place == "meshConfig":
        return HoldVerdict(False, "Istio 1.9.0 reads meshConfig.defaultConfig for the hook but not for the container order "
                                  "(fixed in 1.9.1)", SRC_HOLD_190)
    return HoldVerdict(True, f"Istio {vtext(version)} honours the {place} setting", SRC_HOLD_18)


@dataclass(frozen=True)
class HoldShape:
    """What the running pod actually got from the injector."""

    native: bool
    proxy_first: bool
    post_start_wait: bool

    @property
    def holds(self) -> bool:
        return self.native or (self.proxy_first and self.post_start_wait)


def hold_shape(pod: Any) -> HoldShape:
    """Read the pod spec: istio-proxy first among the containers with a ``pilot-agent wait``
    postStart hook (classic), or a native sidecar (started, and startup-probed, before the app)."""
    if pod.is_native_sidecar:
        return HoldShape(True, True, False)
    names = [c.name for c in pod.spec.containers]
    proxy = next((c for c in pod.spec.containers if c.name == SIDECAR_NAME), None)
    hook = ((proxy.model_extra or {}).get("lifecycle") or {}) if proxy is not None else {}
    cmd = (((hook.get("postStart") or {}).get("exec") or {}).get("command") or []) if isinstance(hook, dict) else []
    return HoldShape(False, bool(names) and names[0] == SIDECAR_NAME, list(cmd[:2]) == ["pilot-agent", "wait"])


# -- native sidecars -----------------------------------------------------------------------------


def native_fix(istio: Version | None, kube_minor: int | None) -> tuple[str, str] | None:
    """How to get native sidecars on this cluster (text, source), or None when it cannot have them."""
    if kube_minor is not None and kube_minor < 29:
        return None
    if istio is not None and istio < V("1.19"):
        return None
    k8s_note = "" if kube_minor is not None else " (needs Kubernetes >= 1.29)"
    if istio is not None and istio >= V("1.24"):
        text = ("set the pod-template annotation sidecar.istio.io/nativeSidecar: \"true\" (Istio >= 1.24), or "
                "ENABLE_NATIVE_SIDECARS=true on istiod for every pod") + k8s_note
        if istio >= V("1.27") and (kube_minor is None or kube_minor < 33):
            text += "; Istio >= 1.27 only enables them by itself when the node's kubelet is >= 1.33"
        return text, SRC_NATIVE_124 if istio < V("1.27") else SRC_NATIVE_127
    return "set ENABLE_NATIVE_SIDECARS=true on istiod (Istio 1.19-1.23: mesh-wide, no per-pod switch)" + k8s_note, SRC_NATIVE_119


# -- Istio version parts ----------------------------------------------------------------------------


def minor_of(v: Version | None) -> int | None:
    return getattr(v, "minor", None) if v is not None else None


def vtext(v: Version | None) -> str:
    if v is None:
        return "unknown"
    return v.raw or f"{v.major}.{v.minor}" + (f".{v.patch}" if v.patch is not None else "")
