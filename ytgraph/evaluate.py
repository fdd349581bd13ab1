"""Offline evaluation: ytgraph against Most Viewed, Top Favorited, Top Rated, Random and SAR.

YouTube judged its recommender against Most Viewed, Top Favorited and Top Rated by click-through
(Davidson et al. 2010, section 4.1: recommendations reached 207% of Most Viewed's CTR). Offline, the
analogue is: cut each user's history into a training part and a test part, build *everything* the
recommender uses from the training part only, recommend ``n`` videos to every test user, and count
how many of the videos they went on to watch the lists held::

    report = evaluate(dataset, settings, protocol="random", n=10, peers=["sar"])
    print(report.table()); report.plot("eval.png"); json.dumps(report.to_json())

**Splits** (``split_events``). The unit of the per-user protocols is a (user, video) interaction:
all events of a pair go to the same side, so a video is never both known and to be found.

``temporal``
    one global cut in time, at the ``1 - test_fraction`` quantile of the event timestamps (default
    the 80% quantile, numpy's ``method="higher"``): train = events before the cut, test = events at
    or after it. Test users are the users with events on both sides.
``last-n``
    each user's interactions in order of their first event; the latest ``test_fraction`` (default
    20%) are the test part.
``random``
    each user's interactions shuffled with ``seed``; ``test_fraction`` (default 25%) are the test
    part: the 75/25 shape of the common MovieLens benchmarks.

A user with ``k >= 2`` interactions keeps ``round_half_up((1 - f) * k)`` of them in training,
clipped to ``1 .. k - 1``; a user with one interaction stays in training only. **Ground truth** is
the distinct videos a test user touched in the test part and never in the training part; a user with
none is no test user.

**No leakage** (``training_dataset``): only the training events are loaded, into an emptied graph,
and the videos table keeps only static metadata (title, channel, category, genres, upload time,
duration). Its quality fields are recomputed from the training events: ``views`` = training
watches, ``likes`` / ``favorites`` = training counts, ``rating_avg`` / ``rating_count`` = the mean
and number of the users' latest training ratings. A video first seen in the test part has no
counts at all.

**Systems.** Every ytgraph variant (``Variant``: a name and ``{"section.key": value}`` overrides)
recommends through ``recommend_many`` on one ``Graph`` with ``exclude_watched`` on and
``allow_unknown``; variants with the same counting settings (``load.fingerprint``) share one load.
Baselines, each leaving out what the user touched in training:

``most-viewed``  most training watches (ties by video id).
``top-favorited``  most training favorites; when the training data holds none (MovieLens), the
    documented proxy is the most ratings of at least ``FAVORITE_PROXY_RATING`` (4.5), the nearest
    thing to a favorite a rating site has; with neither it is left out and the report says so.
``top-rated``  the smoothed mean ``(c * avg + m * mean) / (c + m)`` with
    ``m = ranking.rating_prior_count``, over the videos with a training rating (n/a without any).
``random``  uniform over the training catalogue, seeded.

Peers (``peers``): ``sar-lift``, ``sar-jaccard``, ``sar-cosine`` (``sar`` = all three) run
Microsoft Recommenders' SAR on the same training part in its own interpreter (``ytgraph.peers``),
with ``remove_seen=True``; SAR's ``lift`` is the paper's ``c_ij / (c_i c_j)``.

**Metrics at n** (per test user, then the mean over users): ``hit_rate`` (any hit), ``precision``
(hits / n), ``recall`` (hits / |truth|), ``ndcg`` (binary gains, ``1 / log2(rank + 1)``, over the
ideal ``min(|truth|, n)`` hits), ``user_coverage`` (the share of users whose list holds at least one
personalised item: not a popularity backfill for ytgraph, a positive score for SAR, never for a
baseline: the paper's coverage), ``catalog_coverage`` (distinct recommended videos over the
training catalogue), ``channels`` and ``categories`` (distinct ones per list; ``None`` when the data
has none). Each has a 95% bootstrap interval over users (``resamples`` draws of the users with
replacement, the same draws for every system, so the figures relative to Most Viewed, in %, get
intervals too). For ``temporal``, ``by_period`` gives hit rate and precision against the videos
first touched in each period of the test span (days, or weeks/months/years when it is long), like
the paper's figure 2.

Evaluation **empties the database it loads into**: without ``graph`` it runs on a managed server of
its own (``eval_neo4j_settings``: home ``<cache>/home/eval``, ports 57687/57474), stopped at the end
if it was started here and ``keep_server`` is false.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loaders.schema import Dataset, ReadReport
from ytgraph.config import Neo4jSettings, Settings, cache_dir, profile_settings
from ytgraph.errors import ConfigError, InputError, YtGraphError
from ytgraph.graph import Graph
from ytgraph.load import LoadSummary, fingerprint, load, wipe_graph
from ytgraph.memory import MemoryGraph
from ytgraph.recommend import Failed, check_n, recommend_many

Echo = Callable[[str], None]

PROTOCOLS = ("temporal", "last-n", "random")
DEFAULT_TEST_FRACTION = {"temporal": 0.2, "last-n": 0.2, "random": 0.25}
BASELINES = ("most-viewed", "top-favorited", "top-rated", "random")
BASELINE_LABELS = {
    "most-viewed": "Most Viewed",
    "top-favorited": "Top Favorited",
    "top-rated": "Top Rated",
    "random": "Random",
}
PEERS = ("sar-lift", "sar-jaccard", "sar-cosine")
ENGINES = ("neo4j", "memory")
REFERENCE = "Most Viewed"
FAVORITE_PROXY_RATING = 4.5
STATIC_VIDEO_COLUMNS = (
    "title", "channel_id", "category", "genres", "uploaded_at", "duration_seconds",
)  # fmt: skip
USER_METRICS = (
    "hit_rate", "precision", "recall", "ndcg", "user_coverage", "channels", "categories",
)  # fmt: skip
METRICS = (*USER_METRICS[:5], "catalog_coverage", *USER_METRICS[5:])
EVAL_BOLT_PORT = 57687
EVAL_HTTP_PORT = 57474
DAY = 86_400
PERIODS = ((1, "day"), (7, "week"), (30, "30 days"), (365, "year"))
MAX_PERIODS = 30


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


# ------------------------------------------------------------------------------------ the splits


@dataclass
class Split:
    """Training events, test events, and the ground truth per test user (see the module doc)."""

    protocol: str
    test_fraction: float
    seed: int
    train: pd.DataFrame  # canonical events
    test: pd.DataFrame  # canonical events of the test part
    truth: pd.DataFrame  # user_id, video_id, timestamp (first event in the test part)
    users: list[str]  # the test users, sorted; each has >= 1 truth video
    cut: int | None = None  # temporal: the first timestamp of the test part

    def truth_sets(self) -> dict[str, set[str]]:
        return {str(u): set(g) for u, g in self.truth.groupby("user_id", sort=True)["video_id"]}

    def summary(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
            "train_events": len(self.train),
            "test_events": len(self.test),
            "train_users": int(self.train["user_id"].nunique()),
            "test_users": len(self.users),
            "truth_pairs": len(self.truth),
            "catalog": int(self.train["video_id"].nunique()),
            "cut": self.cut,
        }


def train_counts(k: np.ndarray, test_fraction: float) -> np.ndarray:
    """How many of ``k`` interactions stay in training: round-half-up of (1 - f) k, in 1..k-1."""
    k = np.asarray(k, dtype=np.int64)
    keep = np.floor((1.0 - test_fraction) * k + 0.5 + 1e-9).astype(np.int64)
    keep = np.clip(keep, 1, np.maximum(k - 1, 1))
    return np.where(k >= 2, keep, k)


def _check_protocol(protocol: str, test_fraction: float | None) -> float:
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
    f = DEFAULT_TEST_FRACTION[protocol] if test_fraction is None else float(test_fraction)
    if not 0.0 < f < 1.0:
        raise InputError(f"test_fraction must be between 0 and 1 (exclusive), got {f!r}")
    return f


def split_events(
    events: pd.DataFrame, protocol: str, *, test_fraction: float | None = None, seed: int = 0
) -> Split:
    """Split canonical events by ``protocol`` (``temporal``, ``last-n``, ``random``)."""
    f = _check_protocol(protocol, test_fraction)
    ev = events.reset_index(drop=True)
    if ev.empty:
        raise InputError("evaluate: the dataset has no events")
    keys = ["user_id", "video_id"]
    cut: int | None = None
    if protocol == "temporal":
        ts = ev["timestamp"].to_numpy(dtype=np.int64)
        cut = int(np.quantile(ts, 1.0 - f, method="higher"))
        is_test = ts >= cut
        train, test = ev[~is_test], ev[is_test]
        if train.empty:
            raise InputError("evaluate: the temporal cut leaves no training events")
        first = test.groupby(keys, sort=True)["timestamp"].min().reset_index()
        had = train[keys].drop_duplicates()
        first = first[first["user_id"].isin(had["user_id"])]
        first = first.merge(had, on=keys, how="left", indicator=True)
        truth = first[first["_merge"] == "left_only"].drop(columns="_merge")
    else:
        pairs = ev.groupby(keys, sort=True)["timestamp"].min().reset_index()
        if protocol == "random":
            rng = np.random.default_rng(seed)
            pairs["order"] = rng.random(len(pairs))
        else:
            pairs["order"] = pairs["timestamp"]
        pairs = pairs.sort_values(["user_id", "order", "video_id"], kind="stable")
        k = pairs.groupby("user_id", sort=False)["video_id"].transform("size").to_numpy()
        pos = pairs.groupby("user_id", sort=False).cumcount().to_numpy()
        pairs["test"] = pos >= train_counts(k, f)
        side = ev.merge(pairs[[*keys, "test"]], on=keys, how="left")["test"].to_numpy(dtype=bool)
        train, test = ev[~side], ev[side]
        truth = pairs.loc[pairs["test"], [*keys, "timestamp"]]
    truth = truth[[*keys, "timestamp"]].sort_values(keys, kind="stable").reset_index(drop=True)
    users = sorted(truth["user_id"].unique().tolist())
    return Split(
        protocol=protocol,
        test_fraction=f,
        seed=seed,
        train=train.reset_index(drop=True),
        test=test.reset_index(drop=True),
        truth=truth,
        users=users,
        cut=cut,
    )


def sample_users(users: Sequence[str], max_users: int | None, seed: int) -> list[str]:
    """``max_users`` of ``users`` drawn with ``seed`` (sorted), or all of them."""
    if max_users is None or len(users) <= max_users:
        return list(users)
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(np.asarray(users, dtype=object), max_users, replace=False))


def _latest_ratings(train: pd.DataFrame) -> pd.DataFrame:
    """Each user's latest training rating of each video: user_id, video_id, rating."""
    r = train[(train["event"] == "rate") & train["rating"].notna()]
    r = r.sort_values(["user_id", "video_id", "timestamp"], kind="stable")
    return r.groupby(["user_id", "video_id"], sort=True).tail(1)[["user_id", "video_id", "rating"]]


def training_videos(train: pd.DataFrame, videos: pd.DataFrame) -> pd.DataFrame:
    """The videos table a training load gets: static metadata plus quality fields from ``train``."""
    cols = ["video_id", *[c for c in STATIC_VIDEO_COLUMNS if c in videos.columns]]
    static = videos[cols].drop_duplicates("video_id", keep="last") if len(videos) else None
    ids = pd.Index(train["video_id"].unique()).astype(object)
    if static is not None:
        ids = ids.union(pd.Index(static["video_id"]).astype(object))
    ids = pd.Index(sorted(ids.tolist()), dtype=object, name="video_id")
    out = pd.DataFrame(index=ids)
    if static is not None:
        out = out.join(static.set_index("video_id"))
    has_events = ids.isin(train["video_id"].unique())

    def count(kind: str) -> pd.Series:
        got = train.loc[train["event"] == kind, "video_id"].value_counts()
        return got.reindex(ids).fillna(0.0).where(has_events).astype("float64")

    out["views"] = count("watch")
    out["likes"] = count("like")
    out["favorites"] = count("favorite")
    latest = _latest_ratings(train).groupby("video_id")["rating"]
    out["rating_avg"] = latest.mean().reindex(ids).astype("float64")
    out["rating_count"] = latest.size().reindex(ids).astype("float64")
    return out.reset_index()


def training_dataset(split: Split, videos: pd.DataFrame) -> Dataset:
    """What gets loaded: the training events and ``training_videos``; nothing of the test part."""
    n = len(split.train)
    return Dataset(
        events=split.train.copy(),
        videos=training_videos(split.train, videos),
        report=ReadReport(read=n, accepted=n),
    )


def load_training(
    dataset: Dataset, settings: Settings, graph: Graph, *, progress: Any = None
) -> LoadSummary:
    """Empty ``graph`` and load ``dataset`` into it with a fresh count state of its own."""
    wipe_graph(graph)
    with tempfile.TemporaryDirectory(prefix="ytgraph-eval-state-") as tmp:
        summary = load(dataset, settings, graph, Path(tmp) / "state", progress=progress)
    return summary  # load() already cleared the graph's cached catalogue figures


# ----------------------------------------------------------------------------------- baselines


def _order(score: pd.Series) -> list[str]:
    """Video ids by score, best first, ties by video id; only positive scores."""
    s = score[score > 0]
    frame = pd.DataFrame({"video_id": s.index.astype(str), "score": s.to_numpy(dtype="float64")})
    frame = frame.sort_values(["score", "video_id"], ascending=[False, True], kind="stable")
    return frame["video_id"].tolist()


def baseline_orders(
    train: pd.DataFrame, settings: Settings
) -> dict[str, tuple[list[str] | None, str]]:
    """For each baseline: its global order of videos (None when n/a) and a note on its basis."""
    out: dict[str, tuple[list[str] | None, str]] = {}
    views = train.loc[train["event"] == "watch", "video_id"].value_counts()
    if views.empty:
        views = train.groupby("video_id")["user_id"].nunique()
        out["most-viewed"] = (_order(views), "no watches in training: distinct users instead")
    else:
        out["most-viewed"] = (_order(views), "most training watches")
    favs = train.loc[train["event"] == "favorite", "video_id"].value_counts()
    ratings = _latest_ratings(train)
    if not favs.empty:
        out["top-favorited"] = (_order(favs), "most training favorites")
    else:
        loved = ratings.loc[ratings["rating"] >= FAVORITE_PROXY_RATING, "video_id"].value_counts()
        if loved.empty:
            out["top-favorited"] = (None, "n/a: no favorites (nor ratings) in the data")
        else:
            out["top-favorited"] = (
                _order(loved),
                f"no favorites in the data: proxy = most ratings >= {FAVORITE_PROXY_RATING:g}",
            )
    if ratings.empty:
        out["top-rated"] = (None, "n/a: no ratings in the data")
    else:
        m = max(0.0, settings.ranking.rating_prior_count)
        g = ratings.groupby("video_id")["rating"]
        c, avg = g.size().astype("float64"), g.mean()
        mean = float(ratings["rating"].mean())
        smoothed = (c * avg + m * mean) / (c + m)
        out["top-rated"] = (
            _order(smoothed + 1e-12),  # a 0.0 mean is still a rating
            f"smoothed mean rating, prior {m:g} ratings at the mean {mean:.2f}",
        )
    out["random"] = (sorted(train["video_id"].unique().tolist()), "uniform, seeded")
    return out


def top_excluding(order: Sequence[str], seen: Collection[str], n: int) -> list[str]:
    """The first ``n`` of ``order`` that are not in ``seen``."""
    out: list[str] = []
    for v in order:
        if v not in seen:
            out.append(v)
            if len(out) == n:
                break
    return out


def random_lists(
    catalog: Sequence[str],
    seen: Mapping[str, Collection[str]],
    users: Sequence[str],
    n: int,
    seed: int,
) -> dict[str, list[str]]:
    """``n`` videos per user drawn uniformly from ``catalog`` without what the user has seen."""
    rng = np.random.default_rng(seed)
    items = np.asarray(catalog, dtype=object)
    out: dict[str, list[str]] = {}
    for u in users:
        s = seen.get(u, ())
        take = min(len(items), n + len(s))
        draw = items[rng.choice(len(items), size=take, replace=False)] if take else items[:0]
        out[u] = top_excluding(draw.tolist(), s, n)
    return out


# ------------------------------------------------------------------------------------- metrics


def list_metrics(recs: Sequence[str], truth: Collection[str], n: int) -> dict[str, float]:
    """hit_rate, precision, recall, ndcg of a list (its first ``n`` distinct items) vs truth."""
    top = list(dict.fromkeys(recs))[:n]
    gains = [1.0 if v in truth else 0.0 for v in top]
    hits = sum(gains)
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(truth), n)))
    return {
        "hit_rate": 1.0 if hits > 0 else 0.0,
        "precision": hits / n,
        "recall": hits / len(truth) if truth else 0.0,
        "ndcg": dcg / idcg if idcg > 0 else 0.0,
    }


def _distinct(values: Sequence[Any]) -> int:
    return len({v for v in values if v is not None and v == v})  # v != v: NaN


def user_metrics(
    lists: Mapping[str, Sequence[str]],
    truth: Mapping[str, Collection[str]],
    users: Sequence[str],
    n: int,
    *,
    personal: Mapping[str, bool] | None = None,
    channel_of: Mapping[str, Any] | None = None,
    category_of: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """One row per user: the ``USER_METRICS`` (NaN where the data has no channels/categories)."""
    rows = []
    for u in users:
        recs = list(lists.get(u, ()))
        m: dict[str, float] = list_metrics(recs, truth.get(u, set()), n)
        m["user_coverage"] = 1.0 if personal is not None and personal.get(u, False) else 0.0
        top = list(dict.fromkeys(recs))[:n]
        m["channels"] = _distinct([channel_of.get(v) for v in top]) if channel_of else np.nan
        m["categories"] = _distinct([category_of.get(v) for v in top]) if category_of else np.nan
        rows.append(m)
    return pd.DataFrame(rows, index=pd.Index(list(users), name="user_id"), columns=USER_METRICS)


def bootstrap_means(values: np.ndarray, *, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """Means of each column of ``values`` (users x k) over ``resamples`` draws of the users with
    replacement: a ``resamples x k`` array. Vectorised: multinomial counts times the matrix."""
    v = np.asarray(values, dtype="float64")
    if v.ndim == 1:
        v = v[:, None]
    users = v.shape[0]
    if users == 0:
        return np.full((resamples, v.shape[1]), np.nan)
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, v.shape[1]))
    chunk = max(1, min(resamples, 4_000_000 // max(users, 1)))
    p = np.full(users, 1.0 / users)
    clean = np.nan_to_num(v)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        w = rng.multinomial(users, p, size=stop - start).astype("float64")
        out[start:stop] = w @ clean / users
    out[:, np.isnan(v).any(axis=0)] = np.nan
    return out


def bootstrap_ci(
    values: np.ndarray, *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of the mean of each column over users: (low, high) arrays."""
    means = bootstrap_means(values, resamples=resamples, seed=seed)
    a = (1.0 - level) / 2.0
    with np.errstate(all="ignore"):
        lo = np.percentile(means, 100 * a, axis=0)
        hi = np.percentile(means, 100 * (1 - a), axis=0)
    return lo, hi


# -------------------------------------------------------------------------------------- variants


@dataclass(frozen=True)
class Variant:
    """A named ytgraph configuration: ``{"section.key": value}`` on top of the given settings."""

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def settings(self, base: Settings) -> Settings:
        s = base.with_overrides(dict(self.overrides))
        s.candidates.exclude_watched = True
        return s


DEFAULT_VARIANTS = (Variant("ytgraph"),)


def parse_variants(data: Mapping[str, Any], source: str = "variants") -> list[Variant]:
    """``[[variant]]`` tables (``name``, optional ``overrides`` inline table) into Variants."""
    raw = data.get("variant")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: no [[variant]] tables")
    out: list[Variant] = []
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ConfigError(f"{source}: variant {i} needs a name")
        extra = set(item) - {"name", "overrides", "profile"}
        if extra:
            raise ConfigError(f"{source}: variant {item['name']!r}: unknown key {sorted(extra)[0]}")
        overrides = item.get("overrides", {})
        if not isinstance(overrides, dict):
            raise ConfigError(f"{source}: variant {item['name']!r}: overrides must be a table")
        if "profile" in item:  # a profile's settings first, the variant's own overrides on top
            base = profile_settings(str(item["profile"])).overrides()
            overrides = {**base, **overrides}
        Settings().with_overrides(overrides)  # unknown keys and bad values fail here
        out.append(Variant(item["name"], dict(overrides)))
    names = [v.name for v in out]
    dup = next((x for x in names if names.count(x) > 1), None)
    if dup is not None:
        raise ConfigError(f"{source}: variant name {dup!r} is used twice")
    return out


def load_variants(path: str | Path) -> list[Variant]:
    """Read ``[[variant]]`` tables from a TOML file (see ``eval/variants.toml``)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"variants file not found: {p}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not valid TOML ({e})") from None
    return parse_variants(data, str(p))


def _peer_names(peers: Sequence[str]) -> list[str]:
    out: list[str] = []
    for p in peers:
        names = list(PEERS) if p == "sar" else [p]
        for name in names:
            if name not in PEERS:
                raise InputError(f"unknown peer {p!r} (known: sar, {', '.join(PEERS)})")
            if name not in out:
                out.append(name)
    return out


# ---------------------------------------------------------------------------------------- report


@dataclass
class SystemResult:
    """One system's figures: point estimates, 95% intervals, the same relative to Most Viewed."""

    name: str
    kind: str  # "ytgraph", "baseline" or "peer"
    metrics: dict[str, float | None]
    ci: dict[str, tuple[float, float] | None]
    relative: dict[str, float | None] = field(default_factory=dict)  # % of Most Viewed
    relative_ci: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    note: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    failed_users: int = 0
    by_period: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "metrics": self.metrics,
            "ci95": {k: list(v) if v else None for k, v in self.ci.items()},
            "relative_to_most_viewed_pct": self.relative,
            "relative_ci95": {k: list(v) if v else None for k, v in self.relative_ci.items()},
            "note": self.note,
            "overrides": self.overrides,
            "seconds": round(self.seconds, 3),
            "failed_users": self.failed_users,
            "by_period": self.by_period,
        }


@dataclass
class EvalReport:
    """Every system's figures for one split; ``table()``, ``to_json()``, ``plot(path)``."""

    protocol: str
    n: int
    seed: int
    split: dict[str, Any]
    systems: list[SystemResult]
    loads: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    period_days: int | None = None
    resamples: int = 1000
    seconds: float = 0.0

    def system(self, name: str) -> SystemResult:
        for s in self.systems:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "n": self.n,
            "seed": self.seed,
            "split": self.split,
            "resamples": self.resamples,
            "period_days": self.period_days,
            "systems": [s.to_json() for s in self.systems],
            "loads": self.loads,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }

    def table(self) -> str:
        """The figures as a text table, one row per system."""
        n = self.n
        sp = self.split
        head = (
            f"protocol {self.protocol} (test {sp['test_fraction']:.0%}, seed {self.seed}): "
            f"{sp['train_events']:,} training events, {sp['test_users']:,} test users, "
            f"{sp['truth_pairs']:,} test videos, catalogue {sp['catalog']:,}; n = {n}; "
            f"95% bootstrap CI over users ({self.resamples} resamples)"
        )
        cols = [
            ("system", 24), (f"HR@{n}", 20), (f"P@{n}", 20), (f"R@{n}", 8), (f"nDCG@{n}", 8),
            ("users%", 7), ("catal%", 7), ("ch/list", 7), ("cat/list", 8), ("P vs MV", 8),
            ("HR vs MV", 8),
        ]  # fmt: skip
        lines = [head, "  ".join(f"{c:<{w}}" for c, w in cols)]

        def num(x: float | None, fmt: str = ".3f") -> str:
            return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:{fmt}}"

        def with_ci(s: SystemResult, k: str) -> str:
            ci = s.ci.get(k)
            base = num(s.metrics.get(k))
            return base if not ci else f"{base} [{ci[0]:.3f},{ci[1]:.3f}]"

        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.0f}%"

        for s in self.systems:
            m = s.metrics
            cells = [
                s.name[:24], with_ci(s, "hit_rate"), with_ci(s, "precision"), num(m.get("recall")),
                num(m.get("ndcg")), num(_x100(m.get("user_coverage")), ".1f"),
                num(_x100(m.get("catalog_coverage")), ".1f"), num(m.get("channels"), ".2f"),
                num(m.get("categories"), ".2f"), pct(s.relative.get("precision")),
                pct(s.relative.get("hit_rate")),
            ]  # fmt: skip
            lines.append("  ".join(f"{c:<{w}}" for c, (_, w) in zip(cells, cols, strict=True)))
        notes = [f"{s.name}: {s.note}" for s in self.systems if s.note] + self.notes
        lines += [f"  note: {x}" for x in notes]
        return "\n".join(lines)

    def plot(self, path: str | Path) -> Path:
        """A PNG of the metrics by system (with 95% intervals), and by test period if temporal."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        panels = ["precision", "hit_rate", "recall", "ndcg", "user_coverage"]
        names = [s.name for s in self.systems]
        colors = [
            {"ytgraph": "tab:blue", "baseline": "tab:gray", "peer": "tab:orange"}[s.kind]
            for s in self.systems
        ]
        fig, axes = plt.subplots(2, 3, figsize=(16, 9.5))
        flat = list(axes.flat)
        for ax, metric in zip(flat, panels, strict=False):
            vals = [s.metrics.get(metric) or 0.0 for s in self.systems]
            lo = [
                (v - s.ci[metric][0]) if s.ci.get(metric) else 0.0  # type: ignore[index]
                for v, s in zip(vals, self.systems, strict=True)
            ]
            hi = [
                (s.ci[metric][1] - v) if s.ci.get(metric) else 0.0  # type: ignore[index]
                for v, s in zip(vals, self.systems, strict=True)
            ]
            y = np.arange(len(names))
            ax.barh(y, vals, xerr=[lo, hi], color=colors, capsize=2)
            ax.set_yticks(y, names, fontsize=7)
            ax.invert_yaxis()
            ax.set_title(f"{metric.replace('_', ' ')} @ {self.n}", fontsize=10)
            ax.grid(axis="x", alpha=0.3)
        ax = flat[5]
        if self.period_days and any(s.by_period for s in self.systems):
            cycle = plt.get_cmap("tab10")
            styles = {"ytgraph": "-", "peer": "--", "baseline": ":"}
            for i, s in enumerate(self.systems):
                if not s.by_period:
                    continue
                xs = [p["period"] for p in s.by_period]
                ys = [p["hit_rate"] for p in s.by_period]
                ax.plot(xs, ys, styles[s.kind], marker="o", ms=3, color=cycle(i % 10), label=s.name)
            users = [p["users"] for p in self.systems[0].by_period]
            ax.set_xlabel(
                f"periods of {self.period_days} day(s) after the cut; users: "
                + ",".join(map(str, users)),
                fontsize=8,
            )
            ax.set_title(f"hit rate @ {self.n} by test period (cf. paper fig. 2)", fontsize=10)
            ax.legend(fontsize=6)
            ax.grid(alpha=0.3)
        else:
            rel = [s.relative.get("precision") or 0.0 for s in self.systems]
            y = np.arange(len(names))
            ax.barh(y, rel, color=colors)
            ax.axvline(100, color="k", lw=0.8)
            ax.set_yticks(y, names, fontsize=7)
            ax.invert_yaxis()
            ax.set_title(f"precision @ {self.n}, % of Most Viewed", fontsize=10)
            ax.grid(axis="x", alpha=0.3)
        sp = self.split
        fig.suptitle(
            f"ytgraph offline evaluation: {self.protocol} split, {sp['test_users']} test users, "
            f"n = {self.n} (blue: ytgraph, orange: SAR, gray: baselines)",
            fontsize=11,
        )
        fig.tight_layout()
        fig.savefig(out, dpi=110)
        plt.close(fig)
        return out


def _x100(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else 100.0 * x


# ------------------------------------------------------------------------------------ evaluation


def eval_neo4j_settings(settings: Settings) -> Neo4jSettings:
    """The evaluation's own managed server: home ``<cache>/home/eval``, ports 57687/57474."""
    return dataclasses.replace(
        settings.neo4j,
        uri="",
        bolt_port=EVAL_BOLT_PORT,
        http_port=EVAL_HTTP_PORT,
        home=str(cache_dir() / "home" / "eval"),
    )


def period_length(span_days: float) -> tuple[int, str]:
    """The shortest of day / week / 30 days / year that cuts ``span_days`` in <= 30 periods."""
    for days, label in PERIODS:
        if span_days / days <= MAX_PERIODS:
            return days, label
    return PERIODS[-1]


def by_period(
    lists: Mapping[str, Sequence[str]], truth: pd.DataFrame, cut: int, n: int, days: int
) -> list[dict[str, Any]]:
    """Hit rate and precision per test period against the videos first touched in that period."""
    t = truth.assign(period=((truth["timestamp"] - cut) // (days * DAY)).astype(int) + 1)
    out = []
    for period, g in t.groupby("period", sort=True):
        hits = []
        for u, vids in g.groupby("user_id", sort=False)["video_id"]:
            m = list_metrics(lists.get(str(u), ()), set(vids), n)
            hits.append((m["hit_rate"], m["precision"]))
        arr = np.array(hits)
        out.append(
            {
                "period": int(str(period)),
                "users": len(hits),
                "hit_rate": float(arr[:, 0].mean()),
                "precision": float(arr[:, 1].mean()),
            }
        )
    return out


@dataclass
class _Run:
    name: str
    kind: str
    lists: dict[str, list[str]]
    personal: dict[str, bool]
    note: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    failed: int = 0


def evaluate(
    dataset: Dataset,
    settings: Settings,
    *,
    protocol: str,
    n: int = 10,
    variants: Sequence[Variant] | None = None,
    peers: Sequence[str] = (),
    baselines: Sequence[str] = BASELINES,
    graph: Graph | None = None,
    seed: int = 0,
    test_fraction: float | None = None,
    max_users: int | None = None,
    resamples: int = 1000,
    sar_time_decay_days: float = 0.0,
    eval_server: Neo4jSettings | None = None,
    keep_server: bool = False,
    engine: str = "neo4j",
    memory_graphs: dict[str, MemoryGraph] | None = None,
    echo: Echo | None = _stderr,
) -> EvalReport:
    """Split ``dataset``, load the training part, and measure every system on the test users.

    ``variants`` (default: one, ``ytgraph``, the given settings as they are) share loads by counting
    fingerprint; ``peers`` from ``sar``, ``sar-lift``, ``sar-jaccard``, ``sar-cosine``;
    ``baselines`` from ``BASELINES`` (Most Viewed is always measured: it is the reference).
    ``max_users`` draws that many test users (seeded) to keep a run small. Without ``graph`` the
    run uses ``eval_server`` (default ``eval_neo4j_settings(settings)``), a managed server whose
    database it empties; a given ``graph`` is emptied too. ``engine="memory"`` recommends from a
    ``MemoryGraph`` of the training part instead (no server; the same lists, much faster: what
    ``tune`` searches with); ``memory_graphs`` keeps them by counting fingerprint across calls
    that evaluate the same ``dataset`` the same way. See the module doc for the rest.
    """
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    t_start = time.perf_counter()
    say: Echo = echo or (lambda _m: None)
    size = check_n(n)
    variant_list = list(variants) if variants is not None else list(DEFAULT_VARIANTS)
    names = [v.name for v in variant_list]
    if len(set(names)) != len(names):
        raise InputError("evaluate: two variants have the same name")
    variant_settings = [v.settings(settings) for v in variant_list]
    peer_names = _peer_names(peers)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise InputError(f"unknown baseline {unknown[0]!r} (known: {', '.join(BASELINES)})")
    wanted = ["most-viewed", *[b for b in BASELINES if b in baselines and b != "most-viewed"]]

    split = split_events(dataset.events, protocol, test_fraction=test_fraction, seed=seed)
    users = sample_users(split.users, max_users, seed)
    if not users:
        raise InputError(f"evaluate: the {protocol} split leaves no test users")
    truth = split.truth_sets()
    truth_rows = split.truth[split.truth["user_id"].isin(users)]
    say(
        f"ytgraph: {protocol} split: {len(split.train):,} training events, {len(users):,} test "
        f"users, {len(truth_rows):,} test videos"
    )
    seen = {str(u): set(g) for u, g in split.train.groupby("user_id", sort=False)["video_id"]}
    train_data = training_dataset(split, dataset.videos)
    vids = train_data.videos.set_index("video_id")
    channel_of = _lookup(vids, "channel_id")
    category_of = _lookup(vids, "category")
    catalog = int(split.train["video_id"].nunique())
    runs: list[_Run] = []
    notes: list[str] = []

    # Baselines.
    orders = baseline_orders(split.train, settings)
    for b in wanted:
        t0 = time.perf_counter()
        order, note = orders[b]
        label = BASELINE_LABELS[b]
        if order is None:
            notes.append(f"{label}: {note}")
            continue
        if b == "random":
            lists = random_lists(order, seen, users, size, seed)
        else:
            lists = {u: top_excluding(order, seen.get(u, ()), size) for u in users}
        runs.append(_Run(label, "baseline", lists, {}, note, seconds=time.perf_counter() - t0))

    # ytgraph variants: one load per distinct counting fingerprint.
    loads: list[dict[str, Any]] = []
    conn = None
    try:
        if variant_list:
            if graph is None and engine == "neo4j":
                from ytgraph.connect import resolve

                neo = eval_server or eval_neo4j_settings(settings)
                conn = resolve(neo, echo=say)
                graph = Graph(conn.driver, conn.database)
            groups: dict[str, list[int]] = {}
            for i, s in enumerate(variant_settings):
                groups.setdefault(fingerprint(s), []).append(i)
            for fp, members in groups.items():
                first = variant_settings[members[0]]
                t0 = time.perf_counter()
                target: Graph | MemoryGraph
                try:
                    if engine == "memory":
                        built = {} if memory_graphs is None else memory_graphs
                        if fp not in built:
                            built[fp] = MemoryGraph.build(train_data, first)
                        target = built[fp]
                        edges = sum(len(r) for r in target.related.values())
                        summary = None
                    else:
                        assert graph is not None
                        target = graph
                        summary = load_training(train_data, first, graph)
                        edges = summary.related_edges
                except YtGraphError as e:
                    failed = ", ".join(variant_list[i].name for i in members)
                    notes.append(f"{failed}: the training load failed ({e}); not measured")
                    say(f"ytgraph: {notes[-1]}")
                    continue
                loads.append(
                    {
                        "variants": [variant_list[i].name for i in members],
                        "fingerprint": fp,
                        "seconds": round(time.perf_counter() - t0, 2),
                        "engine": engine,
                        "sessions": summary.sessions if summary else None,
                        "pairs": summary.pairs if summary else None,
                        "related_edges": edges,
                    }
                )
                say(
                    f"ytgraph: loaded the training part for {', '.join(loads[-1]['variants'])} "
                    f"in {loads[-1]['seconds']:.1f}s ({edges:,} related edges, {engine})"
                )
                for i in members:
                    v, vs = variant_list[i], variant_settings[i]
                    runs.append(_ytgraph_run(target, users, v, vs, size))
                    say(f"ytgraph: {runs[-1].name}: {runs[-1].seconds:.1f}s")
    finally:
        if conn is not None:
            conn.close()
            if conn.started and not keep_server and conn.server is not None:
                conn.server.stop()

    # Peers.
    if peer_names:
        from ytgraph.peers import run_sar

        t0 = time.perf_counter()
        sims = [p.split("-", 1)[1] for p in peer_names]
        top = run_sar(
            split.train, users, similarities=sims, k=size,
            time_decay_days=sar_time_decay_days, echo=say,
        )  # fmt: skip
        spent = (time.perf_counter() - t0) / len(sims)
        for sim in sims:
            rows = top[top["similarity"] == sim].sort_values(["user_id", "rank"], kind="stable")
            lists = {str(u): g["video_id"].tolist() for u, g in rows.groupby("user_id", sort=False)}
            pos = rows[rows["score"] > 0]
            personal = {str(u): True for u in pos["user_id"].unique()}
            decay = f", time decay {sar_time_decay_days:g} days" if sar_time_decay_days > 0 else ""
            runs.append(
                _Run(
                    f"SAR {sim}",
                    "peer",
                    lists,
                    personal,
                    f"Microsoft Recommenders SAR, similarity {sim}, remove_seen{decay}",
                    seconds=spent,
                )
            )

    report = _report(
        runs, split, users, truth, truth_rows, size, catalog, channel_of, category_of,
        resamples, seed,
    )  # fmt: skip
    report.loads = loads
    report.notes = notes
    report.seconds = time.perf_counter() - t_start
    return report


def _lookup(videos: pd.DataFrame, column: str) -> dict[str, Any] | None:
    if column not in videos.columns or videos[column].isna().all():
        return None
    col = videos[column].dropna()
    return dict(zip(col.index.astype(str), col.tolist(), strict=True))


def _ytgraph_run(
    graph: Graph | MemoryGraph, users: Sequence[str], variant: Variant, settings: Settings, n: int
) -> _Run:
    t0 = time.perf_counter()
    lists: dict[str, list[str]] = {}
    personal: dict[str, bool] = {}
    failed = 0
    for rec in recommend_many(graph, users, settings, n=n, allow_unknown=True):
        if isinstance(rec, Failed):
            failed += 1
            lists[rec.user_id] = []
            continue
        lists[rec.user_id] = [r.video_id for r in rec.recommendations]
        personal[rec.user_id] = any(not r.popular for r in rec.recommendations)
    note = "" if not failed else f"{failed} users failed"
    return _Run(
        variant.name, "ytgraph", lists, personal, note, dict(variant.overrides),
        time.perf_counter() - t0, failed,
    )  # fmt: skip


def _report(
    runs: list[_Run],
    split: Split,
    users: Sequence[str],
    truth: Mapping[str, Collection[str]],
    truth_rows: pd.DataFrame,
    n: int,
    catalog: int,
    channel_of: Mapping[str, Any] | None,
    category_of: Mapping[str, Any] | None,
    resamples: int,
    seed: int,
) -> EvalReport:
    frames = [
        user_metrics(
            r.lists,
            truth,
            users,
            n,
            personal=r.personal,
            channel_of=channel_of,
            category_of=category_of,
        )
        for r in runs
    ]
    k = len(USER_METRICS)
    stacked = np.hstack([f.to_numpy(dtype="float64") for f in frames]) if frames else None
    means = None if stacked is None else bootstrap_means(stacked, resamples=resamples, seed=seed)
    ref = next(i for i, r in enumerate(runs) if r.name == REFERENCE)
    period_days: int | None = None
    if split.cut is not None and len(truth_rows):
        span = (int(truth_rows["timestamp"].max()) - split.cut) / DAY + 1
        period_days = period_length(span)[0]
    systems = []
    for i, (r, f) in enumerate(zip(runs, frames, strict=True)):
        metrics: dict[str, float | None] = {}
        ci: dict[str, tuple[float, float] | None] = {}
        rel: dict[str, float | None] = {}
        rel_ci: dict[str, tuple[float, float] | None] = {}
        assert means is not None
        for j, name in enumerate(USER_METRICS):
            col = f[name].to_numpy(dtype="float64")
            if np.isnan(col).any():
                metrics[name], ci[name] = None, None
                continue
            metrics[name] = float(col.mean())
            draws = means[:, i * k + j]
            ci[name] = (float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5)))
            ref_col = frames[ref][name].to_numpy(dtype="float64")
            ref_draws = means[:, ref * k + j]
            if ref_col.mean() > 0:
                rel[name] = 100.0 * float(col.mean()) / float(ref_col.mean())
                with np.errstate(all="ignore"):
                    ratio = 100.0 * draws / ref_draws
                ratio = ratio[np.isfinite(ratio)]
                rel_ci[name] = (
                    (float(np.percentile(ratio, 2.5)), float(np.percentile(ratio, 97.5)))
                    if len(ratio)
                    else None
                )
            else:
                rel[name], rel_ci[name] = None, None
        recommended = {v for u in users for v in r.lists.get(u, ())[:n]}
        metrics["catalog_coverage"] = len(recommended) / catalog if catalog else None
        ci["catalog_coverage"] = None
        ref_cov = len({v for u in users for v in runs[ref].lists.get(u, ())[:n]})
        rel["catalog_coverage"] = 100.0 * len(recommended) / ref_cov if ref_cov else None
        systems.append(
            SystemResult(
                name=r.name,
                kind=r.kind,
                metrics={m: metrics.get(m) for m in METRICS},
                ci={m: ci.get(m) for m in METRICS},
                relative={m: rel.get(m) for m in METRICS},
                relative_ci={m: rel_ci.get(m) for m in METRICS},
                note=r.note,
                overrides=r.overrides,
                seconds=r.seconds,
                failed_users=r.failed,
                by_period=(
                    by_period(r.lists, truth_rows, split.cut, n, period_days)
                    if period_days is not None and split.cut is not None
                    else []
                ),
            )
        )
    summary = split.summary()
    summary["test_users"] = len(users)
    summary["truth_pairs"] = len(truth_rows)
    return EvalReport(
        protocol=split.protocol,
        n=n,
        seed=seed,
        split=summary,
        systems=systems,
        period_days=period_days,
        resamples=resamples,
    )
