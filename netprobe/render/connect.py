"""Human output of ``connect``: the attempts on stderr, the peer's bytes on stdout.

On a terminal (and never on a pipe or with --json) two extras: a live status
line while something is being waited for (resolution, a connect, a --wait
round), and after more than one attempt a small timeline of when each
started and ended, which is what makes a Happy Eyeballs race readable.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from rich.text import Text

from netprobe.render import Settings
from netprobe.render.human import Human
from netprobe.render.tls import TlsView
from netprobe.safe import safe_line

if TYPE_CHECKING:
    from rich.live import Live
    from rich.spinner import Spinner
    from rich.table import Table

    from netprobe.schema import (
        AttemptEvent,
        AttemptsDoneEvent,
        AttemptStartedEvent,
        ClosedEvent,
        ConnectedEvent,
        EndpointFields,
        ResolvedEvent,
        ResolvingEvent,
        RoundEvent,
        StepEvent,
    )

_OUTCOME_STYLE = {
    "connected": "bold green",
    "refused": "red",
    "timeout": "yellow",
    "unreachable": "red",
    "cancelled": "dim",
    "error": "red",
}
#: How an outcome reads in a sentence ("timed out", not "timeout").
_OUTCOME_WORDS = {"timeout": "timed out"}
#: Width of the timeline bars, in characters (less on a narrow terminal).
_BAR = 40
#: Timeline columns aligned left (the others, numbers, align right).
_LEFT = frozenset({"candidate", "", "outcome"})
#: What the other timeline columns take, roughly: the bar gets the rest.
_TIMELINE_TEXT = 60
#: The events of the handshake: nothing but trace lines (``TlsView``).
_TLS_EVENTS = frozenset({"tls_started", "tls"})


def _restates(outcome: str, message: str) -> bool:
    """The message says no more than the outcome already did ("timed out" after
    "timed out  ETIMEDOUT"): say it once."""
    return message.lower() == _OUTCOME_WORDS.get(outcome, outcome)


def _where(endpoint: EndpointFields | None) -> str:
    return Human.endpoint(endpoint["address"], endpoint["port"]) if endpoint else "?"


def outcome_text(outcome: str) -> Text:
    return Text(_OUTCOME_WORDS.get(outcome, outcome), style=_OUTCOME_STYLE.get(outcome, ""))


class ConnectHuman(TlsView, Human):
    def __init__(self, settings: Settings, *, show_steps: bool = False,
                 compact: bool = False, raw: bool = False) -> None:
        super().__init__(settings, raw=raw)
        #: --source: every step (socket, setsockopt, bind, connect) is shown.
        self.show_steps = show_steps or settings.verbose > 0
        #: --wait: one line per round; the attempts only with -v.
        self.compact = compact and not settings.verbose
        self.live_enabled = self.err.is_terminal and not settings.quiet
        self._live: Live | None = None
        self._spinner: Spinner | None = None
        self._waiting_for = ""
        self._since = 0.0
        self._lock = threading.Lock()

    # --- the live status line (terminal only) ------------------------------------------

    def _status(self, text: str) -> None:
        if not self.live_enabled:
            return
        with self._lock:
            self._waiting_for, self._since = text, time.monotonic()
            if self._live is None:
                # Imported here: the status line is for a terminal only (rich.live
                # and rich.spinner cost ~15 ms to import).
                from rich.live import Live
                from rich.spinner import Spinner

                if self._spinner is None:
                    self._spinner = Spinner("dots")
                self._live = Live(get_renderable=self._render_status, console=self.err,
                                  transient=True, refresh_per_second=8)
                self._live.start()

    def _render_status(self) -> Any:
        elapsed = time.monotonic() - self._since
        assert self._spinner is not None  # made with the Live that asks
        self._spinner.update(text=Text(f"{self._waiting_for}  {elapsed:.1f} s", style="dim"))
        return self._spinner

    def _stop_status(self) -> None:
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None

    def close(self) -> None:
        self._stop_status()
        super().close()

    def wants(self, event: str) -> bool:
        # -q: the handshake's lines are trace, dropped; the core then need not
        # describe the chain nor predict the verdict (netprobe.tls.channel).
        if event in _TLS_EVENTS and self.settings.quiet:
            return False
        return super().wants(event)

    # --- events ------------------------------------------------------------------------

    def on_resolving(self, fields: ResolvingEvent) -> None:
        what = self.call_args(fields)
        self._status(f"resolving {what}")
        if not self.compact:
            self.trace(Text.assemble(("getaddrinfo ", "dim"), what), detail=True)

    def on_resolved(self, fields: ResolvedEvent) -> None:
        self._stop_status()
        if self.compact:
            return
        self.trace(self.hints_text(fields["hints"]))
        candidates = fields["candidates"]
        endpoints = ", ".join(self.endpoint(c["address"], c["port"]) for c in candidates)
        how = "DNS" if fields.get("source") == "dns" else "getaddrinfo"
        noun = "candidate" if len(candidates) == 1 else "candidates"
        self.trace(Text.assemble(f"{len(candidates)} {noun}: ", (endpoints, "bold"),
                                 (f"  ({how} {fields['elapsed_ms']:.1f} ms)", "dim")))
        if self.settings.verbose:
            self.trace(self.candidate_table(candidates))
        if "explain" in fields:
            self.on_explain(fields["explain"])

    def on_attempt_started(self, fields: AttemptStartedEvent) -> None:
        c = fields["candidate"]
        endpoint = self.endpoint(c["address"], c["port"])
        self._status(f"connecting to {endpoint} (#{fields['index']})")
        if self.settings.verbose and not self.compact:
            self.trace(Text(f"#{fields['index']} {endpoint} started at "
                            f"+{fields['started_ms']:.1f} ms", style="dim"))

    def on_step(self, fields: StepEvent) -> None:
        if not self.show_steps or self.compact:
            return
        line = Text(f"   #{fields['index']} {fields['step']} {fields['detail']}", style="dim")
        if fields["outcome"] == "error":
            line.append(f"  {fields['errno']}: {fields['message']}", style="red")
        self.trace(line)

    def on_attempt(self, fields: AttemptEvent) -> None:
        if self.compact:
            return
        c = fields["candidate"]
        outcome = fields["outcome"] or ""
        line = Text.assemble(f"#{fields['index']} ",
                             (f"{self.endpoint(c['address'], c['port'])}", "bold"), "  ",
                             outcome_text(outcome))
        if fields["errno"]:
            line.append(f"  {fields['errno']}")
        if fields["message"] and not _restates(outcome, fields["message"]):
            line.append(f"  {safe_line(fields['message'])}", style="dim")
        line.append(f"  {fields['elapsed_ms']:.1f} ms", style="dim")
        self.trace(line)
        if "why" in fields:
            from netprobe.render.sockets_human import show_why

            show_why(self, fields["why"])

    def on_connected(self, fields: ConnectedEvent) -> None:
        self._stop_status()
        local, peer = fields["local"], fields["peer"]
        self.trace(Text.assemble(
            ("connected ", "bold green"),
            f"{_where(local)} -> ",
            (_where(peer), "bold"),
            (f"  in {fields['elapsed_ms']:.1f} ms", "dim"),
        ))
        cred = fields.get("peer_cred")
        if cred is not None:
            self.trace(Text(f"peer {self.peer_cred_text(cred)}", style="dim"))

    def on_attempts_done(self, fields: AttemptsDoneEvent) -> None:
        self._stop_status()
        attempts = fields["attempts"]
        if self.live_enabled and len(attempts) > 1 and not self.compact:
            width = max(10, min(_BAR, self.err.width - _TIMELINE_TEXT))
            self.trace(self.timeline(attempts, width))

    def on_round(self, fields: RoundEvent) -> None:
        line = Text.assemble((f"round {fields['n']} ", "dim"), outcome_text(fields["outcome"]))
        if fields.get("errno"):
            line.append(f"  {fields['errno']}")
        if fields.get("message") and fields["outcome"] != "connected":
            line.append(f"  {safe_line(fields['message'])}", style="dim")
        line.append(f"  {fields['elapsed_ms']:.1f} ms", style="dim")
        self.trace(line)
        if fields["outcome"] != "connected":
            left = fields.get("remaining_ms", 0.0) / 1000.0
            self._status(f"waiting: round {fields['n']} {fields['outcome']}, {left:.1f} s left")

    def on_closed(self, fields: ClosedEvent) -> None:
        self._stop_status()
        self.trace(Text(
            f"closed ({fields['reason']}): {fields['bytes_out']} bytes sent, "
            f"{fields['bytes_in']} received in {fields['duration_ms']:.1f} ms", style="dim"))

    # --- the timeline ------------------------------------------------------------------

    @staticmethod
    def timeline(attempts: list[AttemptEvent], width: int = _BAR) -> Table:
        """When each attempt started and ended, on one time axis ``width`` characters long."""
        from rich.table import Table  # a terminal's only, after a race

        end = max(a["started_ms"] + a["elapsed_ms"] for a in attempts) or 1.0
        table = Table(title="timeline", title_justify="left", box=None, pad_edge=False)
        for name in ("#", "candidate", "start", "end", "", "outcome"):
            table.add_column(name, justify="left" if name in _LEFT else "right", no_wrap=True,
                             overflow="crop", min_width=width if name == "" else None)
        for a in attempts:
            begin, length = a["started_ms"], a["elapsed_ms"]
            first = min(int(begin / end * width), width - 1)
            length_chars = max(1, round(length / end * width))
            bar = Text(" " * first)
            outcome = a["outcome"] or ""
            bar.append("━" * min(length_chars, width - first),
                       style=_OUTCOME_STYLE.get(outcome, ""))
            c = a["candidate"]
            table.add_row(str(a["index"]), Human.endpoint(c["address"], c["port"]),
                          f"{begin:.0f} ms", f"{begin + length:.0f} ms", bar,
                          outcome_text(outcome))
        return table
