"""Outside text as rich ``Text``: the escapes styled, never markup.

What is escaped, and why, is decided in one place, ``netprobe.safe`` (pure,
on the ground floor, so that error messages use it without rich); this is
the renderers' part: the same segments, the escapes shown dim.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netprobe.safe import segments

if TYPE_CHECKING:
    from rich.text import Text


def rich_text(text: str, style: str = "", *, multiline: bool = False,
              escape_style: str = "dim") -> Text:
    """A rich ``Text`` of outside text: escapes styled ``escape_style``, never markup.

    A ``Text`` is what reaches rich, never a ``str``: rich would interpret
    ``[bold]`` in a str printed with markup on.
    """
    from rich.text import Text

    result = Text(style=style)
    for piece, escaped in segments(text, multiline=multiline):
        result.append(piece, style=escape_style if escaped else None)
    return result
