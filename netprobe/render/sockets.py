"""Output of ``netprobe sockets``: a table for people, ``socket`` events for programs.

People get one row a socket on stdout (the SPEC's columns: protocol, state,
local and peer address, the queue, v6only, uid, the processes), and on
stderr how many were read.  Every name that comes from outside (a command
line, a Unix path, an interface) is made safe like all outside text
(``render.safe``): a process can name itself anything.

Design decision: the ``socket`` events are encoded by a template, not by
``json``.  ``netprobe sockets --json`` on a host with ten thousand
connections writes ten thousand events, and the standard encoder spends
about 4 us on each (a dozen keys, three nested objects): as long as reading
the whole table from the kernel.  A TCP or UDP socket's event arrives as
its row (``kernel.rows.InetEvent``) and is written from the row's values,
without its fields being made; what sockets share (the first fields and
the local address, a peer's address, a process) is encoded once.  Every
value is an int, a bool, None, a constant name or an address ``inet_ntop``
wrote, except the outside texts, which still go through the encoder: the
result is the same text ``JsonLines`` writes, ``event`` and ``t`` first
(tests/test_sockets_render.py compares the two on every shape).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netprobe.errors import StdoutClosed
from netprobe.kernel.rows import InetEvent, InetRow
from netprobe.render import Renderer, Settings
from netprobe.render.jsonl import JsonLines
from netprobe.render.jsontext import encode, inert, json_string

if TYPE_CHECKING:
    from netprobe.events import Event, Fields

#: The keys the template writes (in the SPEC's order, which is the fields' order).
_KNOWN = frozenset({"proto", "family", "socktype", "state", "local", "peer", "v6only", "queue",
                    "uid", "inode", "processes"})
#: ``socket`` lines written at once: one write() per this many, not one each.
_BATCH = 512
_LITERALS: dict[bool | None, str] = {True: "true", False: "false", None: "null"}


def sockets_renderer(settings: Settings) -> Renderer:
    """``SocketsJson`` under --json, else ``SocketsHuman`` (rich only then).

    Design decision: unlike every other command's renderer (``make_trace``),
    this one leaves the cyclic collector paused (``netprobe.startup``) for
    the rest of the command.  ``sockets`` reads one table and exits; the
    tens of thousands of tuples and dicts a big table makes form no cycle,
    and a collection while they pile up would only walk them again and
    again (a tenth of ``sockets --json``'s time with 10 000 sockets).
    """
    renderer: Renderer
    if settings.json:
        renderer = SocketsJson()
    else:
        from netprobe.render.sockets_human import SocketsHuman

        renderer = SocketsHuman(settings)
    return renderer


def _string(text: str) -> str:
    """A str as JSON, as ``JsonLines`` writes it (``jsontext.inert``: controls as escapes)."""
    return inert(json_string(text))


def _members(fields: Event) -> str:
    """Any event's fields as JSON members (no braces), by the standard encoder."""
    return inert(encode(dict(fields))[1:-1])


class SocketsJson(JsonLines):
    """JSON Lines, with the ``socket`` and ``sockets_summary`` events of ``sockets``.

    Design decision: the ``socket`` events are written in batches and
    flushed with the summary, not one by one.  They are one snapshot of the
    table, read before the first is written and emitted in one loop: they
    all happen at once, and the summary that ends them follows within
    milliseconds.  A write and a flush each would be ten thousand write()
    calls, and the text layer's own work per call, for one table.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: The JSON of what sockets share (an address, a process, the first four
        #: fields), made once: ten thousand sockets have a handful of each.
        self._texts: dict[Any, str] = {}
        #: pid -> its process's JSON; and the JSON of the list of that one process.
        self._processes: dict[int, str] = {}
        self._by_pid: dict[int, str] = {}
        #: ``socket`` lines not written yet (see the class's design decision).
        self._pending: list[str] = []

    def __call__(self, event: str, fields: Event) -> None:
        if event == "socket":
            members = (self.row_json(fields.row, fields.processes.of(fields.row.inode))
                       if type(fields) is InetEvent else self.socket_json(fields))
            pending = self._pending
            pending.append(f'{{"event":"socket","t":{round(self.clock() - self.start, 6)!r},'
                           f"{members}}}\n")  # list.append: atomic, no lock needed
            if len(pending) >= _BATCH:
                self._write_pending(flush=False)
            return
        self._write_pending(flush=False)
        if event == "sockets_summary":
            self._emit(_members(fields), "sockets_summary")
        else:
            super().__call__(event, fields)

    def close(self) -> None:
        self._write_pending(flush=True)
        super().close()

    def _write_pending(self, *, flush: bool) -> None:
        with self._lock:
            if not self._pending:
                return
            text, self._pending = "".join(self._pending), []
            try:
                self.stream.write(text)
                if flush:
                    self.stream.flush()
            except BrokenPipeError:
                raise StdoutClosed() from None

    def row_json(self, row: InetRow, processes: list[Fields] | None) -> str:
        """A TCP or UDP socket's row (held by ``processes``) as the JSON members its fields
        would be."""
        (proto, family, socktype, state, local, local_port, peer, peer_port, v6only, waiting,
         backlog, uid, inode, dev) = row
        if dev is not None:
            return _members(row.fields(processes))  # a bound device: the general way
        texts = self._texts
        # What many sockets share is encoded once: the first four fields with the local
        # address, the peer's address, a process.
        head_key = (proto, family, socktype, state, local)
        head = texts.get(head_key)
        if head is None:
            head = texts[head_key] = (f'{self._head(proto, family, socktype, state)},'
                                      f'"local":{{"address":{_string(local)},"port":')
        if peer is None:
            peer_text = "null"
        else:
            peer_address = texts.get(peer)
            if peer_address is None:
                peer_address = texts[peer] = _string(peer)
            peer_text = f'{{"address":{peer_address},"port":{peer_port}}}'
        if processes is not None and len(processes) == 1:
            holders = self._by_pid.get(processes[0]["pid"]) or self._holders(processes)
        else:
            holders = self._holders(processes)
        return (f'{head}{local_port}}},"peer":{peer_text},"v6only":{_LITERALS[v6only]},'
                '"queue":'
                + ("null" if waiting is None else f'{{"waiting":{waiting},"backlog":{backlog}}}')
                + f',"uid":{"null" if uid is None else uid},"inode":{inode},'
                f'"processes":{holders}')

    @staticmethod
    def _head(proto: str, family: str, socktype: str, state: str) -> str:
        return (f'"proto":{_string(proto)},"family":{_string(family)},'
                f'"socktype":{_string(socktype)},"state":{_string(state)}')

    def socket_json(self, fields: Event) -> str:
        """The event's fields as JSON members (no braces), as ``json`` would write them."""
        if len(fields) != len(_KNOWN) or fields.keys() != _KNOWN:
            return _members(fields)  # extra fields (a bound device): the general way
        texts = self._texts
        head_key = (fields["proto"], fields["family"], fields["socktype"], fields["state"])
        head = texts.get(head_key)
        if head is None:
            head = texts[head_key] = self._head(*head_key)
        local, peer, queue, uid = fields["local"], fields["peer"], fields["queue"], fields["uid"]
        return (f'{head},"local":{self._endpoint(local)},"peer":'
                + ("null" if peer is None else self._endpoint(peer))
                + f',"v6only":{_LITERALS[fields["v6only"]]},"queue":'
                + ("null" if queue is None else
                   f'{{"waiting":{queue["waiting"]},"backlog":{queue["backlog"]}}}')
                + f',"uid":{"null" if uid is None else uid},"inode":{fields["inode"]},'
                f'"processes":{self._holders(fields["processes"])}')

    def _endpoint(self, endpoint: Fields) -> str:
        if len(endpoint) != 2 or "address" not in endpoint:
            return inert(encode(endpoint))
        address = endpoint["address"]
        text = self._texts.get(address)
        if text is None:
            text = self._texts[address] = _string(address)
        return f'{{"address":{text},"port":{endpoint["port"]}}}'

    def _holders(self, processes: list[Fields] | None) -> str:
        if processes is None:
            return "null"
        if not processes:
            return "[]"
        # By pid: within one table a pid is one process, with one command line.
        texts = self._processes
        encoded = []
        for process in processes:
            known = texts.get(process["pid"])
            if known is None:
                known = texts[process["pid"]] = "{" + _members(process) + "}"
            encoded.append(known)
        if len(encoded) == 1:
            self._by_pid[processes[0]["pid"]] = text = f"[{encoded[0]}]"
            return text
        return f"[{','.join(encoded)}]"

    def _emit(self, members: str, event: str, *, flush: bool = True) -> None:
        """One line, ``event`` and ``t`` first, as ``JsonLines._write`` writes every event."""
        with self._lock:
            line = f'{{"event":"{event}","t":{round(self.clock() - self.start, 6)!r},{members}}}\n'
            try:
                self.stream.write(line)
                if flush:
                    self.stream.flush()
            except BrokenPipeError:
                raise StdoutClosed() from None
