"""sessionize against the brute-force reference, and the session rules on hand-made cases."""

from __future__ import annotations

import math
from unittest import mock

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hsettings

from tests.reference import sessionize_ref
from ytgraph.config import SessionSettings
from ytgraph.errors import ConfigError, InputError
from ytgraph.ingest import sessions as sessions_mod
from ytgraph.ingest.sessions import SESSION_COLUMNS, sessionize

T0 = 1_700_000_000
H = 3600


def events_frame(rows: list[tuple[str, str, int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": pd.Series([r[0] for r in rows], dtype=object),
            "video_id": pd.Series([r[1] for r in rows], dtype=object),
            "timestamp": pd.Series([r[2] for r in rows], dtype="int64"),
            "event": pd.Series([r[3] for r in rows], dtype=object),
            "watch_seconds": pd.Series([r[4] for r in rows], dtype="float64"),
            "rating": pd.Series([math.nan] * len(rows), dtype="float64"),
        }
    )


def watches(user: str, *items: tuple[str, float]) -> list[tuple[str, str, int, str, float]]:
    """(video, hours after T0) pairs -> watch rows of one user."""
    return [(user, v, T0 + round(h * H), "watch", math.nan) for v, h in items]


def as_plain(df: pd.DataFrame) -> pd.DataFrame:
    """Ids as object columns, a fresh index: comparable whatever string dtype pandas picked."""
    out = df.reset_index(drop=True).copy()
    for c in ("user_id", "video_id"):
        out[c] = out[c].astype(object)
    return out


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(SESSION_COLUMNS)
    assert got["session_id"].dtype == np.int64
    assert got["timestamp"].dtype == np.int64
    pd.testing.assert_frame_equal(as_plain(got), as_plain(want), check_dtype=False)


def session_sets(df: pd.DataFrame) -> list[set[str]]:
    return [set(g["video_id"]) for _, g in df.groupby("session_id", sort=True)]


# --- hand-made cases -----------------------------------------------------------------------


def test_watches_23h_apart_one_session_then_a_new_one() -> None:
    ev = events_frame(watches("u", ("a", 0), ("b", 23), ("c", 46)))
    got = sessionize(ev, SessionSettings(window_hours=24))
    # 23h < 24h: a and b share the session anchored at 0h; 46h >= 0h + 24h starts a new one.
    assert session_sets(got) == [{"a", "b"}, {"c"}]


def test_windows_are_anchored_not_gaps() -> None:
    ev = events_frame(watches("u", ("a", 0), ("b", 20), ("c", 30)))
    got = sessionize(ev, SessionSettings(window_hours=24))
    # A gap rule (< 24h since the last watch) would give one session; anchored: {0h, 20h}, {30h}.
    assert session_sets(got) == [{"a", "b"}, {"c"}]
    assert got["session_id"].tolist() == [0, 0, 1]


def test_window_end_is_exclusive() -> None:
    ev = events_frame(watches("u", ("a", 0), ("b", 24), ("c", 47.99), ("d", 48)))
    got = sessionize(ev, SessionSettings(window_hours=24))
    assert session_sets(got) == [{"a"}, {"b", "c"}, {"d"}]


def test_fractional_window_rounds_up_to_whole_seconds() -> None:
    # window 1.0001h = 3600.36 s: a watch 3600 s after the start is inside, 3601 s is outside.
    ev = events_frame(
        [
            ("u", "a", T0, "watch", math.nan),
            ("u", "b", T0 + 3600, "watch", math.nan),
            ("u", "c", T0 + 3601, "watch", math.nan),
        ]
    )
    got = sessionize(ev, SessionSettings(window_hours=1.0001))
    assert session_sets(got) == [{"a", "b"}, {"c"}]


def test_repeat_watch_counts_once_with_first_timestamp() -> None:
    ev = events_frame(watches("u", ("a", 2), ("b", 1), ("a", 0.5), ("a", 3)))
    got = sessionize(ev, SessionSettings())
    assert got["video_id"].tolist() == ["a", "b"]
    assert got["timestamp"].tolist() == [T0 + 1800, T0 + H]


def test_cap_keeps_first_videos_by_time_then_id() -> None:
    ev = events_frame(watches("u", ("e", 0), ("d", 1), ("c", 1), ("b", 2), ("a", 3), ("d", 4)))
    got = sessionize(ev, SessionSettings(max_videos=3))
    # By time: e (0h), then c and d tie at 1h -> by id c, d; b and a are cut.
    assert got["video_id"].tolist() == ["e", "c", "d"]
    uncapped = sessionize(ev, SessionSettings(max_videos=0))
    assert uncapped["video_id"].tolist() == ["e", "c", "d", "b", "a"]


def test_only_watches_count() -> None:
    rows = [
        *watches("u", ("a", 0)),
        ("u", "b", T0 + 10, "like", math.nan),
        ("u", "c", T0 + 20, "favorite", math.nan),
        ("u", "d", T0 + 30, "rate", math.nan),
        ("u", "e", T0 + 40, "playlist_add", math.nan),
    ]
    got = sessionize(events_frame(rows), SessionSettings())
    assert got["video_id"].tolist() == ["a"]


def test_session_ids_follow_user_id_string_order_then_start() -> None:
    rows = watches("u2", ("a", 0)) + watches("u10", ("b", 30), ("c", 0)) + watches("u1", ("d", 5))
    got = sessionize(events_frame(rows), SessionSettings(window_hours=24))
    # "u1" < "u10" < "u2" as strings; u10 has two sessions, the 0h one first.
    assert list(zip(got["user_id"], got["session_id"], got["video_id"], strict=True)) == [
        ("u1", 0, "d"),
        ("u10", 1, "c"),
        ("u10", 2, "b"),
        ("u2", 3, "a"),
    ]


def test_long_watch_seconds_drops_known_short_keeps_unknown() -> None:
    rows = [
        ("u", "short", T0, "watch", 10.0),
        ("u", "long", T0 + 1, "watch", 120.0),
        ("u", "unknown", T0 + 2, "watch", math.nan),
        ("u", "edge", T0 + 3, "watch", 60.0),
    ]
    got = sessionize(events_frame(rows), SessionSettings(long_watch_seconds=60))
    assert got["video_id"].tolist() == ["long", "unknown", "edge"]


def test_long_watch_fraction_uses_durations_and_unknown_passes() -> None:
    rows = [
        ("u", "half", T0, "watch", 50.0),  # 50 / 100 = 0.5: passes 0.5
        ("u", "little", T0 + 1, "watch", 10.0),  # 10 / 100: dropped
        ("u", "nodur", T0 + 2, "watch", 1.0),  # no duration: passes
        ("u", "zerodur", T0 + 3, "watch", 1.0),  # duration 0 is unknown: passes
        ("u", "nosecs", T0 + 4, "watch", math.nan),  # no watch_seconds: passes
    ]
    durations = pd.Series({"half": 100.0, "little": 100.0, "zerodur": 0.0, "nosecs": 100.0})
    s = SessionSettings(long_watch_fraction=0.5)
    got = sessionize(events_frame(rows), s, durations)
    assert got["video_id"].tolist() == ["half", "nodur", "zerodur", "nosecs"]
    # Without durations every duration is unknown: nothing is dropped by the fraction.
    assert len(sessionize(events_frame(rows), s)) == 5


def test_both_thresholds_must_pass() -> None:
    rows = [
        ("u", "a", T0, "watch", 30.0),  # 30 s, 30/40: fails seconds
        ("u", "b", T0 + 1, "watch", 90.0),  # 90 s, 90/1000: fails fraction
        ("u", "c", T0 + 2, "watch", 90.0),  # 90 s, 90/100: passes both
    ]
    durations = pd.Series({"a": 40.0, "b": 1000.0, "c": 100.0})
    s = SessionSettings(long_watch_seconds=60, long_watch_fraction=0.5)
    assert sessionize(events_frame(rows), s, durations)["video_id"].tolist() == ["c"]


def test_short_watch_does_not_anchor_a_session() -> None:
    rows = [
        ("u", "short", T0, "watch", 1.0),
        ("u", "a", T0 + 20 * H, "watch", 100.0),
        ("u", "b", T0 + 30 * H, "watch", 100.0),
    ]
    got = sessionize(events_frame(rows), SessionSettings(long_watch_seconds=60))
    assert session_sets(got) == [{"a", "b"}]


def test_empty_and_all_filtered() -> None:
    empty = events_frame([])
    got = sessionize(empty, SessionSettings())
    assert list(got.columns) == list(SESSION_COLUMNS) and got.empty
    only_likes = events_frame([("u", "a", T0, "like", math.nan)])
    assert sessionize(only_likes, SessionSettings()).empty


def test_bad_settings_and_input() -> None:
    ev = events_frame(watches("u", ("a", 0)))
    for bad in (
        SessionSettings(window_hours=0),
        SessionSettings(window_hours=math.inf),
        SessionSettings(max_videos=-1),
        SessionSettings(long_watch_seconds=-1),
        SessionSettings(long_watch_fraction=math.nan),
    ):
        with pytest.raises(ConfigError):
            sessionize(ev, bad)
    with pytest.raises(InputError, match="timestamp"):
        sessionize(ev.drop(columns=["timestamp"]), SessionSettings())
    dup = pd.Series([1.0, 2.0], index=["a", "a"])
    with pytest.raises(InputError, match="durations"):
        sessionize(ev, SessionSettings(long_watch_fraction=0.5), dup)


def test_many_users_against_reference() -> None:
    """Large enough that the numpy chain walk (not only its plain-Python tail) does the work."""
    rng = np.random.default_rng(7)
    n = 20_000
    ev = pd.DataFrame(
        {
            "user_id": np.char.add("u", rng.integers(0, 400, n).astype(str)).astype(object),
            "video_id": np.char.add("v", rng.zipf(1.3, n).clip(0, 500).astype(str)).astype(object),
            "timestamp": T0 + rng.integers(0, 30 * 24 * H, n),
            "event": rng.choice(["watch", "watch", "watch", "like"], n).astype(object),
            "watch_seconds": np.where(rng.random(n) < 0.2, np.nan, rng.exponential(200, n)),
            "rating": np.nan,
        }
    )
    durations = pd.Series(rng.uniform(30, 900, 501), index=[f"v{i}" for i in range(501)])
    for s in (
        SessionSettings(),
        SessionSettings(window_hours=6, max_videos=5, long_watch_seconds=60),
        SessionSettings(window_hours=0.25, max_videos=0, long_watch_fraction=0.3),
    ):
        got = sessionize(ev, s, durations)
        assert_same(got, sessionize_ref(ev, s, durations.to_dict()))


# --- properties ------------------------------------------------------------------------------

USERS = ["a", "b", "u1", "u10", "u2", "é"]
VIDEOS = ["v0", "v1", "v2", "v10", "V3", "x"]
EVENTS = ["watch", "watch", "watch", "like", "rate"]


@st.composite
def event_sets(draw: st.DrawFn) -> pd.DataFrame:
    grid = draw(st.booleans())  # on a half-hour grid, windows edges are hit exactly
    offset = (
        st.integers(0, 6 * 24 * 2).map(lambda k: k * 1800) if grid else st.integers(0, 3 * 24 * H)
    )
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(USERS),
                st.sampled_from(VIDEOS),
                offset,
                st.sampled_from(EVENTS),
                st.one_of(st.just(math.nan), st.floats(0, 600)),
            ),
            max_size=40,
        )
    )
    return events_frame([(u, v, T0 + t, e, w) for u, v, t, e, w in rows])


session_settings = st.builds(
    SessionSettings,
    window_hours=st.one_of(
        st.sampled_from([0.5, 1.0, 6.0, 23.0, 24.0, 48.0]), st.floats(0.01, 100.0)
    ),
    max_videos=st.integers(0, 5),
    long_watch_seconds=st.one_of(st.none(), st.floats(0, 500)),
    long_watch_fraction=st.one_of(st.none(), st.floats(0, 1.5)),
)

durations_maps = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(VIDEOS),
        st.one_of(st.just(math.nan), st.just(0.0), st.floats(1, 1200)),
    ),
)


@hsettings(max_examples=300, deadline=None)
@given(
    ev=event_sets(),
    s=session_settings,
    dmap=durations_maps,
    scalar_frontier=st.sampled_from([0, 1, 2, 32]),
    packed=st.booleans(),
)
def test_sessionize_equals_reference(
    ev: pd.DataFrame,
    s: SessionSettings,
    dmap: dict[str, float] | None,
    scalar_frontier: int,
    packed: bool,
) -> None:
    durations = None if dmap is None else pd.Series(dmap, dtype="float64")
    # Exercise every code path: the numpy chain walk and its Python tail, and the int64-packed
    # sort/search keys and their overflow fallbacks (lexsort, time ranks).
    limit = sessions_mod._INT64_LIMIT if packed else 1
    with (
        mock.patch.object(sessions_mod, "_SCALAR_FRONTIER", scalar_frontier),
        mock.patch.object(sessions_mod, "_INT64_LIMIT", limit),
    ):
        got = sessionize(ev, s, durations)
    assert_same(got, sessionize_ref(ev, s, dmap))


@hsettings(max_examples=100, deadline=None)
@given(ev=event_sets(), s=session_settings)
def test_session_invariants(ev: pd.DataFrame, s: SessionSettings) -> None:
    got = sessionize(ev, s)
    if got.empty:
        return
    ids = got["session_id"].to_numpy()
    assert ids[0] == 0 and set(np.diff(ids)) <= {0, 1}  # dense, sorted
    assert not got.duplicated(["session_id", "video_id"]).any()
    span = got.groupby("session_id")["timestamp"].agg(lambda t: t.max() - t.min())
    assert (span < s.window_hours * H).all()
    assert (got.groupby("session_id")["user_id"].nunique() == 1).all()
    if s.max_videos:
        assert got.groupby("session_id").size().max() <= s.max_videos
