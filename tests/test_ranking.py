"""The linear ranker and the diversity re-rank, without a database."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from loaders.schema import DAY
from ytgraph.config import RankingSettings
from ytgraph.recommendation.candidates import Candidate, CandidatePath
from ytgraph.recommendation.ranking import CatalogStats, Recommendation, rank, score_candidates
from ytgraph.recommendation.seeds import Seed

T = 1_700_000_000.0


def path(*videos: str, weights: tuple[float, ...]) -> CandidatePath:
    return CandidatePath(videos[0], tuple(videos), tuple(w * 10 for w in weights), weights)


def cand(
    vid: str,
    paths: list[CandidatePath],
    channel: str | None = None,
    category: str | None = None,
    **features: Any,
) -> Candidate:
    return Candidate(vid, f"Title {vid}", channel, category, dict(features), paths)


def seed(vid: str, weight: float) -> Seed:
    return Seed(vid, f"Seed {vid}", weight, ("liked",))


STATS = CatalogStats(
    max_views=999, max_sessions=None, max_comments=99, max_likes=9, newest=T, mean_rating=4.0
)


def test_hand_computed_scores() -> None:
    seeds = [seed("s1", 2.0), seed("s2", 1.0)]
    x = cand(
        "x",
        [path("s1", "x", weights=(0.5,)), path("s2", "y", "x", weights=(1.0, 0.5))],
        views=99, rating_avg=5.0, rating_count=10, comments=9, likes=4, favorites=5,
        uploaded_at=T - 180 * DAY,
    )  # fmt: skip
    y = cand("y", [path("s2", "y", weights=(1.0,))], sessions=999, uploaded_at=T)
    ranked = rank([y, x], seeds, STATS, RankingSettings(), n=4)
    # x: contributions s1 = 2.0 * 0.5 = 1.0, s2 = 1.0 * (1.0 * 0.5) = 0.5 -> 1.5 (the top)
    # y: s2 = 1.0 * 1.0 = 1.0 -> 1.0 / 1.5
    want_x = {
        "relatedness": 1.0,
        "support": 2 / 3,  # two seeds of three for full support
        "depth": 1.0,  # shortest path s1 -> x
        "views": math.log(100) / math.log(1000),  # = 2/3
        "rating": (10 * 5.0 + 10 * 4.0) / (10 + 10) / 5,  # 4.5 / 5 = 0.9
        "comments": math.log(10) / math.log(100),  # = 0.5
        "likes": math.log(10) / math.log(10),  # 4 likes + 5 favorites = 9 = the max
        "freshness": 0.5,  # 180 days older than the newest upload, half-life 180
    }
    want_y = {
        "relatedness": 1.0 / 1.5,
        "support": 1 / 3,
        "depth": 1.0,
        "views": 1.0,  # sessions stand in for the missing views: 999 of 999
        "rating": 4.0 / 5,  # no ratings: the global mean
        "comments": 0.0,
        "likes": 0.0,
        "freshness": 1.0,
    }
    # 1.0 + 0.3*2/3 + 0.2*1 + 0.3*2/3 + 0.15*0.9 + 0.05*0.5 + 0.1*1 + 0.1*0.5 = 1.91
    # 2/3 + 0.3/3 + 0.2 + 0.3 + 0.15*0.8 + 0 + 0 + 0.1 = 1.486666...
    got = {r.video_id: r for r in ranked.scored}
    assert got["x"].signals == pytest.approx(want_x)
    assert got["y"].signals == pytest.approx(want_y)
    assert got["x"].score == pytest.approx(1.91)
    assert got["y"].score == pytest.approx(2 / 3 + 0.82)
    assert [r.video_id for r in ranked.recommendations] == ["x", "y"]
    assert [r.rank for r in ranked.recommendations] == [1, 2]
    assert got["x"].because == {"seed_video_id": "s1", "seed_title": "Seed s1"}
    assert got["y"].because == {"seed_video_id": "s2", "seed_title": "Seed s2"}
    assert got["x"].to_json() == {
        "video_id": "x",
        "title": "Title x",
        "score": pytest.approx(1.91),
        "signals": pytest.approx(want_x),
        "because": {"seed_video_id": "s1", "seed_title": "Seed s1"},
        "paths": [["s1", "x"], ["s2", "y", "x"]],
    }


def test_weights_come_from_settings() -> None:
    seeds = [seed("s", 1.0)]
    c = cand("c", [path("s", "c", weights=(1.0,))], views=999, uploaded_at=T)
    only_views = RankingSettings(
        w_relatedness=0, w_support=0, w_depth=0, w_views=2.0, w_rating=0, w_comments=0,
        w_likes=0, w_freshness=0,
    )  # fmt: skip
    (r,) = score_candidates([c], seeds, STATS, only_views)
    assert r.score == pytest.approx(2.0)


def test_rating_is_smoothed_towards_the_mean() -> None:
    stats = replace(STATS, mean_rating=3.0)
    seeds = [seed("s", 1.0)]
    one = cand("one", [path("s", "one", weights=(1.0,))], rating_avg=5.0, rating_count=1)
    many = cand("many", [path("s", "many", weights=(1.0,))], rating_avg=4.6, rating_count=100)
    none = cand("none", [path("s", "none", weights=(1.0,))], rating_avg=None, rating_count=0)
    got = {r.video_id: r.signals["rating"] for r in score_candidates(
        [one, many, none], seeds, stats, RankingSettings(rating_prior_count=10)
    )}  # fmt: skip
    assert got["one"] == pytest.approx((1 * 5.0 + 10 * 3.0) / 11 / 5)  # 3.18 / 5: one vote
    assert got["many"] == pytest.approx((100 * 4.6 + 10 * 3.0) / 110 / 5)  # 4.45 / 5
    assert got["none"] == pytest.approx(3.0 / 5)
    assert got["many"] > got["one"]
    # No prior: the raw mean. No rating anywhere in the catalogue: the middle of the scale.
    raw = score_candidates([one], seeds, stats, RankingSettings(rating_prior_count=0))
    assert raw[0].signals["rating"] == pytest.approx(1.0)
    bare = score_candidates([none], seeds, CatalogStats(), RankingSettings())
    assert bare[0].signals["rating"] == pytest.approx(3.0 / 5)


def test_empty_catalogue_figures_give_zero_not_errors() -> None:
    c = cand("c", [path("s", "x", "c", weights=(0.5, 0.5))], views=10, comments=3)
    (r,) = score_candidates([c], [seed("s", 1.0)], CatalogStats(), RankingSettings())
    assert r.signals["views"] == r.signals["comments"] == r.signals["freshness"] == 0.0
    assert r.signals["depth"] == 0.5 and r.signals["relatedness"] == 1.0


def test_because_is_the_strongest_seed_not_the_heaviest() -> None:
    # a weighs more, but reaches v weakly: a 3.0 * 0.1 = 0.3; b 1.0 * (1.0 + 0.5*1.0) = 1.5
    seeds = [seed("a", 3.0), seed("b", 1.0)]
    v = cand(
        "v",
        [
            path("a", "v", weights=(0.1,)),
            path("b", "v", weights=(1.0,)),
            path("b", "w", "v", weights=(0.5, 1.0)),
        ],
    )
    (r,) = score_candidates([v], seeds, STATS, RankingSettings())
    assert r.because == {"seed_video_id": "b", "seed_title": "Seed b"}


def test_caps_cut_and_say_why() -> None:
    seeds = [seed("s", 1.0), seed("t", 1.0)]
    # Strengths fall with the letter, so the score order is a, b, c, ... (only relatedness counts).
    ws = {"a": 1.0, "b": 0.9, "c": 0.8, "d": 0.7, "e": 0.6, "f": 0.5, "g": 0.4}
    chan = {"a": "X", "b": "X", "c": "X", "d": None, "e": "Y", "f": "Y", "g": "Z"}
    src = {"a": "s", "b": "s", "c": "t", "d": "s", "e": "s", "f": "t", "g": "t"}
    cands = [cand(v, [path(src[v], v, weights=(w,))], channel=chan[v]) for v, w in ws.items()]
    only_rel = RankingSettings(
        w_support=0, w_depth=0, w_views=0, w_rating=0, w_comments=0, w_likes=0, w_freshness=0,
        max_per_seed=3, max_per_channel=2,
    )  # fmt: skip
    ranked = rank(cands, seeds, STATS, only_rel, n=5)
    # a (s:1, X:1), b (s:2, X:2), c cut (X has 2), d (s:3, no channel), e cut (s has 3),
    # f (t:2... t:1 since c was cut, Y:1), g (t:2, Z:1) -> 5 chosen
    assert [r.video_id for r in ranked.recommendations] == ["a", "b", "d", "f", "g"]
    assert ranked.cuts["c"].text() == "cut by the per-channel cap (channel X already has 2)"
    assert ranked.cuts["e"].text() == "cut by the per-seed cap (seed s already has 3)"
    assert ranked.cuts["c"].position == 3 and ranked.cuts["e"].position == 5
    assert set(ranked.cuts) == {"c", "e"}
    # n honoured: stop at 3, nothing after b is looked at (c is cut on the way to d).
    short = rank(cands, seeds, STATS, only_rel, n=3)
    assert [r.video_id for r in short.recommendations] == ["a", "b", "d"]
    assert set(short.cuts) == {"c"}
    # The pool bounds what is considered: with a pool of 4, e..g are never seen.
    pooled = rank(cands, seeds, STATS, replace(only_rel, pool=4), n=4)
    assert [r.video_id for r in pooled.recommendations] == ["a", "b", "d"]
    # A per-category cap of 0 is off; of 1 keeps one per category.
    cats = [replace(c, category="K" if c.video_id in "ab" else None) for c in cands]
    one_cat = rank(cats, seeds, STATS, replace(only_rel, max_per_category=1), n=5)
    assert one_cat.cuts["b"].text() == "cut by the per-category cap (category K already has 1)"


# ---------------------------------------------------------------- diversity: property test


def brute_greedy(scored: list[Recommendation], s: RankingSettings, n: int) -> list[str]:
    """Walk the score order; take a video if, counting over what was taken so far, its seed,
    channel and category are each under their caps (a cap <= 0 is off; no channel, no cap)."""
    taken: list[Recommendation] = []
    for r in scored[: max(s.pool, n)]:
        if len(taken) == n:
            break
        same_seed = sum(
            1 for t in taken if t.because["seed_video_id"] == r.because["seed_video_id"]
        )
        same_chan = sum(1 for t in taken if r.channel_id and t.channel_id == r.channel_id)
        same_cat = sum(1 for t in taken if r.category and t.category == r.category)
        if s.max_per_seed > 0 and same_seed >= s.max_per_seed:
            continue
        if s.max_per_channel > 0 and same_chan >= s.max_per_channel:
            continue
        if s.max_per_category > 0 and same_cat >= s.max_per_category:
            continue
        taken.append(r)
    return [t.video_id for t in taken]


ROWS = st.tuples(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from([0.1, 0.25, 0.5, 1.0])), min_size=1, max_size=3
    ),
    st.sampled_from([None, "A", "B", "C", "D"]),
    st.sampled_from([None, "k1", "k2"]),
    st.one_of(st.none(), st.integers(0, 999)),
    st.integers(0, 400),
)


@st.composite
def ranking_inputs(draw: st.DrawFn) -> tuple[list[Candidate], list[Seed], RankingSettings, int]:
    weights = draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0]), min_size=1, max_size=4))
    seeds = [seed(f"s{i}", w) for i, w in enumerate(weights)]
    cands = []
    for i, (links, channel, category, views, age) in enumerate(draw(st.lists(ROWS, max_size=40))):
        vid = f"c{i:02d}"
        by_seed = {f"s{j % len(seeds)}": w for j, w in links}  # distinct seeds per candidate
        paths = [path(s, vid, weights=(w,)) for s, w in by_seed.items()]
        cands.append(cand(vid, paths, channel, category, views=views, uploaded_at=T - age * DAY))
    s = RankingSettings(
        max_per_seed=draw(st.integers(0, 4)),
        max_per_channel=draw(st.integers(0, 3)),
        max_per_category=draw(st.integers(0, 5)),
        pool=draw(st.integers(4, 60)),
    )
    return cands, seeds, s, draw(st.integers(4, 20))


@hsettings(max_examples=150, deadline=None)
@given(inputs=ranking_inputs())
def test_diversity_is_the_greedy_under_the_caps(
    inputs: tuple[list[Candidate], list[Seed], RankingSettings, int],
) -> None:
    cands, seeds, s, n = inputs
    ranked = rank(cands, seeds, STATS, s, n)
    got = ranked.recommendations
    # The score order is total and by score.
    assert [r.score for r in ranked.scored] == sorted(
        (r.score for r in ranked.scored), reverse=True
    )
    assert len(ranked.scored) == len(cands)
    # because: the seed with the largest sum of seed weight * strength (ties: heavier seed, id).
    weight = {x.video_id: x.weight for x in seeds}
    order = {x.video_id: i for i, x in enumerate(seeds)}
    for r in ranked.scored:
        sums: dict[str, float] = {}
        for p in r.paths:
            sums.setdefault(p.seed, 0.0)
            sums[p.seed] += weight[p.seed] * p.strength
        best = sorted(sums, key=lambda k: (-sums[k], order[k], k))[0]
        assert r.because["seed_video_id"] == best
    # The caps hold.
    for cap, key in (("seed", "seed"), ("channel", "channel_id"), ("category", "category")):
        limit = getattr(s, f"max_per_{cap}")
        values = [r.seed if key == "seed" else getattr(r, key) for r in got]
        counts = Counter(v for v in values if v is not None)
        if limit > 0:
            assert all(c <= limit for c in counts.values()), (cap, counts)
    # n honoured, ranks 1..len, and exactly what the brute-force greedy picks.
    assert len(got) <= n
    assert [r.rank for r in got] == list(range(1, len(got) + 1))
    assert [r.video_id for r in got] == brute_greedy(ranked.scored, s, n)
    # Every considered candidate that was not taken was cut by a cap that truly binds.
    chosen = {r.video_id for r in got}
    considered = ranked.scored[: max(s.pool, n)]
    if len(got) < n:
        assert {r.video_id for r in considered} - chosen == set(ranked.cuts)
    for vid, cut in ranked.cuts.items():
        assert vid not in chosen and cut.caps
        before = [r for r in got if (ranked.position(r.video_id) or 0) < cut.position]
        for hit in cut.caps:
            attr = {"seed": "seed", "channel": "channel_id", "category": "category"}[hit.cap]
            assert sum(1 for r in before if getattr(r, attr) == hit.key) == hit.count >= hit.limit


def test_score_strength_uses_raw_edge_scores() -> None:
    """``strength = "score"``: the product of edge scores, not of the per-list weights."""
    seeds = [seed("s1", 1.0), seed("s2", 1.0)]
    # x: reached from s1 by an edge of weight 1.0 (score 10: the best of a weak list)
    # y: reached from s2 by an edge of weight 0.5 (score 40: half the best of a strong list)
    x = cand("x", [CandidatePath("s1", ("s1", "x"), (10.0,), (1.0,))])
    y = cand("y", [CandidatePath("s2", ("s2", "y"), (40.0,), (0.5,))])
    by_weight = score_candidates([x, y], seeds, STATS, RankingSettings())
    by_score = score_candidates([x, y], seeds, STATS, RankingSettings(strength="score"))
    rel_w = {r.video_id: r.signals["relatedness"] for r in by_weight}
    rel_s = {r.video_id: r.signals["relatedness"] for r in by_score}
    assert rel_w == pytest.approx({"x": 1.0, "y": 0.5})
    assert rel_s == pytest.approx({"x": 10.0 / 40.0, "y": 1.0})


def test_a_candidate_without_paths_is_popular_and_scored_by_quality() -> None:
    """A popular candidate (candidates.popular) has no path: no specificity, quality only."""
    seeds = [seed("s", 1.0)]
    related = cand("r", [path("s", "r", weights=(1.0,))], views=9)
    hit = cand("p", [], views=999)
    ranked = score_candidates([related, hit], seeds, STATS, RankingSettings())
    got = {r.video_id: r for r in ranked}
    assert got["p"].popular and got["p"].because["popularity"] == 999
    assert got["p"].signals["relatedness"] == got["p"].signals["support"] == 0.0
    assert got["p"].signals["depth"] == 0.0 and got["p"].signals["views"] == pytest.approx(1.0)
    # With the hand-set weights the related video leads; weigh views enough and p overtakes it.
    assert [r.video_id for r in ranked] == ["r", "p"]
    heavy = score_candidates([related, hit], seeds, STATS, RankingSettings(w_views=5.0))
    assert [r.video_id for r in heavy] == ["p", "r"]
    # Only popular candidates (a user without seeds): nothing to point back to, no error.
    (alone,) = score_candidates([hit], [], STATS, RankingSettings())
    assert alone.popular and alone.signals["relatedness"] == 0.0
