"""Data sets turned into events, each declared once here: where it lies under the shared
datasets folder, how its events are read and counted (for the progress bar), and its licence.
``profilegraph load NAME`` reads this table; the synthetic shop, generated rather than read, has
a command of its own. Loaders are imported when used (CDNOW's brings torch)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DataSet:
    name: str
    summary: str  # one line: what it is and its licence
    default: Path  # under the datasets folder: a folder or a file
    module: str  # graph.datasets.<module> holds the two functions below
    events: str  # events(path) -> iterable of raw events
    count: str  # count(path) -> how many events (the progress bar's total)
    path_help: str

    def read(self, path: Path) -> tuple[Iterable[Any], int]:
        """The events at ``path`` and how many there are."""
        loader = importlib.import_module(f"graph.datasets.{self.module}")
        events: Callable[[Path], Iterable[Any]] = getattr(loader, self.events)
        count: Callable[[Path], int] = getattr(loader, self.count)
        return events(path), count(path)


DATASETS = {
    d.name: d
    for d in (
        DataSet(
            "lastfm",
            "LastFM HetRec 2011 (non-commercial licence): listens, timed tags, friendships",
            Path("lastfm-hetrec2011-2k"),
            "lastfm",
            "lastfm_events",
            "count_events",
            "folder of the HetRec 2011 LastFM files",
        ),
        DataSet(
            "cdnow",
            "CDNOW purchases with dollar values (the repeat-purchase benchmark; research use)",
            Path("cdnow") / "CDNOW_sample.txt",
            "cdnow",
            "cdnow_events",
            "count_events",
            "CDNOW_sample.txt or CDNOW_master.txt",
        ),
        DataSet(
            "taobao",
            "Taobao UserBehavior sample (research and teaching use): view, favourite, cart, buy",
            Path("taobao-userbehavior-sample") / "UserBehavior.csv",
            "taobao",
            "taobao_events",
            "count_events",
            "UserBehavior.csv",
        ),
        DataSet(
            "yelp",
            "Yelp 10k reviews with stars (English; the Yelp dataset terms: academic use)",
            Path("reviews") / "yelp-10k" / "yelp.csv.zip",
            "reviews",
            "yelp_events",
            "count_yelp",
            "yelp.csv.zip",
        ),
        DataSet(
            "amazon-fashion",
            "Amazon Fashion 5-core reviews with stars (English; Ni, Li, McAuley 2019; research)",
            Path("reviews") / "amazon-fashion-5core" / "AMAZON_FASHION_5.json",
            "reviews",
            "amazon_fashion_events",
            "count_amazon_fashion",
            "AMAZON_FASHION_5.json",
        ),
        DataSet(
            "douban",
            "Douban movie comments with ratings and genres (Chinese; research use only)",
            Path("reviews") / "douban-movie-comments" / "comments.csv",
            "reviews",
            "douban_events",
            "count_douban",
            "comments.csv (movies.csv beside it)",
        ),
    )
}
