"""The seed set from a user's actions, against weights worked out by hand (default SeedSettings).

Defaults: favorite 3.0, like 2.5, playlist 2.5, rate 2.0 (scaled), long watch 1.5, watch 0.5,
rating threshold 3.5, half-life 30 days, at most 50 seeds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from loaders.schema import DAY
from ytgraph.config import SeedSettings, profile_settings
from ytgraph.recommendation.seeds import seed_set

PAPER_SEEDS = profile_settings("paper").seeds

T = 1_700_000_000  # the user's latest action


def act(video: str, kind: str, at: float = T, **extra: Any) -> dict[str, Any]:
    row = {"video_id": video, "title": f"Title {video}", "kind": kind, "at": at}
    row.update({"rating": None, "count": 1, "long_watches": None, **extra})
    return row


def weights(
    actions: list[dict[str, Any]], s: SeedSettings | None = None
) -> list[tuple[str, float]]:
    # The paper's seed settings (a 30-day half-life, 50 seeds): what these examples were worked for.
    return [(x.video_id, x.weight) for x in seed_set(actions, s or PAPER_SEEDS)]


def test_explicit_beats_long_beats_plain() -> None:
    got = weights(
        [
            act("w", "WATCHED", long_watches=0),  # 0.5
            act("lw", "WATCHED", long_watches=2),  # 1.5 (a long watch, however many)
            act("l", "LIKED"),  # 2.5
            act("f", "FAVORITED"),  # 3.0
        ]
    )
    assert got == [("f", 3.0), ("l", 2.5), ("lw", 1.5), ("w", 0.5)]


def test_actions_on_one_video_add_up() -> None:
    # watched long (1.5) + liked (2.5) + playlisted (2.5) = 6.5
    seeds = seed_set(
        [act("v", "WATCHED", long_watches=1), act("v", "LIKED"), act("v", "PLAYLISTED")],
        SeedSettings(),
    )
    assert [(s.video_id, s.weight) for s in seeds] == [("v", 6.5)]
    assert seeds[0].reasons == ("added to a playlist", "liked", "watched long")
    assert seeds[0].title == "Title v"


def test_half_life_halves_a_30_day_old_action() -> None:
    got = dict(
        weights(
            [
                act("now", "WATCHED", long_watches=1),  # 1.5 * 0.5^0 = 1.5
                act("d30", "WATCHED", at=T - 30 * DAY, long_watches=1),  # 1.5 * 0.5^1 = 0.75
                act("d60", "FAVORITED", at=T - 60 * DAY),  # 3.0 * 0.5^2 = 0.75
                act("d15", "WATCHED", at=T - 15 * DAY, long_watches=0),  # 0.5 * 0.5^0.5
            ]
        )
    )
    assert got["now"] == pytest.approx(1.5)
    assert got["d30"] == pytest.approx(0.75)
    assert got["d60"] == pytest.approx(0.75)
    assert got["d15"] == pytest.approx(0.5 / 2**0.5)
    # The age is measured from the user's latest action, not the clock: shifting every action
    # by a year changes nothing.
    year = 365 * DAY
    shifted = [act("a", "LIKED", at=T - year), act("b", "LIKED", at=T - year - 30 * DAY)]
    assert weights(shifted) == [("a", 2.5), ("b", pytest.approx(1.25))]


def test_ratings_scale_and_a_low_rating_removes_the_video() -> None:
    got = dict(
        weights(
            [
                act("r5", "RATED", rating=5),  # 2.0 * (5 - 3.5 + 1) / (1.5 + 1) = 2.0
                act("r4", "RATED", rating=4),  # 2.0 * (4 - 3.5 + 1) / 2.5 = 1.2
                act("r35", "RATED", rating=3.5),  # 2.0 * 1 / 2.5 = 0.8 (at the threshold counts)
                act("r2", "RATED", rating=2),  # below the threshold ...
                act("r2", "WATCHED", long_watches=1),  # ... so the long watch does not count
                act("r2", "LIKED"),  # nor the like: the user disliked it
            ]
        )
    )
    assert got == pytest.approx({"r5": 2.0, "r4": 1.2, "r35": 0.8})


def test_max_seeds_keeps_the_heaviest() -> None:
    actions = [
        act("a", "WATCHED", long_watches=0),  # 0.5
        act("b", "LIKED"),  # 2.5
        act("c", "FAVORITED"),  # 3.0
        act("d", "WATCHED", long_watches=1),  # 1.5
        act("e", "PLAYLISTED"),  # 2.5
    ]
    got = weights(actions, replace(SeedSettings(), max_seeds=3))
    # c 3.0, then b and e tie at 2.5 (by id: b, e); d and a fall off.
    assert got == [("c", 3.0), ("b", 2.5), ("e", 2.5)]


def test_ordering_is_by_weight_then_id() -> None:
    actions = [act(v, "LIKED") for v in ("z", "m", "a")] + [act("q", "FAVORITED")]
    assert [v for v, _ in weights(actions)] == ["q", "a", "m", "z"]


def test_no_actions_no_seeds() -> None:
    # An existing user without actions comes back from user_actions.cypher as one all-null row.
    empty = {"video_id": None, "title": None, "kind": None, "at": None}
    assert seed_set([empty], SeedSettings()) == []
    assert seed_set([], SeedSettings()) == []
