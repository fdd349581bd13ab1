"""Cut watch events into sessions: the unit of co-visitation (Davidson et al. 2010, section 2.2).

Two videos are co-visited when one user watched both within one session. The rules, in order:

1. Only ``watch`` events count; likes, favorites, ratings and playlist adds are seeds, not visits.
2. Long-watch filter (optional). ``long_watch_seconds`` keeps a watch only if
   ``watch_seconds >= long_watch_seconds``; ``long_watch_fraction`` keeps it only if
   ``watch_seconds / duration >= long_watch_fraction``. With both set, a watch must pass both.
   **A threshold removes only watches it knows to be short**: a watch whose ``watch_seconds`` is
   missing (NaN), or, for the fraction, whose video has no known positive duration (not in
   ``durations``, NaN, or <= 0; or ``durations`` not given at all), passes. Dropping them instead
   would empty the graph of every data set that does not record watch lengths. Filtered watches are
   gone before sessions are cut, so a short watch neither starts nor extends a session.
3. Anchored windows. Per user, in time order, a session starts at a watch and holds every watch
   with ``timestamp < start + window`` (``window = window_hours`` hours); the first watch at or
   after ``start + window`` starts the next session. A session therefore never spans more than the
   window (watches at 0h, 20h, 30h with a 24h window: {0h, 20h}, {30h}), unlike a gap rule, where
   a steady viewer would be one endless session. Watches with the same timestamp always share a
   session.
4. A video watched twice in one session counts once; its row carries the first watch's timestamp.
5. Cap. A session with more than ``max_videos`` distinct videos keeps its first ``max_videos``
   (by first-watch time, then video id). The default 100 is far above what a person watches in a
   day but bounds the damage of a looping player or a crawler, whose n videos would otherwise add
   n(n-1)/2 co-visitation pairs of noise to every count they touch. ``max_videos = 0`` means no cap.

Session ids are dense ``0..S-1``, ordered by ``user_id`` (string order), then session start.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ytgraph.config import SessionSettings
from ytgraph.errors import ConfigError, InputError

SESSION_COLUMNS = ("user_id", "session_id", "video_id", "timestamp")
_REQUIRED = ("user_id", "video_id", "timestamp", "event")
_INT64_LIMIT = 2**62  # head room below 2**63 for the packed sort keys
# Below this many users still walking their session chains, plain Python beats numpy call overhead.
_SCALAR_FRONTIER = 32


def empty_sessions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": pd.Series([], dtype=object),
            "session_id": pd.Series([], dtype="int64"),
            "video_id": pd.Series([], dtype=object),
            "timestamp": pd.Series([], dtype="int64"),
        }
    )


def check_settings(settings: SessionSettings) -> None:
    """Raise ConfigError for a setting that cannot describe sessions."""
    w = settings.window_hours
    if not (isinstance(w, int | float) and math.isfinite(w) and w > 0):
        raise ConfigError(f"sessions.window_hours must be a positive number of hours, not {w!r}")
    if settings.max_videos < 0:
        raise ConfigError(
            f"sessions.max_videos must be >= 0 (0: no cap), not {settings.max_videos}"
        )
    for name in ("long_watch_seconds", "long_watch_fraction"):
        value = getattr(settings, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"sessions.{name} must be empty or a number >= 0, not {value!r}")


def window_seconds(settings: SessionSettings) -> int:
    """The window as whole seconds W with ``t < start + window_hours*3600  <=>  t - start < W``.

    Timestamps are integer seconds, so for an integer difference d, ``d < w`` holds exactly when
    ``d < ceil(w)``.
    """
    return max(1, math.ceil(settings.window_hours * 3600.0))


def counted_watches(
    events: pd.DataFrame, settings: SessionSettings, durations: pd.Series | None = None
) -> np.ndarray:
    """Which watches count towards co-visitation: those passing the long-watch filter, all when
    no threshold is set (see module doc)."""
    n = len(events)
    keep = np.ones(n, dtype=bool)
    if settings.long_watch_seconds is None and settings.long_watch_fraction is None:
        return keep
    if "watch_seconds" in events.columns:
        secs = pd.to_numeric(events["watch_seconds"], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    else:
        secs = np.full(n, np.nan)
    known = ~np.isnan(secs)
    if settings.long_watch_seconds is not None:
        keep &= ~known | (secs >= settings.long_watch_seconds)
    if settings.long_watch_fraction is not None and durations is not None and n:
        if durations.index.has_duplicates:
            raise InputError("durations: a video id occurs more than once in the index")
        dur = pd.to_numeric(events["video_id"].map(durations), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        has = known & (dur > 0)  # NaN > 0 is False
        frac = np.divide(secs, dur, out=np.zeros(n), where=has)
        keep &= ~has | (frac >= settings.long_watch_fraction)
    return keep


def sessionize(
    events: pd.DataFrame,
    settings: SessionSettings,
    durations: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per (session, video): ``user_id, session_id, video_id, timestamp``.

    ``events`` holds canonical events (see ``loaders.schema``); ``durations`` maps ``video_id`` to
    ``duration_seconds`` for the fraction test. Rows come sorted by session_id, timestamp, video_id.
    The rules are in the module docstring.
    """
    check_settings(settings)
    missing = [c for c in _REQUIRED if c not in events.columns]
    if missing:
        raise InputError(f"events: missing column(s) {', '.join(missing)}")
    watches = events[(events["event"] == "watch").to_numpy(dtype=bool, na_value=False)]
    counted = counted_watches(watches, settings, durations)
    if not counted.all():
        watches = watches[counted]
    if watches.empty:
        return empty_sessions()

    ucode, users = pd.factorize(watches["user_id"], sort=True)
    vcode, videos = pd.factorize(watches["video_id"], sort=True)
    if (ucode < 0).any() or (vcode < 0).any():
        raise InputError("events: a watch has no user_id or no video_id")
    ts = watches["timestamp"].to_numpy(dtype=np.int64)
    ucode = ucode.astype(np.int64)
    vcode = vcode.astype(np.int64)
    order = _sort_order(ucode, ts, vcode, len(videos))
    ucode, ts, vcode = ucode[order], ts[order], vcode[order]

    session = _anchored_sessions(ucode, ts, window_seconds(settings))

    # First watch of each video in each session: rows are in time order within a session.
    first = ~pd.Series(session * len(videos) + vcode).duplicated().to_numpy()
    session, ts, vcode, ucode = session[first], ts[first], vcode[first], ucode[first]
    if settings.max_videos > 0:
        keep = position_in_group(session) < settings.max_videos
        session, ts, vcode, ucode = session[keep], ts[keep], vcode[keep], ucode[keep]

    return pd.DataFrame(
        {
            "user_id": users.take(ucode).array,
            "session_id": session,
            "video_id": videos.take(vcode).array,
            "timestamp": ts,
        }
    )


def _sort_order(ucode: np.ndarray, ts: np.ndarray, vcode: np.ndarray, n_videos: int) -> np.ndarray:
    """Indices that sort by (user, timestamp, video); one packed int64 argsort when it fits."""
    tmin, tmax = int(ts.min()), int(ts.max())
    span = tmax - tmin + 1
    n_users = int(ucode.max()) + 1
    if n_users * span * max(n_videos, 1) < _INT64_LIMIT:
        key = (ucode * span + (ts - tmin)) * n_videos + vcode
        return np.argsort(key)  # equal keys are identical rows: stability is moot
    return np.lexsort((vcode, ts, ucode))


def _anchored_sessions(ucode: np.ndarray, ts: np.ndarray, window: int) -> np.ndarray:
    """Session number of each watch (rows sorted by user, then time), dense from 0.

    ``nxt[i]`` is the first row of the same user at or after ``ts[i] + window`` (or the user's end);
    a user's session starts are the chain first-row, nxt[first-row], ... Every user's chain is
    walked at once, one level per numpy step: O(sessions) work after the O(rows log rows) search
    for ``nxt``. When only a few users are still walking (long histories), plain Python follows
    the rest, so the number of steps never costs more than a Python loop over sessions.
    """
    n = len(ts)
    tmin, tmax = int(ts.min()), int(ts.max())
    window = min(window, tmax - tmin + 1)  # a longer window changes nothing
    user_start = np.flatnonzero(np.r_[True, ucode[1:] != ucode[:-1]])
    user_end = np.r_[user_start[1:], n]
    end_of = np.repeat(user_end, np.diff(np.r_[user_start, n]))  # each row's user's end
    nxt = _next_rows(ucode, ts, window, tmin, tmax)

    is_start = np.zeros(n, dtype=bool)
    frontier = user_start
    while frontier.size and frontier.size >= _SCALAR_FRONTIER:
        is_start[frontier] = True
        step = nxt[frontier]
        frontier = step[step < end_of[frontier]]
    if frontier.size:
        nxt_list = nxt.tolist()
        for f in frontier.tolist():
            end = int(end_of[f])
            while f < end:
                is_start[f] = True
                f = nxt_list[f]
    return np.cumsum(is_start, dtype=np.int64) - 1


def _next_rows(ucode: np.ndarray, ts: np.ndarray, window: int, tmin: int, tmax: int) -> np.ndarray:
    """Per row: the first row of the same user with ts >= ts[row] + window, else the user's end.

    Searches one sorted key ``user * span + time``; when that would overflow int64 (millisecond
    timestamps, say, for millions of users), the times are first replaced by their ranks.
    """
    span = (tmax - tmin) + window + 1
    n_users = int(ucode[-1]) + 1
    if n_users * span < _INT64_LIMIT:
        key = ucode * span + (ts - tmin)
        return np.searchsorted(key, key + window, side="left")
    return _next_rows_ranked(ucode, ts, window)


def _next_rows_ranked(ucode: np.ndarray, ts: np.ndarray, window: int) -> np.ndarray:
    """``_next_rows`` with times replaced by ranks among all times and times + window."""
    values = np.unique(np.concatenate([ts, ts + window]))
    span = len(values) + 1
    key = ucode * span + np.searchsorted(values, ts)
    target = ucode * span + np.searchsorted(values, ts + window)
    return np.searchsorted(key, target, side="left")


def position_in_group(group: np.ndarray) -> np.ndarray:
    """0-based position of each row within its run of equal values (``group`` sorted)."""
    n = len(group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)
