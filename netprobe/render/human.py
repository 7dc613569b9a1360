"""Human output with rich: results on stdout, the trace on stderr.

The only module (with its command-specific subclasses) that imports rich,
and it is imported only when output is for people.  rich already does the
right thing with colour: none when the stream is not a terminal, none when
NO_COLOR is set.
"""

from __future__ import annotations

import os
import select
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from netprobe.errors import StdoutClosed
from netprobe.events import Event, Fields
from netprobe.render import Renderer, Settings
from netprobe.render.columns import Columns
from netprobe.resolver import format_endpoint

if TYPE_CHECKING:
    from netprobe.schema import CandidateFields, HintsFields, ResolvingEvent


class Human(Renderer):
    """Base human renderer: dispatches an event to ``on_<event>`` if defined."""

    def __init__(self, settings: Settings) -> None:
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

    def __call__(self, event: str, fields: Event) -> None:
        handler = getattr(self, "on_" + event, None)
        if handler is not None:
            handler(fields)

    # --- payload -----------------------------------------------------------------------

    def payload(self, data: bytes, *, client: Fields | None = None, datagram: bool = False,
                echoed: bool | None = None) -> None:
        """The peer's bytes, as they are, straight to fd 1 (no encoding, no buffering)."""
        view = memoryview(data)
        try:
            while view:
                try:
                    view = view[os.write(1, view):]
                except BlockingIOError:
                    # stdout inherited in non-blocking mode: wait until it drains.
                    select.select([], [1], [])
        except BrokenPipeError:
            raise StdoutClosed() from None

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

    def on_resolving(self, fields: ResolvingEvent) -> None:
        """The getaddrinfo call itself, with -v."""
        self.trace(Text.assemble(("getaddrinfo ", "dim"), self.call_args(fields)), detail=True)

    def on_explain(self, explain: Fields) -> None:
        """--explain's "why" (after the result, or alone when the lookup failed)."""
        from netprobe.render.explain import render_explain

        render_explain(self, explain)

    @staticmethod
    def call_args(fields: ResolvingEvent) -> str:
        """HOST SERVICE as passed to getaddrinfo (NULL for an absent one)."""
        return " ".join(repr(v) if v is not None else "NULL"
                        for v in (fields["host"], fields["service"]))

    # --- shared formatting -----------------------------------------------------------

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
                row.append(c["canonname"] or "")
            table.add_row(*row)
        return table

    #: ``ADDR:PORT`` / ``[V6]:PORT``, as everywhere else (netprobe.resolver.format_endpoint).
    endpoint = staticmethod(format_endpoint)
