"""Recording files: format, loading untrusted input, stdout_file, redaction on save, the schema."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from istio_doctor.evidence.recording import (
    RecordedCall,
    Recording,
    RecordingError,
    RecordingMetadata,
    dump_recording,
    load_recording,
    normalise_argv,
    recording_json_schema,
    save_recording,
)
from istio_doctor.evidence.redact import redact

REPO = Path(__file__).resolve().parent.parent
META = RecordingMetadata(created=dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc), target="pod/p -n default",
                         context="kind-mesh", kubectl_version="v1.30.1", istioctl_version="1.22.3", istio_version="1.22.3")
POD_JSON = json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}}, indent=4) + "\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_save_then_load_round_trips_and_is_readable(tmp_path: Path) -> None:
    rec = Recording(metadata=META, calls=[
        RecordedCall(argv=["kubectl", "get", "pod", "p", "-n", "default", "-o", "json"], stdout=POD_JSON, duration_s=0.12,
                     started_at=dt.datetime(2024, 5, 1, 12, 0, 1, tzinfo=dt.timezone.utc)),
        RecordedCall(argv=["istioctl", "proxy-status"], exit_code=1, stderr="Error: unreachable\n"),
    ])
    path = save_recording(rec, tmp_path / "r.yaml")
    text = path.read_text()
    assert "stdout: |" in text and '    "kind": "Pod",' in text  # multi-line output as a literal block
    assert load_recording(path) == rec


def test_gzip_recordings(tmp_path: Path) -> None:
    rec = Recording(metadata=META, calls=[RecordedCall(argv=["kubectl", "version"], stdout="v\n")])
    path = save_recording(rec, tmp_path / "r.yaml.gz")
    assert gzip.decompress(path.read_bytes()).startswith(b"format: istio-doctor/recording/v1")
    assert load_recording(path) == rec


def test_save_always_redacts(tmp_path: Path, pem) -> None:
    rec = Recording(metadata=META.model_copy(update={"redacted": False}), calls=[
        RecordedCall(argv=["kubectl", "get", "secret", "cacerts", "-o", "yaml"], stdout=f"key: |\n  {pem.rsa_key.replace(chr(10), chr(10) + '  ')}\n"),
        RecordedCall(argv=["kubectl", "config", "view", "--raw", "--token", "abc123"], stdout="users:\n- user:\n    token: abc123\n"),
    ])
    loaded = load_recording(save_recording(rec, tmp_path / "r.yaml"))
    assert loaded.metadata.redacted
    assert pem.rsa_key.splitlines()[2] not in loaded.calls[0].stdout
    assert "abc123" not in loaded.calls[1].stdout and "abc123" not in loaded.calls[1].argv


def test_stdout_file_is_inlined(tmp_path: Path) -> None:
    _write(tmp_path / "pod.json", POD_JSON)
    with gzip.open(tmp_path / "dump.json.gz", "wt") as fh:
        fh.write('{"configs": []}')
    path = _write(tmp_path / "r.yaml", """format: istio-doctor/recording/v1
metadata:
  created: 2024-05-01T12:00:00Z
  target: pod/p -n default
calls:
- argv: [kubectl, get, pod, p, -n, default, -o, json]
  stdout_file: pod.json
- argv: [istioctl, proxy-config, all, p, -n, default, -o, json]
  stdout_file: dump.json.gz
""")
    rec = load_recording(path)
    assert rec.calls[0].stdout == POD_JSON and rec.calls[0].stdout_file is None
    assert rec.calls[1].stdout == '{"configs": []}'
    assert rec.metadata.created == dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("ref", ["../secret.txt", "/etc/passwd", "a/../../secret.txt", "C:\\Windows\\win.ini", "..\\x"])
def test_stdout_file_may_not_escape_the_directory(tmp_path: Path, ref: str) -> None:
    (tmp_path / "secret.txt").write_text("outside")
    sub = tmp_path / "rec"
    sub.mkdir()
    path = _write(sub / "r.yaml", f"""format: istio-doctor/recording/v1
metadata: {{created: "2024-05-01T12:00:00Z", target: t}}
calls:
- argv: [kubectl, version]
  stdout_file: {json.dumps(ref)}
""")
    with pytest.raises(RecordingError, match="stdout_file"):
        load_recording(path)


def test_stdout_file_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("outside")
    sub = tmp_path / "rec"
    sub.mkdir()
    (sub / "innocent.json").symlink_to(tmp_path / "secret.txt")
    path = _write(sub / "r.yaml", """format: istio-doctor/recording/v1
metadata: {created: "2024-05-01T12:00:00Z", target: t}
calls: [{argv: [kubectl, version], stdout_file: innocent.json}]
""")
    with pytest.raises(RecordingError, match="outside"):
        load_recording(path)


BAD = {
    "not yaml": ("format: [unclosed\n", "not valid YAML at line"),
    "not a mapping": ("- a\n- b\n", "top level must be a mapping"),
    "wrong format": ("format: istio-doctor/recording/v9\nmetadata: {}\n", "unsupported format"),
    "unknown field": ("format: istio-doctor/recording/v1\nmetadata: {created: '2024-05-01T00:00:00Z', target: t}\ncalls: [{argv: [kubectl], shell: true}]\n", "calls.0.shell"),
    "missing target": ("format: istio-doctor/recording/v1\nmetadata: {created: '2024-05-01T00:00:00Z'}\n", "metadata.target"),
    "bad error kind": ("format: istio-doctor/recording/v1\nmetadata: {created: '2024-05-01T00:00:00Z', target: t}\ncalls: [{argv: [kubectl], error: {kind: oops, message: m}}]\n", "calls.0.error.kind"),
    "stdout and file": ("format: istio-doctor/recording/v1\nmetadata: {created: '2024-05-01T00:00:00Z', target: t}\ncalls: [{argv: [kubectl], stdout: x, stdout_file: y}]\n", "not both"),
    "python tag": ("format: istio-doctor/recording/v1\nmetadata: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    "missing stdout_file": ("format: istio-doctor/recording/v1\nmetadata: {created: '2024-05-01T00:00:00Z', target: t}\ncalls: [{argv: [kubectl], stdout_file: nope.json}]\n", "cannot be read"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_malformed_recordings_raise_recording_error_with_file_and_reason(tmp_path: Path, name: str) -> None:
    text, reason = BAD[name]
    path = _write(tmp_path / "bad.yaml", text)
    with pytest.raises(RecordingError) as exc:
        load_recording(path)
    assert str(path) in str(exc.value)
    assert reason in str(exc.value)


def test_missing_file_is_a_recording_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot read"):
        load_recording(tmp_path / "nope.yaml")


def test_normalise_argv_drops_only_connection_flags() -> None:
    assert normalise_argv(["kubectl", "--context", "a", "get", "pods", "--kubeconfig=/k", "-n", "x"]) == ("kubectl", "get", "pods", "-n", "x")
    assert normalise_argv(["istioctl", "ps", "-i", "cp", "--istioNamespace=cp", "-c", "/k"]) == ("istioctl", "ps")
    # kubectl -i is --stdin, and words after `--` belong to the exec'd command
    assert normalise_argv(["kubectl", "exec", "p", "-i", "--", "x", "--context", "y"]) == ("kubectl", "exec", "p", "-i", "--", "x", "--context", "y")


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


@settings(max_examples=300, deadline=None)
@given(stdout=_text, stderr=_text)
def test_any_output_survives_the_yaml_round_trip(stdout: str, stderr: str) -> None:
    rec = Recording(metadata=META, calls=[RecordedCall(argv=["kubectl", "get", "pods"], stdout=stdout, stderr=stderr)])
    data = yaml.safe_load(dump_recording(rec))
    assert data["calls"][0]["stdout"] == stdout
    assert data["calls"][0]["stderr"] == stderr


def test_schema_is_valid_draft_2020_12_and_rejects_bad_input() -> None:
    schema = recording_json_schema()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    good = json.loads(Recording(metadata=META, calls=[RecordedCall(argv=["kubectl", "version"])]).model_dump_json())
    assert not list(validator.iter_errors(good))
    assert list(validator.iter_errors({**good, "extra": 1}))
    assert list(validator.iter_errors({k: v for k, v in good.items() if k != "format"}))
    assert list(validator.iter_errors({**good, "calls": [{"argv": ["kubectl"], "stdout_file": "x", "bogus": 1}]}))


def _json_ready(obj: object) -> object:
    """YAML turns unquoted timestamps into datetimes; JSON Schema sees them as strings."""
    if isinstance(obj, dict):
        return {k: _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, (dt.datetime, dt.date)):
        return obj.isoformat()
    return obj


def _recording_files() -> list[Path]:
    root = REPO / "recordings"
    files = [p for p in sorted(root.rglob("*.yaml")) + sorted(root.rglob("*.yaml.gz")) if not p.name.endswith(".expect.yaml")]
    # a sibling output kept as .yaml through stdout_file is data, not a recording
    referenced: set[Path] = set()
    for f in files:
        try:
            raw = yaml.safe_load(gzip.decompress(f.read_bytes()) if f.name.endswith(".gz") else f.read_text())
        except yaml.YAMLError:
            continue
        if isinstance(raw, dict):
            referenced |= {(f.parent / c["stdout_file"]).resolve() for c in raw.get("calls") or [] if isinstance(c, dict) and c.get("stdout_file")}
    return [f for f in files if f.resolve() not in referenced]


@pytest.mark.parametrize("path", _recording_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_checked_in_recording_matches_the_schema_and_loads(path: Path) -> None:
    raw = yaml.safe_load(gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_text())
    errors = sorted(Draft202012Validator(recording_json_schema()).iter_errors(_json_ready(raw)), key=str)
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)
    rec = load_recording(path)
    leaks = [" ".join(c.argv) for c in rec.calls if redact(c.stdout) != c.stdout or redact(c.stderr) != c.stderr]
    assert not leaks, f"unredacted credentials in the output of: {leaks} (save_recording redacts; hand-written files need care)"
