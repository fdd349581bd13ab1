"""MovieLens: the real ml-latest-small in place, and small hand-made folders."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loaders import read_dataset, read_movielens
from loaders.schema import Dataset, Reject, empty_events
from ytgraph.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("YTGRAPH_DATA", REPO / ".." / "shared" / "data"))


def need_data() -> Path:
    """The real data folder, or a test failure (not a skip) when it is missing."""
    d = data_dir() / "ml-latest-small"
    if not (d / "ratings.csv").is_file():
        pytest.fail(f"real data missing: {d} (set YTGRAPH_DATA to the shared data folder)")
    return d


@pytest.fixture
def ml_dir() -> Path:
    return need_data()


_CACHE: dict[str, Dataset] = {}


@pytest.fixture
def ml() -> Dataset:
    """Read once per session; a missing folder fails the test that asks."""
    d = need_data()
    if "ml" not in _CACHE:
        _CACHE["ml"] = read_movielens(d)
    return _CACHE["ml"]


def plain_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


# ---------------------------------------------------------------------------------------------
# the real data


@pytest.mark.realdata
def test_real_ratings_become_watch_and_rate_events(ml_dir: Path, ml: Dataset) -> None:
    rows = plain_rows(ml_dir / "ratings.csv")
    assert rows[0] == ["1", "6", "2.0", "980730861"]  # no header in this copy
    assert len(rows) == 100_023  # the README's figure
    assert len(ml.events) == 2 * len(rows) == 200_046
    watch = ml.events.iloc[0::2]
    rate = ml.events.iloc[1::2]
    assert set(watch["event"]) == {"watch"} and set(rate["event"]) == {"rate"}
    for part in (watch, rate):
        assert part["user_id"].tolist() == [r[0] for r in rows]
        assert part["video_id"].tolist() == [r[1] for r in rows]
        assert part["timestamp"].tolist() == [int(r[3]) for r in rows]
    assert rate["rating"].tolist() == [float(r[2]) for r in rows]
    assert watch["rating"].isna().all() and ml.events["watch_seconds"].isna().all()
    assert list(ml.events.dtypes) == list(empty_events().dtypes)
    assert ml.events["user_id"].nunique() == 706  # README: 706 users
    assert ml.events["timestamp"].min() >= 828_316_800  # 1996-04-01, README: from 1996-04


@pytest.mark.realdata
def test_real_movies(ml_dir: Path, ml: Dataset) -> None:
    rows = plain_rows(ml_dir / "movies.csv")
    assert len(rows) == 8_570
    videos = ml.videos
    assert videos["video_id"].tolist() == [r[0] for r in rows]
    assert videos["title"].tolist() == [r[1].strip() for r in rows]  # text is stripped
    first = [None if r[2] == "(no genres listed)" else r[2].split("|")[0] for r in rows]
    assert videos["category"].tolist() == first
    assert videos.loc[videos["video_id"] == "11", "title"].item() == (
        "American President, The (1995)"
    )
    assert videos.loc[videos["video_id"] == "1", "genres"].item() == (
        "Adventure|Animation|Children|Comedy|Fantasy"
    )
    assert sum(r[2] == "(no genres listed)" for r in rows) == videos["genres"].isna().sum() >= 1


@pytest.mark.realdata
def test_real_report_counts(ml: Dataset) -> None:
    assert ml.report.read == 100_023 + 8_570
    assert ml.report.accepted == ml.report.read
    assert ml.report.rejects == []


@pytest.mark.realdata
def test_real_via_read_dataset_and_ratings_path(ml_dir: Path, ml: Dataset) -> None:
    other = read_dataset("movielens", [ml_dir / "ratings.csv"], None, False)
    pd.testing.assert_frame_equal(other.events, ml.events)
    pd.testing.assert_frame_equal(other.videos, ml.videos)


# ---------------------------------------------------------------------------------------------
# hand-made folders


RATINGS = "1,10,4.0,1000\n1,20,2.5,1060\n2,10,5.0,2000\n"
MOVIES = '10,"Heat, The (1995)",Action|Crime\n20,Quiet,(no genres listed)\n30,Extra,Drama\n'


def folder(tmp_path: Path, ratings: str, movies: str | None = MOVIES, name: str = "ml") -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "ratings.csv").write_text(ratings, encoding="utf-8", newline="")
    if movies is not None:
        (d / "movies.csv").write_text(movies, encoding="utf-8", newline="")
    return d


def test_small_folder_by_hand(tmp_path: Path) -> None:
    ds = read_movielens(folder(tmp_path, RATINGS))
    expected = pd.DataFrame(
        {
            "user_id": pd.Series(["1", "1", "1", "1", "2", "2"], dtype=object),
            "video_id": pd.Series(["10", "10", "20", "20", "10", "10"], dtype=object),
            "timestamp": np.array([1000, 1000, 1060, 1060, 2000, 2000], dtype=np.int64),
            "event": pd.Series(["watch", "rate"] * 3, dtype=object),
            "watch_seconds": [np.nan] * 6,
            "rating": [np.nan, 4.0, np.nan, 2.5, np.nan, 5.0],
        }
    )
    pd.testing.assert_frame_equal(ds.events, expected)
    videos = pd.DataFrame(
        {
            "video_id": pd.Series(["10", "20", "30"], dtype=object),
            "title": pd.Series(["Heat, The (1995)", "Quiet", "Extra"], dtype=object),
            "category": pd.Series(["Action", None, "Drama"], dtype=object),
            "genres": pd.Series(["Action|Crime", None, "Drama"], dtype=object),
        }
    )
    pd.testing.assert_frame_equal(ds.videos, videos)
    assert (ds.report.read, ds.report.accepted) == (6, 6)


def test_header_rows_are_detected(tmp_path: Path) -> None:
    plain = read_movielens(folder(tmp_path, RATINGS, name="a"))
    with_header = read_movielens(
        folder(
            tmp_path,
            "userId,movieId,rating,timestamp\n" + RATINGS,
            "movieId,title,genres\n" + MOVIES,
            name="b",
        )
    )
    pd.testing.assert_frame_equal(plain.events, with_header.events)
    pd.testing.assert_frame_equal(plain.videos, with_header.videos)
    other_names = read_movielens(folder(tmp_path, "user,item,stars,when\n" + RATINGS, name="c"))
    pd.testing.assert_frame_equal(plain.events, other_names.events)
    assert other_names.report.rejects == []


def test_crlf_and_gzip_free_ratings_path(tmp_path: Path) -> None:
    d = folder(tmp_path, RATINGS.replace("\n", "\r\n"), MOVIES.replace("\n", "\r\n"))
    ds = read_movielens(d / "ratings.csv")  # movies.csv beside it is found
    assert ds.events["timestamp"].tolist() == [1000, 1000, 1060, 1060, 2000, 2000]
    assert ds.videos["title"].tolist() == ["Heat, The (1995)", "Quiet", "Extra"]


def test_rejects_with_line_numbers(tmp_path: Path) -> None:
    ratings = (
        "userId,movieId,rating,timestamp\n"  # 1
        "1,10,4.0,1000\n"  # 2
        "1,,4.0,1000\n"  # 3
        "1,10,6.0,1000\n"  # 4
        "1,10,good,1000\n"  # 5
        "1,10,,1000\n"  # 6
        "1,10,3.0,yesterday\n"  # 7
        "1,10,3.0\n"  # 8
        "2,20,1.0,3000\n"  # 9
    )
    movies = "10,A,Drama\n10,B,Drama\n20,C\n"
    d = folder(tmp_path, ratings, movies)
    ds = read_movielens(d)
    r, m = str(d / "ratings.csv"), str(d / "movies.csv")
    assert ds.report.rejects == [
        Reject(r, 3, "missing video_id", "1,,4.0,1000"),
        Reject(r, 4, "rating out of range", "1,10,6.0,1000"),
        Reject(r, 5, "non-numeric rating", "1,10,good,1000"),
        Reject(r, 6, "missing rating", "1,10,,1000"),
        Reject(r, 7, "unparseable timestamp", "1,10,3.0,yesterday"),
        Reject(r, 8, "wrong column count: 3 fields, expected 4", "1,10,3.0"),
        Reject(m, 2, "duplicate video_id", "10,B,Drama"),
        Reject(m, 3, "wrong column count: 2 fields, expected 3", "20,C"),
    ]
    assert (ds.report.read, ds.report.accepted) == (8 + 3, 2 + 1)
    assert len(ds.events) == 4


def test_first_row_with_numbers_is_data_even_if_bad(tmp_path: Path) -> None:
    ds = read_movielens(folder(tmp_path, "1,10,abc,1000\n" + RATINGS, None))
    assert [(x.line, x.reason) for x in ds.report.rejects] == [(1, "non-numeric rating")]
    assert len(ds.events) == 6
    assert len(ds.videos) == 0


def test_strict(tmp_path: Path) -> None:
    d = folder(tmp_path, RATINGS + "3,30,9,100\n")
    with pytest.raises(InputError, match=r"ratings\.csv line 4: rating out of range$"):
        read_movielens(d, strict=True)


def test_movies_path_override(tmp_path: Path) -> None:
    d = folder(tmp_path, RATINGS, None)
    other = tmp_path / "films.csv"
    other.write_text("10,Only one,Comedy\n", encoding="utf-8")
    ds = read_movielens(d / "ratings.csv", movies_path=other)
    assert ds.videos["title"].tolist() == ["Only one"]
    via = read_dataset("movielens", [d], other, False)
    pd.testing.assert_frame_equal(via.videos, ds.videos)


def test_unusable_inputs(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"no ratings\.csv"):
        read_movielens(empty)
    with pytest.raises(InputError, match="file not found"):
        read_movielens(tmp_path / "nowhere" / "ratings.csv")
    with pytest.raises(InputError, match="one folder or ratings file"):
        read_dataset("movielens", [], None, False)
