"""One settings object: defaults <- profile <- TOML file <- ``YTGRAPH_*`` environment <- overrides.

Every stage of the data flow reads its own section (``settings.sessions``, ``settings.related``, ...),
so a notebook can build a ``Settings`` by hand and call the library the way the CLI does.

Every value is checked here, once, when the settings are made (``validate``): its type (a
``Literal`` lists the allowed words), its range (``field`` metadata ``ge``/``le``/``gt``), and the
names of sections, keys and profiles. A mistake is one ``ConfigError`` naming where it came from,
before any work starts.

A **profile** is a named set of overrides that sits just above the defaults: ``profile = "paper"``
at the top of ``ytgraph.toml``, ``YTGRAPH_PROFILE`` or ``ytgraph --profile paper``. ``default``
is the measured defaults (no overrides); ``paper`` is the paper's literal system (``c_ij / (c_i
c_j)``, two hops, 25 related videos, the hand-set ranker), kept so its figures can be reproduced.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from ytgraph.errors import ConfigError

ENV_PREFIX = "YTGRAPH_"
DEFAULT_FILE = "ytgraph.toml"
PROFILE_ENV = "YTGRAPH_PROFILE"

Normalization = Literal["product", "candidate", "cosine", "jaccard", "lift", "llr"]
#: Where a load counts sessions, c_i, c_ij and R_i: in this process (numpy/scipy) or on Spark.
CountEngineName = Literal["inprocess", "spark"]
#: URI schemes of the Bolt protocol, the only one ytgraph speaks to Neo4j.
BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def _num(default: Any, **bounds: float) -> Any:
    """A dataclass field with a default and range bounds (``ge``, ``gt``, ``le``) for ``validate``."""
    return field(default=default, metadata=bounds)


def cache_dir() -> Path:
    """Where resolved server jars and the managed server's home live (outside any repository)."""
    if os.environ.get("YTGRAPH_CACHE"):
        return Path(os.environ["YTGRAPH_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ytgraph"


@dataclass
class Neo4jSettings:
    """How to reach Neo4j; an empty ``uri`` means the managed server (``ytgraph neo4j start``)."""

    uri: str = ""
    user: str = "neo4j"
    password: str = ""
    database: str = "neo4j"
    version: str = "5.26.30"
    browser_version: str = "5.24.0"
    apoc_version: str = "5.26.19"
    bolt_port: int = _num(7687, ge=1, le=65535)
    http_port: int = _num(7474, ge=1, le=65535)
    heap: str = "3g"
    pagecache: str = "1g"
    # A load's last transaction holds its new events' rows (a million events: ~1.5 GB of
    # transaction state), kept off the heap and allowed up to this much.
    transaction_memory: str = "8g"
    start_timeout_s: float = _num(120.0, gt=0)
    home: str = ""  # managed server home; default <cache>/home/default


@dataclass
class SessionSettings:
    """How watch events are cut into sessions (paper 2.2: co-visitation within a time window)."""

    window_hours: float = _num(24.0, gt=0)
    # A session longer than this many distinct videos is cut to its first ones: a crawler or a
    # looping player would otherwise add n^2/2 pairs of noise.
    max_videos: int = _num(100, ge=0)  # 0: no cap
    # Count only long watches: at least this many seconds and/or this fraction of the duration (both
    # must hold when both are set). A watch whose length is unknown passes.
    long_watch_seconds: float | None = _num(None, ge=0)
    long_watch_fraction: float | None = _num(None, ge=0)


@dataclass
class RelatedSettings:
    """Relatedness r(i, j) = c_ij / f(i, j) and the top-N list R_i each video keeps."""

    normalization: Normalization = "llr"
    top_n: int = _num(100, ge=1)
    min_count: int = _num(2, ge=1)
    min_score: float = 0.0  # scores must also be > 0 (llr below independence never relates)
    # Pseudo-sessions added to c_i and c_j inside f (see ytgraph.ingest.related): shrinks the scores of
    # videos seen in few sessions, where c_ij = 2 is luck more than evidence.
    damping: float = _num(0.0, ge=0)


@dataclass
class LoadSettings:
    """Batching of writes and where the co-visitation state is kept beside Neo4j."""

    batch_size: int = _num(10_000, ge=1)
    # A load writes its new related lists beside the old ones in transactions of about this many
    # RELATED edges, then switches to them in its last transaction (see ingest.load): the server's
    # transaction memory holds one part, not the whole load.
    part_size: int = _num(200_000, ge=1)
    state_dir: str = ""  # default <cache>/state/<hash of the server home or URI>-<database>
    # One load at a time per count state: a second one waits this long for the first (0: refused
    # at once).
    lock_timeout_s: float = _num(3600.0, ge=0)
    # The counting (sessions, c_i/c_ij, R_i): "inprocess" or "spark" (PySpark, the `spark` extra).
    engine: CountEngineName = "inprocess"
    spark_master: str = (
        "local[*]"  # any Spark master URL: local[N], spark://host:7077, yarn, k8s://...
    )
    # Where the spark engine exchanges Parquet files with Spark; on a cluster, a folder every
    # executor sees at the same path (a shared mount). Default: a fresh temporary folder.
    spark_dir: str = ""
    # A first load into an empty graph on ytgraph's managed server with at least this many events
    # goes through neo4j-admin database import (the server stops meanwhile); -1: never.
    bulk_import_min_events: int = _num(1_000_000, ge=-1)


@dataclass
class SeedSettings:
    """Which user actions make a seed, and how much each weighs (explicit > long > plain)."""

    weight_favorite: float = _num(3.0, ge=0)
    weight_like: float = _num(2.5, ge=0)
    weight_playlist_add: float = _num(2.5, ge=0)
    weight_rate: float = _num(2.0, ge=0)  # scaled by how far above the threshold the rating is
    weight_long_watch: float = _num(1.5, ge=0)
    weight_watch: float = _num(0.5, ge=0)
    # Ratings at or above this count as seeds; one below it removes the video (a dislike). The
    # default counts every rating of 0.5 stars or more: on rating data a rated video predicts what
    # the user watches next whatever the stars (see the README's evaluation).
    rating_threshold: float = _num(0.5, ge=0, le=5)
    half_life_days: float = _num(0.0, ge=0)  # 0: no recency decay
    max_seeds: int = _num(200, ge=1)


@dataclass
class CandidateSettings:
    """Bounded expansion over RELATED (paper 2.3): depth, edges followed per hop, candidate cap."""

    depth: int = _num(1, ge=1, le=4)
    per_hop: int = _num(30, ge=1)
    max_candidates: int = _num(1000, ge=1)
    exclude_watched: bool = True
    # The most popular videos (not excluded) join the candidates without a path, so the ranker
    # weighs a strong popular video against weakly related ones instead of only backfilling.
    popular: int = _num(0, ge=0, le=1000)


@dataclass
class RankingSettings:
    """Weights of the linear ranker (each >= 0, so every signal counts for a pick, never against
    it) and the diversity caps (paper 2.4)."""

    # A path's strength: the product of its edges' weights (score / best score of that list, the
    # paper's per-list view) or of their raw scores (keeps how much evidence each edge has).
    strength: Literal["weight", "score"] = "weight"
    w_relatedness: float = _num(1.0, ge=0)
    w_support: float = _num(0.3, ge=0)
    w_depth: float = _num(0.2, ge=0)
    w_views: float = _num(0.3, ge=0)
    w_rating: float = _num(0.15, ge=0)
    w_comments: float = _num(0.05, ge=0)
    w_likes: float = _num(0.1, ge=0)
    w_freshness: float = _num(0.1, ge=0)
    rating_prior_count: float = _num(10.0, ge=0)
    freshness_half_life_days: float = _num(180.0, ge=0)
    max_per_seed: int = _num(3, ge=0)  # 0: no cap
    max_per_channel: int = _num(4, ge=0)
    max_per_category: int = _num(0, ge=0)
    pool: int = _num(60, ge=4, le=60)
    n: int = _num(12, ge=4, le=60)


@dataclass
class ServingSettings:
    """Serving stored pools (paper 2.5): a rotated list per visit, and when a stored pool is stale."""

    rotate: bool = True  # each visit prefers the pool items the user was shown least
    shown_keep: int = _num(120, ge=0)  # impressions remembered per user for the rotation
    # A load marks a stored pool stale when one of its videos moved this much (relative) in views,
    # sessions, likes, comments or ratings, or when the catalogue's maxima did.
    stale_tolerance: float = _num(0.1, ge=0)
    # A long-lived serving process (the API) keeps users' pools in memory for as long as the graph
    # stays at one generation, which it re-reads at most this often (0: before every visit); so it
    # may serve up to this long from before another process's load, forget or precompute.
    generation_check_s: float = _num(1.0, ge=0)
    cache_users: int = _num(10_000, ge=0)  # users whose pools it keeps, least recent out; 0: none


@dataclass
class Settings:
    neo4j: Neo4jSettings = field(default_factory=Neo4jSettings)
    sessions: SessionSettings = field(default_factory=SessionSettings)
    related: RelatedSettings = field(default_factory=RelatedSettings)
    load: LoadSettings = field(default_factory=LoadSettings)
    seeds: SeedSettings = field(default_factory=SeedSettings)
    candidates: CandidateSettings = field(default_factory=CandidateSettings)
    ranking: RankingSettings = field(default_factory=RankingSettings)
    serving: ServingSettings = field(default_factory=ServingSettings)
    profile: str = "default"

    def with_overrides(self, overrides: Mapping[str, Any], source: str = "override") -> Settings:
        """A validated copy with ``{"section.key": value}`` applied; None values are ignored
        (unset CLI flags)."""
        new = dataclasses.replace(
            self,
            **{f.name: dataclasses.replace(getattr(self, f.name)) for f in _sections()},
        )
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            _set(new, section, key, value, source=f"{source} {dotted}")
        validate(new)
        return new

    def overrides(self) -> dict[str, Any]:
        """Every value that differs from the defaults, as ``{"section.key": value}``."""
        base = Settings()
        return {
            f"{f.name}.{g.name}": getattr(getattr(self, f.name), g.name)
            for f in _sections()
            for g in dataclasses.fields(getattr(self, f.name))
            if getattr(getattr(self, f.name), g.name) != getattr(getattr(base, f.name), g.name)
        }


# The paper's literal system (Davidson et al. 2010 as ytgraph first built it): c_ij / (c_i c_j),
# 25 related videos, two hops over the top 10 edges, seeds from explicit actions and watches with a
# 30-day decay, and the hand-set ranker. Kept as a profile so its figures can be reproduced.
PAPER: dict[str, Any] = {
    "related.normalization": "product",
    "related.damping": 0.0,
    "related.top_n": 25,
    "related.min_count": 2,
    "sessions.max_videos": 100,
    "seeds.rating_threshold": 3.5,
    "seeds.half_life_days": 30.0,
    "seeds.max_seeds": 50,
    "sessions.window_hours": 24.0,
    "candidates.popular": 0,
    "ranking.strength": "weight",
    "candidates.depth": 2,
    "candidates.per_hop": 10,
    "candidates.max_candidates": 400,
    "ranking.w_relatedness": 1.0,
    "ranking.w_support": 0.3,
    "ranking.w_depth": 0.2,
    "ranking.w_views": 0.3,
    "ranking.w_rating": 0.15,
    "ranking.w_comments": 0.05,
    "ranking.w_likes": 0.1,
    "ranking.w_freshness": 0.1,
    "ranking.max_per_seed": 3,
    "ranking.max_per_channel": 2,
}
PROFILES: dict[str, dict[str, Any]] = {"default": {}, "paper": PAPER}


def _sections() -> tuple[dataclasses.Field[Any], ...]:
    """The section fields of ``Settings`` (everything but ``profile``)."""
    return tuple(f for f in dataclasses.fields(Settings) if f.name != "profile")


def _field(obj: Any, key: str) -> dataclasses.Field[Any]:
    return next(f for f in dataclasses.fields(obj) if f.name == key)


def _field_type(obj: Any, key: str) -> Any:
    hints = typing.get_type_hints(type(obj))
    return hints[key]


def _coerce(value: Any, typ: Any, source: str) -> Any:
    """Turn a TOML or environment value into the field's type, or say which value is wrong."""
    if isinstance(typ, types.UnionType) or typing.get_origin(typ) is typing.Union:
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
            return None
        typ = args[0]
    if typing.get_origin(typ) is Literal:
        allowed = typing.get_args(typ)
        text = str(value).strip().lower() if isinstance(value, str) else value
        if text not in allowed:
            raise ConfigError(f"{source}: {value!r} is not one of {', '.join(allowed)}")
        return text
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if typ is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if typ is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if typ is str:
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ValueError(value)
            return str(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{source}: {value!r} is not a valid {typ.__name__}") from None
    return value


_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


def mask_credentials(text: str) -> str:
    """``bolt://user:password@host`` becomes ``bolt://***@host`` wherever a URI shows in ``text``."""
    return _USERINFO.sub(r"\1***@", text)


def check_uri(uri: str, source: str) -> None:
    """A Neo4j URI is empty (the managed server) or ``scheme://host[:port]`` with a Bolt scheme;
    credentials never ride in it (they would show in every message and in the process list).
    ConfigError, with the URI masked, otherwise."""
    if not uri:
        return
    shown = mask_credentials(uri)
    parts = urlsplit(uri)
    if "@" in parts.netloc:
        raise ConfigError(
            f"{source}: {shown} carries credentials: give them as NEO4J_USER / NEO4J_PASSWORD "
            "([neo4j] user / password), not in the URI"
        )
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme.lower() not in BOLT_SCHEMES or not parts.hostname or not port_ok:
        raise ConfigError(
            f"{source}: {shown} is not a Bolt URI such as bolt://localhost:7687 "
            f"(ytgraph speaks Bolt only: {', '.join(BOLT_SCHEMES)})"
        )


_SPARK_MASTER = re.compile(
    r"local(\[(\*|[1-9][0-9]*)(,[1-9][0-9]*)?\])?|yarn|(spark|mesos|k8s)://\S+",
)


def check_spark_master(master: str, source: str) -> None:
    """A Spark master URL as ``spark-submit --master`` takes it, or ConfigError."""
    if not _SPARK_MASTER.fullmatch(master):
        raise ConfigError(
            f"{source}: {master!r} is not a Spark master URL (local[*], local[2], "
            "spark://host:7077, yarn, k8s://https://host:443)"
        )


def _set(settings: Settings, section: str, key: str, value: Any, source: str) -> None:
    sections = {f.name for f in _sections()}
    if section not in sections:
        raise ConfigError(
            f"{source}: unknown section {section!r} (known: {', '.join(sorted(sections))})"
        )
    part = getattr(settings, section)
    keys = {f.name for f in dataclasses.fields(part)}
    if key not in keys:
        raise ConfigError(
            f"{source}: unknown key {section}.{key} (known: {', '.join(sorted(keys))})"
        )
    value = _coerce(value, _field_type(part, key), source)
    _check_range(f"{section}.{key}", value, _field(part, key).metadata, source)
    if (section, key) == ("neo4j", "uri"):
        check_uri(value, source)
    if (section, key) == ("load", "spark_master"):
        check_spark_master(value, source)
    setattr(part, key, value)


def _check_range(name: str, value: Any, bounds: Mapping[str, Any], source: str) -> None:
    if value is None or not bounds:
        return
    where = f"{source}: " if source else ""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}{name} must be a finite number, not {value!r}")
    if "ge" in bounds and value < bounds["ge"]:
        raise ConfigError(f"{where}{name} must be >= {bounds['ge']:g}, not {value!r}")
    if "gt" in bounds and value <= bounds["gt"]:
        raise ConfigError(f"{where}{name} must be > {bounds['gt']:g}, not {value!r}")
    if "le" in bounds and value > bounds["le"]:
        raise ConfigError(f"{where}{name} must be <= {bounds['le']:g}, not {value!r}")


def validate(settings: Settings) -> Settings:
    """Check every value's type and range (for ``Settings`` built or changed by hand)."""
    if settings.profile not in PROFILES:
        raise ConfigError(
            f"unknown profile {settings.profile!r} (known: {', '.join(sorted(PROFILES))})"
        )
    for f in _sections():
        part = getattr(settings, f.name)
        for g in dataclasses.fields(part):
            value = getattr(part, g.name)
            name = f"{f.name}.{g.name}"
            typ = _field_type(part, g.name)
            if _coerce(value, typ, name) != value:
                raise ConfigError(f"{name}: {value!r} is not a valid value")
            if isinstance(value, float) and math.isnan(value):
                raise ConfigError(f"{name} must be a number, not NaN")
            _check_range(name, value, g.metadata, "")
    check_uri(settings.neo4j.uri, "neo4j.uri")
    check_spark_master(settings.load.spark_master, "load.spark_master")
    return settings


def profile_settings(name: str) -> Settings:
    """The defaults with profile ``name`` applied (ConfigError for an unknown name)."""
    key = str(name).strip().lower()
    if key not in PROFILES:
        raise ConfigError(f"unknown profile {name!r} (known: {', '.join(sorted(PROFILES))})")
    settings = Settings().with_overrides(PROFILES[key], source=f"profile {key}")
    settings.profile = key
    return settings


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{file}: not valid TOML ({e})") from None
    except OSError as e:
        raise ConfigError(f"{file}: cannot be read ({e.strerror or e})") from None


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    profile: str | None = None,
) -> Settings:
    """Defaults <- profile <- TOML file (``path``, else ``$YTGRAPH_CONFIG``, else ./ytgraph.toml)
    <- env <- overrides, validated.

    The profile is ``profile`` (a flag), else ``$YTGRAPH_PROFILE``, else the file's top-level
    ``profile = "..."``, else ``default``; it applies beneath the file, so the file, the
    environment and the flags still override it. Environment keys are
    ``YTGRAPH_<SECTION>__<KEY>`` (e.g. ``YTGRAPH_RELATED__TOP_N=50``); the standard
    ``NEO4J_URI``, ``NEO4J_USER`` and ``NEO4J_PASSWORD`` are honoured too.
    """
    env = dict(os.environ if env is None else env)
    explicit = path or env.get("YTGRAPH_CONFIG")
    file = Path(explicit) if explicit else Path(DEFAULT_FILE)
    if explicit and not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    data = _read_toml(file) if file.is_file() else {}
    named = data.pop("profile", None)
    if named is not None and not isinstance(named, str):
        raise ConfigError(f"{file}: profile must be a name, not {named!r}")
    chosen = profile or env.get(PROFILE_ENV) or named or "default"
    settings = profile_settings(chosen)
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{file}: {section!r} should be a [section]")
        for key, value in values.items():
            _set(settings, section, key, value, source=str(file))
    for name in ("uri", "user", "password"):
        if env.get(f"NEO4J_{name.upper()}"):
            _set(
                settings,
                "neo4j",
                name,
                env[f"NEO4J_{name.upper()}"],
                source=f"NEO4J_{name.upper()}",
            )
    for name, value in env.items():
        if name.startswith(ENV_PREFIX) and "__" in name:
            section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
            _set(settings, section, key, value, source=name)
    return settings.with_overrides(overrides or {})
