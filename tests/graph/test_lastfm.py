"""The LastFM loader against the real data in ../shared: counts match the data set's README."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.client import GraphClient
from graph.datasets.lastfm import lastfm_events
from graph.ingest import IngestReport
from graph.source import ingest_events
from tests.graph.conftest import counts, wipe

DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "lastfm-hetrec2011-2k"


@pytest.fixture(scope="module")
def loaded(settings: object) -> Iterator[tuple[GraphClient, IngestReport]]:
    from core.settings import load_settings

    with GraphClient(load_settings().neo4j) as client:
        wipe(client)
        report = ingest_events(client, lastfm_events(DATA), source="lastfm")
        yield client, report


def _tag_rows() -> list[list[str]]:
    lines = (DATA / "user_taggedartists.dat").read_text().splitlines()[1:]
    return [line.split("\t") for line in lines]


def test_counts_match_the_readme(loaded: tuple[GraphClient, IngestReport]) -> None:
    client, report = loaded
    got = counts(client)
    assert got["users"] == 1892
    assert got["listened"] == 92834
    assert got["follows"] == 25434  # 12,717 friendships, both directions
    # 17,632 artists plus the 390 tagged artist ids missing from artists.dat
    assert got["items"] == 17632 + 390
    # 186,479 tag assignments: the 5 dated 1956-1979 are dead-lettered, the rest land.
    assert report.rejected == 5 and got["rejected"] == 5
    assert got["tag_events"] == 186479 - 5
    assert report.received == 17632 + 92834 + 186479 + 25434


def test_plays_and_tag_categories_are_exact(loaded: tuple[GraphClient, IngestReport]) -> None:
    client, _ = loaded
    lines = (DATA / "user_artists.dat").read_text().splitlines()[1:]
    assert counts(client)["plays"] == sum(float(line.split("\t")[2]) for line in lines)
    tags = dict(
        line.split("\t", 1)
        for line in (DATA / "tags.dat").read_text(encoding="latin-1").splitlines()[1:]
    )
    valid = [r for r in _tag_rows() if int(r[5]) >= 1990]
    assert counts(client)["categories"] == len({tags[r[2]].strip().lower() for r in valid})
    assert counts(client)["tagged"] == len(
        {(r[0], r[1], tags[r[2]].strip().lower()) for r in valid}
    )


def test_loading_twice_changes_nothing(loaded: tuple[GraphClient, IngestReport]) -> None:
    client, _ = loaded
    before = counts(client)
    again = ingest_events(client, lastfm_events(DATA), source="lastfm")
    assert again.applied == 0 and again.duplicates == again.received - 5
    after = counts(client)
    assert {k: v for k, v in after.items() if k != "rejected_times"} == {
        k: v for k, v in before.items() if k != "rejected_times"
    }
    assert after["rejected_times"] == 10
