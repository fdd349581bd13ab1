"""Offline evaluation: metrics by hand, the three splits on a tiny table, no leakage through the real
Neo4j, baselines by hand, bootstrap intervals, one small end-to-end run, and SAR (slow)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loaders.schema import Dataset, ReadReport
from ytgraph.config import Settings
from ytgraph.db.graph import Graph
from ytgraph.evaluation.baselines import BASELINES, baseline_orders, top_excluding
from ytgraph.evaluation.metrics import bootstrap_ci, list_metrics, user_metrics
from ytgraph.evaluation.offline import Variant, evaluate, load_variants, parse_variants
from ytgraph.evaluation.report import REFERENCE
from ytgraph.evaluation.splits import (
    load_training,
    split_events,
    train_counts,
    training_dataset,
    training_videos,
)
from ytgraph.ingest.covisit import count
from ytgraph.ingest.generate import GenerateConfig, generate_world
from ytgraph.ingest.sessions import sessionize

REPO = Path(__file__).resolve().parent.parent


def events(rows: Sequence[tuple[str, str, int, str, float | None]]) -> pd.DataFrame:
    """(user, video, timestamp, event, rating) rows as canonical events."""
    return pd.DataFrame(
        {
            "user_id": pd.Series([r[0] for r in rows], dtype=object),
            "video_id": pd.Series([r[1] for r in rows], dtype=object),
            "timestamp": np.array([r[2] for r in rows], dtype=np.int64),
            "event": pd.Series([r[3] for r in rows], dtype=object),
            "watch_seconds": np.full(len(rows), np.nan),
            "rating": np.array([np.nan if r[4] is None else r[4] for r in rows], dtype="float64"),
        }
    )


def pairs(frame: pd.DataFrame) -> set[tuple[str, str, int]]:
    return set(zip(frame["user_id"], frame["video_id"], frame["timestamp"], strict=True))


# ------------------------------------------------------------------------------------ metrics


def test_list_metrics_by_hand() -> None:
    # Hits at ranks 2 and 4 of 4; three relevant videos (x is never recommended).
    m = list_metrics(["a", "b", "c", "d"], {"b", "d", "x"}, 4)
    assert m["hit_rate"] == 1.0
    assert m["precision"] == 0.5  # 2 hits / n = 4
    assert m["recall"] == pytest.approx(2 / 3)  # 2 hits / 3 relevant
    # DCG = 1/log2(3) + 1/log2(5) = 0.630930 + 0.430677 = 1.061606
    # IDCG = 3 ideal hits = 1 + 1/log2(3) + 1/log2(4) = 1 + 0.630930 + 0.5 = 2.130930
    assert m["ndcg"] == pytest.approx(1.061606 / 2.130930, abs=1e-6)  # 0.498187

    # A short list is still divided by n (precision at n), and only the first n count.
    m = list_metrics(["x", "q"], {"x"}, 10)
    assert (m["hit_rate"], m["precision"], m["recall"], m["ndcg"]) == (1.0, 0.1, 1.0, 1.0)
    m = list_metrics(["a", "b", "x"], {"x"}, 2)
    assert m == {"hit_rate": 0.0, "precision": 0.0, "recall": 0.0, "ndcg": 0.0}
    # The ideal list is cut at n: 5 relevant, n = 2, hit at rank 1 only:
    # DCG = 1, IDCG = 1 + 1/log2(3) = 1.630930, nDCG = 0.613147; recall = 1/5.
    m = list_metrics(["r1", "a"], {"r1", "r2", "r3", "r4", "r5"}, 2)
    assert m["ndcg"] == pytest.approx(1 / 1.630930, abs=1e-6)
    assert m["recall"] == pytest.approx(0.2)


def test_user_metrics_coverage_and_diversity() -> None:
    lists = {"u1": ["a", "b", "c"], "u2": ["c", "d", "e"]}
    truth = {"u1": {"c"}, "u2": {"z"}}
    channel = {"a": "ch1", "b": "ch1", "c": "ch2", "d": "ch2", "e": "ch2"}
    category = {"a": "k1", "b": "k2", "c": "k3"}  # d, e have none
    df = user_metrics(
        lists, truth, ["u1", "u2"], 3, personal={"u1": True},
        channel_of=channel, category_of=category,
    )  # fmt: skip
    assert df.loc["u1", "precision"] == pytest.approx(1 / 3)
    assert df.loc["u2", "hit_rate"] == 0.0
    assert df["user_coverage"].tolist() == [1.0, 0.0]
    assert df["channels"].tolist() == [2, 1]  # {ch1, ch2}, {ch2}
    assert df["categories"].tolist() == [3, 1]  # {k1, k2, k3}, {k3}
    assert df["channels"].notna().all()
    nochan = user_metrics(lists, truth, ["u1"], 3)
    assert math.isnan(nochan.loc["u1", "channels"])


# -------------------------------------------------------------------------------------- splits

TINY = [
    ("u1", "a", 1, "watch", None),
    ("u1", "b", 2, "watch", None),
    ("u2", "a", 3, "watch", None),
    ("u2", "c", 4, "watch", None),
    ("u3", "b", 5, "watch", None),
    ("u1", "c", 6, "watch", None),
    ("u2", "d", 7, "watch", None),
    ("u3", "a", 8, "watch", None),
    ("u2", "b", 9, "watch", None),
    ("u1", "a", 10, "watch", None),  # u1 watches a again
    ("u1", "d", 11, "watch", None),
    ("u4", "e", 12, "watch", None),  # u4 has no earlier activity
]


def test_train_counts() -> None:
    k = np.array([1, 2, 3, 4, 5, 10])
    assert train_counts(k, 0.2).tolist() == [1, 1, 2, 3, 4, 8]
    assert train_counts(k, 0.25).tolist() == [1, 1, 2, 3, 4, 8]  # 2.25, 3.75 and 7.5 round
    assert train_counts(k, 0.5).tolist() == [1, 1, 2, 2, 3, 5]  # half up: 1.5 -> 2, 2.5 -> 3


def test_temporal_split_exact_rows() -> None:
    ev = events(TINY)
    s = split_events(ev, "temporal")
    # 80% quantile of 1..12, numpy "higher": position 0.8 * 11 = 8.8 -> the 10th value, 10.
    assert s.cut == 10
    assert pairs(s.train) == {(u, v, t) for u, v, t, _, _ in TINY if t < 10}
    assert pairs(s.test) == {("u1", "a", 10), ("u1", "d", 11), ("u4", "e", 12)}
    # u1 had a in training (not to be found); u4 has no training activity (no test user).
    assert s.users == ["u1"]
    assert pairs(s.truth) == {("u1", "d", 11)}


def test_last_n_split_exact_rows() -> None:
    ev = events(TINY)
    s = split_events(ev, "last-n")
    # Per user, interactions by first time: u1 a(1) b(2) c(6) d(11): 4 -> 3 train, d in test;
    # u2 a c d b(9): b in test; u3 b a(8): 2 -> 1 train, a in test; u4: one, training only.
    expected_test = {("u1", "d", 11), ("u2", "b", 9), ("u3", "a", 8)}
    assert pairs(s.test) == expected_test
    assert pairs(s.train) == {(u, v, t) for u, v, t, _, _ in TINY} - expected_test
    assert ("u1", "a", 10) in pairs(s.train)  # a re-watch follows its pair into training
    assert s.users == ["u1", "u2", "u3"]
    assert pairs(s.truth) == expected_test
    assert s.cut is None


def test_random_split_shape_and_seed() -> None:
    ev = events(TINY)
    s = split_events(ev, "random", seed=5)
    assert len(s.train) + len(s.test) == len(ev)
    per_user_test = s.truth.groupby("user_id").size().to_dict()
    assert per_user_test == {"u1": 1, "u2": 1, "u3": 1}  # 4 -> 3/1, 4 -> 3/1, 2 -> 1/1
    assert "u4" not in s.users and len(s.train[s.train["user_id"] == "u4"]) == 1
    # A (user, video) pair is wholly on one side: u1's two watches of a go together.
    train_pairs = set(zip(s.train["user_id"], s.train["video_id"], strict=True))
    test_pairs = set(zip(s.test["user_id"], s.test["video_id"], strict=True))
    assert not train_pairs & test_pairs
    again = split_events(ev, "random", seed=5)
    assert pairs(again.test) == pairs(s.test)
    draws = {frozenset(pairs(split_events(ev, "random", seed=k).test)) for k in range(8)}
    assert len(draws) > 1  # the seed matters


def test_split_rejects_bad_protocol() -> None:
    from ytgraph.errors import InputError

    with pytest.raises(InputError, match="unknown protocol"):
        split_events(events(TINY), "leave-one-out")
    with pytest.raises(InputError, match="test_fraction"):
        split_events(events(TINY), "random", test_fraction=1.0)


# ----------------------------------------------------------------------------- training tables

WORLD = [
    ("u1", "a", 1, "watch", None),
    ("u1", "a", 1, "rate", 5.0),
    ("u1", "b", 2, "watch", None),
    ("u1", "b", 2, "rate", 4.0),
    ("u2", "a", 3, "watch", None),
    ("u2", "a", 3, "rate", 4.0),
    ("u2", "c", 4, "watch", None),
    ("u2", "c", 4, "favorite", None),
    ("u3", "a", 5, "watch", None),
    ("u3", "b", 6, "watch", None),
    ("u3", "b", 6, "rate", 1.0),
    ("u3", "b", 7, "rate", 2.0),  # re-rated: the latest (2) counts
    ("u3", "c", 8, "favorite", None),
    ("u3", "d", 9, "watch", None),
    ("u3", "d", 9, "favorite", None),
]


def test_baselines_by_hand() -> None:
    train = events(WORLD)
    s = Settings()
    s.ranking.rating_prior_count = 1.0
    orders = baseline_orders(train, s)
    # Watches: a 3, b 2, c 1, d 1 (ties by id).
    assert orders["most-viewed"][0] == ["a", "b", "c", "d"]
    # Favorites: c 2, d 1.
    assert orders["top-favorited"][0] == ["c", "d"]
    # Latest ratings a: 5, 4; b: 4, 2. Mean 3.75, prior 1 rating:
    # a = (2 * 4.5 + 3.75) / 3 = 4.25; b = (2 * 3 + 3.75) / 3 = 3.25.
    assert orders["top-rated"][0] == ["a", "b"]
    assert orders["random"][0] == ["a", "b", "c", "d"]  # the catalogue
    seen = {"u1": {"a", "b"}, "u2": {"a", "c"}}
    assert top_excluding(orders["most-viewed"][0], seen["u1"], 2) == ["c", "d"]
    assert top_excluding(orders["top-favorited"][0], seen["u2"], 2) == ["d"]
    assert top_excluding(orders["top-rated"][0], seen["u1"], 2) == []
    # Without favorites the proxy is ratings >= 4.5: only u1's 5 for a.
    nofav = events([r for r in WORLD if r[3] != "favorite"])
    order, note = baseline_orders(nofav, s)["top-favorited"]
    assert order == ["a"] and "proxy" in note
    # Without favorites or ratings, both are n/a.
    plain = events([r for r in WORLD if r[3] == "watch"])
    got = baseline_orders(plain, s)
    assert got["top-favorited"][0] is None and got["top-rated"][0] is None


def test_training_videos_recomputes_quality() -> None:
    train = events(WORLD)
    videos = pd.DataFrame(
        {
            "video_id": ["a", "b", "z"],
            "title": ["A", "B", "Z"],
            "channel_id": ["ch", "ch", "ch2"],
            "views": [1e6, 1e6, 1e6],  # the crawl's figures know the future: dropped
            "rating_avg": [1.0, 1.0, 1.0],
            "comments": [5.0, 5.0, 5.0],
        }
    )
    t = training_videos(train, videos).set_index("video_id")
    assert sorted(t.index) == ["a", "b", "c", "d", "z"]
    assert "comments" not in t.columns
    assert t.loc["a", "views"] == 3 and t.loc["b", "views"] == 2 and t.loc["d", "views"] == 1
    assert t.loc["c", "favorites"] == 2 and t.loc["a", "favorites"] == 0
    assert t.loc["a", "rating_avg"] == 4.5 and t.loc["a", "rating_count"] == 2
    assert t.loc["b", "rating_avg"] == 3.0  # 4 and u3's latest 2
    assert t.loc["a", "title"] == "A" and t.loc["z", "channel_id"] == "ch2"
    assert t.loc["z", ["views", "likes", "favorites", "rating_avg", "rating_count"]].isna().all()


# ---------------------------------------------------------------------------- bootstrap, config


def test_bootstrap_ci_contains_mean_and_shrinks() -> None:
    rng = np.random.default_rng(1)
    small = rng.binomial(1, 0.3, size=100).astype(float)
    large = rng.binomial(1, 0.3, size=2500).astype(float)
    widths = []
    for values in (small, large):
        lo, hi = bootstrap_ci(values, resamples=1000, seed=0)
        assert lo[0] <= values.mean() <= hi[0]
        widths.append(hi[0] - lo[0])
    # The width goes as 1/sqrt(users): 25 times the users, about a fifth of the width.
    assert widths[1] < widths[0] / 3
    lo, hi = bootstrap_ci(np.column_stack([small, 2 * small]), resamples=500, seed=0)
    assert hi[1] == pytest.approx(2 * hi[0]) and lo[1] == pytest.approx(2 * lo[0])


def test_variants_file_and_bad_keys() -> None:
    from ytgraph.errors import ConfigError

    variants = load_variants(REPO / "eval" / "variants.toml")
    assert variants and len({v.name for v in variants}) == len(variants)
    assert all(isinstance(v.overrides, dict) for v in variants)
    with pytest.raises(ConfigError, match="unknown key"):
        parse_variants({"variant": [{"name": "x", "overrides": {"related.nope": 1}}]})
    with pytest.raises(ConfigError, match="twice"):
        parse_variants({"variant": [{"name": "x"}, {"name": "x"}]})
    s = Variant("v", {"candidates.exclude_watched": False, "related.top_n": 7}).settings(Settings())
    assert s.candidates.exclude_watched is True and s.related.top_n == 7


# ------------------------------------------------------------------------- through the real Neo4j


def test_no_leakage_into_the_graph(graph: Graph, settings: Settings) -> None:
    rows = [
        *[(u, v, t, "watch", None) for u, v, t in (
            ("u1", "a", 100), ("u1", "b", 200), ("u2", "a", 300), ("u2", "b", 400),
            ("u3", "a", 500), ("u3", "b", 600), ("u1", "c", 700), ("u4", "a", 710),
            ("u4", "b", 720), ("u4", "c", 730), ("u5", "a", 740), ("u5", "b", 750),
            ("u5", "c", 760), ("u3", "d", 770),
        )],
        ("u1", "a", 150, "rate", 5.0),
        ("u2", "a", 350, "like", None),
        # Test part (16 training events, 21 in all: the 80% quantile, position 16, is 1_000).
        ("u1", "z", 1_000, "watch", None),
        ("u2", "z", 1_010, "watch", None),
        ("u2", "z", 1_010, "rate", 5.0),
        ("u3", "c", 1_020, "watch", None),
        ("u3", "c", 1_030, "favorite", None),
    ]  # fmt: skip
    ev = events(rows)
    split = split_events(ev, "temporal")
    assert split.cut == 1_000
    videos = pd.DataFrame({"video_id": ["a", "b", "c", "z"], "title": list("ABCZ"),
                           "views": [9e9] * 4, "favorites": [7.0] * 4})  # fmt: skip
    data = training_dataset(split, videos)
    load_training(data, settings, graph)

    def q(text: str) -> list[dict[str, Any]]:
        records, _, _ = graph.driver.execute_query(text, database_=graph.database)
        return [r.data() for r in records]

    z = q("MATCH (v:Video {video_id: 'z'}) RETURN v.views AS views, v.sessions AS sessions, "
          "v.rating_count AS rc, v.favorites AS fav, COUNT { (v)-[:RELATED]-() } AS rel, "
          "COUNT { ()-[:WATCHED|RATED|LIKED|FAVORITED]->(v) } AS acts")  # fmt: skip
    assert z == [{"views": None, "sessions": None, "rc": None, "fav": None, "rel": 0, "acts": 0}]
    got = {
        r["id"]: r
        for r in q(
            "MATCH (v:Video) WHERE v.video_id <> 'z' RETURN v.video_id AS id, "
            "v.views AS views, v.sessions AS sessions, v.favorites AS fav, "
            "v.rating_count AS rc"
        )
    }
    train_sessions = sessionize(split.train, settings.sessions)
    cov = count(train_sessions)
    expected_sessions = dict(zip(cov.videos.tolist(), cov.counts.tolist(), strict=True))
    assert {k: r["sessions"] for k, r in got.items()} == expected_sessions
    assert {k: r["views"] for k, r in got.items()} == {"a": 5, "b": 5, "c": 3, "d": 1}
    assert {k: r["fav"] for k, r in got.items()} == {"a": 0, "b": 0, "c": 0, "d": 0}  # c's: test
    assert got["a"]["rc"] == 1  # only u1's training rating; u2's rating of z is in test
    watched = q("MATCH (u:User)-[:WATCHED]->(v:Video) RETURN u.user_id AS u, v.video_id AS v")
    assert {(r["u"], r["v"]) for r in watched} == set(
        zip(split.train["user_id"], split.train["video_id"], strict=True)
    )
    assert not q("MATCH (:User {user_id: 'u3'})-[r]->(:Video {video_id: 'c'}) RETURN r")


def small_world() -> Dataset:
    ev, videos = generate_world(GenerateConfig(users=150, videos=120, days=10, seed=3))
    return Dataset(ev, videos, ReadReport(read=len(ev), accepted=len(ev)))


@pytest.mark.slow  # two loads and three variants: about 15-40 s on 2 shared cores
def test_evaluate_end_to_end(graph: Graph, settings: Settings, tmp_path: Path) -> None:
    data = small_world()
    variants = [
        Variant("paper"),
        Variant("no caps", {"ranking.max_per_channel": 0}),  # same counts: shares the load
        Variant("cosine", {"related.normalization": "cosine"}),
    ]
    report = evaluate(
        data, settings, protocol="temporal", n=10, variants=variants, graph=graph, seed=1,
        resamples=200, max_users=40, echo=None,
    )  # fmt: skip
    names = [s.name for s in report.systems]
    assert names[0] == REFERENCE
    assert set(names) >= {"Most Viewed", "Top Favorited", "Top Rated", "Random", "paper", "cosine"}
    assert [sorted(x["variants"]) for x in report.loads] == [["no caps", "paper"], ["cosine"]]
    mv = report.system(REFERENCE)
    assert mv.relative["precision"] == pytest.approx(100.0)
    assert mv.relative["hit_rate"] == pytest.approx(100.0)
    users = report.split["test_users"]
    assert users > 10
    for s in report.systems:
        assert all(v is not None for k, v in s.metrics.items() if k != "categories"), s.name
        m = {k: float(v) for k, v in s.metrics.items() if v is not None}
        for k in ("hit_rate", "precision", "recall", "ndcg", "user_coverage", "catalog_coverage"):
            assert 0.0 <= m[k] <= 1.0, (s.name, k)
        assert m["hit_rate"] >= m["precision"]
        ci = s.ci["precision"]
        assert ci is not None and ci[0] <= m["precision"] <= ci[1]
        assert 1.0 <= m["channels"] <= 10.0
        if m["precision"] and mv.metrics["precision"]:
            assert s.relative["precision"] == pytest.approx(
                100 * m["precision"] / mv.metrics["precision"]
            )
        assert s.by_period and sum(p["users"] for p in s.by_period) >= users
        if s.kind == "baseline":
            assert m["user_coverage"] == 0.0
    assert (report.system("paper").metrics["user_coverage"] or 0.0) > 0.5
    text = report.table()
    assert all(name[:24] in text for name in names)
    doc = json.loads(json.dumps(report.to_json()))
    assert doc["protocol"] == "temporal" and len(doc["systems"]) == len(names)
    png = report.plot(tmp_path / "eval.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------ SAR


@pytest.mark.slow
def test_sar_peer_runs_in_its_own_venv() -> None:
    """Creates <cache>/sar-venv the first time (minutes); fails, never skips, when it can't."""
    from ytgraph.evaluation.peers import ensure_sar_python, run_sar

    python = ensure_sar_python(echo=print)
    assert python.exists()
    # a is watched with b by three users and with c by one; b is popular, c rare.
    rows = [("q", "a", 1, "watch", None)]
    for i in range(3):
        rows += [(f"p{i}", "a", 1, "watch", None), (f"p{i}", "b", 2, "watch", None)]
    for i in range(3, 6):
        rows += [(f"p{i}", "b", 2, "watch", None)]
    rows += [("r", "a", 1, "watch", None), ("r", "c", 2, "watch", None)]
    train = events(rows)
    top = run_sar(train, ["q", "p0"], similarities=["lift", "jaccard"], k=2, python=python)
    assert set(top.columns) == {"similarity", "user_id", "rank", "video_id", "score"}
    lift = top[(top["similarity"] == "lift") & (top["user_id"] == "q")]
    # lift(a, c) = 1 / (5 * 1) = 0.2 > lift(a, b) = 3 / (5 * 6) = 0.1: the rare video first.
    assert lift["video_id"].tolist()[:2] == ["c", "b"]
    assert lift["score"].iloc[0] == pytest.approx(0.2)
    jac = top[(top["similarity"] == "jaccard") & (top["user_id"] == "q")]
    # jaccard(a, b) = 3 / (5 + 6 - 3) = 0.375 > jaccard(a, c) = 1 / (5 + 1 - 1) = 0.2.
    assert jac["video_id"].tolist()[:2] == ["b", "c"]
    for u, seen in (("q", {"a"}), ("p0", {"a", "b"})):  # remove_seen
        assert not set(top.loc[top["user_id"] == u, "video_id"]) & seen


def test_evaluate_rejects_unknown_names() -> None:
    from ytgraph.errors import InputError

    data = Dataset(events(TINY), pd.DataFrame({"video_id": []}), ReadReport())
    with pytest.raises(InputError, match="unknown peer"):
        evaluate(data, Settings(), protocol="random", variants=[], peers=["als"], echo=None)
    with pytest.raises(InputError, match="unknown baseline"):
        evaluate(data, Settings(), protocol="random", variants=[], baselines=["x"], echo=None)
    assert "most-viewed" in BASELINES
