"""Real captured outputs, end to end through the INSTALLED CLI.

``test_e2e_path.py`` proves the live path against outputs the scenario kit renders. Here the
stand-in ``kubectl``/``istioctl`` answer the calls the corpus has real captures for with those
captures (``tests/fixtures/realformats/``, provenance in its ``SOURCES.md``): a 1.6 proxy-status
table with the PILOT column, a 1.7 ``x describe pod``, 0.7/1.0-era access-log lines, real JSON
access-log records, ``istioctl analyze`` text output from 1.3/1.12. Every other call is answered
by the kit's World, and a proxy log is the kit's rendering with the captured lines appended, so
a capture sits in a complete, consistent session.

Each case asserts: no traceback, a schema-valid JSON report, the captured call was really made,
its evidence was parsed (no "could not parse"/"cannot read" anywhere), and the finding the
capture implies, or at least that a capture showing failures is never called healthy.

The second half replays the recordings of ``tests/scenarios/captured.py`` (``provenance:
captured``: real events, ReplicaSet statuses and proxy logs spliced into a world by the
generator) through the installed CLI, and checks that the first finding quotes the capture.

Where a capture names pods of its own cluster, those names are replaced by the World's pod names
of the same length (``_swap``): columns stay aligned, and only the names differ from the capture.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pytest

from istio_doctor.evidence.accesslog import parse_proxy_log
from istio_doctor.evidence.analyze import parse_analyze
from istio_doctor.evidence.describe import parse_describe_pod
from istio_doctor.evidence.proxystatus import parse_proxy_status
from istio_doctor.report.model import report_json_schema
from tests.scenariokit.bookinfo import bookinfo_world
from tests.scenariokit.runner import WorldRunner
from tests.scenariokit.standin import Rule, Standins, install_standins, prewarm
from tests.scenariokit.world import EPOCH, Container, Port, Request, Service, ServicePort, Workload, World, cr

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "realformats"
VENV_BIN = str(Path(sys.executable).parent)
#: inside the kit's log window, before its "now"
LAST_MINUTE = EPOCH - timedelta(seconds=60)
NOT_PARSED = ("could not parse", "cannot read", "cannot parse")


def real(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


def compact_json_records(text: str, *, rebase_to: datetime | None = None) -> str:
    """Pretty-printed JSON records (as a blog shows them) -> one record per line (as Envoy writes
    them, and ``kubectl logs`` prints them); keys, order and values unchanged, except that
    ``rebase_to`` moves the ``start_time`` of the records (keeping their spacing) onto the World's
    clock: a capture from 2026 next to a World of 2024 would otherwise make the tool's reference
    time (the newest log line) expire every certificate of the World."""
    dec = json.JSONDecoder()
    objs, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        obj, i = dec.raw_decode(text, i)
        objs.append(obj)
    if rebase_to is not None:
        times = [datetime.fromisoformat(o["start_time"].replace("Z", "+00:00")) for o in objs]
        shift = rebase_to - max(times)
        for o, t in zip(objs, times):
            o["start_time"] = (t + shift).strftime("%Y-%m-%dT%H:%M:%S.") + f"{(t + shift).microsecond // 1000:03d}Z"
    return "\n".join(json.dumps(o, separators=(",", ":")) for o in objs) + "\n"


def _pod(w: World, workload: str, ns: str = "default") -> str:
    return next(p.name for p in w.pods if p.workload.name == workload and p.namespace == ns)


def _swap(text: str, names: dict[str, str]) -> str:
    for old, new in names.items():
        assert len(old) == len(new), (old, new)  # same width: table columns stay aligned
        text = text.replace(old, new)
    return text


def _world_output(w: World, argv: list[str]) -> str:
    return asyncio.run(WorldRunner(w).run(argv)).stdout


def _proxy_log_argv(pod: str, ns: str) -> list[str]:
    return ["kubectl", "logs", pod, "-n", ns, "-c", "istio-proxy", "--since=1h", "--tail=2000"]


@dataclass
class Case:
    id: str
    world: World
    target: str  # "pod/NAME -n NS"
    #: (rule, the capture's file name) for each call answered by a real capture
    captures: list[tuple[Rule, str]]
    #: the finding that must rank first; None: only "not healthy" (or healthy, see `healthy`)
    first: str | None = None
    healthy: bool = False
    absent: list[str] = field(default_factory=list)
    symptom: str = "auto"
    #: parse check of the capture itself (the parser the gatherer uses for that call)
    parsed: Callable[[], object] | None = None
    #: words the headline must hold (what the report says about failures no check explains)
    says: list[str] = field(default_factory=list)


def _log_with(w: World, pod: str, ns: str, tmp: Path, lines: str, name: str) -> Rule:
    """The kit's istio-proxy log of ``pod`` with real captured lines appended, as a file reply."""
    body = _world_output(w, _proxy_log_argv(pod, ns))
    if not body.endswith("\n"):
        body += "\n"
    path = tmp / f"{name}.log"
    path.write_text(body + lines, encoding="utf-8")
    return Rule(["logs", pod, "istio-proxy"], mode="file", path=str(path), binary="kubectl")


# -- the cases ---------------------------------------------------------------------------------


def case_proxy_status_1_6(tmp: Path) -> Case:
    """istio-25313: the <=1.6 table (PILOT column, ingress RDS NOT SENT) of a healthy 1.6 bookinfo."""
    w = bookinfo_world("1.6.0")
    names = {
        "details-v1-558b8b4b76-h9jbz": _pod(w, "details-v1"),
        "istio-ingressgateway-66c994c45c-brfkd": _pod(w, "istio-ingressgateway", "istio-system"),
        "productpage-v1-6987489c74-wchxv": _pod(w, "productpage-v1"),
        "ratings-v1-7dc98c7588-46hkx": _pod(w, "ratings-v1"),
        "reviews-v1-7f99cc4496-9hwts": _pod(w, "reviews-v1"),
        "reviews-v2-7d79d5bd5d-6xt29": _pod(w, "reviews-v2"),
    }
    text = _swap(real("istio-25313_pilot_column_1.6.txt"), names)
    return Case("proxy-status-1.6-pilot-column", w, f"pod/{_pod(w, 'productpage-v1')} -n default",
                [(Rule(["proxy-status"], stdout=text, binary="istioctl"), "istio-25313_pilot_column_1.6.txt")],
                healthy=True, parsed=lambda: parse_proxy_status(text))


def describe_1_7_world() -> tuple[World, str, str]:
    """istio.io-7862: 1.7 ``x describe pod`` of ratings with a DestinationRule whose other subsets
    match no pod and a one-route VirtualService; traffic works. (No playbook gathers
    ``x describe`` today, so this capture is checked at the parser only: see below.)"""
    def mutate(w: World) -> None:
        w.istio += [
            cr("DestinationRule", "ratings", "default", {"host": "ratings", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
                                                         "subsets": [{"name": n, "labels": {"version": n}}
                                                                     for n in ("v1", "v2", "v2-mysql", "v2-mysql-vm")]}),
            cr("VirtualService", "ratings", "default", {"hosts": ["ratings"], "http": [
                {"route": [{"destination": {"host": "ratings", "subset": "v1"}}]}]}),
        ]
    w = bookinfo_world("1.7.0")
    mutate(w)
    pod = _pod(w, "ratings-v1")
    # the issue quotes the command with its prompt; istioctl prints from "Pod:" on
    text = _swap(real("istioio-7862_describe_pod_ratings_nonmatching_subsets_1.7.txt"), {"ratings-v1-7dc98c7588-8jsbw": pod})
    text = text[text.index("Pod:"):]
    return w, pod, text


def case_legacy_404_nr_egress(tmp: Path) -> Case:
    """istio-5182: 0.7-era short access-log lines: 404 NR for accounts.google.com (egress with no
    ServiceEntry while external traffic is blocked) and an inbound 500 line without an authority."""
    w = bookinfo_world("1.1.3", registry_only=True)
    pod = _pod(w, "productpage-v1")
    lines = real("istio-5182_404_NR_legacy_0.7.log")
    return Case("legacy-0.7-404-nr-egress", w, f"pod/{pod} -n default",
                [(_log_with(w, pod, "default", tmp, lines, "legacy404"), "istio-5182_404_NR_legacy_0.7.log")],
                first="P503-REGISTRY-ONLY", parsed=lambda: parse_proxy_log(lines))


def case_egress_503_uh(tmp: Path) -> Case:
    """istio-10515: a 1.0-era line ``"GET /HTTP/1.1" 503 UH`` for the external host test.xxx.com."""
    w = bookinfo_world("1.1.3")
    w.istio.append(cr("ServiceEntry", "test-xxx", "default", {
        "hosts": ["test.xxx.com"], "location": "MESH_EXTERNAL", "resolution": "DNS",
        "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}]}))
    pod = _pod(w, "productpage-v1")
    lines = real("istio-10515_503_UH_egress_2018.log")
    return Case("egress-1.0-503-uh", w, f"pod/{pod} -n default",
                [(_log_with(w, pod, "default", tmp, lines, "uh"), "istio-10515_503_UH_egress_2018.log")],
                parsed=lambda: parse_proxy_log(lines))


def _mock_server_world(**kw: object) -> World:
    """The ssup2 blog's lab: a shell client calling mock-server:8080 in default (JSON logs)."""
    w = bookinfo_world(access_log_encoding="JSON", **kw)  # type: ignore[arg-type]
    w.workloads += [
        Workload("mock-server", "default", [Container("mock-server", "docker.io/ssup2/mock-go-server:latest", ports=[Port(8080)])],
                 labels={"app": "mock-server"}, service_account="mock-server"),
        Workload("shell", "default", [Container("shell", "docker.io/nicolaka/netshoot:latest")], labels={"app": "shell"},
                 service_account="shell"),
    ]
    w.services.append(Service("mock-server", "default", [ServicePort(8080, "http")], selector={"app": "mock-server"},
                              labels={"app": "mock-server"}))
    return w


def case_json_ut(tmp: Path) -> Case:
    """ssup2 blog: a real JSON record, 504 UT response_timeout after 60 s to mock-server:8080,
    with a VirtualService timeout of 60s."""
    w = _mock_server_world()
    w.istio.append(cr("VirtualService", "mock-server", "default", {"hosts": ["mock-server"], "http": [
        {"timeout": "60s", "route": [{"destination": {"host": "mock-server"}}]}]}))
    w.traffic.append(Request("default/shell", "mock-server:8080", "/delay/10", count=2))
    pod = _pod(w, "shell")
    lines = compact_json_records(real("ssup2-blog_json_UT_response_timeout.txt"), rebase_to=LAST_MINUTE)
    return Case("json-ssup2-504-ut", w, f"pod/{pod} -n default",
                [(_log_with(w, pod, "default", tmp, lines, "ut"), "ssup2-blog_json_UT_response_timeout.txt")],
                first="P503-TIMEOUT", absent=["MTLS-CERT-NOT-READY"], parsed=lambda: parse_proxy_log(lines))


def case_json_uf_uh(tmp: Path) -> Case:
    """ssup2 blog: 503 URX,UF (connect timeout to the only endpoint) and then 503 UH: the client
    sees a server that does not answer; never healthy."""
    w = _mock_server_world()
    pod = _pod(w, "shell")
    lines = compact_json_records(real("ssup2-blog_json_URX_UF_connection_timeout_then_UH.txt"), rebase_to=LAST_MINUTE)
    return Case("json-ssup2-503-uf-then-uh", w, f"pod/{pod} -n default",
                [(_log_with(w, pod, "default", tmp, lines, "ufuh"), "ssup2-blog_json_URX_UF_connection_timeout_then_UH.txt")],
                absent=["MTLS-CERT-NOT-READY"], parsed=lambda: parse_proxy_log(lines))


def case_json_uc_app_reset(tmp: Path) -> Case:
    """ssup2 blog, "Upstream TCP RST before Response Case": mock-server's app answers
    /reset-before-response/1000 by resetting the TCP connection after 1 s; its sidecar logs 503 UC
    upstream_reset_before_response_started{connection_termination} after 1047 ms and the client
    gets the 503. The application reset the request it was working on: not a stale keep-alive
    connection (those fail as the request is written, not a second later), never healthy."""
    w = _mock_server_world()
    pod = _pod(w, "mock-server")
    lines = compact_json_records(real("ssup2-blog_json_UC_connection_termination_server_side.txt"), rebase_to=LAST_MINUTE)
    return Case("json-ssup2-uc-app-reset", w, f"pod/{pod} -n default",
                [(_log_with(w, pod, "default", tmp, lines, "uc"), "ssup2-blog_json_UC_connection_termination_server_side.txt")],
                absent=["P503-KEEPALIVE-UC"], parsed=lambda: parse_proxy_log(lines),
                says=["(inbound)", "the application closed or reset the connection before answering"])


def case_json_503_client_of_app_reset(tmp: Path) -> Case:
    """ssup2 blog, the same request from the client: shell's sidecar logs 503 via_upstream without
    flags ([Text 8]) because mock-server's sidecar answered 503 when its app reset the connection
    ([Text 9], same x-request-id). The failure comes from the server side, where the app dropped
    the request: never healthy, no keep-alive race, and the server's inbound UC is what is shown."""
    w = _mock_server_world()
    shell, server = _pod(w, "shell"), _pod(w, "mock-server")
    client_lines = compact_json_records(real("ssup2-blog_json_503_via_upstream_client_side_of_reset.txt"), rebase_to=LAST_MINUTE)
    server_lines = compact_json_records(real("ssup2-blog_json_UC_connection_termination_server_side.txt"), rebase_to=LAST_MINUTE)
    return Case("json-ssup2-503-client-of-app-reset", w, f"pod/{shell} -n default",
                [(_log_with(w, shell, "default", tmp, client_lines, "client503"), "ssup2-blog_json_503_via_upstream_client_side_of_reset.txt"),
                 (_log_with(w, server, "default", tmp, server_lines, "serveruc"), "ssup2-blog_json_UC_connection_termination_server_side.txt")],
                absent=["P503-KEEPALIVE-UC"], parsed=lambda: parse_proxy_log(client_lines),
                says=["answered by the server's istio-proxy", "503 UC upstream_reset_before_response_started{connection_termination}"])


def case_gateway_json_uaex(tmp: Path) -> Case:
    """istio-19056: an ingress gateway JSON line, 503 UAEX (the external authorization / policy
    check was unavailable): a failure the tool has no dedicated check for; never healthy."""
    w = bookinfo_world(access_log_encoding="JSON")
    gw = _pod(w, "istio-ingressgateway", "istio-system")
    lines = real("istio-19056_ingressgateway_json_503_UAEX.jsonl")
    return Case("gateway-json-503-uaex", w, f"pod/{gw} -n istio-system",
                [(_log_with(w, gw, "istio-system", tmp, lines, "uaex"), "istio-19056_ingressgateway_json_503_UAEX.jsonl")],
                parsed=lambda: parse_proxy_log(lines))


def case_analyze_text_selector(tmp: Path) -> Case:
    """istio-17807: analyze text output (1.3, no resource origin) whose first message is the very
    problem of this world: Gateway bookinfo-gateway selects istio=ingress, which no pod carries."""
    w = bookinfo_world()
    next(o for o in w.istio if o["kind"] == "Gateway")["spec"]["selector"] = {"istio": "ingress"}
    w.traffic.append(Request("istio-system/istio-ingressgateway", "bookinfo.example.com", "/productpage", count=3))
    text = real("istio-17807_ist0101_ist0105_1.3.txt")
    return Case("analyze-text-1.3-selector", w, f"pod/{_pod(w, 'productpage-v1')} -n default",
                [(Rule(["analyze"], stdout=text, exit=0, binary="istioctl"), "istio-17807_ist0101_ist0105_1.3.txt")],
                first="ROUTE-GW-SELECTOR", symptom="routes", parsed=lambda: parse_analyze(text))


def case_analyze_text_exportto(tmp: Path) -> Case:
    """istio-36048: a 1.12 analyze text line (IST0101 false positive for an exportTo-annotated
    Service) in an otherwise healthy mesh: an analyzer message alone is not a broken mesh, and the
    text must parse."""
    w = bookinfo_world()
    text = real("istio-36048_ist0101_exportto_1.12.txt")
    return Case("analyze-text-1.12-ist0101", w, f"pod/{_pod(w, 'productpage-v1')} -n default",
                [(Rule(["analyze"], stdout=text, exit=79, binary="istioctl"), "istio-36048_ist0101_exportto_1.12.txt")],
                healthy=True, parsed=lambda: parse_analyze(text))


CASES: list[Callable[[Path], Case]] = [
    case_proxy_status_1_6, case_legacy_404_nr_egress, case_egress_503_uh, case_json_ut, case_json_uf_uh,
    case_gateway_json_uaex, case_analyze_text_selector, case_analyze_text_exportto, case_json_uc_app_reset,
    case_json_503_client_of_app_reset,
]


# -- the test --------------------------------------------------------------------------------------


def entry_point() -> list[str]:
    script = Path(VENV_BIN) / "istio-doctor"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "istio_doctor"]


def run_cli(standins: Standins, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*entry_point(), *args], env=standins.env(extra_path=[VENV_BIN]), cwd=standins.directory,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("realformats-cache")


def test_fixtures_have_provenance() -> None:
    sources = (FIX / "SOURCES.md").read_text(encoding="utf-8")
    for f in FIX.iterdir():
        if f.name != "SOURCES.md":
            assert f"/{f.name}`" in sources, f"{f.name} has no provenance row in SOURCES.md"


@pytest.mark.parametrize("build", CASES, ids=[c.__name__.removeprefix("case_") for c in CASES])
def test_real_capture_through_installed_cli(tmp_path: Path, cache_dir: Path, build: Callable[[Path], Case]) -> None:
    case = build(tmp_path)
    if case.parsed is not None:
        value = case.parsed()  # the capture itself parses (raises ParseError otherwise)
        entries = getattr(value, "entries", None)
        if entries is not None:
            assert entries, f"{case.id}: no access-log entry parsed from the capture"
    kind_name, _, ns = case.target.partition(" -n ")
    standins = install_standins(case.world, tmp_path / "bin", rules=[r for r, _ in case.captures], cache_dir=cache_dir)
    prewarm(standins, case.target, case.symptom)

    proc = run_cli(standins, "diagnose", kind_name, "-n", ns, "-o", "json", "--symptom", case.symptom)
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(report_json_schema()).validate(report)
    assert proc.returncode == report["exit_code"], (proc.stderr, report["headline"])

    # the captured call was made (the capture was consumed, not bypassed)
    calls = standins.calls()
    for rule, fname in case.captures:
        assert any(rule.applies(c[0], c[1:]) for c in calls), f"{case.id}: no call answered by {fname}"
    # and its evidence was parsed: nothing unchecked for a parse failure, no such text anywhere
    blob = proc.stdout.lower() + proc.stderr.lower()
    for words in NOT_PARSED:
        assert words not in blob, f"{case.id}: {words!r} in the report: {[u['reason'] for u in report['unchecked']]}"
    assert not [u for u in report["unchecked"] if re.search(r"pars|read", u["reason"], re.I)], report["unchecked"]

    codes = [f["code"] for f in report["findings"]]
    ctx = f"{case.id}: headline {report['headline']!r}, findings {codes}, unchecked {[u['reason'] for u in report['unchecked']]}"
    for code in case.absent:
        assert code not in codes, ctx
    # what the report says of failures no check explains: its headline, or the triage results shown
    # beside it (the flags' reading: which side gave up, and why)
    said = [report["headline"], *(o["summary"] for o in report.get("observations", []))]
    for words in case.says:
        assert any(words in s for s in said), ctx
    if case.healthy:
        assert report["verdict"] == "no_problem_found", ctx
        return
    assert report["verdict"] != "no_problem_found", "a capture with failing requests was called healthy: " + ctx
    if case.first is not None:
        assert codes and codes[0] == case.first, ctx


def test_describe_1_7_capture_parses() -> None:
    """The 1.7 ``x describe pod`` text (``Pod Ports`` line, DestinationRule with non-matching subsets,
    ``Traffic Policy TLS Mode``, VirtualService route count) parses into the pod and its ports.
    No check gathers ``x describe`` yet, so the installed CLI never makes this call."""
    _w, pod, text = describe_1_7_world()
    d = parse_describe_pod(text)
    assert d.pod == pod and d.in_mesh
    assert {(p.port, p.container) for p in d.ports} == {(9080, "ratings"), (15090, "istio-proxy")}
    assert not d.not_ready_containers and not d.uid_1337


# -- captured recordings, replayed by the installed CLI -------------------------------------------
#
# tests/scenarios/captured.py splices real outputs into a scenario world and
# tools/build_scenarios.py records the session (``provenance: captured``). Here the installed CLI
# replays each recording, as an SRE replays one attached to an incident: the verdict and the first
# finding must be the ones the expectation works out from the capture, and the first finding must
# quote the captured text (the capture was read and is shown as the proof, not bypassed).


def _captured_scenarios() -> dict[str, object]:
    from tests.scenarios.captured import SCENARIOS

    return {f"{sc.playbook}/{sc.name}": sc for sc in SCENARIOS}


CAPTURED = _captured_scenarios()


def _strings(value: object) -> list[str]:
    """Every string inside a decoded JSON document (a spliced event message sits deep in it)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_every_captured_recording_has_its_scenario() -> None:
    """No ``provenance: captured`` recording without the scenario that says what was spliced."""
    import yaml

    recorded = {f"{p.parent.name}/{p.name.removesuffix('.expect.yaml')}"
                for p in (ROOT / "recordings").glob("*/*.expect.yaml")
                if yaml.safe_load(p.read_text(encoding="utf-8")).get("provenance") == "captured"}
    assert recorded == set(CAPTURED)


@pytest.mark.parametrize("key", sorted(CAPTURED))
def test_captured_recording_through_installed_cli(tmp_path: Path, key: str) -> None:
    import yaml

    from istio_doctor.evidence.recording import load_recording

    sc = CAPTURED[key]
    rec = ROOT / "recordings" / f"{key}.yaml"
    expect = yaml.safe_load(rec.with_name(rec.stem + ".expect.yaml").read_text(encoding="utf-8"))
    assert expect["provenance"] == "captured"
    for c in sc.captures:  # type: ignore[attr-defined]
        assert f"tests/fixtures/corpus/{c.corpus}" in expect["source"], (key, c.corpus)

    # the recording holds the capture where the tool read it
    calls = load_recording(rec).calls
    for c in sc.captures:  # type: ignore[attr-defined]
        answered = [call for call in calls if c.applies(tuple(call.argv))]
        assert answered, f"{key}: no recorded call matches {c.match}"
        texts = [s for call in answered for s in
                 (_strings(json.loads(call.stdout)) if c.how in ("events", "rs_failure") else [call.stdout])]
        assert any(c.proof in s for s in texts), f"{key}: {c.corpus} is not in the recorded answer"

    proc = subprocess.run([*entry_point(), "diagnose", "--replay", str(rec), "-o", "json"], capture_output=True,
                          text=True, timeout=180, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(report_json_schema()).validate(report)
    assert report["mode"] == "replay" and proc.returncode == report["exit_code"]
    codes = [f["code"] for f in report["findings"]]
    ctx = f"{key}: headline {report['headline']!r}, findings {codes}"
    assert report["verdict"] == expect["verdict"], ctx
    if expect["findings_first"]:
        assert codes and codes[0] == expect["findings_first"], ctx
        quoted = " ".join(e["excerpt"] for e in report["findings"][0]["evidence"])
        assert any(c.proof in quoted for c in sc.captures), f"{ctx}: the first finding does not quote the capture"  # type: ignore[attr-defined]
    for code in expect["absent"]:
        assert code not in codes, ctx
