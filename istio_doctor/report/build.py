"""Build the Report from a finished diagnosis (walked playbooks, ranked findings, calls)."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from typing import Any

from istio_doctor import __version__
from istio_doctor.engine.lifecycle import PodTimeline, pod_timeline, with_local_clock
from istio_doctor.engine.plan import Examined, control_plane_version
from istio_doctor.engine.model import Outcome, Severity
from istio_doctor.engine.walker import PlaybookRun
from istio_doctor.evidence.bundle import Evidence, FailureKind, Need
from istio_doctor.evidence.gather import RootFailure, root_failure
from istio_doctor.evidence.preflight import Preflight
from istio_doctor.evidence.target import Connection, Target, TargetKind
from istio_doctor.exitcodes import ExitCode
from istio_doctor.report.fixes import with_served_api_versions, with_session_fix
from istio_doctor.report.model import (
    CallRecord,
    Gap,
    NodeReport,
    PlaybookReport,
    Report,
    RequestTrace,
    Unchecked,
    Verdict,
    Versions,
    WorkloadSummary,
)


def versions_of(ev: Evidence) -> Versions:
    out = Versions()
    kv = ev.get_or(None, Need.KUBECTL_VERSION)
    if kv is not None:
        out.kubectl_client = kv.client.git_version if kv.client else None
        out.kubernetes_server = kv.server.git_version if kv.server else None
    iv = ev.get_or(None, Need.ISTIOCTL_VERSION)
    if iv is not None:
        out.istioctl = _s(getattr(iv, "client", None))
        out.control_plane = sorted({f"{c.component} ({c.revision}): {_s(c.version) or 'unknown'}" for c in iv.control_plane})
        counts: dict[str, int] = {}
        for p in iv.data_plane:
            k = _s(p.version) or "unknown"
            counts[k] = counts.get(k, 0) + p.count
        out.data_plane = [f"{v} ({n} proxies)" for v, n in sorted(counts.items())]
    return out


def _s(v: Any) -> str | None:
    return None if v is None else str(v)


def build_report(
    *,
    ev: Evidence,
    target: Target,
    conn: Connection,
    symptom: str,
    runs: list[PlaybookRun],
    findings: list[Any],
    results: list[Any],
    call_errors: list[tuple[tuple[str, ...], str]],
    replaying: bool,
    provenance: str = "",
    recording: str | None,
    examined: list[Examined],
    notes: list[str],
    interrupted: bool = False,
    missing_target: str | None = None,
    evidence_time: datetime | None = None,
    preflight: Preflight | None = None,
) -> Report:
    # Informational triage results (which flags were seen, which proxy logged them) explain the
    # symptom; they are not problems of their own: never counted, ranked or marked as findings.
    observations = [f for f in findings if f.severity is Severity.INFO]
    findings = [f for f in findings if f.severity is not Severity.INFO]
    for i, f in enumerate(findings, 1):
        f.rank = i
    for f in observations:
        f.rank = 0
    # Fixes carry the session's --context/--kubeconfig: pasted in another shell they must act
    # on the cluster that was diagnosed (report/fixes.py).
    # Their manifests use the Istio API version the diagnosed control plane serves.
    cp_version = control_plane_version(ev)
    for f in findings:
        f.fix = with_served_api_versions(with_session_fix(f.fix, conn), cp_version)
    observed_codes = {(f.code, f.target) for f in observations}
    node_reports: list[PlaybookReport] = []
    unknown_by_key: dict[str, list[str]] = {}
    any_unknown = False
    for run in runs:
        nodes = []
        for n in run.nodes:
            if n.result.outcome is Outcome.UNKNOWN:
                any_unknown = True
                for k in n.missing:
                    unknown_by_key.setdefault(k, []).append(n.check)
            informational = n.finding is not None and (n.finding.code, n.finding.target) in observed_codes
            shown = _reported_as(n.finding, findings) if n.finding is not None and not informational else None
            nodes.append(NodeReport(
                id=n.node_id, check=n.check, title=n.title, outcome=n.result.outcome,
                summary=n.result.summary, reason=n.result.reason, evidence=n.result.evidence,
                finding=shown.code if shown is not None else None,
                observation=n.finding.code if n.finding and informational else None, next=n.next,
            ))
        node_reports.append(PlaybookReport(id=run.playbook.id, title=run.playbook.title, target=run.target, nodes=nodes))

    traces = report_traces(ev, target, examined)
    failing = failing_requests(ev, target, examined)
    unchecked = []
    roots: dict[str, tuple[RootFailure, Gap]] = {}
    for item in ev.failures():
        f = item.failure
        assert f is not None
        if f.kind is FailureKind.NOT_APPLICABLE:
            continue
        affects = sorted(set(unknown_by_key.get(str(item.key), [])))
        unchecked.append(Unchecked(
            evidence=str(item.key), kind=f.kind.value, reason=f.reason, command=f.command_line, affects=affects,
        ))
        root = root_failure(f)
        if root.key not in roots:
            roots[root.key] = (root, Gap(kind=root.kind.value, cause=root.cause, advice=root.advice))
        gap = roots[root.key][1]
        gap.evidence.append(str(item.key))
        if f.command_line and f.command_line not in gap.commands:
            gap.commands.append(f.command_line)
        gap.blocked = sorted(set(gap.blocked) | set(affects))
    # most basic first; among equals, the one that blocked the most checks
    gaps = [g for _, g in sorted(roots.values(), key=lambda rg: (rg[0].rank, -len(rg[1].blocked), rg[0].key))]
    # Evidence a check needed that never arrived, with no failure of its own: the gathering
    # was interrupted (Ctrl-C) or stopped. One root too, so no check is left without its reason.
    gathered = {str(i.key) for i in ev.items()}
    never = sorted(k for k in unknown_by_key if k not in gathered)
    if never:
        blocked = sorted({c for k in never for c in unknown_by_key[k]})
        gap = Gap(kind="interrupted" if interrupted else "not_gathered",
                  cause="interrupted (Ctrl-C) before this evidence arrived" if interrupted else "this evidence was not gathered",
                  advice="Run the diagnosis again and let it finish" if interrupted else "",
                  evidence=never, blocked=blocked)
        gaps = [gap, *gaps] if interrupted else [*gaps, gap]

    calls = [
        CallRecord(command=r.command_line, argv=list(r.argv), exit_code=r.exit_code, duration_s=round(r.duration_s, 4), replayed=r.replayed)
        for r in results
    ] + [CallRecord(command=shlex.join(a), argv=list(a), exit_code=None, error=msg) for a, msg in call_errors]

    stop = preflight.failure if preflight is not None else None
    if stop is not None:
        # The preflight stopped the run: one sentence, the cause and the next step.
        code = ExitCode.USAGE if stop.usage else ExitCode.EVIDENCE_INCOMPLETE
        verdict, headline = Verdict.INCONCLUSIVE, f"Cannot diagnose: {stop.sentence}"
        unchecked = [Unchecked(evidence=f"preflight: {stop.check}", kind=stop.kind, reason=stop.sentence, command=stop.command)]
        gaps = [Gap(kind=stop.kind, cause=stop.sentence, commands=[stop.command] if stop.command else [])]
    elif missing_target is not None and not findings:
        # The thing asked about does not exist: a bad argument, not a diagnosis.
        verdict, code = Verdict.INCONCLUSIVE, ExitCode.USAGE
        headline = f"Nothing to diagnose: {missing_target}. Check the name and the namespace (-n)."
    elif findings:
        verdict, code = Verdict.PROBLEMS_FOUND, ExitCode.PROBLEMS_FOUND
        top = findings[0]
        headline = f"Most likely root cause: [{top.code}] {top.title} — {top.summary}"
    elif observations or failing:
        # Requests fail (the triage observations describe them) and no check explains why: say
        # so, with the traces and the evidence that could not be gathered, instead of promoting
        # a description of the symptom to a cause.
        verdict, code = Verdict.CAUSE_NOT_DETERMINED, ExitCode.CAUSE_NOT_DETERMINED
        headline = _undetermined_headline(failing, traces, observations, gaps)
    elif any_unknown or interrupted or not runs or unchecked:
        # Evidence that failed is a gap even when every check still passed (a check may have
        # read the same object from elsewhere): exit 0 promises all evidence was gathered.
        verdict, code = Verdict.INCONCLUSIVE, ExitCode.EVIDENCE_INCOMPLETE
        n_unknown = sum(1 for r in runs for n in r.nodes if n.result.outcome is Outcome.UNKNOWN)
        gap = f"{n_unknown} check(s) could not run" if n_unknown else "not all evidence could be gathered"
        # the most basic failure, not the first call that failed
        first = _gap_sentence(gaps[0]) if gaps else (unchecked[0].reason if unchecked else "some checks could not run")
        headline = f"Inconclusive: no problem found in the evidence that could be gathered, but {gap}. {first}"
    elif target.kind is TargetKind.NAMESPACE and not ev.has(Need.NAMESPACE_PROXY_LOGS, target.namespace):
        # Without the namespace-wide proxy logs a scan cannot see failing traffic, so pods that
        # look fine were never examined in depth: that is not a clean bill of health.
        item = ev.item(Need.NAMESPACE_PROXY_LOGS, target.namespace)
        why = item.failure.reason if item is not None and item.failure is not None else "they were not gathered"
        verdict, code = Verdict.INCONCLUSIVE, ExitCode.EVIDENCE_INCOMPLETE
        headline = (f"Inconclusive: no problem found in the namespace-wide evidence of {target}, but the proxies' logs "
                    f"could not be read, so failing traffic would not show: {why}")
    else:
        checks = sum(1 for r in runs for n in r.nodes if n.result.outcome is Outcome.PASS)
        verdict, code = Verdict.NO_PROBLEM_FOUND, ExitCode.OK
        headline = f"No problem found for {target}: {checks} check(s) passed and all evidence was gathered."
        if target.kind is TargetKind.NAMESPACE:
            deep = sum(1 for e in examined if e.pod and e.pod_evidence_gathered)
            total = len(ev.get_or([], Need.PODS, target.namespace))
            headline = (f"No problem found for {target}: no pod shows failing traffic, unready containers or stale "
                        f"configuration; {deep} of {total} pod(s) were examined in depth, {checks} check(s) passed.")
    if interrupted:
        code = ExitCode.INTERRUPTED
        headline = "Interrupted: partial diagnosis from the evidence gathered so far. " + headline

    workloads: list[WorkloadSummary] = []
    if target.kind is TargetKind.NAMESPACE:
        workloads = _workloads(ev, target.namespace, examined, findings)
    generated_at = datetime.now(UTC).replace(microsecond=0)

    return Report(
        tool_version=__version__,
        generated_at=generated_at,
        mode="replay" if replaying else "live",
        recording=recording,
        recording_provenance=provenance if replaying else "",
        target=str(target),
        context=conn.context,
        kubeconfig=conn.kubeconfig,
        symptom=symptom,
        playbooks_run=list(dict.fromkeys(r.playbook.id for r in runs)),
        versions=versions_of(ev),
        verdict=verdict,
        headline=headline,
        exit_code=int(code),
        findings=findings,
        playbooks=node_reports,
        unchecked=unchecked,
        gaps=gaps,
        observations=observations,
        preflight=preflight.checks if preflight is not None else [],
        server=preflight.server if preflight is not None else None,
        workloads=workloads,
        traces=traces,
        calls=calls,
        notes=notes,
        timelines=_timelines(ev, target.namespace, examined, findings, evidence_time if replaying else generated_at),
    )


def _reported_as(finding: Any, findings: list[Any]) -> Any | None:
    """The reported finding a node's finding became: itself, or the catalogue finding a request
    trace was folded into (ranking adds the trace's evidence to it, see engine/rank.py)."""
    for f in findings:
        if f.code == finding.code and f.target == finding.target:
            return f
    keys = {(e.source, e.excerpt) for e in finding.evidence}
    return next((f for f in findings if keys and keys <= {(e.source, e.excerpt) for e in f.evidence}), None)


def _pods(target: Target, examined: list[Examined]) -> list[tuple[str, str, list[Any]]]:
    return [(target.namespace, e.pod, e.related) for e in examined if e.pod and e.pod_evidence_gathered]


def report_traces(ev: Evidence, target: Target, examined: list[Examined]) -> list[RequestTrace]:
    """The examined pods' failing request shapes, traced (the TRACE checks computed the same)."""
    from istio_doctor.engine.trace.failures import memo_traces
    from istio_doctor.engine.trace.model import probe_line

    out: list[RequestTrace] = []
    for ns, pod, related in _pods(target, examined):
        for st in memo_traces(ev, ns, pod, related):
            probe = st.shape.probe
            out.append(RequestTrace(proxy=f"{ns}/{pod}", side=st.shape.side, requests=len(st.shape.entries),
                                    origin="probe" if probe else "logged",
                                    probe=probe_line(st.shape.request, probe.reason) if probe else None,
                                    about=probe.about if probe else None,
                                    logged=st.shape.logged, relation=st.relation,
                                    notes=st.notes + ([f"continued on the server's proxy {st.server}"] if st.server else []),
                                    log_lines=[e.raw for e in st.shape.entries[:3]], trace=st.trace))
    return out


def failing_requests(ev: Evidence, target: Target, examined: list[Examined]) -> list[Any]:
    """Failing access-log entries of the examined pods (Envoy-flagged or 5xx)."""
    from istio_doctor.evidence.accesslog import is_failure

    out: list[Any] = []
    for ns, pod, _related in _pods(target, examined):
        log = ev.get_or(None, Need.PROXY_LOGS, ns, pod)
        if log is not None:
            out += [e for e in log.entries if is_failure(e) and (e.is_envoy_generated or e.response_code >= 500)]
    return out


def _undetermined_headline(failing: list[Any], traces: list[RequestTrace], observations: list[Any], gaps: list[Gap]) -> str:
    # evidence that could not be gathered may hold the cause: say so (see 'Could not check')
    missing = f" {len(gaps)} kind(s) of evidence could not be gathered, see 'Could not check'." if gaps else ""
    if not failing:
        seen = next((o for o in observations if o.code == "GEN-FLAG-CLASSIFY"), observations[0] if observations else None)
        what = f": {seen.summary.rstrip('.')}" if seen is not None else ""
        return f"Cause not determined for the failing requests{what}. No check explains them.{missing}"
    e = failing[0]
    what = f"{e.response_code} {','.join(e.response_flags) or '-'} {e.response_code_details or ''}".strip()
    if all(x.app_responded for x in failing) and all(t.trace.verdict == "delivered" for t in traces):
        return (f"Cause not determined in the mesh: {len(failing)} request(s) failed ({what}) with the response of the "
                f"upstream itself; the configuration delivers them (see the request traces): read the application's logs.")
    line = f"Cause not determined: {len(failing)} failing request(s) (e.g. {what}) and no check explains them."
    if traces:
        t = traces[0]
        unseen = "; ".join(t.trace.unknowns[:2])
        line += f" Traced through {t.proxy}: {t.trace.verdict}" + (f"; could not see: {unseen}" if unseen else "") + "."
    return line + missing


def _timelines(ev: Evidence, namespace: str, examined: list[Examined], findings: list[Any],
               now: datetime | None) -> list[PodTimeline]:
    """Each examined pod's timeline, the moments the findings decided on marked with their codes.
    ``now`` is when the evidence was gathered on this machine's clock (a replay: when it was recorded)."""
    out = []
    for ex in examined:
        if not ex.pod or not ex.pod_evidence_gathered:
            continue
        tl = pod_timeline(ev, namespace, ex.pod)
        if tl is None:
            continue
        tl = with_local_clock(tl, now).model_copy(deep=True)
        for f in findings:
            # a finding's target is a Target; the timeline's is its label ("pod/NAME -n NS")
            t = f.target
            if t is None or t.kind is not TargetKind.POD or (t.namespace, t.name) != (tl.namespace, tl.pod):
                continue
            for m in tl.moments:
                if m.id in f.moments and f.code not in m.deciding:
                    m.deciding.append(f.code)
        out.append(tl)
    return out


def _gap_sentence(gap: Gap) -> str:
    cause = gap.cause[0].upper() + gap.cause[1:] if gap.cause else gap.kind
    blocked = f" ({len(gap.blocked)} check(s) blocked)" if gap.blocked else ""
    advice = f" {gap.advice.rstrip('.')}." if gap.advice else ""
    return f"{cause.rstrip('.')}{blocked}.{advice}"


_SEV_ORDER = {s.value: i for i, s in enumerate(Severity)}


def _workloads(ev: Evidence, namespace: str, examined: list[Examined], findings: list[Any]) -> list[WorkloadSummary]:
    pods = ev.get_or([], Need.PODS, namespace)
    flagged = {e.pod for e in examined if e.pod_evidence_gathered}
    groups: dict[str, list[Any]] = {}
    for p in pods:
        groups.setdefault(p.owner_workload.name if p.owner_workload else p.metadata.name, []).append(p)
    out = []
    for wl, ps in sorted(groups.items()):
        names = [p.metadata.name for p in ps]
        fs = [f for f in findings if f.target is not None and f.target.kind is TargetKind.POD
              and f.target.namespace == namespace and f.target.name in names]
        codes = sorted({f.code for f in fs})
        worst = min((f.severity.value for f in fs), key=lambda s: _SEV_ORDER[s], default="")
        ready = sum(1 for p in ps if getattr(p, "ready", False))
        out.append(WorkloadSummary(
            workload=wl, pods=names, in_mesh=all(p.has_sidecar for p in ps),
            ready=f"{ready}/{len(ps)}", flagged=any(n in flagged for n in names), findings=codes, worst=worst,
        ))
    return out
