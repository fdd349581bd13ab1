"""The 2008 YouTube crawl (Cheng, Dale & Liu, IWQoS 2008): real video metadata and related lists.

``youtubedata.txt`` is tab-separated, without a header, one video a line::

    video_id  uploader  age  category  length  views  rate  ratings  comments  related_1..related_20

``age`` is days between YouTube's founding (2005-02-15) and the upload, ``length`` seconds,
``rate`` the mean star rating (0-5), ``ratings`` the number of ratings. A line of one field (an
id alone) is a video with no metadata; a line of 9 to 29 fields is a video with up to 20 related
ids. Anything else is a reject (``wrong column count: ...``), as are bad numbers (the reasons of
:mod:`loaders.canonical`, named by this file's columns: ``non-numeric age``, ``rate out of
range``...), bad UTF-8 and repeated ids.

:func:`read_youtube2008` returns the videos, the crawl's related lists (``crawl_related``: src,
dst, position 1-based, YouTube's order) and no events. :func:`walk_sessions` makes events from
the crawl: simulated users whose sessions are random walks over the related lists, so that a
co-visitation count over those sessions can be checked against YouTube's own lists.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from loaders.canonical import (
    R_COLUMNS,
    R_ENCODING,
    Checker,
    PathLike,
    Table,
    accepted_strings,
    decode,
    read_bytes,
    string_array,
)
from loaders.schema import DAY, RATING_RANGE, Dataset, ReadReport, empty_events
from ytgraph.errors import InputError

FILE_NAME = "youtubedata.txt"
#: 2005-02-15T00:00:00Z, YouTube's founding: ``age`` counts days from here.
YOUTUBE_EPOCH = 1_108_425_600
META_COLUMNS = ("uploader", "age", "category", "length", "views", "rate", "ratings", "comments")
MAX_RELATED = 20


def _parse(path: Path) -> tuple[Table, list[list[str]]]:
    file = str(path)
    src = decode(read_bytes(path))
    bad = set(src.bad_lines.tolist())
    ids: list[str] = []
    meta: dict[str, list[str | None]] = {name: [] for name in META_COLUMNS}
    related: list[list[str]] = []
    lines: list[int] = []
    pre_lines: list[int] = []
    pre_reasons: list[str] = []
    read = 0
    width = 1 + len(META_COLUMNS)
    for number, line in enumerate(src.lines, start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        read += 1
        if number in bad:
            pre_lines.append(number)
            pre_reasons.append(R_ENCODING)
            continue
        fields = line.split("\t")
        k = len(fields)
        if k == 1:
            values: list[str | None] = [None] * len(META_COLUMNS)
            rel: list[str] = []
        elif width <= k <= width + MAX_RELATED:
            values = list(fields[1:width])
            rel = fields[width:]
        else:
            pre_lines.append(number)
            pre_reasons.append(
                R_COLUMNS.format(got=k, expected=f"1 or {width} to {width + MAX_RELATED}")
            )
            continue
        ids.append(fields[0])
        for name, v in zip(META_COLUMNS, values, strict=True):
            meta[name].append(v)
        related.append(rel)
        lines.append(number)
    columns = {"video_id": string_array(ids)}
    columns.update({name: string_array(v) for name, v in meta.items()})
    table = Table(
        file=file,
        columns=columns,
        lines=np.asarray(lines, dtype=np.int64),
        read=read,
        raw=src.line,
        pre_lines=pre_lines,
        pre_reasons=pre_reasons,
    )
    return table, related


def read_youtube2008(path: PathLike, *, strict: bool = False) -> Dataset:
    """Read ``youtubedata.txt`` (or a folder holding it): videos, crawl_related, no events."""
    p = Path(path)
    if p.is_dir():
        p = p / FILE_NAME
    table, related = _parse(p)
    c = Checker(table)
    vid = c.text("video_id", required=True, key=True)
    channel = c.text("uploader", required=False, key=True)
    age = c.number("age", nonnegative=True)
    category = c.text("category", required=False, key=True)
    length = c.number("length", nonnegative=True)
    views = c.number("views", nonnegative=True)
    rate = c.number("rate", bounds=RATING_RANGE)
    ratings = c.number("ratings", nonnegative=True)
    comments = c.number("comments", nonnegative=True)
    assert vid is not None
    c.flag_duplicate_ids(vid)
    report: ReadReport = c.finish(strict)
    ok = c.ok

    video_ids = accepted_strings(vid, ok)
    videos = pd.DataFrame(
        {
            "video_id": video_ids,
            "channel_id": accepted_strings(channel, ok),
            "category": accepted_strings(category, ok),
            "uploaded_at": YOUTUBE_EPOCH + np.floor(age[ok] * DAY),
            "duration_seconds": length[ok],
            "views": views[ok],
            "rating_avg": rate[ok],
            "rating_count": ratings[ok],
            "comments": comments[ok],
        }
    )
    src: list[str] = []
    dst: list[str] = []
    pos: list[int] = []
    for vid_id, i in zip(video_ids, np.flatnonzero(ok), strict=True):
        for j, other in enumerate(related[i], start=1):
            other = other.strip()
            if other:
                src.append(vid_id)
                dst.append(other)
                pos.append(j)
    crawl = pd.DataFrame(
        {
            "src": pd.Series(src, dtype=object),
            "dst": pd.Series(dst, dtype=object),
            "position": np.asarray(pos, dtype=np.int64),
        }
    )
    return Dataset(events=empty_events(), videos=videos, report=report, crawl_related=crawl)


def walk_sessions(
    dataset: Dataset,
    *,
    users: int = 1_000,
    sessions_per_user: int = 5,
    session_length: int = 8,
    seed: int = 0,
    start_ts: int | None = None,
) -> pd.DataFrame:
    """Canonical ``watch`` events of simulated users walking the crawl's related lists.

    Each session starts at a video picked with probability proportional to ``views + 1`` among
    videos whose related list reaches another video of the file, then follows a related link,
    chosen uniformly, to a video that has its own line and that the session has not seen yet,
    for up to ``session_length`` videos (it ends early at a dead end). Watches in a session are
    1-10 minutes apart. A user's sessions fall on days 1-3 days apart, each starting between
    08:00 and 22:00, the first within three days of ``start_ts`` (default: midnight after the
    latest upload), so no video is watched before its upload. ``watch_seconds`` is 20-100 % of
    the duration (NaN without one). The same seed gives the same frame.
    """
    if dataset.crawl_related is None:
        raise InputError("walk_sessions needs a dataset with crawl_related (youtube2008)")
    if users < 0 or sessions_per_user < 0 or session_length < 1:
        raise InputError("walk_sessions: users and sessions_per_user >= 0, session_length >= 1")
    rng = np.random.default_rng(seed)
    vids = dataset.videos["video_id"].to_numpy(dtype=object)
    index = pd.Index(vids)
    rel = dataset.crawl_related
    s = index.get_indexer(rel["src"])
    d = index.get_indexer(rel["dst"])
    keep = (s >= 0) & (d >= 0) & (s != d)
    order = np.lexsort((rel["position"].to_numpy()[keep], s[keep]))
    src_i, dst_i = s[keep][order], d[keep][order]
    n_videos = len(vids)
    outdeg = np.bincount(src_i, minlength=n_videos)
    indptr = np.concatenate([[0], np.cumsum(outdeg)])
    videos = dataset.videos
    views = videos["views"].to_numpy(dtype=np.float64) if "views" in videos else np.zeros(n_videos)
    weight = (np.nan_to_num(views) + 1.0) * (outdeg > 0)
    n_sessions = users * sessions_per_user
    if n_sessions == 0 or weight.sum() == 0:
        return empty_events()
    path = np.full((n_sessions, session_length), -1, dtype=np.int64)
    path[:, 0] = rng.choice(n_videos, size=n_sessions, p=weight / weight.sum())
    alive = np.ones(n_sessions, dtype=bool)
    for t in range(1, session_length):
        rows = np.flatnonzero(alive)
        cur = path[rows, t - 1]
        deg = outdeg[cur]
        chosen = np.full(rows.size, -1, dtype=np.int64)
        for _ in range(4):  # a few tries to find an unseen neighbour
            todo = (chosen < 0) & (deg > 0)
            if not todo.any():
                break
            pick = indptr[cur[todo]] + (rng.random(int(todo.sum())) * deg[todo]).astype(np.int64)
            cand = dst_i[pick]
            seen = (path[rows[todo], :t] == cand[:, None]).any(axis=1)
            chosen[np.flatnonzero(todo)[~seen]] = cand[~seen]
        path[rows, t] = chosen
        alive[rows[chosen < 0]] = False
    if start_ts is None:
        uploaded = videos.get("uploaded_at")
        latest = (
            float(np.nanmax(uploaded)) if uploaded is not None and uploaded.notna().any() else 0
        )
        start_ts = (int(latest) // DAY + 1) * DAY
    session_user = np.repeat(np.arange(users), sessions_per_user)
    gaps = rng.integers(1, 4, size=(users, sessions_per_user)) * DAY
    day0 = np.cumsum(gaps, axis=1).ravel() - DAY
    session_start = start_ts + day0 + rng.integers(8 * 3600, 22 * 3600, size=n_sessions)
    steps = rng.integers(60, 601, size=(n_sessions, session_length))
    steps[:, 0] = 0
    times = session_start[:, None] + np.cumsum(steps, axis=1)
    valid = path >= 0
    flat_s, flat_t = np.nonzero(valid)  # row-major: by session, then step
    video = path[flat_s, flat_t]
    duration = (
        videos["duration_seconds"].to_numpy(dtype=np.float64)
        if "duration_seconds" in videos
        else np.full(n_videos, np.nan)
    )
    frac = rng.uniform(0.2, 1.0, size=video.size)
    width = len(str(max(users - 1, 0)))
    user_names = np.array([f"walker{u:0{width}d}" for u in range(users)], dtype=object)
    return pd.DataFrame(
        {
            "user_id": pd.Series(user_names[session_user[flat_s]], dtype=object),
            "video_id": pd.Series(vids[video], dtype=object),
            "timestamp": times[flat_s, flat_t].astype(np.int64),
            "event": pd.Series(np.full(video.size, "watch", dtype=object), dtype=object),
            "watch_seconds": np.floor(duration[video] * frac),
            "rating": np.full(video.size, np.nan),
        }
    )
