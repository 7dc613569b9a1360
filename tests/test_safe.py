"""netprobe.safe: outside text made safe for a terminal (unit and property tests).

The properties: whatever goes in, nothing that a terminal obeys or that
shows as nothing comes out; printable text comes out unchanged; and the
escapes lose nothing (the original text, or bytes, can be read back).
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from netprobe.errors import NetprobeError, printable
from netprobe.render.payload import PayloadOutput
from netprobe.render.safe import rich_text
from netprobe.safe import (
    BIDI_CONTROLS,
    ESCAPED_CATEGORIES,
    INVISIBLE_LETTERS,
    PayloadFilter,
    escape_char,
    safe_bytes,
    safe_line,
    safe_text,
    segments,
)

ISSUE_PAYLOAD = "hello \x1b]0;pwned-title\x07\x1b[31mRED\x1b[0m \x1b[2J end"
ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[nrt])")


def dangerous(char: str) -> bool:
    """What must never reach a terminal from outside (newline/tab/CR judged by the caller)."""
    return (unicodedata.category(char) in ESCAPED_CATEGORIES or char in INVISIBLE_LETTERS
            or char in BIDI_CONTROLS)


def assert_line_safe(out: str) -> None:
    assert not [c for c in out if dangerous(c)], ascii(out)


def assert_text_safe(out: str) -> None:
    bad = [(i, c) for i, c in enumerate(out)
           if dangerous(c) and c not in "\n\t" and not (c == "\r" and out[i + 1:i + 2] == "\n")]
    assert not bad, ascii(out)


def unescape(pieces: list[tuple[str, bool]]) -> str:
    """The text the pieces came from (an escape \\xNN above 0x7f: the byte, surrogateescaped)."""
    named = {"n": "\n", "r": "\r", "t": "\t"}
    out = []
    for piece, escaped in pieces:
        if not escaped:
            out.append(piece)
            continue
        match = ESCAPE.fullmatch(piece)
        assert match, piece
        body = match.group(1)
        if body in named:
            out.append(named[body])
        else:
            code = int(body[1:], 16)
            out.append(chr(code + 0xDC00) if body[0] == "x" and code >= 0x80 else chr(code))
    return "".join(out)


# --- examples ------------------------------------------------------------------------


def test_the_issue_payload_is_shown_escaped() -> None:
    assert safe_text(ISSUE_PAYLOAD) == (
        "hello \\x1b]0;pwned-title\\x07\\x1b[31mRED\\x1b[0m \\x1b[2J end")


def test_each_class_has_its_visible_form() -> None:
    cases = [
        ("\x00", "\\x00"), ("\x07", "\\x07"), ("\x08", "\\x08"), ("\x7f", "\\x7f"),  # C0, DEL
        ("\x9b", "\\u009b"), ("\x85", "\\u0085"),  # C1 (CSI, NEL)
        ("\u202e", "\\u202e"), ("\u2066", "\\u2066"), ("\u200f", "\\u200f"), ("\u061c", "\\u061c"),
        ("\u200b", "\\u200b"), ("\u200d", "\\u200d"), ("\ufeff", "\\ufeff"), ("\u00ad", "\\u00ad"),
        ("\u2028", "\\u2028"), ("\u2029", "\\u2029"),  # Zl, Zp
        ("\U000e0041", "\\U000e0041"),  # a tag character (Cf)
        ("\ue000", "\\ue000"), ("\U000f0000", "\\U000f0000"),  # private use
        ("\u0378", "\\u0378"),  # unassigned
        ("\u3164", "\\u3164"), ("\u115f", "\\u115f"), ("\u034f", "\\u034f"),  # invisible letters
        ("\udcff", "\\xff"),  # a byte that was not UTF-8 (surrogateescape)
        ("\ud800", "\\ud800"),  # any other lone surrogate
    ]
    for char, shown in cases:
        assert escape_char(char) == shown
        assert safe_line(f"a{char}b") == f"a{shown}b"
        assert safe_text(f"a{char}b") == f"a{shown}b"


def test_payload_keeps_newline_tab_and_crlf_but_not_a_lone_cr() -> None:
    assert safe_text("GET / HTTP/1.1\r\nHost: x\r\n\r\n\tok\n") == (
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n\tok\n")
    assert safe_text("good\rEVIL") == "good\\rEVIL"
    assert safe_text("end\r") == "end\\r"
    assert safe_text("\r\r\n") == "\\r\r\n"


def test_a_line_escapes_newline_tab_and_cr_too() -> None:
    # A name with a newline could forge a line of netprobe's own output.
    assert safe_line("host\nnetprobe: connected\tx\r\n") == (
        "host\\nnetprobe: connected\\tx\\r\\n")


def test_printable_text_and_markup_are_kept_as_they_are() -> None:
    for text in ("[bold red]x[/]", ":smile:", "naïve café 東京 ❤️ émoji", "a\\x1bb",
                 "non\u00a0breaking", "e\u0301", "x" * 1000):
        assert safe_line(text) == text
        assert safe_text(text) == text


def test_bytes_that_are_not_utf8_are_shown_as_bytes() -> None:
    assert safe_bytes(b"\xff ok \xe2\x82\xac \xc2\x9b \x9b") == "\\xff ok € \\u009b \\x9b"


def test_rich_text_styles_escapes_dim_and_never_reads_markup() -> None:
    text = rich_text("[bold red]x[/]\x1b[2J", "bold")
    assert text.plain == "[bold red]x[/]\\x1b[2J"
    assert text.style == "bold"
    assert [(s.start, s.end, str(s.style)) for s in text.spans] == [(14, 18, "dim")]


def test_error_lines_escape_the_same_set() -> None:
    assert printable("reverse x: \x1b[2J\u202eevil\n") == "reverse x: \\x1b[2J\\u202eevil\\n"
    err = NetprobeError("resolve", "a\u2066b", "peer said \x07\u200b", "EAI_NONAME")
    assert err.line() == "resolve a\\u2066b: EAI_NONAME: peer said \\x07\\u200b"


def test_payload_filter_joins_what_reads_split() -> None:
    stream = PayloadFilter()
    pieces = [*stream.feed(b"caf\xc3"), *stream.feed(b"\xa9\r"), *stream.feed(b"\nnext\r"),
              *stream.flush()]
    assert "".join(p for p, _ in pieces) == "café\r\nnext\\r"


def test_payload_filter_shows_an_unfinished_character_at_the_end() -> None:
    stream = PayloadFilter()
    assert stream.feed(b"x\xe2\x82") == [("x", False)]
    assert stream.flush() == [("\\xe2", True), ("\\x82", True)]


def test_payload_output_is_raw_off_a_terminal() -> None:
    with tempfile.TemporaryFile() as file:
        output = PayloadOutput(file.fileno())
        assert not output.safe
        output.write(ISSUE_PAYLOAD.encode() + b"\xff")
        output.end()
        os.lseek(file.fileno(), 0, os.SEEK_SET)
        assert file.read() == ISSUE_PAYLOAD.encode() + b"\xff"


# --- properties -----------------------------------------------------------------------

#: Text a terminal shows as it is: no category that is escaped, no invisible letter.
printable_chars = st.characters(exclude_categories=tuple(ESCAPED_CATEGORIES)).filter(
    lambda c: c not in INVISIBLE_LETTERS)


@settings(max_examples=500)
@given(st.text())
def test_property_no_control_bidi_or_format_character_comes_out(text: str) -> None:
    assert_line_safe(safe_line(text))
    assert_text_safe(safe_text(text))


@settings(max_examples=500)
@given(st.binary())
def test_property_no_control_comes_out_of_any_bytes(data: bytes) -> None:
    out = safe_bytes(data)
    assert_text_safe(out)
    out.encode("utf-8")  # no lone surrogate left: it can be written to a terminal


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=8), max_size=12))
def test_property_a_stream_in_pieces_is_safe_and_loses_nothing(chunks: list[bytes]) -> None:
    stream = PayloadFilter()
    pieces = [piece for chunk in chunks for piece in stream.feed(chunk)] + stream.flush()
    assert_text_safe("".join(p for p, _ in pieces))
    assert unescape(pieces).encode("utf-8", "surrogateescape") == b"".join(chunks)


@settings(max_examples=500)
@given(st.text(alphabet=printable_chars))
def test_property_printable_text_round_trips_unchanged(text: str) -> None:
    assert safe_line(text) == text
    assert safe_text(text) == text


@settings(max_examples=300)
@given(st.text(alphabet=st.one_of(printable_chars, st.sampled_from("\n\t"))))
def test_property_payload_keeps_newlines_and_tabs(text: str) -> None:
    assert safe_text(text) == text


@settings(max_examples=500)
@given(st.text())
def test_property_escapes_lose_nothing(text: str) -> None:
    for multiline in (False, True):
        pieces = list(segments(text, multiline=multiline))
        assert unescape(pieces) == text


@settings(max_examples=500)
@given(st.binary())
def test_property_bytes_can_be_read_back_from_their_escapes(data: bytes) -> None:
    pieces = list(segments(data.decode("utf-8", "surrogateescape"), multiline=True))
    assert unescape(pieces).encode("utf-8", "surrogateescape") == data
