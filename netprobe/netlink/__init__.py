"""Netlink: the kernel's own tables, asked for directly (Linux).

The package is a room of the core, one concern a file:

* ``core``: one netlink socket and its message framing (``Netlink``: a
  request, its replies up to NLMSG_DONE, NLMSG_ERROR as ``NetlinkError``;
  the attribute walk);
* ``diag``: NETLINK_SOCK_DIAG, the socket table: inet_diag for TCP and UDP
  over IPv4 and IPv6 (state, addresses, the accept queue, IPV6_V6ONLY, uid,
  inode) and unix_diag for AF_UNIX;
* ``route``: NETLINK_ROUTE: RTM_GETROUTE for one destination (interface,
  gateway, preferred source), RTM_GETLINK for an interface's name, and the
  RTM_GETADDR dump ``--explain`` reads the interfaces' addresses with.

Nothing here decides what the tables mean (``netprobe.kernel`` does) and
nothing prints: every system call goes through ``netprobe.syscalls``, so
``--syscalls`` shows these requests like any other call.

Design decision: written on ``socket.AF_NETLINK`` with ``struct``, no
library.  pyroute2 speaks every netlink family there is, but importing it
costs about 250 ms (ten times netprobe's whole start-up floor), and psutil
(40 ms) gives neither IPV6_V6ONLY nor the accept queue.  What netprobe
asks is a handful of fixed-size requests whose replies are a C struct and a
few attributes each: a few hundred lines, imported only by ``sockets`` and
after a failure.  The layouts are those of the kernel's UAPI headers
(linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h, linux/unix_diag.h,
linux/rtnetlink.h), as sock_diag(7), netlink(7) and rtnetlink(7) describe
them.
"""

from __future__ import annotations
