"""`istioctl analyze` parsing across formats and versions (real log output + constructed JSON/YAML)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from istio_doctor.evidence.analyze import catalogue, find_messages, message_info, messages_from_status, parse_analyze, parse_origin
from istio_doctor.evidence.errors import ParseError

FIX = Path(__file__).parent / "fixtures" / "analyze"
OUTPUTS = sorted(p for d in ("istio-io", "captured", "constructed") for p in (FIX / d).iterdir())

# Expected (code, level, origin_ref) per real/constructed output file.
EXPECTED: dict[str, list[tuple[str, str, str]]] = {
    "analyze_bookinfo_destrule_v1.9.txt": [("IST0101", "Error", "VirtualService default/bookinfo")],
    "analyze_namespace_not_injected.txt": [("IST0102", "Info", "Namespace default")],
    "analyze_namespace_not_injected_v1.4.txt": [("IST0102", "Warning", "Namespace default")],
    "analyze_no_issues_namespace.txt": [],
    "istio-17440_x_analyze_file_ist0101_1.4.txt": [("IST0101", "Error", "VirtualService default/httpbin")],
    "istio-17807_ist0101_ist0105_1.3.txt": [
        ("IST0101", "Error", ""),
        ("IST0105", "Warning", "Pod default/shell-64d5954ccc-nl5nx"),
        ("IST0101", "Error", ""),
        ("IST0101", "Error", ""),
    ],
    "istio-26222_ist0101_vs_dotted_ns_1.6.txt": [("IST0101", "Error", "VirtualService bar-ns/foo")],
    "istio-27390_info_ist0118_port_name.txt": [("IST0118", "Info", "Service cert-manager/cert-manager")],
    "istio-27390_warn_ist0102_many_ns_1.7.txt": [("IST0102", "Warning", "Namespace bookinfo"), ("IST0102", "Warning", "Namespace cert-manager")],
    "istio-36048_ist0101_exportto_1.12.txt": [("IST0101", "Error", "VirtualService elastic-heartbeat/elastic-heartbeat-admin")],
    "istio-36402_analyze_all_namespaces_clean.txt": [],
    "analyze_bookinfo.json": [("IST0101", "Error", "VirtualService default/bookinfo"), ("IST0102", "Info", "Namespace default")],
    "analyze_bookinfo.yaml": [("IST0101", "Error", "VirtualService default/bookinfo"), ("IST0173", "Error", "DestinationRule default/reviews")],
    "analyze_empty.json": [],
    "analyze_tty_multicluster.txt": [("IST0101", "Error", "VirtualService default/bookinfo"), ("IST0158", "Warning", "Namespace default")],
}


@pytest.mark.parametrize("path", OUTPUTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_analyze_fixture(path: Path) -> None:
    msgs = parse_analyze(path.read_text(), command="istioctl analyze")
    assert [(m.code, m.level, m.origin_ref) for m in msgs] == EXPECTED[path.name]
    for m in msgs:
        assert m.name, f"{m.code} missing from the catalogue"
        assert m.message and "\x1b" not in m.message


def test_every_output_fixture_has_expectations() -> None:
    assert {p.name for p in OUTPUTS} == set(EXPECTED)


def test_references_clusters_and_urls() -> None:
    (m,) = parse_analyze((FIX / "istio-io/analyze_bookinfo_destrule_v1.9.txt").read_text())
    assert m.reference == "samples/bookinfo/networking/bookinfo-gateway.yaml:39"
    assert m.message == 'Referenced host not found: "productpage"'
    tty = parse_analyze((FIX / "constructed/analyze_tty_multicluster.txt").read_text())
    assert tty[0].reference == "bookinfo-gateway.yaml:41" and tty[0].cluster is None and tty[1].cluster == "cluster-2"
    js = parse_analyze((FIX / "constructed/analyze_bookinfo.json").read_text())
    assert js[0].documentation_url == "https://istio.io/v1.22/docs/reference/config/analysis/ist0101/"
    ym = parse_analyze((FIX / "constructed/analyze_bookinfo.yaml").read_text())
    assert ym[1].cluster == "cluster-1" and ym[1].name == "DestinationRuleSubsetNotSelectPods"


def test_message_with_parentheses_in_text_keeps_origin() -> None:
    (m,) = parse_analyze((FIX / "captured/istio-27390_info_ist0118_port_name.txt").read_text())
    assert m.origin == "Service cert-manager.cert-manager"
    assert m.message.startswith("Port name  (port: 9402")


def test_addressable_by_code_and_name_including_retired() -> None:
    msgs = parse_analyze((FIX / "captured/istio-17807_ist0101_ist0105_1.3.txt").read_text())
    assert len(find_messages(msgs, "ReferencedResourceNotFound")) == 3
    assert len(find_messages(msgs, "IST0101")) == 3
    (retired,) = find_messages(msgs, "IstioProxyVersionMismatch")
    assert retired.code == "IST0105"
    info = message_info("IST0105")
    assert info is not None and info.retired
    assert message_info("DestinationRuleUsesMTLSForWorkloadWithoutSidecar") is not None


def test_catalogue_covers_current_and_retired_codes() -> None:
    # istio's own messages.yaml, vendored with the corpus (tests/fixtures/corpus/SOURCES.md)
    source = yaml.safe_load((Path(__file__).parent / "fixtures/corpus/istio/analyze/messages.yaml").read_text())
    cat = catalogue()
    assert len(cat) == 78
    for code in ("IST0104", "IST0105", "IST0113", "IST0114", "IST0115", "IST0117", "IST0119", "IST0120", "IST0121", "IST0122"):
        assert cat[code].retired
    assert cat["IST0173"].name == "DestinationRuleSubsetNotSelectPods" and cat["IST0173"].level == "Error"
    for m in source["messages"]:
        assert cat[m["code"]].name == m["name"] and cat[m["code"]].level == m["level"]


def test_unknown_code_still_parses() -> None:
    (m,) = parse_analyze("Warning [IST0999] (Pod default/x) Something new")
    assert m.code == "IST0999" and m.name == "" and m.level == "Warning"


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("VirtualService default/bookinfo bookinfo.yaml:41", ("VirtualService", "default", "bookinfo", "bookinfo.yaml:41")),
        ("VirtualService bookinfo.default", ("VirtualService", "default", "bookinfo", None)),
        ("VirtualService a.b.default", ("VirtualService", "default", "a.b", None)),
        ("VirtualService/default/httpbin", ("VirtualService", "default", "httpbin", None)),
        ("Namespace default", ("Namespace", None, "default", None)),
        ("MutatingWebhookConfiguration istio-sidecar-injector", ("MutatingWebhookConfiguration", None, "istio-sidecar-injector", None)),
        ("", (None, None, None, None)),
    ],
)
def test_parse_origin(origin: str, expected: tuple) -> None:
    assert parse_origin(origin) == expected


@pytest.mark.parametrize("path", sorted((FIX / "status").iterdir()), ids=lambda p: p.name)
def test_validation_messages_in_status(path: Path) -> None:
    # istio.io elides uninteresting parts with a bare `...` line (a YAML document-end marker
    # that breaks the document); drop the elisions to get the resource the page showed.
    text = "\n".join(line for line in path.read_text().splitlines() if line.strip() != "...")
    docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    status = next(d["status"] for d in docs if "status" in d)
    (m,) = messages_from_status(status, kind="VirtualService", namespace="default", name="ratings")
    assert m.code == "IST0101" and m.name == "ReferencedResourceNotFound" and m.level == "Error"
    assert m.origin_ref == "VirtualService default/ratings" and m.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[{"code": "IST0101", "level": "Error"', "invalid JSON"),
        ('[{"level": "Error"}]', "no `code`"),
        ("<html>502 Bad Gateway</html>", "no analysis message found"),
        ("Error [IST0101 (VirtualService default/x) truncated", "unrecognised message line"),
        ("- code: [unclosed", "invalid YAML"),
    ],
)
def test_garbage_raises_parse_error(text: str, fragment: str) -> None:
    with pytest.raises(ParseError, match=fragment) as ei:
        parse_analyze(text, command="istioctl analyze -n default")
    assert ei.value.command == "istioctl analyze -n default"


def test_empty_stdout_is_no_issues() -> None:
    # current istioctl prints the "no issues" line on stderr, leaving stdout empty
    assert parse_analyze("") == [] and parse_analyze("\n") == []
