"""Scenarios of the ``capture`` playbook (ambient A1): the pod is not in the mesh or not captured.

Each failing world breaks one link of the enrolment chain in the healthy ambient bookinfo
(istiod's ambient flag, istio-cni on a node or its install paths, the namespace label or the
pod's opt-out, istio-cni's exclusions, ztunnel's acceptance, the order of pod and istio-cni
start); each control changes something that looks like it but is harmless.
"""

from __future__ import annotations

from tests.scenarios._ambient import control, fail, found, target, workload_label, world
from tests.scenariokit.world import World

CAP = "capture"


def _new_pods(key: str):  # type: ignore[no-untyped-def]
    def m(w: World) -> None:
        wl = w.workload(key)
        assert wl is not None
        wl.new_pods = True
    return m


def _scenarios() -> list:  # type: ignore[type-arg]
    out = []
    w = world(istiod_ambient=None)
    out.append(fail(CAP, "istiod-ambient-off", "istiod installed without the ambient profile (PILOT_ENABLE_AMBIENT unset) "
                    "while ztunnel and istio-cni run", w, target(w, "productpage"), "AMB-ISTIOD-AMBIENT-OFF"))
    w = world(istiod_ambient="1")
    out.append(control(CAP, "lookalike-istiod-ambient-one", "PILOT_ENABLE_AMBIENT=1 (Go ParseBool true): ambient is on",
                       w, target(w, "productpage"), ruled_out=("AMB-ISTIOD-AMBIENT-OFF",)))

    w = world(cni={"kind-worker": "missing"})
    out.append(fail(CAP, "cni-not-running", "no istio-cni pod on the pod's node: the pod is never enrolled", w,
                    target(w, "productpage"), "AMB-CNI-NOT-RUNNING"))
    w = world(cni={"kind-worker3": "not_ready"})
    out.append(control(CAP, "lookalike-cni-down-other-node", "istio-cni is not Ready on another node than the pod's", w,
                       target(w, "productpage"), ruled_out=("AMB-CNI-NOT-RUNNING",)))

    w = world(platform="gke", resource_quota=False)
    out.append(found(CAP, "gke-quota", "GKE refuses the ztunnel and istio-cni pods: no system-node-critical ResourceQuota "
                     "in istio-system (Istio 1.24)", w, target(w, "productpage"),
                     ("AMB-GKE-QUOTA", "AMB-CNI-NOT-RUNNING", "AMB-ZTUNNEL-UNHEALTHY"), first="AMB-GKE-QUOTA"))
    w = world(platform="gke")
    out.append(control(CAP, "lookalike-gke-with-quota", "GKE with the ResourceQuota for system-node-critical pods", w,
                       target(w, "productpage"), ruled_out=("AMB-GKE-QUOTA",)))

    w = world(platform="k3s", platform_profile=False)
    out.append(fail(CAP, "cni-platform-paths-k3s", "istio-cni installed on k3s without the k3s platform profile "
                    "(default CNI directories)", w, target(w, "productpage"), "AMB-CNI-PLATFORM-PATHS"))
    w = world(cilium={"cni-exclusive": "true", "enable-bpf-masquerade": "false"})
    out.append(fail(CAP, "cni-platform-cilium-exclusive", "Cilium with cni-exclusive removes istio-cni's chained "
                    "configuration", w, target(w, "productpage"), "AMB-CNI-PLATFORM-PATHS"))
    w = world(platform="k3s")
    out.append(control(CAP, "lookalike-k3s-with-profile", "k3s with istio-cni's k3s platform profile", w,
                       target(w, "productpage"), ruled_out=("AMB-CNI-PLATFORM-PATHS",)))

    w = world(_new_pods("default/productpage-v1"), pod_faults={"default/productpage-v1": "no_sandbox"})
    out.append(fail(CAP, "cni-no-ztunnel", "new pod stuck ContainerCreating: istio-cni cannot push it to a ztunnel "
                    "(FailedCreatePodSandBox ... no ztunnel connection)", w, target(w, "productpage"), "AMB-CNI-NO-ZTUNNEL"))
    w = world(_new_pods("default/ratings-v1"), pod_faults={"default/ratings-v1": "no_sandbox"})
    out.append(control(CAP, "lookalike-no-ztunnel-event-other-pod", "the 'no ztunnel connection' sandbox event names "
                       "another pod (ratings), not the one diagnosed", w, target(w, "productpage"),
                       ruled_out=("AMB-CNI-NO-ZTUNNEL",)))

    w = world()
    out.append(fail(CAP, "ns-not-enrolled", "a pod in a namespace without istio.io/dataplane-mode=ambient, in a cluster "
                    "that uses ambient", w, target(w, "sleep", "legacy"), "AMB-NS-NOT-ENROLLED"))
    w = world(workload_label("legacy/sleep", "istio.io/dataplane-mode", "ambient"))
    out.append(control(CAP, "lookalike-pod-label-enrols", "namespace not enrolled, but the pod's own label asks for "
                       "ambient (pod label wins)", w, target(w, "sleep", "legacy"), ruled_out=("AMB-NS-NOT-ENROLLED",)))

    w = world(workload_label("default/productpage-v1", "istio.io/dataplane-mode", "none"))
    out.append(fail(CAP, "pod-optout", "pod labelled istio.io/dataplane-mode=none in an ambient namespace", w,
                    target(w, "productpage"), "AMB-POD-OPTOUT"))
    w = world(workload_label("default/productpage-v1", "sidecar.istio.io/inject", "false"))
    out.append(control(CAP, "lookalike-sidecar-optout-label", "pod labelled sidecar.istio.io/inject=false in an ambient "
                       "namespace: a sidecar opt-out, which leaves ambient alone", w, target(w, "productpage"),
                       ruled_out=("AMB-POD-OPTOUT",)))

    w = world(exclude_namespaces=["default"])
    out.append(fail(CAP, "excluded-ns", "istio-cni excludes namespace default (EXCLUDE_NAMESPACES)", w,
                    target(w, "productpage"), "AMB-EXCLUDED-NS"))
    w = world(exclude_namespaces=["kube-system", "legacy"])
    out.append(control(CAP, "lookalike-excluded-other-ns", "istio-cni excludes other namespaces only", w,
                       target(w, "productpage"), ruled_out=("AMB-EXCLUDED-NS",)))

    w = world(pod_faults={"default/productpage-v1": "stale_pending"}, version="1.26.1")
    out.append(fail(CAP, "redirection-pending", "pod left ambient.istio.io/redirection=pending after ztunnel came back", w,
                    target(w, "productpage"), "AMB-REDIRECTION-PENDING"))
    w = world(ztunnel={"kind-worker": "not_ready"}, version="1.26.1")
    out.append(found(CAP, "redirection-pending-ztunnel-down", "ztunnel not Ready on the node: istio-cni leaves the pod "
                     "pending", w, target(w, "productpage"), ("AMB-ZTUNNEL-UNHEALTHY", "AMB-REDIRECTION-PENDING"),
                     first="AMB-ZTUNNEL-UNHEALTHY"))
    w = world(ztunnel={"kind-worker3": "not_ready"}, version="1.26.1")
    out.append(control(CAP, "lookalike-pending-other-node", "pods are pending on another node (its ztunnel is not Ready); "
                       "the diagnosed pod (details) is enabled and its traffic avoids that node", w, target(w, "details"),
                       ruled_out=("AMB-REDIRECTION-PENDING", "AMB-ZTUNNEL-UNHEALTHY")))

    w = world(cni_ready_ago_s={"kind-worker": 600}, pod_faults={"default/productpage-v1": "reconcile_failed"})
    out.append(fail(CAP, "pod-before-cni", "node rebooted: the pod started before istio-cni was Ready and its in-pod "
                    "rules could not be reconciled", w, target(w, "productpage"), "AMB-POD-BEFORE-CNI"))
    w = world(cni_ready_ago_s={"kind-worker3": 600})
    out.append(control(CAP, "lookalike-cni-restarted-other-node", "istio-cni restarted recently on another node", w,
                       target(w, "productpage"), ruled_out=("AMB-POD-BEFORE-CNI",)))
    return out


SCENARIOS = _scenarios()
