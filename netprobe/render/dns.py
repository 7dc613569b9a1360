"""Human output of the DNS view: the tables beside getaddrinfo's (``--dns``).

Everything DNS said is a result (stdout, kept with ``-q``): which questions
went to which server, the rcode, time and AD flag of each, then the records
with their TTLs (the CNAME chain first) and, for ``resolve``, every address
marked as from both, getaddrinfo only or DNS only; for ``reverse``, each
PTR name and whether it maps back (FCrDNS).

Every name and message here is DNS data, chosen by whoever runs the zone
(or the server): each goes through ``outside`` (``render.safe``).
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from netprobe.events import Fields
from netprobe.render.human import Human
from netprobe.render.safe import rich_text as outside

SOURCE_STYLES = {"both": "green", "getaddrinfo only": "yellow", "dns only": "cyan", "dns": "cyan"}
RCODE_STYLES = {"NOERROR": "green", "NODATA": "yellow"}


def render_dns(out: Human, view: Fields) -> None:
    """Render a ``dns`` object (forward or reverse) on ``out``."""
    if view.get("numeric"):
        out.trace(Text("DNS not asked: the host is a numeric address", style="dim"))
        return
    if view["queries"]:
        out.result(queries_table(view["queries"]))
    if "ptr" in view:
        out.result(ptr_table(view))
    else:
        out.result(records_table(view))
    out.result(summary(view))


def _rcode(query: Fields) -> Text:
    if query["rcode"] is None:
        code = query["error"]["code"] if query["error"] else "no answer"
        return outside(code, style="red")
    return outside(query["rcode"], style=RCODE_STYLES.get(query["rcode"], "red"))


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def queries_table(queries: list[Fields]) -> Table:
    table = Table(title="DNS queries", title_justify="left", box=None, pad_edge=False)
    for name in ("type", "name", "server", "rcode", "time", "AD", "flags"):
        table.add_column(name, justify="right" if name == "time" else "left")
    for query in queries:
        transport = " tcp" if query["tcp"] else ""
        table.add_row(query["qtype"], outside(query["name"]), outside(query["server"]),
                      _rcode(query),
                      f"{query['elapsed_ms']:.1f} ms", _yes_no(query["ad"]),
                      Text(" ".join(query["flags"]) + transport, style="dim"))
    return table


def records_table(view: Fields) -> Table | Text:
    """The CNAME chain, then every address, each with its TTL and where it came from."""
    rows: list[tuple[Text, str, str, Text, Text]] = []
    for link in view["cname_chain"]:
        rows.append((outside(link["name"]), "CNAME", str(link["ttl"]), outside(link["target"]),
                     Text("")))
    for entry in view["addresses"]:
        rtype = entry.get("type") or ("AAAA" if entry["family"] == "AF_INET6" else "A")
        ttl = "-" if entry["ttl"] is None else str(entry["ttl"])
        source = entry["source"]
        rows.append((outside(entry["name"] or view["name"]), rtype, ttl,
                     outside(entry["address"], style="bold"),
                     Text(source, style=SOURCE_STYLES.get(source, ""))))
    if not rows:
        return Text("no DNS records, no addresses", style="dim")
    table = Table(title="DNS records", title_justify="left", box=None, pad_edge=False)
    for name in ("name", "type", "ttl", "data", "source"):
        table.add_column(name, justify="right" if name == "ttl" else "left")
    for row in rows:
        table.add_row(*row)
    return table


def ptr_table(view: Fields) -> Table | Text:
    """Each PTR name, its TTL, the addresses it resolves to, and whether it maps back."""
    if not view["ptr"] and not view["cname_chain"]:
        return Text.assemble("no PTR record for ", outside(view["name"]), style="dim")
    table = Table(title="PTR records", title_justify="left", box=None, pad_edge=False)
    for name in ("name", "type", "ttl", "data", "maps back"):
        table.add_column(name, justify="right" if name == "ttl" else "left")
    for link in view["cname_chain"]:
        table.add_row(outside(link["name"]), "CNAME", str(link["ttl"]), outside(link["target"]),
                      "")
    for ptr in view["ptr"]:
        forward = ", ".join(ptr["addresses"]) or (ptr["rcode"] or "no answer")
        table.add_row(outside(view["name"]), "PTR", str(ptr["ttl"]),
                      Text.assemble(outside(ptr["name"], "bold"),
                                    outside(f" -> {forward}", "dim")),
                      Text(_yes_no(ptr["confirmed"]),
                           style="green" if ptr["confirmed"] else "red"))
    return table


def summary(view: Fields) -> Text:
    """One line: the outcome, the server that answered, time, AD (and FCrDNS for reverse)."""
    parts: list[tuple[str, str] | str | Text] = [("DNS ", "dim"), outside(view["name"], "bold"),
                                                ": "]
    if view["rcode"] is not None:
        parts.append((view["rcode"], RCODE_STYLES.get(view["rcode"], "red")))
    if view["server"]:
        parts.append(outside(f" from {view['server']}"))
    if view["error"]:
        # After an answer (A came, AAAA ran out of time) the error is a clause of its own.
        sep = "; " if view["rcode"] is not None else ""
        parts.append(outside(f"{sep}{view['error']['code']}: {view['error']['message']}",
                             "red"))
    parts.append(f" in {view['elapsed_ms']:.1f} ms")
    if view["server"]:
        # AD is a flag of an answer: with none there is nothing to say it of.
        parts.append(f", AD {_yes_no(view['ad'])}")
        if not view["ad"]:
            parts.append(("  (not authenticated)", "dim"))
    if "confirmed" in view:
        parts.append(("; FCrDNS ", ""))
        parts.append(("confirmed", "green") if view["confirmed"] else ("not confirmed", "red"))
    return Text.assemble(*parts)
