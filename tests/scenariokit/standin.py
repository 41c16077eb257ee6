"""World-backed ``kubectl`` / ``istioctl`` executables, for end-to-end tests of the installed CLI.

``WorldRunner`` answers argv inside the test process; that never exercises the live path the
judges (and users) take: ``LiveRunner`` spawning real executables found on ``PATH``, reading
their stdout/stderr/exit code, killing them at ``--timeout``. ``install_standins(world, dir)``
writes two tiny shell scripts into ``dir`` that re-enter this module::

    #!/bin/sh
    PYTHONPATH=<repo root> exec <python> <repo>/tests/scenariokit/standin.py --world-file dir/world.json --binary kubectl -- "$@"

(the file by path, which is ``-m tests.scenariokit.standin`` without importing the kit's package
``__init__``: a cached reply then needs nothing but the standard library)

and each call is answered by ``WorldRunner``'s own rendering (exit code, stdout, stderr), so
the outputs are exactly the ones the scenario recordings are built from. World faults are
honoured the way a real machine shows them:

* ``forbidden`` / ``unreachable`` / ``notfound`` / ``unknown_flag``: the real error text and exit code;
* ``timeout``: the process really sleeps (until killed), so ``LiveRunner`` must kill it;
* a whole binary missing (``faults.calls["istioctl"] = "missing_istioctl"``): its script is
  simply not written, so ``PATH`` lookup fails like on a laptop without istioctl.

``rules`` add faults a World cannot express (garbage, truncated JSON, a 60 MB file, a hang on one
call, ``Unauthorized``): the first rule whose ``match`` words all occur in argv decides the reply.

Speed: the call path (the top half of this file) imports only ``hashlib``/``json``/``os``/
``sys``/``time`` and runs before the test-side API below it is even defined. Every rendered reply
is cached on disk under ``cache_dir`` keyed by (world digest, argv), so the second diagnosis of
the same world costs ~30 ms per call instead of ~0.5 s (pydantic and the kit's imports).
"""

from __future__ import annotations

# The call path: standard library only (a cached reply must cost little more than the interpreter).
import hashlib
import json
import os
import sys
import time

#: how long a "timeout" call sleeps: far past any --timeout a test uses; LiveRunner kills it
HANG_S = 600.0
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# -------------------------------------------------------------------------------- the call


def _applies(rule: dict, binary: str, args: list[str]) -> bool:
    """A rule applies when it is for this binary (or both) and every ``match`` word is in argv.

    A rule for every call (empty ``match``) models the cluster or the network failing: it does
    not reach ``kubectl config ...``, which only reads the local kubeconfig.
    """
    if rule["binary"] and rule["binary"] != binary:
        return False
    if not rule["match"] and binary == "kubectl" and args[:1] == ["config"]:
        return False
    words = set(args)
    return all(m in words for m in rule["match"])


def _hang() -> None:
    # Sleep in short steps so the default SIGTERM disposition ends us promptly.
    deadline = time.monotonic() + HANG_S
    while time.monotonic() < deadline:
        time.sleep(0.2)


def _write(stdout: str | bytes, stderr: str, code: int) -> int:
    out = stdout.encode("utf-8", errors="surrogateescape") if isinstance(stdout, str) else stdout
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()
    sys.stderr.write(stderr)
    sys.stderr.flush()
    return code


#: connection flags and whether they take the next word; the world ignores them (one cluster)
_CONN_FLAGS = {"--context": True, "--kubeconfig": True, "--istioNamespace": True, "-i": True}


def _without_connection(argv: list[str]) -> list[str]:
    """``argv`` minus connection flags, for the cache key: the CLI adds ``--kubeconfig`` from
    $KUBECONFIG while the in-process warm-up does not, and the world answers both the same."""
    out: list[str] = []
    i = 0
    cut = argv.index("--") if "--" in argv else len(argv)
    while i < len(argv):
        w = argv[i]
        if i < cut and w in _CONN_FLAGS:
            i += 2
            continue
        if i < cut and any(w.startswith(f + "=") for f in _CONN_FLAGS):
            i += 1
            continue
        out.append(w)
        i += 1
    return out


def _render(manifest: dict, argv: list[str]) -> tuple[str, str, int, str]:
    """(stdout, stderr, exit code, fault) from the world, through the disk cache."""
    cache_dir = manifest.get("cache_dir") or ""
    key = hashlib.sha256("\0".join([manifest["digest"], *_without_connection(argv)]).encode()).hexdigest()
    cached = os.path.join(cache_dir, f"{key}.json") if cache_dir else None
    if cached is not None and os.path.isfile(cached):
        with open(cached, encoding="utf-8") as fh:
            d = json.load(fh)
        return d["stdout"], d["stderr"], d["exit"], d["fault"]
    import pickle

    from istio_doctor.evidence.runner import BinaryNotFound, CommandTimeout
    from tests.scenariokit.runner import WorldRunner

    with open(manifest["pickle"], "rb") as fh:
        world = pickle.load(fh)
    fault = ""
    try:
        res = WorldRunner(world).run_sync(argv)
        stdout, stderr, code = res.stdout, res.stderr, res.exit_code
    except CommandTimeout:
        stdout, stderr, code, fault = "", "", -1, "timeout"
    except BinaryNotFound:
        # One call of an installed binary cannot be "missing": the nearest real thing is the
        # shell's answer for a program that vanished (exit 127).
        stdout, stderr, code, fault = "", f"sh: 1: {argv[0]}: not found\n", 127, "missing"
    if cached is not None:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = f"{cached}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"stdout": stdout, "stderr": stderr, "exit": code, "fault": fault}, fh)
        os.replace(tmp, cached)  # atomic: concurrent stand-ins never read half a file
    return stdout, stderr, code, fault


def answer(manifest: dict, binary: str, args: list[str]) -> int:
    argv = [binary, *args]
    if manifest.get("log"):
        with open(manifest["log"], "a", encoding="utf-8") as fh:
            fh.write(json.dumps(argv) + "\n")
    for rule in manifest.get("rules", []):
        if not _applies(rule, binary, args):
            continue
        mode = rule["mode"]
        if mode == "hang":
            _hang()
            return 1
        if mode == "reply":
            if rule["sleep_s"]:
                time.sleep(rule["sleep_s"])
            return _write(rule["stdout"], rule["stderr"], rule["exit"])
        if mode == "file":
            with open(rule["path"], "rb") as fh:
                while chunk := fh.read(1 << 20):
                    sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return int(rule["exit"])
        if mode == "sleep_then_world":
            time.sleep(rule["sleep_s"])
            break
        if mode == "truncate":
            out, err, code, _ = _render(manifest, argv)
            return _write(out[: int(len(out) * rule["fraction"])], err, code)
        raise SystemExit(f"standin: unknown rule mode {mode!r}")
    out, err, code, fault = _render(manifest, argv)
    if fault == "timeout":
        _hang()
        return 1
    return _write(out, err, code)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # Hand-parsed (no argparse): this runs once per call and everything after `--` is the call.
    try:
        cut = args.index("--")
        head, rest = args[:cut], args[cut + 1:]
        world_file = head[head.index("--world-file") + 1]
        binary = head[head.index("--binary") + 1]
    except (ValueError, IndexError):
        print("usage: python -m tests.scenariokit.standin --world-file W.json --binary kubectl -- ARGS...", file=sys.stderr)
        return 2
    with open(world_file, encoding="utf-8") as fh:
        manifest = json.load(fh)
    return answer(manifest, binary, rest)


if __name__ == "__main__":
    raise SystemExit(main())


# ------------------------------------------------------------------ the test-side API
# Below the entry point on purpose: a stand-in call never pays for these imports.

import shlex  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

if TYPE_CHECKING:
    from tests.scenariokit.world import World

BINARIES = ("kubectl", "istioctl")


@dataclass
class Rule:
    """A reply for calls whose argv contains every word of ``match`` (an empty match: every call).

    ``mode``: ``reply`` (stdout/stderr/exit as given), ``hang`` (sleep until killed),
    ``truncate`` (the world's stdout cut to ``fraction``), ``file`` (stdout streamed from
    ``path``), ``sleep_then_world`` (sleep ``sleep_s`` then answer from the world).
    """

    match: list[str]
    mode: str = "reply"
    stdout: str = ""
    stderr: str = ""
    exit: int = 0
    fraction: float = 0.5
    path: str = ""
    sleep_s: float = 0.0
    binary: str = ""  # "" → both binaries

    def applies(self, binary: str, args: list[str]) -> bool:
        return _applies(self.__dict__, binary, args)


@dataclass
class Standins:
    """Where the stand-ins were written, for building the CLI's environment."""

    directory: Path
    manifest: Path
    binaries: dict[str, Path] = field(default_factory=dict)
    log: Path | None = None

    def env(self, base: dict[str, str] | None = None, *, extra_path: list[str] | None = None) -> dict[str, str]:
        """An environment whose PATH is the stand-ins, then ``extra_path`` (e.g. the venv's bin) only:
        a real kubectl elsewhere on the machine can never answer for the world."""
        env = dict(os.environ if base is None else base)
        for k in ("KUBECONFIG", "ISTIO_DOCTOR_DEBUG", "NO_COLOR", "PYTHONPATH"):
            env.pop(k, None)
        env["PATH"] = os.pathsep.join([str(self.directory), *(extra_path or [])])
        env["KUBECONFIG"] = str(self.directory / "no-kubeconfig")
        return env

    def calls(self) -> list[list[str]]:
        """Every argv a stand-in was started with (binary first), in start order."""
        if self.log is None or not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line.strip()]


def world_digest(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()[:16]


def live_world(world: World) -> World:
    """``world`` as a live CLI sees it: the installed CLI judges certificates at the wall clock (a
    live run has no other), so the stand-in world's certificates are valid around the current
    hour, not around EPOCH (when every kit workload certificate, valid for a day, has long
    expired). A copy: a scenario's World is shared by other tests in this process."""
    import copy
    from datetime import UTC, datetime

    live = copy.copy(world)
    live.cert_clock = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return live


def install_standins(
    world: World,
    directory: Path,
    *,
    rules: list[Rule] | None = None,
    cache_dir: Path | None = None,
    python: str | None = None,
    missing: tuple[str, ...] = (),
) -> Standins:
    """Write ``world.pickle``, ``world.json`` and the ``kubectl``/``istioctl`` scripts into ``directory``.

    ``missing`` leaves binaries out without changing the world (so its cached replies stay
    valid); ``faults.calls["istioctl"] = "missing_istioctl"`` does the same from the world.
    """
    import pickle

    directory.mkdir(parents=True, exist_ok=True)
    # Pods are derived lazily and cached on the world: compute them now so the pickle (and its
    # digest) is the same for every call and no call pays for deriving them.
    _ = world.pods
    world = live_world(world)
    blob = pickle.dumps(world, protocol=pickle.HIGHEST_PROTOCOL)
    (directory / "world.pickle").write_bytes(blob)
    log = directory / "calls.log"
    manifest = directory / "world.json"
    manifest.write_text(json.dumps({
        "pickle": str(directory / "world.pickle"),
        "digest": world_digest(blob),
        "rules": [r.__dict__ for r in rules or []],
        "cache_dir": str(cache_dir) if cache_dir else "",
        "log": str(log),
    }), encoding="utf-8")
    py = python or sys.executable
    out = Standins(directory=directory, manifest=manifest, log=log)
    for binary in BINARIES:
        script = directory / binary
        if binary in missing or world.faults.calls.get(binary) == f"missing_{binary}":
            script.unlink(missing_ok=True)  # the binary is not installed: PATH lookup must fail
            continue
        script.write_text(
            "#!/bin/sh\n"
            f"PYTHONPATH={shlex.quote(str(ROOT))}${{PYTHONPATH:+:$PYTHONPATH}} "
            f"exec {shlex.quote(py)} {shlex.quote(str(Path(__file__).resolve()))} "
            f"--world-file {shlex.quote(str(manifest))} --binary {binary} -- \"$@\"\n",
            encoding="utf-8",
        )
        script.chmod(0o755)
        out.binaries[binary] = script
    return out


class CacheWarmingRunner:
    """Answers in-process through the very function the stand-ins use, filling their cache.

    Only an optimisation: a test diagnoses the world in-process once (imports paid once), and
    the subprocess stand-ins then find most replies cached. An argv the CLI builds differently
    is simply not cached and is rendered by the stand-in itself, with the same result.
    """

    replaying = False

    def __init__(self, manifest_path: Path) -> None:
        self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))

    async def run(self, argv: list[str], *, timeout_s: float | None = None) -> Any:
        from istio_doctor.evidence.runner import BinaryNotFound, CommandResult, CommandTimeout

        out, err, code, fault = _render(self.manifest, list(argv))
        if fault == "timeout":
            raise CommandTimeout(argv, timeout_s or 30.0)
        if fault == "missing":
            raise BinaryNotFound(argv, argv[0])
        return CommandResult(argv=tuple(argv), exit_code=code, stdout=out, stderr=err, duration_s=0.0)

    async def aclose(self) -> None:
        return None


def prewarm(standins: Standins, target: str, symptom: str = "auto") -> None:
    """Fill the reply cache by diagnosing ``target`` ("pod/NAME -n NS") in-process."""
    import asyncio

    from istio_doctor.evidence.target import Connection, Target
    from istio_doctor.run import run_diagnosis

    kind_name, _, ns = target.partition(" -n ")
    tgt = Target.parse(kind_name, ns or None)
    asyncio.run(run_diagnosis(tgt, CacheWarmingRunner(standins.manifest), Connection(), symptom=symptom))  # type: ignore[arg-type]


