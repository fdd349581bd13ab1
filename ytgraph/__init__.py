"""ytgraph: video recommendations after YouTube's 2010 design, on Neo4j.

Watch sessions become co-visitation counts, counts become a related-video graph in Neo4j, a user's
seed set is expanded over that graph in Cypher, and Python ranks and explains what it found.

The names below are the library API the CLI is a thin layer over; a notebook imports them from
here. They load on first use, so ``import ytgraph`` (and ``ytgraph --help``) stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it, in the order of the data flow
_API = {
    "Settings": "ytgraph.config",
    "load_settings": "ytgraph.config",
    "read_dataset": "loaders",
    "generate_world": "ytgraph.ingest.generate",
    "GenerateConfig": "ytgraph.ingest.generate",
    "write_world": "ytgraph.ingest.generate",
    "resolve": "ytgraph.db.connect",
    "Graph": "ytgraph.db.graph",
    "load": "ytgraph.ingest.load",
    "default_state_dir": "ytgraph.ingest.load",
    "related_videos": "ytgraph.db.inspect",
    "graph_stats": "ytgraph.db.inspect",
    "active_users": "ytgraph.db.inspect",
    "recommend": "ytgraph.recommendation.service",
    "recommend_many": "ytgraph.recommendation.service",
    "MemoryGraph": "ytgraph.recommendation.memory",
    "precompute": "ytgraph.recommendation.serve",
    "serve": "ytgraph.recommendation.serve",
    "PoolCache": "ytgraph.recommendation.poolcache",
    "explain": "ytgraph.recommendation.explain",
    "evaluate": "ytgraph.evaluation.offline",
    "tune": "ytgraph.evaluation.tune",
    "load_experiment": "ytgraph.evaluation.arms",
    "live_report": "ytgraph.evaluation.live",
    "abtest_report": "ytgraph.evaluation.live",
    "simulate": "ytgraph.evaluation.simulate",
}
__all__ = [
    "GenerateConfig",
    "Graph",
    "MemoryGraph",
    "PoolCache",
    "Settings",
    "__version__",
    "abtest_report",
    "active_users",
    "default_state_dir",
    "evaluate",
    "explain",
    "generate_world",
    "graph_stats",
    "live_report",
    "load",
    "load_experiment",
    "load_settings",
    "precompute",
    "read_dataset",
    "recommend",
    "recommend_many",
    "related_videos",
    "resolve",
    "serve",
    "simulate",
    "tune",
    "write_world",
]

if TYPE_CHECKING:
    from loaders import read_dataset
    from ytgraph.config import Settings, load_settings
    from ytgraph.db.connect import resolve
    from ytgraph.db.graph import Graph
    from ytgraph.db.inspect import active_users, graph_stats, related_videos
    from ytgraph.evaluation.arms import load_experiment
    from ytgraph.evaluation.live import abtest_report, live_report
    from ytgraph.evaluation.offline import evaluate
    from ytgraph.evaluation.simulate import simulate
    from ytgraph.evaluation.tune import tune
    from ytgraph.ingest.generate import GenerateConfig, generate_world, write_world
    from ytgraph.ingest.load import default_state_dir, load
    from ytgraph.recommendation.explain import explain
    from ytgraph.recommendation.memory import MemoryGraph
    from ytgraph.recommendation.poolcache import PoolCache
    from ytgraph.recommendation.serve import precompute, serve
    from ytgraph.recommendation.service import recommend, recommend_many


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'ytgraph' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value
