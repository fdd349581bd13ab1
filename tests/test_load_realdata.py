"""The real public data sets, read in place from ../shared/data, loaded into the real Neo4j.

Expected figures are counted here with plain Python over the raw files, independently of the loaders.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from loaders import read_dataset, walk_sessions
from loaders.schema import Dataset
from tests.conftest import data_dir
from ytgraph.config import Settings
from ytgraph.db.graph import Graph
from ytgraph.ingest.load import load

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def count(graph: Graph, pattern: str) -> int:
    records, _, _ = graph.driver.execute_query(f"MATCH {pattern} RETURN count(*) AS n")
    return int(records[0]["n"])


def test_youtube2008_crawl_and_walked_sessions(
    graph: Graph, settings: Settings, tmp_path: Path
) -> None:
    path = data_dir() / "youtube-2008" / "youtubedata.txt"
    ids, uploaders, edges = set(), set(), set()
    for line in path.read_bytes().decode("utf-8").splitlines():
        cols = line.rstrip("\r").split("\t")
        if not cols[0]:
            continue
        ids.add(cols[0])
        if len(cols) >= 9:
            uploaders.add(cols[1])
            edges |= {(cols[0], dst) for dst in cols[9:] if dst}
    crawl = read_dataset("youtube2008", [str(path)], None, False)
    events = walk_sessions(crawl, users=1500, sessions_per_user=6, session_length=8, seed=3)
    dataset = Dataset(
        events=events, videos=crawl.videos, report=crawl.report, crawl_related=crawl.crawl_related
    )
    load(dataset, settings, graph, tmp_path / "state")

    assert count(graph, "(v:Video)") == len(ids | {d for _, d in edges})
    assert count(graph, "()-[:YT_RELATED]->()") == len(edges)
    assert count(graph, "(c:Channel)") == len(uploaders)
    # Sessions walked along YouTube's lists: co-visitation should recover those lists. A walk also
    # co-views videos two or three links apart, so the check is on the head of each list: most of
    # our top-3 related videos are linked by YouTube's own lists (either way: co-viewing is
    # symmetric, YouTube's lists are not). Random pairs of 51k videos would almost never be.
    top = count(graph, "(a:Video)-[r:RELATED]->(b:Video) WHERE r.rank <= 3")
    linked = count(
        graph, "(a:Video)-[r:RELATED]->(b:Video) WHERE r.rank <= 3 AND (a)-[:YT_RELATED]-(b)"
    )
    assert top > 1000
    assert linked / top > 0.7, (linked, top)


def test_movielens_loads_whole(graph: Graph, settings: Settings, tmp_path: Path) -> None:
    folder = data_dir() / "ml-latest-small"
    with (folder / "ratings.csv").open(newline="") as f:
        ratings = [row for row in csv.reader(f) if row]
    with (folder / "movies.csv").open(newline="", encoding="utf-8") as f:
        movies = {row[0] for row in csv.reader(f) if row}
    users = {r[0] for r in ratings}
    pairs = {(r[0], r[1]) for r in ratings}

    dataset = read_dataset("movielens", [str(folder)], None, False)
    summary = load(dataset, settings, graph, tmp_path / "state")

    assert summary.read == summary.accepted + summary.rejected
    assert count(graph, "(u:User)") == len(users) == 706
    assert count(graph, "()-[:RATED]->()") == len(pairs)
    assert count(graph, "()-[:WATCHED]->()") == len(pairs)
    assert count(graph, "(v:Video)") == len(movies | {m for _, m in pairs})
    assert count(graph, "()-[:RELATED]->()") == summary.related_edges > 0
