"""The statistics of a probe run: counts, loss and the times of the probes that succeeded.

Design decisions:

* **Streaming, and only the times.**  A run can be long (``--count 0`` for
  a day, ``--count 100000 --interval 0`` in a benchmark).  Nothing of a
  probe is kept but its time, and only when it succeeded: one C double in
  an ``array('d')`` per address (8 bytes a probe; 100 000 probes are 800
  KB).  min, max and the mean and variance (Welford's update, numerically
  stable, O(1) per probe) are kept up to date as probes finish; only the
  median and the 95th percentile need the whole list, and are computed
  when asked for (at the end, or on Ctrl-C), by one sort.  A sketch (t-digest,
  P²) would bound memory further but give approximate quantiles: a median
  that is not one of the measured times would be a surprise in a tool
  whose point is to show what was measured.
* **Overall and per address, from the same lists.**  The times are kept
  per address only; the overall median sorts their concatenation.  Keeping
  a second, overall list would double the memory for nothing.
* **Definitions.**  loss = failed / sent (100 % when nothing succeeded,
  0 when nothing was sent); p95 by nearest rank (the smallest time with at
  least 95 % of the times at or below it: ``sorted[ceil(0.95 n) - 1]``, always a
  measured time); the median is the middle time, or the mean of the two
  middle ones; stdev is the population's (ping's ``mdev``), not the
  sample's: the probes are the whole of what is being described.  Every
  figure is null when nothing succeeded, the counts are always given.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence

from netprobe.events import ms

TYPE_CHECKING = False
if TYPE_CHECKING:
    from netprobe.schema import ProbeAddressStats, ProbeFigures, ProbeStatsEvent

#: The fields every set of figures has, null when nothing succeeded.
FIGURES = ("min_ms", "avg_ms", "median_ms", "p95_ms", "max_ms", "stdev_ms")


def nearest_rank(ordered: Sequence[float], percent: float) -> float:
    """The ``percent`` percentile of sorted, non-empty ``ordered`` by nearest rank."""
    rank = max(1, math.ceil(percent / 100.0 * len(ordered)))
    return ordered[rank - 1]


def median(ordered: Sequence[float]) -> float:
    """The median of sorted, non-empty ``ordered``."""
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2.0


def loss_pct(sent: int, failed: int) -> float:
    """Failed probes as a percentage of those sent (0 when none was sent)."""
    return round(100.0 * failed / sent, 3) if sent else 0.0


class Series:
    """The probes of one address: counts, and the times (seconds) of those that succeeded."""

    __slots__ = ("failed", "m2", "maximum", "mean", "minimum", "times")

    def __init__(self) -> None:
        self.times = array("d")
        self.failed = 0
        self.minimum = math.inf
        self.maximum = -math.inf
        self.mean = 0.0
        #: Sum of squared distances from the mean (Welford): variance = m2 / n.
        self.m2 = 0.0

    @property
    def ok(self) -> int:
        return len(self.times)

    @property
    def sent(self) -> int:
        return len(self.times) + self.failed

    def add(self, seconds: float | None) -> None:
        """One probe: its time if it succeeded, None if it failed."""
        if seconds is None:
            self.failed += 1
            return
        self.times.append(seconds)
        if seconds < self.minimum:
            self.minimum = seconds
        if seconds > self.maximum:
            self.maximum = seconds
        delta = seconds - self.mean
        self.mean += delta / len(self.times)
        self.m2 += delta * (seconds - self.mean)

    def stdev(self) -> float:
        return math.sqrt(max(self.m2, 0.0) / len(self.times)) if self.times else 0.0


def figures(series: Iterable[Series]) -> ProbeFigures:
    """sent, ok, failed, loss and the six times (ms) of one or several series together."""
    parts = list(series)
    sent = sum(s.sent for s in parts)
    failed = sum(s.failed for s in parts)
    fields: ProbeFigures = {"sent": sent, "ok": sent - failed, "failed": failed,
                            "loss_pct": loss_pct(sent, failed), "min_ms": None,
                            "avg_ms": None, "median_ms": None, "p95_ms": None,
                            "max_ms": None, "stdev_ms": None}
    ok = [s for s in parts if s.ok]
    if not ok:
        return fields
    count = sum(s.ok for s in ok)
    # Chan et al.'s pairwise combination of Welford's (n, mean, m2): exact,
    # and it needs no second pass over the times.
    mean, m2, n = 0.0, 0.0, 0
    for s in ok:
        total = n + s.ok
        delta = s.mean - mean
        mean += delta * s.ok / total
        m2 += s.m2 + delta * delta * n * s.ok / total
        n = total
    ordered = sorted(ok[0].times) if len(ok) == 1 else sorted(t for s in ok for t in s.times)
    fields.update({
        "min_ms": ms(min(s.minimum for s in ok)), "avg_ms": ms(mean),
        "median_ms": ms(median(ordered)), "p95_ms": ms(nearest_rank(ordered, 95.0)),
        "max_ms": ms(max(s.maximum for s in ok)),
        "stdev_ms": ms(math.sqrt(max(m2, 0.0) / count)),
    })
    return fields


class ProbeStats:
    """Every probe of a run, by the address each ended on (``(address, port)``)."""

    def __init__(self) -> None:
        #: In the order the addresses were first used: the order they are reported in.
        self.by_address: dict[tuple[str, int | None], Series] = {}
        #: Probes that ended on no address at all (a failed --resolve-each).
        self.nowhere = Series()

    def add(self, address: tuple[str, int | None] | None, seconds: float | None) -> Series:
        """One finished probe: where it ended, and its time when it succeeded; the series
        it was added to."""
        if address is None:
            self.nowhere.add(seconds)
            return self.nowhere
        series = self.by_address.get(address)
        if series is None:
            series = self.by_address[address] = Series()
        series.add(seconds)
        return series

    @property
    def sent(self) -> int:
        return self.nowhere.sent + sum(s.sent for s in self.by_address.values())

    @property
    def ok(self) -> int:
        return sum(s.ok for s in self.by_address.values())

    @property
    def failed(self) -> int:
        return self.sent - self.ok

    @property
    def loss(self) -> float:
        return loss_pct(self.sent, self.failed)

    def to_json(self) -> ProbeStatsEvent:
        overall = figures([self.nowhere, *self.by_address.values()])
        per_address: list[ProbeAddressStats] = []
        for (address, port), series in self.by_address.items():
            each = figures([series])
            per_address.append({"address": address, "port": port, **each})
        return {**overall, "per_address": per_address}
