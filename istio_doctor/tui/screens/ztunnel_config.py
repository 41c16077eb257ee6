"""An ambient pod's ztunnel configuration, as ``istioctl ztunnel-config`` shows it: one tab per
view (workloads, services, policies, certificates, connections), rows from the ztunnel
/config_dump the diagnosis gathered for the pod's node (no new call), with the same ``/``
filter as the proxy-config browser it extends."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding

from istio_doctor.tui.screens.proxy_config import ProxyConfigScreen

#: tab id -> (title, name of the row builder in istio_doctor.evidence.ambient.ztunnel_views)
ZTUNNEL_VIEWS: dict[str, tuple[str, str]] = {
    "workloads": ("Workloads", "workload_rows"),
    "services": ("Services", "service_rows"),
    "policies": ("Policies", "policy_rows"),
    "certificates": ("Certificates", "certificate_rows"),
    "connections": ("Connections", "connection_rows"),
}


class ZtunnelConfigScreen(ProxyConfigScreen):
    HELP = (
        "The configuration of the ztunnel on the pod's node, from the ztunnel config dump gathered by the diagnosis. "
        "Tabs: workloads, services, policies, certificates, connections (istioctl ztunnel-config views). "
        "/ filters every tab; esc clears, then goes back."
    )
    BINDINGS = [
        Binding("1", "tab('workloads')", "Workloads", id="ztunnel-tab-workloads", show=False),
        Binding("2", "tab('services')", "Services", id="ztunnel-tab-services", show=False),
        Binding("3", "tab('policies')", "Policies", id="ztunnel-tab-policies", show=False),
        Binding("4", "tab('certificates')", "Certificates", id="ztunnel-tab-certificates", show=False),
        Binding("5", "tab('connections')", "Connections", id="ztunnel-tab-connections", show=False),
    ]
    VIEW_SPEC = ZTUNNEL_VIEWS

    def crumbs(self) -> list[str]:
        return ["Diagnosis", f"ztunnel-config {self.pod_label}"]

    def no_dump_message(self) -> str:
        return (f"No ztunnel config dump for {self.pod_label}: no ztunnel runs on its node, or "
                "`istioctl ztunnel-config all` failed (see the calls log, l on the diagnosis).")

    def views_module(self) -> Any:
        return self.doctor.services.ztunnel_views()
