"""Workload controllers (``Deployment``, ``ReplicaSet``) and ``pod_template_of``: the pod a workload
or any manifest would create, so a workload that never got a pod is still diagnosable.
"""

from __future__ import annotations

from typing import Any, ClassVar

from istio_doctor.evidence.kube.meta import Condition, K8sObject, KubeModel, LabelSelector, ObjectMeta, find_condition
from istio_doctor.evidence.kube.pod import Pod, PodSpec

# --------------------------------------------------------------------------------------
# Workloads, ConfigMaps, CRDs
# --------------------------------------------------------------------------------------


class PodTemplateSpec(KubeModel):
    metadata: ObjectMeta = ObjectMeta()
    spec: PodSpec = PodSpec()


class WorkloadSpec(KubeModel):
    replicas: int | None = None
    selector: LabelSelector = LabelSelector()
    template: PodTemplateSpec = PodTemplateSpec()


class WorkloadStatus(KubeModel):
    replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0
    unavailable_replicas: int = 0
    observed_generation: int | None = None
    conditions: list[Condition] = []


class _Workload(K8sObject):
    spec: WorkloadSpec = WorkloadSpec()
    status: WorkloadStatus = WorkloadStatus()

    @property
    def desired_replicas(self) -> int:
        # Kubernetes defaults spec.replicas to 1.
        return 1 if self.spec.replicas is None else self.spec.replicas

    def condition(self, type_: str) -> Condition | None:
        return find_condition(self.status.conditions, type_)

    @property
    def replica_failure(self) -> Condition | None:
        """``ReplicaFailure=True``: the controller cannot create pods (e.g. webhook denied)."""
        c = self.condition("ReplicaFailure")
        return c if c is not None and c.is_true else None

    def template_pod(self) -> Pod:
        """The pod this workload would create (name empty; namespace of the workload)."""
        meta = self.spec.template.metadata.model_copy(update={"namespace": self.namespace})
        return Pod(api_version="v1", kind="Pod", metadata=meta, spec=self.spec.template.spec)


class Deployment(_Workload):
    KIND: ClassVar[str | None] = "Deployment"


class ReplicaSet(_Workload):
    KIND: ClassVar[str | None] = "ReplicaSet"


def pod_template_of(obj: K8sObject | dict[str, Any]) -> Pod | None:
    """The pod a manifest describes: a Pod itself, or the pod template of any workload
    (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob). ``None`` for other kinds."""
    raw = obj.model_dump(by_alias=True, exclude_none=True) if isinstance(obj, K8sObject) else obj
    kind = raw.get("kind")
    ns = (raw.get("metadata") or {}).get("namespace")
    if kind == "Pod":
        return Pod.model_validate(raw)
    spec = raw.get("spec") or {}
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template")
    if not isinstance(template, dict):
        return None
    meta = dict(template.get("metadata") or {})
    if ns and "namespace" not in meta:
        meta["namespace"] = ns
    return Pod.model_validate({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}})
