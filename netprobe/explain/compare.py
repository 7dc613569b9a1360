"""Honesty: the prediction beside what getaddrinfo returned, entry by entry.

Design decisions:

* Sequences, never sets.  getaddrinfo answers a list in which an address
  comes once per socket type and as often as the sources gave it (two
  hosts lines, ``::1`` read as 127.0.0.1 for AF_INET); a prediction that
  has the right addresses in the wrong number is wrong.  An entry is its
  address *and* its kind (socket type, protocol): the same addresses made
  for other socket types are not the same answer either.
* A failure is predicted by its name: EAI_NONAME predicted where
  getaddrinfo said EAI_AGAIN is a difference, not "both failed".
* The differences say where, from the coarsest: an address only one side
  has; then, when both have the same addresses, how many entries each
  address has on each side; then the first entry that differs.  Any
  mismatch gives at least one line, so an empty list means equal.
"""

from __future__ import annotations

from collections import Counter

from netprobe.addrinfo import Resolution
from netprobe.explain.entries import Entry, Kind
from netprobe.explain.sort import Address


def actual_entries(resolution: Resolution | None) -> list[Entry]:
    """getaddrinfo's answer as entries, in its order."""
    if resolution is None:
        return []
    return [Entry(Address.parse(c.address), Kind(c.socktype, c.protocol))
            for c in resolution.candidates]


def addresses_text(entries: list[Entry]) -> list[str]:
    """One address per entry, in order (the JSON ``predicted`` and ``actual``)."""
    return [entry.address.text() for entry in entries]


def _error_difference(predicted_error: str | None, actual_error: str | None) -> list[str]:
    if predicted_error == actual_error:
        return []
    return [f"predicted {predicted_error or 'an answer'}, "
            f"getaddrinfo gave {actual_error or 'an answer'}"]


def _missing(predicted: list[Entry], actual: list[Entry]) -> list[str]:
    """The addresses only one side has, each once, in that side's order."""
    want = {entry.address for entry in predicted}
    got = {entry.address for entry in actual}
    lines = [f"{address.text()}: returned by getaddrinfo, not predicted"
             for address in dict.fromkeys(e.address for e in actual) if address not in want]
    lines += [f"{address.text()}: predicted, not returned by getaddrinfo"
              for address in dict.fromkeys(e.address for e in predicted) if address not in got]
    return lines


def _counts(predicted: list[Entry], actual: list[Entry]) -> list[str]:
    """The same addresses in other numbers: how many entries of each, side by side."""
    lines = [f"{len(predicted)} entries predicted, {len(actual)} returned"]
    want = Counter(entry.address for entry in predicted)
    got = Counter(entry.address for entry in actual)
    for address in dict.fromkeys(e.address for e in actual):
        if want[address] != got[address]:
            lines.append(f"{address.text()}: {want[address]} predicted, {got[address]} returned")
    return lines


def _first_difference(predicted: list[Entry], actual: list[Entry]) -> list[str]:
    for position, (want, got) in enumerate(zip(predicted, actual, strict=True)):
        if want.address != got.address:
            return [f"entry {position}: predicted {want.address.text()}, "
                    f"getaddrinfo gave {got.address.text()}"]
        if want.kind != got.kind:
            return [f"entry {position}: predicted {want.text()}, getaddrinfo gave {got.text()}"]
    return []


def differences(predicted: list[Entry], actual: list[Entry], predicted_error: str | None,
                actual_error: str | None) -> list[str]:
    """Where the prediction and getaddrinfo's answer differ; empty when they are equal."""
    lines = _error_difference(predicted_error, actual_error)
    if predicted == actual:
        return lines
    missing = _missing(predicted, actual)
    if missing:
        return lines + missing
    if len(predicted) != len(actual):
        return lines + _counts(predicted, actual)
    return lines + _first_difference(predicted, actual)
