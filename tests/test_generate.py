"""The synthetic world: determinism, validity, schema, structure, and the CSV round trip."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loaders import read_canonical
from loaders.schema import ACTIONS, EVENT_COLUMNS, VIDEO_COLUMNS, empty_events
from ytgraph.errors import InputError
from ytgraph.ingest.generate import GenerateConfig, generate_world, write_world

SMALL = GenerateConfig(users=1_500, videos=1_000, days=14, seed=11)


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_world(SMALL)


def test_same_seed_same_frames(world: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, videos = generate_world(SMALL)
    pd.testing.assert_frame_equal(events, world[0])
    pd.testing.assert_frame_equal(videos, world[1])
    other_events, _ = generate_world(GenerateConfig(users=1_500, videos=1_000, days=14, seed=12))
    assert not other_events.equals(events)


def test_schema(world: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, videos = world
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert list(events.dtypes) == list(empty_events().dtypes)
    assert list(videos.columns) == ["video_id", *VIDEO_COLUMNS]
    for name, kind in VIDEO_COLUMNS.items():
        assert videos[name].dtype == (object if kind == "str" else np.float64), name
    assert videos["video_id"].dtype == object
    assert set(events["event"]) == set(ACTIONS)
    assert videos["video_id"].is_unique
    assert set(events["video_id"]) <= set(videos["video_id"])
    assert videos[list(VIDEO_COLUMNS)].drop(columns=["rating_avg"]).notna().all().all()
    assert events["timestamp"].is_monotonic_increasing


def test_no_watch_before_upload_and_inside_the_window(
    world: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    events, videos = world
    uploaded = events["video_id"].map(videos.set_index("video_id")["uploaded_at"])
    assert (events["timestamp"] >= uploaded).all()
    start = 1_704_067_200  # 2024-01-01T00:00:00Z
    assert events["timestamp"].min() >= start
    assert events["timestamp"].max() < start + (SMALL.days + 1) * 86_400
    new = videos[videos["uploaded_at"] >= start]
    assert len(new) > 0.05 * len(videos)  # some videos appear during the window ...
    watched_new = set(events["video_id"]) & set(new["video_id"])
    assert watched_new  # ... and get watched after their upload


def test_watch_seconds_and_ratings(world: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, videos = world
    watch = events[events["event"] == "watch"]
    duration = watch["video_id"].map(videos.set_index("video_id")["duration_seconds"])
    ws = watch["watch_seconds"]
    assert ws.notna().all() and (ws >= 0).all() and (ws <= duration).all()
    frac = ws / duration
    assert 0.1 < (frac < 0.2).mean() < 0.5  # a share of short, abandoned watches
    assert (frac > 0.8).mean() > 0.1  # and many near-complete ones
    others = events[events["event"] != "watch"]
    assert others["watch_seconds"].isna().all()
    rate = events[events["event"] == "rate"]["rating"]
    assert set(rate.unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0} and len(rate) > 0
    assert events.loc[events["event"] != "rate", "rating"].isna().all()


def test_action_rates_are_low_and_near_the_config(
    world: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    counts = world[0]["event"].value_counts()
    watches = counts["watch"]
    for name, rate in [
        ("like", SMALL.like_rate),
        ("favorite", SMALL.favorite_rate),
        ("rate", SMALL.rate_rate),
        ("playlist_add", SMALL.playlist_rate),
    ]:
        assert 0.6 * rate < counts[name] / watches < 1.4 * rate, name


def test_event_count_follows_the_documented_rate(
    world: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    expected = SMALL.users * SMALL.days * 0.25 * 6 * (1 + 0.04 + 0.01 + 0.02 + 0.008)
    assert SMALL.expected_events == pytest.approx(expected)
    assert 0.85 * expected < len(world[0]) < 1.15 * expected


def test_for_events_aims_at_a_target() -> None:
    cfg = GenerateConfig.for_events(50_000, days=10, seed=3)
    assert cfg.days == 10 and cfg.expected_events == pytest.approx(50_000, rel=0.01)
    events, _ = generate_world(cfg)
    assert 40_000 < len(events) < 60_000


def test_popularity_is_skewed(world: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, videos = world
    per_video = events[events["event"] == "watch"]["video_id"].value_counts()
    counts = np.sort(np.concatenate([per_video.to_numpy(), np.zeros(len(videos))]))[::-1]
    counts = counts[: len(videos)]
    top = counts[: len(videos) // 100].sum() / counts.sum()
    assert top > 0.2  # the top 1% of videos get a large share of the watches
    assert counts[len(videos) // 2] < counts.mean()  # the median video is below the mean


def test_sessions_follow_topics_and_channels(world: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, videos = world
    watch = events[events["event"] == "watch"].sort_values(["user_id", "timestamp"], kind="stable")
    meta = videos.set_index("video_id")
    cat = watch["video_id"].map(meta["category"]).to_numpy()
    chan = watch["video_id"].map(meta["channel_id"]).to_numpy()
    user = watch["user_id"].to_numpy()
    ts = watch["timestamp"].to_numpy()
    same_session = (user[1:] == user[:-1]) & (np.diff(ts) < 3 * 3600)
    same_cat = (cat[1:] == cat[:-1])[same_session].mean()
    same_chan = (chan[1:] == chan[:-1])[same_session].mean()
    # what chance would give: the probability two random watches share a category / channel
    p_cat = (pd.Series(cat).value_counts(normalize=True) ** 2).sum()
    p_chan = (pd.Series(chan).value_counts(normalize=True) ** 2).sum()
    assert same_cat > 2 * p_cat
    assert same_chan > 3 * p_chan
    # sessions are a few to tens of videos, within hours
    starts = np.concatenate([[True], ~same_session])
    lengths = np.diff(np.flatnonzero(np.concatenate([starts, [True]])))
    assert 3 < lengths.mean() < 12 and lengths.max() >= 20


def test_metadata_agrees_with_events_and_quality(
    world: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    events, videos = world
    v = videos.set_index("video_id")
    for event, column in [("watch", "views"), ("like", "likes"), ("favorite", "favorites")]:
        seen = events[events["event"] == event]["video_id"].value_counts()
        assert (v.loc[seen.index, column] >= seen).all(), column
    rates = events[events["event"] == "rate"]
    assert (v.loc[rates["video_id"].value_counts().index, "rating_count"] > 0).all()
    mean_rating = rates.groupby("video_id")["rating"].mean()
    both = pd.concat([mean_rating, v.loc[mean_rating.index, "rating_avg"]], axis=1).dropna()
    assert both.corr().iloc[0, 1] > 0.3  # ratings in events and rating_avg share a quality
    watches = events[events["event"] == "watch"]["video_id"].value_counts()
    views = v.loc[watches.index, "views"]
    assert np.corrcoef(np.log1p(watches), np.log1p(views))[0, 1] > 0.5
    assert ((v["rating_avg"] >= 0) & (v["rating_avg"] <= 5) | v["rating_avg"].isna()).all()
    assert (v["dislikes"] <= v["views"]).all() and (v["comments"] <= v["views"]).all()


def test_channels_and_categories(world: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, videos = world
    assert videos["channel_id"].nunique() == SMALL.videos // 20
    assert videos["category"].nunique() == SMALL.categories
    sizes = videos["channel_id"].value_counts()
    assert sizes.iloc[0] > 5 * sizes.median()  # channel sizes are skewed
    main_share = videos.groupby("channel_id")["category"].agg(
        lambda s: s.value_counts(normalize=True).iloc[0]
    )
    assert main_share.mean() > 0.7  # a channel mostly keeps to its main category
    title_words = videos["title"].str.split().str[0]
    assert (title_words == videos["category"]).all()
    assert [t.split("#")[-1] for t in videos["title"]] == [str(i) for i in range(len(videos))]


def test_write_world_round_trips_through_read_canonical(
    world: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    events, videos = world
    paths = write_world(events, videos, tmp_path / "out")
    assert paths == {
        "events": tmp_path / "out" / "events.csv.gz",
        "videos": tmp_path / "out" / "videos.csv",
    }
    with gzip.open(paths["events"], "rt", encoding="utf-8") as f:
        assert f.readline().strip() == ",".join(EVENT_COLUMNS)
    ds = read_canonical([paths["events"]], paths["videos"], False)
    assert ds.report.rejects == []
    assert ds.report.read == len(events) + len(videos)
    pd.testing.assert_frame_equal(ds.events, events)
    pd.testing.assert_frame_equal(ds.videos, videos)
    again = write_world(events, videos, tmp_path / "again")
    assert again["events"].read_bytes() == paths["events"].read_bytes()  # same bytes


def test_write_world_quotes_what_needs_quoting(
    world: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    events, videos = world
    videos = videos.head(3).copy()
    videos.loc[0, "title"] = 'Cats, dogs and "friends"'
    videos.loc[1, "title"] = "two\nlines"
    paths = write_world(events.head(10), videos, tmp_path)
    assert b'"Cats, dogs and ""friends"""' in paths["videos"].read_bytes()
    ds = read_canonical([paths["events"]], paths["videos"], True)
    pd.testing.assert_frame_equal(ds.videos, videos)
    pd.testing.assert_frame_equal(ds.events, events.head(10))


def test_bad_configs() -> None:
    with pytest.raises(InputError):
        generate_world(GenerateConfig(users=0))
    with pytest.raises(InputError):
        generate_world(GenerateConfig(p_neighbour=0.9, p_channel=0.2))


def test_tiny_worlds_work() -> None:
    events, videos = generate_world(GenerateConfig(users=1, videos=1, days=1, seed=0))
    assert len(videos) == 1
    assert set(events["video_id"]) <= {"v0"}
    many_topics, _ = generate_world(GenerateConfig(users=50, videos=30, categories=25, seed=0))
    assert len(many_topics) > 0


@pytest.mark.slow
def test_a_million_event_world_has_the_expected_size() -> None:
    """The documented events-per-user-day holds at scale (speed is measured in bench/)."""
    cfg = GenerateConfig(users=20_000, videos=20_000, days=30, seed=1)
    events, _ = generate_world(cfg)
    assert 850_000 < len(events) < 1_150_000
    assert abs(len(events) - cfg.expected_events) / cfg.expected_events < 0.1
