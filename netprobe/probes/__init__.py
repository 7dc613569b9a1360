"""Probes: ``connect --count``, the connect core again and again, with statistics.

Ping for TCP, TLS and UDP (SPEC, "Probes").  One concern a file:

* ``loop``: the schedule (start to start, never two at a time) and the run;
* ``probe``: one probe, made of one call of the connect core (every
  candidate rule, Happy Eyeballs, ``--tls``, ``--send``/``--expect``), and
  the watcher that reads the kernel's view of its socket;
* ``outcome``: one probe's result, and what a failure stands for;
* ``stats``: sent, ok, failed, loss, min/avg/median/p95/max/stdev, overall
  and per address, streaming;
* ``tcpinfo``: getsockopt(TCP_INFO), parsed;
* ``verdict``: the exit status rule and the run's errors.

Like the rest of the core it never prints: ``probe`` and ``probe_stats``
events go to the trace (``netprobe.render.probes`` draws them).
"""
