"""Every recording, replayed: the request traces agree with the catalogue findings.

* A scenario whose root cause is a routing, protocol, passthrough or mTLS-chain failure (its
  first finding's catalogue entry ``explains`` a TRACE stage) must also be explained by a trace:
  some failing request of the examined proxy breaks at one of those stages, and the finding
  carries that trace as evidence (the TRACE finding was folded into it).
* No triage/info finding ranks first in any recording; an info finding never has a rank.
* Where a trace breaks, its prediction (Envoy's response details) matches the access log it was
  built from, unless the break is on the server side of a client's line.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from istio_doctor.engine.catalogue import load_catalogue
from istio_doctor.engine.model import Severity
from istio_doctor.engine.trace.model import Stage
from istio_doctor.evidence.recording import load_recording
from istio_doctor.evidence.runner import ReplayRunner
from istio_doctor.evidence.target import Connection, Target
from istio_doctor.run import run_diagnosis
from istio_doctor.engine.checks.trace import STAGE_CHECKS

ROOT = Path(__file__).resolve().parent.parent / "recordings"
EXPECTS = sorted(ROOT.glob("*/*.expect.yaml"))

#: scenarios whose first finding explains a TRACE stage but whose trace cannot be made from the
#: examined pod, with the reason (the examined proxy never sees the failing request)
NO_TRACE_POSSIBLE = {
    "mtls/nonmesh-client-client-side": "the examined client has no sidecar: there is no Envoy (and no proxy log) to trace",
    "mtls/double-tls": "the failure is past Envoy: the external server receives TLS inside TLS; the app's own TLS is in "
                       "no configuration, and no trace stage models the remote server's handshake",
    "mtls/https-on-http-port": "the app sends TLS to a port the ServiceEntry declares HTTP: what the app sends is in no "
                               "configuration, so a probe (built from it) speaks HTTP and is delivered; nothing was logged",
    "mtls/server-first-mysql-undeclared": "the probe (TCP over Istio mTLS to 3306) is delivered: the hang is a server-first "
                                          "client waiting for a greeting that never comes, a wait no trace stage models",
    "p503/server-first-sniffed": "the probe (TCP over Istio mTLS to the undeclared 3307) is delivered: a server-first client "
                                 "sends nothing for protocol sniffing to detect, a wait no trace stage models",
    "p503/protocol-mismatch": "the trace delivers the request: the app speaks another protocol than the port declares, "
                              "which no configuration shows (the server logs 502 UPE protocol_error)",
    "p503/no-service": "no Service selects the pod: there is no request a mesh client could send to it, nothing to probe",
    "p503/localhost-bind-exec-forbidden": "the app's socket table could not be read (exec forbidden): delivery stays unknown",
    "redteam-composites/rbac-no-logs-dr-disable": "the proxy log could not be read (forbidden): the probe to ratings leaves this "
                                                  "client in plaintext as the DestinationRule says, and the server's dump that "
                                                  "would refuse it was not gathered (no logged failure names the server)",
    "redteam-routes-injection/httproute-not-allowed-by-shared-gateway": "the examined pod is the backend: the HTTPRoute that is "
                                                                        "not accepted configures a gateway whose dump was not "
                                                                        "gathered, and the backend's own probes are delivered",
    "routes/gateway-port-not-on-service": "the Gateway's port is on no Service port: no client can send a request to it, "
                                          "so there is nothing to probe and nothing reaches the gateway",
    "routes/gateway-selector-typo": "the examined pod is the backend: the Gateway selects no gateway pod, so no gathered "
                                    "configuration holds it, and the backend's own probes are delivered",
    "routes/httproute-not-accepted": "the examined pod is the backend: the HTTPRoute that is not accepted configures a gateway "
                                     "whose dump was not gathered, and the backend's own probes are delivered",
    "routes/xds-rds-stale": "RDS is STALE: the dump holds the routes the proxy acknowledged; the routes istiod sent and the "
                            "proxy never took are in no dump, so no trace of it can show the difference",
    "routes/captured-analyze-ist0101-httpbin-1-4": "the capture is istioctl analyze's IST0101 (istio/istio#17440): the "
                                                   "examined proxy's access log has no failing request to trace",
}


def _id(p: Path) -> str:
    return f"{p.parent.name}/{p.name.removesuffix('.expect.yaml')}"


@lru_cache(maxsize=None)
def _report(expect_path: Path):  # noqa: ANN202 - a Report
    expect = yaml.safe_load(expect_path.read_text())
    rec_path = expect_path.with_name(expect_path.name.removesuffix(".expect.yaml") + ".yaml")
    name, _, ns = expect["target"].partition(" -n ")
    target = Target.parse(name.strip(), ns.strip() or None)
    runner = ReplayRunner(load_recording(rec_path), strict=True, source_name=str(rec_path))
    return asyncio.run(run_diagnosis(target, runner, Connection(), symptom=expect.get("symptom", "auto"))).report


@pytest.mark.parametrize("expect_path", EXPECTS, ids=_id)
def test_no_info_finding_ranks_first(expect_path: Path) -> None:
    report = _report(expect_path)
    # informational triage results are reported apart (observations), never ranked
    assert all(f.severity is not Severity.INFO for f in report.findings), [f.code for f in report.findings]
    assert all(o.severity is Severity.INFO and o.rank == 0 for o in report.observations)
    assert [f.rank for f in report.findings] == list(range(1, len(report.findings) + 1))
    if report.findings:
        assert report.top is report.findings[0], "the first finding listed is the most likely root cause"
    elif report.observations:
        assert report.verdict.value == "cause_not_determined", "only context results: the cause is not determined"


def _trace_codes(code: str) -> list[str]:
    entry = load_catalogue().get(code)
    return [c for c in (entry.explains if entry else []) if c.startswith("TRACE-")]


TRACEABLE = [p for p in EXPECTS
             if (first := yaml.safe_load(p.read_text()).get("findings_first")) and _trace_codes(first)]


def test_traceable_scenarios_exist() -> None:
    assert len(TRACEABLE) >= 30


@pytest.mark.parametrize("expect_path", TRACEABLE, ids=_id)
def test_trace_agrees_with_the_catalogue_finding(expect_path: Path) -> None:
    """The root cause's catalogue entry names the TRACE stage(s) it causes; a failing request of the
    examined proxy must break at one of them, and the finding must carry that trace."""
    sid = _id(expect_path)
    report = _report(expect_path)
    first = report.findings[0]
    stages = {s.value for code in _trace_codes(first.code) for s in STAGE_CHECKS[code]}
    broken = [rt for rt in report.traces if rt.trace.verdict in stages]
    if sid in NO_TRACE_POSSIBLE:
        # A listed exception must stay honest: if a trace now explains it, take it off the list.
        assert not broken, f"{sid} is now explained by its trace: remove it from NO_TRACE_POSSIBLE"
        return
    assert broken, (f"{sid}: {first.code} explains {sorted(stages)} but no failing request breaks there: "
                    f"{[(rt.logged, rt.trace.verdict) for rt in report.traces]}")
    assert any("request trace" in e.note for e in first.evidence), f"{sid}: the trace is not in {first.code}'s evidence"


def test_breaking_traces_agree_with_their_log_line() -> None:
    """On the proxy that logged the failure, the break a trace predicts is the one Envoy logged."""
    checked = 0
    for p in EXPECTS:
        for rt in _report(p).traces:
            hop = rt.trace.breaking_hop
            if hop is None or not rt.trace.broken:
                continue
            if rt.side in ("client", "gateway") and hop.proxy != rt.trace.hops[0].proxy:
                continue  # broke on the server: the client's line shows only the symptom
            if rt.origin == "probe":
                continue  # synthesised: no log line to agree with (tests/test_trace_probes.py)
            checked += 1
            assert rt.relation == "agrees", f"{_id(p)}: {rt.proxy} logged {rt.logged} but the trace breaks at {hop.stage.value} ({rt.trace.details})"
    assert checked >= 20


def test_every_stage_check_has_a_scenario_or_rule_test() -> None:
    """Stages that a recording breaks at; the others are covered by tests/test_trace_rules.py."""
    seen = {rt.trace.verdict for p in EXPECTS for rt in _report(p).traces}
    assert {Stage.FILTER_CHAIN.value, Stage.ROUTE.value, Stage.CLUSTER.value, Stage.ENDPOINTS.value,
            Stage.DELIVERY.value, Stage.FAULT.value, Stage.HTTP_RBAC.value, Stage.ROUTE_ACTION.value} <= seen
