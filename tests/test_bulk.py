"""First loads through neo4j-admin import: the graph equals a driver load of the same events,
the load after it is incremental as usual, and an interrupted import is redone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import wipe
from tests.worlds import dataset, graph_dump
from ytgraph.config import Settings
from ytgraph.db.connect import Connection
from ytgraph.db.graph import Graph
from ytgraph.ingest import bulk
from ytgraph.ingest.generate import GenerateConfig, generate_world
from ytgraph.ingest.load import load
from ytgraph.ingest.state import StateStore


def world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(first events, later events, videos): a small generated world with the awkward cases a
    file import must carry like the driver does: retractions, ratings, titles with quotes, commas
    and line breaks, an empty title, videos only events name, metadata without events."""
    events, videos = generate_world(GenerateConfig(users=150, videos=120, days=6, seed=5))
    rng = np.random.default_rng(5)
    picks = events[events["event"] == "watch"].sample(25, random_state=1)
    retractions = picks.assign(
        event="history_remove", timestamp=picks["timestamp"] + 60, watch_seconds=np.nan
    )
    strays = events.sample(10, random_state=2).assign(video_id=[f"stray{i}" for i in range(10)])
    events = pd.concat([events, retractions, strays], ignore_index=True)
    videos = videos.copy()
    videos.loc[0, "title"] = 'a "quoted", title\nover two lines'
    videos.loc[1, "title"] = ""
    videos.loc[2, "duration_seconds"] = np.nan
    videos = pd.concat(
        [videos, pd.DataFrame({"video_id": ["unwatched"], "title": ["nobody saw it"]})],
        ignore_index=True,
    )
    day = int(np.quantile(events["timestamp"], 0.8))
    late = events["timestamp"] >= day
    assert rng is not None
    return events[~late].reset_index(drop=True), events[late].reset_index(drop=True), videos


@pytest.mark.slow
def test_a_bulk_first_load_equals_a_driver_load_and_the_next_load_is_incremental(
    neo4j_conn: Connection, graph: Graph, settings: Settings, tmp_path: Path
) -> None:
    server = neo4j_conn.server
    assert server is not None, "the bulk path needs the managed server"
    first, later, videos = world()

    settings.load.bulk_import_min_events = -1  # never: driver transactions
    load(dataset(first, videos), settings, graph, tmp_path / "a", server=server)
    by_driver = graph_dump(graph, exact=True)
    load(dataset(later), settings, graph, tmp_path / "a", server=server)
    both_by_driver = graph_dump(graph, exact=True)

    wipe(graph)
    settings.load.bulk_import_min_events = 0  # always, into an empty graph
    summary = load(dataset(first, videos), settings, graph, tmp_path / "b", server=server)
    assert summary.bulk_import
    by_import = graph_dump(graph, exact=True)
    assert len(by_import[0]) > 200 and len(by_import[1]) > 1000
    for kind, a, b in zip(("nodes", "relationships"), by_driver, by_import, strict=True):
        assert a == b, f"{kind} differ: {sorted(set(a) ^ set(b))[:4]}"
    assert not bulk.marker(tmp_path / "b").exists()

    again = load(dataset(later), settings, graph, tmp_path / "b", server=server)
    assert not again.bulk_import and not again.full_rebuild and again.new_events == len(later)
    assert graph_dump(graph, exact=True) == both_by_driver


def test_a_server_not_ours_gets_driver_batches_and_says_so(
    graph: Graph, settings: Settings, tmp_path: Path
) -> None:
    first, _, videos = world()
    settings.load.bulk_import_min_events = 0
    said: list[str] = []
    summary = load(dataset(first, videos), settings, graph, tmp_path / "s", echo=said.append)
    assert not summary.bulk_import and summary.related_edges > 0
    assert any("not ytgraph's managed one" in line for line in said), said


def test_a_big_load_into_a_graph_that_holds_data_is_not_imported(
    neo4j_conn: Connection, graph: Graph, settings: Settings, tmp_path: Path
) -> None:
    first, later, videos = world()
    settings.load.bulk_import_min_events = -1
    load(dataset(later), settings, graph, tmp_path / "other")  # someone else's graph
    StateStore(tmp_path / "other").clear()
    settings.load.bulk_import_min_events = 0
    graph.run("meta_set", write=True, state_id=None)
    summary = load(
        dataset(first, videos), settings, graph, tmp_path / "s", server=neo4j_conn.server
    )
    assert not summary.bulk_import  # never overwrite a store that holds anything
