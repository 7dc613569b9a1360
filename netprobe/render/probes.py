"""Human output of ``connect --count``: a line per probe, the statistics, and on a terminal
a live sparkline and a histogram.

Design decisions:

* **Results on stdout.**  The probe lines and the statistics are what a
  probe run is for (SPEC: results), so ``-q`` keeps them and a pipe gets
  them; the resolution and, with ``-vv``, every attempt stay on stderr.
* **One unit for every time of the run: milliseconds, to the microsecond.**
  A loopback connect takes 0.05 ms and a timeout 10 000 ms; a unit chosen
  per line (tcping's 987 µs next to 1.02 ms) makes a column that cannot
  be compared at a glance.  Three decimals show loopback's microseconds;
  the unit never changes within a run, statistics included.
* **The sparkline and the histogram are for a terminal only.**  The
  sparkline is a live line below the probe lines (rich's ``Live`` on
  stdout's console, which prints each probe line above it), taken down
  before the statistics; the histogram follows them.  Neither is drawn on
  a pipe, a file or with ``--json`` (a script reading the lines must not
  see cursor controls).  Only a terminal run keeps the times for the
  histogram, and only those of the probes that succeeded.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.live import Live
from rich.text import Text

from netprobe.render import Settings
from netprobe.render.connect import ConnectHuman
from netprobe.safe import safe_line

if TYPE_CHECKING:
    from netprobe.schema import (
        ProbeEvent,
        ProbeFigures,
        ProbeStatsEvent,
        ResolvedEvent,
        TcpInfoFields,
    )

#: Eight heights, from the shortest time in the window to the longest.
_LEVELS = "▁▂▃▄▅▆▇█"
#: A probe that failed, in the sparkline.
_FAILED = "×"
_HISTOGRAM_BINS = 10
_HISTOGRAM_BAR = 40
_OUTCOME_STYLE = {"ok": "bold green", "timeout": "yellow", "expect": "magenta"}
_SAID_BY_ERRNO = frozenset({"ok", "refused", "timeout", "unreachable"})
#: "unreachable", the longest outcome, sets the column's width.
_OUTCOME_WIDTH = 11


def time_text(value_ms: float | None) -> str:
    """A time in the run's one unit: ``0.187 ms`` (``-`` when there is none)."""
    return "-" if value_ms is None else f"{value_ms:.3f} ms"


def sparkline(values: Sequence[float | None], width: int) -> str:
    """The last ``width`` times as bars scaled between their own minimum and maximum;
    a failed probe (None) is ``×``."""
    window = list(values)[-width:] if width > 0 else []
    times = [v for v in window if v is not None]
    low, high = (min(times), max(times)) if times else (0.0, 0.0)
    span = high - low
    top = len(_LEVELS) - 1
    chars = []
    for value in window:
        if value is None:
            chars.append(_FAILED)
        elif span <= 0:
            chars.append(_LEVELS[0])
        else:
            chars.append(_LEVELS[min(top, int((value - low) / span * top + 0.5))])
    return "".join(chars)


def histogram(times: Sequence[float], bins: int = _HISTOGRAM_BINS
              ) -> list[tuple[float, float, int]]:
    """``bins`` equal-width buckets from the shortest time to the longest: (low, high, count).

    One bucket when every time is the same; none for no times.
    """
    if not times:
        return []
    low, high = min(times), max(times)
    if high <= low:
        return [(low, high, len(times))]
    width = (high - low) / bins
    counts = [0] * bins
    for value in times:
        counts[min(bins - 1, int((value - low) / width))] += 1
    return [(low + i * width, low + (i + 1) * width, n) for i, n in enumerate(counts)]


def figures_text(fields: ProbeFigures) -> Text:
    """``10 sent, 9 ok, 1 failed, 10% loss`` and, when any succeeded, the six times."""
    text = Text(f"{fields['sent']} sent, {fields['ok']} ok, {fields['failed']} failed, "
                f"{fields['loss_pct']:g}% loss")
    if fields["min_ms"] is not None:
        values = "/".join(f"{fields[k]:.3f}"
                          for k in ("min_ms", "avg_ms", "median_ms", "p95_ms", "max_ms",
                                    "stdev_ms"))
        text.append(f"\nmin/avg/median/p95/max/stdev = {values} ms")
    return text


def kernel_text(info: TcpInfoFields) -> str:
    """TCP_INFO in one line (rtt in ms, the run's unit)."""
    return (f"rtt {info['rtt_us'] / 1000:.3f}/{info['rttvar_us'] / 1000:.3f} ms  "
            f"retrans {info['retransmits']}/{info['total_retrans']}  mss {info['snd_mss']}  "
            f"pmtu {info['pmtu']}  cwnd {info['snd_cwnd']}")


class ProbesHuman(ConnectHuman):
    """``connect --count``: probe lines and statistics on stdout, the sparkline on a terminal."""

    def __init__(self, settings: Settings, *, show_steps: bool = False, compact: bool = False,
                 raw: bool = False) -> None:
        # Each probe's attempts reach the renderer only with -vv: then in full.
        super().__init__(settings, show_steps=show_steps, compact=settings.verbose < 2,
                         raw=raw)
        # The connect status line would fight the sparkline for the terminal.
        self.live_enabled = False
        self.terminal = self.out.is_terminal
        self._spark_live: Live | None = None
        self._recent: deque[float | None] = deque(maxlen=max(10, self.out.width))
        #: The times of the probes that succeeded, for the histogram (terminal only).
        self._times = array("d")
        self._target = ""
        self._endpoint_width = 0
        self._candidates: list[str] | None = None

    # --- the sparkline (terminal only) ------------------------------------------------------

    def _spark(self) -> Any:
        width = max(10, self.out.width - 30)
        times = [t for t in self._recent if t is not None]
        last = time_text(times[-1]) if times else "-"
        return Text.assemble((sparkline(self._recent, width), "cyan"), (f"  last {last}", "dim"))

    def _start_sparkline(self) -> None:
        if self._spark_live is None and self.terminal:
            self._spark_live = Live(get_renderable=self._spark, console=self.out, transient=True,
                              refresh_per_second=8, redirect_stdout=False,
                              redirect_stderr=False)
            self._spark_live.start()

    def _stop_sparkline(self) -> None:
        if self._spark_live is not None:
            self._spark_live.stop()
            self._spark_live = None

    def trace(self, *items: Any, detail: bool = False) -> None:
        # Under the live sparkline a line written to the terminal by another
        # console would be drawn over; printed through the live one it goes above.
        if self._spark_live is not None and self.err.is_terminal:
            if not (self.settings.quiet or (detail and not self.settings.verbose)):
                self._spark_live.console.print(*items)
            return
        super().trace(*items, detail=detail)

    def close(self) -> None:
        self._stop_sparkline()
        super().close()

    # --- events ------------------------------------------------------------------------

    def on_resolved(self, fields: ResolvedEvent) -> None:
        endpoints = [self.endpoint(c["address"], c["port"]) for c in fields["candidates"]]
        if not self._target:
            self._target = f"{safe_line(str(fields['host']))} {safe_line(str(fields['service']))}"
        self._endpoint_width = max([self._endpoint_width, *map(len, endpoints)])
        # --resolve-each: the answer is shown again only when it changed.
        if endpoints != self._candidates:
            self._candidates = endpoints
            was, self.compact = self.compact, False
            try:
                super().on_resolved(fields)
            finally:
                self.compact = was

    def on_probe(self, fields: ProbeEvent) -> None:
        c = fields["candidate"]
        where = self.endpoint(c["address"], c["port"]) if c else "-"
        outcome = fields["outcome"]
        line = Text.assemble(
            f"{fields['seq']:>4}  ", (where.ljust(self._endpoint_width), "bold"), "  ",
            (outcome.ljust(_OUTCOME_WIDTH), _OUTCOME_STYLE.get(outcome, "red")), "  ",
            f"{fields['elapsed_ms']:>9.3f} ms")
        if fields["errno"]:
            line.append(f"  {fields['errno']}")
        # The errno says what refused, timed out and unreachable mean; the other
        # failures (a TLS verification, an --expect) need their message.
        if outcome not in _SAID_BY_ERRNO and fields["message"]:
            line.append(f"  {safe_line(fields['message'])}", style="dim")
        if "unanswered_syns" in fields:
            # A socket still in SYN_SENT has measured nothing (rtt 0): its SYNs are the news.
            n = fields["unanswered_syns"]
            line.append(f"  {n} SYN{'s' * (n != 1)} unanswered", style="yellow")
        elif fields["tcp_info"] is not None:
            line.append(f"  {kernel_text(fields['tcp_info'])}", style="dim")
        if "why" in fields:
            line.append(f"  why: {safe_line(str(fields['why'].get('message', '')))}",
                        style="dim")
        ok = outcome == "ok"
        self._recent.append(fields["elapsed_ms"] if ok else None)
        if self.terminal and ok:
            self._times.append(fields["elapsed_ms"])
        self._start_sparkline()
        self.result(line)

    def on_probe_stats(self, fields: ProbeStatsEvent) -> None:
        self._stop_sparkline()
        self.result(Text(f"--- {self._target} probe statistics ---", style="bold"))
        self.result(figures_text(fields))
        addresses = fields["per_address"]
        if len(addresses) > 1:
            for each in addresses:
                where = self.endpoint(each["address"], each["port"])
                self.result(Text.assemble((f"  {where}", "bold"), "  ",
                                          figures_text(each).plain.replace("\n", "\n    ")))
        if self.terminal and self._times:
            self._histogram()

    def _histogram(self) -> None:
        buckets = histogram(self._times)
        most = max(n for _, _, n in buckets) or 1
        for low, high, n in buckets:
            bar = "█" * max(1 if n else 0, round(n / most * _HISTOGRAM_BAR))
            self.result(Text.assemble(f"{low:>10.3f} - {high:>10.3f} ms  ", (bar, "cyan"),
                                      f" {n}"))
