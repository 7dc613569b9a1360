"""Human output of ``check``: a live table while it runs, a results table at the end.

On a terminal (stderr), and never on a pipe, with ``-q`` or ``--json``, a
rich ``Live`` table is redrawn in place: every target's state (waiting,
resolving, connecting, retrying, ok, failed), its attempts and its time.
With a thousand targets the table cannot fit, so it shows a line of counts
and as many rows as the terminal has, the targets in flight first (what
the run is waiting for), then the failing ones.

At the end, on stdout (a result, kept with ``-q``): one row per target in
the order given: target, outcome, address used, time, errno; and on stderr
a line of counts.  On a pipe, ``-v`` adds a line per finished round, so a
CI log shows a long ``--wait`` progressing.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from rich.text import Text

from netprobe.events import Event
from netprobe.render import Settings
from netprobe.render.columns import Columns, Justify
from netprobe.render.connect import outcome_text
from netprobe.render.human import Human

if TYPE_CHECKING:
    from netprobe.schema import (
        AttemptStartedEvent,
        CheckStartedEvent,
        ResolvingEvent,
        SummaryEvent,
        SummaryTargetFields,
        TargetDoneEvent,
        TargetStartedEvent,
        TlsStartedEvent,
    )

_STATE_STYLE = {"ok": "bold green", "failed": "red", "retrying": "yellow", "waiting": "dim"}
#: Live-table order: what is running, then what is failing, then the rest.
_STATE_RANK = {"resolving": 0, "connecting": 0, "handshake": 0, "retrying": 1, "failed": 2,
               "waiting": 3, "ok": 4}
_LIVE_COLUMNS: tuple[tuple[str, Justify], ...] = (
    ("target", "left"), ("state", "left"), ("", "left"), ("attempts", "right"),
    ("time", "right"))
#: Rows kept off the live table for the count line and the header.
_CHROME = 4


class _State:
    __slots__ = ("attempts", "detail", "elapsed", "position", "round", "since", "state")

    def __init__(self, position: int) -> None:
        self.position = position
        self.state = "waiting"
        self.detail = ""
        self.attempts = 0
        self.round = 0
        self.since: float | None = None
        self.elapsed: float | None = None


class CheckHuman(Human):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.live_enabled = self.err.is_terminal and not settings.quiet
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()
        self._live: Any = None  # a rich Live, on a terminal only
        self._started = time.monotonic()

    def close(self) -> None:
        with self._lock:
            live, self._live = self._live, None
        if live is not None:
            live.stop()

    # --- events ------------------------------------------------------------------------

    def on_check_started(self, fields: CheckStartedEvent) -> None:
        self._started = time.monotonic()
        for position, text in enumerate(fields["targets"]):
            self._states.setdefault(text, _State(position))
        if self.live_enabled:
            from rich.live import Live  # only on a terminal: start-up time on a pipe

            self._live = Live(get_renderable=self._render_live, console=self.err,
                              transient=True, refresh_per_second=8)
            self._live.start()

    def _state(self, fields: Event) -> _State:
        return self._states.setdefault(fields["target"], _State(len(self._states)))

    def on_resolving(self, fields: ResolvingEvent) -> None:
        """Not shown: with many targets the getaddrinfo lines would drown the verdicts."""

    def on_target_started(self, fields: TargetStartedEvent) -> None:
        with self._lock:
            state = self._state(fields)
            state.state, state.detail = "resolving", ""
            state.round = fields["round"]
            if state.since is None:
                state.since = time.monotonic()

    def on_attempt_started(self, fields: AttemptStartedEvent) -> None:
        c = fields["candidate"]
        with self._lock:
            state = self._state(fields)
            state.state = "connecting"
            state.detail = self.endpoint(c["address"], c["port"])
            state.attempts += 1

    def on_tls_started(self, fields: TlsStartedEvent) -> None:
        with self._lock:
            self._state(fields).state = "handshake"

    def on_target_done(self, fields: TargetDoneEvent) -> None:
        with self._lock:
            state = self._state(fields)
            if fields["ok"]:
                state.state = "ok"
            else:
                state.state = "failed" if fields["final"] else "retrying"
            state.detail = fields["outcome"]
            state.elapsed = fields["elapsed_ms"] / 1000.0
        if not self.live_enabled and self.settings.verbose:
            line = Text.assemble((f"{fields['target']} ", "bold"),
                                 (f"round {fields['round']} ", "dim"),
                                 outcome_text(fields["outcome"]))
            if fields["errno"]:
                line.append(f"  {fields['errno']}")
            line.append(f"  {fields['elapsed_ms']:.1f} ms", style="dim")
            self.trace(line)

    def on_summary(self, fields: SummaryEvent) -> None:
        self.close()
        self.print_results(fields["targets"])
        if any(t.get("why") for t in fields["targets"]):
            from netprobe.render.sockets_human import show_target_whys

            show_target_whys(self, fields["targets"])
        elapsed = fields["elapsed_ms"] / 1000.0
        noun = "target" if fields["total"] == 1 else "targets"
        line = Text(f"{fields['total']} {noun}: ")
        line.append(f"{fields['ok']} ok", style="green" if fields["ok"] else "")
        line.append(", ")
        line.append(f"{fields['failed']} failed", style="bold red" if fields["failed"] else "")
        line.append(f" in {elapsed:.2f} s", style="dim")
        self.trace(line)

    # --- tables ------------------------------------------------------------------------

    def _render_live(self) -> Any:
        from rich.console import Group

        now = time.monotonic()
        with self._lock:
            states = list(self._states.items())
        counts: dict[str, int] = {}
        for _, state in states:
            counts[state.state] = counts.get(state.state, 0) + 1
        running = sum(counts.get(s, 0) for s in ("resolving", "connecting", "handshake"))
        header = Text.assemble(
            f"{len(states)} targets: ", (f"{counts.get('ok', 0)} ok", "green"), ", ",
            (f"{counts.get('failed', 0)} failed", "red"), ", ",
            f"{running} in flight, {counts.get('retrying', 0)} retrying, "
            f"{counts.get('waiting', 0)} waiting", (f"  {now - self._started:.1f} s", "dim"))
        room = max(self.err.height - _CHROME, 1)
        shown = sorted(states, key=lambda item: (_STATE_RANK.get(item[1].state, 5),
                                                 item[1].position))[:room]
        table = Columns()
        for name, justify in _LIVE_COLUMNS:
            table.add_column(name, justify)
        for text, state in shown:
            if state.elapsed is not None:
                took = f"{state.elapsed:.2f} s"
            elif state.since is not None:
                took = f"{now - state.since:.1f} s"
            else:
                took = ""
            label = state.state if state.round <= 1 else f"{state.state} (round {state.round})"
            table.add_row(text, Text(label, style=_STATE_STYLE.get(state.state, "")),
                          Text(state.detail, style="dim"), str(state.attempts), took)
        return Group(header, table.text())

    def print_results(self, targets: list[SummaryTargetFields]) -> None:
        """The results table on stdout, laid out by ``Columns`` (no rich.table)."""
        self.out.print(self.results_columns(targets))

    @staticmethod
    def results_columns(targets: list[SummaryTargetFields]) -> Columns:
        """Every target's verdict, in the order given."""
        rounds = any(t.get("rounds", 1) > 1 for t in targets)
        table = Columns()
        for name in ("target", "outcome", "address", "time", "errno"):
            table.add_column(name, "right" if name == "time" else "left")
        if rounds:
            table.add_column("rounds", "right")
        for t in targets:
            outcome = outcome_text(t["outcome"]).plain
            row: list[str | Text] = [
                t["target"],
                Text(outcome, style="bold green") if t["ok"]
                else Text(outcome + " FAIL", style="bold red"),
                t["address"] or "-", f"{t['elapsed_ms']:.1f} ms", t["errno"] or ""]
            if rounds:
                row.append(str(t["rounds"]))
            table.add_row(*row)
        return table
