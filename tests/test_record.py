"""Records (netprobe.record): what each NamedTuple they replace was, without typing.

Every record (the start-up path's and ``--explain``'s): ``_fields`` is its ``__new__``'s parameters
in order, each field's accessor reads its own place, and it is still a tuple
(equal to and hashed as its values, unpacked, immutable), with NamedTuple's
``_replace``, ``_asdict`` and repr; copy and pickle give it back.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import pickle
import socket

import pytest

from netprobe.addrinfo import Candidate, Hints, NameInfo, Resolution
from netprobe.connect.attempts import Connected, Plan
from netprobe.connect.rounds import Exchange, Method
from netprobe.option_values import HintOptions, TlsClientOptions, TlsServerOptions
from netprobe.quick.shape import Command
from netprobe.record import Record

#: The modules that define records beside those imported above.
_EXPLAIN = ["addrconfig", "context", "entries", "gaiconf", "hosts", "nsswitch", "predict",
            "problems", "resolvconf", "sort"]
for _name in [*(f"netprobe.explain.{m}" for m in _EXPLAIN), "netprobe.netlink.route"]:
    importlib.import_module(_name)

RECORDS: list[type[Record]] = sorted(Record.__subclasses__(),
                                     key=lambda c: f"{c.__module__}.{c.__name__}")


def test_every_record_is_here() -> None:
    assert {Hints, Candidate, Resolution, NameInfo, Plan, Connected, Method, Exchange,
            HintOptions, TlsClientOptions, TlsServerOptions, Command} <= set(RECORDS)
    assert len(RECORDS) >= 12 + 29


def distinct(cls: type[Record]) -> Record:
    """A record whose every field holds a value of its own (the field's name)."""
    return cls(*cls._fields)


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_fields_are_the_constructor_parameters_and_each_reads_its_place(
        cls: type[Record]) -> None:
    assert tuple(inspect.signature(cls).parameters) == cls._fields
    record = distinct(cls)
    for place, name in enumerate(cls._fields):
        assert getattr(record, name) == name == record[place]
    assert len(record) == len(cls._fields)


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_a_record_is_the_tuple_of_its_values(cls: type[Record]) -> None:
    record = distinct(cls)
    assert isinstance(record, tuple)
    assert record == cls._fields and hash(record) == hash(cls._fields)
    assert tuple(record) == cls._fields
    with pytest.raises(AttributeError):
        setattr(record, cls._fields[0], "other")
    assert copy.copy(record) == record and copy.deepcopy(record) == record
    assert type(copy.deepcopy(record)) is cls
    again = pickle.loads(pickle.dumps(record))
    assert again == record and type(again) is cls


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_replace_asdict_and_repr_are_namedtuples(cls: type[Record]) -> None:
    record = distinct(cls)
    first, *rest = cls._fields
    changed = record._replace(**{first: "new"})
    assert type(changed) is cls and changed == ("new", *rest)
    with pytest.raises(ValueError, match="unexpected field names"):
        record._replace(nosuchfield=1)
    assert record._asdict() == {name: name for name in cls._fields}
    assert list(record._asdict()) == list(cls._fields)
    inner = ", ".join(f"{name}={name!r}" for name in cls._fields)
    assert repr(record) == f"{cls.__name__}({inner})"


def test_defaults_are_the_namedtuples() -> None:
    assert Hints() == (socket.AF_UNSPEC, 0, 0, 0)
    assert Hints(flags=8).flags == 8
    assert Candidate(0, 2, 1, 6, "", "127.0.0.1", 80) == (0, 2, 1, 6, "", "127.0.0.1", 80, 0, 0)
    assert Plan(1.0) == (1.0, None, None, None)
    assert Method(Plan(1.0))[1:] == (False, False, 0.25, None)
    assert Exchange() == (False, None, None, None, True)


def test_a_candidate_keys_a_cache_as_its_tuple_would() -> None:
    one = Candidate(0, socket.AF_INET, socket.SOCK_STREAM, 6, "", "127.0.0.1", 80)
    same = Candidate(0, socket.AF_INET, socket.SOCK_STREAM, 6, "", "127.0.0.1", 80)
    assert one == same and hash(one) == hash(same) and {one: 1}[same] == 1
    assert one != one._replace(port=81)
    assert one.sockaddr == ("127.0.0.1", 80) and one.endpoint() == "127.0.0.1:80"
