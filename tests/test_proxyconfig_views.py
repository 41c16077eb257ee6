"""proxy-config views equal istioctl's goldens; filters, sorting and the CLI behave like istioctl."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from istio_doctor.evidence.envoy import views as v
from istio_doctor.evidence.envoy.configdump import parse_config_dump

FIX = Path(__file__).parent / "fixtures" / "envoy"
#: after the workload cert in the goldens expired (2023-05-16), before the root CA did
NOW = datetime(2024, 1, 1, tzinfo=UTC)


def norm(s: str) -> str:
    return "\n".join(line.rstrip() for line in s.rstrip("\n").split("\n"))


def dump(name: str):  # type: ignore[no-untyped-def]
    return parse_config_dump((FIX / name).read_bytes(), command=f"file {name}")


GOLDENS = [
    ("all", "pc_all_config_dump.json", "pc_all_config_dump_summary.txt", lambda d: v.all_summary(d, now=NOW)),
    ("endpoint-txt", "endpoint_configdump.json", "endpoint_emptyfilter_output.txt", lambda d: v.endpoint_table(d)),
    ("endpoint-json", "endpoint_configdump.json", "endpoint_emptyfilter_output.json", lambda d: v.marshal_json(v.endpoint_json(d))),
    ("endpoint-yaml", "endpoint_configdump.json", "endpoint_emptyfilter_output.yaml", lambda d: v.marshal_yaml(v.endpoint_json(d))),
    ("route-empty-gateway", "routes_empty-gateway_configdump.json", "routes_empty-gateway_output.txt", lambda d: v.route_table(d)),
    (
        "route-prefix",
        "routes_istio-gateway-http-route-prefix_configdump.json",
        "routes_istio-gateway-http-route-prefix_output.txt",
        lambda d: v.route_table(d),
    ),
    ("secret", "secret_config_dump.json", "secret_output.txt", lambda d: v.secret_table(d, now=NOW)),
    ("versions", "bootstrap_configdump.json", "bootstrap_versionsummary.txt", lambda d: v.version_summary_text(d)),
    ("ecds", "ecds_configdump.json", "ecds_output.txt", lambda d: v.ecds_table(d)),
]


@pytest.mark.parametrize(("label", "inp", "golden", "render"), GOLDENS, ids=[g[0] for g in GOLDENS])
def test_golden(label: str, inp: str, golden: str, render) -> None:  # type: ignore[no-untyped-def]
    assert norm(render(dump(inp))) == norm((FIX / golden).read_text())


def test_tabwriter_semantics() -> None:
    # last cell unpadded, empty cells padded, width = widest + padding
    assert v.tabwrite([["A", "BB", "C"], ["aaa", "", "x"]], 2) == "A    BB  C\naaa      x\n"


def test_go_sort_matches_go_for_ties() -> None:
    # Go's pdqsort on <=12 elements is insertion sort: stable for ties.
    items = [(1, "a"), (0, "b"), (1, "c"), (0, "d")]
    v.go_sort_slice(items, lambda x, y: x[0] < y[0])
    assert items == [(0, "b"), (0, "d"), (1, "a"), (1, "c")]
    big = [(i % 3, i) for i in range(200)]
    v.go_sort_slice(big, lambda x, y: x[0] < y[0])
    assert [k for k, _ in big] == sorted(k for k, _ in big)


def test_cluster_table_and_filters() -> None:
    d = dump("describe_http_config.json")
    text = v.cluster_table(d)
    assert text.splitlines()[0].split() == ["SERVICE", "FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION", "RULE"]
    assert "productpage.default.svc.cluster.local     9080     v1         outbound      EDS      productpage.default" in text
    assert v.cluster_rows(d, v.ClusterFilter(fqdn="reviews")) == []
    assert len(v.cluster_rows(d, v.ClusterFilter(port=9080, subset="v1", direction="outbound"))) == 1
    js = v.cluster_json(d, v.ClusterFilter(fqdn="productpage"))
    assert js[0]["edsClusterConfig"]["serviceName"].startswith("outbound|9080|v1|")
    assert "@type" not in js[0]
    # map keys are data: kept verbatim, not camelCased
    assert js[0]["transportSocketMatches"][0]["match"] == {"tlsMode": "istio"}
    assert "default_original_port" in js[0]["metadata"]["filterMetadata"]["istio"]


def test_listener_views_on_legacy_and_parts() -> None:
    d = dump("v2alpha_productpage_config_dump.json")
    rows = v.listener_rows(d)
    assert any(r.port == 15001 for r in rows)
    assert [r.port for r in rows] == sorted(r.port for r in rows)
    short = v.listener_table(d, verbose=False)
    assert short.splitlines()[0].split() == ["ADDRESSES", "PORT", "TYPE"]
    lds = dump("parts_liucw2012_lds.json")
    only = v.listener_rows(lds, v.ListenerFilter(port=9080, address="10.0.15.34"))
    assert only and all(r.destination.startswith("Cluster: inbound|9080|") for r in only)
    assert v.listener_json(lds, v.ListenerFilter(port=9080, type="http"))


def test_route_views() -> None:
    d = dump("parts_liucw2012_rds.json")
    rows = v.route_rows(d, "9080")
    assert rows and {r.name for r in rows} == {"9080"}
    assert any(r.domains.startswith("reviews, ") and r.domains.endswith("more...") for r in rows)
    short = v.route_table(d, verbose=False)
    assert short.splitlines()[0].split() == ["NAME", "VIRTUAL", "HOSTS"]
    assert v.describe_route_domains(["a.ns.svc.cluster.local", "a.ns.svc.cluster.local:80", "a", "a.ns.svc", "a.ns"]) == "a, a.ns"


def test_endpoint_filters_and_json() -> None:
    d = dump("endpoint_configdump.json")
    rows = v.endpoint_rows(d, v.EndpointFilter(cluster="outbound|9080||reviews.default.svc.cluster.local"))
    assert len(rows) == 3 and {r.status for r in rows} == {"HEALTHY"}
    assert v.endpoint_rows(d, v.EndpointFilter(port=15020))[0].cluster == "agent"
    assert v.endpoint_rows(d, v.EndpointFilter(status="unhealthy")) == []
    js = v.endpoint_json(d, v.EndpointFilter(address="10.244.0.192:9080"))
    assert len(js) == 1 and len(js[0]["endpoints"][0]["lbEndpoints"]) == 1


def test_secret_json_has_no_private_key() -> None:
    out = v.marshal_json(v.secret_json(dump("secret_config_dump.json")))
    assert "dynamicActiveSecrets" in out and "privateKey" not in out and "@type\": \"type.googleapis.com/envoy.admin" not in out


def _cli(argv: list[str]) -> int:
    from istio_doctor.cli import proxyconfig

    p = argparse.ArgumentParser(prog="istio-doctor")
    sub = p.add_subparsers(dest="command")
    proxyconfig.add_parser(sub)
    return proxyconfig.run(p.parse_args(argv))


def test_cli_prints_tables_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["pc", "route", "--file", str(FIX / "routes_empty-gateway_configdump.json")]) == 0
    assert norm(capsys.readouterr().out) == norm((FIX / "routes_empty-gateway_output.txt").read_text())
    assert _cli(["proxy-config", "endpoint", "-o", "json", "--file", str(FIX / "endpoint_configdump.json")]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((FIX / "endpoint_emptyfilter_output.json").read_text())
    assert _cli(["pc", "cluster", "--fqdn", "productpage", "--file", str(FIX / "describe_http_config.json")]) == 0
    assert "productpage.default" in capsys.readouterr().out


def test_cli_errors_are_one_sentence_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["pc", "cluster", "--file", str(tmp_path / "missing.json")]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read config dump" in err
    bad = tmp_path / "trunc.yaml"
    bad.write_text('{"configs": [')
    assert _cli(["pc", "all", "--file", str(bad)]) == 3
    assert "not valid JSON" in capsys.readouterr().err


# -- a live pod (issue #12): one dump fetch, every view from it ----------------------------------------


@pytest.fixture(scope="module")
def live_world(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.scenariokit.bookinfo import bookinfo_world
    from tests.scenariokit.standin import install_standins

    world = bookinfo_world()
    root = tmp_path_factory.mktemp("pc-live")
    s = install_standins(world, root / "bin", cache_dir=root / "cache")
    pod = next(p.name for p in world.pods if p.workload.name == "productpage-v1" and p.namespace == "default")
    return world, s, pod


def _live(s, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    exe = Path(sys.executable).parent / "istio-doctor"
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "istio_doctor"]
    return subprocess.run([*cmd, *args], env=s.env(extra_path=[str(Path(sys.executable).parent)]), cwd=s.directory,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_live_pod_views_match_the_dump_and_fetch_it_once(live_world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.scenariokit.runner import WorldRunner

    world, s, pod = live_world
    dump = WorldRunner(world).run_sync(["istioctl", "proxy-config", "all", pod, "-n", "default", "-o", "json"]).stdout
    saved = tmp_path / "dump.json"
    saved.write_text(dump)
    before = len(s.calls())
    live = _live(s, "pc", "cluster", f"pod/{pod}", "-n", "default", "--fqdn", "reviews")
    assert live.returncode == 0, live.stderr
    offline = _live(s, "pc", "cluster", "--file", str(saved), "--fqdn", "reviews")
    assert live.stdout == offline.stdout and "reviews.default.svc.cluster.local" in live.stdout
    allv = _live(s, "pc", "all", f"{pod}.default")  # istioctl's NAME.NAMESPACE form
    assert allv.returncode == 0 and "outbound|9080||reviews.default.svc.cluster.local" in allv.stdout, allv.stderr
    dumps = [c for c in s.calls()[before:] if c[:3] == ["istioctl", "proxy-config", "all"]]
    assert len(dumps) == 2, "one dump per command, whatever the views"
    assert not [c for c in s.calls()[before:] if c[:2] == ["istioctl", "proxy-config"] and c[2] != "all"]


def test_live_deployment_resolves_a_pod_with_a_sidecar(live_world) -> None:  # type: ignore[no-untyped-def]
    _world, s, pod = live_world
    proc = _live(s, "pc", "listener", "deploy/productpage-v1", "-n", "default", "--port", "9080")
    assert proc.returncode == 0, proc.stderr
    assert [c for c in s.calls() if c[:3] == ["istioctl", "proxy-config", "all"] and c[3] == pod]
    gone = _live(s, "pc", "cluster", "deploy/nope", "-n", "default")
    assert gone.returncode == 2 and gone.stderr == "istio-doctor: error: no pod of deployment default/nope (check the name and -n)\n"


def test_live_needs_a_pod_or_a_file(live_world) -> None:  # type: ignore[no-untyped-def]
    _world, s, _pod = live_world
    proc = _live(s, "pc", "cluster")
    assert proc.returncode == 2 and "give a pod" in proc.stderr
    bad = _live(s, "pc", "cluster", "svc/reviews")
    assert bad.returncode == 2 and "proxy-config reads one pod" in bad.stderr


# -- SPIFFE trust bundles (issue 14) -------------------------------------------------------------
#: after the SPIRE golden's workload cert expired (2024-10-27), before its roots do (2034)
SPIRE_NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_spiffe_trust_bundle_secret_view_is_istioctl_byte_for_byte() -> None:
    """One ROOTCA row per trust domain of the SPIFFECertValidatorConfig, and the TRUST DOMAIN
    column because every row has one: istio/istio@86c9f01
    istioctl/pkg/writer/envoy/configdump/testdata/secret/spire/output (istio/istio#53650)."""
    d = dump("secret_spire_config_dump.json")
    assert v.secret_table(d, now=SPIRE_NOW) == (FIX / "secret_spire_output.txt").read_text()
    roots = [s for s in d.secrets if s.name == "ROOTCA"]
    assert [(s.bundle_trust_domain, s.type, s.valid_at(SPIRE_NOW)) for s in roots] == [
        ("east.local", "CA", True), ("west.local", "CA", True)]
    assert all(s.cert_chain_pem and "BEGIN CERTIFICATE" in s.cert_chain_pem for s in roots)


def test_istio_ca_secret_view_has_no_trust_domain_column() -> None:
    # the ROOTCA of istiod's own CA has no spiffe:// SAN, so not every row has a trust domain
    d = dump("secret_config_dump.json")
    text = v.secret_table(d, now=NOW)
    assert "TRUST DOMAIN" not in text
    assert text == (FIX / "secret_output.txt").read_text()


def _spiffe_secret(trust_domains: list[dict[str, object]], *, version: str = "1") -> str:
    return json.dumps({"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
                                    "dynamic_active_secrets": [{"name": "ROOTCA", "version_info": version, "secret": {
                                        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
                                        "name": "ROOTCA", "validation_context": {"custom_validator_config": {
                                            "name": "envoy.tls.cert_validator.spiffe", "typed_config": {
                                                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig",
                                                "trust_domains": trust_domains}}}}}]}]})


def test_spiffe_validator_without_trust_domains_shows_no_rows_like_istioctl() -> None:
    d = parse_config_dump(_spiffe_secret([]))
    assert d.secrets == []
    assert v.secret_table(d) == "No secret items to show.\n"


def test_spiffe_bundle_that_does_not_parse_keeps_its_trust_domain_for_checks() -> None:
    import base64

    bad = {"name": "east.local", "trust_bundle": {"inline_bytes": base64.b64encode(b"not a certificate").decode()}}
    d = parse_config_dump(_spiffe_secret([bad], version="uninitialized"))
    (s,) = d.secrets
    assert (s.name, s.bundle_trust_domain, s.trust_domain, s.valid, s.status) == ("ROOTCA", "east.local", "", False, "UNINITIALIZED")
    # istioctl >= 1.25 prints ACTIVE (the UNINITIALIZED state is set on a copy) and no TRUST DOMAIN
    # column, because the unparsable bundle has no trust domain in its SecretMeta.
    assert v.secret_table(d).splitlines()[1].split() == ["ROOTCA", "ACTIVE", "false"]
