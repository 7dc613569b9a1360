"""Human output of ``--explain``: a short "why" after the table, on stderr.

One line per source (what it returned, the hosts lines that matched, the
DNS names asked), what AI_ADDRCONFIG removed, the first decisive rule of
the order in words, and the verdict: explained or not, and where the
prediction differs.  ``-v`` adds every pairwise decision, each
destination's source address and the policy table in force.

The names in hosts lines, the names asked of DNS, the text of the files
and the messages quoting it are outside text: each goes through
``safe_line`` (``render.safe``) before it reaches the terminal.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text

from netprobe.events import Fields
from netprobe.safe import safe_line

#: Where a line of the "why" goes: the human renderer's trace (stderr, dropped with -q).
TraceLine = Callable[[Text | Table], None]

#: Rule numbers in words (glibc's rfc3484_sort).
RULES = {
    1: "avoid unusable destinations",
    2: "prefer matching scope",
    3: "avoid deprecated addresses",
    4: "prefer home addresses",
    5: "prefer matching label",
    6: "prefer higher precedence",
    7: "prefer native transport",
    8: "prefer smaller scope",
    9: "prefer the longest matching prefix",
    10: "keep the order the sources gave",
}


def _source_line(source: Fields) -> Text:
    name = source["name"]
    actions = f" [{' '.join(source['actions'])}]" if source["actions"] else ""
    line = Text.assemble(("  source ", "dim"), (f"{name}{actions}", "bold"), " ")
    if not source["reached"]:
        line.append("not reached", style="dim")
        return line
    if not source["modelled"]:
        line.append("not modelled by netprobe: its answer is unknown", style="yellow")
        return line
    status = source["status"] or "?"
    line.append(status, style="green" if status == "SUCCESS" else "yellow")
    if source.get("action"):
        line.append(f" -> {source['action']}", style="dim")
    addresses = source.get("addresses")
    if addresses:
        line.append(": " + ", ".join(addresses))
    elif source.get("host"):
        line.append(f": {safe_line(source['host'])}")
    return line


def _evidence_lines(source: Fields) -> list[Text]:
    lines: list[Text] = []
    for hit in source.get("hosts_lines", []):
        lines.append(Text.assemble(("    ", ""), (f"{hit['path']}:{hit['line']}", "cyan"),
                                   f"  {hit['address']}  {safe_line(' '.join(hit['names']))}"))
    for asked in source.get("names_asked", []):
        answer = ", ".join(asked["addresses"]) or (asked["rcode"] or "no answer")
        lines.append(Text.assemble(("    asked ", "dim"),
                                   f"{safe_line(asked['name'])} {asked['qtype']}",
                                   (f" ({asked['why']})", "dim"), f": {safe_line(answer)}"))
    return lines


def render_explain(trace: TraceLine, verbose: bool, explain: Fields) -> None:
    """Draw the ``explain`` object (of resolve, connect or reverse) for people; ``-v``
    (``verbose``) adds every decision, the source addresses and the policy table."""
    nss = explain.get("nsswitch", {})
    if explain.get("numeric"):
        trace(Text.assemble(("why ", "bold"), "a numeric address: no source is asked"))
    elif explain.get("why"):
        trace(Text.assemble(("why ", "bold"), safe_line(explain["why"])))
    elif nss:
        where = (f"{nss['path']}:{nss['line']}" if nss.get("line") is not None
                 else f"glibc's default, no hosts line in {nss.get('path')}")
        head = Text.assemble(("why ", "bold"), f"hosts: {safe_line(nss.get('text', ''))}  ",
                             (f"({where})", "dim"))
        trace(head)
        if nss.get("refused"):
            trace(Text("  glibc refuses this nsswitch.conf: no source is asked",
                       style="yellow"))
        for source in explain.get("sources", []):
            trace(_source_line(source))
            for line in _evidence_lines(source):
                trace(line)
        if explain.get("walk_ended"):
            trace(Text(f"  {explain['walk_ended']}", style="dim"))
        if explain.get("named_by"):
            trace(Text(f"  named by: {safe_line(explain['named_by'])}", style="dim"))
    addrconfig = explain.get("addrconfig")
    if addrconfig and addrconfig.get("applied"):
        configured = [f for f in ("AF_INET", "AF_INET6") if addrconfig.get(f)]
        text = (f"AI_ADDRCONFIG: configured {', '.join(configured) or 'neither family'}"
                " (127.0.0.1 and ::1 do not count)")
        if addrconfig.get("removed"):
            text += f"; removed {', '.join(addrconfig['removed'])}"
        trace(Text(text))
    decisions = explain.get("decisions", [])
    if decisions:
        first = next((d for d in decisions if d["rule"] != 10), decisions[0])
        trace(Text.assemble(("order ", "bold"), f"{first['first']} before {first['second']}: "
                            f"rule {first['rule']}, {RULES.get(first['rule'], '')} "
                            f"({first['why']})"))
        if verbose:
            for decision in decisions:
                trace(Text(f"  {decision['first']} before {decision['second']}: rule "
                           f"{decision['rule']} ({decision['why']})", style="dim"))
            for destination, source in explain.get("sources_addresses", {}).items():
                trace(Text(f"  source address for {destination}: {source or 'none (no route)'}",
                           style="dim"))
    if explain.get("attempt_order"):
        how = "Happy Eyeballs interleaving" if explain.get("attempts") == "happy_eyeballs" \
            else "getaddrinfo's order"
        trace(Text.assemble(("attempts ", "bold"), " -> ".join(explain["attempt_order"]),
                            (f"  ({how})", "dim")))
    for problem in explain.get("problems", []):
        where = problem["path"] + (f":{problem['line']}" if problem.get("line") else "")
        trace(Text(f"  {where}: {safe_line(problem['message'])}", style="yellow"))
    if verbose and explain.get("policy"):
        table = Table(title="policy in force" + (
            f" (from gai.conf: {', '.join(explain['policy_from'])})"
            if explain.get("policy_from") else " (glibc's defaults)"),
            title_justify="left", box=None, pad_edge=False)
        for column in ("prefix", "precedence", "label"):
            table.add_column(column, justify="left" if column == "prefix" else "right")
        for row in explain["policy"]:
            table.add_row(row["prefix"], str(row["precedence"]), str(row["label"]))
        trace(table)
        scopes = ", ".join(f"{s['prefix']} {s['scope']}" for s in explain.get("scopev4", []))
        trace(Text(f"IPv4 scopes: {scopes}", style="dim"))
    if explain.get("explained"):
        trace(Text.assemble(("explained ", "bold"),
                            ("yes: the prediction matches what the library returned", "green")))
    else:
        predicted = ", ".join(explain.get("predicted", [])) or explain.get("predicted_error") \
            or "nothing"
        actual = ", ".join(explain.get("actual", [])) or explain.get("actual_error") or "nothing"
        trace(Text.assemble(("explained ", "bold"), ("no", "red"),
                            f": predicted {safe_line(predicted)}, "
                            f"the library gave {safe_line(actual)}"))
        for difference in explain.get("differences", []):
            trace(Text(f"  {safe_line(difference)}", style="red"))
