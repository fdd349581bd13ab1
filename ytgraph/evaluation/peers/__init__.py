"""Outside recommenders to measure ytgraph against, each run in an interpreter of its own.

``sar``: Microsoft Recommenders' SAR (Smart Adaptive Recommendations). It needs ``numpy<2`` and a
large dependency tree, so it is never a dependency of ytgraph: the first time it is asked for, a
virtualenv is made in ``<cache>/sar-venv`` (``python -m venv`` + ``pip install recommenders
"numpy<2"``, a few minutes, said on stderr) and ``sar_runner.py`` runs there as a subprocess.
``YTGRAPH_SAR_PYTHON`` names an interpreter that already has ``recommenders`` instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ytgraph.config import cache_dir
from ytgraph.console import Echo, stderr_line
from ytgraph.errors import YtGraphError

SAR_SIMILARITIES = ("lift", "jaccard", "cosine")
SAR_PACKAGES = ("recommenders", "numpy<2")
SAR_PYTHON_ENV = "YTGRAPH_SAR_PYTHON"
RUNNER = Path(__file__).resolve().parent / "sar_runner.py"
_CHECK = "import recommenders.models.sar"


class PeerError(YtGraphError):
    """A peer recommender could not be set up or failed; the message says why, in one line."""


def sar_venv_dir() -> Path:
    return cache_dir() / "sar-venv"


def _works(python: Path) -> bool:
    try:
        done = subprocess.run(
            [str(python), "-c", _CHECK], capture_output=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"


def ensure_sar_python(
    *, venv: Path | None = None, base_python: str | None = None, echo: Echo | None = stderr_line
) -> Path:
    """The interpreter SAR runs in, making its virtualenv the first time; PeerError if it can't.

    ``$YTGRAPH_SAR_PYTHON`` wins when set (it must import ``recommenders``). Otherwise
    ``venv`` (default ``<cache>/sar-venv``) is used when its ``.ok`` marker is there, and made with
    ``base_python -m venv`` (default: this interpreter) plus ``pip install recommenders "numpy<2"``
    when it is not.
    """
    say: Echo = echo or (lambda _m: None)
    given = os.environ.get(SAR_PYTHON_ENV)
    if given:
        python = Path(given)
        if not _works(python):
            raise PeerError(f"{SAR_PYTHON_ENV}={given} cannot import recommenders (SAR)")
        return python
    folder = Path(venv) if venv is not None else sar_venv_dir()
    python = folder / "bin" / "python"
    marker = folder / ".ok"
    if marker.is_file() and python.exists():
        return python
    if python.exists() and _works(python):
        marker.write_text("ok\n")
        return python
    say(
        f"ytgraph: installing SAR (Microsoft Recommenders) into {folder} for the peer comparison; "
        "this happens once and takes a few minutes"
    )
    t0 = time.perf_counter()
    base = base_python or sys.executable
    steps = [
        [base, "-m", "venv", "--clear", str(folder)],
        [str(python), "-m", "pip", "install", "--quiet", *SAR_PACKAGES],
    ]
    for cmd in steps:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except OSError as e:
            raise PeerError(f"could not create the SAR virtualenv in {folder}: {e}") from None
        if done.returncode != 0:
            raise PeerError(
                f"could not create the SAR virtualenv in {folder} ({' '.join(cmd[1:4])} failed: "
                f"{_last_line(done.stderr or done.stdout)})"
            )
    if not _works(python):
        raise PeerError(f"the SAR virtualenv in {folder} was made but cannot import recommenders")
    marker.write_text("ok\n")
    say(f"ytgraph: SAR installed in {time.perf_counter() - t0:.0f}s")
    return python


def sar_input(train: pd.DataFrame) -> pd.DataFrame:
    """One row per (user, video) of the training events: SAR's affinity table.

    The affinity is the user's latest rating of the video when there is one; otherwise 1 for a
    watch plus 1 for each kind of explicit action (like, favorite, playlist add). The timestamp is
    the latest event on the pair (SAR's time decay, when on, counts back from it).
    """
    if train.empty:
        return pd.DataFrame(columns=["user_id", "video_id", "rating", "timestamp"])
    keys = ["user_id", "video_id"]
    t = train.sort_values([*keys, "timestamp"], kind="stable")
    g = t.groupby(keys, sort=True)
    last_ts = g["timestamp"].max()
    rated = t[t["event"] == "rate"].groupby(keys, sort=True)["rating"].last()
    explicit = (
        t[t["event"].isin(("like", "favorite", "playlist_add"))]
        .groupby(keys, sort=True)["event"]
        .nunique()
    )
    out = pd.DataFrame({"timestamp": last_ts})
    out["rating"] = rated.reindex(out.index)
    fallback = 1.0 + explicit.reindex(out.index).fillna(0.0)
    out["rating"] = out["rating"].fillna(fallback).astype("float64")
    out = out.reset_index()
    return out[["user_id", "video_id", "rating", "timestamp"]]


def run_sar(
    train: pd.DataFrame,
    users: Sequence[str],
    *,
    similarities: Sequence[str] = SAR_SIMILARITIES,
    k: int = 10,
    time_decay_days: float = 0.0,
    python: Path | None = None,
    echo: Echo | None = stderr_line,
    timeout: float = 3600.0,
) -> pd.DataFrame:
    """SAR's top ``k`` per user for each similarity type: ``similarity, user_id, rank, video_id,
    score`` (``train`` holds canonical events; see ``sar_input``)."""
    bad = [s for s in similarities if s not in SAR_SIMILARITIES]
    if bad:
        raise PeerError(f"unknown SAR similarity {bad[0]!r} (known: {', '.join(SAR_SIMILARITIES)})")
    interpreter = python or ensure_sar_python(echo=echo)
    table = sar_input(train)
    with tempfile.TemporaryDirectory(prefix="ytgraph-sar-") as tmp:
        folder = Path(tmp)
        table.to_csv(folder / "train.csv", index=False)
        (folder / "users.txt").write_text("".join(f"{u}\n" for u in users), encoding="utf-8")
        cmd = [
            str(interpreter), str(RUNNER),
            "--train", str(folder / "train.csv"),
            "--users", str(folder / "users.txt"),
            "--out", str(folder / "topk.csv"),
            "--similarity", ",".join(similarities),
            "--k", str(k),
            "--time-decay-days", str(time_decay_days),
        ]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise PeerError(f"SAR did not finish within {timeout:.0f}s") from None
        if done.returncode != 0:
            raise PeerError(f"SAR failed: {_last_line(done.stderr)}")
        return pd.read_csv(
            folder / "topk.csv",
            dtype={"similarity": str, "user_id": str, "video_id": str},
            keep_default_na=False,
        )
