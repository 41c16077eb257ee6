"""The decision tree: one branch per playbook, one leaf per node, coloured by outcome.

Like k9s xray, a branch label carries the worst outcome of its leaves, so a failure is
visible even when the branch is collapsed; branches with failures start expanded.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import events
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from istio_doctor.engine.model import Outcome
from istio_doctor.report.model import NodeReport, PlaybookReport, Report
from istio_doctor.tui.present import INFO_GLYPH, OUTCOME_GLYPH, branch_counts, worst_outcome

_FAULTS = (Outcome.FAIL, Outcome.UNKNOWN)


@dataclass(frozen=True)
class NodeRef:
    playbook: str
    node: str | None  # None for a playbook branch


def _haystack(node: NodeReport) -> str:
    return " ".join([node.title, node.check, node.finding or "", node.observation or "", node.summary]).casefold()


def leaf_label(node: NodeReport) -> Text:
    if node.observation:
        # an informational triage result: not a failure, so no ✘
        t = Text()
        t.append(f"{INFO_GLYPH} ", style="blue")
        t.append(node.title)
        return t
    glyph, style = OUTCOME_GLYPH[node.outcome]
    t = Text()
    t.append(f"{glyph} ", style=style)
    t.append(node.title, style=style if node.outcome is not Outcome.PASS else "")
    if node.finding:
        t.append(f"  {node.finding}", style="bold red")
    return t


def branch_label(pb: PlaybookReport) -> Text:
    glyph, style = OUTCOME_GLYPH[worst_outcome(pb.nodes)]
    t = Text()
    t.append(f"{glyph} ", style=style)
    t.append(pb.title, style="bold")
    counts = branch_counts(pb)
    if counts:
        t.append(f"  {counts}", style=style)
    return t


class DecisionTree(Tree[NodeRef]):
    """Built from a Report; ``faults_only`` hides passing, n/a and skipped nodes.

    Labels fit the tree's width: one cut short ends in ``…`` (never mid-word without a mark),
    and the highlighted node's full title, check and summary are in the pane beside it.
    """

    def __init__(self, **kw: object) -> None:
        super().__init__("playbooks", **kw)  # type: ignore[arg-type]
        self.show_root = False
        self.guide_depth = 3
        self._report: Report | None = None
        self.faults_only = False
        #: the `/` filter: only nodes whose text contains it
        self.needle = ""
        self._leaves: dict[tuple[str, str], TreeNode[NodeRef]] = {}

    def render_label(self, node: TreeNode[NodeRef], base_style: Style, style: Style) -> Text:
        text = super().render_label(node, base_style, style)
        width = self.scrollable_content_region.width
        if width <= 0:
            return text
        depth = 0
        parent = node.parent
        while parent is not None and parent is not self.root:
            depth += 1
            parent = parent.parent
        room = max(width - depth * self.guide_depth, 4)
        if text.cell_len > room:
            text = text.copy()
            text.truncate(room, overflow="ellipsis")
        return text

    def _on_resize(self, event: events.Resize) -> None:
        super()._on_resize(event)
        self._invalidate()  # labels are fitted to the width: lay them out again

    def load(self, report: Report, *, faults_only: bool | None = None, needle: str | None = None) -> None:
        """(Re)build from ``report``; ``needle`` keeps the nodes whose title, check, finding or
        summary contain it (case-insensitive), with every node of a playbook whose title does."""
        self._report = report
        if faults_only is not None:
            self.faults_only = faults_only
        if needle is not None:
            self.needle = needle.strip()
        self.clear()
        self._leaves.clear()
        want = self.needle.casefold()
        for pb in report.playbooks:
            nodes = [n for n in pb.nodes if not self.faults_only or n.outcome in _FAULTS]
            if want and want not in pb.title.casefold() and want not in pb.id.casefold():
                nodes = [n for n in nodes if want in _haystack(n)]
            if (self.faults_only or want) and not nodes:
                continue
            faulty = any(n.outcome in _FAULTS for n in pb.nodes)
            branch = self.root.add(branch_label(pb), data=NodeRef(pb.id, None),
                                   expand=faulty or bool(want) or len(report.playbooks) == 1)
            for n in nodes:
                self._leaves[(pb.id, n.id)] = branch.add_leaf(leaf_label(n), data=NodeRef(pb.id, n.id))
        if not self._leaves and want:
            self.root.add_leaf(Text(f"no node matches {self.needle!r}", style="dim"))
        elif not self._leaves and self.faults_only:
            self.root.add_leaf(Text("no failing or unknown nodes", style="dim"))

    def leaf(self, playbook: str, node: str) -> TreeNode[NodeRef] | None:
        return self._leaves.get((playbook, node))

    def focus_node(self, playbook: str, node: str) -> bool:
        """Expand the branch and move the cursor to the node; False when it is hidden."""
        leaf = self.leaf(playbook, node)
        if leaf is None:
            return False
        if leaf.parent is not None:
            leaf.parent.expand()
        # A node's line is only known after the tree lays its lines out again; reading
        # last_line forces that now, so the cursor lands on the node in this same call.
        _ = self.last_line
        self.move_cursor(leaf)
        self.scroll_to_node(leaf, animate=False)
        return True

    def first_fault(self) -> tuple[str, str] | None:
        if self._report is None:
            return None
        for o in _FAULTS:
            for pb in self._report.playbooks:
                for n in pb.nodes:
                    if n.outcome is o and (pb.id, n.id) in self._leaves:
                        return pb.id, n.id
        return None
