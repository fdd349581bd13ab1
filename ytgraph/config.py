"""One settings object: defaults, then a TOML file, then ``YTGRAPH_*`` environment, then overrides.

Every stage of the data flow reads its own section (``settings.sessions``, ``settings.related``, ...),
so a notebook can build a ``Settings`` by hand and call the library the way the CLI does.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ytgraph.errors import ConfigError

ENV_PREFIX = "YTGRAPH_"
DEFAULT_FILE = "ytgraph.toml"


def cache_dir() -> Path:
    """Where resolved server jars and the managed server's home live (outside any repository)."""
    if os.environ.get("YTGRAPH_CACHE"):
        return Path(os.environ["YTGRAPH_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ytgraph"


@dataclass
class Neo4jSettings:
    """How to reach Neo4j; empty ``uri`` means: a testcontainer if Docker answers, else the managed server."""

    uri: str = ""
    user: str = "neo4j"
    password: str = ""
    database: str = "neo4j"
    version: str = "5.26.30"
    browser_version: str = "5.24.0"
    apoc_version: str = "5.26.19"
    bolt_port: int = 7687
    http_port: int = 7474
    heap: str = "3g"
    pagecache: str = "1g"
    # A load is one transaction (all or nothing); a million events hold ~1.5 GB of transaction
    # state, kept off the heap and allowed up to this much.
    transaction_memory: str = "8g"
    start_timeout_s: float = 120.0
    home: str = ""  # managed server home; default <cache>/server-<version>


@dataclass
class SessionSettings:
    """How watch events are cut into sessions (paper 2.2: co-visitation within a time window)."""

    window_hours: float = 24.0
    # A session longer than this many distinct videos is cut to its first ones: a crawler or a
    # looping player would otherwise add n^2/2 pairs of noise.
    max_videos: int = 100  # 0: no cap
    # Count only long watches: at least this many seconds and/or this fraction of the duration (both
    # must hold when both are set). A watch whose length is unknown passes.
    long_watch_seconds: float | None = None
    long_watch_fraction: float | None = None


@dataclass
class RelatedSettings:
    """Relatedness r(i, j) = c_ij / f(i, j) and the top-N list R_i each video keeps."""

    normalization: str = "product"
    top_n: int = 25
    min_count: int = 2
    min_score: float = 0.0  # scores must also be > 0 (llr below independence never relates)


@dataclass
class LoadSettings:
    """Batching of writes and where the co-visitation state is kept beside Neo4j."""

    batch_size: int = 10_000
    state_dir: str = ""  # default <cache>/state/<database>


@dataclass
class SeedSettings:
    """Which user actions make a seed, and how much each weighs (explicit > long > plain)."""

    weight_favorite: float = 3.0
    weight_like: float = 2.5
    weight_playlist_add: float = 2.5
    weight_rate: float = 2.0  # scaled by how far above the threshold the rating is
    weight_long_watch: float = 1.5
    weight_watch: float = 0.5
    rating_threshold: float = 3.5
    half_life_days: float = 30.0
    max_seeds: int = 50


@dataclass
class CandidateSettings:
    """Bounded expansion over RELATED (paper 2.3): depth, edges followed per hop, candidate cap."""

    depth: int = 2
    per_hop: int = 10
    max_candidates: int = 400
    exclude_watched: bool = True


@dataclass
class RankingSettings:
    """Weights of the linear ranker and the diversity caps (paper 2.4)."""

    w_relatedness: float = 1.0
    w_support: float = 0.3
    w_depth: float = 0.2
    w_views: float = 0.3
    w_rating: float = 0.15
    w_comments: float = 0.05
    w_likes: float = 0.1
    w_freshness: float = 0.1
    rating_prior_count: float = 10.0
    freshness_half_life_days: float = 180.0
    max_per_seed: int = 3
    max_per_channel: int = 2
    max_per_category: int = 0  # 0: no cap
    pool: int = 60
    n: int = 12


@dataclass
class Settings:
    neo4j: Neo4jSettings = field(default_factory=Neo4jSettings)
    sessions: SessionSettings = field(default_factory=SessionSettings)
    related: RelatedSettings = field(default_factory=RelatedSettings)
    load: LoadSettings = field(default_factory=LoadSettings)
    seeds: SeedSettings = field(default_factory=SeedSettings)
    candidates: CandidateSettings = field(default_factory=CandidateSettings)
    ranking: RankingSettings = field(default_factory=RankingSettings)

    def with_overrides(self, overrides: dict[str, Any]) -> Settings:
        """A copy with ``{"section.key": value}`` applied; None values are ignored (unset CLI flags)."""
        new = dataclasses.replace(
            self,
            **{
                f.name: dataclasses.replace(getattr(self, f.name)) for f in dataclasses.fields(self)
            },
        )
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            _set(new, section, key, value, source=f"override {dotted}")
        return new


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
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if typ is float:
            return float(value)
        if typ is str:
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {value!r} is not a valid {typ.__name__}") from None
    return value


def _set(settings: Settings, section: str, key: str, value: Any, source: str) -> None:
    sections = {f.name for f in dataclasses.fields(settings)}
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
    setattr(part, key, _coerce(value, _field_type(part, key), source))


def load_settings(
    path: str | Path | None = None,
    env: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Defaults <- TOML file (``path``, else ``$YTGRAPH_CONFIG``, else ./ytgraph.toml) <- env <- overrides.

    Environment keys are ``YTGRAPH_<SECTION>__<KEY>`` (e.g. ``YTGRAPH_RELATED__TOP_N=50``); the
    standard ``NEO4J_URI``, ``NEO4J_USER`` and ``NEO4J_PASSWORD`` are honoured too.
    """
    env = dict(os.environ if env is None else env)
    settings = Settings()
    explicit = path or env.get("YTGRAPH_CONFIG")
    file = Path(explicit) if explicit else Path(DEFAULT_FILE)
    if explicit and not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    if file.is_file():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{file}: not valid TOML ({e})") from None
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
