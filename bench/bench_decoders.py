"""Which JSON decoder for config dumps: time and peak memory of each candidate on one dump.

    python bench/bench_decoders.py [--size-mb 55]     # needs orjson and msgspec installed to compare

For each decoder, in a fresh process (so each peak is its own): decode the whole dump with the
cyclic GC on (what a plain call pays) and paused, best of 3, and the peak RSS over the
process's baseline. ``msgspec-spans`` is what istio-doctor does: scan the document into
``msgspec.Raw`` spans, then decode one resource at a time and drop it (each resource is
decoded once; the scans only find where resources start and end).
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CANDIDATES = ("json", "orjson", "pydantic-core", "msgspec", "msgspec-spans")


def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _decoder(name: str):  # type: ignore[no-untyped-def]
    if name == "json":
        return json.loads
    if name == "orjson":
        import orjson

        return orjson.loads
    if name == "pydantic-core":
        import pydantic_core

        return pydantic_core.from_json
    if name == "msgspec":
        import msgspec

        return msgspec.json.Decoder().decode
    if name == "msgspec-spans":
        import msgspec
        from msgspec import Raw

        top, lst, obj, anything = (msgspec.json.Decoder(dict[str, Raw]), msgspec.json.Decoder(list[Raw]),
                                   msgspec.json.Decoder(dict[str, Raw]), msgspec.json.Decoder())

        def spans(data: bytes) -> int:
            n = 0
            for sec in lst.decode(top.decode(data)["configs"]):
                for key, value in obj.decode(sec).items():
                    if key.startswith(("dynamic_", "static_")):
                        for entry in lst.decode(value):
                            anything.decode(entry)  # decoded, modelled by the real parser, dropped
                            n += 1
            return n

        return spans
    raise ValueError(name)


def child(name: str, path: str) -> int:
    try:
        decode = _decoder(name)
    except ImportError:
        print(json.dumps({"decoder": name, "missing": True}))
        return 0
    with open(path, "rb") as fh:
        data = fh.read()
    gc.collect()
    base = _status_mb("VmRSS")
    result = decode(data)
    peak = _status_mb("VmHWM") - base
    del result
    times: dict[str, float] = {}
    for mode in ("gc_on", "gc_off"):
        best = float("inf")
        for _ in range(3):
            gc.collect()
            if mode == "gc_off":
                gc.disable()
            t0 = time.process_time()  # CPU time: steadier than wall time on a shared machine
            r = decode(data)
            best = min(best, time.process_time() - t0)
            gc.enable()
            del r
        times[mode] = best
    size_mb = len(data) / 2**20
    print(json.dumps({"decoder": name, "gc_on_s": round(times["gc_on"], 3), "gc_off_s": round(times["gc_off"], 3),
                      "peak_over_text_mb": round(peak, 1), "x_text": round(peak / size_mb, 2)}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=55.0)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(*a.child)
    from gen_dump import generate_text

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as tmp:
        tmp.write(generate_text(a.size_mb))
    try:
        size = os.path.getsize(tmp.name) / 1e6
        print(f"dump: {size:.1f} MB (bench/gen_dump.py); peak = RSS over the process after reading the text")
        print(f"{'decoder':<15} {'GC on':>7} {'GC off':>7} {'peak':>9} {'x text':>7}")
        for name in CANDIDATES:
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name, tmp.name],
                                 capture_output=True, text=True, check=True).stdout
            r = json.loads(out)
            if r.get("missing"):
                print(f"{name:<15} (not installed)")
                continue
            print(f"{name:<15} {r['gc_on_s']:>6.3f}s {r['gc_off_s']:>6.3f}s {r['peak_over_text_mb']:>6.0f} MB {r['x_text']:>6.2f}x")
    finally:
        os.unlink(tmp.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
