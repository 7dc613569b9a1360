"""events.ms on its own: its arithmetic shortcut is round(seconds * 1000, 3), bit for bit."""

from __future__ import annotations

import math
import random

from hypothesis import given
from hypothesis import strategies as st

from netprobe.events import ms


def reference(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def same(a: float, b: float) -> bool:
    """The same double, -0.0 and nan included (what JSON would write)."""
    return repr(a) == repr(b)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_ms_is_round_for_any_float(seconds: float) -> None:
    assert same(ms(seconds), reference(seconds))


@given(st.floats(min_value=0.0, max_value=3000.0))
def test_ms_is_round_for_the_times_it_is_given(seconds: float) -> None:
    assert same(ms(seconds), reference(seconds))


def test_ms_is_round_at_and_around_every_tie() -> None:
    # The half-microseconds are where a shortcut would round the wrong way.
    for k in range(0, 200_000, 7):
        for tie in ((k + 0.5) / 1e6, (k + 0.5) * 1e-6, (k + 5000.5) / 1e6):
            for value in (tie, math.nextafter(tie, 0.0), math.nextafter(tie, 1.0),
                          tie - 4e-13, tie + 4e-13):
                assert same(ms(value), reference(value)), value


def test_ms_is_round_for_random_times_of_every_size() -> None:
    draw = random.Random(21)
    for _ in range(200_000):
        value = draw.random() * 10.0 ** draw.randint(-10, 4)
        assert same(ms(value), reference(value)), value


def test_ms_edges() -> None:
    for value in (0.0, -0.0, -1e-7, 1e-10, 2147.483647, 2147.4836475, 2147.483648, 1e300,
                  math.inf, -math.inf):
        assert same(ms(value), reference(value)), value
    assert math.isnan(ms(math.nan))
