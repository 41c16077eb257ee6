"""The playbook's gates: ``gate.inj-subject`` (there is something to decide on) and
``gate.inj-injected`` (it runs istio-proxy). Gates route the walk and are never findings, so their
outcome line is prose by design (tests/test_prose_as_data.py exempts modules named ``gates.py``).
"""

from __future__ import annotations

from istio_doctor.engine.checks.injection._findings import _pod_meta_ref, situation_check
from istio_doctor.engine.context import CheckContext
from istio_doctor.engine.mesh.injection import _NO_SUBJECT, Situation, subject_of
from istio_doctor.engine.model import CheckResult
from istio_doctor.engine.registry import NoParams, check
from istio_doctor.evidence.bundle import Need


@check("gate.inj-subject", needs=(Need.POD,), optional=(Need.DEPLOYMENTS, Need.SERVICES))
def inj_subject(ctx: CheckContext, _: NoParams) -> CheckResult:
    """There is a pod, or a Deployment pod template, whose injection can be decided."""
    subj = subject_of(ctx)
    if subj is None:
        return CheckResult.not_applicable(_NO_SUBJECT)
    return CheckResult.passed(f"examining {subj.desc}")


@situation_check("gate.inj-injected")
def inj_injected(ctx: CheckContext, s: Situation) -> CheckResult:
    """The pod runs a real istio-proxy (or, with no pod, its template would be injected)."""
    ev = [_pod_meta_ref(ctx, s)]
    if s.injected:
        kind = "native sidecar" if s.subject.pod.is_native_sidecar else "sidecar container"
        what = f"runs istio-proxy as a {kind}" if s.subject.live else "would be injected by " + ", ".join(h.label for h in s.decision.hooks)
        return CheckResult.passed(f"{s.subject.desc} {what}", evidence=ev)
    return CheckResult.failed(f"{s.subject.desc} has no istio-proxy ({s.decision.detail})", evidence=ev)
