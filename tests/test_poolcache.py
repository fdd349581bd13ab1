"""The process's pool cache: the lists of the one-query path without its round trips, and nothing
served from a generation the graph has left (a load, a forget, a precompute in another
connection) once the check interval has passed.

The references never go through the cache: the one-query path (``serve_pool.cypher`` rotates on
the server) over an impression history its own recorder wrote to the graph, and the graph itself
after each change. Time is a fake clock, so "after the interval" is exact.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j
import pytest

from tests.worlds import build_world, dataset, ids, world_settings
from ytgraph.config import Settings
from ytgraph.db.connect import Connection
from ytgraph.db.graph import Graph
from ytgraph.errors import NotFoundError
from ytgraph.ingest.forget import forget
from ytgraph.ingest.generate import GenerateConfig, generate_world
from ytgraph.ingest.load import load
from ytgraph.recommendation.poolcache import PoolCache, pool_cache
from ytgraph.recommendation.serve import ImpressionRecorder, precompute, serve
from ytgraph.recommendation.service import Recommendations

DAY = 86_400


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def listing(recs: Recommendations) -> dict[str, Any]:
    """Everything a caller of ``serve`` sees of a list."""
    return {
        "json": recs.to_json(),
        "ranks": [(r.rank, r.channel_id, r.category) for r in recs.recommendations],
        "seeds": recs.seeds,
        "shape": (recs.n, recs.depth, recs.known_user, recs.source),
    }


def queries(graph: Graph) -> Counter[str]:
    """Counts the queries ``graph`` runs from now on, by name."""
    ran: Counter[str] = Counter()
    graph.tracer = lambda name, _rows, _s: ran.update([name])
    return ran


@pytest.fixture
def other(neo4j_conn: Connection) -> Iterator[Graph]:
    """A second process's view of the test server: a driver of its own."""
    driver = neo4j.GraphDatabase.driver(neo4j_conn.uri, auth=(neo4j_conn.user, neo4j_conn.password))
    yield Graph(driver, neo4j_conn.database)
    driver.close()


@pytest.fixture
def world(graph: Graph, settings: Settings) -> tuple[Graph, Settings]:
    """The hand-built world at a generation (what a load records), every pool stored."""
    build_world(graph)
    graph.run("meta_set", write=True, state_id="g1")
    s = world_settings(settings)
    precompute(graph, s)
    return graph, s


# (user, n, rotate, allow_unknown): u2's pool is made stale (served online), nobody is unknown.
PLAN = [
    (u, n, rot, u == "nobody")
    for u, n, rot in [
        *[("u1", n, True) for n in (4, 4, 5, 4, 7, 4)],
        ("u1", 4, False),
        *[("u2", n, True) for n in (4, 4, 6)],
        ("u3", 5, True),
        ("nobody", 4, True),
        ("nobody", 4, True),
        *[("u1", 4, True) for _ in range(6)],
        ("u3", 5, True),
        ("u2", 4, True),
    ]
]


def visit_all(graph: Graph, s: Settings, cache: PoolCache | None) -> list[Recommendations]:
    """The plan's visits in a shuffled but fixed order, recorded. Without the cache the recorder
    flushes after each visit (the graph's path rotates on what was written); with it, only at
    the end: the cache counts this process's impressions at once."""
    plan = PLAN[:]
    random.Random(3).shuffle(plan)
    recorder = ImpressionRecorder(graph, keep=9)  # small: the keep is mirrored too
    out = []
    for user, n, rot, allow in plan:
        out.append(
            serve(
                graph,
                user,
                s,
                n=n,
                rotate_pool=rot,
                allow_unknown=allow,
                recorder=recorder,
                cache=cache,
            )
        )
        if cache is None:
            recorder.flush()
    recorder.close()
    return out


def shown(graph: Graph) -> dict[str, list[str]]:
    rows, _, _ = graph.driver.execute_query("MATCH (u:User) RETURN u.user_id AS u, u.shown AS s")
    return {r["u"]: r["s"] for r in rows}


def test_the_cache_serves_the_graphs_lists_without_its_round_trips(
    world: tuple[Graph, Settings],
) -> None:
    graph, s = world
    with graph.transaction() as tx:
        tx.batches("stale_mark_users", ["u2"], 10)  # what a load does for a changed user
    reference = visit_all(graph, s, None)
    history = shown(graph)
    graph.driver.execute_query("MATCH (u:User) REMOVE u.shown")

    ran = queries(graph)
    cached = visit_all(graph, s, PoolCache(clock=Clock()))
    assert [listing(r) for r in cached] == [listing(r) for r in reference]
    assert shown(graph) == history  # and the same impressions were written
    u1 = [ids(r) for r in reference if r.user_id == "u1" and r.n == 4]
    assert len({tuple(v) for v in u1}) > 3  # the visits did rotate
    assert {r.source for r in reference if r.user_id == "u2"} == {"online"}
    # One read of the generation, one of each user, one online ranking each for u2 and nobody.
    assert ran["pool_generation"] == 1 and ran["stored_recommendations"] == 4
    assert ran["user_actions"] == 2 and ran["serve_pool"] == 0


def test_a_callers_change_to_a_list_stays_its_own(world: tuple[Graph, Settings]) -> None:
    graph, s = world
    cache = PoolCache(clock=Clock())
    for _ in range(2):
        recs = serve(graph, "u1", s, n=4, rotate_pool=False, cache=cache)
        assert listing(recs) == listing(serve(graph, "u1", s, n=4, rotate_pool=False))
        for r in recs.recommendations:
            r.signals["views"], r.because["seed_video_id"], r.paths[:] = -1.0, "x", []
        recs.seeds.clear()


def test_an_unknown_users_popular_pool_is_served_only_when_allowed(
    world: tuple[Graph, Settings],
) -> None:
    graph, s = world
    cache = PoolCache(clock=Clock())
    cold = serve(graph, "nobody", s, n=4, allow_unknown=True, cache=cache)
    assert all(r.popular for r in cold.recommendations)
    with pytest.raises(NotFoundError, match="nobody"):
        serve(graph, "nobody", s, n=4, cache=cache)
    assert listing(serve(graph, "nobody", s, n=4, allow_unknown=True, cache=cache)) == listing(
        serve(graph, "nobody", s, n=4, allow_unknown=True)
    )


def test_a_graph_without_a_generation_is_not_cached(graph: Graph, settings: Settings) -> None:
    """Nothing would tell the cache it changed, so every visit reads the graph."""
    build_world(graph)
    s = world_settings(settings)
    precompute(graph, s)
    cache = PoolCache(check_s=0, clock=Clock())
    first = serve(graph, "u1", s, n=4, cache=cache)
    assert first.source == "precomputed" and len(cache) == 0
    graph.driver.execute_query("MATCH (u:User {user_id: 'u1'}) DETACH DELETE u")
    with pytest.raises(NotFoundError, match="u1"):
        serve(graph, "u1", s, n=4, cache=cache)


def test_a_pool_read_before_a_new_generation_was_found_is_not_kept(
    world: tuple[Graph, Settings], other: Graph
) -> None:
    """Two visits at once: one reads u1's pool, then (before it keeps it) a load elsewhere marks
    it stale and the other visit finds the new generation. The pool read first is of the old one."""
    graph, s = world
    clock = Clock()
    cache = PoolCache(check_s=1.0, clock=clock)
    serve(graph, "u3", s, n=4, cache=cache)
    clock.now += 1.0

    def meanwhile(name: str, _rows: int, _s: float) -> None:
        if name == "stored_recommendations" and graph.tracer is not None:
            graph.tracer = None
            with other.transaction() as tx:  # what a load does, in one transaction
                tx.run("meta_set", state_id="g2")
                tx.batches("stale_mark_users", ["u1"], 10)
            clock.now += 1.0
            serve(graph, "u3", s, n=4, cache=cache)  # the other visit

    graph.tracer = meanwhile
    assert serve(graph, "u1", s, n=4, cache=cache).source == "precomputed"  # as it was read
    assert graph.tracer is None  # the race did happen
    assert listing(serve(graph, "u1", s, n=4, cache=cache)) == listing(serve(graph, "u1", s, n=4))
    assert serve(graph, "u1", s, n=4, cache=cache).source == "online"


def test_the_least_recent_users_make_room(world: tuple[Graph, Settings]) -> None:
    graph, s = world
    cache = PoolCache(max_users=2, clock=Clock())
    ran = queries(graph)
    for user in ("u1", "u2", "u1", "u3", "u1", "u2"):
        serve(graph, user, s, n=4, cache=cache)
    # u1 stays (visited most recently each time); u2 went when u3 came, and is read again.
    assert ran["stored_recommendations"] == 4 and len(cache) == 2


def test_no_cache_when_the_settings_say_none(settings: Settings) -> None:
    settings.serving.cache_users = 0
    assert pool_cache(settings.serving) is None
    settings.serving.cache_users, settings.serving.generation_check_s = 5, 2.5
    cache = pool_cache(settings.serving)
    assert cache is not None and (cache.max_users, cache.check_s) == (5, 2.5)


# ------------------------------------------------------------------------------ other processes


@pytest.fixture
def loaded(graph: Graph, settings: Settings) -> tuple[Graph, Settings, Any, Path]:
    """A generated world loaded without its last day, every pool stored; returns the last day."""
    ev, videos = generate_world(GenerateConfig(users=80, videos=200, days=5, seed=5))
    last = int(ev["timestamp"].max()) // DAY * DAY
    state = Path(settings.load.state_dir)
    load(dataset(ev[ev["timestamp"] < last], videos), settings, graph, state)
    precompute(graph, settings)
    return graph, settings, ev[ev["timestamp"] >= last], state


def pooled(graph: Graph) -> set[str]:
    rows, _, _ = graph.driver.execute_query(
        "MATCH (u:User) WHERE u.recs IS NOT NULL RETURN u.user_id"
    )
    return {r[0] for r in rows}


def stale_users(graph: Graph) -> set[str]:
    rows, _, _ = graph.driver.execute_query("MATCH (u:User) WHERE u.recs_stale RETURN u.user_id")
    return {r[0] for r in rows}


def test_a_load_and_a_precompute_elsewhere_are_seen_after_the_interval(
    loaded: tuple[Graph, Settings, Any, Path], other: Graph
) -> None:
    graph, s, day, state = loaded
    users = sorted(set(day["user_id"]) & pooled(graph))  # known before the day, and in it
    clock = Clock()
    cache = PoolCache(check_s=1.0, clock=clock)
    before = {u: listing(serve(graph, u, s, cache=cache)) for u in users}
    assert {v["shape"][3] for v in before.values()} == {"precomputed"}

    load(dataset(day), s, other, state)
    stale = sorted(stale_users(graph) & set(users))
    assert stale  # the day's users have new actions: their pools are stale now
    clock.now += 0.9
    assert {u: listing(serve(graph, u, s, cache=cache)) for u in users} == before
    clock.now += 0.1
    after = {u: listing(serve(graph, u, s, cache=cache)) for u in users}
    assert after == {u: listing(serve(graph, u, s)) for u in users}
    assert {after[u]["shape"][3] for u in stale} == {"online"}
    assert any(after[u] != before[u] for u in stale)

    precompute(other, s, stale_only=True)  # stores the same pools: the source says which
    clock.now += 0.9
    assert {u: listing(serve(graph, u, s, cache=cache)) for u in users} == after
    clock.now += 0.1
    again = {u: listing(serve(graph, u, s, cache=cache)) for u in users}
    assert again == {u: listing(serve(graph, u, s)) for u in users}
    assert {v["shape"][3] for v in again.values()} == {"precomputed"}


def test_a_forgotten_user_is_not_served_from_the_cache(
    loaded: tuple[Graph, Settings, Any, Path], other: Graph
) -> None:
    graph, s, _, state = loaded
    victim, kept = sorted(pooled(graph))[:2]
    clock = Clock()
    cache = PoolCache(check_s=1.0, clock=clock)
    seen = listing(serve(graph, victim, s, cache=cache))
    serve(graph, kept, s, cache=cache)

    forget([victim], s, other, state)
    clock.now += 0.5  # within the interval the process may still serve it (the documented bound)
    assert listing(serve(graph, victim, s, cache=cache)) == seen
    clock.now += 0.5
    with pytest.raises(NotFoundError, match=victim):
        serve(graph, victim, s, cache=cache)
    cold = serve(graph, victim, s, allow_unknown=True, cache=cache)
    assert cold.source == "online" and all(r.popular for r in cold.recommendations)
    assert listing(serve(graph, kept, s, cache=cache)) == listing(serve(graph, kept, s))
