"""``listen unix:PATH``: socket, bind, (--mode) chmod, listen, each step reported.

The Unix counterpart of ``netprobe.serve.listenfd.open_listeners``: one candidate,
nothing resolved, the same ``bind`` and ``listening`` events, the same
``Listener`` for the server.  What differs is the file: a bind() refused
with EADDRINUSE is examined (``socketfile``) and, with ``--unlink``, a stale
file is removed and the bind made again (both calls shown); ``--mode``
changes the file's mode between bind() and listen(), before any client can
connect; and the file made is remembered so that it is removed at stop.
"""

from __future__ import annotations

import errno as errno_module
import os
import socket
from typing import TYPE_CHECKING, Any, NamedTuple

from netprobe.errors import AllCandidatesFailed, errno_name
from netprobe.events import Clock, Trace, monotonic, ms
from netprobe.serve.listenfd import Listener, Step, somaxconn
from netprobe.syscalls import (
    sys_bind,
    sys_close,
    sys_listen,
    sys_setblocking,
    sys_socket,
)
from netprobe.unix import socketfile
from netprobe.unix.address import UnixAddress
from netprobe.unix.candidate import UnixCandidate, unix_candidate

if TYPE_CHECKING:
    from netprobe.schema import BindEvent, ListeningEvent, SocketFields


class UnixListener(Listener):
    """A bound (and, for streams, listening) Unix socket."""

    __slots__ = ()

    def to_json(self) -> SocketFields:
        return {"family": "AF_UNIX", "socktype": self.candidate.to_json()["socktype"],
                "address": self.address, "port": None}


class Opened(NamedTuple):
    listener: UnixListener
    #: The file bind() made (None for an abstract name): removed at stop if still ours.
    made: socketfile.SocketFile | None


class _Failed(Exception):
    """A step failed; ``steps`` ends with it, ``why`` says why when it can."""

    def __init__(self, why: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.why = why


def _step(steps: list[Step], name: str, exc: OSError | None = None,
          option: str | None = None) -> None:
    if exc is None:
        steps.append(Step(name, True, None, "ok", option))
    else:
        number = exc.errno or 0
        steps.append(Step(name, False, errno_name(number), os.strerror(number), option))


def _why(kind: str | None, message: str, path: str | None,
         sockets: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """The ``why`` of a failed bind: the kernel issue's shape, for a path."""
    return {"kind": kind, "message": message, "sockets": list(sockets), "route": None,
            "path": path}


def _bind(trace: Trace, sock: socket.socket, address: UnixAddress, steps: list[Step],
          unlink: bool) -> None:
    """bind(); after EADDRINUSE, the socket-file rules (see ``socketfile``)."""
    try:
        sys_bind(trace, sock, address.sockaddr)
        _step(steps, "bind")
        return
    except OSError as exc:
        _step(steps, "bind", exc)
        if exc.errno != errno_module.EADDRINUSE:
            from netprobe.unix.diagnose import bind_failure

            found = bind_failure(address, exc.errno or 0)
            raise _Failed(found.to_json()) from None
    seen = socketfile.examine(trace, address)
    if seen.kind == "stale" and not unlink:
        raise _Failed(_why("stale", f"{seen.message}; --unlink replaces it", address.name))
    if seen.kind not in ("stale", "gone"):
        raise _Failed(_why(seen.kind, seen.message, None if address.abstract else address.name,
                           seen.bound))
    if seen.kind == "stale" and not socketfile.replace_stale(trace, address, seen):
        raise _Failed(_why("in-use", f"{address.name} changed while it was examined: left "
                           "untouched", address.name))
    if seen.kind == "stale":
        _step(steps, "unlink")
    try:
        sys_bind(trace, sock, address.sockaddr)
    except OSError as exc:
        _step(steps, "bind", exc)
        raise _Failed(None) from None
    _step(steps, "bind")


def _open(trace: Trace, candidate: UnixCandidate, *, backlog: int, unlink: bool,
          mode: int | None, steps: list[Step]) -> Opened:
    address = candidate.unix
    try:
        sock = sys_socket(trace, socket.AF_UNIX, candidate.socktype, 0)
    except OSError as exc:
        _step(steps, "socket", exc)
        raise _Failed(None) from None
    _step(steps, "socket")
    made: socketfile.SocketFile | None = None
    try:
        _bind(trace, sock, address, steps, unlink)
        made = None if address.abstract else socketfile.SocketFile.made(address.name)
        if mode is not None and not address.abstract:
            try:
                socketfile.chmod(trace, address.name, mode)
            except OSError as exc:
                _step(steps, "chmod", exc, option=f"0{mode:o}")
                raise _Failed(None) from None
            _step(steps, "chmod", option=f"0{mode:o}")
        if candidate.socktype != socket.SOCK_DGRAM:
            try:
                sys_listen(trace, sock, backlog)
            except OSError as exc:
                _step(steps, "listen", exc)
                raise _Failed(None) from None
            _step(steps, "listen")
        sys_setblocking(trace, sock, False)
    except BaseException:
        sys_close(trace, sock)
        if made is not None:
            socketfile.remove(trace, made)
        raise
    return Opened(UnixListener(sock, candidate, address.text, 0, None), made)


def _bind_event(candidate: UnixCandidate, steps: list[Step], listening: bool,
                elapsed: float) -> BindEvent:
    last = steps[-1]
    return {"index": 0, "candidate": candidate.to_json(), "step": last.step,
            "outcome": "listening" if listening else "error", "errno": last.errno,
            "message": "listening" if listening else last.message, "option": last.option,
            "steps": [s.to_json() for s in steps], "elapsed_ms": ms(elapsed)}


def open_unix_listener(address: UnixAddress, socktype: int, *, backlog: int,
                       unlink: bool = False, mode: int | None = None, trace: Trace,
                       clock: Clock = monotonic) -> Opened:
    """Bind and listen on ``address``: one ``bind`` event, then ``listening``.

    Raises ``AllCandidatesFailed`` (exit 4) with the step's errno and, where
    it can be told, why (the event's ``why`` too).
    """
    candidate = unix_candidate(address, socktype)
    trace("candidate", {"candidate": candidate.to_json()})
    steps: list[Step] = []
    start = clock()
    try:
        opened = _open(trace, candidate, backlog=backlog, unlink=unlink, mode=mode, steps=steps)
    except _Failed as failed:
        event: dict[str, Any] = dict(_bind_event(candidate, steps, False, clock() - start))
        if failed.why is not None:
            event["why"] = failed.why
        trace("bind", event)
        last = steps[-1]
        cause = failed.why["message"] if failed.why else last.message
        raise AllCandidatesFailed("bind", address.text, cause, last.errno) from None
    trace("bind", _bind_event(candidate, steps, True, clock() - start))
    fields: ListeningEvent = {"sockets": [opened.listener.to_json()]}
    if socktype != socket.SOCK_DGRAM:
        cap = somaxconn()
        fields["backlog"] = min(backlog, cap) if cap is not None else backlog
        if cap is not None and cap < backlog:
            fields["somaxconn"] = cap
    trace("listening", fields)
    return opened
