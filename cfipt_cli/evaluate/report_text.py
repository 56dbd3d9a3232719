"""Text helpers of the evaluate reports: percentages, padded Markdown tables, one-line cells, CSV quoting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MISSING = "-"


def percent(value: float | None) -> str:
    return MISSING if value is None else f"{100.0 * value:.2f}"


def mean_std(stat: Mapping[str, Any]) -> str:
    if stat.get("mean") is None:
        return MISSING
    std = MISSING if stat.get("std") is None else f"{100.0 * stat['std']:.2f}"
    return f"{100.0 * stat['mean']:.2f} ± {std}"


def markdown_grid(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """A Markdown pipe table whose columns are padded to equal width (readable as plain text too).

    Args:
        headers: column titles.
        rows: cell texts, one sequence per row.
        right: per column, True to right-align (numbers).
    """
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    widths = [max(w, 3) for w in widths]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        ("-" * (w + 1) + ":") if r else (":" + "-" * (w + 1)) for w, r in zip(widths, right, strict=True)
    )
    return "\n".join([line(headers), rule + "|", *(line(r) for r in rows)])


def one_line(text: Any) -> str:
    """`text` on one line: line breaks and tabs (and runs of blanks) become one space."""
    return " ".join(str(text).split())


def md_cell(text: Any) -> str:
    """Text for one Markdown table cell: on one line, `|` escaped, so a name never breaks the table."""
    return one_line(text).replace("|", "\\|")


def quote_csv(text: str) -> str:
    """A CSV cell: quoted (and its quotes doubled) when it holds a comma, a quote or a line break."""
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',"\n') else text
