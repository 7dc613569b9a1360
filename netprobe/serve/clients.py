"""What trace events say about a client: its address, and its ``accepted`` event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netprobe.events import Fields

if TYPE_CHECKING:
    from netprobe.serve.stream import Connection


def client_fields(client_id: int, peer: Any, *, unix: bool = False) -> Fields:
    if isinstance(peer, tuple) and len(peer) >= 2:
        address, port = str(peer[0]), int(peer[1])
    elif not unix:
        # A TCP client that reset while it waited in the accept queue: uvloop
        # asks getpeername() after accept, which then fails (ENOTCONN), and
        # the address accept() returned is gone.  Unknown, not "unnamed" (an
        # unnamed client is a Unix one).
        return {"id": client_id, "address": None, "port": None, "host": None}
    else:
        # AF_UNIX: a path, an abstract name, or nothing (an unnamed client: "").
        from netprobe.unix.address import text_of

        text = text_of(peer)
        return {"id": client_id, "address": text, "port": None, "host": text}
    # Numeric by default: the address *is* what getnameinfo(NI_NUMERICHOST)
    # would return, so no system call is made for it.
    return {"id": client_id, "address": address, "port": port, "host": address}


def accepted_fields(conn: Connection) -> Fields:
    """The ``accepted`` event; with --tls it carries the client's handshake, on a Unix
    socket the client's credentials (SO_PEERCRED: asked only when the event is shown)."""
    fields: Fields = {"client": conn.client}
    if conn.transport is not None:
        tls = conn.transport.get_extra_info("netprobe_tls")
        if tls is not None:
            fields["tls"] = tls
        if conn.client.get("port", 0) is None and conn.client.get("address") is not None:
            from netprobe.unix.peercred import read_peer_cred

            sock = conn.transport.get_extra_info("socket")
            cred = read_peer_cred(sock, conn.server.trace) if sock is not None else None
            fields["peer_cred"] = cred.to_json() if cred is not None else None
    return fields
