"""A/B arms of a live experiment: what each arm shows, and which users it gets.

An arms file (TOML) names the experiment and its arms; each arm has a ``share`` of the users and
shows either ytgraph's recommendations (``overrides`` of its settings, or a ``profile``, as
``evaluate --variants`` takes them) or one of the paper's browse-page charts (``baseline``)::

    experiment = "browse-2010"
    control = "most-viewed"          # optional: the arm `abtest report` compares with

    [[arm]]
    name = "recommended"
    share = 0.4
    overrides = { "ranking.diversity" = 0.3 }   # optional

    [[arm]]
    name = "most-viewed"
    share = 0.2
    baseline = "most_viewed"         # most_viewed | top_favorited | top_rated

A user's arm is fixed by a hash of (experiment, user): sha256 → a number uniform in [0, 1) →
the arm whose cumulative share passes it. The same file gives the same assignment on every run
and machine; another experiment name reshuffles everyone.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ytgraph.config import Settings, profile_settings
from ytgraph.errors import ConfigError, YtGraphError

# The browse-page charts an arm can show (paper 4.1), with the names the report prints.
ARM_BASELINES = {
    "most_viewed": "Most Viewed",
    "top_favorited": "Top Favorited",
    "top_rated": "Top Rated",
}
SHARE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Arm:
    """One arm: a name, a share of the users, and a chart (``baseline``) or ytgraph ``overrides``."""

    name: str
    share: float
    baseline: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_ytgraph(self) -> bool:
        return self.baseline is None

    def settings(self, base: Settings) -> Settings:
        """The arm's ytgraph settings: ``overrides`` on ``base``, never re-showing watched videos."""
        s = base.with_overrides(dict(self.overrides))
        s.candidates.exclude_watched = True
        return s


@dataclass(frozen=True)
class Experiment:
    """An experiment's name, its arms (shares summing to 1) and the control arm."""

    name: str
    arms: tuple[Arm, ...]
    control: str

    def arm(self, name: str) -> Arm:
        for a in self.arms:
            if a.name == name:
                return a
        raise ConfigError(f"experiment {self.name!r} has no arm {name!r}")

    def assign(self, user_id: str) -> str:
        """The arm of ``user_id``: cumulative shares against ``bucket(experiment, user)``."""
        u = bucket(self.name, user_id)
        total = 0.0
        for a in self.arms:
            total += a.share
            if u < total:
                return a.name
        return self.arms[-1].name  # shares sum to 1 within rounding

    def assign_all(self, user_ids: Iterable[str]) -> dict[str, str]:
        return {u: self.assign(u) for u in user_ids}


def bucket(experiment: str, user_id: str) -> float:
    """A number in [0, 1) fixed by (experiment, user): the first 8 bytes of a sha256."""
    digest = hashlib.sha256(f"{experiment}\x00{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def parse_experiment(data: Mapping[str, Any], source: str = "arms") -> Experiment:
    """An Experiment from the parsed TOML; any mistake is one ConfigError naming ``source``."""
    extra = set(data) - {"experiment", "control", "arm"}
    if extra:
        raise ConfigError(f"{source}: unknown key {sorted(extra)[0]!r}")
    name = data.get("experiment")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f'{source}: needs experiment = "<name>"')
    raw = data.get("arm")
    if not isinstance(raw, list) or len(raw) < 2:
        raise ConfigError(f"{source}: needs at least two [[arm]] tables")
    arms = [_parse_arm(item, i, source) for i, item in enumerate(raw, start=1)]
    names = [a.name for a in arms]
    dup = next((x for x in names if names.count(x) > 1), None)
    if dup is not None:
        raise ConfigError(f"{source}: arm name {dup!r} is used twice")
    total = sum(a.share for a in arms)
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise ConfigError(f"{source}: the arms' shares add up to {total:g}, not 1")
    control = data.get("control", arms[0].name)
    if control not in names:
        raise ConfigError(f"{source}: control {control!r} is not one of the arms")
    return Experiment(name.strip(), tuple(arms), str(control))


def _parse_arm(item: Any, i: int, source: str) -> Arm:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        raise ConfigError(f"{source}: arm {i} needs a name")
    name = item["name"]
    where = f"{source}: arm {name!r}"
    extra = set(item) - {"name", "share", "baseline", "overrides", "profile"}
    if extra:
        raise ConfigError(f"{where}: unknown key {sorted(extra)[0]!r}")
    share = item.get("share")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise ConfigError(f"{where}: share must be a number in (0, 1]")
    baseline = item.get("baseline")
    if baseline is not None:
        if "overrides" in item or "profile" in item:
            raise ConfigError(f"{where}: a baseline arm takes no overrides or profile")
        key = str(baseline).replace("-", "_")
        if key not in ARM_BASELINES:
            raise ConfigError(
                f"{where}: unknown baseline {baseline!r} (known: {', '.join(ARM_BASELINES)})"
            )
        return Arm(name, float(share), baseline=key)
    overrides = item.get("overrides", {})
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}: overrides must be a table")
    try:
        if "profile" in item:  # the profile's settings first, the arm's own overrides on top
            overrides = {**profile_settings(str(item["profile"])).overrides(), **overrides}
        Settings().with_overrides(overrides)  # unknown keys and bad values fail here
    except YtGraphError as e:
        raise ConfigError(f"{where}: {e}") from None
    return Arm(name, float(share), overrides=dict(overrides))


def load_experiment(path: str | Path) -> Experiment:
    """Read and check an arms file (see the module doc); one ConfigError line on any mistake."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"arms file not found: {p}") from None
    except IsADirectoryError:
        raise ConfigError(f"arms file {p} is a folder, not a file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not valid TOML ({e})") from None
    except OSError as e:
        raise ConfigError(f"cannot read arms file {p}: {e.strerror or e}") from None
    return parse_experiment(data, str(p))
