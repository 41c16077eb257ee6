"""The four performance figures of istio-doctor, measured in one run on this machine.

    python bench/run.py            # prints a table, writes bench/out/results.json; exit 1 if a target is missed

1. ``proxy-config``: parse a >= 50 MB synthetic sidecar dump and build all five views, vs a bare
   ``json.load`` of the same file (ratio <= 2.0, peak RSS <= 1 GB). Runs ``bench_proxyconfig.py``
   in its own process so its peak memory is its own.
2. replay latency: the pod recording with the most calls, replayed with its recorded per-call
   latencies (``ReplayRunner(simulate_latency=True)``), vs the sum of those latencies (<= 0.3):
   what concurrency buys over running the calls one after another.
3. ``istio-doctor --help`` wall time, best of 5 in a fresh process (<= 0.25 s).
4. a 500-pod namespace scan replayed from a recording (<= 5 s, calls <= 40 + 8 x flagged pods):
   the world is generated with the scenario kit, diagnosed once through ``WorldRunner`` into
   ``bench/out/ns500.yaml.gz``, then replayed by the installed CLI.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

TARGETS = {"proxy_config_ratio": 2.0, "proxy_config_peak_mb": 1024.0, "replay_latency_ratio": 0.3,
           "help_s": 0.25, "ns500_s": 5.0, "trace_ratio": 1.2}


def cli() -> list[str]:
    script = Path(sys.executable).parent / "istio-doctor"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "istio_doctor"]


# -- 1. proxy-config views -----------------------------------------------------------------------


def bench_proxy_config(size_mb: float) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_proxyconfig.py"), "--size-mb", str(size_mb)],
                          capture_output=True, text=True, cwd=ROOT)
    text = proc.stdout

    def num(label: str) -> float:
        m = re.search(rf"^{label}\s*:\s*([0-9.]+)", text, re.M)
        if m is None:
            raise RuntimeError(f"bench_proxyconfig.py printed no {label!r}:\n{text}\n{proc.stderr}")
        return float(m.group(1))

    return {"size_mb": num("file size"), "json_load_s": num("json.load"), "views_s": num("parse \\+ 5 views"),
            "ratio": num("ratio"), "peak_mb": num("peak RSS")}


# -- 1b. request trace ------------------------------------------------------------------------


def bench_trace(size_mb: float) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_trace.py"), "--size-mb", str(size_mb)],
                          capture_output=True, text=True, cwd=ROOT)
    text = proc.stdout

    def num(label: str) -> float:
        m = re.search(rf"^{label}\s*:\s*([0-9.]+)", text, re.M)
        if m is None:
            raise RuntimeError(f"bench_trace.py printed no {label!r}:\n{text}\n{proc.stderr}")
        return float(m.group(1))

    return {"size_mb": num("file size"), "requests": int(num("requests traced")), "load_s": num("load"),
            "load_trace_s": num("load \\+ trace"), "trace_s": num("trace alone"), "ratio": num("ratio")}


# -- 2. replay with recorded latencies ---------------------------------------------------------


def busiest_pod_recording() -> Path:
    """The pod recording with the most calls (counted without parsing 60 files of YAML)."""
    best: tuple[int, str] = (-1, "")
    for p in sorted((ROOT / "recordings").glob("*/*.yaml")):
        if p.name.endswith(".expect.yaml"):
            continue
        text = p.read_text(encoding="utf-8")
        target = re.search(r"^  target: (.*)$", text, re.M)
        if not target or not target.group(1).strip("'\"").startswith("pod/"):
            continue
        best = max(best, (len(re.findall(r"^- argv:", text, re.M)), str(p)))
    if best[0] < 0:
        raise RuntimeError("no pod recording under recordings/")
    return Path(best[1])


def bench_replay_latency() -> dict[str, Any]:
    from istio_doctor.cli.diagnose_cmd import target_from_recording_text
    from istio_doctor.evidence.recording import load_recording
    from istio_doctor.evidence.runner import ReplayRunner
    from istio_doctor.evidence.target import Connection
    from istio_doctor.run import run_diagnosis

    path = busiest_pod_recording()
    rec = load_recording(path)
    target = target_from_recording_text(rec.metadata.target)
    runner = ReplayRunner(rec, strict=False, simulate_latency=True)
    t0 = time.perf_counter()
    result = asyncio.run(run_diagnosis(target, runner, Connection()))
    wall = time.perf_counter() - t0
    # the latencies of the calls this diagnosis actually made (a recording may hold a few more)
    made = sum(c.duration_s for c in result.report.calls)
    return {"recording": str(path.relative_to(ROOT)), "calls": len(result.report.calls), "recorded_calls": len(rec.calls),
            "sum_latency_s": round(made, 3), "wall_s": round(wall, 3), "ratio": round(wall / made, 3) if made else None,
            "top_finding": result.report.findings[0].code if result.report.findings else None}


# -- 3. --help -------------------------------------------------------------------------------------


def bench_help(repeat: int = 5) -> dict[str, Any]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([*cli(), "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return {"best_s": round(min(times), 4), "all_s": [round(t, 4) for t in times], "command": " ".join(cli()) + " --help"}


# -- 4. a 500-pod namespace ----------------------------------------------------------------------

NS = "shop"


def ns500_world() -> tuple[Any, dict[str, str]]:
    """bookinfo + 100 deployments x 5 replicas in an injected namespace, a handful broken."""
    from tests.scenariokit.bookinfo import bookinfo_world
    from tests.scenariokit.world import Container, Namespace, Port, Probe, Service, ServicePort, Workload

    w = bookinfo_world()
    w.namespaces.append(Namespace(NS, {"istio-injection": "enabled"}))
    broken: dict[str, str] = {}
    for i in range(100):
        name = f"svc-{i:03d}"
        c = Container(name, f"registry.example.com/shop/{name}:1.4.{i % 7}", ports=[Port(8080)])
        wl = Workload(name, NS, [c], labels={"app": name, "version": "v1"}, service_account=name, replicas=5, node_index=i % 3)
        if i in (7, 42):
            c.ready, c.readiness = False, Probe(path="/healthz", port=8080)
            broken[name] = "not ready"
        elif i in (13, 77):
            wl.predates_injection = True
            broken[name] = "no sidecar in an injected namespace"
        elif i == 99:
            c.ready, c.restarts = False, 23
            broken[name] = "crash looping"
        w.workloads.append(wl)
        w.services.append(Service(name, NS, [ServicePort(8080, "http")], selector={"app": name}, labels={"app": name}))
    return w, broken


def record_ns500(path: Path) -> dict[str, Any]:
    from istio_doctor import __version__
    from istio_doctor.evidence.recording import RecordingMetadata
    from istio_doctor.evidence.runner import RecordingRunner
    from istio_doctor.evidence.target import Connection, Target
    from istio_doctor.run import run_diagnosis
    from tests.scenariokit.runner import WorldRunner

    w, broken = ns500_world()
    pods = [p for p in w.pods if p.namespace == NS]
    meta = RecordingMetadata(tool_version=__version__, created=datetime.now(UTC), target=f"ns/{NS}", context="bench")
    rec = RecordingRunner(WorldRunner(w), metadata=meta)
    t0 = time.perf_counter()
    asyncio.run(run_diagnosis(Target.parse(f"ns/{NS}"), rec, Connection(context="bench")))
    rec.save(path)
    return {"pods": len(pods), "broken_workloads": len(broken), "record_s": round(time.perf_counter() - t0, 2),
            "recording_bytes": path.stat().st_size}


def bench_ns500() -> dict[str, Any]:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "ns500.yaml.gz"
    info = record_ns500(path)
    best = float("inf")
    report: dict[str, Any] = {}
    for _ in range(3):
        t0 = time.perf_counter()
        proc = subprocess.run([*cli(), "diagnose", "--replay", str(path), "-o", "json"], capture_output=True, text=True, cwd=ROOT)
        best = min(best, time.perf_counter() - t0)
        report = json.loads(proc.stdout)
    flagged = sum(1 for wl in report["workloads"] for _ in ([1] if wl["flagged"] else []))
    flagged_pods = sum(len(wl["pods"]) for wl in report["workloads"] if wl["flagged"])
    calls = len(report["calls"])
    return {**info, "replay_s": round(best, 3), "calls": calls, "flagged_workloads": flagged, "flagged_pods": flagged_pods,
            "call_budget": 40 + 8 * flagged_pods, "exit_code": report["exit_code"],
            "findings": sorted({f["code"] for f in report["findings"]})}


# -- main ------------------------------------------------------------------------------------------


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=55.0, help="size of the synthetic config dump (>= 50)")
    a = ap.parse_args()
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                                           "at": datetime.now(UTC).isoformat(timespec="seconds")}}
    print("measuring proxy-config views ...", file=sys.stderr)
    results["proxy_config"] = bench_proxy_config(a.size_mb)
    print("measuring request traces ...", file=sys.stderr)
    results["trace"] = bench_trace(a.size_mb)
    print("measuring replay with recorded latencies ...", file=sys.stderr)
    results["replay_latency"] = bench_replay_latency()
    print("measuring --help ...", file=sys.stderr)
    results["help"] = bench_help()
    print("recording and replaying a 500-pod namespace ...", file=sys.stderr)
    results["ns500"] = bench_ns500()

    pc, rl, hp, ns = results["proxy_config"], results["replay_latency"], results["help"], results["ns500"]
    tr = results["trace"]
    rows = [
        ("proxy-config views / json.load", f"{pc['ratio']:.2f}x ({pc['views_s']:.2f} s / {pc['json_load_s']:.2f} s, {pc['size_mb']:.0f} MB)",
         f"<= {TARGETS['proxy_config_ratio']}x", pc["ratio"] <= TARGETS["proxy_config_ratio"]),
        ("proxy-config peak RSS", f"{pc['peak_mb']:.0f} MB", "<= 1024 MB", pc["peak_mb"] <= TARGETS["proxy_config_peak_mb"]),
        ("load + trace / load", f"{tr['ratio']:.2f}x ({tr['load_trace_s']:.2f} s / {tr['load_s']:.2f} s, {tr['requests']} requests, "
         f"trace alone {tr['trace_s']:.2f} s)", f"<= {TARGETS['trace_ratio']}x", tr["ratio"] <= TARGETS["trace_ratio"]),
        ("replay wall / sum of latencies", f"{rl['ratio']:.2f} ({rl['wall_s']:.2f} s / {rl['sum_latency_s']:.2f} s, {rl['calls']} calls)",
         f"<= {TARGETS['replay_latency_ratio']}", rl["ratio"] is not None and rl["ratio"] <= TARGETS["replay_latency_ratio"]),
        ("istio-doctor --help", f"{hp['best_s']:.3f} s (best of 5)", f"<= {TARGETS['help_s']} s", hp["best_s"] <= TARGETS["help_s"]),
        ("500-pod namespace replay", f"{ns['replay_s']:.2f} s ({ns['pods']} pods)", f"<= {TARGETS['ns500_s']} s",
         ns["replay_s"] <= TARGETS["ns500_s"]),
        ("500-pod namespace calls", f"{ns['calls']} calls, {ns['flagged_pods']} flagged pods", f"<= {ns['call_budget']}",
         ns["calls"] <= ns["call_budget"]),
    ]
    results["checks"] = [{"figure": r[0], "value": r[1], "target": r[2], "ok": r[3]} for r in rows]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"{'figure':<{w0}}  {'measured':<{w1}}  target")
    for name, value, target, ok in rows:
        print(f"{name:<{w0}}  {value:<{w1}}  {target:<12} {'ok' if ok else 'MISSED'}")
    print(f"\nreplayed recording: {rl['recording']}; 500-pod recording: {OUT / 'ns500.yaml.gz'} "
          f"({ns['recording_bytes'] / 1e6:.1f} MB); results: {OUT / 'results.json'}")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
