"""open_clientfd made visible: every candidate tried, why it failed, and how long it took.

``netprobe connect`` resolves a host through the resolution core and then
tries its candidates.  This package is the part in between and after, one
concern a file:

* ``attempts``: one attempt at one candidate (outcomes, ``Attempt``,
  ``Plan``, ``Connected``, the failure summary, the reporter of attempt
  events);
* ``opening``: a candidate's socket (socket, and with --source setsockopt
  and bind), non-blocking from socket() for a connect with a time limit;
* ``clientfd``: ``open_clientfd``, the textbook loop, one candidate at a
  time (``connect_sequential``; ``connect_every`` for ``--all``), and the
  ``--udp --check`` probe (the connect itself is
  ``netprobe.syscalls.connecting``'s);
* ``happy_eyeballs``: the RFC 8305 race and the reasons for its choices;
* ``data``: the data phase (relay, datagram relay, ``--expect``);
* ``rounds``: one round (resolve, connect by a ``Method``, TLS, the data
  phase) and ``--wait``'s rounds: what ``connect``, ``check`` and the
  probes call;
* ``tls``: ``--tls`` on the connected candidate (imported only with --tls;
  the TLS machinery itself is ``netprobe.tls``).

A new concern (TLS on the connected socket, for one) gets a file of its own.

Like the rest of the core it never prints: it reports through
``trace(event, fields)`` and raises netprobe's errors (``netprobe.cli`` maps
them to exit statuses).  The names below are re-exported so that callers can
write ``from netprobe.connect import ...`` without knowing the file.
"""

from __future__ import annotations

from netprobe.connect.attempts import (
    Attempt,
    CandidatesFailed,
    CandidatesTimedOut,
    Connected,
    Outcome,
    Plan,
    classify,
    describe,
    failure,
)
from netprobe.connect.clientfd import connect_every, connect_sequential, open_clientfd
from netprobe.connect.data import (
    compile_expect,
    relay,
    relay_datagrams,
    usable_stdin,
)
from netprobe.connect.happy_eyeballs import (
    DEFAULT_DELAY,
    happy_eyeballs,
    interleave_families,
    select_ready,
)
from netprobe.relay import Transfer

__all__ = [
    "DEFAULT_DELAY",
    "Attempt",
    "CandidatesFailed",
    "CandidatesTimedOut",
    "Connected",
    "Outcome",
    "Plan",
    "Transfer",
    "classify",
    "compile_expect",
    "connect_every",
    "connect_sequential",
    "describe",
    "failure",
    "happy_eyeballs",
    "interleave_families",
    "open_clientfd",
    "relay",
    "relay_datagrams",
    "select_ready",
    "usable_stdin",
]
