"""Records: immutable tuples with named fields, made without ``typing`` or ``exec``.

Design decision: no ``typing`` at run time on a command's path, and no NamedTuple.

Every netprobe module has ``from __future__ import annotations``: annotations
are never evaluated, so what they name is imported only for mypy (``if
TYPE_CHECKING:``, with ``TYPE_CHECKING = False`` defined in the module itself:
mypy takes any ``TYPE_CHECKING`` as true, and importing ``typing.TYPE_CHECKING``
would import typing).  Importing ``typing`` costs some 16 M instructions of a
``connect --json`` start-up of ~140 M (a bare ``python -c pass`` is 38 M), and
``typing.NamedTuple`` then builds each class with ``collections.namedtuple``,
which compiles its ``__new__`` from source: some 0.8 M instructions a class,
for a dozen classes on the ``connect`` path (callgrind).

A record here is what such a class was: a tuple subclass (so equal to and
hashed as the tuple of its values, unpacked, indexed, ordered and written to
JSON as one; immutable), its fields read by ``collections``' own C accessor,
with ``_fields``, ``_replace``, ``_asdict`` and NamedTuple's repr.  Each class
writes its ``__new__`` (the fields, their types and defaults, in order) and
lists its ``_fields`` in the same order; ``tests/test_record.py`` checks, for
every record, that ``_fields`` is ``__new__``'s parameters and each accessor
reads its own place.  Class
creation is then that of any small class, some 0.1 M instructions.  Rejected:
``collections.namedtuple`` without typing (still the compile), a dataclass
(imports inspect and compiles more), a ``__slots__`` class with its own
``__eq__`` and ``__hash__`` (no longer a tuple: every unpacking and the JSON
encoding of one would have to be found and changed).
"""

from __future__ import annotations

from operator import itemgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, Self

try:
    # collections.namedtuple's own accessor: a C descriptor, as fast as a slot.
    from _collections import _tuplegetter as _getter  # type: ignore[import-not-found]
except ImportError:  # not CPython: what collections itself falls back to
    def _getter(index: int, doc: str | None) -> Any:
        return property(itemgetter(index), doc=doc)


def field(index: int, doc: str | None = None) -> Any:
    """The accessor of field ``index`` (annotate it with the field's type)."""
    return _getter(index, doc)


class Record(tuple):  # type: ignore[type-arg]
    """The base of a record; a subclass defines ``_fields``, ``__new__`` and its fields."""

    __slots__ = ()
    #: The field names in order, as a NamedTuple's.
    _fields: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        pairs = zip(self._fields, self, strict=True)
        inner = ", ".join(f"{name}={value!r}" for name, value in pairs)
        return f"{type(self).__name__}({inner})"

    def _replace(self, **changes: Any) -> Self:
        """A copy with the given fields changed (NamedTuple's ``_replace``)."""
        values = [changes.pop(name, value) for name, value in zip(self._fields, self, strict=True)]
        if changes:
            raise ValueError(f"Got unexpected field names: {list(changes)!r}")
        return type(self)(*values)

    def _asdict(self) -> dict[str, Any]:
        """The fields by name, in order."""
        return dict(zip(self._fields, self, strict=True))

    def __getnewargs__(self) -> tuple[Any, ...]:
        # What copy and pickle pass to __new__ (a tuple subclass's default is nothing).
        return tuple(self)
