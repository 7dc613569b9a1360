"""The renderer interface: one object per command (trace callback, payload sink, close).

The cores hand the peer's bytes to ``payload`` raw; the JSON renderer turns
them into ``data`` events, holding a UTF-8 character cut between two reads
until the rest arrives (per stream: per client for listen).
"""

from __future__ import annotations

import io
import json
import socket
import time
from typing import Any

from netprobe.render import Renderer, Settings, make_trace
from netprobe.render.jsonl import JsonLines, data_fields
from tests.test_listen import Server

SNOWMAN = "☃".encode()


def written(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_data_fields_text_or_base64() -> None:
    assert data_fields(b"abc") == {"bytes": 3, "text": "abc"}
    assert data_fields(b"\xff") == {"bytes": 1, "base64": "/w=="}
    assert data_fields("é".encode()) == {"bytes": 2, "text": "é"}


def test_json_holds_a_split_character_per_client_until_that_client_closes() -> None:
    stream = io.StringIO()
    out = JsonLines(stream)
    one: dict[str, Any] = {"id": 1, "address": "127.0.0.1", "port": 1, "host": "127.0.0.1"}
    two: dict[str, Any] = {**one, "id": 2, "port": 2}
    out.payload(b"a" + SNOWMAN[:1], client=one)
    out.payload(b"b" + SNOWMAN[:2], client=two)
    out.payload(SNOWMAN[1:], client=one)           # completes client 1's character only
    out("closed", {"client": two, "bytes_in": 3, "bytes_out": 0, "duration_ms": 1.0,
                   "reason": "eof"})             # client 2's tail comes before its end
    events = written(stream)
    assert [(e["event"], e.get("client", {}).get("id"), e.get("text"), e.get("base64"))
            for e in events] == [
        ("data", 1, "a", None),
        ("data", 2, "b", None),
        ("data", 1, "☃", None),
        ("data", 2, None, "4pg="),
        ("closed", 2, None, None),
    ]
    assert list(events[0]) == ["event", "t", "client", "bytes", "text"]


def test_json_never_holds_a_datagram() -> None:
    stream = io.StringIO()
    out = JsonLines(stream)
    client = {"id": 1, "address": "127.0.0.1", "port": 1, "host": "127.0.0.1"}
    out.payload(SNOWMAN[:1], client=client, datagram=True, echoed=False)
    out.payload(SNOWMAN[:1], datagram=True)
    [first, second] = written(stream)
    assert list(first) == ["event", "t", "client", "bytes", "base64", "echoed"]
    assert first["base64"] == "4g==" and first["echoed"] is False
    assert "client" not in second and "echoed" not in second


def test_make_trace_gives_one_renderer_used_as_a_context_manager() -> None:
    with make_trace(Settings(json=True), "netprobe.render.resolve:ResolveHuman") as out:
        assert isinstance(out, Renderer) and isinstance(out, JsonLines)
    human = make_trace(Settings(), "netprobe.render.connect:ConnectHuman")
    assert isinstance(human, Renderer) and callable(human.payload)
    human.close()


def test_listen_json_keeps_a_character_split_across_reads() -> None:
    server = Server("0")
    try:
        server.listening()
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as client:
            client.sendall(b"x" + SNOWMAN[:2])
            server.event("accepted")
            # No event shows the first read happened (its tail is held): give
            # it time to, so that the two halves arrive in two reads.
            time.sleep(0.3)
            client.sendall(SNOWMAN[2:] + b"\n")
        server.event("closed")
        assert server.stop() == 0
    finally:
        server.kill()
    data = server.named("data")
    assert all("text" in d for d in data), data
    assert "".join(d["text"] for d in data) == "x☃\n"


# --- JSON is exact and inert -------------------------------------------------------------


def test_json_escapes_what_a_terminal_would_obey_and_reads_back_exact() -> None:
    text = ("rtl \u202eevil\u202c c1 \u009b31m tag \U000e0041 del \x7f zwj \u200d "
            "ls \u2028 pua \ue000 lone \udcff kept: é 中 😀 \u00a0")
    stream = io.StringIO()
    JsonLines(stream=stream)("error", {"message": text})
    line = stream.getvalue()
    assert json.loads(line)["message"] == text
    for raw in ("\u202e", "\u202c", "\u009b", "\U000e0041", "\x7f", "\u200d", "\u2028",
                "\ue000", "\udcff"):
        assert raw not in line, ascii(raw)
    assert "\\u202e" in line and "\\udb40\\udc41" in line and "\\u007f" in line
    assert "é 中 😀 \u00a0" in line  # readable text stays as it is
