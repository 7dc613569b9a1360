"""netprobe's exceptions: a small hierarchy, the docstring is the default message.

Each error knows the *stage* (resolve, reverse, connect, bind, dns, ...), the
*target* (what was being worked on) and a *code* (an EAI_*, E*, DNS rcode or
check name such as EXPECT, when there is one).  Which exit status an error
means is decided in one place, ``netprobe.status.status_for`` (reported by
``netprobe.cli.failed``); the core never prints and never exits.
"""

from __future__ import annotations

import errno

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def errno_name(number: int | None) -> str | None:
    """``EADDRINUSE`` for that errno number: the name users search for (None for none)."""
    if number is None:
        return None
    return errno.errorcode.get(number, f"E{number}")


class NetprobeError(Exception):
    """netprobe failed."""

    def __init__(
        self,
        stage: str,
        target: str,
        message: str | None = None,
        code: str | None = None,
    ) -> None:
        self.stage = stage
        self.target = target
        self.message = message or (self.__doc__ or "failed").strip().rstrip(".")
        self.code = code
        #: More fields for the JSON ``error`` event (e.g. the DNS view).
        self.extra: dict[str, Any] = {}
        super().__init__(self.line())

    def line(self) -> str:
        """The one-line form: ``stage target: CODE: message``, control characters escaped."""
        where = f"{self.stage} {self.target}".strip()
        cause = f"{self.code}: {self.message}" if self.code else self.message
        return printable(f"{where}: {cause}")


def printable(text: str) -> str:
    """``text`` made safe for one line of a terminal (controls, bidi and format escaped).

    The same rules as every other piece of outside text (``netprobe.safe``):
    an error message often carries a name or a message a peer chose.
    """
    from netprobe.safe import safe_line

    return safe_line(text)


class InvalidInput(NetprobeError):
    """invalid input."""


class ResolutionFailed(NetprobeError):
    """name resolution failed."""


class GaiError(ResolutionFailed):
    """getaddrinfo/getnameinfo failed."""

    def __init__(self, stage: str, target: str, eai_name: str, eai_number: int, text: str) -> None:
        self.eai_name = eai_name
        self.eai_number = eai_number
        super().__init__(stage, target, text, eai_name)


class AllCandidatesFailed(NetprobeError):
    """no candidate succeeded."""


class TimedOut(NetprobeError):
    """timed out."""


class CheckFailed(NetprobeError):
    """the check failed."""


class TlsFailed(NetprobeError):
    """TLS handshake or certificate verification failed."""


class StdoutClosed(Exception):
    """stdout was closed by the reader (EPIPE)."""


class TargetsFailed(NetprobeError):
    """some targets failed."""

    def __init__(self, first: NetprobeError, target: str, failed: int, total: int) -> None:
        # ``check``: the exit status is the first failing target's (in the order
        # given), so the error carries that target's own error to be mapped.
        self.first = first
        super().__init__("check", target, f"{first.message} ({failed} of {total} "
                         f"target{'s' * (total != 1)} failed)", first.code)
