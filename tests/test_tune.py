"""ytgraph tune: no leakage, determinism, learned weights that recover known ones, a config file
that every command reads."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loaders.schema import Dataset, ReadReport
from ytgraph.config import Settings, load_settings
from ytgraph.evaluation.splits import split_events, training_dataset
from ytgraph.evaluation.tune import (
    Examples,
    fit_weights,
    mean_ndcg,
    ranker_examples,
    refine_weights,
    tune,
)
from ytgraph.ingest.generate import GenerateConfig, generate_world, write_world
from ytgraph.recommendation.memory import MemoryGraph
from ytgraph.recommendation.ranking import SIGNALS


def small_world(seed: int = 3) -> Dataset:
    ev, videos = generate_world(GenerateConfig(users=150, videos=120, days=10, seed=seed))
    return Dataset(ev, videos, ReadReport(read=len(ev), accepted=len(ev)))


def stable(result_json: dict) -> dict:
    """The JSON of a tune result without its timings."""
    out = dict(result_json)
    out.pop("seconds")
    out["test"] = None
    return out


# --------------------------------------------------------------------------------- learned weights


def test_learned_weights_recover_known_weights_on_a_generated_world() -> None:
    """Signals of the candidates a real expansion finds; labels drawn from known weights."""
    data = small_world()
    s = Settings().with_overrides({"candidates.depth": 2})
    graph = MemoryGraph.build(data, s)
    users = sorted(data.events["user_id"].unique())
    ex = ranker_examples(graph, {}, s, users)
    assert len(ex.labels) > 3000 and ex.labels.sum() == 0  # no truth given: all 0
    known = np.array([3.0, 0.0, 1.0, 2.0, 0.0, 0.0, 1.5, 0.0])
    assert len(known) == len(SIGNALS)
    rng = np.random.default_rng(0)
    x = np.vstack([ex.signals] * 8)  # more draws of the same candidates: a tighter estimate
    z = -4.0 + x @ known
    y = (rng.random(len(z)) < 1.0 / (1.0 + np.exp(-z))).astype(float)
    got = fit_weights(x, y, l2=0.0)
    want = known / known.max()
    # Signals that never vary in this world (e.g. comments: none in generated metadata) carry no
    # information; only the ones that vary are identifiable.
    varies = x.std(axis=0) > 0.02
    assert varies[[0, 2, 3]].all()
    np.testing.assert_allclose(got[varies], want[varies], atol=0.12)
    assert (got >= 0).all() and got.max() == pytest.approx(1.0)


def test_fit_weights_without_any_positive_learns_nothing() -> None:
    assert not fit_weights(np.ones((5, 3)), np.zeros(5)).any()


def test_mean_ndcg_by_hand() -> None:
    # User 0: candidates a (hit), b, c (hit); user 1: d, e (hit). n = 2.
    ex = Examples(
        signals=np.array([[0.9], [0.5], [0.1], [0.2], [0.8]]),
        labels=np.array([1.0, 0.0, 1.0, 0.0, 1.0]),
        groups=np.array([0, 0, 0, 1, 1]),
        relevant=np.array([3.0, 1.0]),  # user 0 watched a third video nobody proposed
    )
    # w = 1: user 0 ranks a, b -> DCG 1, ideal (2 hits) 1 + 1/log2(3); user 1 ranks e -> 1/1.
    ideal0 = 1.0 + 1.0 / math.log2(3.0)
    assert mean_ndcg(ex, np.array([1.0]), 2) == pytest.approx((1.0 / ideal0 + 1.0) / 2)
    # w = -1 turns every order round: user 0 ranks c, b -> 1 / ideal0; user 1 ranks d, e.
    got = mean_ndcg(ex, np.array([-1.0]), 2)
    assert got == pytest.approx((1.0 / ideal0 + (1.0 / math.log2(3.0))) / 2)


def test_refine_weights_never_lowers_the_metric() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((600, 3))
    y = (x[:, 2] > 0.8).astype(float)  # only the third signal matters
    ex = Examples(x, y, np.repeat(np.arange(30), 20), np.full(30, 4.0))
    start = np.array([1.0, 1.0, 0.1])
    got = refine_weights(ex, start, 5)
    assert mean_ndcg(ex, got, 5) >= mean_ndcg(ex, start, 5)
    assert got[2] == pytest.approx(1.0) and got[0] < 0.5 and got[1] < 0.5


# ----------------------------------------------------------------------------------------- tune


def perturb_test_part(data: Dataset, protocol: str) -> Dataset:
    """The same data with every test-part event changed: other videos, other times."""
    split = split_events(data.events, protocol, seed=0)
    train = split.train
    test = split.test.copy()
    test["video_id"] = "zz_" + test["video_id"].astype(str)
    events = pd.concat([train, test], ignore_index=True)
    return Dataset(events, data.videos, data.report)


@pytest.mark.slow  # four small searches, ~10 s each
@pytest.mark.parametrize("protocol", ["temporal", "last-n"])
def test_tune_never_reads_the_test_part(protocol: str) -> None:
    data = small_world()
    a = tune(data, Settings(), protocol=protocol, budget=6, measure_test=False)
    b = tune(perturb_test_part(data, protocol), Settings(), protocol=protocol, budget=6,
             measure_test=False)  # fmt: skip
    assert len(a.trials) == 6
    assert stable(a.to_json()) == stable(b.to_json())
    # ...while the test part itself did change under the second run.
    assert not split_events(data.events, protocol).test.equals(
        split_events(perturb_test_part(data, protocol).events, protocol).test
    )


@pytest.mark.slow
def test_tune_is_deterministic_and_its_file_is_read_back(tmp_path: Path) -> None:
    data = small_world(seed=4)
    one = tune(data, Settings(), protocol="random", budget=8, seed=2)
    two = tune(data, Settings(), protocol="random", budget=8, seed=2)
    assert stable(one.to_json()) == stable(two.to_json())
    assert one.test is not None and one.test.system("tuned").overrides == one.chosen
    # The chosen trial is the best one on validation, or the start when nothing beat it.
    best = max(t.metrics["ndcg"] for t in one.trials)
    assert one.best().metrics["ndcg"] == best
    file = tmp_path / "ytgraph.toml"
    file.write_text(one.to_toml("written by a test"))
    again = load_settings(file, env={})
    assert again == one.settings
    assert again.overrides() == Settings().with_overrides(one.chosen).overrides()


@pytest.mark.slow
def test_tune_cli_writes_a_config_every_command_reads(tmp_path: Path) -> None:
    ev, videos = generate_world(GenerateConfig(users=150, videos=120, days=10, seed=3))
    files = write_world(ev, videos, tmp_path / "world")
    out = tmp_path / "ytgraph.toml"
    report = tmp_path / "tune.json"
    cmd = [sys.executable, "-m", "ytgraph.cli", "tune", str(files["events"]), "--videos",
           str(files["videos"]), "--budget", "5", "--write", str(out), "--json", str(report)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "validation (temporal" in done.stdout and "test (temporal)" in done.stdout
    doc = json.loads(report.read_text())
    assert len(doc["trials"]) == 5
    chosen = load_settings(out, env={})
    assert chosen == Settings().with_overrides(doc["chosen"])

    bad = subprocess.run(
        [*cmd[:5], "--budget", "0"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.strip().splitlines() == ["ytgraph: budget must be at least 1 trial, not 0"]


def test_validation_is_carved_from_training_only() -> None:
    data = small_world()
    outer = split_events(data.events, "temporal")
    inner = split_events(outer.train, "temporal")
    fit = training_dataset(inner, data.videos)
    assert int(fit.events["timestamp"].max()) < int(inner.cut or 0) <= int(outer.cut or 0)
    assert int(inner.test["timestamp"].max()) < int(outer.cut or 0)
