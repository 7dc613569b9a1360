"""Human output of ``resolve`` and ``reverse``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from netprobe.events import Fields
from netprobe.render.human import Human

if TYPE_CHECKING:
    from netprobe.schema import ResolvedEvent, ReversedEvent, ReversingEvent


class ResolveHuman(Human):
    def on_resolved(self, fields: ResolvedEvent) -> None:
        self.trace(self.hints_text(fields["hints"]))
        candidates = fields["candidates"]
        self.result(self.candidate_table(candidates))
        summary = Text(self.counted(len(candidates), "candidate"), style="dim")
        if fields.get("canonname"):
            summary.append(", canonical name ")
            summary.append_text(self.outside(fields["canonname"]))
        summary.append(f" in {fields['elapsed_ms']:.1f} ms")
        self.trace(summary)
        view = fields.get("dns")
        if view is not None:
            self.on_dns(view)
        if "explain" in fields:
            self.on_explain(fields["explain"])

    def on_dns(self, view: Fields) -> None:
        from netprobe.render.dns import render_dns

        render_dns(self, view)

    def on_reversing(self, fields: ReversingEvent) -> None:
        flags = "|".join(fields["flags"]) or "0"
        self.trace(Text.assemble(("getnameinfo ", "dim"),
                                 f"{self.endpoint(fields['address'], fields['port'])} "
                                 f"flags={flags}"), detail=True)

    def on_reversed(self, fields: ReversedEvent) -> None:
        flags = "|".join(fields["flags"]) or "0"
        self.trace(Text(f"flags {flags}", style="dim"))
        self.result(Text.assemble(self.outside(fields["host"], "bold"), " ",
                                  self.outside(fields["service"])))
        self.trace(Text(f"in {fields['elapsed_ms']:.1f} ms", style="dim"))
        view = fields.get("dns")
        if view is not None:
            self.on_dns(view)
        if "explain" in fields:
            self.on_explain(fields["explain"])
