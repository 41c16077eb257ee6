"""Playbook ``capture`` (ambient A1): the pod is not in the mesh, or its traffic is not captured.

Enrolment in ambient is a chain: istiod runs with ambient on, the namespace or pod asks for it
(``istio.io/dataplane-mode=ambient``), istio-cni on the node sees that, sets up redirection in
the pod's network namespace and hands the pod to the node's ztunnel, then annotates it
``ambient.istio.io/redirection=enabled``. Each link that breaks leaves the pod talking
plaintext around ztunnel, silently. Sources: istio/istio@86c9f01 ``cni/pkg/nodeagent``
(informers.go, meshdataplane_linux.go, net_linux.go), ``cni/pkg/plugin/plugin.go``,
``pkg/config/constants/constants.go``, ``manifests/charts/istio-cni``.
"""

from __future__ import annotations

from datetime import datetime

from istio_doctor.engine.checks._ambient import (
    SUBJECT_NEEDS,
    SUBJECT_OPTIONAL,
    agent_on_node,
    excerpt,
    optional,
    pod_line,
    subject,
    wants_ambient,
)
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.model import CheckResult, Fix, FixStep
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.ambient.cni_log import CniEventKind, CniLogKind, classify_event
from istio_doctor.evidence.ambient.dataplane import DATAPLANE_MODE_LABEL, REDIRECTION_ANNOTATION, DataplaneMode
from istio_doctor.evidence.bundle import Need

ISTIOD_APPS = ("istiod",)


def _istiod_deployments(ctx: CheckContext) -> list:
    return [d for d in ctx.ev.get(Need.CONTROL_PLANE_DEPLOYMENTS)
            if d.name.startswith("istiod") or d.labels.get("app") in ISTIOD_APPS]


@check("AMB-ISTIOD-AMBIENT-OFF", needs=(Need.CONTROL_PLANE_DEPLOYMENTS, Need.ZTUNNEL_PODS), optional=(Need.ZTUNNEL_CONFIG,))
def istiod_ambient_off(ctx: CheckContext, _: NoParams) -> CheckResult:
    """ztunnel runs but istiod was installed without PILOT_ENABLE_AMBIENT=true (pilot/pkg/features/ambient.go,
    default false; manifests/helm-profiles/ambient.yaml sets it): ztunnel gets no workloads, nothing is captured."""
    zts = ctx.ev.get(Need.ZTUNNEL_PODS)
    if not zts:
        return CheckResult.not_applicable("no ztunnel pod runs: the ambient data plane is not installed")
    deps = _istiod_deployments(ctx)
    if not deps:
        return CheckResult.unknown("no istiod Deployment found in the control plane namespace",
                                   reason=f"no istiod Deployment in namespace {ctx.conn.istio_namespace}")
    off = []
    for d in deps:
        disc = next((c for c in d.spec.template.spec.containers if c.name == "discovery"), None)
        value = disc.env_value("PILOT_ENABLE_AMBIENT") if disc is not None else None
        # Go strconv.ParseBool (istio pkg/env): 1, t, T, TRUE, true, True
        if (value or "") not in ("1", "t", "T", "TRUE", "true", "True"):
            off.append((d, value))
    if len(off) < len(deps):
        return CheckResult.passed(f"istiod runs with PILOT_ENABLE_AMBIENT=true ({len(zts)} ztunnel pod(s))")
    d, value = off[0]
    ev = [ctx.ref(Need.CONTROL_PLANE_DEPLOYMENTS, {"deployment": d.ref, "env PILOT_ENABLE_AMBIENT": value or "(unset)"},
                  "istiod's discovery container"),
          ctx.ref(Need.ZTUNNEL_PODS, "\n".join(pod_line(p) for p in zts[:4]), "ztunnel is installed")]
    observed = []
    dump = optional(ctx, Need.ZTUNNEL_CONFIG)
    if dump is not None:
        hbone = [w for w in dump.workloads if w.captured]
        if not hbone:
            observed.append(f"ztunnel on the pod's node knows {len(dump.workloads)} workload(s), none with PROTOCOL HBONE")
    return CheckResult.failed(
        args={"istiod": d.ref, "value": value or "unset", "ztunnels": len(zts)}, observed=observed, evidence=ev,
        resources=[d.ref], fix=Fix(steps=[FixStep(
            description="Install istiod with the ambient profile (the same --set profile=ambient as the cni and ztunnel charts)",
            command=f"helm upgrade istiod istio/istiod -n {ctx.conn.istio_namespace} --set profile=ambient --reuse-values")]))


@check("AMB-CNI-NOT-RUNNING", needs=(*SUBJECT_NEEDS, Need.CNI_PODS), optional=(*SUBJECT_OPTIONAL, Need.DAEMONSETS))
def cni_not_running(ctx: CheckContext, _: NoParams) -> CheckResult:
    """No Ready istio-cni node agent on the pod's node: nothing enrols the node's pods (istio.io
    traffic-redirection: istio-cni is a required component of ambient)."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    if not s.node:
        return CheckResult.unknown(f"pod {s.ref} is not scheduled to a node yet", reason="pod not scheduled")
    on_node = agent_on_node(ctx, Need.CNI_PODS, s.node)
    ready = [p for p in on_node if p.ready]
    if ready:
        return CheckResult.passed(f"istio-cni pod {ready[0].name} is Ready on node {s.node}")
    all_cni = ctx.ev.get(Need.CNI_PODS)
    ev = [ctx.ref(Need.CNI_PODS, "\n".join(pod_line(p) for p in (on_node or all_cni)[:6]) or "(no istio-cni pod at all)",
                  f"istio-cni pods ({'on node ' + s.node if on_node else 'none on node ' + s.node})")]
    ds = next((d for d in ctx.ev.get_or([], Need.DAEMONSETS) if d.name == "istio-cni-node"), None)
    if ds is not None:
        st = ds.status
        ev.append(ctx.ref(Need.DAEMONSETS, {"daemonset": ds.ref, "desired": st.desired_number_scheduled,
                                            "current": st.current_number_scheduled, "ready": st.number_ready},
                          "DESIRED vs READY"))
    return CheckResult.failed(
        message="not_ready" if on_node else "missing" if all_cni else "absent",
        args={"pod": s.ref, "node": s.node, "cni": on_node[0].name if on_node else "none"}, evidence=ev,
        resources=[f"Pod {s.ref}"] + ([f"Pod {on_node[0].namespace}/{on_node[0].name}"] if on_node else []),
        fix=Fix(steps=[FixStep(description="See why the istio-cni pod of that node is not running",
                               command=f"kubectl -n {ctx.conn.istio_namespace} describe daemonset istio-cni-node")]))


_GKE_QUOTA_FIXED = (1, 26)  # istio/istio#56376: "as of istio 1.26, the install automatically creates a ResourceQuota"


@check("AMB-GKE-QUOTA", needs=(Need.NODES, Need.DAEMONSETS, Need.RESOURCE_QUOTAS))
def gke_quota(ctx: CheckContext, _: NoParams) -> CheckResult:
    """GKE admits system-node-critical pods only in namespaces with a matching ResourceQuota: the
    ztunnel / istio-cni DaemonSets create no pod (istio.io platform-prerequisites §GKE)."""
    nodes = ctx.ev.get(Need.NODES)
    if not any(n.platform == "gke" for n in nodes):
        return CheckResult.not_applicable("not a GKE cluster (no node with a gce:// providerID or a -gke kubelet)")
    ins = ctx.conn.istio_namespace
    stuck = [d for d in ctx.ev.get(Need.DAEMONSETS) if d.name in ("ztunnel", "istio-cni-node") and d.namespace != "kube-system"
             and d.status.desired_number_scheduled > 0 and d.status.current_number_scheduled == 0]
    if not stuck:
        return CheckResult.passed("the ztunnel and istio-cni DaemonSets have pods")
    quotas = [q for q in ctx.ev.get(Need.RESOURCE_QUOTAS) if "system-node-critical" in q.priority_classes]
    if quotas:
        return CheckResult.passed(f"ResourceQuota {quotas[0].name} admits system-node-critical pods in {ins}")
    v = ctx.istio_version
    if v is not None and (v.major, v.minor) >= _GKE_QUOTA_FIXED:
        return CheckResult.not_applicable(f"Istio {v} creates the ResourceQuota itself (istio/istio#56376)")
    ev = [ctx.ref(Need.DAEMONSETS, [{"daemonset": d.ref, "desired": d.status.desired_number_scheduled,
                                     "current": d.status.current_number_scheduled} for d in stuck], "no pod created"),
          ctx.ref(Need.RESOURCE_QUOTAS, [q.name for q in ctx.ev.get(Need.RESOURCE_QUOTAS)] or "(none)",
                  f"ResourceQuotas in {ins}: none scoped to PriorityClass system-node-critical")]
    yaml_patch = (f"apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: gcp-critical-pods\n  namespace: {ins}\nspec:\n"
                  "  hard:\n    pods: 1000\n  scopeSelector:\n    matchExpressions:\n    - operator: In\n"
                  "      scopeName: PriorityClass\n      values:\n      - system-node-critical\n")
    return CheckResult.failed(
        args={"daemonsets": [d.name for d in stuck], "namespace": ins}, evidence=ev, resources=[d.ref for d in stuck],
        fix=Fix(steps=[FixStep(description="Create the ResourceQuota GKE requires for system-node-critical pods", yaml_patch=yaml_patch)]))


#: istio-cni platform profiles (manifests/charts/istio-cni/files/profile-platform-*.yaml, values.yaml defaults)
PLATFORM_DIRS: dict[str, dict[str, str]] = {
    "gke": {"cni-bin-dir": "/home/kubernetes/bin"},
    "k3s": {"cni-bin-dir": "/var/lib/rancher/k3s/data/cni", "cni-net-dir": "/var/lib/rancher/k3s/agent/etc/cni/net.d"},
    "k3d": {"cni-bin-dir": "/bin", "cni-net-dir": "/var/lib/rancher/k3s/agent/etc/cni/net.d"},
    "microk8s": {"cni-bin-dir": "/var/snap/microk8s/current/opt/cni/bin", "cni-net-dir": "/var/snap/microk8s/current/args/cni-network"},
    "openshift": {"cni-bin-dir": "/var/lib/cni/bin", "cni-net-dir": "/etc/cni/multus/net.d"},
}


@check("AMB-CNI-PLATFORM-PATHS", needs=(Need.NODES, Need.DAEMONSETS), optional=(Need.CILIUM_CONFIG,))
def cni_platform_paths(ctx: CheckContext, _: NoParams) -> CheckResult:
    """istio-cni installs into the standard CNI dirs unless told the platform: on GKE, k3s, k3d,
    MicroK8s and OpenShift the plugin is then never invoked; Cilium with cni-exclusive deletes it."""
    ds = next((d for d in ctx.ev.get(Need.DAEMONSETS) if d.name == "istio-cni-node"), None)
    if ds is None:
        return CheckResult.not_applicable("no istio-cni-node DaemonSet")
    platforms = sorted({n.platform for n in ctx.ev.get(Need.NODES)} - {"", "eks"})
    cilium = next(iter(ctx.ev.get_or([], Need.CILIUM_CONFIG)), None)
    if cilium is not None and cilium.data.get("cni-exclusive") == "true":
        return CheckResult.failed(
            message="cilium", args={"setting": "cni-exclusive: \"true\"", "configmap": "kube-system/cilium-config"},
            evidence=[ctx.ref(Need.CILIUM_CONFIG, {"cni-exclusive": "true"}, "Cilium removes other CNI configurations")],
            resources=["ConfigMap kube-system/cilium-config"],
            fix=Fix(steps=[FixStep(description="Let Istio chain its plugin after Cilium",
                                   command="helm upgrade cilium cilium/cilium -n kube-system --reuse-values --set cni.exclusive=false")]))
    for platform in platforms:
        for volume, want in PLATFORM_DIRS.get(platform, {}).items():
            got = ds.host_path(volume)
            if got is not None and got.rstrip("/") != want.rstrip("/"):
                return CheckResult.failed(
                    args={"platform": platform, "volume": volume, "actual": got, "expected": want, "daemonset": ds.ref},
                    evidence=[ctx.ref(Need.NODES, [{"node": n.name, "providerID": n.spec.provider_id,
                                                    "kubeletVersion": n.status.node_info.kubelet_version}
                                                   for n in ctx.ev.get(Need.NODES)][:3], f"the nodes run {platform}"),
                              ctx.ref(Need.DAEMONSETS, {"daemonset": ds.ref, f"volume {volume} hostPath": got},
                                      f"{platform} expects {want}")],
                    resources=[ds.ref],
                    fix=Fix(steps=[FixStep(description=f"Install istio-cni with the {platform} platform profile",
                                           command=f"helm upgrade istio-cni istio/cni -n {ds.namespace} --reuse-values "
                                                   f"--set global.platform={platform}")]))
    if not platforms:
        return CheckResult.passed("no platform that needs its own CNI paths")
    return CheckResult.passed(f"istio-cni's host paths match the {', '.join(platforms)} platform")


@check("AMB-CNI-NO-ZTUNNEL", needs=(*SUBJECT_NEEDS, Need.EVENTS), optional=(*SUBJECT_OPTIONAL, Need.ZTUNNEL_PODS))
def cni_no_ztunnel(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The istio-cni plugin cannot hand a new pod to ztunnel: the sandbox is never created
    (cni/pkg/plugin/plugin.go "istio-cni cmdAdd failed to contact node Istio CNI agent",
    cnieventclient.go "unable to push CNI event (status code %d)", "no ztunnel connection")."""
    s = subject(ctx)
    evs = [e for e in ctx.ev.get(Need.EVENTS, s.ns) if getattr(e.involved_object, "name", "") == s.name
           and classify_event(e.reason or "", e.message or "") is CniEventKind.NO_ZTUNNEL]
    if not evs:
        if s.pod.status.phase == "Pending" and wants_ambient(s):
            return CheckResult.passed(f"pod {s.ref} is Pending without a 'no ztunnel connection' sandbox event")
        return CheckResult.passed(f"no FailedCreatePodSandBox 'no ztunnel connection' event for pod {s.ref}")
    zts = [p for p in ctx.ev.get_or([], Need.ZTUNNEL_PODS) if p.spec.node_name == s.node] if s.node else []
    count = sum(int(getattr(e, "count", 1) or 1) for e in evs)
    ev = [ctx.ref(Need.EVENTS, "\n".join(f"{e.type}  {e.reason}  {e.message}" for e in evs[:2]), "kubelet events", namespace=s.ns)]
    if s.node:
        ev.append(ctx.ref(Need.ZTUNNEL_PODS, "\n".join(pod_line(p) for p in zts) or f"(no ztunnel pod on node {s.node})",
                          f"ztunnel on node {s.node}"))
    return CheckResult.failed(
        args={"pod": s.ref, "count": count, "node": s.node or "unknown", "ztunnel": zts[0].name if zts else "none"},
        evidence=ev, resources=[f"Pod {s.ref}"], observed=[f"FailedCreatePodSandBox x{count}: no ztunnel connection"],
        fix=Fix(steps=[FixStep(description="Get ztunnel Ready on every node that runs istio-cni (same nodeSelector and tolerations)",
                               command=f"kubectl -n {ctx.conn.istio_namespace} get pods -l app=ztunnel -o wide")]))


@check("AMB-NS-NOT-ENROLLED", needs=SUBJECT_NEEDS, optional=SUBJECT_OPTIONAL)
def ns_not_enrolled(ctx: CheckContext, _: NoParams) -> CheckResult:
    """Neither the namespace nor the pod asks for ambient (``istio.io/dataplane-mode=ambient``): no
    mTLS, no L4 policy, no ztunnel line, although the cluster uses ambient elsewhere."""
    s = subject(ctx)
    if s.mode.mode is not DataplaneMode.NONE:
        return CheckResult.not_applicable(f"pod {s.ref}: data plane {s.mode.mode.value}")
    value = s.ns_labels.get(DATAPLANE_MODE_LABEL)
    ev = [ctx.ref(Need.NAMESPACES, {"namespace": s.ns, "labels": s.ns_labels or {}}, "no istio.io/dataplane-mode=ambient"),
          ctx.ref(Need.POD, {"pod": s.ref, "labels": dict(s.pod.labels), "annotations": {
              k: v for k, v in s.pod.annotations.items() if "istio" in k}}, "no ambient label, no sidecar")]
    observed = []
    dump = optional(ctx, Need.ZTUNNEL_CONFIG)
    if dump is not None and (w := dump.workload_by_name(s.ns, s.name)) is not None and not w.captured:
        observed.append(f"ztunnel-config workloads: {s.ref} PROTOCOL {w.protocol}")
    return CheckResult.failed(
        args={"namespace": s.ns, "pod": s.ref, "value": value or "unset"}, evidence=ev, observed=observed,
        resources=[f"Namespace {s.ns}", f"Pod {s.ref}"],
        fix=Fix(steps=[FixStep(description="Enrol the namespace in ambient (istio-cni picks it up, no restart needed)",
                               command=f"kubectl label namespace {s.ns} {DATAPLANE_MODE_LABEL}=ambient")]))


@check("AMB-POD-OPTOUT", needs=SUBJECT_NEEDS, optional=SUBJECT_OPTIONAL)
def pod_optout(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The pod opts out (``istio.io/dataplane-mode=none``, or the legacy redirection ``disabled``)
    while its namespace is ambient: the pod label wins (istio-cni enablementSelectors)."""
    s = subject(ctx)
    if s.mode.mode is not DataplaneMode.OPTED_OUT:
        return CheckResult.not_applicable(f"pod {s.ref} does not opt out of ambient")
    how = (f"label {DATAPLANE_MODE_LABEL}=none" if s.pod.labels.get(DATAPLANE_MODE_LABEL) == "none"
           else f"annotation {REDIRECTION_ANNOTATION}=disabled")
    owner = s.pod.owner_workload
    where = f"{owner.kind} {s.ns}/{owner.name}" if owner else f"Pod {s.ref}"
    return CheckResult.failed(
        args={"pod": s.ref, "how": how, "namespace": s.ns, "owner": where},
        evidence=[ctx.ref(Need.POD, {"pod": s.ref, "labels": dict(s.pod.labels)}, "the opt-out"),
                  ctx.ref(Need.NAMESPACES, {"namespace": s.ns, "labels": s.ns_labels}, "the namespace is ambient")],
        resources=[f"Pod {s.ref}"],
        fix=Fix(steps=[FixStep(description=f"Remove the opt-out from the pod template of {where}")]))


@check("AMB-EXCLUDED-NS", needs=SUBJECT_NEEDS, optional=(*SUBJECT_OPTIONAL, Need.CNI_CONFIG, Need.CNI_LOGS))
def excluded_ns(ctx: CheckContext, _: NoParams) -> CheckResult:
    """istio-cni's excludeNamespaces lists the namespace: "Namespace %s is labeled for ambient mesh
    but is excluded by excludeNamespaces configuration; pods will not be enrolled" (informers.go)."""
    s = subject(ctx)
    if not wants_ambient(s) or s.mode.mode is DataplaneMode.AMBIENT:
        return CheckResult.not_applicable(f"pod {s.ref}: data plane {s.mode.mode.value}")
    cms = ctx.ev.get_or(None, Need.CNI_CONFIG)
    cm = cms[0] if cms else None
    log = optional(ctx, Need.CNI_LOGS)
    if cms is None and log is None:
        item = ctx.ev.item(Need.CNI_CONFIG)
        why = item.failure.reason if item is not None and item.failure is not None else "not gathered"
        return CheckResult.unknown("neither istio-cni's ConfigMap nor its log could be read", reason=why)
    excluded = [n.strip() for n in (cm.data.get("EXCLUDE_NAMESPACES", "") if cm is not None else "").split(",") if n.strip()]
    lines = [ln for ln in (log.of(CniLogKind.NS_EXCLUDED) if log is not None else []) if ln.namespace == s.ns]
    if s.ns not in excluded and not lines:
        return CheckResult.passed(f"namespace {s.ns} is not in istio-cni's EXCLUDE_NAMESPACES")
    ev = []
    if s.ns in excluded and cm is not None:
        ev.append(ctx.ref(Need.CNI_CONFIG, {"configmap": cm.ref, "EXCLUDE_NAMESPACES": cm.data.get("EXCLUDE_NAMESPACES")},
                          "istio-cni settings"))
    if lines:
        ev.append(ctx.ref(Need.CNI_LOGS, excerpt(lines, 2), "istio-cni on the pod's node"))
    return CheckResult.failed(
        args={"namespace": s.ns, "excluded": excluded or [s.ns]}, evidence=ev,
        observed=[ln.message for ln in lines[:1]], resources=[f"Namespace {s.ns}"],
        fix=Fix(steps=[FixStep(description="Remove the namespace from cni.excludeNamespaces and upgrade istio-cni")]))


@check("AMB-REDIRECTION-PENDING", needs=SUBJECT_NEEDS, optional=(*SUBJECT_OPTIONAL, Need.CNI_LOGS, Need.ZTUNNEL_PODS, Need.CNI_PODS))
def redirection_pending(ctx: CheckContext, _: NoParams) -> CheckResult:
    """``ambient.istio.io/redirection: pending``: rules set up but no ztunnel accepted the pod —
    "Pods in this state will not egress/ingress traffic until an active ztunnel begins proxying
    them" (pkg/config/constants/constants.go); istio-cni logs "failed to add pod to ztunnel: pod
    partially added, annotating with pending status" (meshdataplane_linux.go)."""
    s = subject(ctx)
    if s.mode.mode is not DataplaneMode.AMBIENT_PENDING:
        return CheckResult.not_applicable(f"pod {s.ref}: data plane {s.mode.mode.value}")
    zts = [p for p in ctx.ev.get_or([], Need.ZTUNNEL_PODS) if p.spec.node_name == s.node]
    ev = [ctx.ref(Need.POD, {"pod": s.ref, "annotations": {REDIRECTION_ANNOTATION: s.mode.redirection}, "node": s.node},
                  "istio-cni's verdict")]
    log = optional(ctx, Need.CNI_LOGS)
    lines = [ln for ln in (log.of(CniLogKind.POD_PENDING) if log is not None else [])
             if not ln.pod_ref or ln.pod_ref == s.ref]
    if lines:
        ev.append(ctx.ref(Need.CNI_LOGS, excerpt(lines, 2), "istio-cni on the pod's node"))
    if s.node:
        ev.append(ctx.ref(Need.ZTUNNEL_PODS, "\n".join(pod_line(p) for p in zts) or f"(no ztunnel pod on node {s.node})",
                          f"ztunnel on node {s.node}"))
    state = "missing" if not zts else ("not Ready" if not any(p.ready for p in zts) else "Ready")
    return CheckResult.failed(
        args={"pod": s.ref, "node": s.node or "unknown", "ztunnel": zts[0].name if zts else "none", "state": state},
        evidence=ev, observed=[ln.message for ln in lines[:1]], resources=[f"Pod {s.ref}"],
        fix=Fix(steps=[FixStep(description=f"Get the ztunnel of node {s.node} Ready, then restart the pod",
                               command=f"kubectl -n {s.ns} delete pod {s.name}")]))


def _iso(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else "unknown"


def _ready_since(pod: object) -> datetime | None:
    cond = pod.condition("Ready") if hasattr(pod, "condition") else None
    return cond.last_transition_time if cond is not None and cond.is_true else None


@check("AMB-POD-BEFORE-CNI", needs=(*SUBJECT_NEEDS, Need.CNI_PODS), optional=(*SUBJECT_OPTIONAL, Need.CNI_LOGS))
def pod_before_cni(ctx: CheckContext, _: NoParams) -> CheckResult:
    """The pod started on its node before istio-cni was ready there (node reboot, scale-out), or
    reconciling its in-pod rules failed: "failed to reconcile inpod rules for pod, try restarting
    the pod, or removing and re-adding it to the mesh" (cni/pkg/nodeagent/net_linux.go;
    istio/istio#60882, #55913, #48286). Its traffic bypasses ztunnel."""
    s = subject(ctx)
    if not wants_ambient(s):
        return CheckResult.not_applicable(f"pod {s.ref} is not meant for ambient")
    log = optional(ctx, Need.CNI_LOGS)
    failed = [ln for ln in (log.of(CniLogKind.RECONCILE_FAILED) if log is not None else [])
              if not ln.pod_ref or ln.pod_ref == s.ref]
    cni = [p for p in agent_on_node(ctx, Need.CNI_PODS, s.node) if p.ready] if s.node else []
    started = s.pod.status.start_time
    cni_ready = _ready_since(cni[0]) if cni else None
    before = bool(started and cni_ready is not None and started < cni_ready)
    if not failed and not before:
        if not cni:
            return CheckResult.unknown(f"no Ready istio-cni pod on node {s.node}: when it became ready is unknown",
                                       reason=f"no Ready istio-cni pod on node {s.node} (AMB-CNI-NOT-RUNNING)")
        return CheckResult.passed(f"pod {s.ref} started after istio-cni {cni[0].name} was Ready, no reconcile failure logged")
    ev = [ctx.ref(Need.POD, {"pod": s.ref, "startTime": _iso(started), "node": s.node,
                             "annotations": {REDIRECTION_ANNOTATION: s.mode.redirection or "(none)"}}, "when the pod started")]
    if cni:
        ev.append(ctx.ref(Need.CNI_PODS, {"pod": f"{cni[0].namespace}/{cni[0].name}", "Ready since": _iso(cni_ready)},
                          "when istio-cni became ready on the node"))
    if failed:
        ev.append(ctx.ref(Need.CNI_LOGS, excerpt(failed, 1), "istio-cni on the pod's node"))
    return CheckResult.failed(
        message="log" if failed else "default",
        args={"pod": s.ref, "node": s.node, "started": _iso(started), "cni_ready": _iso(cni_ready),
              "cni": cni[0].name if cni else "none"},
        evidence=ev, observed=[failed[0].message[:160]] if failed else [], resources=[f"Pod {s.ref}"],
        corroboration="corroborated" if failed and before else None,
        fix=Fix(steps=[FixStep(description="Restart the pod so istio-cni sets up its redirection",
                               command=f"kubectl -n {s.ns} delete pod {s.name}"),
                       FixStep(description="Keep new pods off nodes until istio-cni is ready: enable istiod's taint controller "
                                           "(pilot.taint.enabled) and start nodes with the cni.istio.io/not-ready taint")]))


