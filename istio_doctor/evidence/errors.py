"""Errors of the evidence layer: the runner seam's (a call that produced no result) and the
parsers' (output that could not be understood).

They live here, below ``runner``, ``safety`` and ``recording``, so that none of those imports
another to raise: the runner calls safety, and safety raises ``CommandRefused`` without
importing the runner.

The parsers' error:

Parsers never let a raw ``json.JSONDecodeError``, ``yaml.YAMLError`` or pydantic
``ValidationError`` escape: the gatherer turns a ``ParseError`` into an
``EvidenceFailure(kind=PARSE_ERROR)`` whose reason a user can act on, so the message must say
*which* command's output and *what* inside it was wrong, not a stack trace.
``ParseError`` subclasses ``ValueError`` so callers that only know "bad input" still catch it.
"""

from __future__ import annotations


class ParseError(ValueError):
    """Output of a command could not be parsed.

    ``what`` names the thing being parsed (``"Pod list"``, ``"VirtualService default/reviews"``),
    ``detail`` says what was wrong, ``command`` is the command line that produced the text
    (empty when unknown, e.g. a file loaded in a test).
    """

    def __init__(self, what: str, detail: str, *, command: str = "") -> None:
        self.what = what
        self.detail = detail
        self.command = command
        source = f" (from `{command}`)" if command else ""
        super().__init__(f"cannot parse {what}{source}: {detail}")

    def with_command(self, command: str) -> ParseError:
        """The same error attributed to ``command`` (for helpers that did not know it)."""
        if self.command or not command:
            return self
        return ParseError(self.what, self.detail, command=command)


class RunnerError(Exception):
    """A call that produced no CommandResult. ``argv`` is always the call that failed."""

    def __init__(self, argv: list[str] | tuple[str, ...], message: str) -> None:
        self.argv = tuple(argv)
        super().__init__(message)


class BinaryNotFound(RunnerError):
    """kubectl or istioctl is not on PATH; the message says how to install it."""

    def __init__(self, argv: list[str] | tuple[str, ...], binary: str, hint: str = "") -> None:
        self.binary = binary
        msg = f"`{binary}` was not found on PATH."
        if hint:
            msg += f" {hint}"
        super().__init__(argv, msg)


class CommandTimeout(RunnerError):
    """The call ran past its timeout; its whole process group was killed."""

    def __init__(self, argv: list[str] | tuple[str, ...], timeout_s: float) -> None:
        self.timeout_s = timeout_s
        import shlex

        super().__init__(argv, f"`{shlex.join(argv)}` did not finish within {timeout_s:g}s and was killed.")


class CommandRefused(RunnerError):
    """Refused before any process started: not a read-only call, or an invalid argument."""


class NotRecorded(RunnerError):
    """Strict replay: the recording has no call matching ``argv``."""

    def __init__(self, argv: list[str] | tuple[str, ...], recording: str = "") -> None:
        import shlex

        where = f" in {recording}" if recording else ""
        super().__init__(argv, f"no recorded call matches `{shlex.join(argv)}`{where}")


class NotInArchive(NotRecorded):
    """An offline source (a bug-report archive) holds nothing that answers ``argv``; the
    message names the file it would be in and why it may be absent."""

    def __init__(self, argv: list[str] | tuple[str, ...], message: str) -> None:
        RunnerError.__init__(self, argv, message)
