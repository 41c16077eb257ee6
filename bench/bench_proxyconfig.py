"""Benchmark: parse one big config dump and build all five proxy-config views.

Requirement: (parse + every view) ≤ 2.0 × a bare ``json.load`` of the same file, and peak
memory < 1 GB. The ratio compares like with like: ``json.load`` is the floor any parser pays,
so the ratio measures what our model and views add on top. Exit status 1 when a limit is broken.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gen_dump import generate_text  # noqa: E402
from istio_doctor.evidence.envoy import views as v  # noqa: E402
from istio_doctor.evidence.envoy.configdump import parse_config_dump  # noqa: E402


def _best(fn, repeat: int) -> tuple[float, object]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
        result = result if repeat == 1 else None
    return best, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mb", type=float, default=60.0)
    ap.add_argument("--file", help="use this dump instead of generating one")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    path = a.file
    tmp = None
    if not path:
        tmp = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        tmp.write(generate_text(a.size_mb))
        tmp.close()
        path = tmp.name
    try:
        size = os.path.getsize(path)

        def bare() -> object:
            with open(path, "rb") as fh:
                return json.load(fh)

        def ours() -> object:
            with open(path, "rb") as fh:
                dump = parse_config_dump(fh.read(), command=f"file {path}")
            out = (
                v.cluster_table(dump),
                v.listener_table(dump),
                v.route_table(dump),
                v.endpoint_table(dump),
                v.secret_table(dump),
            )
            return dump, out

        t_json, _ = _best(bare, a.repeat)
        t_ours, _ = _best(ours, a.repeat)
        dump, out = ours()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
        ratio = t_ours / t_json
        print(f"file size        : {size / 1e6:.1f} MB ({path if a.file else 'generated'})")
        print(f"objects          : {len(dump.clusters)} clusters, {len(dump.listeners)} listeners, "
              f"{sum(len(r.virtual_hosts) for r in dump.routes)} virtual hosts, "
              f"{sum(len(e.endpoints) for e in dump.endpoints)} endpoints")
        print(f"view lines       : {sum(s.count(chr(10)) for s in out)}")
        print(f"json.load        : {t_json:.3f} s (best of {a.repeat})")
        print(f"parse + 5 views  : {t_ours:.3f} s (best of {a.repeat})")
        print(f"ratio            : {ratio:.2f} (limit 2.00)")
        print(f"peak RSS         : {peak_mb:.0f} MB (limit 1024)")
        ok = ratio <= 2.0 and peak_mb < 1024
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        if tmp is not None:
            os.unlink(tmp.name)


if __name__ == "__main__":
    raise SystemExit(main())
