"""``istio-doctor trace``: offline on real dumps, live through a replayed recording, every format."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from istio_doctor.cli import main

ROOT = Path(__file__).resolve().parent.parent
P115 = str(ROOT / "tests/fixtures/corpus/captured/configdump/xeviknal-istio-lab/productpage-config-dump.json")
AUTHZ = str(ROOT / "tests/fixtures/trace/istio-authz-sidecar-listeners.json")
REC = str(ROOT / "recordings/p503/localhost-bind-client.yaml")
CLIENT = "pod/reviews-v2-xfvhbgf8r4-vw88b"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_offline_json_is_verdict_cluster_hops_and_validates(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "trace", "--file", P115, "--to", "172.30.1.50:9080", "--host", "reviews:8080", "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    assert list(data)[:3] == ["verdict", "cluster", "hops"]
    assert data["verdict"] == "delivered" and data["cluster"] == "PassthroughCluster"
    assert {h["stage"] for h in data["hops"]} >= {"listener", "virtual_host", "route", "cluster"}
    _, schema, _ = run(capsys, "schema", "trace")
    jsonschema.Draft202012Validator(json.loads(schema)).validate(data)


def test_offline_break_exit_code_and_marked_hop(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "trace", "--file", AUTHZ, "--to", "10.244.0.178:80", "--host", "httpbin:8000", "--path", "/info",
                       "--direction", "inbound")
    assert code == 1
    assert "breaks here" in out and "http_rbac" in out and "rbac_access_denied_matched_policy[none]" in out


def test_offline_unknown_is_exit_3_and_says_what_it_could_not_see(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "trace", "--file", P115, "--to", "172.30.1.50:9080", "--host", "reviews:9080")
    assert code == 3
    assert "Could not see:" in out and "EDS" in out


@pytest.mark.parametrize("fmt", ["yaml", "markdown", "text"])
def test_offline_formats(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    code, out, _ = run(capsys, "trace", "--file", AUTHZ, "--to", "10.244.0.178:9999", "--tcp", "--direction", "inbound", "-o", fmt)
    assert code == 1
    if fmt == "yaml":
        assert yaml.safe_load(out)["verdict"] == "network_rbac"
    elif fmt == "markdown":
        assert out.startswith("## Request trace: network_rbac") and "| # | proxy | stage |" in out
    else:
        assert "network_rbac" in out


def test_trace_formats_are_the_report_formats() -> None:
    """One registry of output formats (report/formats.py): a trace renders in each of them, and
    ``trace -o`` offers exactly those."""
    from istio_doctor.report.formats import FORMATS, TRACE_RENDERERS
    from istio_doctor.report.trace_render import render_trace

    assert tuple(TRACE_RENDERERS) == FORMATS
    with pytest.raises(ValueError, match="unknown output format"):
        render_trace(None, "html")  # type: ignore[arg-type]


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--to", "reviews:9080"], "offline traces need IP:PORT"),
    (["--to", "10.0.0.1"], "offline traces need IP:PORT"),
    ([CLIENT, "--to", "10.0.0.1:80"], "give no pod"),
    (["--to", "10.0.0.1:80", "--header", "novalue"], "expected NAME=VALUE"),
    (["--to", "10.0.0.1:80", "--route", "nope"], "no route configuration"),
])
def test_offline_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str) -> None:
    code, _, err = run(capsys, "trace", "--file", P115, *argv)
    assert code == 2 and fragment in err


def test_missing_file_is_exit_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "trace", "--file", str(tmp_path / "none.json"), "--to", "10.0.0.1:80")
    assert code == 3 and "cannot read config dump" in err


def test_live_trace_from_a_recording_continues_on_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    """reviews-v2 -> svc/ratings: the client's dump routes it to ratings' pod over mTLS; the server's
    dump delivers it to the pod IP, where the app (127.0.0.1 only) refuses: 503 UF."""
    code, out, err = run(capsys, "trace", CLIENT, "-n", "default", "--to", "svc/ratings:9080", "--path", "/ratings/0",
                         "--replay", REC, "-o", "json")
    assert code == 1, err
    data = json.loads(out)
    assert data["cluster"] == "outbound|9080||ratings.default.svc.cluster.local"
    assert data["verdict"] == "delivery" and data["response"] == "503 UF"
    proxies = list(dict.fromkeys(h["proxy"] for h in data["hops"]))
    assert proxies == ["reviews-v2-xfvhbgf8r4-vw88b.default", "ratings-v1-tg8lt8qrmc-rmh9x.default"]
    assert "continued on the server's proxy default/ratings-v1-tg8lt8qrmc-rmh9x" in err


@pytest.mark.parametrize(("to", "fragment"), [
    ("svc/nope:9080", "service default/nope was not found"),
    ("svc/ratings:1234", "has no port 1234"),
    ("api.example.com:443", "needs DNS"),
])
def test_live_destination_errors_are_usage_errors(capsys: pytest.CaptureFixture[str], to: str, fragment: str) -> None:
    code, _, err = run(capsys, "trace", CLIENT, "-n", "default", "--to", to, "--replay", REC)
    assert code == 2 and fragment in err


def test_live_trace_needs_a_pod(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "trace", "deploy/reviews-v2", "-n", "default", "--to", "svc/ratings:9080", "--replay", REC)
    assert code == 2 and "pod/NAME" in err


def test_live_trace_from_a_bug_report_archive_equals_the_replayed_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The same world as REC laid out as an `istioctl bug-report` archive: the client's and the
    server's dumps come from proxies/<ns>/<pod>/config_dump?include_eds, so the trace is the replayed one."""
    import importlib

    from tests.bugreportkit import world_tree, write_archive
    from tests.scenariokit.world import EPOCH

    sc = next(s for s in importlib.import_module("tests.scenarios.p503").SCENARIOS if s.name == "localhost-bind-client")
    archive = write_archive(world_tree(sc.world, layout="1.30"), tmp_path / "bug-report.tar.gz", mtime=EPOCH)
    argv = ["trace", CLIENT, "-n", "default", "--to", "svc/ratings:9080", "--path", "/ratings/0", "-o", "json"]
    code, out, err = run(capsys, *argv, "--replay", REC)
    code2, out2, err2 = run(capsys, *argv, "--bug-report", str(archive))
    assert code2 == code == 1, err2
    assert json.loads(out2) == json.loads(out)
    assert "continued on the server's proxy default/ratings-v1-tg8lt8qrmc-rmh9x" in err2
    code3, _, err3 = run(capsys, *argv, "--bug-report", str(archive), "--replay", REC)
    assert code3 == 2 and "cannot be combined" in err3
