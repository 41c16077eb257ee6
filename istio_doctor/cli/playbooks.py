"""``playbooks list|show|validate``: what the decision trees are, and whether they load.

``validate`` is meant for CI of teams that write their own playbooks: exit 0 when every
playbook loads against the registered checks, else exit 2 with ``file:line: problem`` on stderr
(the form editors and CI annotators parse).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from istio_doctor.exitcodes import ExitCode

if TYPE_CHECKING:
    from istio_doctor.engine.playbook import Playbook


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "playbooks",
        help="list, show or validate the playbooks (decision trees)",
        description="Inspect the built-in playbooks and your own (--playbooks DIR).",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--playbooks", type=Path, action="append", default=[], metavar="DIR", help="extra playbook folder (repeatable)"
    )
    ls = actions.add_parser("list", parents=[common], help="table of playbooks: id, title, symptoms, nodes, checks")
    ls.set_defaults(handler=run_list)
    show = actions.add_parser("show", parents=[common], help="a playbook's tree and which checks scenarios cover")
    show.add_argument("id", metavar="ID", help="playbook id (see 'playbooks list')")
    show.set_defaults(handler=run_show)
    val = actions.add_parser("validate", parents=[common], help="load every playbook against the registered checks")
    val.set_defaults(handler=run_validate)


def _load(dirs: list[Path], *, checked: bool = True) -> dict[str, Playbook]:
    from istio_doctor.engine.playbook import load_playbooks
    from istio_doctor.engine.registry import load_builtin_checks

    known = set(load_builtin_checks().checks) if checked else None
    return load_playbooks(dirs, known_checks=known)


def _catalogue_codes(pb: Playbook) -> list[str]:
    """The finding codes a playbook can produce (gates only branch)."""
    return list(dict.fromkeys(n.check for n in pb.nodes if not n.check.startswith("gate.")))


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    return [fmt(headers), *(fmt(r) for r in rows)]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def fitted_list(rows: list[tuple[str, str, str, str, list[str]]], width: int) -> list[str]:
    """``playbooks list`` within ``width`` columns.

    One line per playbook (ID, NODES, CHECKS count and the TITLE, cut with an ellipsis where the
    terminal ends), then its symptoms and its check codes wrapped under it: every symptom and
    every code stays listed (they are what a reader types and greps for), and no line is wider
    than the terminal.
    """
    headers = ("ID", "NODES", "CHECKS", "TITLE")
    cells = [(pid, nodes, str(len(codes)), title) for pid, title, _symptoms, nodes, codes in rows]
    widths = [max(len(headers[i]), *(len(c[i]) for c in cells)) if cells else len(headers[i]) for i in range(3)]
    title_w = max(width - sum(widths) - 2 * 3, 10)
    indent = widths[0] + 2

    def line(c: tuple[str, ...]) -> str:
        return "  ".join([*(c[i].ljust(widths[i]) for i in range(3)), _cut(c[3], title_w)]).rstrip()

    def wrapped(words: list[str], lead: str) -> list[str]:
        out: list[str] = []
        cur = ""
        for w in words:
            if cur and indent + len(lead) + len(cur) + 1 + len(w) > width:
                out.append(" " * indent + (lead if not out else " " * len(lead)) + cur)
                cur = w
            else:
                cur = f"{cur} {w}" if cur else w
        if cur:
            out.append(" " * indent + (lead if not out else " " * len(lead)) + cur)
        return out

    out = [line(headers)]
    for row, (_, _, symptoms, _, codes) in zip(cells, rows, strict=True):
        out.append(line(row))
        out += wrapped(symptoms.split(","), "symptoms: ")
        out += wrapped(codes, "checks:   ")
    return out


def run_list(args: argparse.Namespace) -> int:
    import os
    import shutil

    books = _load(args.playbooks)
    rows = [
        (pb.id, pb.title, ",".join(pb.symptoms), str(len(pb.nodes)), _catalogue_codes(pb))
        for pb in sorted(books.values(), key=lambda b: b.id)
    ]
    # the terminal's width ($COLUMNS first, as shutil reads it); 100 when piped without COLUMNS
    width = shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() or "COLUMNS" in os.environ else 100
    print("\n".join(fitted_list(rows, max(width, 40))))
    return int(ExitCode.OK)


def recordings_root() -> Path:
    """Scenario recordings sit beside the playbooks, in a checkout and in an installed wheel."""
    from istio_doctor.engine.playbook import builtin_playbook_dir

    return builtin_playbook_dir().parent / "recordings"


def scenario_coverage(root: Path) -> dict[str, list[str]]:
    """finding code -> scenarios (``<playbook>/<scenario>``) whose expect file lists it.

    A scenario is ``recordings/<playbook>/<scenario>.yaml`` with ``<scenario>.expect.yaml``
    beside it holding ``findings: [CODES]``.
    """
    import yaml

    cover: dict[str, list[str]] = {}
    if not root.is_dir():
        return cover
    for expect in sorted(root.glob("*/*.expect.yaml")):
        scenario = expect.name[: -len(".expect.yaml")]
        if not (expect.parent / f"{scenario}.yaml").is_file():
            continue
        try:
            data = yaml.safe_load(expect.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue  # the scenario test suite reports broken expect files; coverage skips them
        findings = data.get("findings") if isinstance(data, dict) else None
        for item in findings or []:
            code = item.get("code") if isinstance(item, dict) else item
            if isinstance(code, str):
                cover.setdefault(code, []).append(f"{expect.parent.name}/{scenario}")
    return cover


def _edge(pb: Playbook, node_id: str, target: str) -> str:
    if target == "next":
        following = pb.following(node_id)
        return "end" if following == "end" else following
    return target


def run_show(args: argparse.Namespace) -> int:
    from istio_doctor.engine.catalogue import load_catalogue

    books = _load(args.playbooks)
    pb = books.get(args.id)
    if pb is None:
        from istio_doctor.cli import UsageError

        raise UsageError(f"no playbook {args.id!r}; known: {', '.join(sorted(books)) or 'none'}")
    catalogue = load_catalogue()
    out = [f"{pb.id}: {pb.title}"]
    if pb.description:
        out.append(pb.description.strip())
    out.append(f"symptoms: {', '.join(pb.symptoms)}")
    if pb.signals:
        out.append(f"signals:  {', '.join(pb.signals)}")
    out.append(f"start:    {pb.start or pb.nodes[0].id}")
    out.append("")
    rows: list[tuple[str, ...]] = []
    for n in pb.nodes:
        edges = " ".join(
            f"{label}->{_edge(pb, n.id, n.on.target(outcome))}"
            for label, outcome in (("pass", "pass"), ("fail", "fail"), ("unknown", "unknown"), ("n/a", "not_applicable"))
        )
        rows.append((n.id, n.check, n.title, edges))
    out += ["  " + ln for ln in _table(("NODE", "CHECK", "TITLE", "EDGES"), rows)]
    out.append("")
    cover = scenario_coverage(recordings_root())
    codes = _catalogue_codes(pb)
    out.append("Catalogue checks and the scenario recordings that cover them:")
    crow = []
    for code in codes:
        scenarios = cover.get(code, [])
        entry = catalogue.get(code)
        crow.append(
            (
                code,
                str(len(scenarios)),
                entry.severity.value if entry else "?",
                ", ".join(scenarios) or "(no scenario covers it)",
            )
        )
    out += ["  " + ln for ln in _table(("CHECK", "SCENARIOS", "SEVERITY", "COVERED BY"), crow)]
    print("\n".join(out))
    return int(ExitCode.OK)


def run_validate(args: argparse.Namespace) -> int:
    from istio_doctor.engine.playbook import PlaybookError

    try:
        books = _load(args.playbooks)
    except PlaybookError as exc:
        # bare file:line: problem, so editors and CI annotators can jump to it
        print(str(exc), file=sys.stderr)
        return int(ExitCode.USAGE)
    print(f"{len(books)} playbook(s) valid: {', '.join(sorted(books))}")
    return int(ExitCode.OK)
