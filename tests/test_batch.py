"""Batch recommendations against the real thing: a snapshot's expansion against the Cypher query
and the networkx reference, and every user's batch list against ``recommend`` over Bolt."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from loaders.schema import Dataset, ReadReport
from tests.conftest import wipe
from tests.reference import expand_reference
from tests.worlds import Lists, RelatedWorld, related_worlds, to_networkx, write_graph
from ytgraph.config import CandidateSettings, Settings, profile_settings
from ytgraph.db.graph import Graph
from ytgraph.errors import NotFoundError
from ytgraph.ingest.generate import GenerateConfig, generate_world
from ytgraph.ingest.load import load
from ytgraph.recommendation import reads
from ytgraph.recommendation.batch import Snapshot, batch_map, batch_recommend, snapshot
from ytgraph.recommendation.candidates import Candidate, expand
from ytgraph.recommendation.serve import FORMAT, dump, precompute, recommendation_key, stored_pool
from ytgraph.recommendation.service import Failed, Recommendations, recommend


def expansion(cands: list[Candidate]) -> list[Any]:
    """Everything a candidate list says, exactly: ids, properties, every path (strongest first)
    with its scores and weights, and the per-path lists in the order they arrived."""
    return [
        (
            c.video_id,
            c.title,
            c.channel_id,
            c.category,
            c.features,
            [(p.seed, p.videos, p.scores, p.weights) for p in c.paths],
            (c.paths.seeds, c.paths.depths, c.paths.strengths),
        )
        for c in cands
    ]


@hsettings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=related_worlds(8, 25))
def test_snapshot_expands_as_the_query_and_the_reference(graph: Graph, world: RelatedWorld) -> None:
    videos, lists, seeds, exclude, cs = world
    wipe(graph)
    graph.run_script("schema")
    write_graph(graph, videos, lists)
    snap = snapshot(graph)
    got = snap.expand(seeds, cs, exclude=exclude)
    assert expansion(got) == expansion(expand(graph, seeds, cs, exclude=exclude))
    want = expand_reference(to_networkx(lists), seeds, cs, exclude=exclude)
    assert [c.video_id for c in got] == list(want)
    for c in got:
        assert [(p.videos, p.scores, p.weights) for p in c.paths] == [
            (p.videos, p.scores, p.weights) for p in want[c.video_id]
        ]


def test_a_self_loop_is_followed_as_the_query_follows_it(graph: Graph) -> None:
    # Loads never write one, but the query's WHERE clauses allow a -> b -> b (a loop is no
    # video two steps back); the snapshot walks what the query walks.
    lists: Lists = {"a": [("b", 2.0), ("c", 1.0)], "b": [("b", 3.0), ("d", 1.0)], "c": [("a", 1.0)]}
    write_graph(graph, list("abcd"), lists)
    snap = snapshot(graph)
    for depth in (1, 2, 3, 4):
        cs = CandidateSettings(depth=depth, per_hop=5, max_candidates=100)
        want = expand(graph, ["a"], cs)
        assert expansion(snap.expand(["a"], cs)) == expansion(want)
    assert ("a", "b", "b") in [p.videos for c in want for p in c.paths]


# ------------------------------------------------------------------------- a generated world


def world(seed: int) -> Dataset:
    # Many small channels, so that the channel cap leaves room for lists of 60.
    ev, videos = generate_world(
        GenerateConfig(users=100, videos=200, days=10, seed=seed, channels=60)
    )
    # Ratings, likes and a favorite on top (seeds of several actions, a dislike), a video without
    # a metadata row, and a user whose only watch is of a video the graph does not hold.
    top = videos["video_id"].iloc
    extra = pd.DataFrame(
        {
            "user_id": ["u_extra"] * 5,
            "video_id": [top[0], top[1], top[2], top[2], "v_unlisted"],
            "timestamp": [int(ev["timestamp"].max())] * 5,
            "event": ["rate", "like", "favorite", "rate", "watch"],
            "watch_seconds": [np.nan, np.nan, np.nan, np.nan, 30.0],
            "rating": [2.0, np.nan, np.nan, 4.5, np.nan],
        }
    )
    ev = pd.concat([ev, extra.astype(ev.dtypes.to_dict())], ignore_index=True)
    return Dataset(ev, videos, ReadReport(read=len(ev), accepted=len(ev)))


def everything(r: Recommendations) -> tuple[Any, ...]:
    """A list and its seeds, every field the batch promises, exactly (no rounding)."""
    return (
        r.user_id,
        r.known_user,
        r.n,
        r.depth,
        [(s.video_id, s.title, s.weight, s.reasons) for s in r.seeds],
        [
            (
                x.video_id,
                x.title,
                x.score,
                x.signals,
                x.because,
                [(p.seed, p.videos, p.scores, p.weights) for p in x.paths],
                x.channel_id,
                x.category,
                x.rank,
            )
            for x in r.recommendations
        ],
        r.touched,
        r.excluded,
    )


CASES = {"default": None, "paper": "paper"}
POOL = 60


@pytest.fixture(params=sorted(CASES))
def loaded(
    request: pytest.FixtureRequest, graph: Graph, settings: Settings
) -> tuple[Graph, Settings]:
    """The world loaded into Neo4j under the defaults or the paper profile."""
    profile = CASES[request.param]
    base = Settings() if profile is None else profile_settings(profile)
    s = dataclasses.replace(base, neo4j=settings.neo4j, load=settings.load)
    load(world(seed=3), s, graph, s.load.state_dir)
    return graph, s


def test_every_batch_list_equals_the_online_one(loaded: tuple[Graph, Settings]) -> None:
    graph, s = loaded
    users = [r["user_id"] for r in graph.run("all_users")]
    assert len(users) > 60
    asked = [*users, "nobody"]
    snap = snapshot(graph)
    for n in (12, 60):
        online = [everything(recommend(graph, u, s, n=n)) for u in users]
        # Personal lists, and longer ones when asked for more.
        assert any(o[4] for o in online) and max(len(o[5]) for o in online) > n - 20
        for workers in (1, 2):
            got = list(batch_recommend(snap, s, asked, n=n, workers=workers, chunk=7))
            assert [everything(r) for r in got[:-1] if isinstance(r, Recommendations)] == online
            (unknown,) = [r for r in got if isinstance(r, Failed)]
            assert unknown.user_id == "nobody" and isinstance(unknown.error, NotFoundError)
    # From the graph itself (a snapshot of its own), every user by default, in id order.
    again = list(batch_recommend(graph, s, n=12))
    assert [everything(r) for r in again if isinstance(r, Recommendations)] == [
        everything(recommend(graph, u, s, n=12)) for u in users
    ]


def stored_row(r: Recommendations) -> dict[str, Any]:
    """A pool as ``store_recommendations`` stores it, encoded here from the online list's
    objects with ``json.dumps`` (not through ``serve``'s encoder)."""
    compact = (",", ":")
    header = {
        "format": FORMAT,
        "n": r.n,
        "depth": r.depth,
        "known_user": r.known_user,
        "seeds": [[s.video_id, s.title, s.weight, list(s.reasons)] for s in r.seeds],
    }
    items = [
        [x.video_id, x.title, x.score, x.signals, x.because, x.channel_id, x.category,
         [[list(p.videos), list(p.scores), list(p.weights)] for p in x.paths]]
        for x in r.recommendations
    ]  # fmt: skip
    return {
        "user_id": r.user_id,
        "header": json.dumps(header, separators=compact),
        "items": [json.dumps(x, separators=compact) for x in items],
        "ids": [x.video_id for x in r.recommendations],
    }


@pytest.mark.parametrize("head", [reads.POPULAR_HEAD, 25])
def test_every_stored_pool_is_the_online_lists_json(
    loaded: tuple[Graph, Settings], head: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a popular head of 25 it runs short of a pool of 60, so a short personal list is filled
    # up as service.backfill does (on the snapshot), not from the head.
    monkeypatch.setattr(reads, "POPULAR_HEAD", head)
    graph, s = loaded
    graph.cache.clear()
    users = [r["user_id"] for r in graph.run("all_users")]
    online = [recommend(graph, u, s, n=POOL) for u in users]
    assert any(r.backfilled for r in online)
    assert any(x.paths for r in online for x in r.recommendations)
    want = [stored_row(r) for r in online]
    assert [(w["header"], w["items"]) for w in want] == [dump(r) for r in online]
    snap = snapshot(graph)
    assert len(snap.cache["popular"]) == head or head == reads.POPULAR_HEAD
    for workers in (1, 2):
        got = list(batch_map(snap, s, stored_pool, [*users, "nobody"], n=POOL, workers=workers,
                             chunk=7))  # fmt: skip
        assert got[:-1] == want
        assert isinstance(got[-1], Failed) and got[-1].user_id == "nobody"
    # And as precompute stores them, with their key and no stale mark.
    report = precompute(graph, s, workers=2, batch_size=10)
    assert (report.stored, report.superseded, report.failed) == (len(users), 0, [])
    key = recommendation_key(s, POOL, s.candidates.depth)
    for w in want:
        (row,) = graph.run("stored_recommendations", user_id=w["user_id"])
        assert (row["header"], row["items"], row["ids"]) == (w["header"], w["items"], w["ids"])
        assert (row["recs_key"], row["stale"]) == (key, False)


def test_the_snapshot_reads_as_the_queries_do(graph: Graph, settings: Settings) -> None:
    data = world(seed=4)
    load(data, settings, graph, settings.load.state_dir)
    # A user with no action at all: the watch of an unknown video makes only the user.
    with graph.transaction() as tx:
        tx.batches(
            "upsert_watched",
            [{"user_id": "u_none", "video_id": "no such video", "count": 1, "first_at": 0,
              "last_at": 0, "watch_seconds": 1.0, "long_watches": 0}],
            10,
        )  # fmt: skip
    snap = snapshot(graph)
    assert isinstance(snap, Snapshot)
    (meta,) = graph.run("meta_get")
    assert snap.generation == meta["state_id"] is not None
    users = [r["user_id"] for r in graph.run("all_users")]
    assert sorted(snap.actions) == users and "u_none" in users
    for u in users:
        # The same rows in the same order (a seed's weight sums them in that order).
        assert snap.user_actions(u) == reads.user_actions(graph, u), u
    assert snap.user_actions("nobody") == reads.user_actions(graph, "nobody") == []
    assert snap.catalog_stats() == reads.catalog_stats(graph)
    graph.cache.clear()
    assert reads.popular_rows(snap, set(), 50) == reads.popular_rows(graph, set(), 50)
    assert snap.popular([], 30) == [
        {k: v for k, v in r.items() if k != "paths"}
        for r in graph.run("popular", exclude=[], limit=30)
    ]
    # The known user without actions is a known user with the popular list, as online.
    (u_none,) = batch_recommend(snap, settings, ["u_none"], n=12)
    assert isinstance(u_none, Recommendations)
    assert everything(u_none) == everything(recommend(graph, "u_none", settings, n=12))
    assert u_none.known_user and u_none.cold_start


def test_bad_arguments_fail_before_reading(graph: Graph, settings: Settings) -> None:
    from ytgraph.errors import InputError

    with pytest.raises(InputError):
        batch_recommend(graph, settings, ["u1"], n=3)
    with pytest.raises(InputError):
        batch_recommend(graph, settings, ["u1"], depth=5)
    write_graph(graph, ["a"], {})
    (bad,) = batch_recommend(graph, settings, [""], n=12)
    assert isinstance(bad, Failed) and isinstance(bad.error, InputError)
