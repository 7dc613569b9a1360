"""Unix domain sockets (AF_UNIX): the address family beside getaddrinfo's candidates.

A ``HOST`` that contains a ``/``, ``unix:PATH`` or ``unix:@NAME`` (Linux's
abstract namespace) names one socket address and nothing is resolved.  What
this family needs that IP does not lives here, one concern a file, so that
the commands and the connect/listen machinery gain files rather than
branches:

* ``address``: parsing and checking the forms (sun_path's 107 bytes), the
  address in Python's and JSON's forms;
* ``candidate``: the one candidate (a ``Candidate`` whose sockaddr is the
  path) and the resolution that asks nobody;
* ``connecting``: connect() under SO_SNDTIMEO (a full accept queue is a
  timeout, not a false "connected"), the datagram autobind;
* ``listening``: ``listen``'s socket, bind, chmod, listen, as bind events;
* ``socketfile``: ``listen``'s socket file: the stale/``--unlink`` rules,
  ``--mode`` and removing the file netprobe made when it stops;
* ``datagrams``: ``listen --udp`` on a Unix datagram socket;
* ``peercred``: SO_PEERCRED and the peer's command from /proc;
* ``fs``: the file system's side of a failure (the path walk the kernel
  makes: search permission on each directory, write permission on the socket
  file; the first missing directory; what is at the path);
* ``table``: which sockets the kernel has bound at a path (/proc/net/unix);
* ``diagnose``: a failed connect or bind explained as the SPEC's kinds
  (``stale``, ``no-such-file``, ``permission``, ``not-a-socket``,
  ``other-socktype``, ``queue-full``).

A TCP connect or listen imports this face alone (``is_unix``, to tell a
path from a host: a NamedTuple class costs ~0.8 ms to make, so ``address``
waits); the rest is imported when a Unix socket is asked for, and the
failure path (``fs``, ``table``, ``diagnose``) only after a failure.
"""

from __future__ import annotations

PREFIX = "unix:"


def is_unix(host: str | None) -> bool:
    """Whether HOST names a Unix domain socket rather than something to resolve.

    A ``/`` (no host name or address holds one) or the ``unix:`` prefix;
    see ``netprobe.unix.address`` for why.
    """
    return host is not None and (host.startswith(PREFIX) or "/" in host)
