"""The one error every evidence parser raises on output it cannot understand.

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
