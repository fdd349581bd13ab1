"""The 2008 YouTube crawl: the real file in place, a hand-made one, and the session walker."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loaders import read_dataset, read_youtube2008, walk_sessions
from loaders.schema import (
    DAY,
    EVENT_COLUMNS,
    Dataset,
    ReadReport,
    Reject,
    empty_events,
    empty_videos,
)
from ytgraph.errors import InputError

REPO = Path(__file__).resolve().parents[1]
FOUNDED = int(datetime(2005, 2, 15, tzinfo=UTC).timestamp())


def data_dir() -> Path:
    return Path(os.environ.get("YTGRAPH_DATA", REPO / ".." / "shared" / "data"))


def need_data() -> Path:
    """The real file, or a test failure (not a skip) when it is missing."""
    f = data_dir() / "youtube-2008" / "youtubedata.txt"
    if not f.is_file():
        pytest.fail(f"real data missing: {f} (set YTGRAPH_DATA to the shared data folder)")
    return f


_CACHE: dict[str, Any] = {}


@pytest.fixture
def yt_file() -> Path:
    return need_data()


@pytest.fixture
def yt() -> Dataset:
    f = need_data()
    if "yt" not in _CACHE:
        _CACHE["yt"] = read_youtube2008(f)
    ds: Dataset = _CACHE["yt"]
    return ds


@pytest.fixture
def plain() -> list[list[str]]:
    """The file split with plain Python: CRLF lines, tab fields."""
    f = need_data()
    if "plain" not in _CACHE:
        lines = f.read_bytes().split(b"\r\n")
        assert lines[-1] == b""
        _CACHE["plain"] = [line.decode("utf-8").split("\t") for line in lines[:-1]]
    rows: list[list[str]] = _CACHE["plain"]
    return rows


# ---------------------------------------------------------------------------------------------
# the real file


@pytest.mark.realdata
def test_real_file_shape_matches_readme(yt_file: Path, plain: list[list[str]]) -> None:
    raw = yt_file.read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n") == 4_100  # README: 4,100 lines, CRLF
    assert len(plain) == 4_100
    assert sum(len(f) == 1 for f in plain) == 34  # README: 34 lines hold only an id
    ids = {f[0] for f in plain}
    edges = [d for f in plain for d in f[9:] if d]
    assert len(edges) == 60_562  # README: 60,562 edges ...
    assert sum(d in ids for d in edges) == 13_461  # ... 13,461 between two listed videos


@pytest.mark.realdata
def test_real_videos(yt: Dataset, plain: list[list[str]]) -> None:
    v = yt.videos
    assert len(v) == 4_100 and yt.report.rejects == []
    assert (yt.report.read, yt.report.accepted) == (4_100, 4_100)
    assert v["video_id"].tolist() == [f[0] for f in plain]
    full = [f for f in plain if len(f) > 1]
    meta = v[v["channel_id"].notna()]
    assert meta["channel_id"].tolist() == [f[1] for f in full]
    assert meta["category"].tolist() == [f[3].strip() for f in full]
    assert meta["uploaded_at"].tolist() == [FOUNDED + int(f[2]) * DAY for f in full]
    assert meta["duration_seconds"].tolist() == [float(f[4]) for f in full]
    assert meta["views"].tolist() == [float(f[5]) for f in full]
    assert meta["rating_avg"].tolist() == [float(f[6]) for f in full]
    assert meta["rating_count"].tolist() == [float(f[7]) for f in full]
    assert meta["comments"].tolist() == [float(f[8]) for f in full]
    assert (v["category"] == "UNA").sum() == 32  # " UNA " with its stray spaces stripped
    bare = v[v["channel_id"].isna()]
    assert len(bare) == 34
    assert bare.drop(columns=["video_id"]).isna().all().all()
    # the first line by hand: QuRYeRnAuXM EvilSquirrelPictures 1135 "Pets & Animals" 252 ...
    first = v.iloc[0]
    assert (first["video_id"], first["channel_id"], first["category"]) == (
        "QuRYeRnAuXM",
        "EvilSquirrelPictures",
        "Pets & Animals",
    )
    assert first["uploaded_at"] == 1_206_489_600  # 2008-03-26
    assert (first["duration_seconds"], first["views"], first["rating_avg"]) == (252, 1075, 4.96)


@pytest.mark.realdata
def test_real_related_lists(yt: Dataset, plain: list[list[str]]) -> None:
    expected = [(f[0], d, j) for f in plain for j, d in enumerate(f[9:], start=1) if d]
    rel = yt.crawl_related
    assert rel is not None
    got = list(zip(rel["src"], rel["dst"], rel["position"].astype(int), strict=True))
    assert got == expected
    assert rel["position"].dtype == np.int64
    assert len(yt.events) == 0 and list(yt.events.dtypes) == list(empty_events().dtypes)


@pytest.mark.realdata
def test_real_walks_follow_youtube_related_lists(yt: Dataset, plain: list[list[str]]) -> None:
    ev = walk_sessions(yt, users=300, sessions_per_user=4, session_length=8, seed=7)
    assert list(ev.columns) == list(EVENT_COLUMNS)
    assert list(ev.dtypes) == list(empty_events().dtypes)
    ids = {f[0] for f in plain}
    edges = {(f[0], d) for f in plain for d in f[9:] if d in ids}
    duration = {f[0]: float(f[4]) for f in plain if len(f) > 1}
    uploaded = {f[0]: FOUNDED + int(f[2]) * DAY for f in plain if len(f) > 1}
    assert set(ev["video_id"]) <= ids
    assert (ev["event"] == "watch").all()
    assert ev["user_id"].nunique() == 300
    n_pairs = 0
    for _, user in ev.groupby("user_id", sort=False):
        ts = user["timestamp"].to_numpy()
        vids = user["video_id"].tolist()
        gaps = np.diff(ts)
        assert (gaps > 0).all()
        new_session = gaps > 3600  # inside a session watches are 1-10 minutes apart
        # sessions fall on different days (8:00-22:00), so they are at least ~8 h apart
        assert ((gaps >= 60) & (gaps <= 600) | (gaps >= 8 * 3600)).all()
        assert new_session.sum() == 3  # four sessions
        for k, gap_is_new in enumerate(new_session):
            if not gap_is_new:
                assert (vids[k], vids[k + 1]) in edges
                n_pairs += 1
    assert n_pairs > 1_000
    ws = ev["watch_seconds"].to_numpy()
    dur = np.array([duration[v] for v in ev["video_id"]])
    assert (ws <= dur).all() and (ws >= 0).all()
    assert (ev["timestamp"].to_numpy() > np.array([uploaded[v] for v in ev["video_id"]])).all()
    again = walk_sessions(yt, users=300, sessions_per_user=4, session_length=8, seed=7)
    pd.testing.assert_frame_equal(ev, again)


@pytest.mark.realdata
def test_real_via_read_dataset(yt_file: Path, yt: Dataset) -> None:
    a = read_dataset("youtube2008", [], yt_file, False)
    b = read_dataset("youtube2008", [yt_file.parent], None, False)
    pd.testing.assert_frame_equal(a.videos, yt.videos)
    pd.testing.assert_frame_equal(b.videos, yt.videos)


# ---------------------------------------------------------------------------------------------
# a hand-made file


LINES = [
    b"a\tup1\t10\t Music \t100\t5\t4.5\t2\t1\tb\tc\tzz",  # 1
    b"b",  # 2: an id alone
    b"c\tup2\t0\tComedy\t60\t7\t3\t1\t0",  # 3: no related
    b"d\tup3\tx\tComedy\t60\t7\t3\t1\t0",  # 4
    b"e\tup3\t1\tComedy",  # 5
    b"f\tup3\t1\tComedy\t60\t7\t6\t1\t0",  # 6
    b"a",  # 7
    b"\xffq\tup",  # 8
    b"g\tup\t1\tX\t-5\t1\t1\t1\t1",  # 9
    b"",  # 10: blank
    b"h\tup4\t2\tComedy\t30\t1\t0\t0\t0\t\ta",  # 11: an empty related slot keeps positions
]


def test_hand_made_file(tmp_path: Path) -> None:
    p = tmp_path / "youtubedata.txt"
    p.write_bytes(b"\r\n".join(LINES) + b"\r\n")
    ds = read_youtube2008(p)
    f = str(p)
    assert ds.report.rejects == [
        Reject(f, 4, "non-numeric age", "d\tup3\tx\tComedy\t60\t7\t3\t1\t0"),
        Reject(f, 5, "wrong column count: 4 fields, expected 1 or 9 to 29", "e\tup3\t1\tComedy"),
        Reject(f, 6, "rate out of range", "f\tup3\t1\tComedy\t60\t7\t6\t1\t0"),
        Reject(f, 7, "duplicate video_id", "a"),
        Reject(f, 8, "bad encoding", "\ufffdq\tup"),
        Reject(f, 9, "negative length", "g\tup\t1\tX\t-5\t1\t1\t1\t1"),
    ]
    assert (ds.report.read, ds.report.accepted) == (10, 4)
    nan = np.nan
    expected = pd.DataFrame(
        {
            "video_id": pd.Series(["a", "b", "c", "h"], dtype=object),
            "channel_id": pd.Series(["up1", None, "up2", "up4"], dtype=object),
            "category": pd.Series(["Music", None, "Comedy", "Comedy"], dtype=object),
            "uploaded_at": [FOUNDED + 10.0 * DAY, nan, float(FOUNDED), FOUNDED + 2.0 * DAY],
            "duration_seconds": [100.0, nan, 60.0, 30.0],
            "views": [5.0, nan, 7.0, 1.0],
            "rating_avg": [4.5, nan, 3.0, 0.0],
            "rating_count": [2.0, nan, 1.0, 0.0],
            "comments": [1.0, nan, 0.0, 0.0],
        }
    )
    pd.testing.assert_frame_equal(ds.videos, expected)
    assert ds.crawl_related is not None
    got = list(ds.crawl_related.itertuples(index=False, name=None))
    assert got == [("a", "b", 1), ("a", "c", 2), ("a", "zz", 3), ("h", "a", 2)]


def test_strict_and_unusable(tmp_path: Path) -> None:
    p = tmp_path / "youtubedata.txt"
    p.write_bytes(b"\r\n".join(LINES[:5]) + b"\r\n")
    with pytest.raises(InputError, match=r"youtubedata\.txt line 4: non-numeric age$"):
        read_youtube2008(p, strict=True)
    with pytest.raises(InputError, match="file not found"):
        read_youtube2008(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="file not found"):
        read_youtube2008(tmp_path / "emptydir")
    with pytest.raises(InputError, match="one file"):
        read_dataset("youtube2008", [p], p, False)


# ---------------------------------------------------------------------------------------------
# the walker on a tiny crawl


def tiny_crawl() -> Dataset:
    """a -> b -> c -> a in a ring, c also -> d (which has no line), e alone."""
    videos = pd.DataFrame(
        {
            "video_id": pd.Series(["a", "b", "c", "e"], dtype=object),
            "uploaded_at": [0.0, 0.0, 1000.0, 0.0],
            "duration_seconds": [100.0, 200.0, np.nan, 50.0],
            "views": [10.0, 1.0, 1.0, 1000.0],
        }
    )
    related = pd.DataFrame(
        {
            "src": pd.Series(["a", "b", "c", "c"], dtype=object),
            "dst": pd.Series(["b", "c", "d", "a"], dtype=object),
            "position": np.array([1, 1, 1, 2], dtype=np.int64),
        }
    )
    return Dataset(events=empty_events(), videos=videos, report=ReadReport(), crawl_related=related)


def test_walks_on_a_ring() -> None:
    ds = tiny_crawl()
    ev = walk_sessions(ds, users=5, sessions_per_user=3, session_length=5, seed=3)
    ring = {("a", "b"), ("b", "c"), ("c", "a")}
    assert "e" not in set(ev["video_id"])  # no related video with a line: never a start
    assert "d" not in set(ev["video_id"])  # no line: never visited
    for _, user in ev.groupby("user_id"):
        vids = user["video_id"].tolist()
        gaps = np.diff(user["timestamp"].to_numpy())
        sessions = np.split(np.array(vids, dtype=object), np.flatnonzero(gaps > 3600) + 1)
        assert len(sessions) == 3
        for s in sessions:
            # a ring of three, no repeats: a session is at most three videos long
            assert 1 <= len(s) <= 3 and len(set(s)) == len(s)
            assert all((x, y) in ring for x, y in itertools.pairwise(s))
    # default start: midnight after the last upload (1000 s), first session from 8:00
    assert ev["timestamp"].min() >= DAY + 8 * 3600
    c = ev[ev["video_id"] == "c"]
    assert c["watch_seconds"].isna().all()  # no duration, no watch length
    a = ev[ev["video_id"] == "a"]["watch_seconds"]
    assert ((a >= 20) & (a <= 100)).all()


def test_walks_are_deterministic_per_seed() -> None:
    ds = tiny_crawl()
    one = walk_sessions(ds, users=20, sessions_per_user=2, session_length=3, seed=1)
    two = walk_sessions(ds, users=20, sessions_per_user=2, session_length=3, seed=1)
    other = walk_sessions(ds, users=20, sessions_per_user=2, session_length=3, seed=2)
    pd.testing.assert_frame_equal(one, two)
    assert not one.equals(other)


def test_walk_needs_a_crawl() -> None:
    ds = Dataset(events=empty_events(), videos=empty_videos(), report=ReadReport())
    with pytest.raises(InputError, match="crawl_related"):
        walk_sessions(ds)
