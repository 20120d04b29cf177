"""Load the shared ``.cypher`` files by name.

Each file in ``cypher/`` holds one query (``schema.cypher`` excepted: a list of idempotent DDL
statements) and starts with a header of ``// key: value`` lines. ``mode`` (read or write) is
required; it picks the driver's access mode. Analysts run the same files from Neo4j Browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from core.errors import ConfigError

CYPHER_DIR = Path(__file__).resolve().parents[1] / "cypher"
_HEADER = re.compile(r"^//\s*(\w+)\s*:\s*(.*)$")


@dataclass(frozen=True)
class Query:
    name: str
    text: str
    mode: Literal["read", "write"]
    header: dict[str, str] = field(default_factory=dict)

    def with_rel_type(self, rel_type: str, allowed: frozenset[str]) -> Query:
        """Fill the file's ``__REL_TYPE__`` placeholder from an allow-list.

        Relationship types cannot be parameters. Cypher 5.26's dynamic types (``$(expr)``)
        would do, but they made the first write of a new type ~500x slower in our
        measurements, so each allowed type gets its own plain query text instead.
        """
        if rel_type not in allowed:
            raise ValueError(f"relationship type {rel_type!r} is not in the allow-list")
        if "__REL_TYPE__" not in self.text:
            raise ValueError(f"query {self.name!r} has no __REL_TYPE__ placeholder")
        return Query(
            name=f"{self.name}[{rel_type}]",
            text=self.text.replace("__REL_TYPE__", rel_type),
            mode=self.mode,
            header=self.header,
        )

    def statements(self) -> list[str]:
        """Split on ``;`` at line ends, for files that hold several DDL statements."""
        body = "\n".join(
            line for line in self.text.splitlines() if not line.lstrip().startswith("//")
        )
        return [part.strip() for part in re.split(r";\s*$", body, flags=re.M) if part.strip()]


def query_names() -> list[str]:
    return sorted(path.stem for path in CYPHER_DIR.glob("*.cypher"))


@cache
def load_query(name: str) -> Query:
    path = CYPHER_DIR / f"{name}.cypher"
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or not path.is_file():
        raise ConfigError(f"no query named {name!r} in {CYPHER_DIR} (known: {query_names()})")
    text = path.read_text()
    header: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        match = _HEADER.match(line.strip())
        if match and not line.strip().startswith("//  "):
            key = match.group(1).lower()
            header[key] = match.group(2).strip()
        elif line.strip().startswith("//  ") and key:  # an indented line continues the key
            header[key] += " " + line.strip()[2:].strip()
        elif line.strip() and not line.strip().startswith("//"):
            break
    mode = header.get("mode")
    if mode not in ("read", "write"):
        raise ConfigError(
            f"{path}: header needs '// mode: read' or '// mode: write' (found {mode!r})"
        )
    return Query(name=name, text=text, mode=mode, header=header)  # type: ignore[arg-type]
