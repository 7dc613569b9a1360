"""``--explain``: where each getaddrinfo answer came from, and why in this order.

This package knows the files and rules glibc's getaddrinfo uses and works
out, independently of the library, what it should have answered and in
which order; then it compares that prediction with what the library did
answer.  Only an exact match, entry by entry, is ``explained: true``: the
comparison is the feature's own test on every machine it runs on, and an
explanation that does not match is shown as such, never bent to fit.

Like the DNS view it knows nothing of output: ``explain_resolution`` and
``explain_reverse`` (``reverse``) return the JSON-ready ``explain`` object
of the SPEC and the renderers draw it.

The rooms, in the order an explanation goes through them:

* ``context``: the files read once (``Paths``) and the interfaces.
* ``predict``: getaddrinfo's phases in glibc's order, one function each:
  the early checks, AI_ADDRCONFIG (``addrconfig``), the socket types of
  each entry (``entries``), the host's addresses (a numeric host, no
  host, or the ``hosts:`` sources: ``sources``, ``nsswitch``, ``hosts``,
  ``dnsmodel``), and the order (``sort`` with ``gaiconf``'s policy).
* ``compare``: the prediction beside the answer, entry by entry.
* ``resolution`` joins the two for resolve and connect; ``reverse`` does
  the same for getnameinfo.

What is *not* modelled is said, not guessed: nscd (if it runs, it answers
instead of the sources), NSS modules other than files and dns, and
AI_CANONNAME's name.
"""

from __future__ import annotations

from netprobe.explain.context import Paths
from netprobe.explain.resolution import explain_resolution

__all__ = ["Paths", "explain_resolution"]
