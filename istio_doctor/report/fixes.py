"""Fixes that are safe to paste: the session's connection on every command, shell commands and
manifests as separate steps, and one script form for copy (TUI ``c``) and ``--fix-script``.

Checks write fix commands for "the" cluster (``kubectl patch destinationrule ratings -n default
...``). Pasted into the on-call engineer's shell they would act on whatever context is current
there, which is not necessarily the one that was diagnosed. So every ``kubectl``/``istioctl``
in a fix gets the same ``--context`` (and ``--kubeconfig`` when one was given) as the evidence
commands, here, where fixes are assembled for a report: the checks stay unaware of sessions.

The flags go right after the binary's name (``kubectl --context prod patch ...``): both tools
accept their global flags there, and it stays correct for pipelines and heredocs, where the
end of the command is not the end of the line.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

import yaml

from istio_doctor.engine.model import Finding, Fix, FixStep
from istio_doctor.evidence.target import Connection

# a kubectl/istioctl word where a command starts: line start, after a pipe, ;, &&, || or $(
_BINARY = re.compile(r"(?P<lead>(?:^|[|;&(]\s*|\$\(\s*))(?P<bin>kubectl|istioctl)(?=\s|$)", re.M)


def connection_flags(conn: Connection, binary: str) -> list[str]:
    flags: list[str] = []
    if conn.context:
        flags += ["--context", conn.context]
    if conn.kubeconfig:
        flags += ["--kubeconfig", conn.kubeconfig]
    if binary == "istioctl" and conn.istio_namespace != "istio-system":
        flags += ["--istioNamespace", conn.istio_namespace]
    return flags


def with_session(command: str, conn: Connection) -> str:
    """``command`` with the session's connection flags after each kubectl/istioctl it runs.

    A command that already names a context or kubeconfig is left as its author wrote it.
    """
    if not command or "--context" in command or "--kubeconfig" in command:
        return command

    def add(m: re.Match[str]) -> str:
        flags = connection_flags(conn, m["bin"])
        return m["lead"] + m["bin"] + ("".join(" " + shlex.quote(f) for f in flags))

    return _BINARY.sub(add, command)


def with_session_fix(fix: Fix, conn: Connection) -> Fix:
    steps = [s.model_copy(update={"command": with_session(s.command, conn) if s.command else s.command}) for s in fix.steps]
    return fix.model_copy(update={"steps": steps})



# -- API versions the cluster serves -------------------------------------------------------------

#: The Istio API version a manifest in a fix should use, by control-plane minor release. Checks
#: write manifests in the newest form (``networking.istio.io/v1``); a cluster whose CRDs do not
#: serve that version answers ``kubectl apply`` with "no matches for kind ... in version ...",
#: at 3 a.m., in the middle of the fix. Grounded in the CRDs Istio ships
#: (istio/istio@TAG:manifests/charts/base/crds/crd-all.gen.yaml, ``spec.versions[].served``):
#: - networking.istio.io: ``v1alpha3`` only before 1.5; ``v1beta1`` served from 1.5 to today
#:   (1.30); ``v1`` served from 1.22.
#: - security.istio.io: ``v1beta1`` from 1.4/1.5 to today; ``v1`` for AuthorizationPolicy and
#:   RequestAuthentication from 1.20, for PeerAuthentication only from 1.22.
#: - telemetry.istio.io: ``v1alpha1`` from 1.12 to today; ``v1`` from 1.22.
#: With the version unknown, the form served by the widest range of releases is used.
_API_V1 = re.compile(r"(?P<lead>apiVersion:\s*[\"']?)(?P<group>networking|security|telemetry)\.istio\.io/v1(?![\w.])")


def served_api_version(group: str, version: Any | None) -> str:
    """The ``GROUP.istio.io/VERSION`` apiVersion to write for a control plane at ``version``."""
    minor = (version.major, version.minor) if version is not None else None
    if minor is not None and minor >= (1, 22):
        return f"{group}.istio.io/v1"
    if group == "telemetry":
        return "telemetry.istio.io/v1alpha1"
    if group == "networking" and minor is not None and minor < (1, 5):
        return "networking.istio.io/v1alpha3"
    return f"{group}.istio.io/v1beta1"


def with_served_api_versions(fix: Fix, version: Any | None) -> Fix:
    """``fix`` with every Istio ``apiVersion: ...istio.io/v1`` in its manifests and commands
    rewritten to the version the diagnosed control plane serves (``served_api_version``)."""
    def adapt(text: str | None) -> str | None:
        if not text:
            return text
        return _API_V1.sub(lambda m: m["lead"] + served_api_version(m["group"], version), text)

    steps = [s.model_copy(update={"command": adapt(s.command), "yaml_patch": adapt(s.yaml_patch)}) for s in fix.steps]
    return fix.model_copy(update={"steps": steps})

# -- steps ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing to do: a shell command, or a manifest to apply (never both)."""

    description: str
    command: str = ""
    manifest: str = ""  # YAML of a whole object: applied with kubectl apply -f - <<'EOF'
    fragment: str = ""  # YAML to merge by hand into the object the description names


def _is_manifest(text: str) -> bool:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        return False
    return bool(docs) and all(
        isinstance(d, dict) and d.get("apiVersion") and d.get("kind") and isinstance(d.get("metadata"), dict)
        and d["metadata"].get("name") for d in docs
    )


def steps_of(fix: Fix) -> list[Step]:
    """The fix's steps with commands and YAML split apart, in order (command first)."""
    out: list[Step] = []
    for s in fix.steps:
        out.extend(_split(s))
    return out


def _split(s: FixStep) -> list[Step]:
    parts: list[Step] = []
    if s.command:
        parts.append(Step(s.description, command=s.command))
    if s.yaml_patch:
        if _is_manifest(s.yaml_patch):
            desc = s.description if not parts else f"{s.description} (or the same change as a manifest)"
            parts.append(Step(desc, manifest=s.yaml_patch.rstrip("\n")))
        else:
            desc = s.description if not parts else f"{s.description} (or the same change, as YAML to merge)"
            parts.append(Step(desc, fragment=s.yaml_patch.rstrip("\n")))
    return parts or [Step(s.description)]


def apply_command(conn: Connection | None) -> str:
    base = "kubectl apply -f - <<'EOF'"
    return with_session(base, conn) if conn is not None else base


def report_connection(context: str | None, kubeconfig: str | None) -> Connection | None:
    """The session's connection as a report records it (None when it names none)."""
    if not context and not kubeconfig:
        return None
    try:
        return Connection(context=context, kubeconfig=kubeconfig)
    except ValueError:
        return None


def manifest_lines(manifest: str, conn: Connection | None) -> list[str]:
    """A manifest as a pasteable command: ``kubectl apply -f - <<'EOF'``, the YAML, ``EOF``."""
    return [apply_command(conn), *_heredoc_safe(manifest).splitlines(), "EOF"]


def _heredoc_safe(manifest: str) -> str:
    # A line that is exactly EOF would end the heredoc early; no manifest has one, but the
    # YAML came from a cluster object and must not be able to break the script.
    return "\n".join(("  EOF" if ln.strip() == "EOF" else ln) for ln in manifest.splitlines())


# -- the script ------------------------------------------------------------------------------------


def fix_script(findings: list[Finding], *, conn: Connection | None = None, target: str = "",
               tool_version: str = "", commented: bool = True) -> str:
    """A POSIX shell script with every fix in ``findings`` (in their order).

    A comment line per step; the commands themselves are commented out (``commented``) so
    that running the file changes nothing until the engineer has read it and removed the
    ``#`` of the steps they choose. Manifests are applied by ``kubectl apply -f - <<'EOF'``.
    """
    lead = "# " if commented else ""
    out = ["#!/bin/sh", f"# Fixes proposed by istio-doctor{' ' + tool_version if tool_version else ''}"
           + (f" for {target}" if target else "") + "."]
    if conn is not None and conn.context:
        out.append(f"# Diagnosed context: {conn.context}.")
    if commented:
        out.append("# Nothing runs as written: read each step, then uncomment (remove the leading '# ')")
        out.append("# the lines of the steps you choose.")
    out.append("set -eu")
    for f in findings:
        out += ["", f"# ==== [{f.code}] {f.title}", f"# {_one_line(f.fix.summary)}"]
        if f.target:
            out.append(f"# target: {f.target}")
        steps = steps_of(f.fix)
        for i, st in enumerate(steps, 1):
            num = f"{i}. " if len(steps) > 1 else ""
            out += ["", f"# -- {num}{_one_line(st.description)}"]
            if st.command:
                out += [lead + ln for ln in st.command.splitlines()]
            elif st.manifest:
                out += [lead + ln for ln in manifest_lines(st.manifest, conn)]
            elif st.fragment:
                out.append("#    merge into the object named above (not a whole manifest, so not applied here):")
                out += ["#      " + ln for ln in st.fragment.splitlines()]
        if f.doc_url:
            out.append(f"# docs: {f.doc_url}")
    return "\n".join(out) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())
