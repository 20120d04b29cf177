"""What counts as unsafe text in an input: control characters and bidirectional overrides.

Control characters (NUL, escape, ...) corrupt logs and terminals; direction overrides
(U+202A-U+202E, U+2066-U+2069) make text read differently from what it holds. Every text
that enters from outside (event fields, analyst parameters) is checked with this one test.
"""

from __future__ import annotations

import unicodedata

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def unsafe_characters(text: str) -> list[str]:
    """The control or direction-override characters in ``text`` as ``U+XXXX`` (empty: safe)."""
    return sorted(
        {f"U+{ord(c):04X}" for c in text if unicodedata.category(c) == "Cc" or c in BIDI_CONTROLS}
    )
