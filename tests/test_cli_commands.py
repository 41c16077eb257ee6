"""``schema``, ``completion`` and ``playbooks``: outputs other tools consume."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

import istio_doctor.cli.playbooks as pb_cli
import istio_doctor.engine.playbook as playbook_mod
import istio_doctor.engine.registry as registry_mod
from istio_doctor.cli import main
from istio_doctor.cli.completion import TARGET_KINDS, script_for
from istio_doctor.engine.registry import CheckSpec, Registry
from istio_doctor.exitcodes import ExitCode


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("which", ["recording", "playbook", "report"])
def test_schema_prints_a_valid_json_schema(capsys: pytest.CaptureFixture[str], which: str) -> None:
    code, out, err = run(capsys, "schema", which)
    assert code == 0 and err == ""
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["properties"]


def test_report_schema_accepts_a_report_and_rejects_junk(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "schema", "report")
    validator = jsonschema.Draft202012Validator(json.loads(out))
    report = json.loads((Path(__file__).parent / "fixtures" / "reports" / "two-findings.json").read_text())
    validator.validate(report)
    assert list(validator.iter_errors({**report, "verdict": "fine"}))


# -- completion ----------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_name_commands_flags_and_target_kinds(capsys: pytest.CaptureFixture[str], shell: str) -> None:
    code, out, _ = run(capsys, "completion", shell)
    assert code == 0
    for word in ("diagnose", "demo", "playbooks", "schema", "proxy-config", "symptom", "istio-namespace", *TARGET_KINDS):
        assert word in out, (shell, word)


def test_bash_completion_is_valid_bash_and_completes() -> None:
    bash = shutil.which("bash")
    assert bash is not None
    script = script_for("bash")
    probe = script + r"""
t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMPREPLY=(); _istio_doctor; echo "${COMPREPLY[*]}"; }
t istio-doctor di
t istio-doctor diagnose ""
t istio-doctor diagnose pod/x --symptom ""
t istio-doctor diagnose pod/x -o m
t istio-doctor schema ""
t istio-doctor playbooks ""
t istio-doctor playbooks show ""
t istio-doctor playbooks --playbooks d show r
t istio-doctor playbooks list ""
t istio-doctor --no-color dia
"""
    proc = subprocess.run([bash, "-c", probe], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "diagnose",
        "pod/ deploy/ svc/ ns/",
        # symptoms_of(): auto, then the loaded playbooks' in order (404 is the routes playbook's alias)
        "auto injection startup mtls 503 routes 404",
        "markdown",
        "recording playbook report trace",
        "list show validate",
        "authz capture egress injection lifecycle mtls p503 probes routes trace triage waypoint ztunnel",  # playbook ids after `playbooks show`
        "routes",
        "",
        "diagnose",  # a global flag before the command does not hide it
    ]


def test_completion_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "completion", "--help")
    assert code == 0
    assert "``" not in out and ":class:" not in out and "source <(istio-doctor completion bash)" in out


# -- playbooks -----------------------------------------------------------------------------

PLAYBOOK = """\
id: mtls
title: mTLS resets
symptoms: [mtls]
nodes:
  - id: in-mesh
    check: gate.pod-has-sidecar
    title: Is the pod in the mesh?
    "on": {fail: end}  # quoted: YAML 1.1 reads a bare on as true
  - id: dr-disable
    check: MTLS-DR-DISABLE-VS-STRICT
    title: Does a DestinationRule turn TLS off?
  - id: pa-strict
    check: MTLS-PA-STRICT-NO-SIDECAR
    title: STRICT towards a pod without sidecar?
"""


@pytest.fixture
def books(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Built-in playbooks replaced by one known playbook, checks by three stand-in registrations."""
    builtin = tmp_path / "playbooks"
    builtin.mkdir()
    (builtin / "mtls.yaml").write_text(PLAYBOOK)
    monkeypatch.setattr(playbook_mod, "builtin_playbook_dir", lambda: builtin)
    reg = Registry()
    for cid in ("gate.pod-has-sidecar", "MTLS-DR-DISABLE-VS-STRICT", "MTLS-PA-STRICT-NO-SIDECAR"):
        reg.register(CheckSpec(id=cid, fn=lambda ctx, params: None, needs=()))  # type: ignore[arg-type,return-value]
    monkeypatch.setattr(registry_mod, "load_builtin_checks", lambda: reg)
    recordings = tmp_path / "recordings"
    for name, codes in (("dr-disable", ["MTLS-DR-DISABLE-VS-STRICT"]), ("both", ["MTLS-DR-DISABLE-VS-STRICT", "P503-UC"])):
        (recordings / "mtls").mkdir(parents=True, exist_ok=True)
        (recordings / "mtls" / f"{name}.yaml").write_text("format: istio-doctor/recording/v1\n")
        (recordings / "mtls" / f"{name}.expect.yaml").write_text(f"findings: {json.dumps(codes)}\n")
    # an expect file without its recording is not a scenario
    (recordings / "mtls" / "orphan.expect.yaml").write_text("findings: [MTLS-PA-STRICT-NO-SIDECAR]\n")
    monkeypatch.setattr(pb_cli, "recordings_root", lambda: recordings)
    return builtin


def test_playbooks_list(books: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "playbooks", "list")
    assert code == 0
    header, row, symptoms, codes = out.splitlines()
    assert header.split() == ["ID", "NODES", "CHECKS", "TITLE"]
    assert row.split() == ["mtls", "3", "2", "mTLS", "resets"]
    assert symptoms.split() == ["symptoms:", "mtls"]
    assert codes.split() == ["checks:", "MTLS-DR-DISABLE-VS-STRICT", "MTLS-PA-STRICT-NO-SIDECAR"]


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_playbooks_list_fits_the_terminal(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                          columns: int) -> None:
    """The built-in playbooks at the widths people use: no line overflows, every code is listed."""
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, _ = run(capsys, "playbooks", "list")
    assert code == 0
    lines = out.splitlines()
    assert max(len(ln) for ln in lines) <= columns, [ln for ln in lines if len(ln) > columns]
    from istio_doctor.engine.playbook import load_playbooks

    listed = set(out.split())
    for pb in load_playbooks([]).values():
        assert pb.id in listed and set(pb.symptoms) <= listed
        assert {n.check for n in pb.nodes if not n.check.startswith("gate.")} <= listed


def test_playbooks_show_tree_and_scenario_coverage(books: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "playbooks", "show", "mtls")
    assert code == 0
    lines = out.splitlines()
    in_mesh = next(ln for ln in lines if ln.strip().startswith("in-mesh"))
    assert "gate.pod-has-sidecar" in in_mesh and "pass->dr-disable fail->end" in in_mesh
    last = next(ln for ln in lines if ln.strip().startswith("pa-strict "))
    assert "pass->end" in last
    dr = next(ln for ln in lines if ln.strip().startswith("MTLS-DR-DISABLE-VS-STRICT "))
    assert dr.split()[1] == "2" and "mtls/both" in dr and "mtls/dr-disable" in dr
    pa = next(ln for ln in lines if ln.strip().startswith("MTLS-PA-STRICT-NO-SIDECAR "))
    assert pa.split()[1] == "0" and "(no scenario covers it)" in pa


def test_playbooks_show_unknown_id_is_a_usage_error(books: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "playbooks", "show", "nope")
    assert code == ExitCode.USAGE
    assert err == "istio-doctor: error: no playbook 'nope'; known: mtls\n"


def test_playbooks_validate_ok_and_broken(books: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "playbooks", "validate")
    assert (code, out) == (0, "1 playbook(s) valid: mtls\n")
    extra = tmp_path / "team"
    extra.mkdir()
    (extra / "bad.yaml").write_text(PLAYBOOK.replace("id: mtls", "id: team").replace("MTLS-PA-STRICT-NO-SIDECAR", "NO-SUCH-CHECK"))
    code, out, err = run(capsys, "playbooks", "validate", "--playbooks", str(extra))
    assert code == ExitCode.USAGE and out == ""
    assert err == f"{extra / 'bad.yaml'}:13: node 'pa-strict' names unknown check 'NO-SUCH-CHECK'\n"
