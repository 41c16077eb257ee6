"""WorldRunner: a Runner that answers kubectl/istioctl argv from a World, like the real tools would.

It answers every argv ``istio_doctor.evidence.commands`` can build (and their fallbacks),
including the failures a real cluster gives: RBAC Forbidden, NotFound, an unreachable API
server, a missing binary, a flag the istioctl version does not know, and the errors of
asking a pod without sidecar for proxy evidence. Unknown argv fail loudly (exit 1 with a
kubectl/istioctl-style message), never with a silent empty answer.

Durations are deterministic per argv (a hash picks a value in the range the real call takes)
so recordings are byte-stable across builds.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from istio_doctor.evidence.runner import BinaryNotFound, CommandResult, CommandTimeout, Runner
from tests.scenariokit import ambient_calls, lifecycle, render_envoy, render_istioctl, render_kube, render_logs, render_waypoint
from tests.scenariokit.world import Pod, Ver, World, labels_match

_CONN_FLAGS = {"--context", "--kubeconfig", "--istioNamespace", "-i"}

#: kubectl resource words → canonical plural
_KINDS = {
    "pod": "pods", "pods": "pods", "po": "pods",
    "service": "services", "services": "services", "svc": "services",
    "namespace": "namespaces", "namespaces": "namespaces", "ns": "namespaces",
    "endpointslices": "endpointslices", "endpointslice": "endpointslices",
    "events": "events", "event": "events",
    "deployments": "deployments", "deployment": "deployments", "deploy": "deployments",
    "replicasets": "replicasets", "replicaset": "replicasets", "rs": "replicasets",
    "configmaps": "configmaps", "configmap": "configmaps", "cm": "configmaps",
    "mutatingwebhookconfigurations": "mutatingwebhookconfigurations",
    "customresourcedefinitions": "customresourcedefinitions", "crd": "customresourcedefinitions",
}
_ISTIO_KINDS = {
    "virtualservices.networking.istio.io": "VirtualService",
    "destinationrules.networking.istio.io": "DestinationRule",
    "gateways.networking.istio.io": "Gateway",
    "serviceentries.networking.istio.io": "ServiceEntry",
    "sidecars.networking.istio.io": "Sidecar",
    "peerauthentications.security.istio.io": "PeerAuthentication",
    "authorizationpolicies.security.istio.io": "AuthorizationPolicy",
    "requestauthentications.security.istio.io": "RequestAuthentication",
    "envoyfilters.networking.istio.io": "EnvoyFilter",
    "telemetries.telemetry.istio.io": "Telemetry",
    "gateways.gateway.networking.k8s.io": "K8sGateway",
    "httproutes.gateway.networking.k8s.io": "HTTPRoute",
}


def _duration(argv: tuple[str, ...], lo: float, hi: float) -> float:
    h = int(hashlib.sha256("\0".join(argv).encode()).hexdigest()[:8], 16)
    return round(lo + (hi - lo) * (h % 1000) / 1000, 3)


class _Reply(Exception):
    def __init__(self, stdout: str = "", stderr: str = "", code: int = 0) -> None:
        self.stdout, self.stderr, self.code = stdout, stderr, code


class WorldRunner(Runner):
    """Answers calls from a World. Thread/async safe: rendering is pure apart from caches."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.calls: list[tuple[str, ...]] = []

    @property
    def evidence_time(self) -> datetime:
        """The world's clock (``EPOCH``, or the stand-ins' ``cert_clock``): certificates are
        rendered valid around it, so the gatherer judges them at that instant, as a replay of the
        recording does. Judged at the wall clock, every kit workload certificate (valid for a day
        around EPOCH) would be expired."""
        return self.world.cert_clock

    async def run(self, argv: list[str], *, timeout_s: float | None = None) -> CommandResult:
        return self.run_sync(argv, timeout_s=timeout_s)

    def run_sync(self, argv: list[str] | tuple[str, ...], *, timeout_s: float | None = None) -> CommandResult:
        argv_t = tuple(argv)
        self.calls.append(argv_t)
        args = _strip_conn(list(argv_t))
        binary = args[0] if args else ""
        # kubectl config reads the local kubeconfig, never the cluster: no cluster fault reaches it
        local = args[1:2] == ["config"]
        fault = self._fault(args)
        if local and fault not in (None, "missing_kubectl", "timeout"):
            fault = None
        if fault == f"missing_{binary}":
            hint = ("Install it: https://kubernetes.io/docs/tasks/tools/" if binary == "kubectl"
                    else "Install it: https://istio.io/latest/docs/setup/getting-started/#download")
            raise BinaryNotFound(argv_t, binary, hint)
        if fault == "timeout":
            raise CommandTimeout(argv_t, timeout_s or 30.0)
        lo, hi = self._range(args)
        try:
            if fault:
                self._raise_fault(fault, args)
            if local and binary == "kubectl":
                out = self._config(args[2:], argv_t)
            elif binary == "kubectl":
                out = self._kubectl(args[1:])
            elif binary == "istioctl":
                out = self._istioctl(args[1:])
            else:
                raise BinaryNotFound(argv_t, binary or "(empty)")
            reply = _Reply(out)
        except _Reply as r:
            reply = r
        return CommandResult(argv=argv_t, exit_code=reply.code, stdout=reply.stdout, stderr=reply.stderr,
                             duration_s=_duration(argv_t, lo, hi))

    # -- faults ------------------------------------------------------------------------------
    @staticmethod
    def _call_word(args: list[str]) -> tuple[str, str | None]:
        ns = None
        if "-n" in args:
            ns = args[args.index("-n") + 1]
        if args[:1] == ["kubectl"] and len(args) > 1:
            verb = args[1]
            if verb == "get" and len(args) > 2:
                kind = args[2]
                return _KINDS.get(kind, kind.split(".")[0]), ns
            return verb, ns
        if args[:1] == ["istioctl"] and len(args) > 1:
            verb = args[1]
            if verb == "x" and len(args) > 2:
                verb = args[2]
            return ("istioctl-version" if verb == "version" else verb), ns
        return "", ns

    def _fault(self, args: list[str]) -> str | None:
        calls = self.world.faults.calls
        if not calls:
            return None
        word, ns = self._call_word(args)
        binary = args[0] if args else ""
        for key in (f"{word}:{ns}", word, binary, "*"):
            if key in calls:
                return calls[key]
        return None

    def _raise_fault(self, fault: str, args: list[str]) -> None:
        word, ns = self._call_word(args)
        user = self.world.faults.user
        if fault == "forbidden":
            if args[0] == "istioctl":
                raise _Reply("", f'Error: pods is forbidden: User "{user}" cannot list resource "pods" in API group "" '
                             f'in the namespace "{ns or self.world.control_plane.namespace}"\n', 1)
            group = ""
            kind = word
            if "." in (args[2] if len(args) > 2 else ""):
                kind, _, group = args[2].partition(".")
            elif word in ("deployments", "replicasets"):
                group = "apps"
            elif word == "endpointslices":
                group = "discovery.k8s.io"
            elif word == "mutatingwebhookconfigurations":
                group = "admissionregistration.k8s.io"
            if word in ("logs", "exec"):
                sub = "pods/log" if word == "logs" else "pods/exec"
                verb = "get" if word == "logs" else "create"
                raise _Reply("", f'Error from server (Forbidden): pods "{args[2]}" is forbidden: User "{user}" cannot {verb} '
                             f'resource "{sub.split("/")[1]}" in API group "" in the namespace "{ns}"\n', 1)
            where = f' in the namespace "{ns}"' if ns and "--all-namespaces" not in args else (" at the cluster scope" if True else "")
            raise _Reply("", f'Error from server (Forbidden): {kind} is forbidden: User "{user}" cannot list resource '
                         f'"{kind}" in API group "{group}"{where}\n', 1)
        if fault == "notfound":
            name = args[3] if len(args) > 3 and not args[3].startswith("-") else "x"
            raise _Reply("", f'Error from server (NotFound): {word} "{name}" not found\n', 1)
        if fault == "unreachable":
            raise _Reply("", "Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout\n", 1)
        if fault == "refused":
            raise _Reply("", "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n", 1)
        if fault == "unknown_flag":
            flag = next((a for a in args[2:] if a.startswith("--")), "--output")
            raise _Reply("", f"Error: unknown flag: {flag}\n", 1)
        raise _Reply("", f"error: {fault}\n", 1)

    @staticmethod
    def _range(args: list[str]) -> tuple[float, float]:
        if args[:2] == ["istioctl", "proxy-config"]:
            return 0.6, 1.1
        if args[:2] == ["istioctl", "analyze"]:
            return 1.2, 2.6
        if args[:2] == ["istioctl", "proxy-status"]:
            return 0.4, 0.9
        if args[:1] == ["istioctl"]:
            return 0.3, 0.8
        if args[1:2] == ["logs"]:
            return 0.2, 0.5
        if args[1:2] == ["exec"]:
            return 0.3, 0.7
        return 0.05, 0.4

    # -- kubectl -------------------------------------------------------------------------------
    #: the one context of a scenario world's kubeconfig, and the API server it names
    CONTEXT = "kind-scenarios"
    SERVER = "https://127.0.0.1:6443"

    def _config(self, a: list[str], argv: tuple[str, ...]) -> str:
        """``kubectl config view --minify -o jsonpath=...`` and ``config get-contexts -o name``
        (the preflight's local calls) against a kubeconfig holding the world's one context."""
        wanted = argv[argv.index("--context") + 1] if "--context" in argv[:-1] else self.CONTEXT
        if a[:1] == ["get-contexts"]:
            return f"{self.CONTEXT}\n"
        if a[:1] == ["view"] and "--minify" in a:
            if wanted != self.CONTEXT:
                raise _Reply("", f"error: cannot locate context {wanted}\n", 1)
            return f"{self.CONTEXT}\n{self.SERVER}"
        raise _Reply("", f'error: unknown command "config {a[0] if a else ""}" in the scenario kit\n', 1)

    def _kubectl(self, a: list[str]) -> str:
        if a[:1] == ["version"]:
            return render_istioctl.kubectl_version_json(self.world)
        if a[:1] == ["get"]:
            return self._get(a[1:])
        if a[:1] == ["logs"]:
            return self._logs(a[1:])
        if a[:1] == ["exec"]:
            return self._exec(a[1:])
        raise _Reply("", f'error: unknown command "{a[0] if a else ""}" for "kubectl"\n', 1)

    def _pod(self, name: str, ns: str, kubectl: bool = True) -> Pod:
        p = self.world.pod(name, ns)
        if p is None:
            msg = f'Error from server (NotFound): pods "{name}" not found\n' if kubectl else f'Error: pods "{name}" not found\n'
            raise _Reply("", msg, 1)
        return p

    def _get(self, a: list[str]) -> str:
        w = self.world
        field_selector = None
        if "--field-selector" in a:
            i = a.index("--field-selector")
            field_selector, a = a[i + 1], a[:i] + a[i + 2:]
        opts = _opts(a)
        if opts.get("-o") != "json":
            raise _Reply("", f"error: unsupported output format {opts.get('-o')!r} in scenario kit\n", 1)
        pos = opts["_pos"]
        if not pos:
            raise _Reply("", "error: you must specify the type of resource to get.\n", 1)
        kind_word = pos[0]
        name = pos[1] if len(pos) > 1 else None
        ns = opts.get("-n")
        allns = "--all-namespaces" in a or "-A" in a
        if kind_word in _ISTIO_KINDS:
            k = _ISTIO_KINDS[kind_word]
            if k in ("K8sGateway", "HTTPRoute") and not w.gateway_api_version:
                raise _Reply("", f'error: the server doesn\'t have a resource type "{kind_word}"\n', 1)
            objs = [o for o in w.resources(k) if allns or o["metadata"]["namespace"] == (ns or "default")]
            out = [render_kube.istio_cr_json(o) for o in objs]
            for o, r in zip(objs, out, strict=True):
                ambient_calls.cr_status(w, o, r)
            if k in ("K8sGateway", "HTTPRoute"):
                # kubectl asks without a version: the server answers in its preferred one
                pref = render_kube.gateway_api_preferred(w, "Gateway" if k == "K8sGateway" else k)
                for o in out:
                    o["apiVersion"] = f"gateway.networking.k8s.io/{pref}"
            return render_kube.as_list(out)
        try:
            amb_items = ambient_calls.get_list(w, kind_word, ns, allns)
        except ambient_calls.NotOurs as e:
            raise _Reply("", f"{e}\n", 1) from None
        if amb_items is not None:
            return render_kube.as_list(amb_items)
        kind = _KINDS.get(kind_word)
        if kind is None:
            raise _Reply("", f'error: the server doesn\'t have a resource type "{kind_word}"\n', 1)
        in_ns: Callable[[str], bool] = (lambda n: True) if allns else (lambda n: n == (ns or "default"))
        items: list[dict[str, Any]]
        if kind == "pods":
            selector = dict(kv.split("=", 1) for kv in opts["-l"].split(",")) if "-l" in opts else None
            if name:
                agent = ambient_calls.agent_pod(w, name, ns or "default")
                if agent is not None:
                    return render_kube.dump(agent)
                return render_kube.dump(render_kube.pod_json(w, self._pod(name, ns or "default")))
            agents = lifecycle.cni_agents(w) if w.cni else []
            items = [render_kube.pod_json(w, p) for p in sorted(w.pods, key=lambda p: (p.namespace, p.name)) if in_ns(p.namespace)
                     and (selector is None or labels_match(selector, p.labels))]
            items += [x for x in agents if in_ns(x["metadata"]["namespace"])
                      and (selector is None or labels_match(selector, x["metadata"].get("labels") or {}))]
            items = sorted(items + ambient_calls.agent_pods(w, ns, allns, selector),
                           key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
        elif kind == "services":
            items = [render_kube.service_json(w, s) for s in sorted(w.services, key=lambda s: (s.namespace, s.name)) if in_ns(s.namespace)]
            if ns is None and allns:
                items.insert(0, _kubernetes_svc())
        elif kind == "namespaces":
            names = sorted({n.name for n in w.namespaces} | {"default", "kube-system", "kube-public", "kube-node-lease",
                                                              w.control_plane.namespace})
            if name:
                if name not in names:
                    raise _Reply("", f'Error from server (NotFound): namespaces "{name}" not found\n', 1)
                return render_kube.dump(render_kube.namespace_json(w, name))
            items = [render_kube.namespace_json(w, n) for n in names]
        elif kind == "endpointslices":
            items = [render_kube.endpointslice_json(w, s) for s in sorted(w.services, key=lambda s: s.name)
                     if in_ns(s.namespace) and s.selector]
        elif kind == "events":
            items = [render_kube.event_json(w, e, i) for i, e in enumerate(w.all_events()) if in_ns(e.namespace)]
        elif kind == "deployments":
            items = [render_kube.deployment_json(w, x) for x in sorted(w.workloads, key=lambda x: x.name)
                     if in_ns(x.namespace) and x.kind == "Deployment"]
            for d in items:
                ambient_calls.istiod_env(w, d)
        elif kind == "replicasets":
            items = [render_kube.replicaset_json(w, x) for x in sorted(w.workloads, key=lambda x: x.name)
                     if in_ns(x.namespace) and x.kind == "Deployment"]
        elif kind == "configmaps" and field_selector is not None:
            want = field_selector.removeprefix("metadata.name=")
            nss = {w.control_plane.namespace, "kube-system", "default", "istio-system"} if allns else {ns or "default"}
            items = [cm for n in sorted(nss) if (cm := ambient_calls.configmap(w, want, n)) is not None]
            items += [cm for cm in render_kube.configmaps_json(w) if cm["metadata"]["name"] == want
                      and (allns or cm["metadata"]["namespace"] == (ns or "default"))]
        elif kind == "configmaps":
            if name:
                cm = ambient_calls.configmap(w, name, ns or "default")
                if cm is None:
                    raise _Reply("", f'Error from server (NotFound): configmaps "{name}" not found\n', 1)
                return render_kube.dump(cm)
            items = render_kube.configmaps_json(w) if in_ns(w.control_plane.namespace) else []
        elif kind == "mutatingwebhookconfigurations":
            items = render_kube.webhooks_json(w)
        elif kind == "customresourcedefinitions":
            items = render_kube.crds_json(w)
        else:  # pragma: no cover
            raise _Reply("", f'error: the server doesn\'t have a resource type "{kind_word}"\n', 1)
        if name:
            raise _Reply("", f"error: scenario kit cannot get a single {kind}\n", 1)
        return render_kube.as_list(items)

    def _logs(self, a: list[str]) -> str:
        opts = _opts(a)
        if "-l" in opts:
            return self._logs_by_selector(opts, a)
        name, ns = opts["_pos"][0], opts.get("-n", "default")
        try:
            agent_log = ambient_calls.agent_logs(self.world, name, ns, opts.get("-c"))
        except ValueError as bad_container:
            raise _Reply("", str(bad_container), 1) from None
        if agent_log is not None:
            return ambient_calls.kubectl_timestamps(agent_log) if "--timestamps=true" in a else agent_log
        tail = None
        for x in a:
            if x.startswith("--tail="):
                tail = int(x.split("=", 1)[1])
        agent = next((x for x in (lifecycle.cni_agents(self.world) if self.world.cni else [])
                      if x["metadata"]["name"] == name and x["metadata"]["namespace"] == ns), None)
        if agent is not None:
            text = lifecycle.cni_agent_log(self.world, agent)
            return "\n".join(text.splitlines()[-tail:]) + "\n" if tail else text
        pod = self._pod(name, ns)
        if "--all-containers=true" in a:
            return self._all_container_logs(pod, tail)
        container = opts.get("-c")
        if container is None:
            container = pod.workload.containers[0].name if pod.workload.containers else "istio-proxy"
        names = {c.name for c in pod.workload.containers} | {c.name for c in pod.workload.init_containers}
        if pod.injected:
            names.add("istio-proxy")
            if not pod.is_gateway:
                names.add("istio-validation" if self.world.cni else "istio-init")
        if container not in names:
            raise _Reply("", f"error: container {container} is not valid for pod {name}\n", 1)
        if "--previous" in a:
            prev = lifecycle.previous_log(pod, container, tail)
            if prev is None:
                raise _Reply("", f'Error from server (BadRequest): previous terminated container "{container}" in pod "{name}" not found\n', 1)
            return prev
        if container == "istio-validation":
            text = lifecycle.validation_log(self.world, pod)
            return "\n".join(text.splitlines()[-tail:]) + "\n" if tail else text
        if container not in ("istio-proxy", "istio-init"):
            lines = [ln.split(" ", 1)[1] for ln in lifecycle.app_log_text(pod, container)]
            return "".join(ln + "\n" for ln in (lines[-tail:] if tail else lines))
        if container == "istio-proxy":
            if pod.init_failed:
                raise _Reply("", f'Error from server (BadRequest): container "istio-proxy" in pod "{name}" is waiting to start: PodInitializing\n', 1)
            return render_logs.render_proxy_logs(self.world, pod, tail)
        if container == "istio-init":
            text = render_logs.render_init_logs(self.world, pod)
            return "\n".join(text.splitlines()[-tail:]) + "\n" if tail else text
        return ""

    def _all_container_logs(self, pod: Pod, tail: int | None) -> str:
        """``kubectl logs POD --all-containers --prefix --timestamps --ignore-errors``: each container's
        lines tagged ``[pod/NAME/CONTAINER]`` (init containers first, as the pod spec lists them); a
        container that has not started prints kubectl's ``error: ...`` line instead."""
        w, out = self.world, []
        spec = render_kube.pod_json(w, pod)["spec"]
        statuses = {s["name"]: s for s in [*render_kube.pod_json(w, pod)["status"].get("initContainerStatuses", []),
                                           *render_kube.pod_json(w, pod)["status"].get("containerStatuses", [])]}
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            name = c["name"]
            state = statuses.get(name, {}).get("state", {})
            if "waiting" in state and state["waiting"].get("reason") == "PodInitializing":
                out.append(f'error: container "{name}" in pod "{pod.name}" is waiting to start: PodInitializing')
                continue
            if name == "istio-proxy":
                stamped = lifecycle.stamp(render_logs.proxy_log_lines(w, pod), pod.workload.proxy.started_s, f"{pod.name}/proxy")
            elif name == "istio-init":
                stamped = lifecycle.stamp(render_logs.render_init_logs(w, pod).splitlines(), lifecycle.ISTIO_INIT_START_S,
                                          f"{pod.name}/init")
            elif name == "istio-validation":
                stamped = lifecycle.stamp(lifecycle.validation_log(w, pod).splitlines(), lifecycle.ISTIO_INIT_START_S,
                                          f"{pod.name}/validation")
            else:
                stamped = lifecycle.app_log_text(pod, name)
            if tail is not None:
                stamped = stamped[-tail:]
            out.extend(f"[pod/{pod.name}/{name}] {ln}" for ln in stamped)
        return "".join(ln + "\n" for ln in out)

    def _logs_by_selector(self, opts: dict[str, Any], a: list[str]) -> str:
        """`kubectl logs -l SEL -c C --prefix`: every matching pod's log, lines tagged [pod/NAME/C]."""
        ns = opts.get("-n", "default")
        sel = dict(kv.split("=", 1) for kv in opts["-l"].split(","))
        container = opts.get("-c", "istio-proxy")
        tail = next((int(x.split("=", 1)[1]) for x in a if x.startswith("--tail=")), 10)  # kubectl's default with -l
        out: list[str] = []
        for pod in self.world.pods:
            if pod.namespace != ns or not labels_match(sel, pod.labels):
                continue
            if container != "istio-proxy" or not pod.injected or pod.init_failed:
                continue
            text = render_logs.render_proxy_logs(self.world, pod, tail)
            tag = f"[pod/{pod.name}/{container}] " if "--prefix" in a else ""
            out.extend(tag + line for line in text.splitlines())
        return "\n".join(out) + ("\n" if out else "")

    def _exec(self, a: list[str]) -> str:
        cut = a.index("--")
        opts = _opts(a[:cut])
        cmd = a[cut + 1:]
        name, ns = opts["_pos"][0], opts.get("-n", "default")
        pod = self._pod(name, ns)
        if opts.get("-c") != "istio-proxy" or not pod.injected:
            raise _Reply("", f'error: unable to upgrade connection: container not found ("{opts.get("-c")}")\n', 1)
        if pod.init_failed:
            raise _Reply("", f'error: unable to upgrade connection: container not found ("istio-proxy")\n', 1)
        if cmd == ["netstat", "-tln"]:
            return render_sockets(self.world, pod, "netstat")
        if cmd == ["ss", "-ltn"]:
            return render_sockets(self.world, pod, "ss")
        if cmd[:2] == ["cat", "/proc/net/tcp"]:
            return render_sockets(self.world, pod, "proc")
        if cmd == ["pilot-agent", "request", "GET", "stats"]:
            return render_envoy.render_stats(self.world, pod)
        if cmd == ["pilot-agent", "request", "GET", "clusters"]:
            return render_envoy.render_admin_clusters(self.world, pod)
        raise _Reply("", f'OCI runtime exec failed: exec failed: unable to start container process: exec: "{cmd[0] if cmd else ""}": '
                     "executable file not found in $PATH: unknown\ncommand terminated with exit code 126\n", 126)

    # -- istioctl --------------------------------------------------------------------------
    def _istioctl(self, a: list[str]) -> str:
        w = self.world
        v = w.istioctl
        if a[:1] == ["version"]:
            remote = "--remote=false" not in a
            if remote and not any(p.workload.name == "istiod" and p.ready for p in w.pods):
                raise _Reply(render_istioctl.version_json(w, remote=False),
                             "2024-07-15T09:30:01.000000Z\twarn\tfailed to get data plane version: unable to find any Istiod instances\n", 0)
            return render_istioctl.version_json(w, remote=remote)
        if a[:1] == ["proxy-status"]:
            if "--verbose" in a and v < Ver(1, 27):
                raise _Reply("", "Error: unknown flag: --verbose\n", 1)
            if "-o" in a and v < Ver(1, 30):
                raise _Reply("", "Error: unknown shorthand flag: 'o' in -o\n", 1)
            if not any(p.workload.name == "istiod" and p.ready for p in w.pods):
                raise _Reply("", "Error: unable to find any Istiod instances\n", 1)
            return render_istioctl.proxy_status(w, verbose="--verbose" in a, json_out=_opts(a[1:]).get("-o") == "json")
        if a[:1] == ["analyze"]:
            opts = _opts(a[1:])
            ns = opts.get("-n", "default")
            if opts.get("-o") == "json":
                return render_istioctl.analyze_json(w, ns)
            out, err, code = render_istioctl.analyze_log(w, ns)
            raise _Reply(out, err, code)
        if a[:1] == ["proxy-config"]:
            opts = _opts(a[1:])
            typ, name = opts["_pos"][0], opts["_pos"][1]
            pod = self._pod(name, opts.get("-n", "default"), kubectl=False)
            self._need_sidecar(pod)
            # a waypoint pod is a proxy of its own kind (HBONE in, internal listeners, HBONE out)
            dump = render_waypoint.config_dump(w, pod) if render_waypoint.is_waypoint_pod(w, pod) else render_envoy.config_dump(w, pod)
            if typ == "all":
                return json.dumps(dump, indent=1) + "\n"
            return _per_type(dump, typ)
        if a[:1] == ["ztunnel-config"] or a[:2] == ["x", "ztunnel-config"]:
            exp = a[:1] == ["x"]
            raise _Reply(*ambient_calls.ztunnel_config(w, a[2:] if exp else a[1:], exp))
        if a[:2] == ["x", "describe"] or a[:2] == ["experimental", "describe"]:
            opts = _opts(a[2:])
            if opts["_pos"][:1] != ["pod"]:
                raise _Reply("", "Error: scenario kit only describes pods\n", 1)
            pod = self._pod(opts["_pos"][1], opts.get("-n", "default"), kubectl=False)
            out, err, code = render_istioctl.describe_pod(w, pod)
            raise _Reply(out, err, code)
        raise _Reply("", f'Error: unknown command "{a[0] if a else ""}" for "istioctl"\n'
                     "Run 'istioctl --help' for usage.\n", 1)

    @staticmethod
    def _need_sidecar(pod: Pod) -> None:
        if not pod.injected or pod.init_failed:
            raise _Reply("", f"Error: failed to execute command on sidecar: error execing into {pod.name}/{pod.namespace} "
                         f"istio-proxy container: container istio-proxy is not valid for pod {pod.name}\n", 1)


# --------------------------------------------------------------------------- helpers


def _strip_conn(args: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    cut = args.index("--") if "--" in args else len(args)
    for i, x in enumerate(args):
        if i >= cut:
            out.append(x)
            continue
        if skip:
            skip = False
            continue
        if x in _CONN_FLAGS:
            skip = True
            continue
        if any(x.startswith(f + "=") for f in _CONN_FLAGS):
            continue
        out.append(x)
    return out


def _opts(a: list[str]) -> dict[str, Any]:
    """-n/-o/-c/-l values plus positionals (flags with = are kept whole)."""
    out: dict[str, Any] = {"_pos": []}
    i = 0
    while i < len(a):
        x = a[i]
        if x in ("-n", "-o", "-c", "-l", "--namespace", "--output", "--container"):
            out[{"--namespace": "-n", "--output": "-o", "--container": "-c"}.get(x, x)] = a[i + 1]
            i += 2
            continue
        if not x.startswith("-"):
            out["_pos"].append(x)
        i += 1
    return out


def _kubernetes_svc() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"creationTimestamp": "2024-07-01T08:00:00Z", "labels": {"component": "apiserver", "provider": "kubernetes"},
                         "name": "kubernetes", "namespace": "default", "resourceVersion": "232",
                         "uid": "0c0b1d4e-8f2a-4b6e-9a57-2f5f3c1d9e11"},
            "spec": {"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"], "internalTrafficPolicy": "Cluster",
                     "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                     "sessionAffinity": "None", "type": "ClusterIP"},
            "status": {"loadBalancer": {}}}


def _camel(x: Any) -> Any:
    if isinstance(x, dict):
        return {(k if k.startswith("@") or "." in k or "|" in k else re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), k)):
                _camel(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_camel(v) for v in x]
    return x


def _per_type(dump: dict[str, Any], typ: str) -> str:
    """`proxy-config <type> -o json`: protojson (camelCase) of the relevant section."""
    want = {"bootstrap": "Bootstrap", "cluster": "Clusters", "clusters": "Clusters", "listener": "Listeners",
            "listeners": "Listeners", "route": "Routes", "routes": "Routes", "endpoint": "Endpoints",
            "endpoints": "Endpoints", "secret": "Secrets", "secrets": "Secrets"}.get(typ)
    if want is None:
        raise _Reply("", f'Error: unknown command "{typ}" for "istioctl proxy-config"\n', 1)
    sec = next(s for s in dump["configs"] if f"{want}ConfigDump" in s["@type"] and "Scoped" not in s["@type"])
    if want == "Bootstrap":
        return json.dumps(_camel({"bootstrap": sec["bootstrap"]}), indent=4) + "\n"
    if want == "Secrets":
        return json.dumps(_camel(sec), indent=4) + "\n"
    if want == "Clusters":
        items = [c["cluster"] for c in sec.get("static_clusters", []) + sec.get("dynamic_active_clusters", [])]
    elif want == "Listeners":
        items = [ln["active_state"]["listener"] for ln in sec.get("dynamic_listeners", []) if "active_state" in ln]
    elif want == "Routes":
        items = [r["route_config"] for r in sec.get("dynamic_route_configs", [])]
    else:
        items = [e["endpoint_config"] for e in sec.get("dynamic_endpoint_configs", [])]
    return json.dumps(_camel(items), indent=4) + "\n"


def listening(world: World, pod: Pod) -> list[tuple[str, str, int]]:
    """(family, address, port) of every listening TCP socket in the pod's network namespace."""
    out: list[tuple[str, str, int]] = []
    if pod.injected and not pod.init_failed:
        out += [("tcp", "127.0.0.1", 15000), ("tcp", "127.0.0.1", 15004), ("tcp", "0.0.0.0", 15021),
                ("tcp", "0.0.0.0", 15090), ("tcp6", "::", 15020)]
        if pod.workload.proxy.state != "no_config":
            if pod.is_gateway:
                ports = sorted({s["port"]["number"] for _g, s in render_envoy.gateway_servers(world, pod)})
                out += [("tcp", "0.0.0.0", p) for p in ports]
            else:
                out += [("tcp", "0.0.0.0", 15001), ("tcp", "0.0.0.0", 15006)]
    for c in pod.workload.containers:
        for p in c.ports:
            if p.bind:
                out.append(("tcp6" if ":" in p.bind else "tcp", pod.ip if p.bind == "pod" else p.bind, p.port))
        for addr, port in c.extra_listen:
            out.append(("tcp6" if ":" in addr else "tcp", addr, port))
    return sorted(set(out), key=lambda x: (x[2], x[1]))


def render_sockets(world: World, pod: Pod, fmt: str) -> str:
    socks = listening(world, pod)
    if fmt == "netstat":
        lines = ["Active Internet connections (only servers)",
                 "Proto Recv-Q Send-Q Local Address           Foreign Address         State      "]
        for fam, addr, port in socks:
            local = f"{addr}:{port}" if fam == "tcp" else f":::{port}" if addr == "::" else f"{addr}:{port}"
            foreign = "0.0.0.0:*" if fam == "tcp" else ":::*"
            lines.append(f"{fam:<5} {0:>6} {0:>6} {local:<23} {foreign:<23} {'LISTEN':<11}")
        return "\n".join(lines) + "\n"
    if fmt == "ss":
        lines = ["State  Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess"]
        for fam, addr, port in socks:
            a = f"[{addr}]" if fam == "tcp6" else addr
            peer = "[::]:*" if fam == "tcp6" else "0.0.0.0:*"
            lines.append(f"LISTEN {0:<6} {4096:<6} {a + ':' + str(port):>18} {peer:>14}          ")
        return "\n".join(lines) + "\n"
    # /proc/net/tcp then /proc/net/tcp6 (cat of both files)
    v4 = [s for s in socks if s[0] == "tcp"]
    v6 = [s for s in socks if s[0] == "tcp6"]
    head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
    lines = [head]
    for i, (_f, addr, port) in enumerate(v4):
        octs = [int(x) for x in addr.split(".")]
        hexaddr = "".join(f"{o:02X}" for o in reversed(octs))
        lines.append(f"{i:>4}: {hexaddr}:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1337        0 {41000 + i} 1 0000000000000000 100 0 0 10 0")
    head6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
    lines.append(head6)
    for i, (_f, _addr, port) in enumerate(v6):
        lines.append(f"{i:>4}: {'0' * 32}:{port:04X} {'0' * 32}:0000 0A 00000000:00000000 00:00000000 00000000  1337        0 {42000 + i} 1 0000000000000000 100 0 0 10 0")
    return "\n".join(lines) + "\n"
