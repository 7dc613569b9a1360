"""JSON text: the probe template writes exactly what the encoder writes, and JSON is inert.

The template (``netprobe.render.jsontext.ProbeLines``) is a second way to
write a ``probe`` line; these tests hold it to the first, byte for byte,
over random events, the candidate cache included.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from netprobe.render.jsonl import JsonLines
from netprobe.render.jsontext import ProbeLines, encode, inert, json_string
from tests.helpers import imported_by

_TEXT = st.text(st.characters(codec="utf-8") | st.sampled_from("\u202e\x7f\x00\"\\\n\u009b"),
                max_size=12)
_CANDIDATE = st.fixed_dictionaries({
    "index": st.integers(0, 9), "family": st.sampled_from(["AF_INET", "AF_INET6"]),
    "socktype": st.just("SOCK_STREAM"), "protocol": st.just("IPPROTO_TCP"),
    "address": st.sampled_from(["127.0.0.1", "::1", "127.0.0.2"]) | _TEXT,
    "port": st.integers(0, 65535), "flowinfo": st.just(0), "scope_id": st.just(0),
    "canonname": st.none() | _TEXT})
_FLOAT = st.floats(allow_nan=True, allow_infinity=True) | st.floats(0, 10_000)
_TCP_INFO = st.none() | st.fixed_dictionaries({"rtt_us": st.integers(0, 10**6),
                                               "snd_mss": st.integers(0, 65535)})


@st.composite
def probe_fields(draw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "seq": draw(st.integers(1, 10**9) | st.booleans()),
        "candidate": draw(st.none() | _CANDIDATE),
        "outcome": draw(st.sampled_from(["ok", "refused", "timeout", "expect"]) | _TEXT),
        "errno": draw(st.none() | st.sampled_from(["ECONNREFUSED", "ETIMEDOUT"]) | _TEXT),
        "message": draw(_TEXT),
        "elapsed_ms": draw(_FLOAT | st.integers(0, 10)),
        "tcp_info": draw(_TCP_INFO),
    }
    if draw(st.booleans()):
        fields["unanswered_syns"] = draw(st.integers(0, 7))
    if draw(st.booleans()):
        fields["why"] = {"kind": "no-listener", "message": draw(_TEXT)}
    if draw(st.integers(0, 9)) == 0:
        fields = dict(reversed(list(fields.items())))  # an order the template does not know
    return fields


def expected_line(fields: dict[str, Any], t: float) -> str:
    """What the encoder writes for the event (JsonLines' generic path)."""
    return inert(encode({"event": "probe", "t": t, **fields}) + "\n")


def written(renderer: JsonLines, stream: io.StringIO, fields: dict[str, Any]) -> str:
    stream.seek(0)
    stream.truncate()
    renderer("probe", fields)
    return stream.getvalue()


@settings(max_examples=400, deadline=None)
@given(st.lists(probe_fields(), min_size=1, max_size=5))
def test_a_probe_line_is_the_encoders_byte_for_byte(events: list[dict[str, Any]]) -> None:
    stream = io.StringIO()
    renderer = JsonLines(stream=stream, clock=lambda: 2.5, start=1.25)
    for fields in events * 2:  # the second time round, candidates come from the cache
        assert written(renderer, stream, fields) == expected_line(fields, 1.25)


def test_the_template_writes_the_usual_probe_and_declines_the_unknown() -> None:
    lines = ProbeLines()
    candidate = {"index": 0, "family": "AF_INET", "socktype": "SOCK_STREAM",
                 "protocol": "IPPROTO_TCP", "address": "127.0.0.1", "port": 80,
                 "flowinfo": 0, "scope_id": 0, "canonname": None}
    fields = {"seq": 1, "candidate": candidate, "outcome": "ok", "errno": None,
              "message": "", "elapsed_ms": 0.467, "tcp_info": None}
    members = lines.members(fields)
    assert members is not None
    assert "{" + members + "}" == encode(fields)
    for odd in ({**fields, "elapsed_ms": math.nan}, {**fields, "seq": True},
                {**fields, "extra": 1}, {k: fields[k] for k in reversed(fields)}):
        assert lines.members(odd) is None


def test_a_candidate_is_encoded_once_and_only_while_it_is_the_same_dict() -> None:
    lines = ProbeLines()
    candidate: dict[str, Any] = {"address": "127.0.0.1", "port": 80}
    fields = {"seq": 1, "candidate": candidate, "outcome": "ok", "errno": None,
              "message": "", "elapsed_ms": 1.0, "tcp_info": None}
    first = lines.members(fields)
    other = {"address": "127.0.0.2", "port": 81}
    assert lines.members({**fields, "candidate": other}) != first
    assert first is not None and '"address":"127.0.0.1"' in first


def test_a_probe_lines_middle_is_kept_per_candidate_and_outcome_and_only_when_inert() -> None:
    lines = ProbeLines()
    candidate: dict[str, Any] = {"address": "127.0.0.1", "port": 80}
    fields = {"seq": 1, "candidate": candidate, "outcome": "ok", "errno": None,
              "message": "", "elapsed_ms": 0.25, "tcp_info": None}
    for seq in range(1, 4):  # the first line makes the middle, the next two use it
        probe = {**fields, "seq": seq}
        assert lines.line(probe, 1.5) == expected_line(probe, 1.5)
    assert len(lines._middles) == 1
    refused = {**fields, "outcome": "refused", "errno": "ECONNREFUSED",
               "message": "Connection refused"}
    for _ in range(2):
        assert lines.line(refused, 2.0) == expected_line(refused, 2.0)
    assert len(lines._middles) == 2
    # A message a terminal would obey is escaped, and its text never kept.
    hostile = {**fields, "message": "\x1b[2J\u202e"}
    for _ in range(2):
        line = lines.line(hostile, 3.0)
        assert line == expected_line(hostile, 3.0) and "\x1b" not in (line or "")
    assert len(lines._middles) == 2
    # -v's TCP_INFO and extra keys go the long way, and are right.
    measured = {**fields, "tcp_info": {"rtt_us": 51}, "why": None}
    assert lines.line(measured, 4.0) == expected_line(measured, 4.0)
    assert len(lines._middles) == 2


def test_a_stream_with_a_descriptor_gets_the_same_bytes_by_one_write(tmp_path: Path) -> None:
    # JsonLines writes a file's (stdout's) lines with os.write on its descriptor,
    # after what the stream held; the bytes are those the text stream would write.
    events: list[tuple[str, dict[str, Any]]] = [
        ("data", {"bytes": 5, "text": "h\u00e9\u20ac \u202e"}),
        ("probe", {"seq": 1, "candidate": None, "outcome": "ok", "errno": None,
                   "message": "", "elapsed_ms": 0.25, "tcp_info": None}),
        ("closed", {"bytes_in": 0, "bytes_out": 0, "duration_ms": 1.0, "reason": "eof"})]
    expected = io.StringIO()
    reference = JsonLines(stream=expected, clock=lambda: 2.5, start=1.25)
    for encoding in ("utf-8", "ascii"):
        path = tmp_path / f"{encoding}.jsonl"
        with path.open("w", encoding=encoding, errors="backslashreplace") as stream:
            stream.write("held\n")  # not yet flushed when the renderer is made
            renderer = JsonLines(stream=stream, clock=lambda: 2.5, start=1.25)
            assert renderer._direct == (stream.fileno(), encoding, "backslashreplace")
            for event, fields in events:
                renderer(event, fields)
                if encoding == "utf-8":
                    reference(event, fields)
            size = path.stat().st_size  # every line is out: nothing waits in a buffer
        written = path.read_bytes()
        assert size == len(written)
        assert written == ("held\n" + expected.getvalue()).encode(encoding, "backslashreplace")
    assert reference._direct is None  # no descriptor: through the stream, as before


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_the_encoder_is_json_dumps(value: Any) -> None:
    assert encode(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_what_json_cannot_write_is_a_type_error_as_in_json() -> None:
    for value in ({"x": object()}, [b"bytes"], {1j}):
        try:
            encode(value)
        except TypeError as exc:
            assert "is not JSON serializable" in str(exc)
        else:
            raise AssertionError(f"{value!r} was written")


def test_json_output_does_not_import_the_json_package() -> None:
    """--json writes through json's C part: no decoder, no scanner at start-up."""
    modules = imported_by("resolve", "localhost", "--json")
    assert "_json" in modules or "json" in modules
    assert "json.decoder" not in modules and "json" not in modules


def test_json_string_is_jsons() -> None:
    for text in ("plain", 'quote"', "back\\slash", "tab\t", "é中😀", "\x7f", "\u202e", ""):
        assert json_string(text) == json.dumps(text, ensure_ascii=False)


def test_json_string_is_jsons_for_every_character() -> None:
    # The plain-string test is str methods, not a regex: every code point, alone
    # and inside printable ASCII, against json.dumps.
    for code in range(0x110000):
        char = chr(code)
        for text in (char, f"a{char}b"):
            assert json_string(text) == json.dumps(text, ensure_ascii=False), hex(code)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_json_string_is_jsons_for_any_text(text: str) -> None:
    assert json_string(text) == json.dumps(text, ensure_ascii=False)


def test_a_line_with_a_terminal_control_is_escaped_once_re_is_needed() -> None:
    assert inert('"a\u202eb\x7fé"') == '"a\\u202eb\\u007fé"'
    assert inert('"\U000e0001"') == '"\\udb40\\udc01"'
    assert inert('"plain"') == '"plain"'
