"""Secrets planted in every kind of output a World produces never leave the process.

A cluster leaks credentials into places a diagnosis reads: pod annotations (a
``last-applied-configuration`` holding a whole Secret manifest), container env, ConfigMaps
(kubeconfigs), the proxy's config dump (the workload key, when a dump is taken from the admin
port), access logs with ``authorization`` headers, ``x describe`` and ``analyze`` text. Each is
planted into the real-format output of the stand-ins; then a live diagnosis is recorded
(``--record``) and its report rendered in every format and through the TUI's Markdown export.
None of the planted secret strings may appear in any of them. Certificates may (and in the
recording they must: the mTLS checks read them).
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from istio_doctor.evidence.recording import RecordingMetadata
from istio_doctor.evidence.runner import LiveRunner, RecordingRunner
from istio_doctor.evidence.target import Connection, Target
from istio_doctor.report.markdown import render_markdown
from istio_doctor.report.render import render
from istio_doctor.run import run_diagnosis
from tests.conftest import PemMaterial
from tests.scenariokit.bookinfo import bookinfo_world
from tests.scenariokit.runner import WorldRunner
from tests.scenariokit.standin import Rule, install_standins, prewarm

VENV_BIN = str(Path(sys.executable).parent)


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _jwt() -> str:
    head = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":"k1"}').decode().rstrip("=")
    body = base64.urlsafe_b64encode(b'{"iss":"kubernetes/serviceaccount","sub":"system:serviceaccount:default:reviews"}').decode().rstrip("=")
    return f"{head}.{body}.c2lnbmF0dXJlLW5vdC1yZWFsLWJ1dC1sb25nLWVub3VnaA"


def _key_body(pem: str) -> str:
    """A chunk of the key's base64 body: finding it anywhere means the key leaked."""
    lines = [ln for ln in pem.strip().splitlines() if not ln.startswith("-----")]
    return lines[len(lines) // 2]


class Planted:
    def __init__(self, pem: PemMaterial) -> None:
        self.pem = pem
        self.bearer = "sk_live_4eC39HqLyjWDarjtT1zdp7dcQm8pN2vX"
        self.jwt = _jwt()
        self.kube_token = "kubeconfig-token-Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5"
        self.password = "correct-horse-battery-staple-42"
        self.client_key_data = _b64(pem.ec_key)
        self.secret_data_value = _b64("db-password-hunter2-hunter2")

    def needles(self) -> dict[str, str]:
        """name -> a string that must never appear outside the process."""
        out = {f"pem-{k}": _key_body(v) for k, v in self.pem.keys.items()}
        out.update({
            "bearer": self.bearer, "jwt-payload": self.jwt.split(".")[1], "kubeconfig-token": self.kube_token,
            "stringData-password": self.password, "client-key-data": self.client_key_data[20:80],
            "secret-data": self.secret_data_value, "inline-bytes-key": _b64(self.pem.rsa_key)[40:100],
            "rsa-in-annotation": _key_body(self.pem.rsa_key),
        })
        return out


def plant_rules(w, pod: str, p: Planted) -> list[Rule]:  # type: ignore[no-untyped-def]
    """Exact replies: the world's real output for each argv, with secrets planted in it."""
    runner = WorldRunner(w)

    def world_out(*argv: str) -> str:
        res = runner.run_sync(list(argv))
        assert res.exit_code == 0, res.stderr
        return res.stdout

    secret_manifest = json.dumps({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "default"},
        "data": {"password": p.secret_data_value}, "stringData": {"password": p.password},
    })

    def leaky_pod(obj: dict) -> dict:  # type: ignore[type-arg]
        if obj["metadata"]["name"] != pod:
            return obj
        ann = obj["metadata"].setdefault("annotations", {})
        ann["kubectl.kubernetes.io/last-applied-configuration"] = secret_manifest
        ann["example.com/tls-key"] = p.pem.rsa_key
        ann["example.com/ca-cert"] = p.pem.certificate
        app = obj["spec"]["containers"][0]
        app["env"] = [{"name": "API_TOKEN", "value": p.jwt}, {"name": "DB_PASSWORD", "value": p.password},
                      {"name": "AUTH_HEADER", "value": f"Bearer {p.bearer}"}]
        return obj

    pod_argv = ("kubectl", "get", "pod", pod, "-n", "default", "-o", "json")
    pods_argv = ("kubectl", "get", "pods", "-n", "default", "-o", "json")
    one = leaky_pod(json.loads(world_out(*pod_argv)))
    many = json.loads(world_out(*pods_argv))
    many["items"] = [leaky_pod(i) for i in many["items"]]

    cms = json.loads(world_out("kubectl", "get", "configmaps", "-n", "istio-system", "-o", "json"))
    kubeconfig = (
        "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n"
        f"    token: {p.kube_token}\n    client-key-data: {p.client_key_data}\n"
    )
    cms["items"].append({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "ci-kubeconfig", "namespace": "istio-system"},
                         "data": {"kubeconfig": kubeconfig, "pkcs8.pem": p.pem.pkcs8_key, "encrypted.pem": p.pem.encrypted_key}})

    dump_argv = ("istioctl", "proxy-config", "all", pod, "-n", "default", "-o", "json")
    dump = json.loads(world_out(*dump_argv))
    for sec in dump["configs"]:
        if sec["@type"].endswith("SecretsConfigDump"):
            for s in sec.get("dynamic_active_secrets", []):
                tls = s.get("secret", {}).get("tls_certificate")
                if tls is not None:
                    tls["private_key"] = {"inline_bytes": _b64(p.pem.rsa_key)}

    logs_argv = ("kubectl", "logs", pod, "-n", "default", "-c", "istio-proxy", "--since=1h", "--tail=2000")
    logs = world_out(*logs_argv) + (
        "2024-07-15T09:29:58.000000Z\tdebug\tenvoy http\t[C12][S34] request headers complete: "
        f"':authority', 'reviews:9080' 'authorization', 'Bearer {p.bearer}'\n"
        f'{{"authority":"reviews:9080","authorization":"Bearer {p.jwt}","response_code":200}}\n'
    )
    describe_argv = ("istioctl", "x", "describe", "pod", pod, "-n", "default")
    describe = runner.run_sync(list(describe_argv))
    analyze_argv = ("istioctl", "analyze", "-n", "default", "-o", "json")
    analyze = json.loads(world_out(*analyze_argv))
    analyze.append({"code": "IST0001", "level": "Error", "origin": "Pod default/" + pod,
                    "documentationUrl": "https://istio.io/latest/docs/reference/config/analysis/ist0001/",
                    "message": f"Internal error: unexpected header authorization: Bearer {p.bearer} and key {p.pem.ec_key}"})

    def exact(argv: tuple[str, ...], stdout: str, stderr: str = "", code: int = 0) -> Rule:
        # rules match by words; the argv's own words pin it to this one call
        return Rule(list(argv[1:]), binary=argv[0], stdout=stdout, stderr=stderr, exit=code)

    return [
        exact(pod_argv, json.dumps(one)),
        exact(pods_argv, json.dumps(many)),
        exact(("kubectl", "get", "configmaps", "-n", "istio-system", "-o", "json"), json.dumps(cms)),
        exact(dump_argv, json.dumps(dump, indent=1)),
        exact(logs_argv, logs),
        exact(describe_argv, describe.stdout + f"  Annotation: token=Bearer {p.bearer}\n", describe.stderr, describe.exit_code),
        exact(analyze_argv, json.dumps(analyze)),
    ]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, pem: PemMaterial):  # type: ignore[no-untyped-def]
    w = bookinfo_world()
    pod = next(p.name for p in w.pods if p.workload.name == "reviews-v2")
    planted = Planted(pem)
    d = tmp_path_factory.mktemp("secrets")
    standins = install_standins(w, d / "bin", rules=plant_rules(w, pod, planted), cache_dir=d / "cache")
    prewarm(standins, f"pod/{pod} -n default")  # the world's replies; the planted ones come from the rules
    return standins, pod, planted, d


def assert_clean(where: str, text: str, planted: Planted) -> None:
    leaked = [name for name, needle in planted.needles().items() if needle in text]
    assert not leaked, f"{where} leaks {leaked}"


def test_planted_outputs_really_carry_the_secrets(setup) -> None:  # type: ignore[no-untyped-def]
    """Guard: the stand-ins serve the planted secrets (else the test below proves nothing)."""
    standins, pod, planted, _ = setup
    import subprocess

    env = standins.env(extra_path=[VENV_BIN])
    got = subprocess.run([str(standins.binaries["kubectl"]), "get", "pod", pod, "-n", "default", "-o", "json"],
                         capture_output=True, text=True, env=env, timeout=60).stdout
    assert planted.jwt in got and _key_body(planted.pem.rsa_key) in got and planted.password in got
    dump = subprocess.run([str(standins.binaries["istioctl"]), "proxy-config", "all", pod, "-n", "default", "-o", "json"],
                          capture_output=True, text=True, env=env, timeout=60).stdout
    assert _b64(planted.pem.rsa_key) in dump


def test_recording_and_every_report_format_are_clean(setup) -> None:  # type: ignore[no-untyped-def]
    standins, pod, planted, d = setup
    conn = Connection()
    live = LiveRunner(conn, env=standins.env(extra_path=[VENV_BIN]))
    meta = RecordingMetadata(created=datetime.now(UTC), target=f"pod/{pod} -n default")
    rec = RecordingRunner(live, metadata=meta)
    result = asyncio.run(run_diagnosis(Target.parse(f"pod/{pod}", "default"), rec, conn))
    report = result.report
    # the planted outputs were read (not refused), so the diagnosis saw the secrets
    assert not [u for u in report.unchecked if u.evidence.startswith(("pod(", "config_dump", "proxy_logs"))], report.unchecked
    raw = "".join(c.stdout for c in rec.recording().calls)
    assert planted.bearer in raw  # in memory the secrets are there: redaction happens on the way out

    path = rec.save(d / "incident.yaml")
    saved = path.read_text()
    assert_clean("the recording", saved, planted)
    assert "BEGIN CERTIFICATE" in saved  # certificates are evidence (mTLS checks read them)

    for fmt in ("text", "json", "yaml", "markdown"):
        assert_clean(f"the {fmt} report", render(report, fmt), planted)
    assert_clean("the TUI's Markdown export", render_markdown(report), planted)


def test_cli_record_and_report_are_clean(setup) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    standins, pod, planted, d = setup
    script = Path(VENV_BIN) / "istio-doctor"
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "istio_doctor"]
    path = d / "cli-incident.yaml"
    proc = subprocess.run([*cmd, "diagnose", f"pod/{pod}", "-n", "default", "-o", "markdown", "-v", "--record", str(path)],
                          env=standins.env(extra_path=[VENV_BIN]), cwd=d, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1, 3), proc.stderr
    assert_clean("stdout", proc.stdout, planted)
    assert_clean("stderr", proc.stderr, planted)
    assert_clean("the CLI's recording", path.read_text(), planted)
    replay = subprocess.run([*cmd, "diagnose", "--replay", str(path), "-o", "json"], cwd=d, capture_output=True,
                            text=True, timeout=120, env=standins.env(extra_path=[VENV_BIN]))
    assert_clean("the replayed report", replay.stdout, planted)
    assert json.loads(replay.stdout)["verdict"] == json.loads(
        subprocess.run([*cmd, "diagnose", f"pod/{pod}", "-n", "default", "-o", "json"], env=standins.env(extra_path=[VENV_BIN]),
                       cwd=d, capture_output=True, text=True, timeout=120).stdout)["verdict"]
