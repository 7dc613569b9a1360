"""``resolve --explain`` and ``connect --explain``: getaddrinfo's answer predicted and checked.

The explanation is the prediction (``predict``, phase by phase) followed
by the verdict (``compare``): ``predicted`` holds one address per entry
getaddrinfo should return, in its order, and ``explained`` is true only
when that sequence, socket types and protocols included, is the one the
library returned, or both failed with the same EAI_* name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from netprobe.addrinfo import Hints, Resolution
from netprobe.events import Fields, Trace, no_trace
from netprobe.explain.addrconfig import Interfaces
from netprobe.explain.compare import actual_entries, addresses_text, differences
from netprobe.explain.context import Context, Paths
from netprobe.explain.predict import Query, predict
from netprobe.inputs import library_host


def explain_resolution(host: str | None, hints: Hints, actual: Resolution | None,
                       actual_error: str | None = None, *, service: str | None = None,
                       timeout: float | None = None, paths: Paths | None = None,
                       environ: Mapping[str, str] | None = None,
                       interfaces: Interfaces | None = None,
                       trace: Trace = no_trace) -> Fields:
    """The SPEC's ``explain`` object for getaddrinfo(host, service, hints).

    ``actual`` is what getaddrinfo returned (None if it failed with
    ``actual_error``, an EAI_* name); its own ``service`` is the one asked
    about, else ``service`` (None: NULL).  Never raises for bad files: they
    are reported in ``problems``.
    """
    environ = os.environ if environ is None else environ
    ctx = Context(paths or Paths(), environ, timeout, interfaces, trace)
    asked = actual.service if actual is not None else service
    # The name glibc was given: a non-ASCII host reaches it in its IDNA form.
    name = library_host(host) if host is not None else None
    prediction = predict(ctx, Query(name, asked or None, hints))
    explain = prediction.fields
    got = actual_entries(actual)
    explain["predicted"] = addresses_text(prediction.entries)
    explain["predicted_error"] = prediction.error
    explain["actual"] = addresses_text(got)
    explain["actual_error"] = actual_error
    found = differences(prediction.entries, got, prediction.error, actual_error)
    walk = prediction.walk
    if walk is not None and walk.assumed and found:
        found.append(f"not modelled and reached: {', '.join(walk.assumed)}; "
                     "its answer cannot be predicted")
    explain["explained"] = not found
    explain["differences"] = found
    explain["problems"] = [p.to_json() for p in ctx.problems]
    return explain
