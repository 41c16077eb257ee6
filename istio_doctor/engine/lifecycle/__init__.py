"""Time as evidence: the pod's lifecycle timeline and the version- and place-aware start-up,
shutdown and CNI semantics the lifecycle checks use (``engine/checks/lifecycle.py``)."""

from istio_doctor.engine.lifecycle.build import build_timeline, pod_timeline, with_local_clock
from istio_doctor.engine.lifecycle.model import Clock, ClockSkew, ContainerLine, Moment, MomentKind, PodTimeline

__all__ = ["Clock", "ClockSkew", "ContainerLine", "Moment", "MomentKind", "PodTimeline", "build_timeline",
           "pod_timeline", "with_local_clock"]
