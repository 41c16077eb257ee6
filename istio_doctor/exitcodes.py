"""Exit codes of the non-interactive CLI. Scripts depend on them: never change a meaning."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    PROBLEMS_FOUND = 1
    USAGE = 2
    EVIDENCE_INCOMPLETE = 3
    INTERRUPTED = 130

    @property
    def doc(self) -> str:
        return EXIT_CODE_DOCS[self]

    @classmethod
    def describe(cls) -> str:
        """The table printed by --help and written in the README."""
        return "\n".join(f"  {int(c):<4} {c.name.lower():<20} {c.doc}" for c in cls)


EXIT_CODE_DOCS: dict[ExitCode, str] = {
    ExitCode.OK: "no problem found: every check that ran passed and all evidence was gathered",
    ExitCode.PROBLEMS_FOUND: (
        "problem found: at least one finding (most likely root cause first), or failing requests in the proxy "
        "logs that no check explains"
    ),
    ExitCode.USAGE: (
        "usage error: bad arguments, invalid name, target not found (or not in the replayed recording), "
        "unreadable kubeconfig or unknown context, unreadable recording or playbook"
    ),
    ExitCode.EVIDENCE_INCOMPLETE: (
        "evidence could not be gathered (kubectl missing, API server unreachable or not an API server, "
        "credentials refused, RBAC, timeout, unknown format) and nothing was found in what could be: "
        "never a healthy verdict"
    ),
    ExitCode.INTERRUPTED: "interrupted (SIGINT) while gathering or diagnosing",
}
