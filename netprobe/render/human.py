"""Human output with rich: results on stdout, the trace on stderr.

The only module (with its command-specific subclasses) that imports rich,
and it is imported only when output is for people.  rich already does the
right thing with colour: none when the stream is not a terminal, none when
NO_COLOR is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from netprobe.endpoints import format_endpoint
from netprobe.errors import StdoutClosed
from netprobe.events import Event, Fields
from netprobe.render import Renderer, Settings
from netprobe.render.columns import Columns
from netprobe.render.payload import PayloadOutput
from netprobe.render.safe import rich_text
from netprobe.safe import safe_line

if TYPE_CHECKING:
    from netprobe.schema import (
        CandidateFields,
        HintsFields,
        ResolvingEvent,
        SyscallEvent,
        SyscallSummaryEvent,
    )


class Human(Renderer):
    """Base human renderer: dispatches an event to ``on_<event>`` if defined.

    Text from outside the program (names, canonical names, DNS data, messages
    a peer chose) reaches rich only through ``outside`` (a ``Text`` with its
    controls shown as dim escapes, ``render.safe``) or ``safe_line``, never
    as a str that rich could take for markup or a terminal could obey.
    """

    def __init__(self, settings: Settings, *, raw: bool = False) -> None:
        self.settings = settings
        # No markup, emoji or highlighting: what netprobe prints is data (a host
        # name may contain "[" or ":smile:"), and skipping them saves start-up time.
        plain: dict[str, Any] = {"highlight": False, "markup": False, "emoji": False,
                                 "soft_wrap": True}
        # rich's own NO_COLOR support drops colours but keeps bold and dim;
        # NO_COLOR users (and our contract) expect no escape codes at all.
        if os.environ.get("NO_COLOR"):
            plain["color_system"] = None
        self.out = Console(**plain)
        self.err = Console(stderr=True, **plain)
        # rich turns EPIPE into SystemExit(1); the contract says 141.
        self.out.on_broken_pipe = self.err.on_broken_pipe = self._closed  # type: ignore[method-assign]
        #: The peer's bytes: raw on a pipe or file (or --raw), made safe on a terminal,
        #: the escapes dim when colour is on.
        self.payload_output = PayloadOutput(1, raw=raw, dim=self.out.color_system is not None)

    #: --syscalls draws getaddrinfo's struct addrinfo chain without -v (resolve does).
    addrinfo_chain = False

    def __call__(self, event: str, fields: Event) -> None:
        if event in ("syscall", "syscall_summary"):
            if self.settings.syscalls:
                getattr(self, "on_" + event)(fields)
            return
        handler = getattr(self, "on_" + event, None)
        if handler is not None:
            handler(fields)

    # --- payload -----------------------------------------------------------------------

    def payload(self, data: bytes, *, client: Fields | None = None, datagram: bool = False,
                echoed: bool | None = None) -> None:
        """The peer's bytes to fd 1, unbuffered: as they are, unless fd 1 is a terminal.

        On a terminal (without --raw) they are made safe (``render.payload``),
        each client's stream with its own filter; a datagram is a whole message.
        """
        if datagram:
            self.payload_output.message(data)
        else:
            self.payload_output.write(data, client["id"] if client is not None else None)

    def end_payload(self, client: Mapping[str, Any] | None = None) -> None:
        """A peer's stream ended: what its filter held back (half a character) is written."""
        self.payload_output.end(client["id"] if client is not None else None)

    def close(self) -> None:
        self.payload_output.end_all()

    @staticmethod
    def _closed() -> None:
        raise StdoutClosed()

    # --- where things go -----------------------------------------------------------

    def trace(self, *items: Any, detail: bool = False) -> None:
        """A trace line on stderr: dropped with -q; ``detail`` lines need -v."""
        if self.settings.quiet or (detail and not self.settings.verbose):
            return
        self.err.print(*items)

    def result(self, *items: Any) -> None:
        """A result on stdout: kept even with -q."""
        self.out.print(*items)

    # --- shared events and formatting ---

    def wants(self, event: str) -> bool:
        if event in ("syscall", "syscall_summary"):
            # The calls are trace lines: -q drops them like the rest of the trace.
            return self.settings.syscalls and not self.settings.quiet
        return True

    def on_syscall_summary(self, fields: SyscallSummaryEvent) -> None:
        """--syscalls: the bytes the event loop read and wrote on a client's socket."""
        from netprobe.render import syscalls as c

        self.trace(Text(c.summary_c(fields), style="dim"))

    def on_syscall(self, fields: SyscallEvent) -> None:
        """--syscalls: one call in C form (recv/send summed up per descriptor unless -v).

        One call a line whatever the width, as strace prints it: grep and awk
        read these lines.
        """
        from netprobe.render import syscalls as c

        call = fields["call"]
        if not self.settings.verbose:
            data = self.__dict__.setdefault("_syscall_data", c.DataSummary())
            if call in c.DATA_CALLS:
                data.add(fields)
                return
            if call == "close":
                summary = data.pop(fields["fd"])
                if summary is not None:
                    self.trace(Text(c.summary_c(summary), style="dim"))
        self.trace(Text(c.line(fields), style="cyan"))
        if call == "getaddrinfo" and (self.addrinfo_chain or self.settings.verbose):
            for text in c.addrinfo_block(fields):
                self.trace(Text(text, style="dim"))
        if call == "getnameinfo" and (self.addrinfo_chain or self.settings.verbose):
            block = c.sockaddr_block(fields["args"]["addr"], "    ")
            for text in ["    addr = " + block[0], *block[1:-1], block[-1] + ";"]:
                self.trace(Text(text, style="dim"))

    def on_resolving(self, fields: ResolvingEvent) -> None:
        """The getaddrinfo call itself, with -v."""
        self.trace(Text.assemble(("getaddrinfo ", "dim"), self.call_args(fields)), detail=True)

    def on_explain(self, explain: Fields) -> None:
        """--explain's "why" (after the result, or alone when the lookup failed)."""
        from netprobe.render.explain import render_explain

        render_explain(self.trace, bool(self.settings.verbose), explain)

    @staticmethod
    def call_args(fields: ResolvingEvent) -> str:
        """HOST SERVICE as passed to getaddrinfo (NULL for an absent one)."""
        return " ".join(safe_line(repr(v)) if v is not None else "NULL"
                        for v in (fields["host"], fields["service"]))

    # --- shared formatting -----------------------------------------------------------

    @staticmethod
    def outside(text: str | None, style: str = "") -> Text:
        """Outside text (a name, DNS data, a peer's message) as a safe rich ``Text``."""
        return rich_text(text or "", style)

    @staticmethod
    def counted(n: int, noun: str, plural: str | None = None) -> str:
        """``1 client``, ``2 clients``: the plural only when n != 1."""
        return f"{n} {noun if n == 1 else plural or noun + 's'}"

    @staticmethod
    def hints_text(hints: HintsFields) -> Text:
        flags = "|".join(hints["flags"]) or "0"
        return Text.assemble(
            ("hints ", "dim"),
            f"family={hints['family']} socktype={hints['socktype']} "
            f"protocol={hints['protocol']} flags={flags}",
        )

    @staticmethod
    def candidate_table(candidates: list[CandidateFields], title: str | None = None) -> Columns:
        # Columns, not rich.table: the one table of `resolve`, drawn without
        # rich.table's import and layout cost (see netprobe/render/columns.py).
        show_v6 = any(c["flowinfo"] or c["scope_id"] for c in candidates)
        show_canon = any(c["canonname"] for c in candidates)
        table = Columns(title=title)
        for name in ("#", "family", "socktype", "protocol", "address", "port"):
            table.add_column(name, justify="right" if name in ("#", "port") else "left")
        if show_v6:
            table.add_column("flowinfo", justify="right")
            table.add_column("scope", justify="right")
        if show_canon:
            table.add_column("canonname")
        for c in candidates:
            row: list[str | Text] = [
                str(c["index"]), c["family"], str(c["socktype"]), str(c["protocol"]),
                Text(c["address"], style="bold"), str(c["port"]),
            ]
            if show_v6:
                row += [str(c["flowinfo"]), str(c["scope_id"])]
            if show_canon:
                row.append(Human.outside(c["canonname"]))
            table.add_row(*row)
        return table

    @staticmethod
    def peer_cred_text(cred: Any) -> str:
        """SO_PEERCRED: ``pid 4242 uid 0 gid 0: socat UNIX-LISTEN:...`` (the command made
        safe: a process chooses its own command line)."""
        command = cred.get("command")
        shown = safe_line(command) if command is not None else "(command not visible)"
        return f"pid {cred['pid']} uid {cred['uid']} gid {cred['gid']}: {shown}"

    @staticmethod
    def endpoint(address: str, port: int | None = None) -> str:
        """``ADDR:PORT`` / ``[V6]:PORT``, as everywhere else (netprobe.endpoints.format_endpoint).

        A scope id names an interface: the address is made safe like any name
        from outside.
        """
        if port is None:  # AF_UNIX: a path or @NAME, or an unnamed socket
            return safe_line(address) if address else "(unnamed)"
        return format_endpoint(safe_line(address), port)
