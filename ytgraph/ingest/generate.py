"""A synthetic video world for the demo and the benchmarks: canonical events and videos.

The structure is what makes co-visitation worth computing:

* videos: Zipf-like popularity (a hidden ``quality`` in 0-1 nudges a video up the ranking);
  channels of Zipf-distributed sizes, each with a main category that most of its videos share;
  uploads spread over a back catalogue before the window and a share of new uploads during it.
* users: a few categories of interest each (Dirichlet weights), an activity level (log-normal).
* sessions: a user's sessions start at random times over the ``days``; a session is a walk of a
  few to tens of videos (geometric length, mean ``mean_session_length``): it starts at a popular
  video of one of the user's categories, then each next video is one of the current video's
  hidden neighbours (same channel or category, popularity-weighted) with ``p_neighbour``, a video
  of the same channel with ``p_channel``, of the same category with ``p_category``, else a fresh
  pick from the user's interests. A video is never watched before it was uploaded.
* events: ``watch`` with ``watch_seconds`` <= duration (a share of short, abandoned watches;
  better videos are watched longer), and at low rates ``like``, ``favorite``, ``rate`` (a rating
  1-5 that follows quality) and ``playlist_add``, timed at the end of the watch.
* metadata (``views``, ``likes``, ``dislikes``, ``rating_avg``, ``rating_count``, ``comments``,
  ``favorites``) as of the end of the window: what the simulated users did plus a background
  audience in proportion to popularity and age, so the counts agree with popularity and quality.

Size: events ~= users * days * ``events_per_user_day``, which is
``sessions_per_user_day * mean_session_length * (1 + like + favorite + rate + playlist rates)``;
with the defaults 0.25 * 6 * 1.078 ~= 1.6 events per user and day (1.5 of them watches), so
``GenerateConfig(users=20_000, videos=20_000, days=30)`` makes about a million events.
``GenerateConfig.for_events(target)`` picks the number of users for a target count.

Everything is vectorised numpy and deterministic for a seed: the same config gives identical
frames. ``generate_world_state`` also hands back the hidden state (``Latent``: interests, quality,
categories, neighbours) that ``ytgraph simulate`` lets its users act on; ``write_world`` with the
config writes ``world.json`` so that the state can be made again from the folder.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from loaders.schema import ACTIONS, DAY, VIDEO_COLUMNS
from ytgraph.errors import InputError

CATEGORY_WORDS = (
    "Music",
    "Gaming",
    "Comedy",
    "News",
    "Sports",
    "Education",
    "Travel",
    "Cooking",
    "Science",
    "Film",
    "Autos",
    "Pets",
    "Fashion",
    "Tech",
    "Nature",
    "History",
    "Fitness",
    "Art",
    "Dance",
    "Kids",
)
NOUNS = (
    "highlights",
    "tutorial",
    "review",
    "vlog",
    "live",
    "remix",
    "compilation",
    "explained",
    "challenge",
    "unboxing",
    "trailer",
    "interview",
    "reaction",
    "guide",
    "story",
    "session",
)


# Bounds on a world: generating takes about 0.3 GB a million events (measured), and its timestamps
# stay well inside the range the readers accept.
MAX_EVENTS = 50_000_000
MAX_DAYS = 36_500


@dataclass
class GenerateConfig:
    """Knobs of the synthetic world. Only ``users``, ``videos``, ``days`` and ``seed`` matter
    for most uses; the rest shape the structure (see the module docstring)."""

    users: int = 2_000
    videos: int = 2_000
    days: int = 30
    seed: int = 0
    channels: int | None = None  # default: videos // 20 (at least 1)
    categories: int = 12
    start: str = "2024-01-01"  # first day of the window, UTC
    sessions_per_user_day: float = 0.25
    mean_session_length: float = 6.0
    max_session_length: int = 60
    zipf_exponent: float = 1.0
    new_upload_fraction: float = 0.15
    back_catalog_days: int = 3 * 365
    neighbours: int = 10
    p_neighbour: float = 0.45
    p_channel: float = 0.15
    p_category: float = 0.2
    short_watch_fraction: float = 0.25
    like_rate: float = 0.04
    favorite_rate: float = 0.01
    rate_rate: float = 0.02
    playlist_rate: float = 0.008

    @property
    def events_per_user_day(self) -> float:
        """Expected events per user and day (watches plus explicit actions)."""
        actions = self.like_rate + self.favorite_rate + self.rate_rate + self.playlist_rate
        return self.sessions_per_user_day * self.mean_session_length * (1.0 + actions)

    @property
    def expected_events(self) -> float:
        return self.users * self.days * self.events_per_user_day

    @classmethod
    def for_events(
        cls, target_events: int, *, days: int = 30, videos: int | None = None, **kwargs: Any
    ) -> GenerateConfig:
        """A config whose expected event count is ``target_events`` (users chosen to fit).

        ``videos`` defaults to the number of users (at least 100).
        """
        per_user = days * cls(days=days, **kwargs).events_per_user_day
        users = max(1, round(target_events / per_user))
        return cls(users=users, videos=videos or max(100, users), days=days, **kwargs)

    def validate(self) -> None:
        if self.users < 1 or self.videos < 1 or self.days < 1:
            raise InputError("generate: users, videos and days must be at least 1")
        if self.seed < 0:
            raise InputError(f"generate: seed must be >= 0, not {self.seed}")
        if self.days > MAX_DAYS or self.expected_events > MAX_EVENTS:
            raise InputError(
                f"generate: about {self.expected_events:,.0f} events over {self.days:,} days; "
                f"at most {MAX_EVENTS:,} events and {MAX_DAYS:,} days"
            )
        if self.categories < 1:
            raise InputError("generate: categories must be at least 1")
        if self.channels is not None and self.channels < 1:
            raise InputError("generate: channels must be at least 1")
        if self.mean_session_length < 1 or self.max_session_length < 1:
            raise InputError("generate: session lengths must be at least 1")
        if self.p_neighbour + self.p_channel + self.p_category > 1:
            raise InputError("generate: p_neighbour + p_channel + p_category must be <= 1")


class _GroupSampler:
    """Draws, for each of many group ids at once, an item of that group by weight."""

    def __init__(self, groups: np.ndarray, weights: np.ndarray, n_groups: int) -> None:
        order = np.argsort(groups, kind="stable")
        g = groups[order]
        self.order = order
        self.cum = np.cumsum(weights[order])
        cum0 = np.concatenate([[0.0], self.cum])
        self.start = np.searchsorted(g, np.arange(n_groups), side="left")
        self.end = np.searchsorted(g, np.arange(n_groups), side="right")
        self.base = cum0[self.start]
        self.total = cum0[self.end] - self.base

    def sample(self, group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One item per entry of ``group``; -1 where the group is empty."""
        u = self.base[group] + rng.random(group.size) * self.total[group]
        pos = np.searchsorted(self.cum, u, side="right")
        pos = np.clip(pos, self.start[group], np.maximum(self.end[group] - 1, 0))
        out = self.order[np.minimum(pos, self.order.size - 1)]
        return np.where(self.total[group] > 0, out, -1)


def _zipf(n: int, exponent: float) -> np.ndarray:
    return 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent


def _ids(prefix: str, n: int) -> np.ndarray:
    width = len(str(max(n - 1, 0)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _choose_rows(cum: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each row of cumulative probabilities, the column a uniform draw lands in."""
    u = rng.random(cum.shape[0]) * cum[:, -1]
    col: np.ndarray = np.minimum((cum < u[:, None]).sum(axis=1), cum.shape[1] - 1)
    return col


@dataclass(frozen=True)
class Latent:
    """A world's hidden state, by index into ``user_ids`` / ``video_ids``: what its users like
    (``interest``: users x categories, rows summing to 1) and what each video is (``quality`` in
    0-1, ``category``, ``duration``, ``popularity``, hidden ``neighbours``: videos x k); ``end`` is
    the epoch second the generated window ends."""

    user_ids: np.ndarray
    video_ids: np.ndarray
    interest: np.ndarray
    activity: np.ndarray
    quality: np.ndarray
    category: np.ndarray
    duration: np.ndarray
    popularity: np.ndarray
    uploaded: np.ndarray
    neighbours: np.ndarray
    end: int
    short_watch_fraction: float


def generate_world(cfg: GenerateConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(events, videos) in the canonical form of ``loaders.schema``; see the module docstring."""
    events, videos, _ = generate_world_state(cfg)
    return events, videos


def generate_world_state(cfg: GenerateConfig) -> tuple[pd.DataFrame, pd.DataFrame, Latent]:
    """``generate_world`` and the hidden state it drew the events from."""
    cfg.validate()
    rng = np.random.default_rng(cfg.seed)
    n_v, n_u, n_k = cfg.videos, cfg.users, cfg.categories
    n_c = cfg.channels or max(1, n_v // 20)
    start = int(pd.Timestamp(cfg.start, tz="UTC").timestamp())
    end = start + cfg.days * DAY

    # ---- categories, channels, videos
    cat_names = np.array(
        [CATEGORY_WORDS[i] if i < len(CATEGORY_WORDS) else f"Topic{i + 1}" for i in range(n_k)],
        dtype=object,
    )
    cat_weight = _zipf(n_k, 0.7)
    cat_p = cat_weight / cat_weight.sum()
    chan_weight = _zipf(n_c, 1.1)
    channel = np.empty(n_v, dtype=np.int64)
    first = min(n_c, n_v)
    channel[:first] = np.arange(first)
    channel[first:] = rng.choice(n_c, size=n_v - first, p=chan_weight / chan_weight.sum())
    channel = rng.permutation(channel)
    chan_cat = rng.choice(n_k, size=n_c, p=cat_p)
    category = np.where(
        rng.random(n_v) < 0.85, chan_cat[channel], rng.choice(n_k, size=n_v, p=cat_p)
    )
    quality = rng.beta(2.5, 2.0, size=n_v)
    key = rng.gumbel(size=n_v) + 2.0 * quality + 0.3 * np.log(chan_weight[channel])
    popularity = np.empty(n_v)
    popularity[np.argsort(-key, kind="stable")] = _zipf(n_v, cfg.zipf_exponent)
    is_new = rng.random(n_v) < cfg.new_upload_fraction
    is_new[np.argmax(popularity)] = False  # someone is always watchable
    age_days = np.minimum(
        rng.exponential(cfg.back_catalog_days / 3, size=n_v), cfg.back_catalog_days
    )
    uploaded = np.where(
        is_new,
        start + rng.integers(0, max(1, cfg.days - 1) * DAY, size=n_v),
        start - 3600 - (age_days * DAY).astype(np.int64),
    ).astype(np.int64)
    duration = np.clip(np.round(rng.lognormal(math.log(240), 0.8, size=n_v)), 15, 7200)

    by_cat = _GroupSampler(category, popularity, n_k)
    by_chan = _GroupSampler(channel, popularity, n_c)
    old = ~is_new
    old_idx = np.flatnonzero(old)
    old_cum = np.cumsum(popularity[old])

    # hidden neighbours: a third from the channel, the rest from the category
    k = max(1, cfg.neighbours)
    src = np.repeat(np.arange(n_v), k)
    from_chan = rng.random(src.size) < 0.33
    nb = np.where(
        from_chan, by_chan.sample(channel[src], rng), by_cat.sample(category[src], rng)
    ).reshape(n_v, k)

    # ---- users
    activity = rng.lognormal(0.0, 0.8, size=n_u) / math.exp(0.8**2 / 2)
    n_interest = 1 + np.minimum(rng.poisson(1.5, size=n_u), n_k - 1)
    keys = np.log(cat_p)[None, :] + rng.gumbel(size=(n_u, n_k))
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    interest = np.where(rank < n_interest[:, None], rng.gamma(1.0, size=(n_u, n_k)), 0.0)
    interest_cum = np.cumsum(interest / interest.sum(axis=1, keepdims=True), axis=1)

    # ---- sessions
    n_sess = rng.poisson(cfg.sessions_per_user_day * cfg.days * activity)
    sess_user = np.repeat(np.arange(n_u), n_sess)
    n_s = sess_user.size
    last_start = max(start + 1, end - 4 * 3600)
    sess_start = rng.integers(start, last_start, size=n_s)
    sess_len = np.minimum(
        rng.geometric(1.0 / cfg.mean_session_length, size=n_s), cfg.max_session_length
    )

    def fresh(sessions: np.ndarray) -> np.ndarray:
        cats = _choose_rows(interest_cum[sess_user[sessions]], rng)
        return by_cat.sample(cats, rng)

    def fallback(sessions: np.ndarray) -> np.ndarray:
        u = rng.random(sessions.size) * old_cum[-1]
        pos = np.minimum(np.searchsorted(old_cum, u, side="right"), old_idx.size - 1)
        picked: np.ndarray = old_idx[pos]
        return picked

    steps_s: list[np.ndarray] = []
    steps_v: list[np.ndarray] = []
    steps_t: list[np.ndarray] = []
    cur = np.full(n_s, -1, dtype=np.int64)
    p1 = cfg.p_neighbour
    p2 = p1 + cfg.p_channel
    p3 = p2 + cfg.p_category
    for t in range(int(sess_len.max(initial=0))):
        act = np.flatnonzero(sess_len > t)
        if t == 0:
            nxt = fresh(act)
        else:
            c = cur[act]
            r = rng.random(act.size)
            nxt = fresh(act)
            m = r < p1
            nxt[m] = nb[c[m], rng.integers(0, k, size=int(m.sum()))]
            m = (r >= p1) & (r < p2)
            nxt[m] = by_chan.sample(channel[c[m]], rng)
            m = (r >= p2) & (r < p3)
            nxt[m] = by_cat.sample(category[c[m]], rng)

        # Up to three fresh draws for picks that are missing, not yet uploaded when the session
        # starts, or the video being left; whatever is still unusable then takes the fallback.
        for attempt in range(4):
            bad = (nxt < 0) | (uploaded[np.maximum(nxt, 0)] > sess_start[act]) | (nxt == cur[act])
            if not bad.any():
                break
            nxt[bad] = fresh(act[bad]) if attempt < 3 else fallback(act[bad])
        cur[act] = nxt
        steps_s.append(act)
        steps_v.append(nxt)
        steps_t.append(np.full(act.size, t, dtype=np.int64))

    w_sess = np.concatenate(steps_s) if steps_s else np.zeros(0, np.int64)
    w_vid = np.concatenate(steps_v) if steps_v else np.zeros(0, np.int64)
    w_step = np.concatenate(steps_t) if steps_t else np.zeros(0, np.int64)
    order = np.lexsort((w_step, w_sess))
    w_sess, w_vid = w_sess[order], w_vid[order]
    n_w = w_vid.size

    # ---- watches: how long, and when
    q = quality[w_vid]
    short = rng.random(n_w) < cfg.short_watch_fraction * (1.5 - q)
    frac = np.where(short, rng.uniform(0.01, 0.2, size=n_w), rng.beta(1.5 + 3.0 * q, 1.2))
    watch_seconds = np.floor(duration[w_vid] * frac)
    gap = rng.integers(3, 91, size=n_w)
    span = watch_seconds.astype(np.int64) + gap
    cum = np.cumsum(span)
    first_of = np.concatenate([[True], w_sess[1:] != w_sess[:-1]]) if n_w else np.zeros(0, bool)
    before = np.concatenate([[0], cum[:-1]]) if n_w else np.zeros(0, np.int64)
    offset = before - np.maximum.accumulate(np.where(first_of, before, 0)) if n_w else before
    w_ts = sess_start[w_sess] + offset
    w_user = sess_user[w_sess]

    # ---- explicit actions, at the end of the watch
    engaged = frac > 0.5
    boost = np.where(engaged, 1.4, 0.3) * q
    boost = boost / boost.mean() if n_w else boost  # keeps the configured average rates
    rates = {
        "like": cfg.like_rate * boost,
        "favorite": cfg.favorite_rate * boost,
        "rate": np.full(n_w, cfg.rate_rate),
        "playlist_add": cfg.playlist_rate * boost,
    }
    ev_user = [w_user]
    ev_vid = [w_vid]
    ev_ts = [w_ts]
    ev_kind = [np.zeros(n_w, dtype=np.int8)]
    ev_ws = [watch_seconds]
    ev_rating = [np.full(n_w, np.nan)]
    ev_seq = [np.arange(n_w) * 5]
    kinds = ACTIONS  # index = the event code in ev_kind (generated worlds retract nothing)
    sim: dict[str, np.ndarray] = {"watch": np.bincount(w_vid, minlength=n_v)}
    rating_sum = np.zeros(n_v)
    for j, name in enumerate(kinds[1:], start=1):
        hit = np.flatnonzero(rng.random(n_w) < rates[name])
        ev_user.append(w_user[hit])
        ev_vid.append(w_vid[hit])
        ev_ts.append(w_ts[hit] + watch_seconds[hit].astype(np.int64))
        ev_kind.append(np.full(hit.size, j, dtype=np.int8))
        ev_ws.append(np.full(hit.size, np.nan))
        if name == "rate":
            stars = np.clip(np.round(1 + 4 * q[hit] + rng.normal(0, 0.7, size=hit.size)), 1, 5)
            ev_rating.append(stars)
            np.add.at(rating_sum, w_vid[hit], stars)
        else:
            ev_rating.append(np.full(hit.size, np.nan))
        ev_seq.append(hit * 5 + j)
        sim[name] = np.bincount(w_vid[hit], minlength=n_v)

    e_user = np.concatenate(ev_user)
    e_ts = np.concatenate(ev_ts)
    e_order = np.lexsort((np.concatenate(ev_seq), e_ts))
    user_ids = _ids("u", n_u)
    video_ids = _ids("v", n_v)
    events = pd.DataFrame(
        {
            "user_id": pd.Series(user_ids[e_user[e_order]], dtype=object),
            "video_id": pd.Series(video_ids[np.concatenate(ev_vid)[e_order]], dtype=object),
            "timestamp": e_ts[e_order].astype(np.int64),
            "event": pd.Series(
                np.array(kinds, dtype=object)[np.concatenate(ev_kind)[e_order]], dtype=object
            ),
            "watch_seconds": np.concatenate(ev_ws)[e_order],
            "rating": np.concatenate(ev_rating)[e_order],
        }
    )

    # ---- metadata at the end of the window: simulated audience + background audience
    age_at_end = (end - uploaded) / DAY
    share = popularity / popularity.sum()
    bg_lam = share * max(n_w, 1) * 40.0 * np.clip(age_at_end / cfg.days, 0.05, 12.0)
    bg_views = rng.poisson(bg_lam)
    views = sim["watch"] + bg_views
    like_p = np.clip(0.04 * 2 * quality, 0, 1)
    bg_rates = rng.binomial(bg_views, 0.01)
    rating_count = sim["rate"] + bg_rates
    with np.errstate(invalid="ignore", divide="ignore"):
        rating_avg = (rating_sum + bg_rates * (1 + 4 * quality)) / rating_count
    rating_avg = np.where(rating_count > 0, np.clip(np.round(rating_avg, 2), 0, 5), np.nan)
    noun = rng.integers(0, len(NOUNS), size=n_v)
    titles = [
        f"{cat_names[c]} {NOUNS[w]} #{i}"
        for i, (c, w) in enumerate(zip(category, noun, strict=True))
    ]
    columns: dict[str, Any] = {
        "video_id": pd.Series(video_ids, dtype=object),
        "title": pd.Series(titles, dtype=object),
        "channel_id": pd.Series(_ids("ch", n_c)[channel], dtype=object),
        "category": pd.Series(cat_names[category], dtype=object),
        "uploaded_at": uploaded.astype(np.float64),
        "duration_seconds": duration.astype(np.float64),
        "views": views.astype(np.float64),
        "likes": (sim["like"] + rng.binomial(bg_views, like_p)).astype(np.float64),
        "dislikes": rng.binomial(views, np.clip(0.01 * 2 * (1 - quality), 0, 1)).astype(np.float64),
        "rating_avg": rating_avg,
        "rating_count": rating_count.astype(np.float64),
        "comments": rng.binomial(views, 0.003 * (0.5 + quality)).astype(np.float64),
        "favorites": (
            sim["favorite"] + rng.binomial(bg_views, np.clip(0.01 * 2 * quality, 0, 1))
        ).astype(np.float64),
    }
    videos = pd.DataFrame({name: columns[name] for name in ("video_id", *VIDEO_COLUMNS)})
    latent = Latent(
        user_ids=user_ids,
        video_ids=video_ids,
        interest=interest / interest.sum(axis=1, keepdims=True),
        activity=activity,
        quality=quality,
        category=category,
        duration=duration,
        popularity=popularity,
        uploaded=uploaded,
        neighbours=nb,
        end=end,
        short_watch_fraction=cfg.short_watch_fraction,
    )
    return events, videos, latent


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as CSV with a header; through pyarrow (fast) when no value needs quoting."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    plain = all(
        not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type))
        or not pc.any(pc.match_substring_regex(col, r'[,"\r\n]')).as_py()
        for col in table.columns
    ) and all(re.fullmatch(r'[^,"\r\n]+', str(name)) for name in frame.columns)
    if not plain:
        return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    buf = io.BytesIO()
    buf.write((",".join(map(str, frame.columns)) + "\n").encode("utf-8"))
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return buf.getvalue()


def write_world(
    events: pd.DataFrame,
    videos: pd.DataFrame,
    out_dir: str | Path,
    config: GenerateConfig | None = None,
) -> dict[str, Path]:
    """Write ``events.csv.gz`` and ``videos.csv`` (canonical CSV with a header) into ``out_dir``,
    and with ``config`` the ``world.json`` that makes the world (and its hidden state) again.

    The files read back through ``loaders.read_canonical`` to the same frames. The gzip header
    carries no timestamp, so the same frames give the same bytes.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"events": out / "events.csv.gz", "videos": out / "videos.csv"}
    paths["events"].write_bytes(gzip.compress(_csv_bytes(events), compresslevel=6, mtime=0))
    paths["videos"].write_bytes(_csv_bytes(videos))
    if config is not None:
        paths["world"] = out / WORLD_FILE
        paths["world"].write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
    return paths


WORLD_FILE = "world.json"


def read_world_config(folder: str | Path) -> GenerateConfig:
    """The GenerateConfig a world folder was written with (its ``world.json``); InputError if
    the folder holds none or it is not one."""
    path = Path(folder) / WORLD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cfg = GenerateConfig(**data)
    except FileNotFoundError:
        raise InputError(
            f"{folder}: no {WORLD_FILE} (not a folder written by `ytgraph generate`)"
        ) from None
    except (OSError, ValueError, TypeError) as e:
        raise InputError(f"{path}: not a world description ({e})") from None
    cfg.validate()
    return cfg
