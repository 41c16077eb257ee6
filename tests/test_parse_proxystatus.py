"""proxy-status parser against real tables, goldens, JSON/YAML and diff outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from istio_doctor.evidence.errors import ParseError
from istio_doctor.evidence.proxystatus import normalize_status, parse_proxy_status, parse_proxy_status_diff

D = Path(__file__).parent / "fixtures" / "proxy-status"
DIFF_ONLY = {"istio-12958_proxy_status_pod_diff_1.1.txt"}
FILES = sorted(p for p in D.iterdir() if p.name not in ("SOURCES.md", "LICENSE-Apache-2.0.txt"))


def rows(name: str):
    return parse_proxy_status((D / name).read_text())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_fixture_parses(path: Path) -> None:
    if path.name in DIFF_ONLY:
        assert parse_proxy_status_diff(path.read_text()).clusters_match is False
    else:
        assert parse_proxy_status(path.read_text())


def test_pilot_column_with_eds_percent() -> None:
    r = rows("istio-13950_pilot_eds_percent_1.1.3.txt")
    assert len(r) == 6
    assert (r[0].pod, r[0].namespace, r[0].eds, r[0].status_suffix) == (
        "httpbin-v1-78d9ff557d-n7dw2", "cb-tests", "SYNCED", {"eds": "50%"})
    assert r[2].rds == "NOT SENT" and r[2].istiod == "istio-pilot-8447cfb59-w2ddb" and r[2].version == "1.1.3"
    assert r[0].cluster is None and r[0].ecds is None and r[0].subscribed_types is None
    assert r[2].not_synced == {}


def test_istiod_and_pilot_column_tables() -> None:
    v17 = rows("proxy-status_v1.7.txt")
    assert len(v17) == 8 and v17[1].rds == "NOT SENT" and v17[1].namespace == "istio-system"
    assert v17[0].istiod == "istiod-6cf8d4f9cb-wm7x6"
    alpha = rows("istioio-7148_pilot_column_1.6-alpha.txt")  # prompt/version lines before the header
    assert len(alpha) == 5 and alpha[0].version == "1.6.0-alpha.2"
    assert len(rows("istio-25313_pilot_column_1.6.txt")) == 7
    assert rows("istio-15094_eds_synced_percent_1.2.txt")[1].istiod == "istio-pilot-67d854888f-zrvkp"


def test_cluster_ecds_table() -> None:
    r = rows("kiali-6250_cluster_ecds_1.17.txt")
    assert [x.cds for x in r] == ["NOT SENT", "NOT SENT"] and r[0].lds == "SYNCED"
    assert r[0].ecds == "NOT SENT" and r[0].cluster == "Kubernetes" and r[0].version == "1.17.2"


def test_subscribed_types_goldens() -> None:
    multi = rows("multiXdsStatusMultiPilot.txt")
    assert [x.istiod for x in multi] == ["istiod1", "istiod2", "istiod3", "istiod4"]
    assert multi[0].subscribed_types == ["CDS", "LDS", "EDS", "RDS", "ECDS"]
    assert multi[3].subscribed_types == [] and multi[1].version == "1.19" and multi[0].cds is None


def test_json_and_yaml_goldens_agree() -> None:
    for name in ("multiXdsStatusSinglePilot.json", "multiXdsStatusSinglePilot.yaml"):
        (r,) = rows(name)
        assert (r.name, r.cluster, r.version, r.istiod, r.istiod_version) == (
            "proxy1", "cluster1", "1.20", "istiod1", "1.1")
        assert (r.cds, r.lds, r.rds, r.eds, r.ecds) == ("STALE", "SYNCED", "NOT SENT", "SYNCED", "SYNCED")
        assert r.not_synced == {"cds": "STALE"}


def test_concatenated_json_documents_and_node_id() -> None:
    doc = (D / "multiXdsStatusSinglePilot.json").read_text()
    second = doc.replace('"proxy1"', '"sidecar~10.1.2.3~reviews-v1-abc.bookinfo~bookinfo.svc.cluster.local"').replace(
        "istiod1", "istiod2")
    r = parse_proxy_status(doc + "\n" + second)
    assert [x.istiod for x in r] == ["istiod1", "istiod2"]
    assert (r[1].pod, r[1].namespace, r[1].proxy_type) == ("reviews-v1-abc", "bookinfo", "sidecar")


def test_multi_doc_yaml_without_separator() -> None:
    doc = (D / "multiXdsStatusSinglePilot.yaml").read_text()
    r = parse_proxy_status(doc + doc.replace("istiod1", "istiod9"))
    assert [x.istiod for x in r] == ["istiod1", "istiod9"]


def test_verbose_and_aged_statuses() -> None:
    text = (
        "NAME                     CLUSTER        CDS              ECDS         EDS          LDS          RDS          ISTIOD         VERSION\n"
        "a-1.default              Kubernetes     SYNCED (5m)      NOT SENT     STALE        SYNCED       ERROR        istiod-1       1.27.0\n"
        "b-2.default                             IGNORED          NOT_SENT     SYNCED       SYNCED       SYNCED       istiod-1       1.27.0\n"
    )
    a, b = parse_proxy_status(text)
    assert (a.cds, a.status_suffix, a.ecds, a.eds, a.rds) == ("SYNCED", {"cds": "5m"}, "NOT SENT", "STALE", "ERROR")
    assert a.not_synced == {"eds": "STALE", "rds": "ERROR"}
    assert b.cluster is None and b.cds == "IGNORED" and b.ecds == "NOT SENT"


def test_headerless_grep_excerpt() -> None:
    r = rows("istio-49693_x_ps_grep_and_pod_match_1.21.txt")
    assert len(r) == 3 and all(x.source_format == "table:inferred" for x in r)
    assert r[0].ecds == "NOT SENT" and r[2].istiod == "istiod-66fcf48747-lk5q9"
    with pytest.raises(ParseError):
        parse_proxy_status("hello world\nnothing here\n")


def test_diff_forms() -> None:
    ok = parse_proxy_status_diff((D / "istio-49693_x_ps_grep_and_pod_match_1.21.txt").read_text())
    assert (ok.clusters_match, ok.listeners_match, ok.routes_match) == (True, True, True)
    assert ok.rds_last_loaded == "Tue, 09 Apr 2024 01:11:20 EDT" and ok.diff_text is None
    old = parse_proxy_status_diff((D / "istio-12958_proxy_status_pod_diff_1.1.txt").read_text())
    assert old.clusters_match is False and old.routes_match is None
    assert old.diff_text is not None and old.diff_text.startswith("--- Pilot Clusters")
    new = parse_proxy_status_diff("Clusters Match\nListeners Don't Match\n--- Istiod Listeners\n+++ Envoy Listeners\n@@ -1 +1 @@\n-a\n+b\nRoutes Match (RDS last loaded at Mon)\n")
    assert (new.clusters_match, new.listeners_match, new.routes_match) == (True, False, True)
    assert new.diff_text is not None and "+b" in new.diff_text


def test_normalize_status() -> None:
    assert normalize_status("NOT_SENT") == ("NOT SENT", None)
    assert normalize_status("SYNCED (100%)") == ("SYNCED", "100%")
    assert normalize_status("") == (None, None)
