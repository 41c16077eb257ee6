#!/usr/bin/env python3
"""Build scenario recordings from the scenario definitions in tests/scenarios/*.py.

For each ``Scenario`` the real diagnosis runs against ``WorldRunner(world)`` wrapped in a
``RecordingRunner``, so a recording holds exactly the calls the tool makes: no more (a
hand-written fixture tends to carry calls nobody makes) and no fewer (a strict replay test
fails when the tool starts making a call the recording lacks).

Writes ``recordings/<playbook>/<name>.yaml`` and ``<name>.expect.yaml``.

    python tools/build_scenarios.py              # (re)build everything
    python tools/build_scenarios.py --only NAME  # one scenario (by name or playbook/name)
    python tools/build_scenarios.py --check      # rebuild in memory; exit 1 if committed files differ

Exit codes: 0 ok, 1 check found differences (or a scenario failed to build), 2 usage / the
engine (istio_doctor.run) is not available.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import importlib
import importlib.util
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: every recording claims the same creation time: builds must be byte-identical
CREATED = datetime(2024, 7, 15, 9, 30, 0, tzinfo=timezone.utc)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def load_scenarios(scenario_dir: Path) -> list[Any]:
    from tests.scenariokit import Scenario

    out: list[Any] = []
    seen: set[tuple[str, str]] = set()
    for path in sorted(scenario_dir.glob("*.py")):
        if path.name.startswith("_"):
            continue
        if path.parent.resolve() == (ROOT / "tests" / "scenarios").resolve():
            mod = importlib.import_module(f"tests.scenarios.{path.stem}")
        else:  # a scenario directory elsewhere (kit tests): load the file as a module
            spec = importlib.util.spec_from_file_location(f"_scenarios_{path.stem}", path)
            assert spec and spec.loader
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
        for sc in getattr(mod, "SCENARIOS", []):
            if not isinstance(sc, Scenario):
                raise TypeError(f"{path}: SCENARIOS must hold tests.scenariokit.Scenario objects, got {type(sc).__name__}")
            if not _NAME.match(sc.name) or not _NAME.match(sc.playbook):
                raise ValueError(f"{path}: scenario name/playbook must be lower-case words with dashes: {sc.playbook}/{sc.name}")
            key = (sc.playbook, sc.name)
            if key in seen:
                raise ValueError(f"{path}: duplicate scenario {sc.playbook}/{sc.name}")
            seen.add(key)
            out.append(sc)
    return out


def _normalise(rec: Any) -> Any:
    """Drop wall-clock artefacts the RecordingRunner adds (start times, error durations) and
    order calls by argv (stable, so repeated identical calls keep their order)."""
    calls = []
    for c in rec.calls:
        upd: dict[str, Any] = {"started_at": None}
        if c.error is not None and c.error.kind == "binary_not_found":
            upd["duration_s"] = 0.0
        calls.append(c.model_copy(update=upd))
    calls.sort(key=lambda c: c.argv)
    return rec.model_copy(update={"calls": calls})


def build_one(sc: Any) -> tuple[str, str, Any]:
    """(recording yaml text, expect yaml text, report) for one scenario."""
    import yaml

    from istio_doctor import __version__
    from istio_doctor.evidence.recording import RecordingMetadata, dump_recording, redact_recording
    from istio_doctor.evidence.runner import RecordingRunner
    from istio_doctor.evidence.target import Connection, Target
    from istio_doctor.run import run_diagnosis
    from tests.scenariokit.runner import WorldRunner

    from tests.scenariokit.captures import CapturingRunner, sources_of

    name, _, ns = sc.target.partition(" -n ")
    target = Target.parse(name.strip(), ns.strip() or None)
    w = sc.world
    # a scenario with captures splices real outputs into the world's answers: its behaviour comes
    # from those captures (their origin is the source), not from the kit's beliefs alone
    provenance = "captured" if sc.captures else "synthetic"
    source = sources_of(sc.captures) if sc.captures else f"scenario kit: tests/scenarios {sc.playbook}/{sc.name}"
    meta = RecordingMetadata(tool_version=__version__, created=CREATED, target=str(target), context="kind-scenarios",
                             kubectl_version=w.kubectl_version, istioctl_version=str(w.istioctl),
                             istio_version=w.istio_version, description=sc.description,
                             provenance=provenance, source=source)
    inner = CapturingRunner(WorldRunner(w), sc.captures)
    rr = RecordingRunner(inner, metadata=meta)
    result = asyncio.run(run_diagnosis(target, rr, Connection(context="kind-scenarios"), symptom=sc.symptom,
                                       recording=f"{sc.name}.yaml"))
    if inner.unused:
        raise ValueError(f"{sc.playbook}/{sc.name}: capture(s) answered no call: {[c.corpus for c in inner.unused]}")
    rec = _normalise(rr.recording())
    # the same redaction save_recording applies, rendered to text so --check can compare
    text = dump_recording(redact_recording(rec))
    expect = {"description": sc.description, "target": str(target), "symptom": sc.symptom, **sc.expect.as_dict(),
              # every recording says where its behaviour comes from (docs/checks.md counts them)
              "provenance": provenance,
              "source": source if sc.captures else "tests/scenariokit (the kit's World renders every output)"}
    etext = yaml.safe_dump(expect, sort_keys=False, allow_unicode=True, width=4096)
    return text, etext, result.report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="build only this scenario (NAME or PLAYBOOK/NAME) or every scenario of a PLAYBOOK")
    ap.add_argument("--check", action="store_true", help="fail if the committed recordings differ from a rebuild")
    ap.add_argument("--scenarios", type=Path, default=ROOT / "tests" / "scenarios", help="scenario modules directory")
    ap.add_argument("--out", type=Path, default=ROOT / "recordings", help="recordings directory")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each scenario's verdict and findings")
    args = ap.parse_args(argv)

    if importlib.util.find_spec("istio_doctor.run") is None:
        print("build_scenarios: istio_doctor.run is not available yet; it runs the real diagnosis "
              "that a recording must capture, so nothing can be built without it.", file=sys.stderr)
        return 2
    if not args.scenarios.is_dir():
        print(f"build_scenarios: no scenario directory {args.scenarios}", file=sys.stderr)
        return 2
    scenarios = load_scenarios(args.scenarios)
    if args.only:
        scenarios = [s for s in scenarios if args.only in (s.name, s.playbook, f"{s.playbook}/{s.name}")]
        if not scenarios:
            print(f"build_scenarios: no scenario named {args.only!r}", file=sys.stderr)
            return 2

    t0 = time.monotonic()
    failed = 0
    diffs: list[str] = []
    for sc in scenarios:
        rec_path = args.out / sc.playbook / f"{sc.name}.yaml"
        exp_path = args.out / sc.playbook / f"{sc.name}.expect.yaml"
        try:
            text, etext, report = build_one(sc)
        except Exception as e:  # noqa: BLE001 - report every broken scenario, then fail
            failed += 1
            print(f"FAILED {sc.playbook}/{sc.name}: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        if args.verbose:
            codes = [f.code for f in report.findings]
            print(f"{sc.playbook}/{sc.name}: {report.verdict.value} {codes}")
        if args.check:
            for path, new in ((rec_path, text), (exp_path, etext)):
                old = path.read_text(encoding="utf-8") if path.exists() else ""
                if old != new:
                    diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), str(path), "rebuilt", lineterm="", n=1))
                    diffs.append("\n".join(diff[:40]))
        else:
            rec_path.parent.mkdir(parents=True, exist_ok=True)
            rec_path.write_text(text, encoding="utf-8")
            exp_path.write_text(etext, encoding="utf-8")
    took = time.monotonic() - t0
    if args.check and diffs:
        print(f"{len(diffs)} recording file(s) out of sync with the scenario kit; run tools/build_scenarios.py:", file=sys.stderr)
        for d in diffs[:10]:
            print(d, file=sys.stderr)
        return 1
    verb = "checked" if args.check else "built"
    print(f"{verb} {len(scenarios) - failed} scenario(s) in {took:.1f}s" + (f", {failed} failed" if failed else ""),
          file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
