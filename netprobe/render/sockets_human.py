"""``netprobe sockets`` for people, and the sockets a ``why`` names: rows read at a glance.

One row a socket on stdout (a result, kept with ``-q``), laid out by
``Columns`` (no ``rich.table``: a host can have ten thousand rows), the
count on stderr.  ``socket_row`` is shared with the ``why`` lines of
connect, listen and check (``render.why``), so a socket reads the same
wherever it is shown.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text

from netprobe.endpoints import format_endpoint
from netprobe.render import Settings
from netprobe.render.columns import Columns
from netprobe.render.human import Human
from netprobe.safe import safe_line

if TYPE_CHECKING:
    from netprobe.events import Event, Fields

COLUMNS = ("proto", "state", "local", "peer", "queue", "v6only", "uid", "process")
_RIGHT = frozenset({"queue", "uid"})
_STATE_STYLE = {"LISTEN": "bold green", "UNCONN": "green", "ESTABLISHED": "cyan",
                "TIME_WAIT": "dim"}


def endpoint_text(endpoint: Fields | None) -> str:
    """``127.0.0.1:8000``, ``[::1]:8000``, a Unix path, ``*`` for none (as ``ss``)."""
    if endpoint is None:
        return "*"
    if "path" in endpoint:
        return safe_line(endpoint["path"]) or "*"
    return format_endpoint(endpoint["address"], endpoint["port"])


def local_text(fields: Event) -> str:
    text = endpoint_text(fields["local"])
    dev = fields.get("dev")
    if dev:
        # Bound to a device (SO_BINDTODEVICE): ss writes ADDR%DEV:PORT.
        text += f" %{safe_line(dev)}"
    return text


def processes_text(processes: list[Fields] | None) -> str:
    """``812 sshd``, several comma-separated, ``-`` for none, ``not permitted``."""
    if processes is None:
        return "not permitted"
    if not processes:
        return "-"
    return ", ".join(f"{p['pid']} {safe_line(p['name'] or p['command'])}" for p in processes)


def queue_text(queue: Fields | None) -> str:
    return "-" if queue is None else f"{queue['waiting']}/{queue['backlog']}"


def v6only_text(fields: Event) -> str:
    value = fields["v6only"]
    return "-" if value is None else ("yes" if value else "no")


def socket_row(fields: Event) -> list[str | Text]:
    """One socket as the cells of ``COLUMNS``."""
    uid = fields["uid"]
    return [fields["proto"], Text(fields["state"], style=_STATE_STYLE.get(fields["state"], "")),
            Text(local_text(fields), style="bold"), endpoint_text(fields["peer"]),
            queue_text(fields["queue"]), v6only_text(fields), "-" if uid is None else str(uid),
            processes_text(fields["processes"])]


def socket_table(sockets: list[Event]) -> Columns:
    table = Columns()
    for name in COLUMNS:
        table.add_column(name, "right" if name in _RIGHT else "left")
    for fields in sockets:
        table.add_row(*socket_row(fields))
    return table


class SocketsHuman(Human):
    """Collects the rows; the table is drawn when the summary says the table is complete."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.rows: list[Event] = []

    def on_socket(self, fields: Event) -> None:
        self.rows.append(fields)

    def on_sockets_summary(self, fields: Event) -> None:
        if self.rows:
            self.result(socket_table(self.rows))
        total = fields["total"]
        line = Text(f"{self.counted(total, 'socket')} in {fields['elapsed_ms']:.1f} ms"
                    if total else "no socket matches", style="dim")
        self.trace(line)
        if fields.get("processes_hidden") and any(r["processes"] is None for r in self.rows):
            self.trace(Text("not permitted: this user may not read other users' "
                            "/proc/PID/fd (root may)", style="yellow"))


# --- why: a failure's cause, under the attempt or bind it explains -------------------------

_KIND_STYLE = {"remote": "dim", "other": "dim"}


def route_text(route: Fields) -> str:
    """``ip route get``'s words: ``via GW dev DEV src SOURCE``."""
    parts = [f"via {route['gateway']}" if route.get("gateway") else "",
             f"dev {safe_line(route['dev'])}" if route.get("dev") else "",
             f"src {route['source']}" if route.get("source") else ""]
    return " ".join(p for p in parts if p) or "-"


def why_lines(why: Event, *, explain: bool, indent: str = "   ") -> list[Text]:
    """The ``why`` line (its message made safe: it names processes), and with --explain the
    sockets that explain it and the route."""
    line = Text(f"{indent}why: ", style="dim")
    line.append_text(Human.outside(why["message"], style=_KIND_STYLE.get(why["kind"],
                                                                         "yellow")))
    lines = [line]
    if not explain:
        return lines
    sockets = why.get("sockets") or []
    if sockets:
        for row in socket_table(sockets).text().split("\n"):
            lines.append(Text(f"{indent}     ") + row)
    route = why.get("route")
    if route is not None:
        lines.append(Text(f"{indent}     route: {route_text(route)}", style="dim"))
    return lines


def show_why(human: Human, why: Event | None) -> None:
    """Under an attempt's or a bind's line (stderr, with the trace)."""
    if why is not None:
        for line in why_lines(why, explain=human.settings.explain):
            human.trace(line)


def show_target_whys(human: Human, targets: Sequence[Event]) -> None:
    """``check``: each failed target's why, after the results table, on stderr with the
    trace (the table on stdout stays one row a target, for scripts).

    Off a terminal as plain lines in one write: rich lays out each line in
    tens of microseconds, and a check of a thousand targets can fail half.
    """
    failed = [(t["target"], t["why"]["message"]) for t in targets
              if not t["ok"] and t.get("why") is not None]
    if not failed or human.settings.quiet:
        return
    if not human.err.is_terminal:
        import sys

        text = "".join(f"{safe_line(target)}: why: {safe_line(message)}\n"
                       for target, message in failed)
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(text)
        return
    for target, message in failed:
        line = Text.assemble((f"{target}: ", "bold"), ("why: ", "dim"))
        line.append_text(Human.outside(message, style="yellow"))
        human.trace(line)
