"""Settings: precedence defaults <- profile <- file <- environment <- flags, and validation up front."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from ytgraph.config import (
    PROFILES,
    ConfigError,
    Settings,
    load_settings,
    profile_settings,
    validate,
)

# The paper's system as ytgraph first shipped it, written out by hand (not read from the code).
PAPER_BY_HAND = {
    ("related", "normalization"): "product",
    ("related", "damping"): 0.0,
    ("related", "top_n"): 25,
    ("related", "min_count"): 2,
    ("sessions", "window_hours"): 24.0,
    ("sessions", "max_videos"): 100,
    ("seeds", "weight_favorite"): 3.0,
    ("seeds", "weight_like"): 2.5,
    ("seeds", "weight_watch"): 0.5,
    ("seeds", "weight_long_watch"): 1.5,
    ("seeds", "rating_threshold"): 3.5,
    ("seeds", "half_life_days"): 30.0,
    ("seeds", "max_seeds"): 50,
    ("candidates", "depth"): 2,
    ("candidates", "per_hop"): 10,
    ("candidates", "max_candidates"): 400,
    ("ranking", "w_relatedness"): 1.0,
    ("ranking", "w_support"): 0.3,
    ("ranking", "w_depth"): 0.2,
    ("ranking", "w_views"): 0.3,
    ("ranking", "w_rating"): 0.15,
    ("ranking", "w_comments"): 0.05,
    ("ranking", "w_likes"): 0.1,
    ("ranking", "w_freshness"): 0.1,
    ("ranking", "max_per_seed"): 3,
    ("ranking", "max_per_channel"): 2,
}


def no_env() -> dict[str, str]:
    return {}


def test_paper_profile_is_the_paper_system() -> None:
    s = profile_settings("paper")
    assert s.profile == "paper"
    for (section, key), value in PAPER_BY_HAND.items():
        assert getattr(getattr(s, section), key) == value, f"{section}.{key}"


def test_every_profile_is_valid_and_default_has_no_overrides() -> None:
    assert PROFILES["default"] == {}
    for name in PROFILES:
        validate(profile_settings(name))


def test_precedence_defaults_profile_file_env_flags(tmp_path: Path) -> None:
    file = tmp_path / "y.toml"
    file.write_text('profile = "paper"\n[related]\ntop_n = 40\n[candidates]\nper_hop = 7\n')
    env = {"YTGRAPH_CANDIDATES__PER_HOP": "9", "YTGRAPH_SEEDS__MAX_SEEDS": "77"}
    s = load_settings(file, env=env, overrides={"seeds.max_seeds": 88})
    assert s.profile == "paper"
    assert s.related.normalization == "product"  # from the profile
    assert s.candidates.depth == 2  # from the profile
    assert s.related.top_n == 40  # the file beats the profile
    assert s.candidates.per_hop == 9  # the environment beats the file
    assert s.seeds.max_seeds == 88  # a flag beats the environment
    assert s.ranking.pool == Settings().ranking.pool  # untouched: the default

    # The profile named by a flag beats the environment's, which beats the file's.
    assert load_settings(file, env={"YTGRAPH_PROFILE": "default"}).profile == "default"
    assert load_settings(file, env={"YTGRAPH_PROFILE": "default"}, profile="paper").profile == (
        "paper"
    )
    # ...and the file's values still sit above whichever profile was chosen.
    assert load_settings(file, env={}, profile="default").related.top_n == 40


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[related]\nnormalization = "prodcut"\n', "'prodcut' is not one of product"),
        ("[related]\ntop_n = 0\n", "related.top_n must be >= 1"),
        ("[related]\ndamping = -1.0\n", "related.damping must be >= 0"),
        ("[candidates]\ndepth = 5\n", "candidates.depth must be <= 4"),
        ("[candidates]\ndepth = 1.5\n", "1.5 is not a valid int"),
        ("[ranking]\nw_views = -0.1\n", "ranking.w_views must be >= 0"),
        ("[ranking]\nn = 100\n", "ranking.n must be <= 60"),
        ("[seeds]\nrating_threshold = 6\n", "seeds.rating_threshold must be <= 5"),
        ("[sessions]\nwindow_hours = 0\n", "sessions.window_hours must be > 0"),
        ("[sessions]\nwindow_hours = nan\n", "must be a finite number"),
        ("[related]\ntop_n = true\n", "True is not a valid int"),
        ("[relate]\ntop_n = 5\n", "unknown section 'relate'"),
        ("[related]\ntopn = 5\n", "unknown key related.topn"),
        ('profile = "papr"\n', "unknown profile 'papr'"),
        ("profile = 3\n", "profile must be a name"),
        ("related = 3\n", "'related' should be a [section]"),
        ("[related\n", "not valid TOML"),
    ],
)
def test_bad_settings_are_one_error_when_loaded(tmp_path: Path, text: str, says: str) -> None:
    file = tmp_path / "y.toml"
    file.write_text(text)
    with pytest.raises(ConfigError) as got:
        load_settings(file, env=no_env())
    assert says in str(got.value)
    assert "\n" not in str(got.value)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"YTGRAPH_RELATED__NORMALIZATION": "cosin"}, "YTGRAPH_RELATED__NORMALIZATION"),
        ({"YTGRAPH_CANDIDATES__PER_HOP": "0"}, "candidates.per_hop must be >= 1"),
        ({"YTGRAPH_PROFILE": "nope"}, "unknown profile 'nope'"),
        ({"YTGRAPH_RANKING__MAX_PER_SEED": "-1"}, "ranking.max_per_seed must be >= 0"),
    ],
)
def test_bad_environment_is_one_error(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as got:
        load_settings(None, env=env)
    assert says in str(got.value)


def test_overrides_and_hand_made_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"related\.min_count must be >= 1"):
        Settings().with_overrides({"related.min_count": 0})
    s = Settings()
    s.candidates.depth = 9
    with pytest.raises(ConfigError, match=r"candidates\.depth must be <= 4"):
        validate(s)
    s = Settings()
    s.related = dataclasses.replace(s.related, normalization="nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not one of"):
        validate(s)


def test_overrides_lists_what_differs_from_the_defaults() -> None:
    s = Settings().with_overrides({"related.top_n": 77, "ranking.w_views": 0.0})
    assert s.overrides() == {"related.top_n": 77, "ranking.w_views": 0.0}
    paper = profile_settings("paper")
    assert Settings().with_overrides(paper.overrides()).overrides() == paper.overrides()


@pytest.mark.parametrize(
    "args",
    [
        ["--profile", "nope", "stats"],
        ["-c", "{file}", "stats"],
    ],
)
def test_cli_reports_bad_settings_in_one_line_with_exit_2(tmp_path: Path, args: list[str]) -> None:
    file = tmp_path / "bad.toml"
    file.write_text("[candidates]\ndepth = 0\n")
    argv = [a.replace("{file}", str(file)) for a in args]
    done = subprocess.run(
        [sys.executable, "-m", "ytgraph.cli", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ytgraph: "), done.stderr


@pytest.mark.parametrize(
    "uri",
    [
        "nonsense",
        "localhost:7687",
        "http://localhost:7474",
        "https://db.example.com:7473",
        "bolt://",
        "bolt://localhost:notaport",
        "bolt://localhost:0",
    ],
)
def test_neo4j_uri_must_be_bolt(uri: str) -> None:
    for kwargs in ({"overrides": {"neo4j.uri": uri}, "env": {}}, {"env": {"NEO4J_URI": uri}}):
        with pytest.raises(ConfigError) as got:
            load_settings(None, **kwargs)  # type: ignore[arg-type]
        assert "bolt://" in str(got.value) and "\n" not in str(got.value)


@pytest.mark.parametrize(
    "uri", ["", "bolt://localhost:7687", "neo4j+s://db.example.com", "bolt+ssc://10.0.0.1:7687"]
)
def test_bolt_uris_are_accepted(uri: str) -> None:
    assert load_settings(None, env={}, overrides={"neo4j.uri": uri}).neo4j.uri == uri
