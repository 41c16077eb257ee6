"""istio-doctor: diagnose failing services in an Istio mesh.

Layers, one direction: evidence -> engine -> report (renderers) -> cli / tui.
Only ``istio_doctor.tui`` imports Textual; a test enforces it.
"""

__version__ = "0.1.0"
