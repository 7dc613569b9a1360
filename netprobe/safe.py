"""Text from outside the program, made safe for a terminal: the one place that decides.

netprobe prints what strangers chose: a peer's bytes, names from hosts files,
getnameinfo and DNS, certificate fields, messages a server sent.  A terminal
obeys some of those characters instead of showing them (ESC starts a control
sequence that can recolour, clear the screen, set the window title or, with
OSC 52, write the clipboard; BEL, backspace and carriage return move or
overwrite; C1 bytes such as CSI U+009B are ESC-[ on many terminals), and
Unicode has characters that show nothing at all or reorder what follows
(U+202E RIGHT-TO-LEFT OVERRIDE makes ``moc.elgoog`` read ``google.com``).
Every such character is shown *visibly*, the way Python writes it in a
literal (``\\x1b``, ``\\u202e``, ``\\U000e0041``, ``\\r``), and never emitted;
``\\xNN`` above 0x7f is a byte that was not UTF-8 (see ``escape_char``).

Which characters are escaped, and why (the Unicode general category decides,
so the set follows the Unicode version of the running Python):

- ``Cc``: C0 controls, DEL and C1 controls.  Newline and tab are kept in
  payload (they only move to the next line or tab stop, and a text protocol
  is unreadable without them); a carriage return is kept only as part of a
  CRLF line ending (the LF follows at once, so nothing can be overwritten;
  HTTP, SMTP and Redis end lines so).  A lone CR returns the cursor to the
  start of the line, where the next text overwrites what was shown: it is
  escaped.  In a *line* (a name, a message: ``safe_line``) newline, tab and
  CR are escaped too: a name containing a newline could forge a line of
  netprobe's own output.
- ``Cf``: format characters, all of them: the bidi controls (U+202A-U+202E,
  U+2066-U+2069, U+200E, U+200F, U+061C), zero-width space/joiners
  (U+200B-U+200D), U+2060 word joiner, U+FEFF, the soft hyphen U+00AD, the
  tag characters U+E0000-U+E007F (used to hide text), interlinear
  annotation marks.  They are invisible or change how *other* characters
  read.  The cost: emoji joined with ZWJ show as their parts with
  ``\\u200d`` between them.
- ``Zl``, ``Zp``: U+2028 and U+2029 are line breaks to some software and
  nothing to most terminals: invisible either way.
- ``Cs``: lone surrogates cannot be written as UTF-8 at all.  The ones that
  stand for undecodable bytes (U+DC80-U+DCFF, Python's ``surrogateescape``)
  are shown as the byte they stand for (``\\xff``), exactly as
  ``safe_bytes`` shows a byte that is not UTF-8.
- ``Co`` (private use): what it looks like depends on the operator's font
  (nothing, a box, an icon that imitates a letter); nothing legitimate in a
  host name or protocol text needs it.
- ``Cn`` (unassigned): the terminal's idea of what it is (and how wide) is a
  guess; a later Unicode version may make it a format character.
- Letters and marks that are *default ignorable* (render as nothing) though
  not ``Cf``: U+034F combining grapheme joiner, the Hangul fillers U+115F,
  U+1160, U+3164, U+FFA0 and the Khmer inherent vowels U+17B4, U+17B5 (all
  used to make names that look empty or identical).

Kept as they are: every other character, spaces included (U+00A0 and the
other ``Zs`` spaces show as space and move nothing), combining marks and the
variation selectors U+FE00-U+FE0F (they choose a glyph for the character
before them: emoji need U+FE0F).  A backslash is kept too, so printable text
comes out exactly as it went in; the price is that a peer's literal
``\\x1b`` looks like an escaped ESC except for the dim style escapes get on
a colour terminal.

This module is pure and on the ground floor (it imports nothing of
netprobe's, and no rich) so that the one-line error messages
(``netprobe.errors``, imported by every core module) use the same rules
without reaching up into the renderers; ``netprobe.render.safe`` makes rich
``Text`` of the same segments.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

#: A run of characters that may be unsafe: anything but ASCII from space to
#: tilde (which never is).  Only these are looked at one character at a time.
_SUSPECT_RUN = re.compile(r"[^\x20-\x7e]+")

#: General categories whose characters are escaped (see the module docstring).
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

#: Default-ignorable characters outside those categories: they show as nothing.
INVISIBLE_LETTERS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")

#: The Unicode bidi controls (all are ``Cf``; named for tests and documentation).
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

#: What payload keeps (``safe_text``); a line (``safe_line``) keeps none of them.
_PAYLOAD_KEPT = "\n\t"

#: The controls everyone knows by their letter (as Python writes them).
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

#: One piece of output: the text and whether it is an escape (to be shown dim).
Segment = tuple[str, bool]


def is_unsafe(char: str) -> bool:
    """Whether ``char`` would be escaped in a line (newline, tab and CR included)."""
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return True
    if code < 0x7F:
        return False
    if char in INVISIBLE_LETTERS:
        return True
    import unicodedata  # only for text that is not plain ASCII

    return unicodedata.category(char) in ESCAPED_CATEGORIES


def escape_char(char: str) -> str:
    """The visible form of one character: ``\\x1b``, ``\\u202e``, ``\\U000e0041``, ``\\r``.

    ``\\xNN`` is only ever an ASCII control or, above 0x7f, a *byte* that was
    not UTF-8; a character above 0x7f is always ``\\u``: the C1 control
    U+009B (``\\u009b``, sent as the UTF-8 bytes c2 9b) cannot be confused
    with a lone byte 9b (``\\x9b``).  Every escape says exactly what was sent.
    """
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        # surrogateescape's stand-in for the byte code - 0xDC00, which was not UTF-8.
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def segments(text: str, *, multiline: bool = False) -> Iterator[Segment]:
    """``text`` as pieces of (kept text, False) and (escape, True), in order.

    ``multiline`` is the payload rule (newline, tab and CRLF kept); without it
    the line rule (every control escaped).  Adjacent kept characters come as
    one piece; each escape is a piece of its own.
    """
    kept = _PAYLOAD_KEPT if multiline else ""
    start = 0  # where the kept text not yet yielded begins
    for run in _SUSPECT_RUN.finditer(text):
        suspects = run.group()
        if suspects.isprintable() and INVISIBLE_LETTERS.isdisjoint(suspects):
            # str.isprintable is false for every escaped category (and for
            # the Zs spaces, which then take the slow path): a run of CJK or
            # accented text is passed over without a look at each character.
            continue
        for index in range(run.start(), run.end()):
            char = text[index]
            if char in kept or not is_unsafe(char):
                continue
            if multiline and char == "\r" and text.startswith("\n", index + 1):
                continue  # CRLF: a line ending, nothing gets overwritten
            if index > start:
                yield text[start:index], False
            yield escape_char(char), True
            start = index + 1
    if start < len(text):
        yield text[start:], False


def safe_line(text: str) -> str:
    """A name or a message, made safe for one line of a terminal (every control escaped)."""
    if text.isascii() and text.isprintable():
        return text  # the common case, without a loop
    return "".join(piece for piece, _ in segments(text))


def safe_text(text: str) -> str:
    """Payload text made safe for a terminal: newline, tab and CRLF kept, the rest escaped."""
    return "".join(piece for piece, _ in segments(text, multiline=True))


def safe_bytes(data: bytes) -> str:
    """Payload bytes as safe text: UTF-8 decoded, each byte that is not UTF-8 as ``\\xNN``."""
    return safe_text(data.decode("utf-8", "surrogateescape"))


class PayloadFilter:
    """A stream of peer bytes made safe piece by piece, as it arrives.

    A character can be split between two reads (a UTF-8 sequence, or the CR
    of a CRLF at the end of one read and the LF at the start of the next):
    the incomplete tail is held until the next ``feed`` or ``flush`` instead
    of being shown as escapes.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._held_cr = False

    def feed(self, data: bytes | memoryview) -> list[Segment]:
        return self._segments(self._decoder.decode(data, final=False), final=False)

    def flush(self) -> list[Segment]:
        """Whatever is held, as escapes: the stream ended inside a character."""
        return self._segments(self._decoder.decode(b"", final=True), final=True)

    def _segments(self, text: str, *, final: bool) -> list[Segment]:
        if self._held_cr:
            text, self._held_cr = "\r" + text, False
        if not final and text.endswith("\r"):
            text, self._held_cr = text[:-1], True
        return list(segments(text, multiline=True))
