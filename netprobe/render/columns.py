"""Aligned columns as one rich ``Text``: a table without ``rich.table``.

Design decision: the candidate list (the one table every ``resolve`` prints)
is laid out here rather than by ``rich.table.Table``.

Importing ``rich.table`` pulls in ``fractions``, ``decimal`` and ``numbers``
(for its ratio arithmetic), ``rich.padding`` and ``rich.box``, and laying out
even a three-row table goes through its width negotiation, cell padding and
segment splitting: together about 10 ms of a start-up whose floor (Python
calling getaddrinfo) is about 40 ms (bench/startup.py).  A borderless table
of short, single-line cells needs none of that: a column is as wide as its
widest cell, cells are padded (left or right) and joined by two spaces, the
header is bold and the title italic, as ``Table(box=None, pad_edge=False)``
draws them.  Two differences, both on purpose: a line has no trailing
blanks, and a row wider than the terminal is never cut short with an
ellipsis (rich fits a table to the console width, which is 80 columns on a
pipe; an address cut short is a wrong address).
"""

from __future__ import annotations

from typing import Literal

from rich.cells import cell_len
from rich.text import Text

Justify = Literal["left", "right"]
#: Between two columns, as Table(box=None) pads them (one blank each side).
GAP = "  "


class Columns:
    """Rows of cells under a header, each column as wide as its widest cell."""

    def __init__(self, title: str | None = None) -> None:
        self.title = title
        self.headers: list[str] = []
        self.justify: list[Justify] = []
        self.rows: list[list[str | Text]] = []

    def add_column(self, header: str, justify: Justify = "left") -> None:
        self.headers.append(header)
        self.justify.append(justify)

    def add_row(self, *cells: str | Text) -> None:
        row: list[str | Text] = list(cells)
        self.rows.append(row + [""] * (len(self.headers) - len(row)))

    def text(self) -> Text:
        """The table as lines of one Text (title, header, rows), no trailing newline."""
        header: list[str | Text] = [Text(name, style="table.header") for name in self.headers]
        rows = [header, *self.rows]
        widths = [max(_width(row[i]) for row in rows) for i in range(len(self.headers))]
        last = len(widths) - 1
        lines: list[Text] = []
        if self.title is not None:
            lines.append(Text(self.title, style="table.title"))
        for row in rows:
            # Trailing empty cells are left out, so no line ends in blanks
            # (cheaper than Text.rstrip, which shows with check's 1000 rows).
            used = max((i for i, cell in enumerate(row) if _width(cell)), default=0)
            line = Text()
            for i, cell in enumerate(row[: used + 1]):
                blanks = " " * (widths[i] - _width(cell))
                if i:
                    line.append(GAP)
                if self.justify[i] == "right":
                    line.append(blanks)
                line.append(cell)
                if self.justify[i] == "left" and i != last and i != used:
                    line.append(blanks)
            lines.append(line)
        return Text("\n").join(lines)

    def __rich__(self) -> Text:
        return self.text()


def _width(cell: str | Text) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)
