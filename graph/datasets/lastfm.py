"""LastFM HetRec 2011 (``hetrec2011-lastfm-2k``) as profilegraph events.

Read in place from ``../shared/datasets/lastfm-hetrec2011-2k/`` (configurable); nothing is
copied. Mapping, following the data set's README:

- ``user_artists.dat`` (user, artist, play count) → ``listen`` interactions, weight = plays,
  no timestamp (the file is an aggregate);
- ``user_taggedartists.dat`` → ``tag`` interactions with the tag text as category and the date as
  timestamp (dates are Madrid local dates, so midnight Europe/Madrid); the tags then become the
  artists' categories via ``IN_CATEGORY`` weighted by how often the tag was given. Five rows dated
  1956-1979 are bogus and are rejected by validation (dead-lettered, not dropped silently);
- ``tags.dat`` is latin-1; ``artists.dat`` is UTF-8 with stray ``"`` and is split on tabs with no
  quote handling; 390 tagged artist ids are missing from it and become items without a name;
- ``user_friends.dat`` lists each friendship both ways → two ``follow`` events.

This data is licensed for non-commercial use only (see the data set's readme.txt).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

FILES = (
    "artists.dat",
    "tags.dat",
    "user_artists.dat",
    "user_friends.dat",
    "user_taggedartists.dat",
)
MADRID = ZoneInfo("Europe/Madrid")
SOURCE = "lastfm"


def _rows(path: Path, encoding: str = "utf-8") -> Iterator[list[str]]:
    with path.open(encoding=encoding, newline="") as handle:
        next(handle)  # header
        for line in handle:
            line = line.rstrip("\r\n")
            if line:
                yield line.split("\t")


def check_dataset(directory: Path) -> None:
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"LastFM data set incomplete in {directory}: missing {missing}")


def lastfm_events(directory: Path) -> Iterator[dict[str, Any]]:
    """Yield raw event dicts (validated later by the ingest path, like any other source)."""
    check_dataset(directory)
    for artist_id, name, *_ in _rows(directory / "artists.dat"):
        yield {
            "type": "item_upsert",
            "event_id": f"lastfm:artist:{artist_id}",
            "item_id": artist_id,
            "name": name,
        }
    for user_id, artist_id, plays in _rows(directory / "user_artists.dat"):
        yield {
            "type": "interaction",
            "event_id": f"lastfm:listen:{user_id}:{artist_id}",
            "user_id": user_id,
            "item_id": artist_id,
            "kind": "listen",
            "weight": float(plays),
        }
    tags = {tag_id: value for tag_id, value in _rows(directory / "tags.dat", "latin-1")}
    for user_id, artist_id, tag_id, day, month, year in _rows(directory / "user_taggedartists.dat"):
        ts = datetime(int(year), int(month), int(day), tzinfo=MADRID).isoformat()
        yield {
            "type": "interaction",
            "event_id": f"lastfm:tag:{user_id}:{artist_id}:{tag_id}",
            "user_id": user_id,
            "item_id": artist_id,
            "kind": "tag",
            "category": tags.get(tag_id),
            "ts": ts,
        }
    for user_id, friend_id in _rows(directory / "user_friends.dat"):
        yield {
            "type": "follow",
            "event_id": f"lastfm:follow:{user_id}:{friend_id}",
            "user_id": user_id,
            "target_user_id": friend_id,
        }


def count_events(directory: Path) -> int:
    return sum(
        sum(1 for _ in _rows(directory / name))
        for name in (
            "artists.dat",
            "user_artists.dat",
            "user_taggedartists.dat",
            "user_friends.dat",
        )
    )
