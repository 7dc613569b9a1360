"""Human output of ``listen``: bind steps, "listening on", clients and the summary on stderr;
what clients send (without --echo) on stdout: raw on a pipe or file (or with --raw), made
safe on a terminal (``render.payload``)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.text import Text

from netprobe.events import Fields
from netprobe.render import Settings
from netprobe.render.human import Human
from netprobe.render.tls import TlsView
from netprobe.safe import safe_line

if TYPE_CHECKING:
    from netprobe.schema import (
        AcceptedEvent,
        BindEvent,
        ClientFields,
        ClosedEvent,
        ListeningEvent,
        ResolvedEvent,
        StoppedEvent,
        TlsFailedEvent,
    )


def _size(n: int) -> str:
    if n < 1024:  # the common case on a busy server's summary lines: no loop
        return f"{n} B"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _duration(milliseconds: float) -> str:
    if milliseconds >= 1000:
        return f"{milliseconds / 1000:.2f} s"
    return f"{milliseconds:.1f} ms"


class ListenHuman(TlsView, Human):
    """Per-client lines are written as plain text unless stderr is a terminal.

    A busy server accepts thousands of clients a second; rich's layout costs
    tens of microseconds a line, which would be most of the server's time per
    connection.  The lines carry no colour off a terminal anyway.
    """

    def __init__(self, settings: Settings, *, raw: bool = False) -> None:
        super().__init__(settings, raw=raw)
        self.plain = not self.err.is_terminal
        self.clients_shown = not settings.quiet
        # "client N ADDR:PORT" of each client between its two lines, made once.
        self.named: dict[int, str] = {}

    def wants(self, event: str) -> bool:
        # With -q no client line is shown: the server need not build them.  But
        # on a terminal a client's end flushes what its payload filter held back.
        if event not in ("accepted", "closed"):
            return super().wants(event)
        if event == "closed" and self.payload_output.safe:
            return True
        return self.clients_shown

    def _line(self, text: str, style: str | None = None) -> None:
        if not self.clients_shown:
            return
        if self.plain:
            # try/except, not contextlib.suppress: this runs twice per client.
            try:  # noqa: SIM105
                sys.stderr.write(text + "\n")
            except (OSError, ValueError):
                pass
        else:
            self.err.print(Text(text, style=style or ""))

    # --- resolving and binding --------------------------------------------------------

    def on_resolved(self, fields: ResolvedEvent) -> None:
        self.trace(self.hints_text(fields["hints"]))
        self.trace(self.candidate_table(fields["candidates"]), detail=True)

    def on_bind(self, fields: BindEvent) -> None:
        c = fields["candidate"]
        parts: list[tuple[str, str] | str] = [
            (f"#{c['index']} ", "dim"), (self.endpoint(c["address"], c["port"]), "bold"), " "]
        for step in fields["steps"]:
            name = step["step"] + (f"({step['option']})" if step.get("option") else "")
            if step["outcome"] == "ok":
                parts += [(name, "dim"), (" ok", "green"), ", "]
            else:
                parts += [name, " ", (f"{step['errno'] or 'error'}", "bold red"),
                          f" ({step['message']})", ", "]
        if fields["outcome"] == "listening":
            parts.append(("listening" if c["socktype"] != "SOCK_DGRAM" else "bound",
                          "bold green"))
        else:
            parts.pop()  # the separator after the failed step
        self.trace(Text.assemble(*parts))
        if fields.get("why") is not None:
            from netprobe.render.sockets_human import show_why

            show_why(self, fields["why"])

    def on_bind_skipped(self, fields: Fields) -> None:
        c = fields["candidate"]
        self.trace(Text(f"#{c['index']} {self.endpoint(c['address'], c['port'])} "
                        f"not tried ({fields['reason']})", style="dim"))

    def on_listening(self, fields: ListeningEvent) -> None:
        for sock in fields["sockets"]:
            kind = "udp" if sock["socktype"] == "SOCK_DGRAM" else "tcp"
            if sock["family"] == "AF_UNIX":
                kind = {"SOCK_DGRAM": "unix datagrams"}.get(str(sock["socktype"]),
                                                            "unix stream")
            note = ""
            if "v6only" in sock:
                note = " (IPv6 only)" if sock["v6only"] else " (IPv6 and IPv4-mapped)"
            self.trace(Text.assemble(("listening on ", "bold"),
                                     (self.endpoint(sock["address"], sock["port"]), "bold cyan"),
                                     f" {kind}{note}"))
        if "somaxconn" in fields:
            self.trace(Text(f"listen backlog capped at {fields['somaxconn']} by "
                            "net.core.somaxconn (raise it with sysctl for bursts of clients)",
                            style="yellow"))
        self._flush_err()

    def on_serving(self, fields: Fields) -> None:
        mode = "echo" if fields["echo"] else "payload to stdout"
        if fields["iterative"]:
            mode += ", one client at a time"
        self.trace(Text(f"serving ({mode}) on the {fields['loop']} event loop", style="dim"),
                   detail=True)

    # --- clients ------------------------------------------------------------------------

    def _where(self, client: Mapping[str, Any]) -> str:
        if client["address"] is None:  # a TCP client that reset before it was accepted
            return "(address unknown)"
        return self.endpoint(client["address"], client["port"])

    def _who(self, client: ClientFields) -> str:
        where = self._where(client)
        host = client.get("host")
        if host and host != client["address"]:
            # --names: what getnameinfo says, i.e. whoever runs the client's zone.
            where = f"{safe_line(host)} ({where})"
        return f"client {client['id']} {where}"

    def on_accepted(self, fields: AcceptedEvent) -> None:
        if not self.clients_shown:
            return
        client = fields["client"]
        who = self.named[client["id"]] = self._who(client)
        if fields.get("served") is False:
            self._line(f"{who} turned away: --max-clients reached (accepted and closed)",
                       "yellow")
            return
        tls = fields.get("tls")
        if tls:
            # ALPN and SNI are what the client chose to send.
            self._line(f"{who} connected, {tls['version']} "
                       f"{tls['cipher']} ALPN {safe_line(tls['alpn'] or '-')} "
                       f"SNI {safe_line(tls['sni'] or '-')}", "green")
            return
        cred = fields.get("peer_cred")
        if cred is not None:
            self._line(f"{who} connected, {self.peer_cred_text(cred)}", "green")
            return
        self._line(f"{who} connected", "green")

    def on_tls_failed(self, fields: TlsFailedEvent) -> None:
        client = fields["client"]
        self._line(f"client {self._where(client)} TLS handshake "
                   f"failed: {fields['code']}: {safe_line(fields['message'])}", "red")

    def on_closed(self, fields: ClosedEvent) -> None:
        self.end_payload(fields["client"])
        if not self.clients_shown:
            return
        client = fields["client"]
        who = self.named.pop(client["id"], None) or self._who(client)
        if fields["reason"] == "max-clients":
            return  # already said when it was turned away
        self._line(f"{who} closed ({fields['reason']}): "
                   f"{_size(fields['bytes_in'])} in, {_size(fields['bytes_out'])} out, "
                   f"{_duration(fields['duration_ms'])}")

    def payload(self, data: bytes, *, client: Fields | None = None, datagram: bool = False,
                echoed: bool | None = None) -> None:
        if echoed is not None and client is not None:  # listen --udp: each datagram is traced
            self._line(f"datagram from {self.endpoint(client['address'], client['port'])}: "
                       f"{len(data)} B" + (", echoed" if echoed else ""))
            if echoed:
                return
        super().payload(data, client=client, datagram=datagram)

    def on_datagram_error(self, fields: Fields) -> None:
        self.trace(Text(f"datagram error {fields['errno']}: {fields['message']}", style="dim"),
                   detail=True)

    def on_coalescing(self, fields: Fields) -> None:
        self.trace(Text(f"{self._who(fields['client'])} pipelines small writes: reads paused "
                        f"{fields['pause_ms']:g} ms at a time to coalesce them", style="dim"),
                   detail=True)

    def on_server_error(self, fields: Fields) -> None:
        self.trace(self.outside(f"{fields['context'] or 'error'}: {fields['errno'] or ''} "
                                f"{fields['message']}", style="yellow"))

    def on_stopped(self, fields: StoppedEvent) -> None:
        extra = f", {fields['rejected']} turned away" if fields.get("rejected") else ""
        if "datagrams" in fields:
            extra += f", {self.counted(fields['datagrams'], 'datagram')}"
        self.trace(Text.assemble(
            ("stopped", "bold"),
            f" ({fields['reason']}): {self.counted(fields['clients'], 'client')}{extra}, "
            f"{_size(fields['bytes_in'])} in, {_size(fields['bytes_out'])} out, "
            f"{_duration(fields['duration_ms'])}"))

    def _flush_err(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.err.file.flush()
