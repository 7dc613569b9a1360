"""The ``hosts:`` line of /etc/nsswitch.conf, parsed and walked as glibc does.

Parsing (nss/nss_database.c ``process_line``, nss/nss_action_parse.c):

* ``database: source [STATUS=action ...] source ...``; the database name is
  case-sensitive, statuses (SUCCESS, NOTFOUND, UNAVAIL, TRYAGAIN) and
  actions (return, continue, merge) are not.  ``!STATUS=action`` sets every
  other status to the action.
* Each source starts as "SUCCESS=return, everything else continue".
* A missing file, or a file without a ``hosts`` line, means glibc's default
  for hosts: ``files dns``.
* A syntax error inside the brackets of *any* known database's line makes
  glibc refuse the whole file: no hosts source is asked at all and
  getaddrinfo fails.  Lines of databases glibc does not know, and lines
  without a colon, are skipped.  (Comments are not special: a ``#`` line
  names no known database, and ``hosts: files # dns`` has a source named
  ``#``.)

Walking (``get_nss_addresses`` in getaddrinfo.c): each source is asked in
turn; its status picks the action; ``return`` stops the walk, ``continue``
asks the next source *and discards what this one found* (hosts lookups do
not merge); ``merge`` is not supported for hosts and ends the lookup with
an error.  The answer is what the last source reached found.
"""

from __future__ import annotations

from collections.abc import Callable

from netprobe.events import Fields
from netprobe.explain.problems import Problem, read_lines
from netprobe.record import Record, field

NSSWITCH_CONF = "/etc/nsswitch.conf"
DEFAULT_HOSTS_LINE = "files dns"
STATUSES = ("SUCCESS", "NOTFOUND", "UNAVAIL", "TRYAGAIN")
ACTIONS = ("return", "continue", "merge")
#: Databases glibc knows (nss/databases.def): a bad line of any of them voids the file.
KNOWN_DATABASES = frozenset({
    "aliases", "ethers", "group", "gshadow", "hosts", "initgroups", "netgroup",
    "networks", "passwd", "protocols", "publickey", "rpc", "services", "shadow",
})
#: Sources whose answers netprobe works out itself; anything else is named, not guessed.
MODELLED = frozenset({"files", "dns"})


class SourceSpec(Record):
    """One source of the hosts line with its action for each status."""

    __slots__ = ()
    _fields = ("name", "actions")
    name: str = field(0)
    actions: dict[str, str] = field(1)

    def __new__(cls, name: str, actions: dict[str, str]) -> SourceSpec:
        return tuple.__new__(cls, (name, actions))

    def action(self, status: str) -> str:
        return self.actions[status]

    def non_default(self) -> list[str]:
        """``[STATUS=action]`` items that differ from the default, as written in the SPEC."""
        return [f"{status}={action}" for status, action in self.actions.items()
                if action != ("return" if status == "SUCCESS" else "continue")]


class HostsConfig(Record):
    __slots__ = ()
    _fields = ("path", "sources", "line", "text", "refused")
    path: str = field(0)
    sources: list[SourceSpec] = field(1)
    #: The line number of the hosts line (None when glibc's default applies).
    line: int | None = field(2)
    text: str = field(3)
    #: True when glibc refuses the file (a syntax error): nothing is asked.
    refused: bool = field(4)

    def __new__(cls, path: str, sources: list[SourceSpec], line: int | None, text: str, refused:
                bool = False) -> HostsConfig:
        return tuple.__new__(cls, (path, sources, line, text, refused))

    def to_json(self) -> Fields:
        return {"path": self.path, "line": self.line, "text": self.text,
                "default": self.line is None and not self.refused, "refused": self.refused}


def _default_actions() -> dict[str, str]:
    return {"SUCCESS": "return", "NOTFOUND": "continue", "UNAVAIL": "continue",
            "TRYAGAIN": "continue"}


def parse_sources(text: str) -> list[SourceSpec] | str:
    """The sources of one line, or the syntax error glibc would refuse it for."""
    sources: list[SourceSpec] = []
    pos, end = 0, len(text)

    def skip_blanks(at: int) -> int:
        while at < end and text[at].isspace():
            at += 1
        return at

    while True:
        pos = skip_blanks(pos)
        if pos >= end:
            return sources
        start = pos
        while pos < end and not text[pos].isspace() and text[pos] != "[":
            pos += 1
        if start == pos:  # a "[" where a source name should be: glibc stops here
            return sources
        actions = _default_actions()
        name = text[start:pos]
        pos = skip_blanks(pos)
        if pos < end and text[pos] == "[":
            pos = skip_blanks(pos + 1)
            while True:
                negate = pos < end and text[pos] == "!"
                if negate:
                    pos += 1
                start = pos
                while pos < end and not text[pos].isspace() and text[pos] not in "=]":
                    pos += 1
                status = text[start:pos].upper()
                if status not in STATUSES:
                    return f"unknown status {text[start:pos]!r} after {name!r}"
                pos = skip_blanks(pos)
                if pos >= end or text[pos] != "=":
                    return f"'=' expected after {status} (source {name!r})"
                pos = skip_blanks(pos + 1)
                start = pos
                while pos < end and not text[pos].isspace() and text[pos] not in "=]":
                    pos += 1
                action = text[start:pos].lower()
                if action not in ACTIONS:
                    return f"unknown action {text[start:pos]!r} after {status}= (source {name!r})"
                if negate:
                    kept = actions[status]
                    actions = {s: action for s in STATUSES}
                    actions[status] = kept
                else:
                    actions[status] = action
                pos = skip_blanks(pos)
                if pos >= end:
                    return f"']' missing after the actions of {name!r}"
                if text[pos] == "]":
                    break
            pos += 1
        sources.append(SourceSpec(name, actions))


def read_nsswitch(path: str = NSSWITCH_CONF,
                  problems: list[Problem] | None = None) -> HostsConfig:
    """The hosts sources glibc uses, from ``path`` (its default when there is none)."""
    problems = problems if problems is not None else []
    lines = read_lines(path, problems)
    default = HostsConfig(path, _must(parse_sources(DEFAULT_HOSTS_LINE)), None,
                          DEFAULT_HOSTS_LINE)
    if lines is None:
        return default
    found: HostsConfig | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.lstrip()
        name_end = 0
        while name_end < len(line) and not line[name_end].isspace() and line[name_end] != ":":
            name_end += 1
        if name_end == 0 or name_end >= len(line):
            continue
        database = line[:name_end]
        rest = line[name_end:].lstrip(" \t\n\v\f\r:")
        if database not in KNOWN_DATABASES:
            continue
        parsed = parse_sources(rest)
        if isinstance(parsed, str):
            problems.append(Problem(path, number, f"{database}: {parsed}; glibc refuses the "
                                    "whole file, so getaddrinfo asks no source"))
            return HostsConfig(path, [], number, rest.strip(), refused=True)
        if database == "hosts":
            # A later hosts line replaces an earlier one.
            found = HostsConfig(path, parsed, number, rest.strip())
    return found or default


def _must(parsed: list[SourceSpec] | str) -> list[SourceSpec]:
    assert not isinstance(parsed, str)
    return parsed


class SourceResult(Record):
    """What one source did: status (None when not modelled), its addresses, its evidence."""

    __slots__ = ()
    _fields = ("status", "addresses", "evidence", "got_ipv6", "internal_error")
    status: str | None = field(0)
    addresses: list[tuple[int, bytes]] = field(1)
    evidence: Fields = field(2)
    got_ipv6: bool = field(3)
    #: glibc sets NETDB_INTERNAL (EAI_SYSTEM at the end) for a module it could not use.
    internal_error: bool = field(4)

    def __new__(cls, status: str | None, addresses: list[tuple[int, bytes]], evidence: Fields,
                got_ipv6: bool = False, internal_error: bool = False) -> SourceResult:
        return tuple.__new__(cls, (status, addresses, evidence, got_ipv6, internal_error))


class Walked(Record):
    """One source as the walk met it."""

    __slots__ = ()
    _fields = ("spec", "reached", "result", "action")
    spec: SourceSpec = field(0)
    reached: bool = field(1)
    result: SourceResult | None = field(2)
    action: str | None = field(3)

    def __new__(cls, spec: SourceSpec, reached: bool, result: SourceResult | None, action: str |
                None) -> Walked:
        return tuple.__new__(cls, (spec, reached, result, action))


class Walk(Record):
    __slots__ = ()
    _fields = ("steps", "addresses", "got_ipv6", "ended", "assumed", "failed_with_merge")
    steps: list[Walked] = field(0)
    #: The answer: what the last source reached found (empty if nothing).
    addresses: list[tuple[int, bytes]] = field(1)
    got_ipv6: bool = field(2)
    #: Why the walk ended, in words.
    ended: str = field(3)
    #: An unmodelled source was reached and assumed to have found nothing.
    assumed: list[str] = field(4)
    failed_with_merge: bool = field(5)

    def __new__(cls, steps: list[Walked], addresses: list[tuple[int, bytes]], got_ipv6: bool, ended:
                str, assumed: list[str], failed_with_merge: bool = False) -> Walk:
        return tuple.__new__(cls, (steps, addresses, got_ipv6, ended, assumed, failed_with_merge))


def walk(config: HostsConfig, ask: Callable[[SourceSpec], SourceResult]) -> Walk:
    steps: list[Walked] = []
    last: SourceResult | None = None
    ended = "no source is configured" if not config.sources else "every source was asked"
    assumed: list[str] = []
    merge = False
    stopped_at: int | None = None
    for position, spec in enumerate(config.sources):
        if merge:
            ended = f"{config.sources[position - 1].name} asked to merge, which hosts lookups " \
                    "do not support: getaddrinfo fails"
            stopped_at = position
            last = None
            break
        result = ask(spec)
        last = result
        if result.status is None:
            # Not modelled: the walk can only go on as if it had found nothing.
            assumed.append(spec.name)
            steps.append(Walked(spec, True, result, None))
            continue
        action = spec.action(result.status)
        steps.append(Walked(spec, True, result, action))
        if action == "return":
            ended = f"{spec.name} returned {result.status}: [{result.status}=return]"
            stopped_at = position + 1
            break
        if action == "merge":
            merge = True
    if merge and stopped_at is None:
        ended = "merge is not supported for hosts: getaddrinfo fails"
        last = None
    start = stopped_at if stopped_at is not None else len(config.sources)
    for spec in config.sources[start:]:
        steps.append(Walked(spec, False, None, None))
    addresses = last.addresses if last is not None and last.status is not None else []
    got_ipv6 = last.got_ipv6 if last is not None else False
    return Walk(steps, addresses, got_ipv6, ended, assumed, merge)


def combine(v6_status: str, v4_status: str) -> str:
    """getaddrinfo's one status from the AAAA and A calls (get_nss_addresses)."""
    if "SUCCESS" in (v6_status, v4_status):
        return "SUCCESS"
    if v6_status == "TRYAGAIN":
        return "TRYAGAIN"
    if v4_status == "UNAVAIL" and v6_status != "UNAVAIL":
        return v6_status
    return v4_status
