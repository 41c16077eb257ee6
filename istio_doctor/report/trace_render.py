"""Render a request :class:`~istio_doctor.engine.trace.Trace`: text, JSON, YAML, Markdown.

JSON and YAML are ``trace.model_dump(mode="json")`` (an object with ``verdict``, ``cluster``
and ``hops`` first), so they validate against ``istio-doctor schema trace``. Text and Markdown
show one line per hop with its decision and why, the verbatim excerpt under it, and the
breaking hop marked; untrusted text (dump content) is sanitised like every report.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from istio_doctor.engine.trace.model import ANSWERED, BYPASSED, DELIVERED, UNKNOWN, Hop, Trace
from istio_doctor.report.markdown import _block, _cell, _code, _text
from istio_doctor.report.text import sanitize

#: one mark per hop status (the text report's marks where they mean the same)
HOP_MARKS = {"ok": "✔", "break": "✘", "warn": "!", "unknown": "‼", "info": "·"}


def carried_probe(rt: Any, excerpts: list[str]) -> bool:
    """Whether evidence quotes a probe trace's hop list (a finding it was folded into)."""
    from istio_doctor.engine.trace.model import hops_text

    texts = {hops_text([h for h in rt.trace.hops if h.proxy == p]) for p in dict.fromkeys(h.proxy for h in rt.trace.hops)}
    return any(e in texts for e in excerpts)


def trace_data(trace: Trace) -> dict[str, Any]:
    data = trace.model_dump(mode="json")
    # verdict, cluster, hops first: what a script reads
    order = ["verdict", "cluster", "hops", "details", "response", "upstream", "unknowns", "request"]
    return {k: data[k] for k in order if k in data} | {k: v for k, v in data.items() if k not in order}


def headline(trace: Trace) -> str:
    req = trace.request
    what = (f"{req.method} {req.authority or req.target}{req.path}" if req.is_http else f"TCP {req.target}") + f" → {req.target}"
    if trace.verdict == DELIVERED:
        up = trace.upstream
        where = f" to {up.address}" if up and up.address else ""
        tls = f" ({up.tls})" if up and up.tls != "unknown" else ""
        return f"{what}: delivered via {trace.cluster}{where}{tls}"
    if trace.verdict == ANSWERED:
        return f"{what}: answered by the proxy ({trace.response}, {trace.details})"
    if trace.verdict == BYPASSED:
        return f"{what}: not redirected to Envoy (no proxy on this side)"
    if trace.verdict == UNKNOWN:
        return f"{what}: could not be followed to the end" + (f" (cluster {trace.cluster})" if trace.cluster else "")
    hop = trace.breaking_hop
    at = f" at {hop.stage.value} {hop.element!r}" if hop else f" at {trace.verdict}"
    return f"{what}: breaks{at}: {trace.details} → {trace.response}"


def render_trace_text(trace: Trace, *, width: int = 100) -> str:
    lines = [sanitize(headline(trace)), ""]
    proxy = None
    for i, h in enumerate(trace.hops, 1):
        if h.proxy != proxy:
            proxy = h.proxy
            lines.append(f"[{sanitize(proxy)}]")
        lines.extend(_hop_text(i, h, width))
    if trace.unknowns:
        lines += ["", "Could not see:"]
        lines += [f"  ‼ {sanitize(u)}" for u in trace.unknowns]
    return "\n".join(lines).rstrip() + "\n"


def _hop_text(i: int, h: Hop, width: int) -> list[str]:
    mark = HOP_MARKS[h.status]
    head = f"  {mark} {i:>2}. {h.stage.value:<17} {h.element}  →  {h.decision}"
    if h.status == "break":
        head += "   ◀ breaks here"
    out = [sanitize(head)]
    out += textwrap.wrap(sanitize(h.why), width=max(40, width - 8), initial_indent="        ", subsequent_indent="        ")
    if h.excerpt:
        # excerpts are config: never wrapped or cut, so they can be searched for in the dump
        out.append("        | " + sanitize(h.excerpt))
    return out


def render_trace_markdown(trace: Trace) -> str:
    out = [f"## Request trace: {_text(trace.verdict)}", "", _text(headline(trace)), "",
           "| # | proxy | stage | element | decision | why |", "|---|---|---|---|---|---|"]
    for i, h in enumerate(trace.hops, 1):
        mark = HOP_MARKS[h.status]
        decision = f"**{_cell(h.decision)}** ◀ breaks here" if h.status == "break" else _cell(h.decision)
        out.append(f"| {mark} {i} | {_cell(h.proxy)} | {h.stage.value} | {_cell(h.element)} | {decision} | {_cell(h.why)} |")
    breaking = trace.breaking_hop
    if breaking is not None and breaking.excerpt:
        out += ["", f"Configuration that decided the break ({_code(breaking.element)}):", "",
                *_block(_pretty(breaking.excerpt), "json")]
    if trace.unknowns:
        out += ["", "Could not see:", ""] + [f"- {_text(u)}" for u in trace.unknowns]
    return "\n".join(out) + "\n"


def _pretty(excerpt: str) -> str:
    try:
        return json.dumps(json.loads(excerpt), indent=2)
    except ValueError:
        return excerpt


def render_trace_json(trace: Trace) -> str:
    return json.dumps(trace_data(trace), indent=2, ensure_ascii=False) + "\n"


def render_trace_yaml(trace: Trace) -> str:
    import yaml

    from istio_doctor.report.yamlfmt import _ReportDumper

    return str(yaml.dump(trace_data(trace), Dumper=_ReportDumper, sort_keys=False, default_flow_style=False,
                         allow_unicode=True, width=2**31 - 1))


def render_trace(trace: Trace, fmt: str, *, width: int = 100) -> str:
    """Render ``trace`` as ``fmt``, one of ``report.formats.FORMATS`` (the registry names the function)."""
    import importlib

    from istio_doctor.report.formats import FORMATS, TRACE_RENDERERS

    target = TRACE_RENDERERS.get(fmt)
    if target is None:
        raise ValueError(f"unknown output format {fmt!r}: use one of {', '.join(FORMATS)}")
    module, _, name = target.partition(":")
    fn = getattr(importlib.import_module(module), name)
    return str(fn(trace, width=width) if fmt == "text" else fn(trace))
