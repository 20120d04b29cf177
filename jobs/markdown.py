"""Markdown pieces the reports share."""

from __future__ import annotations

from typing import Any


def cell_text(value: Any) -> str:
    """A query row's value in a table: floats to 4 figures, lists joined."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
