"""Ambient mode evidence: ztunnel, waypoints, istio-cni (parsers and typed models)."""
