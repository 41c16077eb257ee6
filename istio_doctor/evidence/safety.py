"""Read-only safety: the one gate every argv passes before a runner acts on it.

istio-doctor promises it never changes a cluster. That promise is kept here, by an
allowlist of read verbs per binary, not by a denylist of known-dangerous ones: a verb we
have never heard of (a new kubectl subcommand, a plugin) is refused by default.

The rules, in order:

* ``argv`` is a non-empty sequence of strings; ``argv[0]`` is exactly ``kubectl`` or
  ``istioctl`` (never a path: the runner resolves the binary, not the caller).
* No element contains NUL, CR or LF (a name that smuggles a line break is never legitimate
  and would corrupt recordings and logs).
* Global flags before the verb must be ones we know, so we know whether they consume the
  next word. An unknown flag there could hide the real verb (``kubectl --foo get delete``
  is ambiguous without knowing ``--foo``), so it is refused.
* The verb (and, where it matters, the subcommand right after it) must be allowlisted.
  Flags such as ``--dry-run`` never make a mutating verb acceptable.
* ``kubectl exec`` is allowed only into the ``istio-proxy`` container and only for the exact
  commands in ``commands.EXEC_ALLOWLIST``, and ``istioctl proxy-config log`` only without
  the flags that change log levels.

Replay runs the same check, so a recording can never make the tool *appear* to accept a
call that a live session would refuse.
"""

from __future__ import annotations

from collections.abc import Sequence

from istio_doctor.evidence.argv import EXEC_ALLOWLIST
from istio_doctor.evidence.errors import CommandRefused

BINARIES = ("kubectl", "istioctl")

# Global flags that take a value as the next word (``--flag value``); ``--flag=value`` is one
# word and needs no lookahead. Only these may appear before the verb.
_KUBECTL_VALUE_FLAGS = frozenset(
    {
        "--context", "--kubeconfig", "-n", "--namespace", "--cluster", "--user",
        "-s", "--server", "--request-timeout", "--as", "--as-group", "--as-uid",
        "--tls-server-name", "--certificate-authority", "--client-certificate",
        "--client-key", "--token", "--username", "--password", "-v", "--v",
        "--vmodule", "--cache-dir", "--log-flush-frequency",
    }
)
_KUBECTL_BOOL_FLAGS = frozenset(
    {"--insecure-skip-tls-verify", "--match-server-version", "--warnings-as-errors", "--disable-compression"}
)
# istioctl: ``-c`` is the kubeconfig shorthand and ``-i`` the Istio namespace.
_ISTIOCTL_VALUE_FLAGS = frozenset(
    {
        "--context", "--kubeconfig", "-c", "--istioNamespace", "-i", "-n", "--namespace",
        "--vklog", "--log_output_level", "--log_stacktrace_level", "--log_target",
        "--log_caller", "--log_rotate", "--log_rotate_max_age", "--log_rotate_max_backups",
        "--log_rotate_max_size",
    }
)
_ISTIOCTL_BOOL_FLAGS = frozenset({"--log_as_json"})

_VALUE_FLAGS = {"kubectl": _KUBECTL_VALUE_FLAGS, "istioctl": _ISTIOCTL_VALUE_FLAGS}
_BOOL_FLAGS = {"kubectl": _KUBECTL_BOOL_FLAGS, "istioctl": _ISTIOCTL_BOOL_FLAGS}

# Flags that make an otherwise read-only command write files on the machine running
# istio-doctor (a diagnosis must leave no trace there either).
_LOCAL_WRITE_FLAGS = frozenset({"--output-directory", "--profile", "--profile-output"})

_KUBECTL_SIMPLE_VERBS = frozenset(
    {"get", "logs", "version", "api-resources", "api-versions", "describe", "top", "cluster-info"}
)
_KUBECTL_SUBCOMMANDS: dict[str, frozenset[str]] = {
    "auth": frozenset({"can-i"}),
    "config": frozenset({"view", "get-contexts", "current-context"}),
}

_PROXY_CONFIG_SUBCOMMANDS = frozenset(
    {
        "cluster", "clusters", "c",
        "listener", "listeners", "l",
        "route", "routes", "r",
        "endpoint", "endpoints", "ep",
        "secret", "secrets", "s",
        "bootstrap", "b",
        "all", "a",
        "ecds",
        "log",
        "rootca-compare",
    }
)
# ``proxy-config log`` without these is a GET of Envoy's /logging; with them it POSTs a change.
_LOG_LEVEL_FLAGS = frozenset({"--level", "-l", "--reset", "-r"})

_EXPERIMENTAL_SUBCOMMANDS = frozenset({"describe", "check-inject", "precheck", "envoy-stats", "ztunnel-config", "zc", "waypoint"})

# Ambient (ztunnel-config is `istioctl x ztunnel-config` in 1.22, top level from 1.23; same for
# waypoint). Every ztunnel-config view is a GET of ztunnel's /config_dump; `log` is not listed:
# it always POSTs /logging?level=... (istioctl/pkg/ztunnelconfig/ztunnelconfig.go logCmd), even
# without --level. waypoint: only list and status read; apply/delete change the cluster.
_ZTUNNEL_CONFIG_SUBCOMMANDS = frozenset(
    {
        "workload", "workloads", "w",
        "service", "services", "s", "svc",
        "policy", "policies", "p", "pol",
        "certificate", "certificates", "certs", "cert",
        "connections", "cons",
        "all",
    }
)
_WAYPOINT_SUBCOMMANDS = frozenset({"list", "status"})
_DESCRIBE_KINDS = frozenset({"pod", "po", "pods", "service", "svc", "services"})

# kubectl exec: the only flags we accept before `--`. An interactive session (-i/-t) is never
# needed and a different container (-c other) is not what the allowlist was reviewed for.
_EXEC_VALUE_FLAGS = frozenset({"-n", "--namespace", "-c", "--container", "--context", "--kubeconfig",
                               "-s", "--server", "--request-timeout", "--pod-running-timeout"})
_EXEC_BOOL_FLAGS = frozenset({"-q", "--quiet"})
_EXEC_COMMANDS = frozenset(tuple(cmd) for cmd in EXEC_ALLOWLIST.values())
PROXY_CONTAINER = "istio-proxy"


def _refuse(argv: Sequence[str], why: str) -> CommandRefused:
    return CommandRefused(tuple(argv), f"refused (istio-doctor only runs read-only calls): {why}")


def _flag_name(word: str) -> str:
    """``--flag=value`` -> ``--flag``; ``-n=value`` -> ``-n``; anything else unchanged."""
    return word.split("=", 1)[0] if word.startswith("-") else word


def _inline_value(word: str) -> bool:
    return "=" in word


class _Words:
    """The positional words of an argv and the flags around them, for one binary's flag table."""

    def __init__(self, argv: Sequence[str], binary: str) -> None:
        self.argv = argv
        self.value_flags = _VALUE_FLAGS[binary]
        self.bool_flags = _BOOL_FLAGS[binary]

    def positionals(self) -> list[tuple[int, str, bool]]:
        """(index, word, preceded_only_by_known_flags) for each positional before ``--``.

        ``known`` turns false after the first flag we cannot classify: from there on a word
        might be that flag's value, so nothing positional may be trusted as a subcommand.
        """
        out: list[tuple[int, str, bool]] = []
        known = True
        i = 1
        argv = self.argv
        while i < len(argv):
            w = argv[i]
            if w == "--":
                break
            if w.startswith("-") and w != "-":
                name = _flag_name(w)
                if name in self.value_flags:
                    i += 1 if _inline_value(w) else 2
                    continue
                if name not in self.bool_flags:
                    known = False
                i += 1
                continue
            out.append((i, w, known))
            i += 1
        return out


def check_read_only(argv: Sequence[str]) -> None:
    """Raise ``CommandRefused`` unless ``argv`` is an allowlisted read-only call."""
    if isinstance(argv, (str, bytes)) or not isinstance(argv, Sequence) or not argv:
        raise CommandRefused((), "refused: argv must be a non-empty list of strings (never a shell string)")
    for w in argv:
        if not isinstance(w, str):
            raise _refuse([str(x) for x in argv], f"argument {w!r} is not a string")
        if any(c in w for c in "\0\n\r"):
            raise _refuse(argv, f"argument {w!r} contains a NUL or line break")
    binary = argv[0]
    if binary not in BINARIES:
        raise _refuse(argv, f"{binary!r} is not kubectl or istioctl")
    before_dashdash = argv[: argv.index("--")] if "--" in argv else argv
    for w in before_dashdash[1:]:
        if _flag_name(w) in _LOCAL_WRITE_FLAGS:
            raise _refuse(argv, f"{_flag_name(w)} writes local files")

    pos = _Words(argv, binary).positionals()
    if not pos:
        raise _refuse(argv, f"no {binary} verb found")
    _, verb, verb_known = pos[0]
    if not verb_known:
        raise _refuse(argv, f"an unrecognised flag precedes the verb {verb!r}, so the verb cannot be trusted")
    sub = pos[1][1] if len(pos) > 1 and pos[1][2] else None
    if binary == "kubectl":
        _check_kubectl(argv, verb, sub)
    else:
        _check_istioctl(argv, verb, sub, pos)


def _check_kubectl(argv: Sequence[str], verb: str, sub: str | None) -> None:
    if "--" in argv and verb != "exec":
        # Only exec gives meaning to `--`; elsewhere it would hide words from this check.
        raise _refuse(argv, f"`--` is only accepted for kubectl exec, not {verb!r}")
    if verb in _KUBECTL_SIMPLE_VERBS:
        if verb == "get" and any(_flag_name(w) == "--raw" for w in argv):
            # --raw reaches arbitrary API paths, including pod/service proxy subresources that
            # forward to application endpoints; we never need it, so it is not reviewed as safe.
            raise _refuse(argv, "kubectl get --raw is not used by istio-doctor")
        return
    if verb in _KUBECTL_SUBCOMMANDS:
        if sub in _KUBECTL_SUBCOMMANDS[verb]:
            return
        raise _refuse(argv, f"kubectl {verb} {sub or ''}".rstrip() + " is not a read-only call")
    if verb == "exec":
        _check_exec(argv)
        return
    raise _refuse(argv, f"kubectl {verb} is not an allowlisted read-only verb")


def _check_exec(argv: Sequence[str]) -> None:
    if "--" not in argv:
        raise _refuse(argv, "kubectl exec needs `--` before the command (the allowlist is matched exactly)")
    cut = argv.index("--")
    command = tuple(argv[cut + 1 :])
    containers: list[str] = []
    positionals: list[str] = []
    head = list(argv[1:cut])
    verb_seen = False
    i = 0
    while i < len(head):
        w = head[i]
        if w.startswith("-") and w != "-":
            name = _flag_name(w)
            if name in _EXEC_VALUE_FLAGS:
                if _inline_value(w):
                    value = w.split("=", 1)[1]
                    i += 1
                else:
                    if i + 1 >= len(head):
                        raise _refuse(argv, f"{name} has no value")
                    value = head[i + 1]
                    i += 2
                if name in ("-c", "--container"):
                    containers.append(value)
                continue
            if name in _EXEC_BOOL_FLAGS:
                i += 1
                continue
            raise _refuse(argv, f"kubectl exec flag {name} is not accepted (no -i/-t, no other containers)")
        if not verb_seen and w == "exec":
            verb_seen = True
        else:
            positionals.append(w)
        i += 1
    if len(positionals) != 1:
        raise _refuse(argv, "kubectl exec must name exactly one pod")
    if not containers or any(c != PROXY_CONTAINER for c in containers):
        raise _refuse(argv, f"kubectl exec is only allowed with -c {PROXY_CONTAINER}")
    if command not in _EXEC_COMMANDS:
        raise _refuse(argv, f"command {' '.join(command)!r} is not in the exec allowlist")


def _check_istioctl(argv: Sequence[str], verb: str, sub: str | None, pos: list[tuple[int, str, bool]]) -> None:
    if "--" in argv:
        raise _refuse(argv, "`--` is not used with istioctl")
    if verb in ("version", "analyze", "proxy-status", "ps"):
        return
    if verb in ("proxy-config", "pc"):
        if sub not in _PROXY_CONFIG_SUBCOMMANDS:
            raise _refuse(argv, f"istioctl proxy-config {sub or ''}".rstrip() + " is not allowlisted")
        if sub == "log" and any(_flag_name(w) in _LOG_LEVEL_FLAGS for w in argv):
            raise _refuse(argv, "istioctl proxy-config log with --level/--reset changes Envoy's log levels")
        return
    if verb in ("ztunnel-config", "zc", "waypoint"):
        _check_ambient(argv, verb, sub)
        return
    if verb in ("x", "experimental"):
        if sub not in _EXPERIMENTAL_SUBCOMMANDS:
            raise _refuse(argv, f"istioctl {verb} {sub or ''}".rstrip() + " is not allowlisted")
        if sub in ("ztunnel-config", "zc", "waypoint"):
            third = pos[2] if len(pos) > 2 and pos[2][2] else None
            _check_ambient(argv, sub, third[1] if third else None)
            return
        if sub == "describe":
            kind = pos[2] if len(pos) > 2 else None
            if kind is None or not kind[2] or kind[1] not in _DESCRIBE_KINDS:
                raise _refuse(argv, "istioctl x describe is only allowed for pod or service")
        return
    if verb == "tag":
        if sub == "list":
            return
        raise _refuse(argv, f"istioctl tag {sub or ''}".rstrip() + " is not read-only")
    raise _refuse(argv, f"istioctl {verb} is not an allowlisted read-only verb")


def _check_ambient(argv: Sequence[str], verb: str, sub: str | None) -> None:
    allowed = _WAYPOINT_SUBCOMMANDS if verb == "waypoint" else _ZTUNNEL_CONFIG_SUBCOMMANDS
    if sub not in allowed:
        raise _refuse(argv, f"istioctl {verb} {sub or ''}".rstrip() + " is not a read-only call")
