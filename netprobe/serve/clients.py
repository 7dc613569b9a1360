"""What trace events say about a client: its address, and its ``accepted`` event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netprobe.events import Fields

if TYPE_CHECKING:
    from netprobe.serve.stream import Connection


def client_fields(client_id: int, peer: Any) -> Fields:
    if isinstance(peer, tuple) and len(peer) >= 2:
        address, port = str(peer[0]), int(peer[1])
    else:
        address, port = str(peer), 0
    # Numeric by default: the address *is* what getnameinfo(NI_NUMERICHOST)
    # would return, so no system call is made for it.
    return {"id": client_id, "address": address, "port": port, "host": address}


def accepted_fields(conn: Connection) -> Fields:
    """The ``accepted`` event; with --tls it carries the client's handshake."""
    fields: Fields = {"client": conn.client}
    if conn.transport is not None:
        tls = conn.transport.get_extra_info("netprobe_tls")
        if tls is not None:
            fields["tls"] = tls
    return fields
