"""MovieLens (``ml-latest-small`` and friends) as canonical events and videos.

``ratings.csv`` is ``userId,movieId,rating,timestamp`` (epoch seconds) and ``movies.csv`` is
``movieId,title,genres`` (genres joined by ``|``). GroupLens ships both with a header row; the
copy in ``shared/data`` has none, so the first row is taken as a header only when it looks like
one (the known column names, or no number where the numbers go).

A rating is an explicit action, and rating a movie means having seen it: each rating becomes a
``watch`` event followed by a ``rate`` event (with the rating) at the same timestamp, so N
accepted ratings give 2N events. ``movies.csv`` gives ``title``, ``category`` (the first genre;
``(no genres listed)`` is missing) and an extra ``genres`` column (the ``|``-joined list, missing
likewise). Ids become strings. Bad rows are rejects with their line numbers, as in
:mod:`loaders.canonical` (the same reason strings, with canonical column names: a bad
``userId`` is ``missing user_id``); the report counts rating rows and movie rows read.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from loaders.canonical import (
    NUMBER_RE,
    Checker,
    PathLike,
    Records,
    Table,
    accepted_strings,
    csv_records,
    decode,
    read_bytes,
    table_from_records,
)
from loaders.schema import RATING_RANGE, Dataset, empty_videos
from ytgraph.errors import InputError

RATINGS_COLUMNS = ("user_id", "video_id", "rating", "timestamp")
MOVIES_COLUMNS = ("video_id", "title", "genres")
NO_GENRES = "(no genres listed)"


def _find(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _first_row(recs: Records) -> list[str] | None:
    if len(recs) == 0 or recs.problem[0] is not None:
        return None
    return [v.strip().lower() for v in recs.row(0)]


def _is_number(text: str) -> bool:
    return re.fullmatch(NUMBER_RE, text.strip()) is not None


def ratings_has_header(recs: Records) -> bool:
    """True when the first record is a header: the known names, or no number in it at all."""
    row = _first_row(recs)
    if row is None:
        return False
    if row[:4] == ["userid", "movieid", "rating", "timestamp"]:
        return True
    return len(row) == 4 and not any(_is_number(v) for v in row)


def movies_has_header(recs: Records) -> bool:
    """True when the first record is a header (``movieId,title,genres`` or the like)."""
    row = _first_row(recs)
    if row is None:
        return False
    return row[0] == "movieid" or (len(row) == 3 and row[1:] == ["title", "genres"])


def _table(path: Path, names: tuple[str, ...], kind: str) -> Table:
    recs = csv_records(decode(read_bytes(path)), fixed_width=True)
    header = ratings_has_header(recs) if kind == "ratings" else movies_has_header(recs)
    return table_from_records(recs, str(path), names, names, skip_first=header)


def _ratings(path: Path) -> tuple[pd.DataFrame, Checker]:
    c = Checker(_table(path, RATINGS_COLUMNS, "ratings"))
    user = c.text("user_id", required=True, key=True)
    video = c.text("video_id", required=True, key=True)
    rating = c.number("rating", required=True, bounds=RATING_RANGE)
    ts = c.time("timestamp", required=True)
    ok = c.ok
    k = int(ok.sum())
    users = accepted_strings(user, ok).to_numpy()
    videos = accepted_strings(video, ok).to_numpy()
    ratings = np.empty(2 * k)
    ratings[0::2] = np.nan
    ratings[1::2] = rating[ok]
    events = pd.DataFrame(
        {
            "user_id": pd.Series(np.repeat(users, 2), dtype=object),
            "video_id": pd.Series(np.repeat(videos, 2), dtype=object),
            "timestamp": np.repeat(ts[ok].astype(np.int64), 2),
            "event": pd.Series(np.tile(np.array(["watch", "rate"], dtype=object), k), dtype=object),
            "watch_seconds": np.full(2 * k, np.nan),
            "rating": ratings,
        }
    )
    return events, c


def _movies(path: Path) -> tuple[pd.DataFrame, Checker]:
    c = Checker(_table(path, MOVIES_COLUMNS, "movies"))
    vid = c.text("video_id", required=True, key=True)
    title = c.text("title", required=False)
    genres = c.text("genres", required=False, key=True)  # its first genre is the category
    c.flag_duplicate_ids(vid)
    ok = c.ok
    g = accepted_strings(genres, ok)
    g = g.where(g != NO_GENRES, None)
    category = g.str.split("|", n=1).str[0]
    videos = pd.DataFrame(
        {
            "video_id": accepted_strings(vid, ok),
            "title": accepted_strings(title, ok),
            "category": pd.Series(category.where(g.notna(), None), dtype=object),
            "genres": pd.Series(g, dtype=object),
        }
    )
    return videos, c


def read_movielens(
    dir_or_ratings_path: PathLike,
    *,
    strict: bool = False,
    movies_path: PathLike | None = None,
) -> Dataset:
    """Read a MovieLens folder (``ratings.csv`` and, if present, ``movies.csv``) or a ratings file.

    Given a ratings file, ``movies.csv`` beside it is read too unless ``movies_path`` names
    another. Without a movies file the videos table is empty.
    """
    p = Path(dir_or_ratings_path)
    if p.is_dir():
        ratings = _find(p, "ratings")
        if ratings is None:
            raise InputError(f"{p}: no ratings.csv in this folder")
        movies = Path(movies_path) if movies_path is not None else _find(p, "movies")
    else:
        ratings = p
        movies = Path(movies_path) if movies_path is not None else _find(p.parent, "movies")
    events, rc = _ratings(ratings)
    report = rc.finish(strict)
    if movies is not None:
        videos, mc = _movies(movies)
        report = report.merge(mc.finish(strict))
    else:
        videos = empty_videos()
    return Dataset(events=events, videos=videos, report=report)
