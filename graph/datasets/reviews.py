"""Review text with stars: Yelp 10k and Amazon Fashion 5-core (English), Douban movie comments
(Chinese), read in place from ``../shared/datasets/reviews/`` (see its README; research use).

Each reader yields :class:`Review` rows as they are in the file (a null rating, a review
without text and an empty rating are kept: the quirks are real); :func:`review_events` turns
them into ``review`` events for the ingest (the rating as the weight, the text, its language,
and the item's category where the data names one: Douban's first genre from ``movies.csv`` -
though none of the 111 films commented on is among its 1,000, so in practice no set here
names a category; Amazon and Yelp name none). Users and items get a prefix per set
(``yelp:``, ``amzn:``, ``douban:``) so the sets can share a database. Rows the ingest would
refuse (no text and no rating) still go to it, to be dead-lettered with their line.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Review:
    user_id: str
    item_id: str
    ts_ms: int | None
    stars: float | None
    text: str | None
    language: str  # "en" | "zh"
    category: str | None = None
    line: int = 0


def _ms(text: str, fmt: str) -> int | None:
    try:
        return int(datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC).timestamp() * 1000)
    except ValueError:
        return None


def _stars(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if 1 <= value <= 5 else None


def read_yelp(path: Path) -> Iterator[Review]:
    """``yelp-10k/yelp.csv.zip``: business_id, date, stars, text, user_id, ..."""
    with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as raw:
        rows = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8"))
        for line, row in enumerate(rows, start=2):
            yield Review(
                f"yelp:{row['user_id']}",
                f"yelp:{row['business_id']}",
                _ms(row["date"], "%Y-%m-%d"),
                _stars(row["stars"]),
                row["text"].strip() or None,
                "en",
                line=line,
            )


def read_amazon_fashion(path: Path) -> Iterator[Review]:
    """``amazon-fashion-5core/AMAZON_FASHION_5.json``: one JSON object per line."""
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            row = json.loads(text)
            body = (row.get("reviewText") or "").strip()
            yield Review(
                f"amzn:{row['reviewerID']}",
                f"amzn:{row['asin']}",
                int(row["unixReviewTime"]) * 1000 if row.get("unixReviewTime") else None,
                _stars(row.get("overall")),
                body or None,
                "en",
                line=line,
            )


def _douban_genres(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {
            row["MOVIE_ID"]: row["GENRES"].split("/")[0].strip()
            for row in csv.DictReader(handle)
            if row.get("GENRES")
        }


def read_douban(path: Path) -> Iterator[Review]:
    """``douban-movie-comments/comments.csv`` (and ``movies.csv`` beside it for the genres)."""
    genres = _douban_genres(path.with_name("movies.csv"))
    with path.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            genre = genres.get(row["douban_id"])
            yield Review(
                f"douban:{row['user_md5']}",
                f"douban:{row['douban_id']}",
                _ms(row["comment_time"], "%Y-%m-%d %H:%M:%S"),
                _stars(row["rating"]),
                row["content"].strip() or None,
                "zh",
                f"douban:{genre}" if genre else None,
                line=line,
            )


READERS = {"yelp": read_yelp, "amazon-fashion": read_amazon_fashion, "douban": read_douban}


def read_reviews(name: str, path: Path) -> Iterator[Review]:
    return READERS[name](path)


def review_events(name: str, path: Path) -> Iterator[dict[str, Any]]:
    """Item upserts (with the category, where known) and one ``review`` event per row."""
    seen: set[str] = set()
    for r in read_reviews(name, path):
        if r.item_id not in seen:
            seen.add(r.item_id)
            yield {
                "type": "item_upsert",
                "event_id": f"{name}:item:{r.item_id}",
                "item_id": r.item_id,
                "categories": [r.category] if r.category else [],
            }
        event: dict[str, Any] = {
            "type": "interaction",
            "event_id": f"{name}:{r.line}",
            "user_id": r.user_id,
            "item_id": r.item_id,
            "kind": "review",
            # no rating given: weight 0, below any rating scale's middle (no interest claimed)
            "weight": r.stars if r.stars is not None else 0.0,
        }
        if r.ts_ms is not None:
            event["ts"] = r.ts_ms
        if r.text is not None:
            event |= {"text": r.text[:5_000], "language": r.language}
        yield event


def count_events(name: str, path: Path) -> int:
    rows = list(read_reviews(name, path))
    return len(rows) + len({r.item_id for r in rows})


def yelp_events(path: Path) -> Iterator[dict[str, Any]]:
    return review_events("yelp", path)


def amazon_fashion_events(path: Path) -> Iterator[dict[str, Any]]:
    return review_events("amazon-fashion", path)


def douban_events(path: Path) -> Iterator[dict[str, Any]]:
    return review_events("douban", path)


def count_yelp(path: Path) -> int:
    return count_events("yelp", path)


def count_amazon_fashion(path: Path) -> int:
    return count_events("amazon-fashion", path)


def count_douban(path: Path) -> int:
    return count_events("douban", path)
