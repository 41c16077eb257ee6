"""Benchmark: parse one big config dump and build all five proxy-config views.

Requirements (issue 14): (parse + every view) <= 1.3 x a bare ``json.load`` of the same file,
and peak memory <= 2 x the file size over the process's own baseline (interpreter and
imports, the "constant"). The time ratio compares like with like: ``json.load`` is the floor
any Python parser of the file pays, so the ratio measures what decoding, the model and the
views cost on top. The two are timed in alternation (best of ``--repeat`` each, CPU time), so a burst of
load on a shared machine hits both rather than one. Memory is measured in a fresh process that
does only our work: read the file, parse, build the views. Exit status 1 when a limit is broken.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gen_dump import generate_text  # noqa: E402
from istio_doctor.evidence.envoy import views as v  # noqa: E402
from istio_doctor.evidence.envoy.configdump import parse_config_dump  # noqa: E402

RATIO_LIMIT = 1.3
MEMORY_LIMIT = 2.0  # x file size, over the baseline


def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0  # pragma: no cover - not Linux


def ours(path: str) -> tuple[object, tuple[str, ...]]:
    with open(path, "rb") as fh:
        dump = parse_config_dump(fh.read(), command=f"file {path}")
    out = (v.cluster_table(dump), v.listener_table(dump), v.route_table(dump), v.endpoint_table(dump), v.secret_table(dump))
    return dump, out


def bare(path: str) -> object:
    with open(path, "rb") as fh:
        return json.load(fh)


def timed(fn: object, path: str) -> float:
    """CPU seconds of ``fn(path)``: both sides are single-threaded and CPU-bound, and CPU time
    is what a burst of other jobs on a shared machine disturbs least (wall time doubles)."""
    gc.collect()
    t0 = time.process_time()
    result = fn(path)  # type: ignore[operator]
    elapsed = time.process_time() - t0
    del result
    return elapsed


def memory_only(path: str) -> int:
    """Child process: baseline RSS after imports, then our work once; prints both."""
    gc.collect()
    base = _status_mb("VmRSS")
    dump, out = ours(path)
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a child of a big
    # parent would report the parent's peak.
    peak = _status_mb("VmHWM")
    print(json.dumps({"baseline_mb": round(base, 1), "peak_mb": round(peak, 1), "lines": sum(s.count("\n") for s in out)}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mb", type=float, default=60.0)
    ap.add_argument("--file", help="use this dump instead of generating one")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--memory-only", metavar="DUMP", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.memory_only:
        return memory_only(a.memory_only)
    path = a.file
    tmp = None
    if not path:
        tmp = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        tmp.write(generate_text(a.size_mb))
        tmp.close()
        path = tmp.name
    try:
        size = os.path.getsize(path)
        t_json = t_ours = float("inf")
        for _ in range(a.repeat):
            t_json = min(t_json, timed(bare, path))
            t_ours = min(t_ours, timed(ours, path))
        dump, out = ours(path)
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-only", path],
                              capture_output=True, text=True, check=True)
        mem = json.loads(proc.stdout)
        over = mem["peak_mb"] - mem["baseline_mb"]
        size_mb = size / 2**20
        ratio = t_ours / t_json
        print(f"file size        : {size / 1e6:.1f} MB ({path if a.file else 'generated'})")
        print(f"objects          : {len(dump.clusters)} clusters, {len(dump.listeners)} listeners, "  # type: ignore[attr-defined]
              f"{sum(len(r.virtual_hosts) for r in dump.routes)} virtual hosts, "  # type: ignore[attr-defined]
              f"{sum(len(e.endpoints) for e in dump.endpoints)} endpoints")  # type: ignore[attr-defined]
        print(f"view lines       : {sum(s.count(chr(10)) for s in out)}")
        print(f"json.load        : {t_json:.3f} s CPU (best of {a.repeat})")
        print(f"parse + 5 views  : {t_ours:.3f} s CPU (best of {a.repeat}, alternating with json.load)")
        print(f"ratio            : {ratio:.2f} (limit {RATIO_LIMIT:.2f})")
        print(f"peak RSS         : {mem['peak_mb']:.0f} MB (fresh process: baseline {mem['baseline_mb']:.0f} MB after imports)")
        print(f"peak over base   : {over:.0f} MB = {over / size_mb:.2f} x file size (limit {MEMORY_LIMIT:.2f})")
        ok = ratio <= RATIO_LIMIT and over <= MEMORY_LIMIT * size_mb
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        if tmp is not None:
            os.unlink(tmp.name)


if __name__ == "__main__":
    raise SystemExit(main())
