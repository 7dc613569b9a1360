"""JSON text: the one encoder, what a terminal must not get raw, and templates.

Design decision (templates): the lines written most often are formatted by hand.  json's
C encoder costs some 7 us for a ``probe`` event here (a fixed price per call,
a dozen small strings escaped one by one, and the candidate's nine fields
encoded again for every probe although they never change); an f-string of the
same line costs about 1 us.  At a line per probe that is a tenth of a fast
probe's time (``bench/probes.py``).  ``sockets`` writes its ``socket`` lines
the same way (``netprobe.render.sockets``), with the same string rule
(``json_string``).

What keeps it exact: a template writes only the shapes it knows (the keys in
the order the core makes them, values of the expected types) and gives back
None for anything else, which the caller then encodes the usual way; a
string is its own JSON form only when it is printable ASCII without ``"``
or ``\\``, otherwise json's own escaping makes it; a float goes through
``float.__repr__`` as json's does (never NaN or infinity here: those take the
encoder's path).  ``tests/test_jsontext.py`` checks, over random events,
that every line is byte for byte the encoder's.

The candidate of a probe is the same dict for every probe that ends on it
(``connect.attempts.candidate_fields``, shared and read-only as every
event's fields are), so its JSON is made once and kept with a reference to
the dict itself: an id is only looked up while its dict is alive, and so
never stands for another.  Rejected: a generic encoder in Python (per key, a
type switch): it costs what the C one does.
"""

from __future__ import annotations

from collections.abc import Callable

from netprobe.events import Event

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from typing import Any

# Design decision: json's C part (``_json``), not the json package.  The
# package's import brings its decoder and scanner too (some 3 ms of every
# --json run's start-up), and netprobe only ever writes JSON.  ``_json`` is
# what ``json.encoder`` itself uses, with the settings ``JSONEncoder`` would
# give it (ensure_ascii=False, no indent, compact separators, insertion
# order, allow_nan); events are trees the core built, never cyclic, so no
# markers.  Where an interpreter has no ``_json``, the json package it is.
# tests/test_jsontext.py checks that the lines are json.dumps' own.


def _default(value: Any) -> Any:
    """What json does with an object it cannot write (``JSONEncoder.default``)."""
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def _c_encoder() -> tuple[Callable[[Any], str], Callable[[str], str]]:
    """(encode an event, escape a string): json's C functions, made once."""
    try:
        from _json import encode_basestring, make_encoder
    except ImportError:
        import json

        encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                                   check_circular=False)
        return encoder.encode, json.encoder.encode_basestring
    c_encoder = make_encoder(None, _default, encode_basestring, None, ":", ",",
                             False, False, True)

    def encode(record: Any) -> str:
        return "".join(c_encoder(record, 0))

    return encode, encode_basestring


#: An event (any JSON-ready value) as compact JSON; a str escaped as json does.
encode, _escape_string = _c_encoder()

# Design decision: JSON escapes what a terminal would obey.  A JSON log is
# read with ``cat`` and ``tail -f`` as often as with jq, and the SPEC's rule
# ("text from outside never drives the terminal") holds for it too: a peer's
# U+202E in ``data.text`` would reorder the line it is printed on, a C1 CSI
# (U+009B) starts a control sequence on many terminals.  json.dumps escapes
# the C0 controls already; with ensure_ascii=False it writes the rest raw.
# Every character ``netprobe.safe`` shows escaped on a terminal (C1, DEL,
# bidi and other format controls, line separators, private use, unassigned,
# lone surrogates) is written here as its JSON escape (``\u202e``; above
# U+FFFF a surrogate pair), which json.loads reads back as the same
# character: the data is exact, the line is inert.  Other non-ASCII text (é,
# 中, emoji) stays as it is.  Rejected: ensure_ascii=True, which would make
# every accented name unreadable in the raw log.

#: What may need an escape in a line: DEL and anything above ASCII.  Written as
#: "not NUL to ~": the range up to U+10FFFF itself takes 12 ms to compile.  Compiled
#: by the first line that is not plain ASCII: re is some 7 M instructions of a
#: ``python -m netprobe`` start-up (~110 M), and nearly every run has no such line.
_NOT_ASCII = "[^\x00-\x7e]"
_not_ascii_sub: Callable[[Callable[[re.Match[str]], str], str], str] | None = None


def _json_escape(match: re.Match[str]) -> str:
    # Only for a line that is not plain ASCII: the common line imports nothing.
    from netprobe.safe import is_unsafe

    char = match.group()
    if not is_unsafe(char):
        return char
    code = ord(char)
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def inert(encoded: str) -> str:
    """JSON text with every character a terminal would obey written as its escape."""
    # isascii() is a flag of the string (O(1)) and nearly every line is
    # ASCII; DEL is the one ASCII character a terminal may act on.
    if encoded.isascii() and "\x7f" not in encoded:
        return encoded
    global _not_ascii_sub
    if _not_ascii_sub is None:
        import re

        _not_ascii_sub = re.compile(_NOT_ASCII).sub
    return _not_ascii_sub(_json_escape, encoded)


#: The keys of a ``probe`` event, in the order ``ProbeResult.to_json`` makes them.
_PROBE_KEYS = ("seq", "candidate", "outcome", "errno", "message", "elapsed_ms", "tcp_info")
_PROBE_EXTRA = frozenset({"unanswered_syns", "why"})
#: How many candidates' and short strings' JSON is kept (a run has a handful of each).
_CACHED = 256


def _plain(text: str) -> bool:
    """Whether a str is its own JSON form between quotes: printable ASCII but " and \\."""
    # For ASCII, isprintable() is exactly U+0020 to U+007E.  No regex: no re to
    # import, and four flag and search calls cost less than a fullmatch.
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def json_string(text: str) -> str:
    """A str as JSON, as json writes it with ensure_ascii=False."""
    if _plain(text):
        return f'"{text}"'
    return _escape_string(text)


# Design decision (times): a float's text is the costliest part of a line.
# ``float.__repr__`` (the shortest string that reads back, by dtoa) costs some
# 4 000 instructions, and ``t``'s ``round(x, 6)`` as many again, where the
# line's other members cost about 1 000 together.  Two exact shortcuts:
#
# * ``t``: ``f"{x:.6f}"`` is x correctly rounded to 6 decimals, the decimal
#   that ``round(x, 6)`` returns the nearest double to; and where doubles are
#   closer together than 1e-6 (x below 2**32) no shorter string reads back as
#   that double, so its repr is that decimal without its trailing zeros (one
#   kept after the point).  Below 1e-4 repr writes an exponent: round() then.
# * ``elapsed_ms``: a run of probes has a few hundred distinct times (they
#   are rounded to the microsecond), so the repr of each is kept (up to
#   ``_FLOATS``), as the strings' are.  Zero is never kept: -0.0 equals it.
#
# tests/test_jsontext.py checks both against round() and repr().

#: Where ``seconds_text`` takes its shortcut: at and above 1e-4 (no exponent), and
#: below 1e9 s (doubles closer than 1e-6; 2**32 is the bound).
_TEXT_FROM, _TEXT_BELOW = 1e-4, 1e9
#: How many ``elapsed_ms`` texts are kept.
_FLOATS = 4096


def seconds_text(seconds: float) -> str:
    """``float.__repr__(round(seconds, 6))``: a line's ``t``, as json writes it."""
    if _TEXT_FROM <= seconds < _TEXT_BELOW:
        text = f"{seconds:.6f}".rstrip("0")
        return text + "0" if text[-1] == "." else text
    return float.__repr__(round(seconds, 6))


class ProbeLines:
    """``probe`` events as JSON text (without ``{"event":...,"t":...,``), or None.

    Holds the JSON of the candidates, of the outcome, errno and message
    strings and of the times seen so far (see the module's design decisions);
    one per renderer.
    """

    def __init__(self) -> None:
        self._candidates: dict[int, tuple[Event, str]] = {}
        self._strings: dict[str | None, str] = {None: "null"}
        self._floats: dict[float, str] = {}
        #: (candidate id, outcome, errno, message) -> (the candidate, the line's text
        #: from ``"candidate"`` to ``"elapsed_ms":``): what a run repeats probe after probe.
        self._middles: dict[tuple[int, Any, Any, Any], tuple[Event, str]] = {}
        #: The last line's (candidate, outcome, errno, message, its kept middle).
        self._last: tuple[Any, Any, Any, Any, tuple[Event, str] | None] = (
            object(), None, None, None, None)

    def line(self, fields: Event, seconds: float) -> str | None:
        """The whole line (``t`` is ``seconds``), terminal-safe, or None where json must.

        Design decision: a run's probes differ in their number, time and
        ``t`` only, probe after probe (the same candidate, ``ok``, no errno,
        no message, no TCP_INFO without -v), so the text between is kept per
        (candidate, outcome, errno, message), checked once to be what
        ``members`` writes and free of anything ``inert`` would escape: the
        line is then one f-string of three numbers.  Anything else (-v's
        TCP_INFO, a ``why``, a new time) goes through ``members``.
        """
        candidate = fields["candidate"]
        if fields["tcp_info"] is None and tuple(fields) == _PROBE_KEYS:
            outcome, errno, message = fields["outcome"], fields["errno"], fields["message"]
            last = self._last
            # The very objects of the last line (a run repeats them): no key to make.
            kept = (last[4] if last[0] is candidate and last[1] is outcome
                    and last[2] is errno and last[3] is message
                    else self._middles.get((id(candidate), outcome, errno, message)))
            seq, elapsed = fields["seq"], fields["elapsed_ms"]
            if (kept is not None and kept[0] is candidate and type(seq) is int
                    and type(elapsed) is float):
                self._last = (candidate, outcome, errno, message, kept)
                elapsed_text = self._floats.get(elapsed)
                if elapsed_text is not None:
                    return (f'{{"event":"probe","t":{seconds_text(seconds)},"seq":{seq},'
                            f'{kept[1]}{elapsed_text},"tcp_info":null}}\n')
        members = self.members(fields)
        if members is None:
            return None
        text = inert(f'{{"event":"probe","t":{seconds_text(seconds)},{members}}}\n')
        if fields["tcp_info"] is None and tuple(fields) == _PROBE_KEYS:
            start = members.find(',"candidate":')
            end = members.rfind('"elapsed_ms":')
            middle = members[start + 1:end + len('"elapsed_ms":')]
            if (start > 0 and middle.isascii() and "\x7f" not in middle
                    and len(self._middles) < _CACHED):
                key = (id(candidate), fields["outcome"], fields["errno"], fields["message"])
                self._middles[key] = (candidate, middle)
        return text

    def members(self, fields: Event) -> str | None:
        """The event's members as json would write them, or None where it must."""
        keys = tuple(fields)
        if keys != _PROBE_KEYS and (keys[:7] != _PROBE_KEYS
                                    or not _PROBE_EXTRA.issuperset(keys[7:])):
            return None
        seq, elapsed = fields["seq"], fields["elapsed_ms"]
        if type(seq) is not int or type(elapsed) is not float:
            return None
        elapsed_text = self._floats.get(elapsed)
        if elapsed_text is None:
            # ``elapsed - elapsed`` is 0.0 for a finite float, NaN for NaN and infinities.
            if elapsed - elapsed != 0.0:
                return None
            elapsed_text = float.__repr__(elapsed)
            if elapsed and len(self._floats) < _FLOATS:
                self._floats[elapsed] = elapsed_text
        # The kept strings' texts looked up here, each only for a str (None is kept too).
        strings = self._strings
        value = fields["outcome"]
        outcome = strings.get(value) if type(value) is str else None
        if outcome is None:
            outcome = self._string(value)
        value = fields["errno"]
        errno = strings.get(value) if value is None or type(value) is str else None
        if errno is None:
            errno = self._string(value)
        value = fields["message"]
        message = strings.get(value) if type(value) is str else None
        if message is None:
            message = self._string(value)
        value = fields["candidate"]
        kept = self._candidates.get(id(value))
        candidate = kept[1] if kept is not None and kept[0] is value else self._candidate(value)
        if outcome is None or errno is None or message is None or candidate is None:
            return None
        tcp_info = fields["tcp_info"]
        text = (f'"seq":{seq},"candidate":{candidate},"outcome":{outcome},"errno":{errno},'
                f'"message":{message},"elapsed_ms":{elapsed_text},'
                f'"tcp_info":{"null" if tcp_info is None else encode(tcp_info)}')
        for key in keys[7:]:
            text += f',"{key}":{encode(fields[key])}'
        return text

    def _string(self, value: Any) -> str | None:
        """A str (or None) as JSON; None for any other type."""
        text = self._strings.get(value) if value is None or type(value) is str else None
        if text is None:
            if type(value) is not str:
                return None
            text = json_string(value)
            if len(self._strings) < _CACHED:
                self._strings[value] = text
        return text

    def _candidate(self, candidate: Any) -> str | None:
        if candidate is None:
            return "null"
        if type(candidate) is not dict:
            return None
        kept = self._candidates.get(id(candidate))
        if kept is not None and kept[0] is candidate:
            return kept[1]
        text = encode(candidate)
        if len(self._candidates) < _CACHED:
            self._candidates[id(candidate)] = (candidate, text)
        return text
