"""Human output of ``resolve`` and ``reverse``."""

from __future__ import annotations

from rich.text import Text

from netprobe.events import Fields
from netprobe.render.human import Human


class ResolveHuman(Human):
    def on_resolved(self, fields: Fields) -> None:
        self.trace(self.hints_text(fields["hints"]))
        candidates = fields["candidates"]
        self.result(self.candidate_table(candidates))
        summary = f"{len(candidates)} candidate{'s' * (len(candidates) != 1)}"
        if fields.get("canonname"):
            summary += f", canonical name {fields['canonname']}"
        self.trace(Text(f"{summary} in {fields['elapsed_ms']:.1f} ms", style="dim"))
        if "dns" in fields:
            self.on_dns(fields["dns"])
        if "explain" in fields:
            self.on_explain(fields["explain"])

    def on_dns(self, view: Fields) -> None:
        from netprobe.render.dns import render_dns

        render_dns(self, view)

    def on_reversing(self, fields: Fields) -> None:
        flags = "|".join(fields["flags"]) or "0"
        self.trace(Text.assemble(("getnameinfo ", "dim"),
                                 f"{self.endpoint(fields['address'], fields['port'])} "
                                 f"flags={flags}"), detail=True)

    def on_reversed(self, fields: Fields) -> None:
        flags = "|".join(fields["flags"]) or "0"
        self.trace(Text(f"flags {flags}", style="dim"))
        self.result(Text.assemble((fields["host"], "bold"), " ", fields["service"]))
        self.trace(Text(f"in {fields['elapsed_ms']:.1f} ms", style="dim"))
        if "dns" in fields:
            self.on_dns(fields["dns"])
        if "explain" in fields:
            self.on_explain(fields["explain"])
