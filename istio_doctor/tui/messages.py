"""Messages workers post back to the UI thread. Workers never touch widgets directly:
they run in threads, and Textual widgets are only safe to change from the app's loop."""

from __future__ import annotations

from textual.message import Message

from istio_doctor.tui.listing import ContextList, PodRow
from istio_doctor.tui.services import DiagnosisLike, ProgressLike


class ContextsLoaded(Message):
    def __init__(self, listing: ContextList) -> None:
        super().__init__()
        self.listing = listing


class NamespacesLoaded(Message):
    def __init__(self, context: str | None, names: list[str]) -> None:
        super().__init__()
        self.context = context
        self.names = names


class PodsLoaded(Message):
    # ``pod_namespace``, not ``namespace``: Message.namespace is Textual's handler-name prefix
    def __init__(self, context: str | None, pod_namespace: str, pods: list[PodRow]) -> None:
        super().__init__()
        self.context = context
        self.pod_namespace = pod_namespace
        self.pods = pods


class GatherProgress(Message):
    def __init__(self, event: ProgressLike) -> None:
        super().__init__()
        self.event = event


class DiagnosisReady(Message):
    def __init__(self, generation: int, result: DiagnosisLike) -> None:
        super().__init__()
        self.generation = generation
        self.result = result


class StartProblem(Message):
    """The start screen cannot list anything: the whole sentence (preflight or listing error)."""

    def __init__(self, context: str | None, text: str) -> None:
        super().__init__()
        self.context = context
        self.text = text
