from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.dnsmasq import dns_namespace, dns_stub, dnsmasq_server  # noqa: F401  (fixtures)
from tests.helpers import Namespace


@pytest.fixture
def namespace() -> Iterator[Callable[..., Namespace]]:
    """Factory: ``namespace(hosts=..., resolv=...)`` -> a private Namespace, closed after."""
    made: list[Namespace] = []

    def make(**kwargs: str) -> Namespace:
        ns = Namespace(**kwargs)
        made.append(ns)
        return ns

    yield make
    for ns in made:
        ns.close()
