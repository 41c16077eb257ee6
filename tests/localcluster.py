"""Real local servers for the first-five-minutes matrix (tests/test_first_five_minutes.py).

The real kubectl talks to these over TCP, so every message the tool classifies is kubectl's own:

* ``HangingServer``: a socket that accepts connections and never answers (a VPN that dropped
  mid-session, a firewall that black-holes the API server);
* ``StaticHttpServer``: an HTTP server that is not Kubernetes (a proxy's 404 page, a web UI);
* ``FakeApiServer``: just enough of a Kubernetes API server for ``kubectl get/logs -o json``:
  ``/version``, legacy discovery (``/api``, ``/apis``, the group versions), one namespace with one
  pod, empty lists for everything else, ``403 Forbidden`` on the resources named, and paths that
  hang (to interrupt a gathering in the middle).

Each runs in a daemon thread on 127.0.0.1 and an ephemeral port; ``close()`` stops it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class HangingServer:
    """Accepts TCP connections and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)  # kept open: the client waits for an answer that never comes

    def close(self) -> None:
        self._stop = True
        for c in self._conns:
            c.close()
        self.sock.close()


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        # a client killed mid-request (Ctrl-C, a timeout) is expected here, not worth a traceback
        self.httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class StaticHttpServer(_Server):
    """Every GET answers ``status`` with a plain-text body, like a reverse proxy's 404 page."""

    def __init__(self, status: int = 404, body: str = "404 page not found\n") -> None:
        status_, body_ = status, body.encode()

        class H(_Quiet):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._send(status_, body_, "text/plain; charset=utf-8")

        super().__init__(H)


# -- a small Kubernetes API server ---------------------------------------------------------------

_CORE = [("pods", "Pod", True), ("pods/log", "Pod", True), ("pods/exec", "PodExecOptions", True),
         ("services", "Service", True), ("namespaces", "Namespace", False), ("configmaps", "ConfigMap", True),
         ("events", "Event", True), ("endpoints", "Endpoints", True)]
_GROUPS = {
    "apps/v1": [("deployments", "Deployment", True), ("replicasets", "ReplicaSet", True)],
    "discovery.k8s.io/v1": [("endpointslices", "EndpointSlice", True)],
    "admissionregistration.k8s.io/v1": [("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False)],
    "apiextensions.k8s.io/v1": [("customresourcedefinitions", "CustomResourceDefinition", False)],
}
_VERBS = ["get", "list", "watch"]


def _resource_list(group_version: str, resources: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [{"name": n, "singularName": "", "namespaced": ns, "kind": k, "verbs": _VERBS}
                          for n, k, ns in resources]}


class FakeApiServer(_Server):
    """One namespace, one pod without a sidecar, an istiod; 403 on ``forbidden`` resource names
    (``events``, ...); requests whose path contains a ``hang`` fragment never get an answer."""

    NAMESPACE = "shop"
    POD = "web-7d4b9c8f6-x2k9p"
    USER = "oncall"

    def __init__(self, *, forbidden: tuple[str, ...] = (), hang: tuple[str, ...] = ()) -> None:
        self.forbidden = set(forbidden)
        self.hang = tuple(hang)
        self.requests: list[str] = []
        self.hung = threading.Event()
        owner = self

        class H(_Quiet):
            def do_GET(self) -> None:  # noqa: N802
                owner.requests.append(self.path)
                path = self.path.split("?", 1)[0]
                if any(h in path for h in owner.hang):
                    owner.hung.set()
                    time.sleep(3600)  # the client gives up (timeout) or is killed (Ctrl-C)
                    return
                code, body = owner.answer(path)
                ctype = "text/plain" if path.endswith("/log") and code == 200 else "application/json"
                self._send(code, body if isinstance(body, bytes) else json.dumps(body).encode(), ctype)

        super().__init__(H)

    # -- answers ---------------------------------------------------------------------------------
    def answer(self, path: str) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            return 200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0", "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        if path == "/api/v1":
            return 200, _resource_list("v1", _CORE)
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                 "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}} for gv in _GROUPS]}
        if len(parts) == 3 and parts[0] == "apis" and f"{parts[1]}/{parts[2]}" in _GROUPS:
            gv = f"{parts[1]}/{parts[2]}"
            return 200, _resource_list(gv, _GROUPS[gv])
        return self._object_or_list(parts)

    def _forbidden(self, resource: str, verb: str, ns: str | None, group: str = "") -> tuple[int, Any]:
        where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
        msg = f'{resource} is forbidden: User "{self.USER}" cannot {verb} resource "{resource}" in API group "{group}"{where}'
        return 403, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": msg,
                     "reason": "Forbidden", "details": {"kind": resource}, "code": 403}

    def _not_found(self, resource: str, name: str) -> tuple[int, Any]:
        return 404, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": f'{resource} "{name}" not found', "reason": "NotFound",
                     "details": {"name": name, "kind": resource}, "code": 404}

    def _object_or_list(self, parts: list[str]) -> tuple[int, Any]:
        # /api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUB]] or /apis/G/V[/namespaces/NS]/RESOURCE[/NAME]
        rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
        group = "" if parts[:1] == ["api"] else parts[1]
        ns = None
        if rest[:1] == ["namespaces"] and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        if not rest:
            return 404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": "the server could not find the requested resource"}
        resource = rest[0]
        if resource == "namespaces" and ns is None and len(rest) == 2:
            name = rest[1]
            if name not in (self.NAMESPACE, "default", "istio-system"):
                return self._not_found("namespaces", name)
            return 200, self._namespace(name)
        if resource in self.forbidden:
            return self._forbidden(resource, "list" if len(rest) == 1 else "get", ns, group)
        if len(rest) == 1:
            return 200, {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"},
                         "items": self._items(resource, ns)}
        name = rest[1]
        if resource == "pods" and len(rest) == 3 and rest[2] == "log":
            if name != self.POD or ns != self.NAMESPACE:
                return self._not_found("pods", name)
            return 200, b"listening on :8080\n"
        if resource == "pods" and name == self.POD and ns == self.NAMESPACE and len(rest) == 2:
            return 200, self._pod()
        return self._not_found(resource, name)

    def _items(self, resource: str, ns: str | None) -> list[dict[str, Any]]:
        if resource == "namespaces":
            return [self._namespace(n) for n in ("default", "istio-system", self.NAMESPACE)]
        if resource == "pods" and ns in (None, self.NAMESPACE):
            return [self._pod()]
        return []

    @staticmethod
    def _namespace(name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                "status": {"phase": "Active"}}

    def _pod(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.POD, "namespace": self.NAMESPACE, "uid": "0c2f6e0e-8f5c-4d3e-9d0a-6c1f2b3a4d5e",
                         "labels": {"app": "web"}, "creationTimestamp": "2024-05-14T09:00:00Z"},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 8080}]}],
                     "nodeName": "node-1", "serviceAccountName": "default"},
            "status": {"phase": "Running", "podIP": "10.244.1.7",
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "web", "ready": True, "restartCount": 0, "image": "nginx:1.27",
                                              "state": {"running": {"startedAt": "2024-05-14T09:00:05Z"}}}]},
        }


# -- kubeconfig files ------------------------------------------------------------------------------


def write_kubeconfig(path: Path, server: str, *, contexts: tuple[str, ...] = ("ctx",), current: str | None = "ctx") -> Path:
    """A kubeconfig whose every context points at ``server`` with a (fake) bearer token: without a
    credential kubectl would prompt for a username on a terminal instead of dialing."""
    ctx_yaml = "".join(f"- name: {c}\n  context:\n    cluster: local\n    user: oncall\n" for c in contexts)
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: local\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\n"
        f"contexts:\n{ctx_yaml}"
        "users:\n- name: oncall\n  user:\n    token: not-a-real-token\n"
        + (f"current-context: {current}\n" if current else ""),
        encoding="utf-8",
    )
    return path
