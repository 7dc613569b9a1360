"""The AF_UNIX address: the forms a user writes, checked, and the forms the rest need.

``/run/app.sock``, ``./x.sock`` (any HOST with a ``/``), ``unix:PATH`` and
``unix:@NAME`` (the abstract namespace) all name one ``struct sockaddr_un``.

Design decision: a HOST is a Unix socket when it contains a ``/``.  No host
name or numeric address holds one, so nothing that resolved before is taken
from the resolver; ``unix:`` is there for a path without a slash
(``unix:x.sock``) and for the abstract namespace, which has no file and so
no path syntax of its own.  ``@NAME`` alone stays a host name (getaddrinfo
refuses it): an abstract name is only ever asked for with ``unix:@``, as
socat's ``ABSTRACT-CONNECT`` and systemd's ``@`` in ``ListenStream=`` ask
for it explicitly.

Design decision: sun_path's size is checked here, before any call.  Linux's
sun_path is 108 bytes; a path needs its terminating NUL, an abstract name
its leading one, so 107 bytes of name either way (the bytes of the file
system's encoding, not characters).  The C library would truncate or the
kernel refuse with EINVAL; CPython raises "AF_UNIX path too long" only at
bind/connect time, after the socket exists.  Refusing first is what the
SPEC asks (exit 2) and says which limit it is.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from netprobe.errors import InvalidInput
from netprobe.unix import PREFIX, is_unix

__all__ = ["PREFIX", "SUN_PATH_MAX", "UnixAddress", "from_raw", "is_unix", "parse",
           "refuse_port", "text_of"]

#: Bytes of name sun_path[108] holds next to its NUL (terminating or leading).
SUN_PATH_MAX = 107


class UnixAddress(NamedTuple):
    """A named ``sockaddr_un``: a path, or an abstract name (without its leading NUL)."""

    name: str
    abstract: bool = False

    @property
    def sockaddr(self) -> str:
        """What the socket module takes: the path, or ``"\\0NAME"`` for the abstract one."""
        return "\0" + self.name if self.abstract else self.name

    @property
    def text(self) -> str:
        """The JSON ``address``: the path, or ``@NAME`` (``ss -x`` and strace write it so)."""
        return "@" + self.name if self.abstract else self.name

    def __str__(self) -> str:
        return self.text


def parse(text: str, stage: str) -> UnixAddress:
    """``PATH`` (with a ``/``), ``unix:PATH``, ``unix:///PATH`` or ``unix:@NAME``.

    Anything else that starts with ``unix:`` is a usage error (exit 2).
    """
    prefixed = text.startswith(PREFIX)
    body = text[len(PREFIX):] if prefixed else text
    if prefixed and body.startswith("//"):
        body = body[2:]  # the URL form, as DOCKER_HOST writes it: unix:///run/docker.sock
    if not body:
        raise InvalidInput(stage, text, "unix: needs a PATH or @NAME")
    if "\0" in body:
        raise InvalidInput(stage, repr(text), "a Unix socket path contains no NUL byte")
    abstract = prefixed and body.startswith("@")
    name = body[1:] if abstract else body
    if abstract and not name:
        raise InvalidInput(stage, text, "unix:@ needs a NAME (the abstract namespace)")
    size = len(os.fsencode(name))
    if size > SUN_PATH_MAX:
        what = "abstract name" if abstract else "path"
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise InvalidInput(stage, shown, f"the {what} is {size} bytes; sun_path holds "
                           f"{SUN_PATH_MAX} (108 with its NUL)")
    return UnixAddress(name, abstract)


def refuse_port(port: str | None, text: str, stage: str) -> None:
    """A Unix socket has no port: one given with a path is a usage error (exit 2)."""
    if port:
        raise InvalidInput(stage, f"{text} {port}", "a Unix socket takes no PORT")


# --- the address as the kernel hands it back -----------------------------------------------


def from_raw(raw: object) -> UnixAddress | None:
    """What getsockname/getpeername/accept/recvfrom return, as a UnixAddress.

    CPython gives a path as ``str``, an abstract name as ``bytes`` starting
    with NUL, an unnamed socket (a client that never bound) as ``""`` or
    ``b""``: None.
    """
    if isinstance(raw, bytes):
        if raw.startswith(b"\0"):
            return UnixAddress(os.fsdecode(raw[1:]), True)
        raw = os.fsdecode(raw)
    if not isinstance(raw, str) or not raw:
        return None
    if raw.startswith("\0"):
        return UnixAddress(raw[1:], True)
    return UnixAddress(raw)


def text_of(raw: object) -> str:
    """The JSON ``address`` of a raw AF_UNIX address: ``""`` for an unnamed socket."""
    address = from_raw(raw)
    return "" if address is None else address.text
