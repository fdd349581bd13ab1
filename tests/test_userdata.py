"""A user's data: forgetting users and retracting events leave exactly what a fresh load of the
remaining events gives (graph and count state), and `user show` / `user forget` on the command line.

The reference is always a fresh load, into an emptied graph and a new state folder, of the events
filtered independently (``tests.reference.retract_ref`` for retractions, a plain user filter for
forgetting): never what the code under test computed.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from typer.testing import CliRunner

from loaders.schema import EVENT_COLUMNS, RETRACTION_EVENTS
from tests.conftest import make_settings, wipe
from tests.reference import retract_ref
from tests.worlds import dataset, graph_dump
from ytgraph.cli import app
from ytgraph.config import Settings
from ytgraph.db.graph import Graph
from ytgraph.errors import NotFoundError
from ytgraph.ingest.forget import forget
from ytgraph.ingest.generate import GenerateConfig, generate_world
from ytgraph.ingest.load import load
from ytgraph.ingest.state import StateStore
from ytgraph.recommendation.serve import ImpressionRecorder, parse, precompute, serve
from ytgraph.recommendation.service import Recommendations, recommend

HOUR = 3600
UNDO = {"like": "unlike", "favorite": "unfavorite", "playlist_add": "playlist_remove"}
UNDO["watch"] = "history_remove"


def make_events(
    rng: np.random.Generator, n: int, users: int = 10, videos: int = 14
) -> pd.DataFrame:
    """Watches and actions, then retractions: of random earlier, equal or later events, of pairs
    that never had one, and one user whose only like is taken back (user and video must go)."""
    kinds = rng.choice(["watch"] * 6 + ["like", "favorite", "rate", "playlist_add"], size=n)
    base = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in rng.integers(0, users, size=n)],
            "video_id": [f"v{i:02d}" for i in rng.integers(0, videos, size=n)],
            "timestamp": rng.integers(0, 4 * 24 * HOUR, size=n).astype("int64"),
            "event": kinds.astype(object),
            "watch_seconds": np.where(kinds == "watch", rng.integers(1, 600, size=n), np.nan),
            "rating": np.where(kinds == "rate", rng.integers(1, 6, size=n).astype(float), np.nan),
        }
    )
    undoable = base[base["event"].isin(UNDO)]
    picked = undoable.sample(n=min(len(undoable), n // 8), random_state=int(rng.integers(1 << 30)))
    shift = rng.choice([-HOUR, 0, HOUR, 30 * HOUR], size=len(picked))
    retractions = picked.assign(
        event=picked["event"].map(UNDO),
        timestamp=picked["timestamp"].to_numpy() + shift,
        watch_seconds=np.nan,
        rating=np.nan,
    )
    # Strays: a retraction of nothing; a user whose only like (of a video nothing else names) is
    # taken back; one whose favorite is the only event of a listed video; one whose only watch,
    # of another listed video, is taken back (listed videos stay: metadata named them).
    stray = pd.DataFrame(
        [
            ("u0", "v99", 5, "unfavorite"),
            ("solo", "only", 10, "like"), ("solo", "only", 20, "unlike"),
            ("solo", "v-listed", 30, "favorite"),
            ("gone", "v-listed2", 15, "watch"), ("gone", "v-listed2", 25, "history_remove"),
        ],
        columns=["user_id", "video_id", "timestamp", "event"],
    ).assign(watch_seconds=np.nan, rating=np.nan)  # fmt: skip
    events = pd.concat([base, retractions, stray], ignore_index=True)
    return events.sample(frac=1.0, random_state=int(rng.integers(1 << 30))).reset_index(drop=True)


def make_videos(rng: np.random.Generator, videos: int = 14) -> pd.DataFrame:
    """Metadata for some videos (some rows carry nothing but the id) and two that only strays name."""
    ids = [f"v{i:02d}" for i in range(videos) if rng.random() < 0.5] + ["v-listed", "v-listed2"]
    titled = rng.random(len(ids)) < 0.5
    return pd.DataFrame(
        {
            "video_id": ids,
            "title": [f"T {v}" if t else None for v, t in zip(ids, titled, strict=True)],
            "duration_seconds": [300.0 if t else np.nan for t in titled],
        }
    )


def rows(events: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Event rows as sorted tuples (NaN as None), duplicates dropped as a load drops them."""
    out = {
        tuple(None if isinstance(x, float) and math.isnan(x) else x for x in r)
        for r in events[list(EVENT_COLUMNS)].itertuples(index=False)
    }
    return sorted(out, key=repr)


def assert_same_state(got_dir: Path, want_dir: Path, drop_retractions: bool = False) -> None:
    """The count states hold the same events, c_i, c_ij, N and R_i."""
    got = StateStore(got_dir).read(StateStore(got_dir).current)
    want = StateStore(want_dir).read(StateStore(want_dir).current)
    got_events = got.events
    if drop_retractions:
        got_events = got_events[~got_events["event"].isin(RETRACTION_EVENTS)]
    assert rows(got_events) == rows(want.events)
    assert got.covisits is not None and want.covisits is not None
    assert got.covisits.equals(want.covisits)
    key = ["src", "rank"]
    pd.testing.assert_frame_equal(
        got.related.sort_values(key).reset_index(drop=True),
        want.related.sort_values(key).reset_index(drop=True),
    )


def load_in_parts(
    events: pd.DataFrame,
    videos: pd.DataFrame,
    parts: int,
    settings: Settings,
    graph: Graph,
    state: Path,
) -> None:
    """One load, or the events cut in random-order parts (videos with the first)."""
    for k, part in enumerate(np.array_split(np.arange(len(events)), parts)):
        load(dataset(events.iloc[part], videos if k == 0 else None), settings, graph, state)


WORLD = {
    "seed": st.integers(0, 10_000),
    "parts": st.integers(1, 3),
    "normalization": st.sampled_from(["product", "cosine", "llr"]),
}


@hsettings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(**WORLD, forgotten=st.sets(st.integers(0, 11), min_size=1, max_size=3))
def test_forget_equals_a_fresh_load_without_them(
    graph: Graph,
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    parts: int,
    normalization: str,
    forgotten: set[int],
) -> None:
    rng = np.random.default_rng(seed)
    events, videos = make_events(rng, 180), make_videos(rng)
    settings.related.min_count = 1
    settings.related.top_n = 5
    settings.related.normalization = normalization
    users = sorted({f"u{i}" if i < 10 else "solo" for i in forgotten})
    tmp = tmp_path_factory.mktemp("forget")

    wipe(graph)
    load_in_parts(events, videos, parts, settings, graph, tmp / "a")
    forget(users, settings, graph, tmp / "a")
    got = graph_dump(graph)

    wipe(graph)
    load(dataset(events[~events["user_id"].isin(users)], videos), settings, graph, tmp / "b")
    want = graph_dump(graph)
    assert got == want
    assert_same_state(tmp / "a", tmp / "b")


@hsettings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(**WORLD)
def test_retractions_equal_a_fresh_load_without_what_they_retract(
    graph: Graph,
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    parts: int,
    normalization: str,
) -> None:
    rng = np.random.default_rng(seed)
    events, videos = make_events(rng, 180), make_videos(rng)
    settings.related.min_count = 1
    settings.related.top_n = 5
    settings.related.normalization = normalization
    kept = retract_ref(events)
    assert len(kept) < len(events[~events["event"].isin(RETRACTION_EVENTS)])  # something goes
    tmp = tmp_path_factory.mktemp("retract")

    wipe(graph)
    load_in_parts(events, videos, parts, settings, graph, tmp / "a")
    got = graph_dump(graph)

    wipe(graph)
    load(dataset(kept, videos), settings, graph, tmp / "b")
    assert got == graph_dump(graph)
    assert_same_state(tmp / "a", tmp / "b", drop_retractions=True)


def test_retraction_rules(graph: Graph, settings: Settings, tmp_path: Path) -> None:
    """By hand: the latest event of a pair wins, a tie goes to the retraction, and a history_remove
    takes the watches out of the sessions."""
    settings.related.min_count = 1
    ev = pd.DataFrame(
        [
            ("a", "x", 10, "like"), ("a", "x", 20, "unlike"), ("a", "x", 30, "like"),
            ("a", "y", 10, "favorite"), ("a", "y", 10, "unfavorite"),
            ("a", "x", 40, "watch"), ("a", "y", 50, "watch"), ("a", "y", 60, "history_remove"),
            ("b", "x", 40, "watch"), ("b", "y", 50, "watch"),
        ],
        columns=["user_id", "video_id", "timestamp", "event"],
    ).assign(watch_seconds=np.nan, rating=np.nan)  # fmt: skip
    load(dataset(ev), settings, graph, tmp_path / "s")
    got, _, _ = graph.driver.execute_query(
        "MATCH (u:User)-[r]->(v:Video) RETURN u.user_id AS u, type(r) AS t, v.video_id AS v, "
        "r.at AS at, r.count AS c ORDER BY u, t, v"
    )
    assert [tuple(r.values()) for r in got] == [
        ("a", "LIKED", "x", 30, 1),
        ("a", "WATCHED", "x", None, 1),
        ("b", "WATCHED", "x", None, 1),
        ("b", "WATCHED", "y", None, 1),
    ]
    counts, _, _ = graph.driver.execute_query(
        "MATCH (v:Video) RETURN v.video_id AS v, v.sessions AS s ORDER BY v"
    )
    assert [tuple(r.values()) for r in counts] == [("x", 2), ("y", 1)]  # a's y watch is gone


def summary(rec: Recommendations) -> list[tuple[str, float, tuple[str, ...]]]:
    return [
        (r.video_id, round(r.score, 12), tuple("/".join(p.videos) for p in r.paths))
        for r in rec.recommendations
    ]


@pytest.mark.slow  # a small world, every pool computed twice
def test_forget_removes_pools_and_impressions_and_marks_what_depended(
    graph: Graph, settings: Settings, tmp_path: Path
) -> None:
    s = Settings().with_overrides(
        {"related.normalization": "cosine", "serving.stale_tolerance": 0.0, "ranking.pool": 12}
    )
    state = tmp_path / "state"
    ev, videos = generate_world(GenerateConfig(users=300, videos=1000, days=8, seed=3))
    load(dataset(ev, videos), s, graph, state)
    precompute(graph, s)
    # The two users with the fewest events: forgetting them changes some pools, not all.
    victims = sorted(ev.groupby("user_id").size().sort_values(kind="stable").index[:2])
    others = sorted(set(ev["user_id"]) - set(victims))
    recorder = ImpressionRecorder(graph, log=state / "impressions.csv")
    for user in [*victims, *others[:3]]:
        serve(graph, user, s, n=4, recorder=recorder)
    recorder.close()

    report = forget(victims, s, graph, state)
    assert report.users == victims and report.impressions == 8
    with open(state / "impressions.csv", newline="") as f:
        logged = [r["user_id"] for r in csv.DictReader(f)]
    assert sorted(logged) == sorted(others[:3] * 4)
    left, _, _ = graph.driver.execute_query(
        "MATCH (u:User) WHERE u.user_id IN $v RETURN count(u) AS n", v=victims
    )
    assert left[0]["n"] == 0
    stale_rows, _, _ = graph.driver.execute_query(
        "MATCH (u:User) WHERE u.recs_stale RETURN u.user_id AS u"
    )
    stale = {r["u"] for r in stale_rows}
    changed = set()
    for user in others:
        (row,) = graph.run("stored_recommendations", user_id=user)
        stored = parse(user, row["header"], row["items"])
        assert stored is not None
        if summary(stored) != summary(recommend(graph, user, s, n=12)):
            changed.add(user)
    assert changed <= stale, f"changed but not marked: {sorted(changed - stale)[:5]}"
    assert changed and len(stale) < len(others)  # the test would catch both mistakes


def test_forget_an_unknown_user_changes_nothing(
    graph: Graph, settings: Settings, tmp_path: Path
) -> None:
    events = make_events(np.random.default_rng(1), 120)
    load(dataset(events), settings, graph, tmp_path / "s")
    before, state_id = graph_dump(graph), StateStore(tmp_path / "s").current_id()
    with pytest.raises(NotFoundError, match="nobody"):
        forget(["u1", "nobody"], settings, graph, tmp_path / "s")
    assert graph_dump(graph) == before and StateStore(tmp_path / "s").current_id() == state_id


class Boom(RuntimeError):
    pass


def test_an_interrupted_forget_leaves_the_graph_and_reruns(
    graph: Graph, settings: Settings, tmp_path: Path
) -> None:
    settings.related.min_count = 1
    events = make_events(np.random.default_rng(2), 160)
    state = tmp_path / "s"
    load(dataset(events), settings, graph, state)
    before, state_id = graph_dump(graph), StateStore(state).current_id()

    def crash(name: str, rows: int, seconds: float) -> None:
        if name == "replace_related":
            raise Boom("simulated crash")

    graph.tracer = crash
    with pytest.raises(Boom):
        forget(["u3"], settings, graph, state)
    graph.tracer = None
    assert graph_dump(graph) == before and StateStore(state).current_id() == state_id
    forget(["u3"], settings, graph, state)
    got = graph_dump(graph)
    wipe(graph)
    load(dataset(events[events["user_id"] != "u3"]), settings, graph, tmp_path / "fresh")
    assert got == graph_dump(graph)


# -- the command line ----------------------------------------------------------------------------
def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["-q", *args])
    return result.exit_code, result.stdout, result.stderr


EVENTS = """user_id,video_id,timestamp,event,watch_seconds,rating
u1,a,100,watch,100,
u1,b,200,watch,100,
u1,b,300,rate,,4.5
u1,c,400,like,,
u1,c,500,unlike,,
u2,a,100,watch,50,
u2,b,150,watch,80,
u2,z,160,watch,80,
"""


def test_user_show_and_forget_on_the_command_line(cli_env: Graph, tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text(EVENTS)
    assert run("load", "events.csv", "--min-count", "1")[0] == 0
    code, out, err = run("user", "show", "u1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["events"]["by_kind"] == {
        "rate": {"count": 1, "first": 300, "last": 300},
        "unlike": {"count": 1, "first": 500, "last": 500},  # the like it retracted is gone
        "watch": {"count": 2, "first": 100, "last": 200},
    }
    assert len(data["events"]["rows"]) == 4
    assert sorted((a["video_id"], a["kind"]) for a in data["actions"]) == [
        ("a", "WATCHED"), ("b", "RATED"), ("b", "WATCHED")
    ]  # fmt: skip
    assert [s["video_id"] for s in data["seeds"]] == ["b", "a"]  # rated 4.5 + watched, watched
    assert data["pool"] is None and data["shown"] == [] and data["impressions"] == []

    assert run("precompute")[0] == 0
    assert run("recommend", "u1", "--n", "4")[0] == 0  # shows z, logs the impression
    code, out, err = run("user", "show", "u1", "--json")
    data = json.loads(out)
    assert data["shown"] == ["z"] and [r["video_id"] for r in data["impressions"]] == ["z"]
    assert [r["video_id"] for r in data["pool"]["items"]] == ["z"] and not data["pool"]["stale"]
    code, out, err = run("user", "show", "u1")
    assert code == 0 and out.startswith("User u1") and "impressions logged: 1" in out

    code, out, err = run("user", "show", "nobody")
    assert code == 2 and err.strip() == "ytgraph: unknown user 'nobody'"
    code, out, err = run("user", "forget", "u1")
    assert code == 2 and "--yes" in err and len(err.strip().splitlines()) == 1
    assert run("user", "show", "u1")[0] == 0  # nothing was forgotten
    code, out, err = run("user", "forget", "u1", "nobody", "--yes")
    assert code == 2 and "nobody" in err and "Traceback" not in err
    code, out, err = run("user", "forget", "u1", "--yes", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["events"], report["impressions"], report["videos_deleted"]) == (4, 1, 0)
    assert run("user", "show", "u1")[0] == 2
    with open(tmp_path / "state" / "impressions.csv", newline="") as f:
        assert list(csv.DictReader(f)) == []
    code, out, err = run("user", "forget", "u2", "--yes")
    assert code == 0 and "3 videos" in out  # a, b and z: only their events named them


def test_the_memory_graph_applies_retractions_as_a_load_does() -> None:
    from ytgraph.recommendation.memory import MemoryGraph

    events, videos = (
        make_events(np.random.default_rng(7), 180),
        make_videos(np.random.default_rng(7)),
    )
    s = make_settings()
    s.related.min_count = 1
    got = MemoryGraph.build(dataset(events, videos), s)
    want = MemoryGraph.build(dataset(retract_ref(events), videos), s)
    assert (got.videos, dict(got.actions), got.related) == (
        want.videos,
        dict(want.actions),
        want.related,
    )
    assert "only" not in got.videos and "gone" not in got.actions and "v-listed2" in got.videos
