"""Loading into the real Neo4j: the RELATED graph equals a brute-force reference; loads are
idempotent, incremental loads equal one full load, and a failed load changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.conftest import wipe
from tests.reference import count_ref, scores_ref, sessionize_ref, topn_ref
from tests.worlds import dataset, graph_dump
from ytgraph.config import Settings
from ytgraph.db.graph import Graph
from ytgraph.db.inspect import graph_stats, related_videos
from ytgraph.ingest.load import load
from ytgraph.ingest.state import StateStore
from ytgraph.recommendation.batch import snapshot
from ytgraph.recommendation.explain import explain
from ytgraph.recommendation.service import recommend

HOUR = 3600


def make_events(
    rng: np.random.Generator, n: int, users: int = 12, videos: int = 15
) -> pd.DataFrame:
    kinds = rng.choice(["watch"] * 8 + ["like", "favorite", "rate", "playlist_add"], size=n)
    rating = np.where(kinds == "rate", rng.integers(1, 6, size=n).astype(float), np.nan)
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in rng.integers(0, users, size=n)],
            "video_id": [f"v{i:02d}" for i in rng.integers(0, videos, size=n)],
            "timestamp": rng.integers(0, 5 * 24 * HOUR, size=n).astype("int64"),
            "event": kinds.astype(object),
            "watch_seconds": np.where(kinds == "watch", rng.integers(1, 600, size=n), np.nan),
            "rating": rating,
        }
    )


def related_in_graph(graph: Graph) -> pd.DataFrame:
    records, _, _ = graph.driver.execute_query(
        "MATCH (a:Video)-[r:RELATED]->(b:Video) RETURN a.video_id AS src, b.video_id AS dst, "
        "r.score AS score, r.cooccurrences AS cooccurrences, r.rank AS rank, r.weight AS weight "
        "ORDER BY src, rank"
    )
    return pd.DataFrame(
        [r.data() for r in records],
        columns=["src", "dst", "score", "cooccurrences", "rank", "weight"],
    )


def test_related_graph_equals_reference(graph: Graph, settings: Settings, tmp_path: Path) -> None:
    events = make_events(np.random.default_rng(3), 400)
    settings.related.min_count = 1
    settings.related.top_n = 4
    load(dataset(events), settings, graph, tmp_path / "state")

    sessions = sessionize_ref(events, settings.sessions)
    counts, pairs, n = count_ref(sessions)
    expected = topn_ref(scores_ref(counts, pairs, n, "product"), pairs, settings.related)
    got = related_in_graph(graph)
    assert len(got) == len(expected) > 0
    assert (
        got[["src", "dst", "cooccurrences", "rank"]].values.tolist()
        == expected[["src", "dst", "cooccurrences", "rank"]].values.tolist()
    )
    assert np.allclose(got["score"], expected["score"]) and np.allclose(
        got["weight"], expected["weight"]
    )
    # c_i lands on the videos as `sessions`.
    records, _, _ = graph.driver.execute_query(
        "MATCH (v:Video) RETURN v.video_id AS v, v.sessions AS s"
    )
    assert {r["v"]: r["s"] for r in records if r["s"] is not None} == counts


def test_watched_and_actions_are_aggregated(
    graph: Graph, settings: Settings, tmp_path: Path
) -> None:
    events = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "a", "a", "a"],
            "video_id": ["x", "x", "x", "x", "x", "y"],
            "timestamp": [100, 200, 300, 400, 500, 150],
            "event": ["watch", "watch", "rate", "rate", "like", "watch"],
            "watch_seconds": [30.0, 200.0, np.nan, np.nan, np.nan, np.nan],
            "rating": [np.nan, np.nan, 2.0, 4.5, np.nan, np.nan],
        }
    )
    videos = pd.DataFrame(
        {
            "video_id": ["x", "y"],
            "title": ["X", "Y"],
            "duration_seconds": [300.0, 60.0],
            "channel_id": ["c1", "c1"],
            "category": ["Music", "Comedy"],
        }
    )
    load(dataset(events, videos), settings, graph, tmp_path / "state")
    rows, _, _ = graph.driver.execute_query(
        "MATCH (:User {user_id:'a'})-[w:WATCHED]->(v:Video) RETURN v.video_id AS v, properties(w) AS p "
        "ORDER BY v"
    )
    # x: two watches, 230 s in all; 200/300 >= 0.5 of the duration makes one long watch.
    assert rows[0]["p"] == {
        "count": 2,
        "first_at": 100,
        "last_at": 200,
        "watch_seconds": 230.0,
        "long_watches": 1,
    }
    # y: no watch_seconds and a known duration: not long.
    assert rows[1]["p"]["count"] == 1 and rows[1]["p"]["long_watches"] == 0
    rated, _, _ = graph.driver.execute_query(
        "MATCH (:User {user_id:'a'})-[r:RATED]->(:Video {video_id:'x'}) RETURN r.rating AS r, r.count AS c"
    )
    assert rated[0]["r"] == 4.5 and rated[0]["c"] == 2  # the latest rating wins
    liked, _, _ = graph.driver.execute_query(
        "MATCH (:User)-[l:LIKED]->(v:Video) RETURN v.video_id AS v, l.at AS at"
    )
    assert [(r["v"], r["at"]) for r in liked] == [("x", 500)]
    links, _, _ = graph.driver.execute_query(
        "MATCH (v:Video)-[:UPLOADED_BY]->(c:Channel), (v)-[:IN_CATEGORY]->(k:Category) "
        "RETURN v.video_id AS v, c.channel_id AS c, k.name AS k ORDER BY v"
    )
    assert [tuple(r.values()) for r in links] == [("x", "c1", "Music"), ("y", "c1", "Comedy")]


def test_reload_is_idempotent(graph: Graph, settings: Settings, tmp_path: Path) -> None:
    events = make_events(np.random.default_rng(5), 300)
    state = tmp_path / "state"
    first = load(dataset(events), settings, graph, state)
    before = graph_dump(graph)
    again = load(dataset(events), settings, graph, state)
    assert graph_dump(graph) == before
    assert first.new_events == len(events.drop_duplicates())
    assert again.new_events == 0 and again.already_loaded == len(events)
    assert again.related_sources_written == 0 and again.related_edges_written == 0


@hsettings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    cut=st.floats(0.1, 0.9),
    by_time=st.booleans(),
    normalization=st.sampled_from(["product", "cosine", "jaccard", "llr", "lift"]),
)
def test_incremental_equals_full(
    graph: Graph,
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    cut: float,
    by_time: bool,
    normalization: str,
) -> None:
    rng = np.random.default_rng(seed)
    events = make_events(rng, 250)
    settings.related.min_count = 1
    settings.related.top_n = 5
    settings.related.normalization = normalization
    if by_time:
        order = events.sort_values("timestamp", kind="stable").index
        split = int(len(events) * cut)
        part_a, part_b = events.loc[order[:split]], events.loc[order[split:]]
    else:  # late-arriving events: the second part reaches back into old sessions
        mask = rng.random(len(events)) < cut
        part_a, part_b = events[mask], events[~mask]

    tmp = tmp_path_factory.mktemp("inc")
    wipe(graph)
    load(dataset(part_a), settings, graph, tmp / "full")
    # Re-load from scratch: all events at once.
    wipe(graph)
    StateStore(tmp / "full").clear()
    load(dataset(events), settings, graph, tmp / "full")
    full = graph_dump(graph)

    wipe(graph)
    load(dataset(part_a), settings, graph, tmp / "inc")
    summary = load(dataset(part_b), settings, graph, tmp / "inc")
    assert not summary.full_rebuild
    assert graph_dump(graph) == full


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("crash_at", ["related_stage", "related_switch"])
def test_failed_load_leaves_graph_as_it_was(
    graph: Graph, settings: Settings, tmp_path: Path, crash_at: str
) -> None:
    """A failure while the lists are staged (some parts committed) or inside the switch: the
    graph is as before, staged edges and videos included, and the next load applies the events."""
    rng = np.random.default_rng(11)
    first, second = make_events(rng, 200), make_events(rng, 200, users=20, videos=25)
    state = tmp_path / "state"
    load(dataset(first), settings, graph, state)
    before = graph_dump(graph)
    state_id = StateStore(state).current_id()

    calls = {"n": 0}

    def crash_late(name: str, rows: int, seconds: float) -> None:
        calls["n"] += 1
        if name == crash_at:
            calls[name] = calls.get(name, 0) + 1
            if name == "related_switch" or calls[name] == 3:  # the third part: two committed
                raise Boom("simulated crash during the load")

    settings.load.batch_size = 50
    settings.load.part_size = 60
    graph.tracer = crash_late
    with pytest.raises(Boom):
        load(dataset(second), settings, graph, state)
    graph.tracer = None
    assert calls["n"] > 3
    assert graph_dump(graph) == before
    # The pending state was never committed: the next load drops it and starts from the old one.
    assert StateStore(state).current_id() == state_id
    summary = load(dataset(second), settings, graph, state)
    assert summary.new_events == len(second.drop_duplicates())


def _reads(graph: Graph, settings: Settings, users: list[str], videos: list[str]) -> Any:
    """What readers see, through the library: recommendations with depth 2 and their
    explanations, each video's R_i, the graph's figures, and a batch snapshot's edges."""
    fresh = Graph(graph.driver, graph.database)  # its own caches
    recs = {u: recommend(fresh, u, settings, depth=2).to_json() for u in users}
    why = {
        u: [
            explain(fresh, u, r["video_id"], settings, depth=2).to_json()
            for r in rec["recommendations"]
        ]
        for u, rec in recs.items()
    }
    lists = {v: related_videos(fresh, v, n=50) for v in videos}
    snap = snapshot(fresh)
    edges = sorted(
        zip(
            snap.names[snap.src].tolist(),
            snap.names[snap.dst].tolist(),
            snap.rank.tolist(),
            np.round(snap.score, 9).tolist(),
            strict=True,
        )
    )
    return _rounded((recs, why, lists, graph_stats(fresh).to_json(), edges))


def _rounded(value: Any) -> Any:
    """Floats to 9 places, all the way down: a sum over paths met in another order (the server
    walks past staged edges) may differ in its last bit."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def test_readers_see_the_old_lists_until_the_switch_then_the_new_ones(
    graph: Graph, settings: Settings, tmp_path: Path
) -> None:
    """While a load stages its lists in parts, every reader gives what it gave before the load;
    after it, what one clean load of everything gives. The staged edges are really there
    meanwhile (else this test could not fail)."""
    settings.related.min_count = 1
    rng = np.random.default_rng(5)
    first, second = make_events(rng, 300, users=12, videos=20), make_events(rng, 300, videos=24)
    users = sorted(set(first["user_id"]) & set(second["user_id"]))[:4]
    load(dataset(first), settings, graph, tmp_path / "s")
    videos = sorted(set(first["video_id"]))
    before = _reads(graph, settings, users, videos)

    during: dict[str, Any] = {}

    def at_switch(name: str, sent: int) -> None:
        if name == "related_switch" and not during:
            during["reads"] = _reads(graph, settings, users, videos)
            records, _, _ = graph.driver.execute_query(
                "MATCH (a:Video)-[r:RELATED]->() WHERE r.gen <> a.rgen RETURN count(r) AS n"
            )
            during["staged"] = records[0]["n"]

    settings.load.part_size = 40  # several parts
    settings.load.batch_size = 25
    graph.announcer = at_switch
    load(dataset(second), settings, graph, tmp_path / "s")
    graph.announcer = None
    after = _reads(graph, settings, users, videos)

    wipe(graph)
    load(dataset(pd.concat([first, second])), settings, graph, tmp_path / "clean")
    clean = _reads(graph, settings, users, videos)

    assert during["staged"] > 0
    assert during["reads"] == before
    assert after == clean
    assert after != before
