"""What the explanation found wrong in the files it read: file, line, message.

glibc skips what it cannot parse, silently.  The explanation skips it the
same way (so the prediction stays glibc's) but says so: a line skipped is
often the very reason an answer surprised someone.
"""

from __future__ import annotations

from netprobe.events import Fields
from netprobe.record import Record, field


class Problem(Record):
    """One line (or a whole file: ``line`` None) that was skipped, and why."""

    __slots__ = ()
    _fields = ("path", "line", "message")
    path: str = field(0)
    line: int | None = field(1)
    message: str = field(2)

    def __new__(cls, path: str, line: int | None, message: str) -> Problem:
        return tuple.__new__(cls, (path, line, message))

    def to_json(self) -> Fields:
        return {"path": self.path, "line": self.line, "message": self.message}


def read_lines(path: str, problems: list[Problem]) -> list[str] | None:
    """The file's lines, or None (and a problem) when it cannot be read.

    Bytes that are not UTF-8 are kept as surrogateescape characters, as the
    resolution core keeps them in the names the library returns: glibc reads
    bytes, so such a hosts name must compare equal to what getnameinfo gave
    (it is shown as \\xNN, render.safe).
    A missing file is not a problem in itself; the caller says what its
    absence means (glibc's defaults).
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        problems.append(Problem(path, None, f"cannot read: {exc.strerror or exc}"))
        return None
    return data.decode("utf-8", "surrogateescape").split("\n")
