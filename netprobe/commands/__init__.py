"""One module per subcommand, imported only when that subcommand runs."""

from __future__ import annotations


def examples(*lines: str) -> str:
    """The end of a command's --help: a few command lines, as the README shows them.

    ``\\b`` keeps click from re-wrapping them into one paragraph.
    """
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
