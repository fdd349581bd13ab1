"""Count engines: where a load turns watches into sessions, c_i/c_ij and R_i.

Both engines compute the same tables (``tests/test_spark_engine.py`` holds them equal):

- ``inprocess`` (the default): numpy/scipy in this process (``ingest.sessions``, ``ingest.covisit``,
  ``ingest.related``), the reference.
- ``spark``: the same three steps as Spark jobs (``ingest.engines.spark``), for event logs past one
  machine. PySpark is an optional extra (``pip install 'ytgraph[spark]'``), imported only here,
  only when that engine is chosen.

A load asks an engine for ``covisits`` of some watches (all of them on a recount, the touched users'
before and after on an incremental load) and combines them with the stored counts itself, then asks
for ``related`` of the result: so the incremental rule is the same whichever engine counts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

import pandas as pd

from ytgraph.config import LoadSettings, RelatedSettings, SessionSettings
from ytgraph.errors import ConfigError
from ytgraph.ingest.covisit import Covisits, count
from ytgraph.ingest.related import related_lists
from ytgraph.ingest.sessions import sessionize

SPARK_INSTALL = "pip install 'ytgraph[spark]' (or: pip install 'pyspark>=3.5,<3.6')"


class CountEngine(Protocol):
    """What a load needs from an engine: the counts of some watches, and R_i of some counts."""

    def sessions(
        self, events: pd.DataFrame, settings: SessionSettings, durations: pd.Series | None
    ) -> pd.DataFrame:
        """``sessionize``: one row per (session, video), sorted by session_id, timestamp, video_id."""
        ...

    def covisits(
        self, events: pd.DataFrame, settings: SessionSettings, durations: pd.Series | None
    ) -> Covisits:
        """``count(sessionize(events, settings, durations))``."""
        ...

    def related(self, cov: Covisits, settings: RelatedSettings) -> pd.DataFrame:
        """``related_lists(cov, settings)``."""
        ...


class InProcessEngine:
    """numpy/scipy in this process: the reference every other engine is held to."""

    def sessions(
        self, events: pd.DataFrame, settings: SessionSettings, durations: pd.Series | None
    ) -> pd.DataFrame:
        return sessionize(events, settings, durations)

    def covisits(
        self, events: pd.DataFrame, settings: SessionSettings, durations: pd.Series | None
    ) -> Covisits:
        return count(sessionize(events, settings, durations))

    def related(self, cov: Covisits, settings: RelatedSettings) -> pd.DataFrame:
        return related_lists(cov, settings)


def check_engine(settings: LoadSettings) -> None:
    """ConfigError (one line, how to install) when the chosen engine cannot be imported."""
    if settings.engine == "spark":
        try:
            import pyspark  # noqa: F401
        except ImportError:
            raise ConfigError(f"--engine spark needs PySpark: {SPARK_INSTALL}") from None


@contextlib.contextmanager
def open_engine(settings: LoadSettings, given: CountEngine | None = None) -> Iterator[CountEngine]:
    """The engine ``settings.engine`` names (``given`` instead, when a caller brings its own,
    e.g. a Spark engine on a session the caller keeps); what was opened here is closed on exit."""
    if given is not None:
        yield given
        return
    check_engine(settings)
    if settings.engine == "inprocess":
        yield InProcessEngine()
        return
    from ytgraph.ingest.engines.spark import SparkEngine

    with SparkEngine.from_settings(settings) as engine:
        yield engine
